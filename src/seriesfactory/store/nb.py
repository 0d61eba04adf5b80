"""Numba kernels of the store's reads: binary ``COPY`` output into trade arrays, no Python per row.

Reading trades back is ``COPY (SELECT timestamp, trade_id, price, size, side …)
TO STDOUT (FORMAT BINARY)``: the server sends one CopyData message per row, with
the columns as stored (``numeric`` in its base-10000 binary form, no cast on the
server). Two kernels take it from there:

* :func:`drain` calls libpq's ``PQgetCopyData`` (the very libpq psycopg is using,
  through its address) in a loop and appends each message to a byte buffer, until
  the binary trailer (an ``int16`` of -1) or until the buffer is full; the caller
  then lets psycopg read the end of the COPY, so the connection stays psycopg's.
* :func:`parse_trades` decodes the rows into ``ts`` (ns since 1970), ``trade_id``,
  ``price``, ``size`` (float64) and ``side`` (+1 buy, -1 sell, 0 NULL).

``numeric`` to float64 is exact (the float nearest to the stored decimal, as
PostgreSQL's ``numeric::float8`` gives): a value whose significant digits ``M``
satisfy ``M ≤ 2**53`` with a decimal exponent ``e`` of at most 22 in magnitude
is ``M * 10**e`` or ``M / 10**-e``, one correctly rounded IEEE operation on two
exact doubles (Clinger's fast path); any other (17 significant digits, as the
COIN-M base sizes have) is flagged and written out as text by
:func:`numeric_text` for a correctly rounded parse (``io.py`` uses Arrow's cast).
``reference.py`` is the plain-Python twin of :func:`parse_trades`.

Binary ``COPY`` layout (PostgreSQL docs, "COPY — Binary Format"): the header
``PGCOPY\\n\\377\\r\\n\\0``, an ``int32`` of flags and an ``int32`` header-extension
length (then the extension); each row an ``int16`` field count then per field an
``int32`` length (-1 for NULL) and the bytes; the trailer an ``int16`` of -1. All
integers big-endian. ``numeric``: ``int16`` ndigits, ``int16`` weight, ``uint16``
sign (0 positive, 0x4000 negative, 0xC000 NaN, 0xD000 +Infinity, 0xF000
-Infinity), ``int16`` display scale, then ndigits ``int16`` base-10000 digits,
the first of weight ``10000**weight``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from llvmlite import ir  # type: ignore[import-untyped]
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from seriesfactory._jit import kernel

__all__ = [
    "ERR_FIELD",
    "ERR_HEADER",
    "ERR_NUMERIC",
    "ERR_ROOM",
    "ERR_TRUNCATED",
    "HEADER_LEN",
    "MIN_ROW_BYTES",
    "PG_EPOCH_US",
    "drain",
    "numeric_text",
    "parse_trades",
]

#: Microseconds from 1970-01-01 to PostgreSQL's epoch, 2000-01-01 (UTC).
PG_EPOCH_US = 946_684_800_000_000
#: Signature, flags and extension length of the binary COPY header.
HEADER_LEN = 19
#: The smallest row of (timestamptz, int8, numeric, numeric, text): 2 + 5 * 4 + 8 + 8 + 8 + 8.
MIN_ROW_BYTES = 54

ERR_HEADER = 1  # the buffer does not start with a binary COPY header
ERR_TRUNCATED = 2  # a row or the trailer is cut short
ERR_FIELD = 3  # a row has another field count, or a field another length or value
ERR_NUMERIC = 4  # a numeric field is malformed
ERR_ROOM = 5  # more rows than the output arrays hold (the caller sizes them)

FLAG_PRICE = 1  # the price needs the exact text path
FLAG_SIZE = 2  # the size needs the exact text path

_SIGN_NEG = 0x4000
_SIGN_NAN = 0xC000
_SIGN_PINF = 0xD000
_SIGN_NINF = 0xF000
_TWO53 = 2**53
_M_GUARD = (2**63 - 1 - 9999) // 10_000  # M * 10000 + d stays within int64 below this
_P10 = np.array([10.0**k for k in range(23)])  # exact doubles


# -- calling libpq from a kernel ----------------------------------------------------------------
def _pq_get_copy_data_typer(typingctx, fn, conn, slot):  # type: ignore[no-untyped-def]
    """``PQgetCopyData(conn, (char **) slot, 0)`` through the function's address."""
    sig = types.int64(types.uint64, types.uint64, types.uint64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        fn_, conn_, slot_ = args
        i8p = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.IntType(32), [i8p, i8p.as_pointer(), ir.IntType(32)])
        call = builder.call(
            builder.inttoptr(fn_, fnty.as_pointer()),
            [
                builder.inttoptr(conn_, i8p),
                builder.inttoptr(slot_, i8p.as_pointer()),
                ir.Constant(ir.IntType(32), 0),
            ],
        )
        return builder.sext(call, ir.IntType(64))

    return sig, codegen


