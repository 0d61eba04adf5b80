"""One option vocabulary across the CLI, checked by walking the CLI's own command tree.

``docs/cli.md`` is the reference: its vocabulary tables name the options any command may take, its
"Options of one command" table the options that belong to the commands it names. Every visible
option must be in one of them; a name used by several commands has one metavar everywhere (a
``a|b`` choice list may narrow to a subset); every command has ``--quiet``; no option shows a
type name (``<str>``, ``TEXT``) instead of its values.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from seriesfactory.cli import app, main

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
_OPTION = re.compile(r"`(--[a-z0-9-]+)")


def _commands() -> list[tuple[str, Any]]:
    def walk(cmd: Any, path: list[str]) -> Iterator[tuple[str, Any]]:
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                yield from walk(sub, [*path, name])
        else:
            yield " ".join(path), cmd

    return list(walk(typer.main.get_command(app), []))


COMMANDS = _commands()


def _options(cmd: Any) -> list[Any]:
    return [p for p in cmd.params if p.param_type_name == "option"]


def _cells(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def _documented() -> tuple[set[str], dict[str, set[str]]]:
    """(options of the vocabulary, option -> the commands it is documented for)."""
    vocabulary: set[str] = set()
    specific: dict[str, set[str]] = {}
    section = ""
    for line in DOCS.read_text().splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
            continue
        if not line.startswith("| ") or "`--" not in line.split("|")[1]:
            continue
        cells = _cells(line)
        names = _OPTION.findall(cells[0])
        if section == "Options of one command":
            for name in names:
                specific.setdefault(name, set()).update(re.findall(r"`([a-z -]+)`", cells[1]))
        elif section.startswith("Options of one group: "):
            group = section.removeprefix("Options of one group: ")
            for name in names:
                specific.setdefault(name, set()).update(
                    c for c, _ in COMMANDS if c.split()[0] == group
                )
        else:
            vocabulary.update(names)
    return vocabulary, specific


def test_the_tree_has_the_commands_of_docs_cli_md() -> None:
    paths = {p for p, _ in COMMANDS}
    for expected in (
        "series",
        "ticks",
        "download",
        "trades",
        "bars build",
        "record",
        "cache clear",
    ):
        assert expected in paths


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS])
def test_every_command_has_quiet(path: str) -> None:
    cmd = dict(COMMANDS)[path]
    assert any("--quiet" in p.opts for p in _options(cmd)), f"{path} has no --quiet"


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS])
def test_every_visible_option_is_in_docs_cli_md(path: str) -> None:
    vocabulary, specific = _documented()
    cmd = dict(COMMANDS)[path]
    for p in _options(cmd):
        if p.hidden:
            continue
        for name in p.opts:
            assert name in vocabulary or path in specific.get(name, set()), (
                f"{path} {name}: neither in the vocabulary of docs/cli.md nor listed there "
                "for this command"
            )


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS])
def test_value_options_show_their_values_not_a_type(path: str) -> None:
    ctx = typer.main.get_command(app).make_context("seriesfactory", [], resilient_parsing=True)
    cmd = dict(COMMANDS)[path]
    for p in _options(cmd):
        if p.is_flag:
            continue
        assert p.metavar, f"{path} {p.opts[0]} has no metavar"
        assert not re.search(r"<|>|^(TEXT|PATH|INTEGER|FLOAT)$", p.metavar), (path, p.metavar)
        record = p.get_help_record(ctx)
        assert p.hidden or (record is not None and "<" not in record[0]), (path, record)


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS])
def test_help_names_no_type(path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*path.split(), "--help"]) == 0
    out = capsys.readouterr().out
    assert not re.search(r"<[a-z]+(\[[^\]]*\])?>", out), out


def test_a_name_means_one_thing_across_commands() -> None:
    metavars: dict[str, dict[str, str]] = {}
    for path, cmd in COMMANDS:
        for p in _options(cmd):
            if not p.is_flag:
                metavars.setdefault(p.opts[0], {})[path] = p.metavar
    for name, by_command in metavars.items():
        values = set(by_command.values())
        if len(values) == 1:
            continue
        choices = [set(v.split("|")) for v in values]
        widest = max(choices, key=len)
        assert all("|" in v for v in values) and all(c <= widest for c in choices), (
            f"{name} is written differently across commands: {by_command}"
        )


def test_required_options_are_marked_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bars", "build", "--help"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"--type TYPE\s.*\[required\]", out, re.S)
    assert "--out-format parquet|csv" in out
    assert "<" not in out


def test_old_spellings_work_hidden(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["download", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--venue NAME" in out and "--output-dir DIR" in out
    assert "--source" not in out and "--candles-dir" not in out
    # The hidden spelling is still parsed (refused here by the same check as --venue).
    status = main(["download", "--source", "nowhere", "--from", "2024-01-01", "--to", "2024-01-02"])
    assert status == 2
    assert "--venue 'nowhere' is unknown" in capsys.readouterr().err
