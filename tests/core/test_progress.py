"""Progress on standard error: plain periodic lines off a terminal, bars on one, nothing quiet."""

from __future__ import annotations

import io
import os
import pty
import select

from seriesfactory.core.progress import NULL, PlainReporter, RichReporter, reporter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_every_interval_with_rate_and_eta() -> None:
    out, clock = io.StringIO(), Clock()
    rep = PlainReporter(out, every_s=5.0, clock=clock)
    with rep.task("download", total=4 * 1024 * 1024, unit="B") as task:
        clock.now = 2.0
        task.advance(1024 * 1024)  # 2 s in: too early for a line
        assert out.getvalue() == ""
        clock.now = 5.0
        task.advance(1024 * 1024)  # 2 MB in 5 s
        clock.now = 8.0
        task.advance(1024 * 1024)  # 3 s after the last line: no line
        clock.now = 10.0
        task.advance(1024 * 1024)
    lines = out.getvalue().splitlines()
    assert lines == [
        "download: 2.0 MB of 4.0 MB (50%), 409.6 kB/s, about 5 s left",
        "download: 4.0 MB of 4.0 MB (100%), 409.6 kB/s",
        "download: 4.0 MB of 4.0 MB (100%), 409.6 kB/s, done in 10.0 s",
    ]


def test_plain_short_task_is_silent_and_notices_print_at_once() -> None:
    out, clock = io.StringIO(), Clock()
    rep = PlainReporter(out, every_s=5.0, clock=clock)
    with rep.task("days", total=3, unit="days") as task:
        task.advance(3)
    assert out.getvalue() == ""
    rep.notice("retrying 1/5 in 2.0 s: connection refused")
    assert out.getvalue() == "retrying 1/5 in 2.0 s: connection refused\n"


def test_choice_by_stream() -> None:
    assert reporter(quiet=True) is NULL
    assert isinstance(reporter(quiet=False, stream=io.StringIO()), PlainReporter)
    leader, follower = pty.openpty()
    try:
        with os.fdopen(follower, "w", closefd=False) as tty:
            chosen = reporter(quiet=False, stream=tty)
            assert isinstance(chosen, RichReporter)
            with chosen.task("ticks", total=10, unit="ticks") as task:
                task.advance(5)
                chosen.bars.refresh()
            tty.flush()
        chunks = []
        while select.select([leader], [], [], 0.2)[0]:
            chunks.append(os.read(leader, 65536))
        shown = b"".join(chunks).decode()
        assert "ticks" in shown
        assert "50%" in shown
        assert "5 ticks" in shown
    finally:
        os.close(leader)
        os.close(follower)


def test_null_reporter_accepts_everything() -> None:
    with NULL.task("x", total=1) as task:
        task.advance()
        task.set_total(None)
    NULL.notice("nothing")