def _pq_freemem_typer(typingctx, fn, ptr):  # type: ignore[no-untyped-def]
    """``PQfreemem(ptr)`` through the function's address."""
    sig = types.none(types.uint64, types.uint64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        fn_, ptr_ = args
        i8p = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [i8p])
        builder.call(builder.inttoptr(fn_, fnty.as_pointer()), [builder.inttoptr(ptr_, i8p)])
        return context.get_dummy_value()

    return sig, codegen


def _memcpy_typer(typingctx, dst, src, n):  # type: ignore[no-untyped-def]
    """Copy ``n`` bytes from address ``src`` to address ``dst``."""
    sig = types.none(types.uint64, types.uint64, types.int64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        dst_, src_, n_ = args
        i8p = ir.IntType(8).as_pointer()
        dst_p, src_p = builder.inttoptr(dst_, i8p), builder.inttoptr(src_, i8p)
        cgutils.raw_memcpy(builder, dst_p, src_p, n_, 1)  # type: ignore[no-untyped-call]
        return context.get_dummy_value()

    return sig, codegen


# intrinsics are typed by the functions above; Any keeps mypy from reading their typing context
_pq_get_copy_data: Any = intrinsic(_pq_get_copy_data_typer)
_pq_freemem: Any = intrinsic(_pq_freemem_typer)
_memcpy: Any = intrinsic(_memcpy_typer)


@kernel
def _is_trailer(out: np.ndarray, start: int, n: int) -> bool:
    """Whether the message ``out[start:start + n]`` ends the COPY (header skipped if first)."""
    off = start
    if start == 0:
        if n < HEADER_LEN:
            return False
        ext = (
            (np.int64(out[15]) << 24) | (np.int64(out[16]) << 16)
            | (np.int64(out[17]) << 8) | np.int64(out[18])
        )  # fmt: skip
        off = HEADER_LEN + int(ext)
    return start + n - off == 2 and out[off] == 0xFF and out[off + 1] == 0xFF


@kernel
def drain(
    fn_get: np.uint64, fn_free: np.uint64, conn: np.uint64, out: np.ndarray, pos: int,
    slot: np.ndarray, pending: int,
) -> tuple[int, int]:  # fmt: skip
    """Append CopyData messages to ``out`` from ``pos``; return ``(pos, code)``.

    ``code`` 0: the trailer arrived (the caller lets psycopg read the end); ``> 0``:
    a message of that many bytes is held in ``slot[0]`` and does not fit (call
    again with a larger ``out`` and ``pending`` = code); -1: the COPY ended
    without a trailer (an error result is waiting); -2: libpq failed (connection).
    """
    base = np.int64(out.ctypes.data)  # int64: uint64 + int64 would be a float in numba
    if pending > 0:
        if pos + pending > out.size:
            return pos, pending
        _memcpy(np.uint64(base + pos), slot[0], pending)
        _pq_freemem(fn_free, slot[0])
        slot[0] = 0
        pos += pending
        if _is_trailer(out, pos - pending, pending):
            return pos, 0
    slot_addr = np.uint64(np.int64(slot.ctypes.data))
    while True:
        n = _pq_get_copy_data(fn_get, conn, slot_addr)
        if n < 0:
            return pos, n
        if pos + n > out.size:
            return pos, n
        _memcpy(np.uint64(base + pos), slot[0], n)
        _pq_freemem(fn_free, slot[0])
        slot[0] = 0
        pos += n
        if _is_trailer(out, pos - n, n):
            return pos, 0


# -- decoding -------------------------------------------------------------------------------------
@kernel
def _be16u(b: np.ndarray, p: int) -> int:
    return int((np.int64(b[p]) << 8) | np.int64(b[p + 1]))


@kernel
def _be16s(b: np.ndarray, p: int) -> int:
    v = int((np.int64(b[p]) << 8) | np.int64(b[p + 1]))
    return v - 65536 if v >= 32768 else v


@kernel
def _be32s(b: np.ndarray, p: int) -> int:
    v = int(
        (np.int64(b[p]) << 24) | (np.int64(b[p + 1]) << 16)
        | (np.int64(b[p + 2]) << 8) | np.int64(b[p + 3])
    )  # fmt: skip
    return v - 4294967296 if v >= 2147483648 else v


@kernel
def _be64s(b: np.ndarray, p: int) -> int:
    v = np.uint64(0)
    for k in range(8):
        v = (v << np.uint64(8)) | np.uint64(b[p + k])
    return int(np.int64(v))


@kernel
def _numeric(b: np.ndarray, p: int, length: int, p10: np.ndarray) -> tuple[float, int]:
    """``(value, status)`` of the numeric at ``b[p:p + length]``.

    status 0: exact; 1: needs the text path (value NaN); -1: malformed.
    """
    if length < 8:
        return math.nan, -1
    nd = _be16u(b, p)
    weight = _be16s(b, p + 2)
    sign = _be16u(b, p + 4)
    if length != 8 + 2 * nd:
        return math.nan, -1
    if sign == _SIGN_NAN:
        return math.nan, 0
    if sign == _SIGN_PINF:
        return math.inf, 0
    if sign == _SIGN_NINF:
        return -math.inf, 0
    if sign not in (0, _SIGN_NEG):
        return math.nan, -1
    m = np.int64(0)
    for k in range(nd):
        d = _be16u(b, p + 8 + 2 * k)
        if d > 9999:
            return math.nan, -1
        if m > _M_GUARD:
            return math.nan, 1
        m = m * 10_000 + d
    e10 = 4 * (weight - nd + 1)
    if m == 0:
        return 0.0, 0
    while m % 10 == 0:
        m //= 10
        e10 += 1
    if m > _TWO53 or e10 > 22 or e10 < -22:
        return math.nan, 1
    v = float(m) * p10[e10] if e10 >= 0 else float(m) / p10[-e10]
    return (-v if sign == _SIGN_NEG else v), 0


@kernel
def parse_trades(
    b: np.ndarray, n: int, ts: np.ndarray, ids: np.ndarray, price: np.ndarray,
    size: np.ndarray, side: np.ndarray, flags: np.ndarray, off_price: np.ndarray,
    off_size: np.ndarray, p10: np.ndarray,
) -> tuple[int, int, int]:  # fmt: skip
    """Decode binary COPY rows of (timestamptz, int8, numeric, numeric, text) in ``b[:n]``.

    Returns ``(rows, error, position)``; ``error`` 0 when the trailer closed the
    data exactly, else an ``ERR_*`` code with the byte position it was found at.
    ``flags`` get ``FLAG_PRICE``/``FLAG_SIZE`` for values left to the text path;
    ``off_price``/``off_size`` hold each numeric field's byte offset.
    """
    if n < HEADER_LEN or b[0] != 0x50 or b[1] != 0x47:  # "PG"
        return 0, ERR_HEADER, 0
    p = HEADER_LEN + _be32s(b, 15)
    i = 0
    cap = ts.size
    while True:
        if p + 2 > n:
            return i, ERR_TRUNCATED, p
        nf = _be16s(b, p)
        p += 2
        if nf == -1:
            if p != n:
                return i, ERR_FIELD, p
            return i, 0, p
        if nf != 5:
            return i, ERR_FIELD, p - 2
        if i >= cap:
            return i, ERR_ROOM, p - 2
        if p + 24 > n:
            return i, ERR_TRUNCATED, p
        if _be32s(b, p) != 8:
            return i, ERR_FIELD, p
        ts[i] = (_be64s(b, p + 4) + PG_EPOCH_US) * 1000
        if _be32s(b, p + 12) != 8:
            return i, ERR_FIELD, p + 12
        ids[i] = _be64s(b, p + 16)
        p += 24
        f = 0
        for col in range(2):
            if p + 4 > n:
                return i, ERR_TRUNCATED, p
            ln = _be32s(b, p)
            p += 4
            if ln < 0 or p + ln > n:
                return i, ERR_NUMERIC, p - 4
            v, st = _numeric(b, p, ln, p10)
            if st < 0:
                return i, ERR_NUMERIC, p
            if col == 0:
                price[i] = v
                off_price[i] = p
                if st:
                    f |= FLAG_PRICE
            else:
                size[i] = v
                off_size[i] = p
                if st:
                    f |= FLAG_SIZE
            p += ln
        flags[i] = f
        if p + 4 > n:
            return i, ERR_TRUNCATED, p
        ln = _be32s(b, p)
        p += 4
        if ln == -1:
            side[i] = 0
        elif ln >= 1 and p + ln <= n and b[p] == 0x62:  # 'b'uy
            side[i] = 1
        elif ln >= 1 and p + ln <= n and b[p] == 0x73:  # 's'ell
            side[i] = -1
        else:
            return i, ERR_FIELD, p - 4
        if ln > 0:
            p += ln
        i += 1


@kernel
def numeric_text(b: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The numerics at ``offsets`` as decimal text ``[-]DDDD…e<exp>`` (data, int32 offsets).

    Every base-10000 digit is written with its four decimal digits, so the text is
    the stored value exactly; a correctly rounded parser then gives the float.
    """
    k = offsets.size
    total = 0
    for j in range(k):
        total += 1 + 4 * _be16u(b, offsets[j]) + 1 + 8
    data = np.empty(max(total, 1), np.uint8)
    out_off = np.empty(k + 1, np.int32)
    q = 0
    for j in range(k):
        out_off[j] = q
        p = offsets[j]
        nd = _be16u(b, p)
        weight = _be16s(b, p + 2)
        if _be16u(b, p + 4) == _SIGN_NEG:
            data[q] = 0x2D  # '-'
            q += 1
        if nd == 0:
            data[q] = 0x30
            q += 1
        for t in range(nd):
            d = _be16u(b, p + 8 + 2 * t)
            data[q] = 0x30 + d // 1000
            data[q + 1] = 0x30 + (d // 100) % 10
            data[q + 2] = 0x30 + (d // 10) % 10
            data[q + 3] = 0x30 + d % 10
            q += 4
        e10 = 4 * (weight - nd + 1)
        data[q] = 0x65  # 'e'
        q += 1
        if e10 < 0:
            data[q] = 0x2D
            q += 1
            e10 = -e10
        digits = 1
        while e10 >= 10**digits:
            digits += 1
        for t in range(digits - 1, -1, -1):
            data[q + t] = 0x30 + e10 % 10
            e10 //= 10
        q += digits
    out_off[k] = q
    return data[:q], out_off
