"""The main job: sources -> ticks tier -> aggregates tier -> output file.

:func:`build_ticks` makes sure the ticks tier holds the requested ticks and
returns them; :func:`build_series` aggregates them (or takes the aggregates
from the aggregates tier) and writes the output file. Both are what the
``ticks`` and ``series`` commands call, and what a notebook calls.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from seriesfactory import __version__
from seriesfactory.core import progress
from seriesfactory.core.atomic import (
    atomic_path,
    key_sha256,
    storage_error,
)
from seriesfactory.core.names import check_asset
from seriesfactory.core.threads import Background
from seriesfactory.core.time import NS_PER_DAY, format_range_part
from seriesfactory.errors import InputError, SourceError
from seriesfactory.lake.aggregates import (
    DayRowGroups,
    EntryWriter,
    entry_path,
    parquet_encoding,
    read_entry,
    seal_path,
)
from seriesfactory.lake.integrity import CorruptEntryError, evict, warn
from seriesfactory.lake.outputs import clean_leftovers, seal_csv
from seriesfactory.lake.shared import pull_sealed, push_sealed
from seriesfactory.lake.ticks import TickSet, write_tick_set
from seriesfactory.schema import AGGREGATE_FIELDS, TICK_SCHEMA, aggregate_schema
from seriesfactory.sources import SourceSpec, parse_sources, resolve_tick_model
from seriesfactory.sources._history_base import history_names, history_venue
from seriesfactory.sources.registry import resolve_venue
from seriesfactory.sources.spec import format_number
from seriesfactory.sources.synthetic import MMModel, Model
from seriesfactory.transforms.aggregates import (
    AggregateArrays,
    AggregateSummary,
    AggregationParams,
    Aggregator,
    FilterCounts,
)

if TYPE_CHECKING:
    from seriesfactory.config import Settings

__all__ = [
    "SeriesRequest",
    "SeriesResult",
    "TicksRequest",
    "TicksResult",
    "build_series",
    "build_ticks",
    "parse_fields",
    "parse_weights",
]

OutFormat = Literal["parquet", "csv"]
_T = TypeVar("_T")
WeightMode = Literal["static", "volume", "mixed"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TicksRequest:
    """Which ticks: pair, sources and the UTC range ``[from_ns, to_ns)``."""

    sources: str
    from_ns: int
    to_ns: int
    base: str = "BTC"
    quote: str = "USDT"
    seed: int = 0
    cache_dir: Path = Path("cache")
    #: Malformed rows in exchange files: ``error`` (stop) or ``skip`` (drop, count, report).
    on_bad_rows: str = "error"
    #: URLs and download settings; None loads them (config file + environment).
    settings: Settings | None = None

    def __post_init__(self) -> None:
        if self.on_bad_rows not in ("error", "skip"):
            raise InputError(f"--on-bad-rows {self.on_bad_rows!r} is unknown; use error or skip")
        if self.from_ns >= self.to_ns:
            raise InputError("--from must be before --to (--to is exclusive: the day after)")
        if self.from_ns < 0 or self.to_ns >= 1 << 63:
            raise InputError("--from/--to must lie between 1970-01-01 and 2262-04-11 (int64 ns)")
        for name, value in (("--base", self.base), ("--quote", self.quote)):
            check_asset(value, option=name)
        if self.seed < 0:
            raise InputError(f"--seed must be a non-negative integer, got {self.seed}")

    def specs(self) -> list[SourceSpec]:
        return parse_sources(self.sources)


@dataclass(frozen=True, slots=True, kw_only=True)
class SeriesRequest(TicksRequest):
    """A ``series`` run: a :class:`TicksRequest` plus aggregation and output options."""

    params: AggregationParams
    fields: tuple[str, ...] = AGGREGATE_FIELDS
    weight_mode: WeightMode = "static"
    weights: tuple[float, ...] | None = None
    out_format: OutFormat = "parquet"
    output_dir: Path = Path("output")

    def __post_init__(self) -> None:
        TicksRequest.__post_init__(self)
        if self.weight_mode not in ("static", "volume", "mixed"):
            raise InputError(
                f"--weight-mode {self.weight_mode!r} is unknown; use static, volume or mixed"
            )
        if self.out_format not in ("parquet", "csv"):
            raise InputError(f"--out-format {self.out_format!r} is unknown; use parquet or csv")
        step = self.params.step_ns
        if step and (self.to_ns // step + 2) * step >= 1 << 63:
            raise InputError(
                f"--agg-step {format_number(self.params.step)} is too long for a range ending "
                "this late (its buckets would pass 2262-04-11); give a shorter step or range"
            )
        n = len(self.specs())
        if self.weights is not None and len(self.weights) != n:
            raise InputError(
                f"--weights has {len(self.weights)} entries for {n} source(s); "
                "give one weight per source, separated by '|', or 'equal'"
            )


@dataclass(slots=True)
class TicksResult:
    ticks: TickSet
    sources: list[dict[str, Any]]
    generated: bool


@dataclass(slots=True)
class SeriesResult:
    """What a ``series`` run wrote: the file, a summary of its rows (first and last rows,
    means), the filter counts and metadata, and which tiers served it."""

    summary: AggregateSummary
    counts: FilterCounts
    output: Path
    metadata: dict[str, str]
    out_format: OutFormat = "parquet"
    from_cache: dict[str, bool] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return self.summary.rows

    @property
    def table(self) -> pa.Table:
        """The output file read back (the whole of it: for small outputs and tests)."""
        if self.out_format == "parquet":
            return pq.read_table(self.output)
        schema = aggregate_schema(json.loads(self.metadata["seriesfactory.params"])["fields"])
        opts = pacsv.ConvertOptions(column_types=schema)
        return pacsv.read_csv(self.output, convert_options=opts).cast(schema)


def parse_fields(text: str, *, option: str = "--agg-fields") -> tuple[str, ...]:
    """``all`` or a pipe-separated list of aggregate fields (output keeps canonical order)."""
    if text.strip().lower() == "all":
        return AGGREGATE_FIELDS
    names = [t.strip().lower() for t in text.split("|") if t.strip()]
    if not names:
        raise InputError(f"{option} is empty; give 'all' or e.g. 'open|high|low|close'")
    names = [n for n in names if n != "timestamp"]
    unknown = [n for n in names if n not in AGGREGATE_FIELDS]
    if unknown:
        raise InputError(
            f"{option}: unknown field(s) {', '.join(unknown)}; "
            f"choose from {'|'.join(AGGREGATE_FIELDS)} (timestamp is always present)"
        )
    return tuple(f for f in AGGREGATE_FIELDS if f in names)


def parse_weights(text: str) -> tuple[float, ...] | None:
    """``equal`` (None) or pipe-separated positive weights."""
    if text.strip().lower() == "equal":
        return None
    out: list[float] = []
    for token in text.split("|"):
        try:
            value = float(token)
        except ValueError:
            raise InputError(
                f"--weights: {token.strip()!r} is not a number; e.g. --weights '0.6|0.4'"
            ) from None
        if not math.isfinite(value) or value <= 0:
            raise InputError(f"--weights: {token.strip()} must be a positive number")
        out.append(value)
    return tuple(out)


# -- ticks ----------------------------------------------------------------------------------------
def _single_model(request: TicksRequest) -> Model | MMModel:
    specs = request.specs()
    models = [resolve_tick_model(s) for s in specs]
    if len(models) != 1:
        raise SourceError(f"--sources names {len(models)} models; give one model")
    return models[0]


def _model_key(model: Model | MMModel, request: TicksRequest) -> tuple[str, dict[str, Any]]:
    info = {
        **model.describe(),
        "seed": request.seed,
        "from_ns": request.from_ns,
        "to_ns": request.to_ns,
    }
    return key_sha256(info), info


def _model_root(cache_dir: Path, model: Model | MMModel, key: str) -> Path:
    return cache_dir / "ticks" / "synthetic" / model.name / key[:16]


def _model_ticks(request: TicksRequest) -> TicksResult:
    model = _single_model(request)
    key, info = _model_key(model, request)
    root = _model_root(request.cache_dir, model, key)
    existing = TickSet.open(root)
    if existing is not None:
        return TicksResult(existing, [info], generated=False)
    chunks = model.stream(start_ns=request.from_ns, end_ns=request.to_ns, seed=request.seed)
    days = (request.to_ns - request.from_ns) / NS_PER_DAY
    name = request.specs()[0].canonical()
    with progress.current().task(f"generating {name} ticks", total=days, unit="days") as task:
        ticks = write_tick_set(
            root, key=key, chunks=_days_done(chunks, request.from_ns, task), info=info
        )
    return TicksResult(ticks, [info], generated=True)


def _days_done(chunks: Iterator[Any], start_ns: int, task: progress.Task) -> Iterator[Any]:
    """Pass ``chunks`` (tick arrays with ``ts``) through, advancing ``task`` by days covered."""
    done_ns = start_ns
    for chunk in chunks:
        if len(chunk.ts):
            last = int(chunk.ts[-1])
            task.advance((last - done_ns) / NS_PER_DAY)
            done_ns = last
        yield chunk


def _venue_ticks(request: TicksRequest, spec: SourceSpec) -> TicksResult:
    from seriesfactory.config import load_settings  # pydantic: only for venues
    from seriesfactory.pipeline.combine import cross_tick_set, needs_rebase
    from seriesfactory.pipeline.exchange import venue_ticks

    venue = resolve_venue(spec)
    settings = request.settings if request.settings is not None else load_settings()

    def pair(base: str, quote: str) -> tuple[TickSet, dict[str, Any], bool]:
        got = venue_ticks(
            venue,
            base=base,
            quote=quote,
            from_ns=request.from_ns,
            to_ns=request.to_ns,
            cache_dir=request.cache_dir,
            settings=settings,
            on_bad_rows=request.on_bad_rows,
        )
        return got.ticks, got.info, got.generated

    if not needs_rebase(request.quote):
        ticks, info, generated = pair(request.base, request.quote)
        return TicksResult(ticks, [info], generated=generated)
    home = history_venue(venue).home_quote
    leg_base = pair(request.base, home)
    leg_quote = pair(request.quote, home)
    cross, built = cross_tick_set(
        request.cache_dir, venue, request.base, request.quote, (leg_base[0], leg_quote[0])
    )
    info = {"venue": venue, "rebased": f"{request.base}/{request.quote} via {home}",
            "legs": [leg_base[1], leg_quote[1]]}  # fmt: skip
    return TicksResult(cross, [info], generated=built or leg_base[2] or leg_quote[2])


def _one_source(request: TicksRequest, spec: SourceSpec) -> TicksResult:
    if spec.name in history_names():
        return _venue_ticks(request, spec)
    single = TicksRequest(
        sources=spec.text,
        from_ns=request.from_ns,
        to_ns=request.to_ns,
        base=request.base,
        quote=request.quote,
        seed=request.seed,
        cache_dir=request.cache_dir,
    )
    return _model_ticks(single)


def build_ticks(request: TicksRequest) -> TicksResult:
    """Make sure the ticks tier holds the requested ticks; return them.

    One model: generated ticks. One venue: ticks from its trades
    (``pipeline/exchange.py``), re-based through the venue's home quote when
    ``--quote`` is not USD-like. Several sources: each as above, then merged
    (``pipeline/combine.py``) with the request's weights and ``--tick-ttl``.
    """
    specs = request.specs()
    if len(specs) == 1:
        return _one_source(request, specs[0])
    from seriesfactory.pipeline.combine import merged_tick_set
    from seriesfactory.transforms.merge import MergeParams

    parts = [_one_source(request, spec) for spec in specs]
    if isinstance(request, SeriesRequest):
        weights = request.weights or (1.0,) * len(specs)
        params = MergeParams(
            weights=weights, mode=request.weight_mode, ttl_ns=request.params.ttl_ns
        )
    else:
        params = MergeParams(weights=(1.0,) * len(specs))
    infos = [info for p in parts for info in p.sources]
    merged, built = merged_tick_set(request.cache_dir, [p.ticks for p in parts], infos, params)
    return TicksResult(merged, infos, generated=built or any(p.generated for p in parts))


# -- aggregates -----------------------------------------------------------------------------------
#: An aggregates entry is kept only when it summarises at least this many ticks a row: a finer
#: entry would cost about as much to read as recomputing it, and would duplicate the output.
ENTRY_MIN_TICKS_PER_ROW = 10
#: A request whose output is estimated above this many bytes is announced before it starts.
LARGE_OUTPUT_BYTES = 1 << 30


def aggregates_path(cache_dir: Path, inputs: list[str], request: SeriesRequest) -> Path:
    """The aggregates entry of ``request`` over tick files with content hashes ``inputs``.

    The key covers everything that determines the rows: the tick files' content, the
    aggregation parameters and the range ``[from, to)`` itself (empty buckets run to ``--to``,
    so two ranges over the same ticks give different rows).
    """
    return entry_path(cache_dir, inputs, request.params.key(), request.from_ns, request.to_ns)


def estimate_rows(request: SeriesRequest, tick_rows: int) -> int:
    """An upper bound of the output's rows: buckets in the range (time mode), else ticks."""
    if request.params.mode == "time":
        step = request.params.step_ns
        return (request.to_ns - 1) // step - request.from_ns // step + 1
    return tick_rows


