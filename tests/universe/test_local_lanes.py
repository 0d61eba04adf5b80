"""The ``processes`` scheduler's executor: the command is one lane, forked workers the others.

Dask's own process-pool scheduler (``dask.multiprocessing.get``) runs on
:class:`~seriesfactory.pipeline.pool.CommandLanes`; these tests check that both kinds of lane run
tasks, that values and errors come back as from any executor, and that a job's outputs do not
depend on the lane (the byte-identity across schedulers is in ``test_universe_jobs.py``).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import cloudpickle  # type: ignore[import-untyped]
import pytest
from dask.delayed import delayed
from dask.multiprocessing import get

from seriesfactory.pipeline.pool import PRELOAD, CommandLanes, local_pool

#: Upper bound of any wait here (a lane that never runs a task fails the test, never hangs it).
WAIT_S = 30.0

# the workers cannot import this test module: its functions travel by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _meet(folder: str, i: int) -> int:
    """Note this process, then wait (bounded) until a task of another process has too; its pid."""
    mine = os.getpid()
    (Path(folder) / f"{i}-{mine}").touch()
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if any(int(p.name.split("-")[1]) != mine for p in Path(folder).iterdir()):
            return mine
        time.sleep(0.01)
    raise TimeoutError("no task ran in another process")


def _square(x: int) -> int:
    return x * x


def _fail(x: int) -> int:
    raise ValueError(f"bad input {x}")


def _lanes(workers: int) -> CommandLanes:
    pool = local_pool(workers - 1, PRELOAD) if workers > 1 else None
    if workers > 1 and pool is None:
        pytest.skip("no fork server on this platform: Dask's own pool is used there")
    return CommandLanes(workers, pool)


def _compute(lanes: CommandLanes, nodes: list[object]) -> tuple[object, ...]:
    from dask.base import compute

    return tuple(lanes.run(lambda: compute(*nodes, scheduler=get, pool=lanes, chunksize=1)))


def test_the_command_and_a_forked_worker_both_run_tasks(tmp_path: Path) -> None:
    lanes = _lanes(2)
    try:
        pids = _compute(lanes, [delayed(_meet)(str(tmp_path), i) for i in range(2)])
    finally:
        lanes.shutdown(wait=True)
    assert os.getpid() in pids  # the command's own lane
    assert len(set(pids)) == 2  # and a worker process beside it, at the same time


def test_values_come_back_in_order_and_errors_are_raised() -> None:
    lanes = _lanes(2)
    try:
        assert _compute(lanes, [delayed(_square)(i) for i in range(12)]) == tuple(
            i * i for i in range(12)
        )
        with pytest.raises(ValueError, match="bad input 3"):
            _compute(lanes, [delayed(_square)(1), delayed(_fail)(3)])
    finally:
        lanes.shutdown(wait=True, cancel_futures=True)


def test_one_lane_is_the_command_alone() -> None:
    lanes = _lanes(1)
    try:
        assert _compute(lanes, [delayed(os.getpid)() for _ in range(3)]) == (os.getpid(),) * 3
    finally:
        lanes.shutdown(wait=True)


def test_more_lanes_than_one_need_a_pool() -> None:
    with pytest.raises(ValueError, match="process pool"):
        CommandLanes(2, None)


_FORKED = """
import os, sys, tempfile
from seriesfactory.pipeline.pool import single_threaded_libraries
single_threaded_libraries()  # as the command line of a processes job does, before numpy loads
from dask.base import compute
from dask.delayed import delayed
from dask.multiprocessing import get
from seriesfactory.pipeline.pool import CommandLanes, forked_pool
import seriesfactory.pipeline.pool as pool


def meet(folder, i):
    import time
    from pathlib import Path
    mine = os.getpid()
    (Path(folder) / f"{i}-{mine}").touch()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if any(int(p.name.split("-")[1]) != mine for p in Path(folder).iterdir()):
            return mine, os.getppid()
        time.sleep(0.01)
    raise TimeoutError("no task ran in another process")


workers = forked_pool(1)
assert workers is not None, "one thread here: the workers are forked from this process"
lanes = CommandLanes(2, workers)
with tempfile.TemporaryDirectory() as folder:
    nodes = [delayed(meet)(folder, i) for i in range(2)]
    try:
        got = lanes.run(lambda: compute(*nodes, scheduler=get, pool=lanes, chunksize=1))
    finally:
        lanes.shutdown(wait=True)
me = os.getpid()
print(sorted("command" if pid == me else "child" if up == me else "other" for pid, up in got))
"""


def test_workers_are_forked_from_a_command_that_runs_one_thread() -> None:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", _FORKED], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[0] == "['child', 'command']"


def test_a_command_running_another_thread_is_not_forked() -> None:
    import threading

    from seriesfactory.pipeline.pool import forked_pool

    stop = threading.Event()
    other = threading.Thread(target=stop.wait, args=(WAIT_S,), daemon=True)
    other.start()
    try:
        assert forked_pool(1) is None  # the fork server's pool is used instead
    finally:
        stop.set()
        other.join(timeout=WAIT_S)


@pytest.mark.parametrize(
    ("args", "env", "kept"),
    [
        (["series", "--symbols", "BTCUSDT,ETHUSDT"], {}, True),  # several: processes by default
        (["series", "--symbols=BTCUSDT", "--scheduler", "processes"], {}, True),
        (["series", "--symbols", "BTCUSDT"], {}, False),  # one symbol: sync
        (["series", "--symbols", "A,B", "--scheduler", "sync"], {}, False),
        (["series", "--symbols", "A,B"], {"SERIESFACTORY_SCHEDULER": "tcp://h:8786"}, False),
        (["series", "--symbol", "BTCUSDT"], {}, False),  # not a universe job
    ],
)
def test_a_processes_job_keeps_the_libraries_from_starting_threads(
    args: list[str], env: dict[str, str], kept: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seriesfactory.cli._universe import prepare_pool_from_argv

    for name in ("OPENBLAS_NUM_THREADS", "JE_ARROW_MALLOC_CONF", "SERIESFACTORY_SCHEDULER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    prepare_pool_from_argv(args)
    assert (os.environ.get("OPENBLAS_NUM_THREADS") == "1") is kept
    assert (os.environ.get("JE_ARROW_MALLOC_CONF") == "background_thread:false") is kept
