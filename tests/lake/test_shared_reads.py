"""The trades tier on a store read ahead on threads: the same days, in order, checked the same.

``SharedTrades.read_range`` reads the next days while the caller works on the current one
(docs/scale.md, "The trades tier on a store"). Whatever the read-ahead, the output equals
reading the days one at a time; a damaged day fails (or is evicted and repaired) at its own
turn; no more than ``read_ahead + 1`` days are read before the caller asks for them.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seriesfactory.core import storage
from seriesfactory.core.storage import Remote
from seriesfactory.core.time import NS_PER_DAY
from seriesfactory.errors import CacheWarning
from seriesfactory.lake.integrity import CorruptEntryError
from seriesfactory.lake.shared import READ_AHEAD, SharedTrades
from seriesfactory.lake.trades import IngestRecord, TradeStore
from seriesfactory.schema import TRADE_SCHEMA

DAY0 = 19_723  # 2024-01-01
DAYS = 10


def _trades(first_day: int, days: int, per_day: int = 300) -> pa.Table:
    """``per_day`` trades in each of ``days`` days from ``first_day`` (prices vary by day)."""
    step = NS_PER_DAY // per_day
    ts = np.concatenate(
        [(first_day + d) * NS_PER_DAY + np.arange(per_day, dtype=np.int64) * step
         for d in range(days)]
    )  # fmt: skip
    n = len(ts)
    return pa.Table.from_arrays(
        [
            pa.array(ts).cast(TRADE_SCHEMA.field("ts").type),
            pa.nulls(n, type=TRADE_SCHEMA.field("recv_ts").type),
            pa.array(100.0 + np.arange(n) % 97 / 10),
            pa.array(np.full(n, 0.25)),
            pa.array(np.where(np.arange(n) % 3, 1, -1).astype(np.int8)),
            pa.array(np.arange(n, dtype=np.int64)),
        ],
        schema=TRADE_SCHEMA,
    )


class Lake:
    """Ten days published from two raw files (days 0-5 and 6-9) into a fresh folder."""

    def __init__(self, remote: Remote, local: Path) -> None:
        self.store = TradeStore(local, "binance", "BTCUSDT")
        self.shared = SharedTrades(remote, "binance", "BTCUSDT")
        self.records: list[IngestRecord] = []
        for sha, first, days in (("a" * 64, DAY0, 6), ("b" * 64, DAY0 + 6, 4)):
            rec = self.store.ingest_stream(
                [_trades(first, days)], raw_sha256=sha, raw_name=f"{sha[0]}.zip", bad_lines=[]
            )
            self.shared.publish(self.store, rec)
            self.records.append(rec)

    def listed(self) -> set[str]:
        return {day for rec in self.records for day in rec.days}

    def republish(self) -> None:
        """What a job's repair does: publish every record the lake lacks (from the local tier)."""
        for rec in self.records:
            self.shared.publish(self.store, rec)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    remote = Remote("memory", f"/reads-{uuid.uuid4().hex[:8]}")
    return Lake(remote, tmp_path_factory.mktemp("local"))


def _one_at_a_time(shared: SharedTrades, from_ns: int, to_ns: int) -> list[tuple[pa.Table, str]]:
    return list(shared.read_range(from_ns, to_ns, read_ahead=1))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lo=st.integers(0, (DAYS + 2) * NS_PER_DAY - 1),
    span=st.integers(1, (DAYS + 2) * NS_PER_DAY),
    ahead=st.integers(1, 9),
)
def test_any_read_ahead_yields_what_one_day_at_a_time_yields(
    lake: Lake, lo: int, span: int, ahead: int
) -> None:
    from_ns = (DAY0 - 1) * NS_PER_DAY + lo  # from the day before the first published one
    to_ns = from_ns + span
    ref = _one_at_a_time(lake.shared, from_ns, to_ns)
    got = list(lake.shared.read_range(from_ns, to_ns, read_ahead=ahead, listed=lake.listed()))
    assert [url for _, url in got] == [url for _, url in ref]
    assert all(a.equals(b) for (a, _), (b, _) in zip(got, ref, strict=True))
    urls = [url for _, url in got]
    assert urls == sorted(urls)  # in day order


def test_the_whole_range_in_order_equals_the_local_tier(lake: Lake) -> None:
    from_ns, to_ns = DAY0 * NS_PER_DAY, (DAY0 + DAYS) * NS_PER_DAY
    got = list(lake.shared.read_range(from_ns, to_ns))
    local = list(lake.store.read_range(from_ns, to_ns))
    assert len(got) == DAYS == len(local)
    assert all(a.equals(b) for (a, _), (b, _) in zip(got, local, strict=True))


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Lake]:
    remote = Remote("memory", f"/reads-{uuid.uuid4().hex[:8]}")
    yield Lake(remote, tmp_path)
    for name in storage.list_names(remote / "trades" / "binance" / "BTCUSDT" / "_ingested"):
        storage.remove(remote / "trades" / "binance" / "BTCUSDT" / "_ingested" / name)


