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


# -- option values without pydantic (cli/_coerce.py) ---------------------------------------------
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from typer._adapters import build_adapter  # noqa: E402
from typer.models import OptionInfo  # noqa: E402

from seriesfactory.cli._coerce import _NOT_PLAIN, plain_value  # noqa: E402

_TEXT = st.one_of(
    st.from_regex(r"[+-]?[0-9]{1,30}", fullmatch=True),
    st.from_regex(r"[+-]?([0-9]{0,6}\.?[0-9]{0,6})([eE][+-]?[0-9]{1,3})?", fullmatch=True),
    st.text(max_size=12),
)


@pytest.mark.parametrize("annotation", [int, float, str])
@given(text=_TEXT)
def test_a_plain_value_is_what_typers_adapter_makes_of_it(annotation: type, text: str) -> None:
    """Every value converted directly equals typer's pydantic conversion (same type, same
    value); what it declines, typer converts (or refuses) as before."""
    got = plain_value(annotation, OptionInfo(), text)
    if got is _NOT_PLAIN:
        return
    want = build_adapter(annotation, OptionInfo()).validate_python(text)
    assert type(got) is type(want) and got == want


def test_bounded_numbers_and_parsers_are_left_to_typer() -> None:
    assert plain_value(int, OptionInfo(min=1), "5") is _NOT_PLAIN
    assert plain_value(float, OptionInfo(max=1.0), "0.5") is _NOT_PLAIN
    assert plain_value(str, OptionInfo(parser=str.upper), "a") is _NOT_PLAIN
    assert plain_value(float, OptionInfo(), "inf") is _NOT_PLAIN  # typer's own reading
    assert plain_value(int, OptionInfo(), "1_000") is _NOT_PLAIN
    assert plain_value(int, OptionInfo(), 7) == 7  # a default of the option's type
    assert plain_value(Path, OptionInfo(), "out", lambda p: p) == Path("out")
    assert plain_value(Path, OptionInfo(), "", lambda p: p) is _NOT_PLAIN


def _imported_after(args: list[str]) -> list[str]:
    code = (
        "import sys\n"
        "from seriesfactory.cli import main\n"
        f"main({args!r})\n"
        "print(sorted(m for m in ('pydantic', 'numba') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1:]


def test_a_command_with_plain_options_does_not_load_pydantic(tmp_path: Path) -> None:
    """``series`` over a cached model: its options need no pydantic; a bad number is still
    refused in typer's words, through typer's adapter."""
    args = ["series", "--sources", "gbm(0.05,0.5,50000)", "--from", "2024-01-01",
            "--to", "2024-01-02", "--agg-step", "60000", "--seed", "3", "--tick-ttl", "250",
            "--cache-dir", str(tmp_path / "c"), "--output-dir", str(tmp_path / "o"),
            "--quiet"]  # fmt: skip
    assert _imported_after(args) == ["['numba']"]
    code = "import sys; from seriesfactory.cli import main; sys.exit(main(sys.argv[1:]))"
    bad = subprocess.run(
        [sys.executable, "-c", code, *args, "--seed", "x3"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert "--seed" in bad.stderr and "valid integer" in bad.stderr


def test_a_command_runs_from_the_app_holding_only_it() -> None:
    """The help of one command is the same from the pruned app as from the whole one, and a
    name that is no command gets the whole app's error and suggestion."""
    from typer.testing import CliRunner

    from seriesfactory.cli import _only, app

    for args in (["series", "--help"], ["cache", "ls", "--help"], ["db", "--help"]):
        pruned = _only(args[0])
        assert pruned is not None
        whole = CliRunner().invoke(app, args, prog_name="seriesfactory")
        alone = CliRunner().invoke(pruned, args, prog_name="seriesfactory")
        assert alone.output == whole.output and alone.exit_code == whole.exit_code == 0
    assert _only("serie") is None and _only("--help") is None
    code = "import sys; from seriesfactory.cli import main; sys.exit(main(sys.argv[1:]))"
    out = subprocess.run(
        [sys.executable, "-c", code, "serie"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 2 and "series" in out.stderr


def _numba_loaded(setup: str, first_use: str) -> list[str]:
    """Whether numba is loaded after ``setup``, then after ``first_use`` (which prints more)."""
    code = f"import sys\n{setup}print('numba' in sys.modules)\n{first_use}"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_kernels_load_on_first_use_so_reading_starts_before_numba() -> None:
    """Naming a model, opening the series pipeline and creating an Aggregator load no numba
    (core/lazy.py); the first chunk fed loads it and aggregates as before."""
    setup = (
        "import numpy as np\n"
        "from seriesfactory.pipeline.series import build_series\n"
        "from seriesfactory.sources import resolve_tick_model, parse_sources\n"
        "from seriesfactory.transforms.aggregates import Aggregator, AggregationParams\n"
        "model = resolve_tick_model(parse_sources('gbm(0.05,0.5,50000)')[0])\n"
        "agg = Aggregator(AggregationParams(mode='time', step=60000))\n"
    )
    first_use = (
        "one = np.ones(1)\n"
        "agg.update(np.array([5], np.int64), one, one * 2, one, one)\n"
        "print('numba' in sys.modules, agg.finish(60_000_000_000).rows)\n"
    )
    assert _numba_loaded(setup, first_use) == ["False", "True", "1"]


def test_fetching_archives_loads_no_numba() -> None:
    """What a download imports (the raw tier, the venues' history, a universe job's fetch tasks
    and its symbol check) loads no numba: the CSV kernel loads when an archive is first parsed."""
    setup = (
        "from seriesfactory.pipeline.pool import import_task_modules\n"
        "import_task_modules(fetch_only=True)\n"
        "import seriesfactory.cli.download, seriesfactory.sources.binance.history\n"
        "import seriesfactory.pipeline.exchange, seriesfactory.pipeline.universe\n"
    )
    first_use = (
        "from seriesfactory.sources.binance.parse import parse_trades_csv\n"
        "t = parse_trades_csv(b'1,10.5,2,21,1700000000000,true,true\\n', name='x.csv', "
        "market='spot', kind='trades')\n"
        "print('numba' in sys.modules, t.table.num_rows)\n"
    )
    assert _numba_loaded(setup, first_use) == ["False", "True", "1"]
