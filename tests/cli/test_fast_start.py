"""``seriesfactory --help`` stays fast: loading the CLI imports no heavy library.

Every command module imports only typer (and light project modules) at load and its
work when a command runs (docs/architecture.md); this test is what keeps it so.
"""

from __future__ import annotations

import subprocess
import sys

HEAVY: tuple[str, ...] = ("numpy", "pyarrow", "polars", "numba", "scipy", "httpx", "pydantic")
HEAVY += ("rich", "dask", "distributed")  # dask: universe jobs (docs/scale.md)


def test_loading_the_cli_imports_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "from seriesfactory.cli import main\n"
        "typer_app = __import__('typer').main.get_command(__import__('seriesfactory.cli', "
        "fromlist=['app']).app)\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_runs_and_lists_every_command() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "from seriesfactory.cli import main; main(['--help'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    for command in ("series", "ticks", "trades", "bars", "book", "download", "record", "cache"):
        assert command in out.stdout
