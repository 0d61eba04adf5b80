"""The base of every venue's WebSocket module, and the registry of venues by name.

A venue module (``sources/<venue>/ws.py``) is mostly declarations: its default
WebSocket and REST hosts, the environment variables that override them, its default
streams, how to subscribe, whether it needs an application-level ping, and where its
sequence numbers are (read from the venue's ``sequence.py``, which the book parser
reads too: :mod:`seriesfactory.sources._sequence`). The recorder
(:mod:`seriesfactory.raw.recorder`) drives every venue through this one interface.

A subclass that leaves an abstract method or a required declaration out is refused
when it is defined, and every complete subclass registers itself under ``name``.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from seriesfactory.errors import ConfigError
from seriesfactory.sources._sequence import SeqPoint, SequenceTracker

__all__ = [
    "VENUES",
    "ConnPlan",
    "SeqPoint",
    "SequenceTracker",
    "WsVenue",
    "ws_venue",
    "ws_venue_names",
]

#: The venue modules loaded by :func:`ws_venue`.
_MODULES = ("binance", "coinbase", "bybit", "extended")


@dataclass(frozen=True, kw_only=True)
class ConnPlan:
    """One WebSocket connection to open and keep open.

    Attributes
    ----------
    conn_id:
        Stable id written in every capture record of this connection (kept across
        reconnects; each session starts with an ``open`` record).
    url:
        The full WebSocket URL.
    subscribe:
        Text messages sent, in order, right after the connection opens.
    snapshots:
        ``(symbol, url)`` REST depth snapshots to fetch after each (re)connect.
    """

    conn_id: str
    url: str
    subscribe: tuple[str, ...] = ()
    snapshots: tuple[tuple[str, str], ...] = ()


class WsVenue(ABC):
    """A venue's WebSocket protocol, as declarations plus two small methods."""

    #: Registry name, as given to ``--venue``.
    name: ClassVar[str]
    #: Default WebSocket base URL (the exchange's real host).
    ws_url: ClassVar[str]
    #: Default REST base URL, or ``""`` where no REST snapshot is needed.
    api_url: ClassVar[str] = ""
    #: Environment variables overriding the WebSocket / REST base, first one set wins.
    ws_env: ClassVar[tuple[str, ...]]
    api_env: ClassVar[tuple[str, ...]] = ()
    #: Streams recorded when none are asked for.
    default_streams: ClassVar[tuple[str, ...]]
    #: Seconds between application-level pings (``None``: protocol pings only).
    app_ping_s: ClassVar[float | None] = None
    #: What to do on a sequence gap: fetch a REST snapshot, or reconnect to get one.
    on_gap: ClassVar[Literal["resnapshot", "reconnect"]] = "reconnect"

    _required: ClassVar[tuple[str, ...]] = ("name", "ws_url", "ws_env", "default_streams")

    def __init_subclass__(cls, *, abstract: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if abstract:  # a shared base of several venues (e.g. Binance spot and USD-M)
            return
        missing = [attr for attr in cls._required if not hasattr(cls, attr)]
        # ABCMeta fills __abstractmethods__ only after this hook, so look for them here.
        attrs = {name for klass in cls.__mro__ for name in vars(klass)}
        undefined = sorted(
            name
            for name in attrs
            if not name.startswith("__")
            and getattr(getattr(cls, name, None), "__isabstractmethod__", False)
        )
        if cls.app_ping_s is not None and cls.app_ping is WsVenue.app_ping:
            undefined.append("app_ping (app_ping_s is set)")
        if missing or undefined:
            names = ", ".join(missing + undefined)
            raise TypeError(f"{cls.__name__} is incomplete: define {names}")
        VENUES[cls.name] = cls

    @abstractmethod
    def plan(
        self, symbols: Sequence[str], streams: Sequence[str], *, ws_url: str, api_url: str
    ) -> list[ConnPlan]:
        """The connections that record ``streams`` for ``symbols``."""

    @abstractmethod
    def sequence(self, msg: Any) -> SeqPoint | None:
        """The sequence position of a parsed message, or ``None`` if it has none."""

    def app_ping(self) -> str:
        """The application-level ping message (venues with ``app_ping_s`` must define it;
        class creation refuses one that does not)."""
        raise TypeError(f"{self.name} sends no application-level ping")

    def snapshot_ready(self, msg: Any) -> tuple[str, int] | None:
        """``(symbol, first update id)`` when ``msg`` is the first diff a snapshot must cover."""
        return None

    def snapshot_id(self, body: Any) -> int | None:
        """The update id a REST snapshot body stands at (``None`` if not known)."""
        return None

    @staticmethod
    def folder_key(symbols: Sequence[str]) -> str:
        """The capture folder name for ``symbols`` (sorted, lower case, ``+``-joined)."""
        names = sorted({s.lower() for s in symbols})
        key = "+".join(names)
        if len(key) > 80:
            key = f"{names[0]}+{len(names) - 1}more"
        return key


VENUES: dict[str, type[WsVenue]] = {}


def _load() -> None:
    for module in _MODULES:
        importlib.import_module(f"seriesfactory.sources.{module}.ws")


def ws_venue_names() -> tuple[str, ...]:
    """Every registered venue name, sorted."""
    _load()
    return tuple(sorted(VENUES))


def ws_venue(name: str) -> WsVenue:
    """The venue registered as ``name``; a :class:`ConfigError` listing the names otherwise."""
    _load()
    cls = VENUES.get(name)
    if cls is None:
        raise ConfigError(f"unknown venue {name!r}; choose one of {', '.join(sorted(VENUES))}")
    return cls()
