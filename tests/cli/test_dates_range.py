"""Dates the engine cannot represent are refused with one line (issue 17, item 0)."""

from __future__ import annotations

from pathlib import Path

import pytest

from seriesfactory.cli import main

GBM = "gbm(0.05,0.5,50000)"


@pytest.mark.parametrize(
    ("span", "bad"),
    [
        (("0001-01-01", "2020-01-02"), "--from 0001-01-01"),
        (("2300-01-01", "2300-01-02"), "--from 2300-01-01"),
        (("2262-04-10", "2262-04-12"), "--to 2262-04-12"),
        (("1969-12-31", "1970-01-02"), "--from 1969-12-31"),
    ],
)
@pytest.mark.parametrize("command", ["series", "ticks", "download"])
def test_out_of_range_dates_are_one_line(
    command: str, span: tuple[str, str], bad: str, tmp_path: Path, capsys
) -> None:
    args = [command, "--from", span[0], "--to", span[1], "--cache-dir", str(tmp_path / "c")]
    if command in ("series", "ticks"):
        args += ["--sources", GBM, "--output-dir", str(tmp_path / "o")]
    if command == "series":
        args += ["--agg-step", "60000"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {bad} is outside the dates")


def test_the_last_representable_day_works_and_long_steps_are_refused(
    tmp_path: Path, capsys
) -> None:
    base = ["series", "--sources", GBM, "--from", "2262-04-10", "--to", "2262-04-11", "--quiet",
            "--cache-dir", str(tmp_path / "c"), "--output-dir", str(tmp_path / "o")]  # fmt: skip
    assert main([*base, "--agg-step", "1000"]) == 0
    assert main([*base, "--agg-step", "31536000000"]) == 2
    assert "too long for a range ending this late" in capsys.readouterr().err
    assert main([*base, "--agg-step", "1e300"]) == 2
    assert "longer than the engine can count" in capsys.readouterr().err
