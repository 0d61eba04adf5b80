"""Downloading into the raw tier: retries, resume, checksums, bounded concurrency.

A download streams into ``.partial-<name>`` beside the final file and is
renamed into place only when complete (and, for archives, verified), so a file
under its final name is always whole. An interrupted download resumes from the
partial file with an HTTP ``Range`` request; a server that ignores the range
(status 200) restarts it from zero.

Transient failures — connection errors, timeouts, a body shorter than its
``Content-Length``, HTTP 429 and 5xx — are retried ``download_retries`` times.
Before retry ``k`` (0-based) the client sleeps::

    delay_s = min(backoff_max_s, backoff_base_s * 2**k) * U(0.5, 1.0)

(:func:`seriesfactory.core.backoff.backoff_delay_s`: exponential backoff with jitter, never above
the cap; a ``Retry-After`` header on 429/503 is
honoured up to ``backoff_max_s``). HTTP 404 is not transient: it raises
:class:`~seriesfactory.errors.MissingFileError` at once.

:func:`fetch_verified` downloads an archive with its ``.CHECKSUM`` file (the
``sha256sum`` line ``<hex>  <name>``). A mismatch deletes both and downloads
both once more (Binance sometimes republishes a file); a second mismatch
raises :class:`~seriesfactory.errors.IntegrityError`.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import functools
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from seriesfactory.config import Settings
from seriesfactory.core import progress
from seriesfactory.core.atomic import storage_error
from seriesfactory.core.backoff import backoff_delay_s
from seriesfactory.errors import IntegrityError, MissingFileError, NetworkError, SourceError
from seriesfactory.raw.hashes import forget_sha256, hash_file, raw_sha256

if TYPE_CHECKING:  # httpx is imported on first use: it costs 0.3 s of start-up
    import ssl

    import httpx

__all__ = ["Downloader", "parse_checksum"]

PARTIAL_PREFIX = ".partial-"
T = TypeVar("T")
R = TypeVar("R")


class _Transient(Exception):
    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def parse_checksum(text: str, *, url: str) -> str:
    """The hex SHA-256 of a ``.CHECKSUM`` body (``<64 hex>  <file name>``)."""
    token = text.strip().split()[0] if text.strip() else ""
    if len(token) != 64 or any(c not in "0123456789abcdefABCDEF" for c in token):
        raise IntegrityError(f"{url}: not a sha256 checksum file (got {text[:80]!r})")
    return token.lower()


@contextmanager
def _writer_lock(partial: Path) -> Iterator[bool]:
    """Hold an exclusive lock on ``partial`` (created empty if absent); yields whether another
    process held it first. Two processes fetching one file (a Dask task run twice) take turns
    instead of appending to one partial file; the second finds the file in place. The lock
    goes with the holder's death (``flock``). An empty partial file left unused is removed.
    """
    import fcntl

    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        waited = False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waited = True
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield waited
        finally:
            with contextlib.suppress(OSError):
                now = partial.stat()
                if now.st_ino == os.fstat(fd).st_ino and now.st_size == 0:
                    partial.unlink()
    finally:
        os.close(fd)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default TLS context (certifi's CA bundle, ``SSL_CERT_FILE``/``SSL_CERT_DIR``
    honoured), made once per process: loading the CA bundle costs ~17 ms of CPU, which every
    new client paid again (one per job of a universe run). A context is safe to share."""
    import httpx

    return httpx.create_ssl_context()


