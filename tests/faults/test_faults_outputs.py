"""Outputs: full and read-only disks, pairs published together, outputs that would clobber inputs.

* A full disk or a read-only folder under an output ends in one ``error:`` line
  naming the path, exit 1, and no temporary file left behind.
* A CSV and its ``.meta.json`` are published both or neither; a leftover half (a
  sidecar whose CSV is missing or different) is removed by the next run.
* ``--output`` equal to an ``--input`` is refused (exit 2) and the input is untouched;
  an ``--output-dir`` inside ``--cache-dir`` is refused.
* Bad configuration (a non-UTF-8 TOML file), too-long names and malformed CSV rows
  are one line naming the file, option or line.
"""

from __future__ import annotations

import errno
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from seriesfactory.errors import CacheError
from seriesfactory.lake import outputs
from seriesfactory.lake.outputs import DATA_SHA256_KEY, publish_table, sidecar_path
from seriesfactory.transforms.bars import BAR_COLUMNS

Cli = Callable[..., tuple[int, str, str]]
Line = Callable[[str], str]
SPEC = "gbm(0.05,0.5,50000)"
DAY = ["--from", "2025-01-01", "--to", "2025-01-02", "--agg-step", "60000"]


def _series(tmp_path: Path, out: Path, *extra: str) -> list[str]:
    return ["series", "--sources", SPEC, *DAY, "--cache-dir", str(tmp_path / "cache"),
            "--output-dir", str(out), "--quiet", *extra]  # fmt: skip


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# -- full and read-only disks ---------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_full_output_disk_is_one_line_and_leaves_nothing(
    fmt: str, tmp_path: Path, small_disk: Callable[[str], Path], cli: Cli, one_error_line: Line
) -> None:
    disk = small_disk("12k")
    code, _, err = cli(*_series(tmp_path, disk, "--out-format", fmt))
    assert code == 1, err
    line = one_error_line(err)
    assert "No space left on device" in line and str(disk) in line, line
    assert _names(disk) == []  # no output, no sidecar, no temporary file


def test_full_cache_disk_is_one_line(
    tmp_path: Path, small_disk: Callable[[str], Path], cli: Cli, one_error_line: Line
) -> None:
    disk = small_disk("12k")
    args = ["series", "--sources", SPEC, *DAY, "--cache-dir", str(disk),
            "--output-dir", str(tmp_path / "out"), "--quiet"]  # fmt: skip
    code, _, err = cli(*args)
    assert code not in {0, 2}, err
    line = one_error_line(err)
    assert str(disk) in line, line


def test_read_only_output_folder_is_one_line(
    tmp_path: Path, read_only_disk: Callable[..., Path], cli: Cli, one_error_line: Line
) -> None:
    ro = read_only_disk(lambda p: (p / "out").mkdir())
    code, _, err = cli(*_series(tmp_path, ro / "out"))
    assert code == 1, err
    line = one_error_line(err)
    assert "Read-only file system" in line and str(ro) in line, line


def test_a_file_name_too_long_is_one_line(tmp_path: Path, cli: Cli, one_error_line: Line) -> None:
    bars = tmp_path / "bars.csv"
    bars.write_text(",".join(BAR_COLUMNS) + "\n")
    out = tmp_path / ("b" * 300 + ".csv")
    code, _, err = cli("bars", "export", "--input", str(bars), "--output", str(out))
    assert code == 1, err
    assert "File name too long" in one_error_line(err)


# -- pairs ----------------------------------------------------------------------------------------
def _table(n: int) -> pa.Table:
    return pa.table({"x": list(range(n))})


