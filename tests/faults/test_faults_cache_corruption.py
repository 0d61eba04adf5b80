"""Flipped bytes and truncation in every derived tier: detected, evicted and rebuilt, never a
silently different output (issue 17, item 3; docs/reliability.md)."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from seriesfactory.cli import main
from seriesfactory.lake import derived

GBM = "gbm(0.05,0.5,50000)"
SERIES = ["series", "--sources", GBM, "--from", "2025-01-01", "--to", "2025-01-03",
          "--agg-step", "60000", "--quiet"]  # fmt: skip


def _run(args: list[str], cache: Path, out: Path) -> int:
    return main([*args, "--cache-dir", str(cache), "--output-dir", str(out)])


def _only(out: Path) -> Path:
    (path,) = [p for p in out.iterdir() if not p.name.startswith(".")]
    return path


def _flip(path: Path, rng: random.Random) -> int:
    data = bytearray(path.read_bytes())
    pos = rng.randrange(len(data))
    data[pos] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))
    return pos


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A cache with a tick set and an aggregates entry, and the output's bytes."""
    root = tmp_path_factory.mktemp("baseline")
    assert _run(SERIES, root / "cache", root / "out") == 0
    return root / "cache", _only(root / "out").read_bytes()


def _copy(baseline: tuple[Path, bytes], tmp_path: Path) -> Path:
    cache = tmp_path / "cache"
    shutil.copytree(baseline[0], cache)
    return cache


def _tick_files(cache: Path) -> list[Path]:
    return sorted((cache / "ticks").rglob("2025*.parquet"))


def _entry(cache: Path) -> Path:
    (entry,) = [e.path for e in derived.list_derived(cache) if e.tier == "aggregates"]
    return entry


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("target", ["tick file", "aggregates entry", "aggregates seal"])
def test_a_flipped_byte_is_evicted_and_the_output_is_unchanged(
    baseline, tmp_path: Path, capsys, seed: int, target: str
) -> None:
    cache = _copy(baseline, tmp_path)
    rng = random.Random(seed)
    if target == "tick file":
        # the aggregates entry would serve the run without reading ticks: remove it
        shutil.rmtree(cache / "aggregates")
        path = rng.choice(_tick_files(cache))
    elif target == "aggregates entry":
        path = _entry(cache)
    else:
        path = _entry(cache).with_name(_entry(cache).name + ".seal")
    _flip(path, rng)
    named = str(path).removesuffix(".seal")  # a seal that still parses fails its entry
    assert _run(SERIES, cache, tmp_path / "out") == 0
    assert _only(tmp_path / "out").read_bytes() == baseline[1]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"warning: {named}") and "evicted" in err[0], err
    # the rebuilt entry serves the next run silently
    assert _run(SERIES, cache, tmp_path / "again") == 0
    assert _only(tmp_path / "again").read_bytes() == baseline[1]
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("cut", [0.0, 0.4, 0.999])
def test_a_truncated_tick_file_is_rebuilt_on_the_next_run(
    baseline, tmp_path: Path, capsys, cut: float
) -> None:
    cache = _copy(baseline, tmp_path)
    shutil.rmtree(cache / "aggregates")
    path = _tick_files(cache)[0]
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    assert _run(SERIES, cache, tmp_path / "out") == 0
    assert _only(tmp_path / "out").read_bytes() == baseline[1]
    assert "Traceback" not in capsys.readouterr().err
    assert path.read_bytes() == data  # the same bytes again: generation is deterministic


def test_a_garbled_manifest_is_rebuilt(baseline, tmp_path: Path, capsys) -> None:
    cache = _copy(baseline, tmp_path)
    shutil.rmtree(cache / "aggregates")
    (manifest,) = (cache / "ticks").rglob("manifest.json")
    manifest.write_text('{"version": 3, "files": [{"path": 1}]')
    assert _run(SERIES, cache, tmp_path / "out") == 0
    assert _only(tmp_path / "out").read_bytes() == baseline[1]
    assert "unreadable tick manifest" in capsys.readouterr().err


def test_ticks_command_reads_verified_files(baseline, tmp_path: Path, capsys) -> None:
    cache = _copy(baseline, tmp_path)
    ticks = ["ticks", "--sources", GBM, "--from", "2025-01-01", "--to", "2025-01-03"]
    assert _run(ticks, tmp_path / "fresh", tmp_path / "want") == 0
    _flip(_tick_files(cache)[1], random.Random(3))
    assert _run(ticks, cache, tmp_path / "out") == 0
    assert _only(tmp_path / "out").read_bytes() == _only(tmp_path / "want").read_bytes()
    assert "evicted" in capsys.readouterr().err