@dataclass
class Downloader:
    """HTTP downloads into files, with the retry and integrity rules of this module."""

    settings: Settings
    client: httpx.Client | None = None
    seed: int | None = None
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._own_client = self.client is None
        if self.client is None:
            import httpx

            timeout = httpx.Timeout(self.settings.http_timeout_s)
            self.client = httpx.Client(
                timeout=timeout, follow_redirects=True, verify=_tls_context()
            )
        self.retries_done = 0
        #: SHA-256 (hex) of every file :meth:`fetch_verified` checked, by destination path,
        #: so a caller needing the content hash need not read the file again.
        self.verified_sha256: dict[Path, str] = {}

    def close(self) -> None:
        if self._own_client and self.client is not None:
            self.client.close()

    def __enter__(self) -> Downloader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one file ------------------------------------------------------------------------------
    def _attempt(self, url: str, partial: Path) -> None:
        import httpx

        assert self.client is not None
        have = partial.stat().st_size if partial.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            with self.client.stream("GET", url, headers=headers) as response:
                status = response.status_code
                if status == 404:
                    raise MissingFileError(f"{url}: not found on the server (HTTP 404)")
                if status == 416 and have:
                    partial.unlink()
                    raise _Transient(f"{url}: stale partial download, restarting")
                if status == 429 or status >= 500:
                    raise _Transient(f"{url}: HTTP {status}", _retry_after(response))
                if status not in (200, 206):
                    raise SourceError(f"{url}: unexpected HTTP {status}")
                mode = "ab" if status == 206 and have else "wb"
                start = have if mode == "ab" else 0
                length = response.headers.get("content-length")
                expected = start + int(length) if length is not None else None
                written = start
                with (
                    open(partial, mode) as fh,
                    progress.current().task(
                        f"download {partial.name.removeprefix(PARTIAL_PREFIX)}",
                        total=expected,
                        unit="B",
                    ) as task,
                ):
                    task.advance(start)
                    for block in response.iter_bytes():
                        fh.write(block)
                        written += len(block)
                        task.advance(len(block))
                if expected is not None and written != expected:
                    raise _Transient(f"{url}: body truncated at {written} of {expected} bytes")
        except httpx.HTTPError as exc:  # connection reset, timeout, short body, ...
            raise _Transient(f"{url}: {type(exc).__name__}: {exc}") from exc

    def fetch(self, url: str, dest: Path) -> Path:
        """Download ``url`` to ``dest`` (atomic; resumes; retries transient failures)."""
        try:
            return self._fetch(url, dest)
        except OSError as exc:  # full disk, read-only cache: one line (the partial file resumes)
            raise storage_error(dest, exc) from exc

    def _fetch(self, url: str, dest: Path) -> Path:
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(PARTIAL_PREFIX + dest.name)
        with _writer_lock(partial) as waited:
            if waited and dest.is_file():  # another process just fetched the same file
                return dest
            return self._fetch_locked(url, dest, partial)

    def _fetch_locked(self, url: str, dest: Path, partial: Path) -> Path:
        last = ""
        for attempt in range(self.settings.download_retries + 1):
            try:
                self._attempt(url, partial)
            except _Transient as exc:
                last = str(exc)
                if attempt == self.settings.download_retries:
                    break
                delay = backoff_delay_s(
                    attempt,
                    base_s=self.settings.backoff_base_s,
                    cap_s=self.settings.backoff_max_s,
                    rng=self._rng,
                )
                if exc.retry_after_s is not None:
                    delay = max(delay, min(exc.retry_after_s, self.settings.backoff_max_s))
                self.retries_done += 1
                progress.current().notice(
                    f"retrying {attempt + 1}/{self.settings.download_retries} in {delay:.1f} s: "
                    f"{last}"
                )
                self.sleep(delay)
                continue
            with open(partial, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(partial, dest)
            return dest
        raise NetworkError(
            f"{last} (gave up after {self.settings.download_retries} retries; "
            "check the connection or the mirror URL and run again: the download resumes)"
        )

    def get_bytes(self, url: str) -> bytes:
        """A (small) response body, with the same retry rules as :meth:`fetch`."""
        with tempfile.TemporaryDirectory(prefix="seriesfactory-") as tmp:
            return self.fetch(url, Path(tmp) / "body").read_bytes()

    def published_sha256(self, url: str, dest: Path) -> str:
        """The SHA-256 the venue publishes for ``url``: its ``url + '.CHECKSUM'`` (a few
        bytes), fetched beside ``dest`` as :meth:`fetch_verified` keeps it. The archive
        itself is not requested: a caller that already has its product (a published ingest
        record keyed by this hash, docs/scale.md) skips it; one that does not passes the
        hash on as ``fetch_verified(url, dest, expected=...)``."""
        sums = dest.with_name(dest.name + ".CHECKSUM")
        self.fetch(url + ".CHECKSUM", sums)
        return parse_checksum(sums.read_text(), url=url + ".CHECKSUM")

    def fetch_verified(self, url: str, dest: Path, *, expected: str | None = None) -> Path:
        """Download an archive and its ``url + '.CHECKSUM'``; verify; retry a mismatch once.

        A file already present under ``dest`` with a matching checksum file is
        re-verified (against its remembered hash while the file is unchanged:
        :mod:`seriesfactory.raw.hashes`) and reused without network traffic. The
        verified hash is kept in :attr:`verified_sha256` under ``dest``. ``expected``:
        the checksum :meth:`published_sha256` just fetched, used for the first attempt
        instead of fetching it again (a retry after a mismatch fetches it afresh).
        """
        sums = dest.with_name(dest.name + ".CHECKSUM")
        if dest.is_file() and sums.is_file():
            known = parse_checksum(sums.read_text(), url=str(sums))
            if raw_sha256(dest) == known:
                self.verified_sha256[dest] = known
                return dest
            self._discard(dest, sums)
            expected = None
        got = ""
        for attempt in range(2):
            if attempt or expected is None or not sums.is_file():
                self.fetch(url + ".CHECKSUM", sums)
                expected = parse_checksum(sums.read_text(), url=url + ".CHECKSUM")
            self.fetch(url, dest)
            got = hash_file(dest)
            if got == expected:
                self.verified_sha256[dest] = got
                return dest
            self._discard(dest, sums)
        raise IntegrityError(
            f"{url}: sha256 {got} does not match its .CHECKSUM {expected} after downloading "
            "both twice; the file may be being republished: try again later"
        )

    @staticmethod
    def _discard(dest: Path, sums: Path) -> None:
        forget_sha256(dest)
        for p in (dest, sums):
            p.unlink(missing_ok=True)

    def map(self, func: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """Run ``func`` over ``items`` with at most ``download_concurrency`` at once, in order."""
        todo = list(items)
        if len(todo) <= 1:
            return [func(x) for x in todo]
        workers = min(self.settings.download_concurrency, len(todo))
        with cf.ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(func, x) for x in todo]
            try:
                return [f.result() for f in futures]
            finally:
                for f in futures:
                    f.cancel()