def estimate_bytes(request: SeriesRequest, rows: int) -> int:
    """Rough output size: 8 bytes a value in Parquet, ~20 characters a value in CSV."""
    per_value = 8 if request.out_format == "parquet" else 20
    return rows * per_value * (1 + len(request.fields))


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    """Name ``path`` in a file system failure raised here (two files are written at once, so
    an unnamed pyarrow error must not be put down to the other one)."""
    try:
        yield
    except OSError as exc:
        raise storage_error(path, exc) from exc


class _Sinks:
    """The output file (and, when kept, the aggregates entry), written as blocks arrive.

    Both go to temporary names and are renamed into place by :meth:`close` (the entry with
    its seal written after it); any failure removes both temporary files.
    """

    def __init__(self, request: SeriesRequest, out: Path, entry: Path | None) -> None:
        self.request = request
        self.summary = AggregateSummary()
        self._stack = contextlib.ExitStack()
        self._out = out
        try:
            self._open(request, out, entry)
        except BaseException as exc:
            self.abort(exc)  # temporary files removed; a file system error becomes one line
            raise

    def _open(self, request: SeriesRequest, out: Path, entry: Path | None) -> None:
        schema = aggregate_schema(request.fields)
        self._sidecar: dict[str, str] | None = None  # set by close(): publish the CSV's pair
        if request.out_format == "csv":
            clean_leftovers(out)
        self._out_tmp = self._stack.enter_context(atomic_path(out))
        # runs after the CSV writer is closed and before the rename (an ExitStack unwinds in
        # reverse): the sidecar is published first, so no reader sees the CSV without it
        self._stack.push(self._seal_csv)
        if request.out_format == "parquet":
            # as an entry is encoded (docs/series.md), with the timestamp's min/max statistics
            # for readers that skip row groups by time: against plain zstd pages, 12 % fewer
            # bytes in half the encoding time (issue 16)
            encoding = parquet_encoding(("timestamp",), request.fields, statistics=["timestamp"])
            self._pq = pq.ParquetWriter(self._out_tmp, schema, store_schema=False, **encoding)
            self._stack.callback(self._pq.close)
        else:
            self._csv = pacsv.CSVWriter(str(self._out_tmp), schema)
            self._stack.callback(self._csv.close)
        self._entry_writer = EntryWriter(entry, self._stack) if entry is not None else None
        # Row groups of one day, encoded and compressed on one thread of its own (overlapping
        # the kernel), the output's then the entry's; waited for before the writers close
        # (pushed after them: the stack unwinds it first).
        self._bg = Background(self._write_group)
        self._stack.callback(self._bg.close, quiet=True)
        self._groups = DayRowGroups(self._bg.submit)

    def _write_group(self, group: AggregateArrays) -> None:
        with _writing(self._out):
            if self.request.out_format == "parquet":
                self._pq.write_table(group.to_arrow(self.request.fields))
            else:
                self._csv.write(group.to_arrow(self.request.fields))
        if self._entry_writer is not None:
            with _writing(self._entry_writer.path):
                self._entry_writer.write_group(group)

    def _seal_csv(self, exc_type: type[BaseException] | None, *_: object) -> bool:
        if exc_type is None and self._sidecar is not None:  # only on success, never aborting
            with _writing(self._out):
                seal_csv(self._out_tmp, self._out, self._sidecar)
        return False

    def add(self, block: AggregateArrays) -> None:
        self.summary.add(block)
        self._groups.add(block)  # a write's error is raised here or by close(), naming its file

    def close(self, counts: FilterCounts, metadata: dict[str, str]) -> None:
        self._groups.flush()
        self._bg.wait()
        with _writing(self._out):
            if self.request.out_format == "parquet":
                if self.summary.rows == 0:
                    self._pq.write_table(aggregate_schema(self.request.fields).empty_table())
                self._pq.add_key_value_metadata(metadata)
        if self._entry_writer is not None:
            with _writing(self._entry_writer.path):
                self._entry_writer.finish(counts)
        if self.request.out_format == "csv":
            self._sidecar = metadata
        self._stack.close()  # writers closed, files fsynced and renamed, entry before its seal
        if self._entry_writer is not None:
            self._entry_writer.seal()

    def abort(self, exc: BaseException) -> None:
        self._stack.__exit__(type(exc), exc, exc.__traceback__)


