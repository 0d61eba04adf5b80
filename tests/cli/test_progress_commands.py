"""Progress on every wait: bars on a terminal, plain lines only after the interval when piped,
nothing with ``--quiet``; each long step reports through ``progress.current()``."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from seriesfactory.cli import main
from seriesfactory.core import progress

CLI = [sys.executable, "-c", "import sys; from seriesfactory.cli import main; sys.exit(main())"]
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _series(tmp_path: Path, rate: str = "2000000", *extra: str) -> list[str]:
    return ["series", "--sources", f"gbm(0.05,0.5,{rate})", "--from", "2025-01-01", "--to",
            "2025-01-04", "--agg-step", "60000", "--cache-dir", str(tmp_path / "c"),
            "--output-dir", str(tmp_path / "o"), *extra]  # fmt: skip


def _stderr_on_terminal(argv: list[str]) -> str:
    """Run ``argv`` with standard error on a pseudo-terminal; return what it showed there."""
    leader, follower = pty.openpty()
    chunks: list[bytes] = []
    with subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=follower) as proc:
        os.close(follower)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    data = os.read(leader, 65536)
                except OSError:  # the child closed its end
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        os.close(leader)
        assert proc.wait(timeout=30) == 0
    return b"".join(chunks).decode(errors="replace")


def test_a_terminal_shows_bars_for_generation_and_aggregation(tmp_path: Path) -> None:
    shown = _stderr_on_terminal([*CLI, *_series(tmp_path)])
    text = _ANSI.sub("", shown)
    assert "generating gbm" in text and "days" in text
    assert "\x1b[" in shown  # drawn as live bars, not printed as lines


def test_piped_shows_no_bars_and_quiet_shows_nothing(tmp_path: Path) -> None:
    piped = subprocess.run(
        [*CLI, *_series(tmp_path)], check=False, capture_output=True, text=True, timeout=300
    )
    assert piped.returncode == 0, piped.stderr
    assert "\x1b[" not in piped.stderr and "\r" not in piped.stderr
    # A plain line appears only once a task has run for the interval (5 s), and then it is one
    # readable line with the amount done, the total and the rate.
    for line in piped.stderr.splitlines():
        if line.startswith(("generating", "aggregating")):
            assert re.search(r": [\d,.]+ (days|ticks) of [\d,.]+ \1 \(\d+%\), [\d,.]+ \1/s", line)
    quiet = subprocess.run(
        [*CLI, *_series(tmp_path / "q", "2000000", "--quiet")],
        check=False, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert quiet.returncode == 0 and quiet.stderr == ""


@pytest.fixture
def plain(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The CLI's reporter made a plain one that writes a line at every step (interval 0)."""
    out = io.StringIO()

    def chosen(*, quiet: bool, stream: object = None) -> progress.Reporter:
        return progress.NULL if quiet else progress.PlainReporter(out, every_s=0.0)

    monkeypatch.setattr(progress, "reporter", chosen)
    yield out


def test_series_and_ticks_report_generation_aggregation_and_writing(
    tmp_path: Path, plain: io.StringIO
) -> None:
    assert main(_series(tmp_path, "50000", "--seed", "1")) == 0
    text = plain.getvalue()
    assert re.search(r"generating gbm\(0.05,0.5,50000\) ticks: [\d.]+ days of 3 days", text)
    assert re.search(r"aggregating: [\d,]+ ticks of [\d,]+ ticks \(100%\)", text)
    ticks = [
        "ticks",
        "--sources",
        "gbm(0.05,0.5,50000)",
        "--from",
        "2025-01-01",
        "--to",
        "2025-01-02",
        "--cache-dir",
        str(tmp_path / "c"),
        "--output-dir",
        str(tmp_path / "o"),
    ]
    assert main(ticks) == 0  # fmt: skip
    assert "writing ticks: " in plain.getvalue()


def test_bars_report_trades(tmp_path: Path, plain: io.StringIO) -> None:
    path = tmp_path / "t.csv"
    rows = [f"{1_700_000_000_000 + 1000 * i},{100 + (i % 7)},1" for i in range(500)]
    path.write_text("ts,price,qty\n" + "\n".join(rows) + "\n")
    args = ["bars", "build", "--type", "tick", "--threshold", "10", "--input", str(path),
            "--output", str(tmp_path / "b.parquet")]  # fmt: skip
    assert main(args) == 0
    assert re.search(r"building tick bars: 500 trades", plain.getvalue())


def test_main_installs_nothing_with_quiet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_series(tmp_path, "50000", "--quiet")) == 0
    assert capsys.readouterr().err == ""
