"""Plain-Python twin of :func:`seriesfactory.store.nb.parse_trades` (the tests compare them).

Written independently of the kernel: :mod:`struct` for the fields and
:class:`decimal.Decimal` for ``numeric`` (its exact value, then Python's correctly
rounded ``float``). Slow; for tests only.
"""

from __future__ import annotations

import math
import struct
from decimal import Decimal

from seriesfactory.errors import DataError

__all__ = ["numeric_value", "parse_trades"]

_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
PG_EPOCH_US = 946_684_800_000_000


def numeric_value(field: bytes) -> float:
    """The float nearest to a ``numeric`` in PostgreSQL's binary send format."""
    if len(field) < 8:
        raise DataError("numeric field shorter than its header")
    ndigits, weight, sign, _dscale = struct.unpack(">hhHh", field[:8])
    if len(field) != 8 + 2 * ndigits:
        raise DataError("numeric field length does not match its digit count")
    special = {0xC000: math.nan, 0xD000: math.inf, 0xF000: -math.inf}
    if sign in special:
        return special[sign]
    digits = struct.unpack(f">{ndigits}h", field[8:])
    value = Decimal(0)
    for i, d in enumerate(digits):
        value += Decimal(d).scaleb(4 * (weight - i))
    result = float(value)
    return -result if sign == 0x4000 else result


def parse_trades(
    data: bytes,
) -> tuple[list[int], list[int], list[float], list[float], list[int]]:
    """Rows of (timestamptz, int8, numeric, numeric, text) -> ts ns, ids, prices, sizes, sides."""
    if data[:11] != _SIGNATURE:
        raise DataError("no binary COPY header")
    (ext,) = struct.unpack(">i", data[15:19])
    p = 19 + ext
    out: tuple[list[int], list[int], list[float], list[float], list[int]] = ([], [], [], [], [])
    while True:
        (nf,) = struct.unpack(">h", data[p : p + 2])
        p += 2
        if nf == -1:
            if p != len(data):
                raise DataError("bytes after the trailer")
            return out
        if nf != 5:
            raise DataError(f"row with {nf} fields")
        fields: list[bytes | None] = []
        for _ in range(nf):
            (ln,) = struct.unpack(">i", data[p : p + 4])
            p += 4
            if ln == -1:
                fields.append(None)
                continue
            if p + ln > len(data):
                raise DataError("field cut short")
            fields.append(data[p : p + ln])
            p += ln
        ts, tid, price, size, side = fields
        if ts is None or tid is None or price is None or size is None:
            raise DataError("NULL in a NOT NULL column")
        out[0].append((struct.unpack(">q", ts)[0] + PG_EPOCH_US) * 1000)
        out[1].append(struct.unpack(">q", tid)[0])
        out[2].append(numeric_value(price))
        out[3].append(numeric_value(size))
        out[4].append(0 if side is None else {b"buy": 1, b"sell": -1}[side])
