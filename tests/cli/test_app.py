"""The options and checks ``cli/_app.py`` shares between command modules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from seriesfactory.cli import main
from seriesfactory.cli._app import day_range_ns, on_bad_rows_choice, out_format_choice
from seriesfactory.errors import InputError

DAY_NS = 86_400 * 1_000_000_000
JAN_1_2024_NS = 19_723 * DAY_NS  # 2024-01-01 is day 19723 of the Unix epoch


def test_day_range_is_midnight_utc_ns_and_ordered() -> None:
    assert day_range_ns("2024-01-01", "2024-01-03") == (JAN_1_2024_NS, JAN_1_2024_NS + 2 * DAY_NS)
    with pytest.raises(InputError, match=r"--from must be before --to \(--to is exclusive\)"):
        day_range_ns("2024-01-02", "2024-01-02")
    with pytest.raises(InputError, match="--to '2024-1-2' is not a date"):
        day_range_ns("2024-01-01", "2024-1-2")


def test_choices() -> None:
    assert out_format_choice("CSV") == "csv"
    assert out_format_choice("Parquet") == "parquet"
    with pytest.raises(InputError, match="--out-format 'xlsx' is unknown; use parquet or csv"):
        out_format_choice("xlsx")
    assert on_bad_rows_choice("skip") == "skip"
    with pytest.raises(InputError, match="--on-bad-rows 'Skip' is unknown; use error or skip"):
        on_bad_rows_choice("Skip")


TRADES = ["trades", "--from", "2024-01-01", "--to", "2024-01-02"]
BARS = ["bars", "build", "--type", "tick", "--threshold", "10", "--venue", "binance",
        "--symbol", "BTCUSDT", "--from", "2024-01-01", "--to", "2024-01-02"]  # fmt: skip
BAD = [
    ([*TRADES, "--on-bad-rows", "drop"], "--on-bad-rows 'drop' is unknown"),
    ([*TRADES, "--out-format", "xlsx"], "--out-format 'xlsx' is unknown"),
    (["trades", "--from", "2024-01-02", "--to", "2024-01-01"], "--from must be before --to"),
    ([*BARS, "--on-bad-rows", "drop"], "--on-bad-rows 'drop' is unknown"),
    ([*BARS[:-4], "--from", "2024-01-02", "--to", "2024-01-02"], "--from must be before --to"),
]


@pytest.mark.parametrize(("args", "message"), BAD)
def test_commands_refuse_bad_values_before_any_fetch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    cache = str(tmp_path / "cache")
    extra = ["--output", str(tmp_path / "bars.parquet")] if args[0] == "bars" else []
    assert main([*args, *extra, "--cache-dir", cache]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not (tmp_path / "cache").exists()  # refused before anything was fetched or written


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"seriesfactory {version('seriesfactory')}\n"


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("100ms", 100_000_000),
        ("3", 3_000_000_000),  # a bare number is seconds, for every duration option
        ("1.5s", 1_500_000_000),
        (" 15m ", 900_000_000_000),
        ("2h", 7_200_000_000_000),
        ("1d", 86_400_000_000_000),
        ("250us", 250_000),
        ("7ns", 7),
    ],
)
def test_one_duration_syntax(text: str, ns: int) -> None:
    from seriesfactory.core.time import parse_duration_ns

    assert parse_duration_ns(text, option="--duration") == ns


@pytest.mark.parametrize("text", ["0", "0s", "-1s", "5 minutes", "1w", "", "0.1ns", "1e300d"])
def test_bad_durations_are_refused(text: str) -> None:
    from seriesfactory.core.time import parse_duration_ns

    with pytest.raises(InputError, match=rf"^--stale {re.escape(repr(text))} is not a duration"):
        parse_duration_ns(text, option="--stale")