def aggregate_blocks(
    ticks: TickSet, params: AggregationParams, end_ns: int, agg: Aggregator | None = None
) -> Iterator[AggregateArrays]:
    """Stream a tick set through an :class:`Aggregator` in bounded blocks (decode overlapped
    with aggregation); the filter counts are ``agg.counts`` once the iterator is exhausted."""
    agg = agg if agg is not None else Aggregator(params)
    with progress.current().task("aggregating", total=ticks.rows, unit="ticks") as task:
        for c, age, path, first in ticks.aged_chunks():
            yield from agg.update_blocks(c.ts, c.bid, c.ask, c.vbid, c.vask, age, source=path,
                                         row_offset=first)  # fmt: skip
            task.advance(len(c.ts))
        yield from agg.finish_blocks(end_ns)


def aggregate_tick_set(
    ticks: TickSet, params: AggregationParams, end_ns: int
) -> tuple[AggregateArrays, FilterCounts]:
    """All aggregates of a tick set in memory (small ranges, notebooks, benchmarks)."""
    agg = Aggregator(params)
    parts = list(aggregate_blocks(ticks, params, end_ns, agg))
    return AggregateArrays.concat(parts), agg.counts


# -- output ---------------------------------------------------------------------------------------
def output_name(request: TicksRequest, suffix: str, ext: str) -> str:
    """``{base}-{quote}_{sources}_{from}-{to}_{suffix}.{ext}``, lower case.

    Sources are joined with ``+``; a model spec appears as its slug, e.g.
    ``gbm(0.05,0.5,50000)`` -> ``gbm-0.05-0.5-50000`` (a minus sign becomes ``n``).
    """
    specs = request.specs()
    sources = "+".join(s.slug() for s in specs)
    span = f"{format_range_part(request.from_ns)}-{format_range_part(request.to_ns)}"
    if request.seed != 0 and any(s.args is not None for s in specs):
        suffix = f"{suffix}_seed{request.seed}"  # the seed changes only a model's ticks
    return f"{request.base}-{request.quote}_{sources}_{span}_{suffix}.{ext}".lower()


