"""The Typer application and the options and checks shared by the command modules.

An option that several commands declare the same way (name, type and help) is an
``Annotated`` alias here; a command gives its own default, e.g.
``cache_dir: CacheDir = Path("cache")``.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import typer

from seriesfactory.cli import _coerce
from seriesfactory.core import progress
from seriesfactory.core.time import parse_date
from seriesfactory.errors import InputError

if TYPE_CHECKING:
    from seriesfactory.core.storage import Remote

__all__ = [
    "CacheDir",
    "CacheLocation",
    "Config",
    "OutFormat",
    "OutputLocation",
    "Overwrite",
    "PairAlias",
    "Quiet",
    "SourceAlias",
    "Symbol",
    "Venue",
    "aliased",
    "app",
    "check_output",
    "check_output_dir",
    "check_output_not_input",
    "day_range_ns",
    "fail",
    "loading",
    "location_of",
    "on_bad_rows_choice",
    "out_format_choice",
    "pair_of",
    "refuse_clobber",
    "refuse_existing",
    "refuse_future_end",
]

T = TypeVar("T")


def _argument_type(self: typer.core.TyperArgument, ctx: Any) -> str | None:
    """An argument's help shows its metavar (``VENUE``), never the Python type (``<str>``)."""
    return "" if self.metavar is not None else _typer_argument_type(self, ctx)


_typer_argument_type = typer.core.TyperArgument.display_type_rich
typer.core.TyperArgument.display_type_rich = _argument_type  # type: ignore[method-assign,assignment]
_coerce.install()  # plain option values converted without pydantic (see the module)

app = typer.Typer(
    name="seriesfactory",
    help="Series Factory: crypto market data from sources to series.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        from seriesfactory import __version__

        print(f"seriesfactory {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Series Factory: crypto market data from sources to series."""


def _install_reporter(quiet: bool) -> bool:
    progress.install(progress.reporter(quiet=quiet))
    return quiet


Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet",
        help="No progress and no preview: only errors and the output path(s).",
        callback=_install_reporter,
    ),
]


def _local_cache_dir(value: Path) -> Path:
    """A command whose cache stays local refuses a URL (a Path would fold ``s3://`` to ``s3:/``)."""
    scheme, sep, _ = str(value).partition(":/")
    if sep and scheme.isalnum() and scheme.lower() != "file" and len(scheme) > 1:
        raise typer.BadParameter(
            f"{scheme}:// URLs are taken by series, ticks, trades, bars build, cache ls and "
            "cache gc only "
            "(docs/scale.md); "
            "give this command a local folder",
            param_hint="--cache-dir",
        )
    return value


CacheDir = Annotated[
    Path,
    typer.Option("--cache-dir", metavar="DIR", help="Cache directory.", callback=_local_cache_dir),
]
#: ``--cache-dir`` of the commands whose trades tier may live on an object store.
CacheLocation = Annotated[
    str,
    typer.Option(
        "--cache-dir", metavar="DIR", help="Cache directory, or an s3:// URL (docs/scale.md)."
    ),
]
Config = Annotated[
    Path | None, typer.Option("--config", metavar="FILE", help="TOML settings file.")
]
OutFormat = Annotated[
    str, typer.Option("--out-format", metavar="parquet|csv", help="parquet or csv.")
]
OutputDir = Annotated[Path, typer.Option("--output-dir", metavar="DIR", help="Output directory.")]
#: ``--output-dir`` of the commands that also publish to an object store (docs/scale.md).
OutputLocation = Annotated[
    str,
    typer.Option(
        "--output-dir", metavar="DIR", help="Output directory, or a file:// or s3:// URL."
    ),
]
Base = Annotated[str, typer.Option("--base", metavar="ASSET", help="Base asset, e.g. BTC.")]
Quote = Annotated[str, typer.Option("--quote", metavar="ASSET", help="Quote asset, e.g. USDT.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output file.")]
Venue = Annotated[
    str,
    typer.Option(
        "--venue",
        metavar="NAME",
        help="binance, binance-usdm, binance-coinm, bybit or coinbase.",
    ),
]
Symbol = Annotated[
    str | None,
    typer.Option(
        "--symbol",
        metavar="SYMBOL",
        help="Symbol as the venue writes it, e.g. BTCUSDT (instead of --base/--quote).",
    ),
]
PairAlias = Annotated[
    str | None, typer.Option("--pair", metavar="SYMBOL", hidden=True, help="Old name of --symbol.")
]
SourceAlias = Annotated[
    str | None, typer.Option("--source", metavar="NAME", hidden=True, help="Old name of --venue.")
]
OnBadRows = Annotated[
    str,
    typer.Option(
        "--on-bad-rows", metavar="error|skip", help="Malformed exchange rows: error or skip."
    ),
]


