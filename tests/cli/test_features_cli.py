"""``features trades`` over the trades tier (local mirror) and ``features book --follow``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from seriesfactory.cli import main
from seriesfactory.core.time import parse_date
from seriesfactory.raw.readers import read_records
from seriesfactory.transforms.features.api import TradeFeatureParams, trade_feature_columns


def _spot_day(day: str, n: int, seed: int) -> str:
    """``n`` aggTrades rows 20 s apart: random-walk price, random taker side."""
    start_ms = parse_date(day, option="d") // 10**6
    rng = np.random.default_rng(seed)
    price = 42000 + np.cumsum(rng.normal(0, 3, n))
    maker = rng.random(n) < 0.5
    rows = [
        f"{i},{price[i]:.2f},{rng.random():.5f},{i},{i},{start_ms + i * 20_000},"
        f"{'true' if maker[i] else 'false'},true"
        for i in range(n)
    ]
    return "\n".join(rows) + "\n"


def test_trades_tier_equals_the_exported_file(
    mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for seed, day in enumerate(("2024-01-01", "2024-01-02")):
        rel = f"data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-{day}.zip"
        mirror.add_archive(mirror.roots[0], rel, _spot_day(day, 2000, seed))
    monkeypatch.setenv("SERIESFACTORY_BINANCE_DATA_URL", mirror.url)
    monkeypatch.setenv("SERIESFACTORY_BACKOFF_BASE_S", "0.001")
    span = ["--from", "2024-01-01", "--to", "2024-01-03", "--cache-dir", str(tmp_path / "c")]
    tier = tmp_path / "tier.parquet"
    opts = ["--interval", "5m", "--vpin-fit-rows", "20", "--vpin-buckets", "10"]
    venue = ["--venue", "binance", "--symbol", "BTCUSDT"]
    assert main(["features", "trades", *venue, *span, *opts, "--output", str(tier)]) == 0
    assert main(["trades", "--source", "binance", "--base", "BTC", "--quote", "USDT", *span,
                 "--output-dir", str(tmp_path / "o")]) == 0  # fmt: skip
    (exported,) = (tmp_path / "o").iterdir()
    ref = tmp_path / "file.parquet"
    assert main(["features", "trades", "--input", str(exported), *opts, "--output", str(ref)]) == 0
    t, r = pq.read_table(tier), pq.read_table(ref)
    assert t.column_names == trade_feature_columns(TradeFeatureParams())
    # the tier runs to --to (the last buckets of the day, empty), the file to its last trade;
    # the first trade, at 00:00:00 exactly, is in the bucket stamped 00:00 ((t - 5m, t])
    assert t.num_rows == 1 + 2 * 24 * 12 and r.num_rows <= t.num_rows
    assert t.slice(0, r.num_rows).to_pylist() == r.to_pylist() or _same_nan(
        t.slice(0, r.num_rows), r
    )
    assert int(pa.compute.sum(t.column("trade_count")).as_py()) == 4000
    meta = json.loads(t.schema.metadata[b"seriesfactory.features"])
    assert meta["venue"] == "binance" and meta["params"]["interval_ns"] == 300 * 10**9


def _same_nan(a: pa.Table, b: pa.Table) -> bool:
    for name in a.column_names:
        x = a.column(name).to_numpy(zero_copy_only=False)
        y = b.column(name).to_numpy(zero_copy_only=False)
        if x.dtype.kind == "f":
            np.testing.assert_array_equal(x, y, err_msg=name)
        else:
            assert (x == y).all(), name
    return True


def test_follow_writes_the_batch_rows(shared_real: Path, tmp_path: Path) -> None:
    src = shared_real / "binance" / "hftbacktest" / "spot" / "btcusdt_20240808.gz"
    lines = [
        (
            json.dumps(
                {
                    "recv_ns": r.recv_ns,
                    "conn": "c",
                    "venue": "binance",
                    "kind": r.kind,
                    "data": r.data,
                }
            )
            + "\n"
        ).encode()
        for r in list(read_records([src]))[:3000]
    ]
    raw = tmp_path / "raw"
    raw.mkdir()
    cap = raw / "cap-0001.jsonl.zst"
    cap.write_bytes(zstandard.ZstdCompressor().compress(b"".join(lines)))
    out = tmp_path / "parts"
    args = ["features", "book", "--venue", "binance", "--symbol", "BTCUSDT", "--depth", "3",
            "--price-decimals", "2"]  # fmt: skip
    follow = ["--follow", "--input-dir", str(raw), "--output-dir", str(out)]
    timing = ["--duration", "2s", "--poll", "50ms", "--part", "500ms", "--quiet"]
    assert main([*args, *follow, *timing]) == 0
    live = pa.concat_tables([pq.read_table(p) for p in sorted(out.iterdir())])
    batch = tmp_path / "batch.parquet"
    assert main([*args, "--input", str(cap), "--output", str(batch), "--quiet"]) == 0
    ref = pq.read_table(batch)
    live = live.sort_by("ts")
    assert live.num_rows == ref.num_rows > 100
    assert _same_nan(live, ref)
    assert main([*args, "--follow"]) == 2  # no --input-dir


def _bad_feature_args(d: Path) -> list[tuple[list[str], str]]:
    rec, csv, junk = str(d / "rec.jsonl"), str(d / "out.csv"), str(d / "junk.parquet")
    book = ["features", "book", "--venue", "binance", "--symbol", "BTCUSDT"]
    trades = ["features", "trades", "--output", str(d / "f.parquet")]
    tier = ["--venue", "binance", "--from", "2024-01-01", "--to", "2024-01-02"]
    return [
        (["features", "book", "--input", rec], "give --venue and --symbol"),
        ([*book, "--input", rec, "--depth", "0"], "--depth must be at least 1, got 0"),
        ([*book, "--input", rec, "--ofi-window", "0"], "--ofi-window must be at least 1, got 0"),
        ([*book, "--input", rec, "--input-format", "nope"], "--input-format 'nope' is unknown"),
        ([*book, "--follow"], "--follow needs --input-dir (the folder the recorder writes)"),
        ([*book, "--follow", "--input-dir", str(d)], "--follow needs --price-decimals"),
        (
            [*book, "--follow", "--input-dir", str(d / "absent"), "--price-decimals", "2"],
            f"--input-dir {d / 'absent'}: no such folder",
        ),
        (book, "give --input FILE (a recording), or --follow --input-dir DIR"),
        ([*book, "--input", rec], "give --output FILE"),
        ([*book, "--input", str(d / "no.jsonl"), "--output", csv], "no.jsonl: no such file"),
        (
            [*book, "--input", rec, "--output", csv, "--out-format", "parquet"],
            f"--output {csv} does not end as --out-format parquet files do",
        ),
        ([*book, "--input", rec, "--output", csv, "--out-format", "xml"], "'xml' is unknown"),
        (["features", "trades", "--input", rec], "give --output FILE"),
        ([*trades, "--input", rec, "--bars", junk], "give one of --input FILE (trades), --bars"),
        ([*trades, "--bars", str(d / "no.parquet")], "--bars"),
        ([*trades, "--symbols", "BTCUSDT", "--input", rec], "--symbols reads the trades tier"),
        ([*trades, "--symbols", "BTCUSDT"], "--symbols needs --venue, --from and --to"),
        ([*trades, "--symbols", "BTCUSDT", *tier], "--output must hold {symbol}"),
    ]


def test_bad_feature_options_are_one_line_before_any_work(tmp_path: Path, capsys) -> None:
    (tmp_path / "rec.jsonl").write_text("")
    (tmp_path / "junk.parquet").write_bytes(b"not a parquet file at all")
    for args, needle in _bad_feature_args(tmp_path):
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("error: ") and needle in err and err.count("\n") == 1, (args, err)
    # a damaged bars file is a data failure (status 1), named
    assert main(["features", "trades", "--output", str(tmp_path / "f.parquet"),
                 "--bars", str(tmp_path / "junk.parquet")]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "junk.parquet" in err and "cannot read bars" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.parquet", "rec.jsonl"]
