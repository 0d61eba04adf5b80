"""The derived tiers on an object store (``--cache-dir s3://bucket/lake``): docs/scale.md.

The ticks and aggregates tiers: :func:`shared_lake` makes a job publish the tick sets and
aggregates entries it builds and fetch the published ones it lacks (the end of this module).
The trades tier, read in place with ranged requests (:class:`SharedTrades`):

The keys are the local layout's (``lake/trades.py``) under the lake URL::

    {lake}/trades/{venue}/{symbol}/{YYYY}/{MM}/{YYYYMMDD}.parquet
    {lake}/trades/{venue}/{symbol}/_ingested/{sha256[:32]}.json

A raw file is ingested where it was downloaded (a worker's local cache, the raw tier
staying per machine), into the local trades tier, and then *published* by
:meth:`SharedTrades.publish`: each day file through a temporary key
(:func:`~seriesfactory.core.storage.put_atomic`), then the ingest record, which is the
tier's manifest: it lists the day files with their seals (size, CRC-32) and is written
last. A reader trusts a day object only through a record that lists it, so a writer
killed mid-publish leaves nothing that is read.

Reads are ranged (:func:`~seriesfactory.core.storage.open_input`): the footer first (its
key-value metadata names the raw file, hence the record and the seal), then

- the whole day (:meth:`SharedTrades.read_day` without ``columns``): the object's bytes in
  one request, its size and CRC-32 checked against the seal before decoding — the local
  tier's guarantee, every byte covered;
- some columns (``columns=[...]``): only those column chunks are fetched; the object's
  size is checked against the seal (a truncated or replaced object fails), its CRC-32 is
  not (it would need every byte).

A day that fails its check raises :class:`~seriesfactory.lake.integrity.CorruptEntryError`;
:meth:`SharedTrades.evict` withdraws the record listing it (first) and the object, and the
job ingests the raw file again.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import contextlib
import json
import os
from collections.abc import Callable, Collection, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from isal import isal_zlib

from seriesfactory.core import storage
from seriesfactory.core.atomic import atomic_write_bytes
from seriesfactory.core.storage import Remote
from seriesfactory.core.time import NS_PER_DAY
from seriesfactory.lake.integrity import DECODE_ERRORS, CorruptEntryError, Seal, warn
from seriesfactory.lake.trades import (
    RECORD_VERSION,
    IngestRecord,
    TradeStore,
    day_name,
    day_relpath,
    record_relpath,
)
from seriesfactory.schema import TRADE_SCHEMA

__all__ = [
    "SharedTrades",
    "lake_key",
    "pull_sealed",
    "pull_tick_set",
    "push_sealed",
    "push_tick_set",
    "shared_lake",
]


#: Days :meth:`SharedTrades.read_range` reads ahead of the one it yields, on threads.
READ_AHEAD = 4


@dataclass(frozen=True, slots=True)
class SharedTrades:
    """The trades of one venue and symbol under ``{lake}/trades`` on an object store."""

    lake: Remote
    venue: str
    symbol: str

    @property
    def root(self) -> Remote:
        return self.lake / "trades" / self.venue / self.symbol

    def day_key(self, day: str) -> Remote:
        return self.root / day_relpath(day)

    def _record_key(self, raw_sha256: str) -> Remote:
        return self.root / record_relpath(raw_sha256)

    def record(self, raw_sha256: str) -> IngestRecord | None:
        """The published ingest record of a raw file, or None (absent, older version)."""
        key = self._record_key(raw_sha256)
        try:
            doc = json.loads(storage.read_bytes(key))
            return IngestRecord.from_json(doc)
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            warn(f"{key}: unreadable ingest record ({exc}); ingesting its raw file again")
            return None

    def publish(self, local: TradeStore, rec: IngestRecord) -> None:
        """Publish the day files of ``rec`` from the local tier ``local``, the record last.

        Idempotent: a record already published with the same seals is left as it is.
        """
        if (old := self.record(rec.raw_sha256)) is not None and old.seals == rec.seals:
            return
        storage.remove(self._record_key(rec.raw_sha256))  # withdrawn while days are replaced
        for day in rec.days:
            storage.put_atomic(local.day_path(day), self.day_key(day))
        text = json.dumps(rec.to_json(), indent=2, sort_keys=True) + "\n"
        storage.write_bytes_atomic(self._record_key(rec.raw_sha256), text.encode())

    def _seal(self, day: str, pf: pq.ParquetFile) -> tuple[Seal, str]:
        key = self.day_key(day)
        meta = pf.metadata.metadata or {}
        raw = meta.get(b"seriesfactory.raw_sha256", b"").decode(errors="replace")
        rec = self.record(raw) if len(raw) == 64 else None
        if rec is None or day not in rec.days:
            raise CorruptEntryError(Path(str(key)), Path(str(key)), "no ingest record lists it")
        return rec.seals[rec.days.index(day)], raw

    def read_day(self, day: str, *, columns: Sequence[str] | None = None) -> pa.Table:
        """The day ``YYYYMMDD``, checked against its seal (see the module doc)."""
        key = self.day_key(day)
        entry = Path(str(key))
        try:
            with storage.open_input(key) as fh:
                size = fh.size()
                pf = pq.ParquetFile(fh)
                seal, _ = self._seal(day, pf)
                if size != seal.bytes:
                    raise CorruptEntryError(entry, entry, f"{size:,} bytes, {seal.bytes:,} written")
                if columns is not None:
                    return pf.read(columns=list(columns))
                fh.seek(0)
                data = fh.read(size)
        except (CorruptEntryError, FileNotFoundError):
            raise  # FileNotFoundError: no such day
        except DECODE_ERRORS as exc:
            raise CorruptEntryError(entry, entry, str(exc).splitlines()[0]) from exc
        if len(data) != seal.bytes or int(isal_zlib.crc32(data)) != seal.crc32:
            raise CorruptEntryError(entry, entry, "checksum mismatch")
        try:
            return pq.ParquetFile(pa.BufferReader(data)).read().cast(TRADE_SCHEMA)
        except DECODE_ERRORS as exc:
            raise CorruptEntryError(entry, entry, str(exc).splitlines()[0]) from exc

    def evict(self, day: str) -> None:
        """Withdraw a damaged day: the records listing it first, then the object."""
        records = storage.list_names(self.root / "_ingested")
        for name in records:
            key = self.root / "_ingested" / name
            try:
                doc = json.loads(storage.read_bytes(key))
            except (FileNotFoundError, ValueError):
                continue
            if day in doc.get("days", []):
                storage.remove(key)
        storage.remove(self.day_key(day))
        warn(f"{self.day_key(day)}: damaged; evicted it and its ingest record, rebuilding it")

    def read_range(
        self, from_ns: int, to_ns: int, *, repair: Callable[[], None] | None = None,
        listed: Collection[str] = (), read_ahead: int | None = None,
    ) -> Iterator[tuple[pa.Table, str]]:  # fmt: skip
        """Yield ``(trades, object URL)`` per day of ``[from_ns, to_ns)`` present in the lake.

        Per day: the object's size, its footer, the record it names, then its body (a day
        that is absent costs one request). An object no record lists is a damaged day, and so
        is a day of ``listed`` (the days the caller's records list) whose object is absent.

        The next ``read_ahead`` days (:data:`READ_AHEAD`) are read on threads while the
        caller works on the current one; days are yielded in order and a day's failure is
        raised at its turn, so at most ``read_ahead + 1`` days are held at once. A damaged
        day is evicted and ``repair`` called (or the error raised without it); the days read
        ahead of a repair are read again after it, since it may republish them.
        """
        ahead = READ_AHEAD if read_ahead is None else max(1, read_ahead)
        first, last = from_ns // NS_PER_DAY, (to_ns - 1) // NS_PER_DAY
        days = iter([day_name(i) for i in range(first, last + 1)])
        must = frozenset(listed)
        pool = cf.ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="lake-read")
        pending: collections.deque[tuple[str, cf.Future[pa.Table]]] = collections.deque()

        def fill() -> None:
            while len(pending) < ahead and (day := next(days, None)) is not None:
                pending.append((day, pool.submit(self.read_day, day)))

        def take(day: str, job: cf.Future[pa.Table]) -> pa.Table | None:
            try:
                return job.result()
            except FileNotFoundError:
                if day not in must:
                    return None  # no trades that day
                missing = Path(str(self.day_key(day)))
                problem = CorruptEntryError(missing, missing, "listed by its record but absent")
            except CorruptEntryError as exc:
                problem = exc
            if repair is None:
                raise problem
            self.evict(day)
            again = [d for d, _ in pending]  # read again after the repair: it may republish
            for _, job_ahead in pending:
                job_ahead.cancel()
            cf.wait([job_ahead for _, job_ahead in pending])
            pending.clear()
            repair()
            pending.extend((d, pool.submit(self.read_day, d)) for d in again)
            return self.read_day(day)

        import pyarrow.compute as pc  # here: 0.1 s that no other read needs

        try:
            fill()
            while pending:
                day, job = pending.popleft()
                fill()  # ``ahead`` days in flight while this one is awaited and worked on
                table = take(day, job)
                if table is None:
                    continue
                ts = table.column("ts").cast(pa.int64())
                mask = pc.and_(pc.greater_equal(ts, from_ns), pc.less(ts, to_ns))
                yield table.filter(mask), str(self.day_key(day))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def days(self) -> list[str]:
        """Every day a published record lists, sorted."""
        out: set[str] = set()
        for name in storage.list_names(self.root / "_ingested"):
            try:
                doc = json.loads(storage.read_bytes(self.root / "_ingested" / name))
            except (FileNotFoundError, ValueError):
                continue
            if isinstance(doc, dict) and doc.get("version") == RECORD_VERSION:
                out.update(str(d) for d in doc.get("days", []))
        return sorted(out)


# -- the ticks and aggregates tiers: published copies of local entries --------------------------

#: The lake of the running job: (this machine's cache folder, the object-store lake).
_LAKE: ContextVar[tuple[Path, Remote] | None] = ContextVar("seriesfactory_lake", default=None)
#: Objects of one tick set fetched at once.
PULL_THREADS = 4


@contextlib.contextmanager
def shared_lake(cache_dir: Path, lake: Remote | None) -> Iterator[None]:
    """While inside, tick sets and aggregates entries under ``cache_dir`` are published to
    ``lake`` when built and fetched from it when missing locally (None: local only)."""
    token = _LAKE.set((cache_dir, lake) if lake is not None else None)
    try:
        yield
    finally:
        _LAKE.reset(token)


def lake_key(path: Path) -> Remote | None:
    """The lake key of a local cache path (None outside a :func:`shared_lake` or the cache)."""
    current = _LAKE.get()
    if current is None:
        return None
    cache_dir, lake = current
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(cache_dir))
    if rel == "." or rel.startswith(".."):
        return None
    return lake / Path(rel).as_posix()


def _fetch_checked(key: Remote, size: int, crc32: int, local: Path) -> None:
    data = storage.read_bytes(key)
    if len(data) != size or int(isal_zlib.crc32(data)) != crc32:
        raise CorruptEntryError(local, local, f"published copy {key} fails its seal")
    atomic_write_bytes(local, data)


def pull_tick_set(root: Path, manifest: str) -> bool:
    """Fetch a published tick set into ``root`` when it has none: each day object (in
    parallel, whole: aggregation reads every byte) checked against the manifest's seal, then
    the manifest last. True when one was fetched."""
    key = lake_key(root)
    if key is None or (root / manifest).is_file():
        return False
    try:
        raw = storage.read_bytes(key / manifest)
        files = [
            (str(f["path"]), int(f["bytes"]), int(f["crc32"])) for f in json.loads(raw)["files"]
        ]
    except FileNotFoundError:
        return False
    except (ValueError, KeyError, TypeError) as exc:
        warn(f"{key / manifest}: unreadable published manifest ({exc}); building the set here")
        return False
    try:
        with cf.ThreadPoolExecutor(max_workers=PULL_THREADS) as pool:
            jobs = [pool.submit(_fetch_checked, key / rel, size, crc, root / rel)
                    for rel, size, crc in files]  # fmt: skip
            for job in jobs:
                job.result()
    except CorruptEntryError as exc:
        storage.remove(key / manifest)  # withdrawn: rebuilt here and published again
        warn(f"{exc.reason}; withdrew {key / manifest}, building the set here")
        return False
    atomic_write_bytes(root / manifest, raw)
    return True


def push_tick_set(root: Path, manifest: str, files: Sequence[Path]) -> None:
    """Publish the local tick set at ``root`` (day files, then the manifest) unless the same
    manifest is already published."""
    key = lake_key(root)
    if key is None:
        return
    local = (root / manifest).read_bytes()
    with contextlib.suppress(FileNotFoundError):
        if storage.read_bytes(key / manifest) == local:
            return
    storage.remove(key / manifest)  # withdrawn while its files are replaced
    for path in files:
        storage.put_atomic(path, key / path.relative_to(root).as_posix())
    storage.write_bytes_atomic(key / manifest, local)


def pull_sealed(path: Path, seal_path: Path) -> bool:
    """Fetch a published aggregates entry (checked against its seal) and then its seal file,
    when the entry is missing here. True when one was fetched."""
    key, seal_key = lake_key(path), lake_key(seal_path)
    if key is None or seal_key is None or (path.is_file() and seal_path.is_file()):
        return False
    try:
        raw = storage.read_bytes(seal_key)
        seal = Seal.from_json(json.loads(raw))
    except FileNotFoundError:
        return False
    except (ValueError, KeyError, TypeError):
        return False
    try:
        _fetch_checked(key, seal.bytes, seal.crc32, path)
    except CorruptEntryError as exc:
        storage.remove(seal_key)  # withdrawn: rebuilt here and published again
        warn(f"{exc.reason}; withdrew {seal_key}, rebuilding the entry here")
        return False
    atomic_write_bytes(seal_path, raw)
    return True


def push_sealed(path: Path, seal_path: Path) -> None:
    """Publish a local aggregates entry, then its seal file (unless the same seal is there)."""
    key, seal_key = lake_key(path), lake_key(seal_path)
    if key is None or seal_key is None or not (path.is_file() and seal_path.is_file()):
        return
    local = seal_path.read_bytes()
    with contextlib.suppress(FileNotFoundError):
        if storage.read_bytes(seal_key) == local:
            return
    storage.remove(seal_key)
    storage.put_atomic(path, key)
    storage.write_bytes_atomic(seal_key, local)