#: More fields than this are named by their count and a hash, not one by one.
_FIELDS_SPELLED_OUT = 4


def series_suffix(request: SeriesRequest) -> str:
    """The part of a ``series`` file name after the range: every option that changes the bytes.

    ``{mode}-{step}``, then one readable part per option that is not at its default:
    ``ttl{ms}``, ``dev{ratio}``, the weight mode, ``w{w1}-{w2}``, and the fields
    (``f-open+close``; more than four as ``f{n}-{hash}``, 6 hex digits of SHA-256 of the list).
    Defaults add nothing, so two runs share a name exactly when they share every option.
    """
    p = request.params
    default = AggregationParams(mode=p.mode, step=p.step)
    parts = [f"{p.mode}-{_step_text(p)}"]
    if p.tick_ttl_ms != default.tick_ttl_ms:
        parts.append(f"ttl{format_number(p.tick_ttl_ms)}")
    if p.tick_max_deviation != default.tick_max_deviation:
        parts.append(f"dev{format_number(p.tick_max_deviation)}")
    if request.weight_mode != "static":
        parts.append(request.weight_mode)
    if request.weights is not None:
        parts.append("w" + "-".join(format_number(w).replace("-", "n") for w in request.weights))
    if request.fields != AGGREGATE_FIELDS:
        names = [f.replace("_", "-") for f in request.fields]
        if len(names) <= _FIELDS_SPELLED_OUT:
            parts.append("f-" + "+".join(names))
        else:
            digest = hashlib.sha256("|".join(request.fields).encode()).hexdigest()[:6]
            parts.append(f"f{len(names)}-{digest}")
    return "_".join(parts)