def _damage(shared: SharedTrades, day: str) -> None:
    data = bytearray(storage.read_bytes(shared.day_key(day)))
    data[len(data) // 2] ^= 0xFF
    storage.write_bytes_atomic(shared.day_key(day), bytes(data))


def test_a_damaged_day_fails_at_its_own_turn(fresh: Lake) -> None:
    """Days before the damaged one are yielded; the error names that day, not one read ahead."""
    _damage(fresh.shared, "20240108")
    from_ns, to_ns = DAY0 * NS_PER_DAY, (DAY0 + DAYS) * NS_PER_DAY
    got: list[str] = []
    with pytest.raises(CorruptEntryError) as caught:
        for _table, url in fresh.shared.read_range(from_ns, to_ns, read_ahead=4):
            got.append(url.rsplit("/", 1)[1])
    assert got == [f"202401{d:02d}.parquet" for d in range(1, 8)]
    assert str(caught.value.file).endswith("20240108.parquet")
    assert "checksum mismatch" in caught.value.reason


def test_a_damaged_day_is_evicted_repaired_and_the_days_ahead_read_again(fresh: Lake) -> None:
    from_ns, to_ns = DAY0 * NS_PER_DAY, (DAY0 + DAYS) * NS_PER_DAY
    ref = _one_at_a_time(fresh.shared, from_ns, to_ns)
    _damage(fresh.shared, "20240103")  # in the first raw file (days 1-6): its record goes
    repairs: list[int] = []

    def repair() -> None:
        repairs.append(1)
        fresh.republish()

    with pytest.warns(CacheWarning, match="20240103.parquet: damaged"):
        got = list(fresh.shared.read_range(from_ns, to_ns, repair=repair, read_ahead=4))
    assert repairs == [1]
    assert [u for _, u in got] == [u for _, u in ref]
    assert all(a.equals(b) for (a, _), (b, _) in zip(got, ref, strict=True))


def test_a_listed_day_whose_object_is_gone_is_damaged(fresh: Lake) -> None:
    """Without ``listed`` an absent object is a day without trades; with it, damage."""
    from_ns, to_ns = DAY0 * NS_PER_DAY, (DAY0 + DAYS) * NS_PER_DAY
    storage.remove(fresh.shared.day_key("20240105"))
    assert len(list(fresh.shared.read_range(from_ns, to_ns))) == DAYS - 1
    with pytest.raises(CorruptEntryError, match="listed by its record but absent"):
        list(fresh.shared.read_range(from_ns, to_ns, listed=fresh.listed()))
    with pytest.warns(CacheWarning, match="20240105.parquet: damaged"):
        got = list(fresh.shared.read_range(from_ns, to_ns, listed=fresh.listed(),
                                           repair=fresh.republish))  # fmt: skip
    assert len(got) == DAYS


def test_reads_run_in_parallel_and_stay_bounded(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several days are read at once; a caller that holds the first day gets no more than
    ``read_ahead`` more read for it (memory stays bounded)."""
    started: list[str] = []
    now = [0, 0]  # in flight, most at once
    lock = threading.Lock()
    real = SharedTrades.read_day

    def slow(self: SharedTrades, day: str, **kw: object) -> pa.Table:
        with lock:
            started.append(day)
            now[0] += 1
            now[1] = max(now[1], now[0])
        try:
            time.sleep(0.05)
            return real(self, day)
        finally:
            with lock:
                now[0] -= 1

    monkeypatch.setattr(SharedTrades, "read_day", slow)
    from_ns, to_ns = DAY0 * NS_PER_DAY, (DAY0 + DAYS) * NS_PER_DAY
    reader = lake.shared.read_range(from_ns, to_ns)
    next(reader)
    time.sleep(0.5)  # the caller holds the first day; the reads ahead finish meanwhile
    assert len(started) == READ_AHEAD + 1
    rest = list(reader)
    assert len(rest) == DAYS - 1 and len(started) == DAYS
    assert now[1] >= 2  # days were read concurrently
    early = lake.shared.read_range(from_ns, to_ns)
    next(early)
    assert isinstance(early, Generator)
    early.close()  # a caller that stops early: the reads ahead are finished or cancelled
    assert now[0] == 0
