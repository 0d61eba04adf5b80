"""``seriesfactory record`` as users run it: a real subprocess, real signals, a local venue."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import orjson
import pytest
from tests.replay_server import BinanceDepthBook, ReplayServer, feed_from_hftbacktest

from seriesfactory.cli import main
from seriesfactory.raw.capture import read_records

CLI = [sys.executable, "-c", "import sys; from seriesfactory.cli import main; sys.exit(main())"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_stream_leaves_complete_files_and_exit_0(
    tmp_path: Path, shared_real: Path, sig: signal.Signals
) -> None:
    feed = feed_from_hftbacktest(shared_real / "binance/hftbacktest/spot/btcusdt_20240808.gz", 4000)
    assert feed.snapshot is not None
    book = BinanceDepthBook(feed.snapshot)
    server = ReplayServer(
        {"/stream": feed.messages}, rest=lambda _path: (200, book.body()), on_send=book.apply,
        pace=(10, 0.01),
    )  # fmt: skip

    async def main_() -> tuple[int, bytes, bytes]:
        async with server:
            proc = await asyncio.create_subprocess_exec(
                *CLI, "record", "--venue", "binance", "--symbol", "btcusdt",
                "--cache-dir", str(tmp_path), "--ws-url", server.url,
                "--api-url", server.http_url, "--rotate-gb", "0.000005", "--duration", "60",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            for _ in range(400):  # bounded: at most 40 s
                if server.sent and len(server.sent[0]) >= 1500:
                    break
                await asyncio.sleep(0.1)
            assert server.sent and len(server.sent[0]) >= 1500, "the recorder never connected"
            proc.send_signal(sig)
            out, err = await asyncio.wait_for(proc.communicate(), 20)
            assert proc.returncode is not None
            return proc.returncode, out, err

    code, out, err = asyncio.run(main_())
    assert code == 0, err.decode()
    assert b"recorded " in out
    files = sorted(p for p in (tmp_path / "raw" / "stream").rglob("*") if p.is_file())
    assert len(files) >= 2  # rotated by size (about 5 kB) while recording
    assert not [p for p in files if p.name.endswith(".part")]
    records = [r for p in files for r in read_records(p)]  # every file is whole on its own
    msgs = [r["data"] for r in records if r["kind"] == "msg"]
    assert len(msgs) >= 1500
    assert msgs == server.sent[0][: len(msgs)]  # nothing that arrived is missing
    assert records[-1]["kind"] == "close"
    assert orjson.loads(records[-1]["data"]) == {"reason": "stopped"}
    assert [r for r in records if r["kind"] == "rest"]


def test_bad_config_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "r.toml"
    cfg.write_text('venue = "binance"\nsymbols = ["btcusdt"]\nrotate_hourz = 2\n')
    assert main(["record", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown key 'rotate_hourz'" in err[0]


def test_unreachable_venue_gives_up_after_the_attempts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def closed_port() -> str:
        server = ReplayServer({"*": []})
        async with server:
            return server.url

    url = asyncio.run(closed_port())
    args = ["record", "--venue", "bybit", "--symbol", "BTCUSDT", "--ws-url", url,
            "--cache-dir", str(tmp_path), "--reconnect-delay", "0.01",
            "--reconnect-attempts", "2", "--duration", "20"]  # fmt: skip
    assert main(args) == 1
    assert "gave up after 2 reconnect attempts" in capsys.readouterr().err


def test_kill_9_loses_at_most_the_last_second(tmp_path: Path, shared_real: Path) -> None:
    feed = feed_from_hftbacktest(shared_real / "binance/hftbacktest/spot/btcusdt_20240808.gz", 6000)
    server = ReplayServer({"/stream": feed.messages}, pace=(10, 0.01))  # ~1000 msg/s

    async def main_() -> int:
        async with server:
            proc = await asyncio.create_subprocess_exec(
                *CLI, "record", "--venue", "binance", "--symbol", "btcusdt",
                "--streams", "trade,bookTicker", "--cache-dir", str(tmp_path),
                "--ws-url", server.url, "--duration", "60",
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            for _ in range(400):  # bounded: at most 40 s
                if server.sent and len(server.sent[0]) >= 1500:
                    break
                await asyncio.sleep(0.1)
            sent_before = len(server.sent[0])
            await asyncio.sleep(1.5)  # more than one flush interval
            proc.kill()
            await asyncio.wait_for(proc.wait(), 20)
            return sent_before

    sent_before = asyncio.run(main_())
    files = sorted(p for p in (tmp_path / "raw" / "stream").rglob("*") if p.is_file())
    assert files[-1].name.endswith(".jsonl.zst.part")  # left as it was: never renamed as whole
    msgs = [r["data"] for p in files for r in read_records(p) if r["kind"] == "msg"]
    assert len(msgs) >= sent_before  # all but (at most) the last second survived
    assert msgs == server.sent[0][: len(msgs)]


def test_nothing_recorded_says_why_and_shows_connection_states(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def closed_port() -> str:
        server = ReplayServer({"*": []})
        async with server:
            return server.url

    url = asyncio.run(closed_port())
    args = ["record", "--venue", "bybit", "--symbol", "BTCUSDT", "--ws-url", url,
            "--cache-dir", str(tmp_path), "--reconnect-delay", "0.05",
            "--duration", "0.5"]  # fmt: skip
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"connecting to {url}" in err
    assert "could not connect: " in err and "retrying in " in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: recorded nothing from bybit (bybit-0: ConnectionRefusedError")
    assert "check --ws-url / the network and the --symbol" in last
    assert not (tmp_path / "raw").exists() or not any((tmp_path / "raw").rglob("*.*"))
