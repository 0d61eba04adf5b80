"""``core.threads.Background``: calls run in order on one thread, one at a time; a failure is
raised in the caller's thread by the next call or the wait; close waits before a writer closes."""

from __future__ import annotations

import threading
import time

import pytest

from seriesfactory.core.threads import Background


def test_calls_run_in_order_on_another_thread_one_at_a_time() -> None:
    seen: list[tuple[int, str]] = []
    in_flight = 0
    most = 0
    lock = threading.Lock()

    def write(i: int) -> None:
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        time.sleep(0.001 * (i % 3))  # uneven call times: order must still hold
        seen.append((i, threading.current_thread().name))
        with lock:
            in_flight -= 1

    bg = Background(write)
    for i in range(50):
        bg.submit(i)
    bg.close()
    assert [i for i, _ in seen] == list(range(50))
    assert most == 1
    assert {name for _, name in seen} != {threading.current_thread().name}


def test_a_failure_is_raised_by_the_next_submit_in_the_callers_thread() -> None:
    done: list[int] = []

    def write(i: int) -> None:
        if i == 2:
            raise OSError(28, "No space left on device")
        done.append(i)

    bg = Background(write)
    bg.submit(1)
    bg.submit(2)
    with pytest.raises(OSError, match="No space"):
        bg.submit(3)
    assert done == [1]  # the call after the failure never ran
    bg.close()  # the error was raised already: nothing left


def test_wait_raises_the_last_failure_and_close_quiet_drops_it() -> None:
    def fail(_: int) -> None:
        raise ValueError("bad row group")

    bg = Background(fail)
    bg.submit(0)
    with pytest.raises(ValueError, match="bad row group"):
        bg.wait()
    bg.submit(1)
    bg.close(quiet=True)  # an abort: the error being raised already wins


def test_close_waits_for_the_call_in_flight() -> None:
    finished = threading.Event()

    def slow(_: int) -> None:
        time.sleep(0.05)
        finished.set()

    bg = Background(slow)
    bg.submit(0)
    bg.close()
    assert finished.is_set()
