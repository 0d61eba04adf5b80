"""The exception tree of Series Factory.

Every error the package raises on purpose derives from :class:`SeriesFactoryError`.
An error message says what was wrong, where (file, line, message number, field,
parameter) and what to do about it, in one line::

    SeriesFactoryError
    ├── InputError            bad arguments, specs or configuration (CLI exit status 2)
    │   ├── SpecError         a malformed or out-of-range source / model spec
    │   └── ConfigError       an invalid configuration file, variable or option
    ├── DataError             bad data in a file or message (names file and line)
    ├── SourceError           a source cannot deliver (unknown venue, missing data)
    │   ├── MissingFileError  the server has no such file (HTTP 404)
    │   └── NetworkError      a transport failure that survived its retries
    ├── IntegrityError        a checksum or sequence check failed
    └── CacheError            the cache cannot be read or written

The CLI turns any of these into one line on standard error and exit status 2
(input errors) or 1 (the rest).
"""

from __future__ import annotations

__all__ = [
    "CacheError",
    "CacheWarning",
    "ConfigError",
    "DataError",
    "InputError",
    "IntegrityError",
    "MissingFileError",
    "NetworkError",
    "SeriesFactoryError",
    "SourceError",
    "SpecError",
    "StorageError",
]


class SeriesFactoryError(Exception):
    """Root of every error raised on purpose by Series Factory."""

    exit_code: int = 1


class InputError(SeriesFactoryError, ValueError):
    """Arguments, specs or options that cannot be used as given."""

    exit_code = 2


class SpecError(InputError):
    """A source or model spec that is malformed or out of range."""


class ConfigError(InputError):
    """A configuration file, environment variable or option that is invalid."""


class DataError(SeriesFactoryError):
    """Data that does not follow its documented format.

    Parameters
    ----------
    message:
        What is wrong and what to do about it.
    path:
        The file (or stream) the data came from, when known.
    line:
        The 1-based line, row or message number, when known.
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        self.path = path
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        elif line is not None:
            where = f"row {line}: "
        super().__init__(f"{where}{message}")


class SourceError(SeriesFactoryError):
    """A source that cannot deliver what was asked."""

    exit_code = 2


class MissingFileError(SourceError):
    """The server has no such file (HTTP 404)."""


class NetworkError(SourceError):
    """A transport failure that persisted after retries."""

    exit_code = 1


class IntegrityError(SeriesFactoryError):
    """A checksum, size or sequence check that failed."""


class CacheError(SeriesFactoryError):
    """The cache cannot be read or written."""


class CacheWarning(UserWarning):
    """A cache entry was found damaged and evicted (it is rebuilt).

    Not an error: the one warning meant for users, kept here so the CLI can print it as
    one ``warning:`` line without loading the lake.
    """


class StorageError(CacheError):
    """An object store (``--cache-dir``/``--output-dir`` URL) that cannot be reached or written.

    One line naming the URL; exit status 1 (the input may be right and the store down).
    """