def test_csv_and_sidecar_are_published_both_or_neither(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "o.csv"
    publish_table(out, _table(3), "csv", {"k": "old"})
    old_csv, old_side = out.read_bytes(), sidecar_path(out).read_bytes()
    assert json.loads(old_side)[DATA_SHA256_KEY] == hashlib.sha256(old_csv).hexdigest()

    def full(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outputs, "atomic_write_json", full)  # the disk fills at the sidecar
    with pytest.raises(CacheError, match="No space"):  # one line naming the output
        publish_table(out, _table(5), "csv", {"k": "new"})
    assert out.read_bytes() == old_csv and sidecar_path(out).read_bytes() == old_side
    assert _names(tmp_path) == ["o.csv", "o.csv.meta.json"]  # no temporary left


def test_a_leftover_half_is_cleaned_on_rerun(tmp_path: Path) -> None:
    out = tmp_path / "o.csv"
    publish_table(out, _table(3), "csv", {"k": "v"})
    out.unlink()  # a crash between the sidecar's rename and the CSV's
    assert outputs.clean_leftovers(out) == [sidecar_path(out)]
    publish_table(out, _table(4), "csv", {"k": "v"})
    side = json.loads(sidecar_path(out).read_text())
    assert side[DATA_SHA256_KEY] == hashlib.sha256(out.read_bytes()).hexdigest()
    out.write_text("x\n1\n")  # a CSV that is not the one its sidecar names
    outputs.clean_leftovers(out)
    assert not sidecar_path(out).exists()


# -- outputs that would clobber inputs -----------------------------------------------------------
def test_output_equal_to_input_is_refused(tmp_path: Path, cli: Cli, one_error_line: Line) -> None:
    trades = tmp_path / "trades.csv"
    trades.write_text("ts,price,qty\n1000,10,1\n2000,11,1\n3000,12,1\n")
    before = trades.read_bytes()
    for args in (
        ["bars", "build", "--type", "tick", "--threshold", "2", "--input", str(trades),
         "--output", str(trades)],
        ["bars", "export", "--input", str(trades), "--output", str(trades)],
        ["book", "snapshots", "--input", str(trades), "--venue", "binance", "--symbol",
         "BTCUSDT", "--output", str(trades)],
        ["book", "verify", "--input", str(trades), "--venue", "binance", "--symbol",
         "BTCUSDT", "--output", str(trades)],
    ):  # fmt: skip
        code, _, err = cli(*args, "--overwrite")  # --overwrite never lets an input be replaced
        assert code == 2, (args, err)
        assert "is also an --input" in one_error_line(err)
        assert trades.read_bytes() == before


def test_output_dir_inside_the_cache_is_refused(
    tmp_path: Path, cli: Cli, one_error_line: Line
) -> None:
    cache = tmp_path / "cache"
    inside = cache / "out"
    for args in (
        ["series", "--sources", SPEC, *DAY],
        ["ticks", "--sources", SPEC, "--from", "2025-01-01", "--to", "2025-01-02"],
        ["trades", "--from", "2025-01-01", "--to", "2025-01-02"],
    ):
        code, _, err = cli(*args, "--cache-dir", str(cache), "--output-dir", str(inside))
        assert code == 2, (args, err)
        assert "inside --cache-dir" in one_error_line(err)
    code, _, err = cli("download", "--from", "2025-01-01", "--to", "2025-01-02",
                       "--kind", "klines", "--cache-dir", str(cache),
                       "--candles-dir", str(cache))  # fmt: skip
    assert code == 2 and "inside --cache-dir" in one_error_line(err)
    assert not cache.exists()


# -- configuration and CSV input ------------------------------------------------------------------
def test_non_utf8_toml_is_one_line(tmp_path: Path, cli: Cli, one_error_line: Line) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_bytes(b'venue = "binance"\n# caf\xe9\n')
    code, _, err = cli("record", "--config", str(cfg), "--symbol", "btcusdt")
    assert code == 2 and "not UTF-8" in one_error_line(err) and str(cfg) in err
    code, _, err = cli("cache", "gc", "--cache-dir", str(tmp_path / "c"), "--config", str(cfg))
    assert code == 2 and "not UTF-8" in one_error_line(err)


def test_csv_with_a_long_row_or_a_duplicated_column(
    tmp_path: Path, cli: Cli, one_error_line: Line
) -> None:
    long_row = tmp_path / "long.csv"
    long_row.write_text("ts,price,qty,side\n1,2,3,buy\n2,3,4,sell,9\n")
    dup = tmp_path / "dup.csv"
    dup.write_text("ts,price,qty,qty\n1,2,3,4\n")
    out = tmp_path / "b.parquet"
    base = ["bars", "build", "--type", "tick", "--threshold", "2", "--output", str(out)]
    code, _, err = cli(*base, "--input", str(long_row))
    assert code == 1
    assert f"{long_row}:3: 5 fields, but the header has 4" in one_error_line(err)
    code, _, err = cli(*base, "--input", str(dup))
    assert code == 1
    assert f"{dup}:1: the header names column 'qty' twice" in one_error_line(err)
