"""Universe jobs over a lake and outputs on an object store (moto in server mode, s3fs).

The same ``trades`` / ``series`` / ``bars build`` universe job with an ``s3://`` cache and
output equals the local run byte for byte, on the synchronous scheduler and the process pool
(whose workers write the tiers and outputs to the store themselves).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

pytest.importorskip("s3fs", reason="the [s3] extra (s3fs) is not installed")

from seriesfactory.cli import main
from seriesfactory.core import storage
from seriesfactory.core.storage import Remote


def _local(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def _keys(bucket: str) -> list[str]:
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
    return sorted(k.split("/", 1)[1] for k in fs.find(bucket))


def _remote(bucket: str, prefix: str) -> dict[str, str]:
    """Name -> SHA-256 of every published output (what the manifest lists) under ``prefix``."""
    folder = Remote("s3", f"{bucket}/{prefix}")
    return {
        name: hashlib.sha256(storage.read_bytes(folder / name)).hexdigest()
        for name in sorted(storage.published(folder))
    }


@pytest.mark.parametrize("scheduler", ["sync", "processes"])
def test_universe_on_a_store_equals_the_local_run(
    universe, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scheduler: str
) -> None:
    monkeypatch.setenv("SERIESFACTORY_LOCAL_CACHE_DIR", str(tmp_path / "machine"))
    symbols = ["--symbols", ",".join(universe.symbols), "--scheduler", scheduler, "--quiet"]
    lake = f"s3://{bucket}/lake"
    for command in (["trades"], ["series", "--sources", "binance", "--agg-step", "60000"]):
        local_out = tmp_path / command[0]
        args = [*command, *universe.span(), *symbols]
        assert (
            main([*args, "--cache-dir", str(tmp_path / "cache"), "--output-dir", str(local_out)])
            == 0
        )
        assert (
            main([*args, "--cache-dir", lake, "--output-dir", f"s3://{bucket}/{command[0]}"]) == 0
        )
        local = _local(local_out)
        assert len(local) == len(universe.symbols)
        assert _remote(bucket, command[0]) == local
    bars = ["bars", "build", "--type", "tick", "--threshold", "50", "--venue", "binance"]
    bars += [*universe.span(), *symbols]
    assert main([*bars, "--cache-dir", str(tmp_path / "cache"),
                 "--output", str(tmp_path / "bars" / "{symbol}.parquet")]) == 0  # fmt: skip
    assert (
        main([*bars, "--cache-dir", lake, "--output", f"s3://{bucket}/bars/{{symbol}}.parquet"])
        == 0
    )
    assert _remote(bucket, "bars") == _local(tmp_path / "bars")
    # the workers published the trades tier and its records to the lake; no temporary key left
    keys = _keys(bucket)
    for symbol in universe.symbols:
        assert any(k.startswith(f"lake/trades/binance/{symbol}/") for k in keys), symbol
    assert not any(".tmp-" in k for k in keys)


@pytest.mark.parametrize(
    "command", [["trades"], ["series", "--sources", "binance", "--agg-step", "60000"]]
)
def test_a_second_machine_runs_the_universe_from_the_lake_without_archives(
    universe, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """trades: the fetch tasks look the published records up by the archives' checksums
    first; series: the pass looks the published tick set up the same way."""
    lake = f"s3://{bucket}/lake"
    args = [*command, *universe.span(), "--symbols", ",".join(universe.symbols), "--quiet"]
    args += ["--scheduler", "sync", "--cache-dir", lake]
    outputs = []
    for machine in ("m1", "m2"):
        monkeypatch.setenv("SERIESFACTORY_LOCAL_CACHE_DIR", str(tmp_path / machine))
        universe.mirror.requests.clear()
        assert main([*args, "--output-dir", str(tmp_path / f"out-{machine}")]) == 0
        outputs.append(_local(tmp_path / f"out-{machine}"))
        zips = [p for p, _ in universe.mirror.requests if p.endswith(".zip")]
        assert len(zips) == (9 if machine == "m1" else 0), machine
    assert outputs[0] == outputs[1] and len(outputs[0]) == len(universe.symbols)
    assert not (tmp_path / "m2" / "trades").exists()
    assert not (tmp_path / "m2" / "raw").exists() or not any(
        (tmp_path / "m2" / "raw").rglob("*.zip")
    )
