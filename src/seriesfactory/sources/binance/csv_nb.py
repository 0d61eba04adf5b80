"""Numba kernel: Binance trade CSV bytes -> columns (``parse.py``'s fast path).

One pass over the bytes of whole lines, no Python per row. It reads exactly
the layouts of ``parse.py`` (``ncols`` comma-separated fields; the id in field
0, price in 1, quantity in 2, the time in ``t_col``, ``is_buyer_maker`` in
``m_col``; other fields are skipped unread) and only the plain spellings the
archives use:

- integers: ASCII digits only, at most 18 (fits int64);
- decimals: 1-18 digits with at most one ``.`` and an optional exponent
  (``4e-05``); the value is ``m * 10**q`` with ``m`` the digits as an integer
  and ``q`` the exponent less the digits after the point. When ``m < 2**53``
  and ``|q| <= 22``, ``m`` and ``10**|q|`` are exact doubles and one IEEE
  multiplication or division rounds correctly, so the value equals a correctly
  rounded ``strtod`` (Clinger's fast path);
- booleans: ``true`` / ``false`` in any letter case;
- lines end in ``\\n`` or ``\\r\\n``; empty lines are skipped.

Anything else — a sign, spaces, quotes, a wrong field count, more
digits, a zero price, a time before the previous row's — stops the kernel with
``status = STOP`` at that line. It never guesses: the caller hands the piece to
the exact row-by-row parser, which names the bad line or applies
``--on-bad-rows``.

Times: ``t >= 10**14`` is microseconds, otherwise milliseconds (``parse.py``).
"""

from __future__ import annotations

import numpy as np

from seriesfactory._jit import kernel
from seriesfactory.core.time import MAX_MS, MAX_US
from seriesfactory.schema.arrays import F64, I8, I64, U8

OK = 0
STOP = 1
_NL = 10
_CR = 13
_COMMA = 44
_DOT = 46
_ZERO = 48
_NINE = 57
_E = 101  # "e" (an upper-case "E" is folded to it)
_MINUS = 45
_PLUS = 43
_US_THRESHOLD = 10**14
_TWO53 = 2**53
#: The largest times whose nanoseconds fit int64 (later ones are rejected as out of range).
#: 10**0 .. 10**22, every one an exact double.
POW10 = np.array([10.0**k for k in range(23)], np.float64)


@kernel
def _field_end(buf: U8, pos: int, end: int) -> int:
    """Index of the ``,``/``\\n``/``\\r`` (or ``end``) closing the field at ``pos``."""
    while pos < end:
        c = buf[pos]
        if c == _COMMA or c == _NL or c == _CR:  # noqa: PLR1714, SIM109 (numba)
            return pos
        pos += 1
    return pos


@kernel
def _integer(buf: U8, pos: int, end: int) -> tuple[int, int]:
    """The plain digits at ``pos`` as an int64 and where they stop; -1 when not 1-18 digits."""
    v = 0
    k = pos
    while k < end:
        c = int(buf[k])  # int: as plain Python (no JIT) a uint8 would wrap
        if c < _ZERO or c > _NINE:
            break
        v = v * 10 + (c - _ZERO)
        k += 1
    if k == pos or k - pos > 18:
        return -1, k
    return v, k


@kernel
def _decimal(buf: U8, pos: int, end: int, pow10: F64) -> tuple[float, int]:
    """The decimal at ``pos`` as a correctly rounded double and where it stops.

    The value is -1.0 when the text is outside the fast path (more than 18
    digits, ``m >= 2**53``, ``|q| > 22``, no digit, anything but digits, one
    point and an exponent).
    """
    m = 0
    k = pos
    while k < end and _ZERO <= buf[k] <= _NINE:  # integer part
        m = m * 10 + (int(buf[k]) - _ZERO)  # int: as plain Python a uint8 would wrap
        k += 1
    digits = k - pos
    frac = 0
    if k < end and buf[k] == _DOT:
        k += 1
        f0 = k
        while k < end and _ZERO <= buf[k] <= _NINE:
            m = m * 10 + (int(buf[k]) - _ZERO)
            k += 1
        frac = k - f0
        digits += frac
    if digits == 0 or digits > 18:
        return -1.0, k
    q = -frac
    if k < end and (buf[k] | 32) == _E:  # an exponent: e|E, an optional sign, 1-3 digits
        k += 1
        sign = 1
        if k < end and (buf[k] == _MINUS or buf[k] == _PLUS):
            sign = -1 if buf[k] == _MINUS else 1
            k += 1
        e, k = _integer(buf, k, end)
        if e < 0 or e > 999:
            return -1.0, k
        q += sign * e
    if m >= _TWO53 or q > 22 or q < -22:
        return -1.0, k
    return (m * pow10[q] if q >= 0 else m / pow10[-q]), k


