"""``cache ls`` and ``cache gc`` of a lake on an object store (moto in server mode, s3fs).

The lake is filled by real runs (``trades`` from the local mirror, ``series`` of a generated
source), then given what crashed writers leave: temporary keys and objects no manifest lists.
gc removes exactly those once they are older than the grace, and the lake still serves a
fresh machine the same outputs without any archive download.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("s3fs", reason="the [s3] extra (s3fs) is not installed")

from tests.conftest import aws_env
from tests.lake.test_object_store import GBM, _archive, _keys

from seriesfactory.cli import main
from seriesfactory.core import storage
from seriesfactory.core.storage import Remote
from seriesfactory.lake import shared_cache

TRADES = ["trades", "--symbol", "BTCUSDT", "--from", "2024-01-01", "--to", "2024-01-03"]
SERIES = ["series", "--from", "2024-01-01", "--to", "2024-01-02", "--agg-step", "3600000",
          "--sources", GBM]  # fmt: skip

JUNK = [
    "trades/binance/BTCUSDT/2024/01/.tmp-0123456789ab-20240101.parquet",  # killed upload
    "trades/binance/BTCUSDT/2024/01/20240109.parquet",  # days no record lists
    "trades/binance/ETHUSDT/2024/01/20240101.parquet",
    "aggregates/00000000000000aa/00000000000000bb.parquet",  # an entry without its seal
    "aggregates/00000000000000aa/00000000000000cc.parquet.seal",  # a seal without its entry
    "ticks/synthetic/gbm/00000000000000dd/2024/01/20240101.parquet",  # a set without manifest
]


def _fill(bucket: str, mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    for day in ("2024-01-01", "2024-01-02"):
        _archive(mirror, day, 2000)
    monkeypatch.setenv("SERIESFACTORY_BINANCE_DATA_URL", mirror.url)
    monkeypatch.setenv("SERIESFACTORY_LOCAL_CACHE_DIR", str(tmp_path / "m1"))
    lake = f"s3://{bucket}/lake"
    outputs = {}
    for command in (TRADES, SERIES):
        out = tmp_path / f"m1-{command[0]}"
        assert main([*command, "--cache-dir", lake, "--output-dir", str(out), "--quiet"]) == 0
        (only,) = out.iterdir()
        outputs[command[0]] = only.read_bytes()
    return outputs


def test_ls_and_gc_of_a_lake_on_s3(
    bucket: str,
    mirror,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    outputs = _fill(bucket, mirror, tmp_path, monkeypatch)
    root = Remote("s3", f"{bucket}/lake")
    published = _keys(bucket)
    # a stray file in the published tick set, and objects outside the tiers
    tick_set = next(k for k in published if k.startswith("lake/ticks/") and "manifest" in k)
    junk = [*JUNK, tick_set.removeprefix("lake/").replace("manifest.json", "stray.parquet")]
    for name in junk:
        storage.write_bytes_atomic(root / name, b"x" * 100)
    storage.write_bytes_atomic(root / "notes.txt", b"not a tier")
    lake = ["--cache-dir", root.url]

    capsys.readouterr()
    assert main(["cache", "ls", *lake]) == 0
    out = capsys.readouterr().out
    assert f"{root.url}: raw files stay on each machine" in out
    assert "trades: 2 symbol(s), " in out  # BTCUSDT (2 days, 2 records) and the stray ETHUSDT
    assert "ticks: 2 tick set(s), " in out and "aggregates: 1 entries, " in out
    assert "temporary: 1 object(s)" in out
    assert f"unlisted: {len(junk) - 1} object(s), {100 * (len(junk) - 1):,} bytes" in out
    assert "other: 1 object(s) outside the tiers" in out
    # everything is younger than the grace: nothing removed
    assert main(["cache", "gc", *lake]) == 0
    out = capsys.readouterr().out
    assert "removed 0 stale temporary and 0 unlisted object(s)" in out
    assert f"kept {len(junk)} younger than an hour" in out
    assert _keys(bucket) == sorted([*published, *(f"lake/{n}" for n in junk), "lake/notes.txt"])
    # past the grace: exactly the leftovers go, every published object stays
    monkeypatch.setattr(shared_cache, "GRACE_S", -1.0)
    assert main(["cache", "gc", *lake]) == 0
    out = capsys.readouterr().out
    assert f"removed 1 stale temporary and {len(junk) - 1} unlisted object(s)" in out
    assert f"freed {100 * len(junk):,} bytes" in out
    assert _keys(bucket) == sorted([*published, "lake/notes.txt"])
    # the lake still serves a new machine the same bytes, without downloading an archive
    mirror.requests.clear()
    monkeypatch.setenv("SERIESFACTORY_LOCAL_CACHE_DIR", str(tmp_path / "m2"))
    for command in (TRADES, SERIES):
        out_dir = tmp_path / f"m2-{command[0]}"
        assert main([*command, *lake, "--output-dir", str(out_dir), "--quiet"]) == 0
        assert next(out_dir.iterdir()).read_bytes() == outputs[command[0]]
    assert not [p for p, _ in mirror.requests if p.endswith(".zip")]


def test_gc_keeps_what_an_unreadable_record_may_list(
    bucket: str, mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for day in ("2024-01-01", "2024-01-02"):
        _archive(mirror, day, 500)
    monkeypatch.setenv("SERIESFACTORY_BINANCE_DATA_URL", mirror.url)
    monkeypatch.setenv("SERIESFACTORY_LOCAL_CACHE_DIR", str(tmp_path / "m1"))
    root = Remote("s3", f"{bucket}/lake")
    out = ["--output-dir", str(tmp_path / "o"), "--quiet"]
    assert main([*TRADES, "--cache-dir", root.url, *out]) == 0
    folder = root / "trades" / "binance" / "BTCUSDT"
    storage.write_bytes_atomic(folder / "_ingested" / ("f" * 32 + ".json"), b'{"version": 99}')
    storage.write_bytes_atomic(folder / "2024" / "01" / "20240105.parquet", b"x" * 10)
    monkeypatch.setattr(shared_cache, "GRACE_S", -1.0)
    got = shared_cache.gc_lake(root)
    assert (got.removed_unlisted, got.kept_unsure) == (0, 3)  # the two days and the extra one
    assert storage.stat(folder / "2024" / "01" / "20240105.parquet") is not None


def test_options_that_do_not_apply_to_a_store_fail_in_one_line(
    bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = f"s3://{bucket}/lake"
    for option, value in (("--max-bytes", "1"), ("--retention-days", "3"),
                          ("--derived-retention-days", "3")):  # fmt: skip
        capsys.readouterr()
        assert main(["cache", "gc", "--cache-dir", lake, option, value]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: {option} does not apply to a lake on an object store")
        assert len(err.splitlines()) == 1
    assert main(["cache", "clear", "--cache-dir", lake, "--yes"]) == 2
    err = capsys.readouterr().err
    assert "s3:// URLs are taken by" in err and "cache ls and cache gc only" in err
    assert main(["cache", "ls", "--cache-dir", "s3://no-such-bucket-x1/lake"]) == 1
    assert "no bucket 'no-such-bucket-x1'" in capsys.readouterr().err


def test_an_option_for_a_local_cache_is_refused_before_the_store_is_contacted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    aws_env(monkeypatch, "http://127.0.0.1:9")  # nothing listens there
    assert main(["cache", "gc", "--cache-dir", "s3://b/lake", "--max-bytes", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --max-bytes does not apply") and "cannot reach" not in err
