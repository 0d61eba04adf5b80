"""Connecting to the store: the URL, its masking, and connection errors in one line.

The URL comes from ``--database-url``, else ``$SERIESFACTORY_DATABASE_URL``, else
``database_url`` in the TOML settings (:mod:`seriesfactory.config`). A password in
it is never printed: :func:`mask_url` replaces it with ``***`` in every message,
log line and ``status`` output.
"""

from __future__ import annotations

import re
from pathlib import Path

import psycopg

from seriesfactory.config import load_settings
from seriesfactory.errors import ConfigError, SourceError

__all__ = ["StoreError", "connect", "mask_url", "resolve_url"]

_URL_PASSWORD = re.compile(r"(?P<head>^[a-z][a-z0-9+.-]*://[^:/@?#]*:)(?P<pw>[^@/?#]*)(?=@)", re.I)
_KV_PASSWORD = re.compile(
    r"(?P<head>(?:^|(?<=\s))password\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|\S+)", re.I
)
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)(?P<pw>[^&#\s]*)", re.I)


class StoreError(SourceError):
    """The database cannot be reached or refused a statement (exit status 1)."""

    exit_code = 1


def mask_url(text: str) -> str:
    """``text`` with any password of a URL or ``key=value`` DSN replaced by ``***``."""
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + "***", text)
    text = _QUERY_PASSWORD.sub(lambda m: m.group("head") + "***", text)
    return _KV_PASSWORD.sub(lambda m: m.group("head") + "***", text)


def resolve_url(url: str | None, config: Path | None = None) -> str:
    """The database URL: the option, else the environment or the TOML settings."""
    if url:
        return url
    found = load_settings(config).database_url
    if not found:
        raise ConfigError(
            "no database: give --database-url postgresql://..., set SERIESFACTORY_DATABASE_URL "
            "or database_url in the --config file ('seriesfactory db up' starts a local one)"
        )
    return found


def connect(url: str, *, autocommit: bool = True, timeout_s: float = 10.0) -> psycopg.Connection:
    """A connection to ``url``; failures become one :class:`StoreError` line, password masked."""
    try:
        conn = psycopg.connect(url, autocommit=autocommit, connect_timeout=max(1, int(timeout_s)))
    except psycopg.ProgrammingError as exc:  # a malformed DSN
        raise ConfigError(
            f"database URL {mask_url(url)!r} is malformed ({mask_url(_first_line(exc))}); "
            "write it as postgresql://user:password@host:port/dbname"
        ) from None
    except psycopg.Error as exc:
        raise StoreError(
            f"cannot connect to the database at {mask_url(url)} ({mask_url(_first_line(exc))}); "
            "check --database-url / SERIESFACTORY_DATABASE_URL and that the server runs"
        ) from None
    return conn


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