@kernel
def _boolean(buf: U8, pos: int, end: int) -> tuple[int, int]:
    """1 for ``true``, 0 for ``false`` (any letter case), -1 otherwise; and where it stops."""
    n = _field_end(buf, pos, end) - pos
    if n == 4:
        if (
            (buf[pos] | 32) == 116
            and (buf[pos + 1] | 32) == 114
            and (buf[pos + 2] | 32) == 117
            and (buf[pos + 3] | 32) == 101
        ):
            return 1, pos + 4
    elif (
        n == 5
        and (buf[pos] | 32) == 102
        and (buf[pos + 1] | 32) == 97
        and (buf[pos + 2] | 32) == 108
        and (buf[pos + 3] | 32) == 115
        and (buf[pos + 4] | 32) == 101
    ):
        return 0, pos + 5
    return -1, pos + n


@kernel
def parse_lines(
    buf: U8,
    pos: int,
    end: int,
    ncols: int,
    t_col: int,
    m_col: int,
    after_ts_ns: int,
    pow10: F64,
    out_id: I64,
    out_ts: I64,
    out_price: F64,
    out_qty: F64,
    out_side: I8,
) -> tuple[int, int, int, int]:
    """Parse the whole lines of ``buf[pos:end]`` (``end`` just after a ``\\n``, or the end).

    Returns ``(rows, status, stop_pos, lines)``: rows written to the outputs
    (capacity ``(end - pos) // (2 * ncols) + 1``), ``OK`` or ``STOP``, the
    offset of the first line not parsed (``end`` when all were) and the number
    of lines passed (empty ones included) before it. ``out_side`` is the taker
    side: -1 when the buyer was the maker, else +1.
    """
    n = 0
    lines = 0
    last_ts = after_ts_ns
    while pos < end:
        start = pos
        c = buf[pos]
        if c == _NL:
            pos += 1
            lines += 1
            continue
        if c == _CR and pos + 1 < end and buf[pos + 1] == _NL:
            pos += 2
            lines += 1
            continue
        ts_ns = -1
        price = -1.0
        qty = -1.0
        row_id = -1
        side = 0
        for col in range(ncols):
            if col == 0:
                row_id, stop = _integer(buf, pos, end)
                if row_id < 0:
                    return n, STOP, start, lines
            elif col == 1:
                price, stop = _decimal(buf, pos, end, pow10)
                if not price > 0.0:
                    return n, STOP, start, lines
            elif col == 2:
                qty, stop = _decimal(buf, pos, end, pow10)
                if qty < 0.0:
                    return n, STOP, start, lines
            elif col == t_col:
                t, stop = _integer(buf, pos, end)
                if t < 0 or (t > MAX_MS and t < _US_THRESHOLD) or t > MAX_US:
                    return n, STOP, start, lines
                ts_ns = t * 1_000 if t >= _US_THRESHOLD else t * 1_000_000
            elif col == m_col:
                flag, stop = _boolean(buf, pos, end)
                if flag < 0:
                    return n, STOP, start, lines
                side = -1 if flag == 1 else 1
            else:
                stop = _field_end(buf, pos, end)
            if col < ncols - 1:
                if stop >= end or buf[stop] != _COMMA:
                    return n, STOP, start, lines
                pos = stop + 1
            else:
                pos = stop
        # The line must end here: "\n", "\r\n" or the end of the buffer.
        if pos < end:
            if buf[pos] == _CR and pos + 1 < end and buf[pos + 1] == _NL:
                pos += 2
            elif buf[pos] == _NL:
                pos += 1
            else:
                return n, STOP, start, lines
        if ts_ns < last_ts:
            return n, STOP, start, lines
        last_ts = ts_ns
        out_id[n] = row_id
        out_ts[n] = ts_ns
        out_price[n] = price
        out_qty[n] = qty
        out_side[n] = side
        n += 1
        lines += 1
    return n, OK, end, lines