def fail(message: str) -> None:
    """Print one error line to standard error."""
    print(f"error: {message}", file=sys.stderr)


#: What to do about a storage failure, by ``errno``.
_OS_ADVICE = {
    errno.ENOSPC: "free space on that disk (or point the option at another) and run again",
    errno.EDQUOT: "free space within your quota and run again",
    errno.EROFS: "that file system is read-only; choose a writable folder",
    errno.EACCES: "fix the permissions or choose another folder",
    errno.EPERM: "fix the permissions or choose another folder",
    errno.ENAMETOOLONG: "the name is too long for the file system; use shorter names",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "a part of the path is a file, not a folder; check the path",
    errno.EISDIR: "that path is a folder; give a file name",
    errno.EIO: "the disk reported an I/O error; check it",
}


def os_error_line(exc: OSError) -> str:
    """One line for a storage failure: the path, the system's reason, what to do."""
    where = exc.filename if exc.filename is not None else "a file"
    if exc.filename2 is not None:
        where = f"{where} -> {exc.filename2}"
    why = exc.strerror or str(exc) or type(exc).__name__
    advice = _OS_ADVICE.get(exc.errno or -1, "check the path and the disk")
    return f"{where}: {why}; {advice}"


def out_format_choice(text: str) -> Literal["parquet", "csv"]:
    """``--out-format`` in any case -> ``'parquet'`` or ``'csv'``; anything else is refused."""
    value = text.lower()
    if value == "parquet":
        return "parquet"
    if value == "csv":
        return "csv"
    raise InputError(f"--out-format {text!r} is unknown; use parquet or csv")


def on_bad_rows_choice(text: str) -> str:
    """``--on-bad-rows``: ``'error'`` or ``'skip'``, as given; anything else is refused."""
    if text not in ("error", "skip"):
        raise InputError(f"--on-bad-rows {text!r} is unknown; use error or skip")
    return text


def day_range_ns(from_text: str, to_text: str) -> tuple[int, int]:
    """``--from`` and ``--to`` (exclusive) days -> ``(from_ns, to_ns)``, int64 ns UTC, in order."""
    from_ns = parse_date(from_text, option="--from")
    to_ns = parse_date(to_text, option="--to")
    if from_ns >= to_ns:
        raise InputError("--from must be before --to (--to is exclusive)")
    return from_ns, to_ns


