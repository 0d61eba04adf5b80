"""Names that become path components: the one place they are checked.

A symbol, an asset code or a venue name given on the command line (or in a config
file) ends up as a folder or file name in the cache or the output folder
(``raw/stream/{venue}/{symbols}/``, ``trades/{venue}/{symbol}/``, ``{symbol}-{ts}.parquet``).
Every command checks such names here, before anything is read or written, so a
hostile name (``../../escaped``, ``a/b``, 300 characters, control characters) is
refused with one line naming the option, never turned into a path.

The rules (``docs/reliability.md``):

* a venue is lower-case ASCII letters, digits and ``-``, at most 32 characters;
* an asset code is ASCII letters and digits, at most :data:`MAX_ASSET` characters,
  or one of the non-ASCII codes a venue lists in :data:`UNICODE_ASSETS`;
* a symbol uses its venue's alphabet (:data:`SYMBOL_ALPHABETS`; ASCII letters and
  digits plus the venue's separators), at most :data:`MAX_SYMBOL` characters, and
  is never ``.``/``..`` nor contains ``/``, ``\\``, NUL or ``..``.
"""

from __future__ import annotations

import re
import string
from typing import Final

from seriesfactory.errors import InputError

__all__ = [
    "MARKET_PREFIXES",
    "MAX_ASSET",
    "MAX_SYMBOL",
    "SYMBOL_ALPHABETS",
    "UNICODE_ASSETS",
    "check_asset",
    "check_symbol",
    "check_venue",
]

MAX_SYMBOL: Final = 64
MAX_ASSET: Final = 20
MAX_VENUE: Final = 32
_ALNUM: Final = string.ascii_letters + string.digits
#: Characters a venue's symbols may hold. ``-`` and ``_`` separate base and quote or
#: mark contracts (``BTC-USD``, ``BTCUSD_PERP``, ``BTC-USD-SWAP``); ``/`` is never
#: one: ``BASE/QUOTE`` is an input spelling, split before it becomes a name.
SYMBOL_ALPHABETS: Final[dict[str, frozenset[str]]] = {
    "binance": frozenset(_ALNUM),
    "binance-usdm": frozenset(_ALNUM + "_"),
    "binance-coinm": frozenset(_ALNUM + "_"),
    "bybit": frozenset(_ALNUM),
    "coinbase": frozenset(_ALNUM + "-"),
    "okx": frozenset(_ALNUM + "-"),
    "extended": frozenset(_ALNUM + "-"),
}
#: Used for a venue not in :data:`SYMBOL_ALPHABETS` (or none given).
_DEFAULT_ALPHABET: Final = frozenset(_ALNUM + "-_")
#: Non-ASCII asset codes a venue lists (upper-cased as the venue writes them).
#: Binance spot lists the BinanceLife token under its Chinese name (pair 币安人生USDT).
UNICODE_ASSETS: Final[dict[str, frozenset[str]]] = {
    "binance": frozenset({"币安人生"}),
}
_VENUE_RE: Final = re.compile(r"[a-z0-9][a-z0-9-]*")
#: Market prefixes a venue's book reader takes before the symbol (``linear:BTCUSDT``, when
#: one recording holds the same symbol on two Bybit markets).
MARKET_PREFIXES: Final[dict[str, tuple[str, ...]]] = {
    "bybit": ("linear:", "spot:", "inverse:"),
}


def _shown(value: str) -> str:
    """``value`` for an error line: quoted, escaped, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:50]}...' ({len(value)} characters)"


def check_venue(value: str, *, option: str = "--venue") -> str:
    """``value`` when it can name a folder (``[a-z0-9-]``, at most 32); else :class:`InputError`."""
    if not isinstance(value, str) or len(value) > MAX_VENUE or not _VENUE_RE.fullmatch(value):
        raise InputError(
            f"{option} {_shown(str(value))} is not a venue name "
            "(lower-case letters, digits and '-', e.g. binance-usdm)"
        )
    return value


def _unicode_assets(venue: str | None) -> frozenset[str]:
    if venue is None:
        return frozenset().union(*UNICODE_ASSETS.values())
    return UNICODE_ASSETS.get(venue, frozenset())


def check_asset(value: str, *, option: str = "--base", venue: str | None = None) -> str:
    """``value`` when it is an asset code (ASCII letters and digits, or a listed code).

    Raises
    ------
    InputError
        Naming ``option``: empty, too long, a separator, ``..`` or a non-ASCII code
        no venue lists.
    """
    if not isinstance(value, str) or not value:
        raise InputError(f"{option} must not be empty; give an asset code such as BTC or USDT")
    if len(value) > MAX_ASSET:
        raise InputError(
            f"{option} {_shown(value)} is longer than {MAX_ASSET} characters; "
            "give an asset code such as BTC or USDT"
        )
    if all(c in _ALNUM for c in value):
        return value
    if value.upper() in _unicode_assets(venue) or value in _unicode_assets(venue):
        return value
    where = f" on {venue}" if venue else ""
    raise InputError(
        f"{option} {_shown(value)} must be an asset code{where}: ASCII letters and digits, "
        "e.g. BTC or USDT"
    )


def check_symbol(value: str, *, venue: str | None = None, option: str = "--symbol") -> str:
    """``value`` when it can be a file name of ``venue``'s symbols; else :class:`InputError`.

    The venue's alphabet (:data:`SYMBOL_ALPHABETS`; case is not checked, as
    recorders take ``btcusdt``), at most :data:`MAX_SYMBOL` characters, no path
    separators and no ``..``. A symbol that ends in a non-ASCII listed asset code
    (``币安人生USDT``) is accepted on the venue that lists it.
    """
    if not isinstance(value, str) or not value:
        raise InputError(f"{option} must not be empty; give a symbol such as BTCUSDT")
    if len(value) > MAX_SYMBOL:
        raise InputError(
            f"{option} {_shown(value)} is longer than {MAX_SYMBOL} characters; "
            "give a symbol such as BTCUSDT"
        )
    alphabet = SYMBOL_ALPHABETS.get(venue or "", _DEFAULT_ALPHABET)
    rest = value
    for prefix in MARKET_PREFIXES.get(venue or "", ()):
        if rest.lower().startswith(prefix):
            rest = rest[len(prefix) :]
            break
    for code in _unicode_assets(venue):
        rest = rest.replace(code, "")
    bad = next((c for c in rest if c not in alphabet), None)
    if bad is not None or ".." in value or value in (".", ".."):
        why = "a path separator" if bad in ("/", "\\") else f"the character {bad!r}"
        if bad is None or bad == ".":
            why = "'..'" if ".." in value else "'.'"
        where = f"{venue} symbols" if venue in SYMBOL_ALPHABETS else "symbols"
        allowed = "".join(sorted(alphabet - set(_ALNUM)))
        chars = (
            f"ASCII letters, digits and {' '.join(repr(c) for c in allowed)}"
            if allowed
            else "ASCII letters and digits"
        )
        raise InputError(f"{option} {_shown(value)} holds {why}; {where} are {chars}")
    return value
