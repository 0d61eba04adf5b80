"""``TickSet.read``: the optional ``age_ns`` column is kept, and absent means 0."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from seriesfactory.core.time import NS_PER_DAY
from seriesfactory.lake.ticks import AGED_TICK_SCHEMA, TickSet, write_tick_set
from seriesfactory.schema import TICK_SCHEMA, TickArrays

DAY0 = 19_723 * NS_PER_DAY  # 2024-01-01


def _ticks(day: int, n: int) -> TickArrays:
    ts = DAY0 + day * NS_PER_DAY + np.arange(n, dtype=np.int64) * 1_000_000
    bid = 100.0 + np.arange(n, dtype=np.float64)
    return TickArrays(ts, bid, bid + 0.5, np.full(n, 2.0), np.zeros(n))


def _set(tmp_path: Path, chunks: list[TickArrays | tuple[TickArrays, np.ndarray]]) -> TickSet:
    return write_tick_set(tmp_path / "set", key="k", chunks=chunks, info={})


def test_aged_files_read_with_their_ages(tmp_path: Path) -> None:
    age = np.array([0, 5, 7], dtype=np.int64)
    ticks = _set(tmp_path, [(_ticks(0, 3), age), (_ticks(1, 2), np.array([3, 0], np.int64))])
    table = ticks.read()
    assert table.schema.equals(AGED_TICK_SCHEMA)
    assert table.column("age_ns").to_pylist() == [0, 5, 7, 3, 0]
    assert table.column("bid").to_pylist() == [100.0, 101.0, 102.0, 100.0, 101.0]


def test_files_without_ages_read_as_the_plain_schema(tmp_path: Path) -> None:
    table = _set(tmp_path, [_ticks(0, 3)]).read()
    assert table.schema.equals(TICK_SCHEMA)
    assert table.num_rows == 3


def test_a_day_without_ages_reads_as_age_zero_beside_aged_days(tmp_path: Path) -> None:
    ticks = _set(tmp_path, [_ticks(0, 2), (_ticks(1, 2), np.array([4, 9], np.int64))])
    table = ticks.read()
    assert table.schema.equals(AGED_TICK_SCHEMA)
    assert table.column("age_ns").to_pylist() == [0, 0, 4, 9]
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    assert (np.diff(ts) > 0).all()


def test_empty_set_reads_as_an_empty_plain_table(tmp_path: Path) -> None:
    table = _set(tmp_path, []).read()
    assert table.num_rows == 0 and table.schema.equals(TICK_SCHEMA)


def test_chunks_kept_by_the_consumer_stay_intact_while_later_files_are_read(
    tmp_path: Path,
) -> None:
    # the files are read into one reused buffer: what was decoded from one file must not
    # change when the next file is read (days of growing and shrinking sizes)
    sizes = [5, 300, 40, 7, 1000, 2]
    ticks = _set(tmp_path, [_ticks(day, n) for day, n in enumerate(sizes)])
    kept = [(c, path, first) for c, _age, path, first in ticks.aged_chunks(prefetch=1)]
    assert [len(c.ts) for c, _, _ in kept] == sizes
    whole = ticks.read()
    assert (
        np.concatenate([c.ts for c, _, _ in kept]).tolist()
        == whole.column("ts").cast(pa.int64()).to_pylist()
    )
    assert np.concatenate([c.bid for c, _, _ in kept]).tolist() == whole.column("bid").to_pylist()
    assert [first for _, _, first in kept] == [0] * len(sizes)
    assert [Path(path).name for _, path, _ in kept] == [f.path.name for f in ticks.files]


def test_a_decoded_buffer_inside_the_read_buffer_is_found() -> None:
    from seriesfactory.lake.ticks import _points_into

    raw = pa.py_buffer(np.arange(8, dtype=np.int64).tobytes())
    inside = pa.Array.from_buffers(pa.int64(), 4, [None, raw.slice(16, 32)])
    outside = pa.array(np.arange(4, dtype=np.int64))
    lo, hi = raw.address, raw.address + raw.size
    assert _points_into(pa.table({"x": inside}), lo, hi)
    assert not _points_into(pa.table({"x": outside}), lo, hi)
    assert inside.to_pylist() == [2, 3, 4, 5]