def rebuilding(job: Callable[[], _T], *, attempts: int = 3) -> _T:
    """Run ``job``; when it meets a damaged cache entry, evict it (a warning) and run it again,
    so the entry is rebuilt from the tier below. A damage that persists is an error."""
    for attempt in range(attempts):
        try:
            return job()
        except CorruptEntryError as exc:
            if attempt == attempts - 1:
                raise
            evict(exc.entry, f"{exc.file}: damaged cache file ({exc.reason})")
    raise AssertionError("unreachable")


def build_series(request: SeriesRequest) -> SeriesResult:
    """Run the main job; return the output path, a summary of its rows and the filter counts.

    Rows stream from the aggregates tier (or from the tick set through the aggregator) to the
    output file in blocks of at most ``BLOCK_ROWS``, so memory does not grow with the range or
    the step. A damaged cache file met on the way is evicted and rebuilt (:func:`rebuilding`).
    """
    return rebuilding(lambda: _build_series(request))


def _build_series(request: SeriesRequest) -> SeriesResult:
    started = time.perf_counter()
    ticks = build_ticks(request)
    inputs = ticks.ticks.content_hashes()
    agg_path = aggregates_path(request.cache_dir, inputs, request)
    rows = estimate_rows(request, ticks.ticks.rows)
    size = estimate_bytes(request, rows)
    if size > LARGE_OUTPUT_BYTES:
        warn(
            f"this output will hold up to {rows:,} rows, about {_size_text(size)} "
            f"({request.out_format}); a larger --agg-step or a shorter range makes it smaller"
        )
    pull_sealed(agg_path, seal_path(agg_path))  # inside a shared lake: its published copy
    cached = read_entry(agg_path)
    metadata = {
        "seriesfactory.version": __version__,
        "seriesfactory.base": request.base,
        "seriesfactory.quote": request.quote,
        "seriesfactory.sources": json.dumps(ticks.sources),
        "seriesfactory.seed": str(request.seed),
        "seriesfactory.from": str(request.from_ns),
        "seriesfactory.to": str(request.to_ns),
        "seriesfactory.params": json.dumps(
            {
                **request.params.key(),
                "fields": list(request.fields),
                "weight_mode": request.weight_mode,
                "weights": list(request.weights) if request.weights else "equal",
            }
        ),
        "seriesfactory.inputs": json.dumps(
            [{"file": f.path.name, "sha256": f.sha256} for f in ticks.ticks.files]
        ),
    }
    out = request.output_dir / output_name(request, series_suffix(request), request.out_format)
    keep_entry = cached is None and rows * ENTRY_MIN_TICKS_PER_ROW <= ticks.ticks.rows
    sinks = _Sinks(request, out, agg_path if keep_entry else None)
    try:
        if cached is not None:
            blocks, counts = cached
            for block in blocks:
                sinks.add(block)
        else:
            agg = Aggregator(request.params)
            for block in aggregate_blocks(ticks.ticks, request.params, request.to_ns, agg):
                sinks.add(block)
            counts = agg.counts
        metadata["seriesfactory.filters"] = json.dumps(dataclasses.asdict(counts))
        sinks.close(counts, metadata)
    except BaseException as exc:
        sinks.abort(exc)
        raise
    push_sealed(agg_path, seal_path(agg_path))  # inside a shared lake: the entry, seal last
    return SeriesResult(
        summary=sinks.summary,
        counts=counts,
        output=out,
        metadata=metadata,
        out_format=request.out_format,
        from_cache={"ticks": not ticks.generated, "aggregates": cached is not None},
        seconds=time.perf_counter() - started,
    )


