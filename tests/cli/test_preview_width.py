"""The ``series`` preview fits the terminal it prints to (a real pseudo-terminal), and shows every
field when piped."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_ARGS = [
    "series",
    "--sources",
    "gbm(0.05,0.5,50000)",
    "--from",
    "2025-01-01",
    "--to",
    "2025-01-02",
    "--agg-step",
    "3600000",
]


def _command(tmp_path: Path, *extra: str) -> list[str]:
    code = "import sys; from seriesfactory.cli import main; sys.exit(main(sys.argv[1:]))"
    return [
        sys.executable,
        "-c",
        code,
        *_ARGS,
        "--cache-dir",
        str(tmp_path / "cache"),
        "--output-dir",
        str(tmp_path / "out"),
        *extra,
    ]


def _run_on_terminal(argv: list[str], columns: int) -> str:
    """Run ``argv`` with its standard output on a pseudo-terminal ``columns`` wide."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    chunks: list[bytes] = []
    with subprocess.Popen(argv, stdout=follower, stderr=subprocess.PIPE, env=env) as proc:
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
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    return _ANSI.sub("", b"".join(chunks).decode()).replace("\r", "")


@pytest.mark.parametrize("columns", [80, 120])
def test_preview_fits_the_terminal(tmp_path: Path, columns: int) -> None:
    text = _run_on_terminal(_command(tmp_path), columns)
    lines = [line for line in text.split("\n") if line]
    assert max(len(line) for line in lines) <= columns
    header = next(line for line in lines if line.startswith("timestamp"))
    assert "close" in header  # the candle comes first
    assert "not shown (terminal too narrow)" in text


def test_preview_fields_chosen_and_every_field_when_piped(tmp_path: Path) -> None:
    piped = subprocess.run(_command(tmp_path), capture_output=True, text=True, check=True)
    header = next(line for line in piped.stdout.splitlines() if line.startswith("timestamp"))
    for name in ("open", "close", "vask", "velocity", "dispersion", "drift"):
        assert name in header
    chosen = subprocess.run(
        _command(tmp_path, "--preview-fields", "close|drift"),
        capture_output=True,
        text=True,
        check=True,
    )
    header = next(line for line in chosen.stdout.splitlines() if line.startswith("timestamp"))
    assert header.split() == ["timestamp", "┃", "close", "┃", "drift"]


def test_preview_field_not_in_the_output_is_refused(tmp_path: Path) -> None:
    proc = subprocess.run(
        _command(tmp_path, "--agg-fields", "close", "--preview-fields", "open"),
        capture_output=True,
        check=False,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "error: --preview-fields: open not in the output; add them to --agg-fields or leave "
        "them out"
    )
