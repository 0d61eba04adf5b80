"""The trades tier: ingesting a raw file in any pieces, or twice, equals ingesting it once."""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seriesfactory.core.time import NS_PER_DAY
from seriesfactory.errors import IntegrityError
from seriesfactory.lake.integrity import CorruptEntryError
from seriesfactory.lake.trades import TradeStore
from seriesfactory.schema import TRADE_SCHEMA

DAY0 = 19_723 * NS_PER_DAY  # 2024-01-01


def _trades(steps: list[int]) -> pa.Table:
    ts = DAY0 + np.cumsum(np.array(steps, np.int64))
    n = len(steps)
    return pa.Table.from_arrays(
        [
            pa.array(ts, type=pa.int64()).cast(TRADE_SCHEMA.field("ts").type),
            pa.nulls(n, type=TRADE_SCHEMA.field("recv_ts").type),
            pa.array(np.linspace(100, 101, n)),
            pa.array(np.full(n, 0.5)),
            pa.array(np.where(np.arange(n) % 2, 1, -1).astype(np.int8)),
            pa.array(np.arange(n, dtype=np.int64)),
        ],
        schema=TRADE_SCHEMA,
    )


def _snapshot(root: Path) -> dict[str, pa.Table]:
    return {
        str(p.relative_to(root)): pq.read_table(p, schema=TRADE_SCHEMA)
        for p in sorted(root.rglob("*.parquet"))
    }


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(0, NS_PER_DAY // 3), min_size=1, max_size=40),
    st.lists(st.integers(0, 40), max_size=4),
)
def test_pieces_and_reruns_do_not_change_the_tier(steps: list[int], cuts: list[int]) -> None:
    table = _trades(steps)
    bounds = sorted({0, table.num_rows, *(c for c in cuts if c <= table.num_rows)})
    pieces = [table.slice(lo, hi - lo) for lo, hi in itertools.pairwise(bounds)]
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        whole = TradeStore(Path(a), "binance", "BTCUSDT")
        rec = whole.ingest(table, raw_sha256="f" * 64, raw_name="x.zip", bad_lines=[])
        once = _snapshot(Path(a))
        whole.ingest(table, raw_sha256="f" * 64, raw_name="x.zip", bad_lines=[])
        assert _snapshot(Path(a)).keys() == once.keys()
        assert all(_snapshot(Path(a))[k].equals(v) for k, v in once.items())
        split = TradeStore(Path(b), "binance", "BTCUSDT")
        rec2 = split.ingest_stream(pieces, raw_sha256="f" * 64, raw_name="x.zip", bad_lines=[])
        assert rec2 == rec and whole.record("f" * 64) == rec
        got = _snapshot(Path(b))
        assert got.keys() == once.keys() and all(got[k].equals(v) for k, v in once.items())
        back = pa.concat_tables([t for t, _ in split.read_range(DAY0, DAY0 + 30 * NS_PER_DAY)])
        assert back.equals(table)


def test_files_of_the_earlier_format_are_not_trusted_unverified(tmp_path: Path) -> None:
    """A day file without a sealed ingest record (the earlier format) cannot be verified: the
    reader refuses it (the pipeline evicts it and re-ingests its raw file)."""
    table = _trades([1_000, 0, 5, 7_000_000, 1, 2])
    new = TradeStore(tmp_path / "new", "binance", "BTCUSDT")
    new.ingest(table, raw_sha256="e" * 64, raw_name="x.zip", bad_lines=[])
    old = TradeStore(tmp_path / "old", "binance", "BTCUSDT")
    path = old.day_path("20240101")
    path.parent.mkdir(parents=True)
    pq.write_table(table, path, compression="zstd", use_dictionary=["side"])
    [(got_new, _)] = list(new.read_range(DAY0, DAY0 + NS_PER_DAY))
    assert got_new.equals(table)
    with pytest.raises(CorruptEntryError, match="no ingest record lists it"):
        list(old.read_range(DAY0, DAY0 + NS_PER_DAY))
    meta = pq.ParquetFile(new.day_path("20240101")).metadata.row_group(0)
    encodings = {meta.column(i).path_in_schema: meta.column(i).encodings for i in range(6)}
    assert "BYTE_STREAM_SPLIT" in encodings["price"]
    assert "DELTA_BINARY_PACKED" in encodings["ts"]


def test_a_raw_file_failing_part_way_leaves_the_tier_as_it_was(tmp_path: Path) -> None:
    """All or nothing: day files of a failed stream are never renamed into place."""
    store = TradeStore(tmp_path, "binance", "BTCUSDT")
    earlier = _trades([1_000, 5, 5])  # day 1 from an earlier raw file
    store.ingest(earlier, raw_sha256="a" * 64, raw_name="a.zip", bad_lines=[])
    before = _snapshot(tmp_path)
    three_days = _trades([10, *[NS_PER_DAY // 2] * 5])  # days 1, 2 and 3

    def pieces() -> Iterator[pa.Table]:
        yield three_days.slice(0, 4)  # day 1 complete, day 2 begun
        yield three_days.slice(4, 1)
        raise IntegrityError("x.zip: CRC or size mismatch in 'x.csv'; delete it")

    with pytest.raises(IntegrityError, match="CRC"):
        store.ingest_stream(pieces(), raw_sha256="b" * 64, raw_name="x.zip", bad_lines=[])
    after = _snapshot(tmp_path)
    assert after.keys() == before.keys() and all(after[k].equals(v) for k, v in before.items())
    assert store.record("b" * 64) is None
    assert [p.name for p in tmp_path.rglob("*") if p.name.startswith(".tmp-")] == []
    # the same stream without the fault lands whole
    rec = store.ingest_stream([three_days], raw_sha256="b" * 64, raw_name="x.zip", bad_lines=[])
    assert rec.days == ("20240101", "20240102", "20240103") and rec.rows == 6