def _size_text(size: int) -> str:
    return f"{size / 1e9:,.1f} GB" if size >= 1e9 else f"{size / 1e6:,.1f} MB"


def _step_text(params: AggregationParams) -> str:
    return format_number(params.step)


def write_ticks_file(
    request: TicksRequest, *, out_format: OutFormat, output_dir: Path
) -> tuple[Path, TicksResult]:
    """The ``ticks`` command: write the requested tick series to one file, a day at a time."""
    return rebuilding(lambda: _write_ticks_file(request, out_format, output_dir))


def _write_ticks_file(
    request: TicksRequest, out_format: OutFormat, output_dir: Path
) -> tuple[Path, TicksResult]:
    result = build_ticks(request)
    out = output_dir / output_name(request, "ticks", out_format)
    metadata = {
        "seriesfactory.version": __version__,
        "seriesfactory.sources": json.dumps(result.sources),
        "seriesfactory.seed": str(request.seed),
        "seriesfactory.inputs": json.dumps(
            [{"file": f.path.name, "sha256": f.sha256} for f in result.ticks.files]
        ),
    }
    task = progress.current().task("writing ticks", total=result.ticks.rows, unit="ticks")
    tables = _counted(result.ticks.day_tables(), task)
    first = next(tables, None)
    schema = first.schema if first is not None else TICK_SCHEMA
    if out_format == "csv":
        clean_leftovers(out)
    with atomic_path(out) as tmp:
        if out_format == "parquet":
            with pq.ParquetWriter(tmp, schema, compression="zstd", store_schema=False) as w:
                for table in itertools.chain([first] if first is not None else [], tables):
                    w.write_table(table, row_group_size=max(table.num_rows, 1))
                if first is None:
                    w.write_table(schema.empty_table())
                w.add_key_value_metadata(metadata)
        else:
            with pacsv.CSVWriter(str(tmp), schema) as cw:
                for table in itertools.chain([first] if first is not None else [], tables):
                    cw.write_table(table)
            seal_csv(tmp, out, metadata)  # the sidecar first, then the CSV (a pair)
    task.close()
    return out, result


def _counted(tables: Iterator[pa.Table], task: progress.Task) -> Iterator[pa.Table]:
    for table in tables:
        task.advance(table.num_rows)
        yield table