def _same_path(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name the same file (by inode when both exist)."""
    try:
        if a.exists() and b.exists():
            return a.samefile(b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_output_not_input(
    outputs: list[Path], inputs: list[Path], option: str = "--output", *, what: str = "an --input"
) -> None:
    """Refuse an output that would replace an input (an output never replaces an input);
    ``what`` names the inputs in the message."""
    for out in outputs:
        for inp in inputs:
            if _same_path(out, inp):
                raise InputError(f"{option} {out} is also {what}; write the output to another file")


def check_output_dir(output_dir: Path, cache_dir: Path, option: str = "--output-dir") -> None:
    """Refuse an output folder inside the cache (``cache gc`` would delete what is there)."""
    out, cache = output_dir.resolve(), cache_dir.resolve()
    if out == cache or cache in out.parents:
        raise InputError(
            f"{option} {output_dir} is inside --cache-dir {cache_dir}, whose garbage collector "
            "would delete it; choose a folder outside the cache"
        )


def aliased(value: T, old: T | None, *, name: str, old_name: str) -> T:
    """An option's value, or its hidden old spelling's when only that was given (docs/cli.md)."""
    return value if old is None else old


def refuse_future_end(to_ns: int, *, option: str = "--to") -> None:
    """Refuse an exclusive end after tomorrow 00:00 UTC: those days do not exist yet."""
    import time

    from seriesfactory.core.time import NS_PER_DAY

    limit = (time.time_ns() // NS_PER_DAY + 1) * NS_PER_DAY
    if to_ns > limit:
        raise InputError(
            f"{option} is in the future; the last day with data is today (give --to tomorrow's "
            "date at most)"
        )


def refuse_clobber(output: Path, overwrite: bool, *, option: str = "--output") -> None:
    """An explicit output file that exists is replaced only with ``--overwrite`` (docs/cli.md)."""
    if output.exists() and not overwrite:
        raise InputError(f"{option} {output} exists; pass --overwrite to replace it")


def pair_of(venue: str, symbol: str | None, base: str, quote: str) -> tuple[str, str]:
    """``(base, quote)``: from ``--symbol`` when given, else ``--base``/``--quote``."""
    if symbol is None:
        return base, quote
    from seriesfactory.pipeline.exchange import split_symbol

    return split_symbol(venue, symbol)


def check_output(
    path: Path,
    *,
    overwrite: bool,
    inputs: list[Path],
    suffixes: tuple[str, ...] = (),
    option: str = "--output",
) -> None:
    """The checks of an explicit output file, before any work: its suffix (one of
    ``suffixes``, when given), that it is no input, and ``--overwrite`` when it exists."""
    if suffixes and path.suffix.lower() not in suffixes:
        raise InputError(f"{option} {path}: the name must end in {' or '.join(suffixes)}")
    check_output_not_input([path], inputs, option, what="an input")
    refuse_clobber(path, overwrite, option=option)


def refuse_existing(paths: list[Path], overwrite: bool) -> None:
    """Without ``--overwrite``, outputs that exist (the files a command writes into its
    ``--output-dir``) are refused, before any work."""
    if overwrite:
        return
    for p in paths:
        if p.exists():
            raise InputError(f"{p} exists; pass --overwrite to replace it")


def location_of(text: str, *, option: str, config: Path | None = None) -> Path | Remote:
    """``text`` (an option's value) as a local :class:`Path` or a ``core.storage.Remote``
    whose store settings come from ``config`` / the environment (docs/scale.md)."""
    from seriesfactory.core.storage import is_url, parse_location

    if not is_url(text):
        return parse_location(text, option=option)
    from seriesfactory.config import load_settings

    return parse_location(text, option=option, options=load_settings(config).storage_options())


def lake_of(cache_dir: str, *, config: Path | None = None) -> tuple[Path, Remote | None]:
    """``--cache-dir`` as (this machine's cache folder, the object-store lake or None).

    A URL puts the trades tier on the object store (checked reachable here, before any
    work) and keeps the raw tier in the ``local_cache_dir`` setting (docs/scale.md).
    """
    where = location_of(cache_dir, option="--cache-dir", config=config)
    if isinstance(where, Path):
        return where, None
    from seriesfactory.config import load_settings
    from seriesfactory.core.storage import check_reachable

    check_reachable(where)
    return load_settings(config).local_cache_dir, where


@contextlib.contextmanager
def loading() -> Iterator[None]:
    """Around a command's imports of its libraries: the cyclic garbage collector is off while
    they load, and what they loaded is then frozen (``gc.freeze``), so later collections skip it.

    Importing numba, numpy and pyarrow allocates several hundred thousand objects that live as
    long as the process; collecting among them as they load, and again and again afterwards,
    was about 0.3 s of CPU of a warm ``series`` run (issue 16). numpy's OpenBLAS is loaded with
    one thread unless ``OPENBLAS_NUM_THREADS`` says otherwise: its idle threads spin for a while
    after they start (~0.1 s of CPU on the other core), and no command that loads this way
    does linear algebra.
    """
    enabled = gc.isenabled()
    gc.disable()
    blas = "OPENBLAS_NUM_THREADS"
    one_thread = "numpy" not in sys.modules and blas not in os.environ
    if one_thread:
        os.environ[blas] = "1"  # read once, when numpy loads OpenBLAS
    try:
        yield
    finally:
        if one_thread:
            os.environ.pop(blas, None)  # not inherited by the processes a command starts
        gc.freeze()
        if enabled:
            gc.enable()
