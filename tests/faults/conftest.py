"""Fixtures of the fault suite: small and read-only file systems, a CLI runner.

``small_disk`` and ``read_only_disk`` mount a real tmpfs (the suite runs as root in
CI and on the build machine); where mounting is not permitted they skip, saying why.
Every mount is unmounted when the test ends, whatever happens.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from seriesfactory.cli import main

#: Run the CLI in a child process (for kill -9 and real exit codes).
CLI_ARGV = [
    sys.executable,
    "-c",
    "import sys; from seriesfactory.cli import main; sys.exit(main())",
]


def _mount(path: Path, size: str, read_only: bool = False) -> None:
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}): needs root")


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=10, check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """``small_disk("64k")`` -> a folder on a fresh tmpfs of that size."""
    mounted: list[Path] = []

    def make(size: str) -> Path:
        path = tmp_path / f"disk{len(mounted)}"
        _mount(path, size)
        mounted.append(path)
        return path

    try:
        yield make
    finally:
        for path in mounted:
            _umount(path)


@pytest.fixture
def read_only_disk(tmp_path: Path) -> Iterator[Callable[[Callable[[Path], None]], Path]]:
    """``read_only_disk(fill)`` -> a tmpfs folder filled by ``fill(path)``, then made read-only."""
    mounted: list[Path] = []

    def make(fill: Callable[[Path], None]) -> Path:
        path = tmp_path / f"ro{len(mounted)}"
        _mount(path, "4m")
        mounted.append(path)
        fill(path)
        done = subprocess.run(
            ["mount", "-o", "remount,ro", str(path)], capture_output=True, timeout=10, check=False
        )
        if done.returncode != 0:
            pytest.skip("cannot remount the tmpfs read-only here")
        return path

    try:
        yield make
    finally:
        for path in mounted:
            _umount(path)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """``cli(*args)`` runs the CLI in-process and returns ``(status, stdout, stderr)``."""

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def one_error_line() -> Callable[[str], str]:
    """``one_error_line(stderr)``: its single ``error: ...`` line (asserted: one, no traceback)."""

    def check(err: str) -> str:
        assert "Traceback" not in err, err
        errors = [line for line in err.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, err
        return errors[0]

    return check
