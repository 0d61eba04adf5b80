"""Hostile names on every command that takes one: refused before anything is written.

The test walks the CLI's command tree, so a command added later that takes a name
option (``--symbol``, ``--base``, ``--quote``, ``--venue``, ``--source``,
``--sources``) is covered without editing this file; a new *required* option needs
a value in ``FILL`` (the test says so). Every run points every URL at a closed port
on 127.0.0.1, so nothing leaves the machine even if a check were missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from seriesfactory.cli import app
from seriesfactory.core.names import check_asset, check_symbol, check_venue
from seriesfactory.errors import InputError

#: Options whose value becomes a path component somewhere.
NAME_OPTIONS: tuple[str, ...] = (
    "--symbol",
    "--base",
    "--quote",
    "--venue",
    "--source",
    "--sources",
)
NAME_OPTIONS += ("--symbols",)  # a universe job's list: every entry is a name
#: A harmless value of each name option (used when another one is the hostile one).
GOOD = {
    "--symbol": "BTCUSDT",
    "--base": "BTC",
    "--quote": "USDT",
    "--venue": "binance",
    "--source": "binance",
    "--sources": "binance",
}
HOSTILE = [
    "../../../../escaped",
    "..",
    "a/b",
    "a\\b",
    "x" * 300,
    "BTC\x00USDT",
    "ВТСUSDT",  # Cyrillic look-alikes: a Unicode code no venue lists
    "BTC USDT",
    "",
]
#: Optional options given whenever a command has them (some commands need them in practice).
ALWAYS = ("--from", "--to", "--cache-dir", "--duration", "--output", "--gammas")
CLOSED = "127.0.0.1:9"
URL_ENV = {
    "SERIESFACTORY_BINANCE_DATA_URL": f"http://{CLOSED}",
    "SERIESFACTORY_BINANCE_SPOT_API_URL": f"http://{CLOSED}",
    "SERIESFACTORY_BINANCE_USDM_API_URL": f"http://{CLOSED}",
    "SERIESFACTORY_BINANCE_COINM_API_URL": f"http://{CLOSED}",
    "SERIESFACTORY_BYBIT_DATA_URL": f"http://{CLOSED}",
    "SERIESFACTORY_COINBASE_API_URL": f"http://{CLOSED}",
    "SERIESFACTORY_BINANCE_WS_URL": f"ws://{CLOSED}",
    "SERIESFACTORY_BINANCE_USDM_WS_URL": f"ws://{CLOSED}",
    "SERIESFACTORY_BYBIT_WS_URL": f"ws://{CLOSED}",
    "SERIESFACTORY_COINBASE_WS_URL": f"ws://{CLOSED}",
    "SERIESFACTORY_EXTENDED_WS_URL": f"ws://{CLOSED}",
}


def _leaves() -> Iterator[tuple[list[str], Any]]:
    def walk(cmd: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
        if hasattr(cmd, "commands"):
            for name, sub in sorted(cmd.commands.items()):
                yield from walk(sub, [*path, name])
        else:
            yield path, cmd

    return walk(typer.main.get_command(app), [])


def _options(cmd: Any) -> dict[str, bool]:
    # hidden old spellings (docs/cli.md aliases) are left out: given beside the new name, the
    # old one wins, so a good value there would mask the hostile one
    return {
        p.opts[0]: bool(p.required)
        for p in cmd.params
        if p.opts[0].startswith("--") and not getattr(p, "hidden", False)
    }


#: Commands whose name options only filter rows of the PostgreSQL store (bound as query
#: parameters, never a path): the store's own tests cover hostile values there.
STORE_FILTERS = {("bars", "export"), ("status",), ("daemon",)}
CASES = [
    (path, opt)
    for path, cmd in _leaves()
    for opt in _options(cmd)
    if opt in NAME_OPTIONS and tuple(path) not in STORE_FILTERS
]


def test_the_walk_finds_the_commands_that_take_names() -> None:
    found = {" ".join(p) for p, _ in CASES}
    assert {"record", "download", "trades", "series", "ticks", "bars build"} <= found
    assert {"book snapshots", "book verify", "book live"} <= found


def _fill(tmp_path: Path) -> dict[str, str]:
    capture = tmp_path / "in" / "cap.jsonl"
    capture.parent.mkdir(exist_ok=True)
    capture.write_text('{"recv_ns":1,"conn":"c","venue":"binance","kind":"msg","data":"{}"}\n')
    return {
        "--from": "2024-01-01",
        "--to": "2024-01-02",
        "--agg-step": "60000",
        "--type": "tick",
        "--threshold": "10",
        "--output": str(tmp_path / "out" / "o.parquet"),
        "--input": str(capture),
        "--input-dir": str(capture.parent),
        "--output-dir": str(tmp_path / "out"),
        "--price-decimals": "2",
        "--cache-dir": str(tmp_path / "cache"),
        "--duration": "1",
        "--reconnect-attempts": "1",
        "--gammas": "0.1",
    }


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: repr(v)[:20])
@pytest.mark.parametrize(
    ("path", "option"), CASES, ids=lambda x: " ".join(x) if isinstance(x, list) else x
)
def test_hostile_name_is_refused_with_one_line_and_nothing_written(
    path: list[str], option: str, value: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, cli: Callable[..., tuple[int, str, str]],
    one_error_line: Callable[[str], str],
) -> None:  # fmt: skip
    for key, url in URL_ENV.items():
        monkeypatch.setenv(key, url)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    fill = _fill(work)
    cmd = next(c for p, c in _leaves() if p == path)
    options = _options(cmd)
    args = [*path]
    for opt, required in options.items():
        if opt == option:
            args += [opt, value]
        elif opt == "--symbol" and option in ("--base", "--quote"):
            continue  # a --symbol would take precedence over the hostile --base/--quote
        elif (opt in ("--symbol", "--base", "--quote") and option == "--symbols") or (
            opt == "--symbols"
        ):
            continue  # one pair or a universe, not both
        elif opt in GOOD:
            args += [opt, GOOD[opt]]
        elif required or opt in ALWAYS or (opt == "--input" and "--from" not in options):
            # --input: the recordings a --venue/--symbol applies to (not the trades tier's)
            assert opt in fill, f"{' '.join(path)}: add a value for the new option {opt} to FILL"
            args += [opt, fill[opt]]
    if path == ["bars", "build"]:
        args += ["--threshold", "10"]
    if option == "--symbols" and "--output" in args:  # a universe's outputs name the symbol
        args[args.index("--output") + 1] = fill["--output"].replace("o.parquet", "{symbol}.parquet")
    if value == "a/b" and option == "--symbol" and "--from" in options:
        args[args.index(value)] = "a/b/c"  # the trades tier's documented BASE/QUOTE spelling
    before = _tree(tmp_path)
    code, _, err = cli(*args)
    assert code == 2, (args, err)
    line = one_error_line(err)
    shown = option.lstrip("-").rstrip("s")
    assert shown in line or "source" in line or "symbol" in line, line
    after = _tree(tmp_path)
    assert after - before <= {"work/cache"}, after - before  # nothing written
    assert not list(tmp_path.parent.glob("escaped*")) and not (tmp_path / "escaped").exists()


@pytest.mark.parametrize("value", HOSTILE)
def test_the_one_check_refuses_every_hostile_value(value: str) -> None:
    for check in (
        lambda v: check_symbol(v, venue="binance"),
        lambda v: check_symbol(v, venue="coinbase"),
        check_asset,
        check_venue,
    ):
        with pytest.raises(InputError):
            check(value)


def test_names_venues_list_are_accepted() -> None:
    assert check_symbol("BTC-USD", venue="coinbase") == "BTC-USD"
    assert check_symbol("BTCUSD_PERP", venue="binance-coinm") == "BTCUSD_PERP"
    assert check_symbol("btcusdt", venue="binance") == "btcusdt"
    assert check_asset("币安人生", venue="binance") == "币安人生"
    with pytest.raises(InputError, match="must be an asset code on bybit"):
        check_asset("币安人生", venue="bybit")
    assert check_symbol("x" * 64) and check_asset("A" * 20)
    with pytest.raises(InputError, match="longer than 64"):
        check_symbol("x" * 65)