# -- exchange tiers: trades (bars, trades) and venue tick sets (series), raw files below ----------
def _spot_day(day: str, n: int, seed: int) -> str:
    from seriesfactory.core.time import parse_date

    start_ms = parse_date(day, option="d") // 10**6
    rng = random.Random(seed)
    price = 42_000.0
    rows = []
    for i in range(n):
        price += rng.gauss(0, 3)
        maker = "true" if rng.random() < 0.5 else "false"
        rows.append(
            f"{i},{price:.2f},{rng.random():.5f},{i},{i},{start_ms + i * 20_000},{maker},true"
        )
    return "\n".join(rows) + "\n"


@pytest.fixture
def exchange(mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for seed, day in enumerate(("2024-01-01", "2024-01-02")):
        rel = f"data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-{day}.zip"
        mirror.add_archive(mirror.roots[0], rel, _spot_day(day, 2000, seed))
    monkeypatch.setenv("SERIESFACTORY_BINANCE_DATA_URL", mirror.url)
    monkeypatch.setenv("SERIESFACTORY_BACKOFF_BASE_S", "0.001")
    return tmp_path


SPAN = ["--from", "2024-01-01", "--to", "2024-01-03"]
COMMANDS = {
    "trades": ["trades", *SPAN],
    "bars": ["bars", "build", "--venue", "binance", "--symbol", "BTCUSDT", "--type", "dollar",
             "--threshold", "2e5", "--emit-partial", *SPAN],
    "series": ["series", "--sources", "binance", *SPAN, "--agg-step", "60000", "--quiet"],
}  # fmt: skip


def _exchange_run(name: str, cache: Path, out: Path) -> int:
    args = [*COMMANDS[name], "--cache-dir", str(cache)]
    if name == "bars":
        out.mkdir(parents=True, exist_ok=True)
        return main([*args, "--output", str(out / "bars.parquet")])
    return main([*args, "--output-dir", str(out)])


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("name", ["trades", "bars", "series"])
def test_exchange_tiers_flipped_or_truncated(exchange: Path, capsys, name: str, seed: int) -> None:
    cache = exchange / "cache"
    assert _exchange_run(name, cache, exchange / "want") == 0
    want = _only(exchange / "want").read_bytes()
    tier = "ticks" if name == "series" else "trades"
    shutil.rmtree(cache / "aggregates", ignore_errors=True)  # so that the ticks are read
    rng = random.Random(seed)
    path = rng.choice(sorted((cache / tier).rglob("2024*.parquet")))
    if seed % 2:
        _flip(path, rng)
    else:
        path.write_bytes(path.read_bytes()[: rng.randrange(path.stat().st_size)])
    capsys.readouterr()
    assert _exchange_run(name, cache, exchange / "got") == 0
    assert _only(exchange / "got").read_bytes() == want
    err = capsys.readouterr().err
    assert "evicted" in err and "Traceback" not in err


@pytest.mark.parametrize("which", ["merged", "synthetic"])
def test_merged_sets_and_their_sources(tmp_path: Path, capsys, which: str) -> None:
    """A damaged merged set, or a damaged source set met while a merge is rebuilt."""
    args = ["series", "--sources", f"{GBM}|gbm(0.01,0.3,50000)", "--from", "2025-01-01",
            "--to", "2025-01-02", "--agg-step", "60000", "--quiet"]  # fmt: skip
    cache = tmp_path / "cache"
    assert _run(args, cache, tmp_path / "want") == 0
    shutil.rmtree(cache / "aggregates")
    if which == "synthetic":  # the merge must be rebuilt, reading a damaged source
        shutil.rmtree(cache / "ticks" / "merged")
    path = sorted((cache / "ticks" / which).rglob("2025*.parquet"))[0]
    _flip(path, random.Random(11))
    capsys.readouterr()
    assert _run(args, cache, tmp_path / "got") == 0
    assert _only(tmp_path / "got").read_bytes() == _only(tmp_path / "want").read_bytes()
    assert "evicted" in capsys.readouterr().err


def test_damage_that_persists_ends_in_one_error_line(
    baseline, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every rebuild damaged again (a failing disk): two evictions, then one error line."""
    from seriesfactory.lake import ticks
    from seriesfactory.lake.integrity import CorruptEntryError

    cache = _copy(baseline, tmp_path)
    shutil.rmtree(cache / "aggregates")

    def always_bad(path: Path, seal: object, *, entry: Path, **_: object) -> object:
        raise CorruptEntryError(entry, path, "checksum mismatch")

    monkeypatch.setattr(ticks, "read_verified", always_bad)
    assert _run(SERIES, cache, tmp_path / "out") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(e.startswith("warning: ") for e in err[:2])
    assert err[2].startswith("error: ") and "damaged cache file (checksum mismatch)" in err[2]
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
