"""The main job: sources -> ticks tier -> aggregates tier -> output file.

:func:`build_ticks` makes sure the ticks tier holds the requested ticks and
returns them; :func:`build_series` aggregates them (or takes the aggregates
from the aggregates tier) and writes the output file. Both are what the
``ticks`` and ``series`` commands call, and what a notebook calls.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from seriesfactory import __version__
from seriesfactory.config import Settings, load_settings
from seriesfactory.core.atomic import (
    atomic_write_parquet,
    key_sha256,
    mark_used,
)
from seriesfactory.core.names import check_asset
from seriesfactory.core.time import NS_PER_DAY, format_range_part
from seriesfactory.errors import CacheError, InputError, SourceError
from seriesfactory.lake.outputs import publish_table
from seriesfactory.lake.ticks import TickSet, write_tick_set
from seriesfactory.schema import AGGREGATE_FIELDS
from seriesfactory.sources import SourceSpec, parse_sources, resolve_model
from seriesfactory.sources.registry import KNOWN_VENUES, resolve_venue
from seriesfactory.sources.spec import format_number
from seriesfactory.sources.synthetic import Model
from seriesfactory.transforms.aggregates import (
    AggregateArrays,
    AggregationParams,
    Aggregator,
    FilterCounts,
)

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
    table: pa.Table
    aggregates: AggregateArrays
    counts: FilterCounts
    output: Path
    metadata: dict[str, str]
    from_cache: dict[str, bool] = field(default_factory=dict)
    seconds: float = 0.0


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
def _single_model(request: TicksRequest) -> Model:
    specs = request.specs()
    models = [resolve_model(s) for s in specs]
    if len(models) != 1:
        raise SourceError(f"--sources names {len(models)} models; give one model")
    return models[0]


def _model_key(model: Model, request: TicksRequest) -> tuple[str, dict[str, Any]]:
    info = {
        **model.describe(),
        "seed": request.seed,
        "from_ns": request.from_ns,
        "to_ns": request.to_ns,
    }
    return key_sha256(info), info


def _model_root(cache_dir: Path, model: Model, key: str) -> Path:
    return cache_dir / "ticks" / "synthetic" / model.name / key[:16]


def _model_ticks(request: TicksRequest) -> TicksResult:
    model = _single_model(request)
    key, info = _model_key(model, request)
    root = _model_root(request.cache_dir, model, key)
    existing = TickSet.open(root)
    if existing is not None:
        return TicksResult(existing, [info], generated=False)
    chunks = model.stream(start_ns=request.from_ns, end_ns=request.to_ns, seed=request.seed)
    ticks = write_tick_set(root, key=key, chunks=chunks, info=info)
    return TicksResult(ticks, [info], generated=True)


def _venue_ticks(request: TicksRequest, spec: SourceSpec) -> TicksResult:
    from seriesfactory.pipeline.combine import HOME_QUOTES, cross_tick_set, needs_rebase
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
    home = HOME_QUOTES[venue]
    leg_base = pair(request.base, home)
    leg_quote = pair(request.quote, home)
    cross, built = cross_tick_set(
        request.cache_dir, venue, request.base, request.quote, (leg_base[0], leg_quote[0])
    )
    info = {"venue": venue, "rebased": f"{request.base}/{request.quote} via {home}",
            "legs": [leg_base[1], leg_quote[1]]}  # fmt: skip
    return TicksResult(cross, [info], generated=built or leg_base[2] or leg_quote[2])


def _one_source(request: TicksRequest, spec: SourceSpec) -> TicksResult:
    if spec.name in KNOWN_VENUES:
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
_AGG_COLUMNS = ("timestamp_ns", "start_ns", "tick_count")


def _aggregates_path(cache_dir: Path, inputs: list[str], params: AggregationParams) -> Path:
    inputs_key = key_sha256(inputs)
    params_key = key_sha256(params.key())
    return cache_dir / "aggregates" / inputs_key[:16] / f"{params_key[:16]}.parquet"


def _save_aggregates(path: Path, arrays: AggregateArrays, counts: FilterCounts) -> None:
    columns: dict[str, np.ndarray[Any, Any]] = {
        "timestamp_ns": arrays.timestamp_ns,
        "start_ns": arrays.start_ns,
        "tick_count": arrays.tick_count,
    }
    columns.update({name: arrays.column(name) for name in AGGREGATE_FIELDS})
    table = pa.table(columns)
    atomic_write_parquet(
        path,
        table,
        metadata={"seriesfactory.counts": json.dumps(dataclasses.asdict(counts))},
    )


def _load_aggregates(path: Path) -> tuple[AggregateArrays, FilterCounts] | None:
    if not path.is_file():
        return None
    try:
        table = pq.read_table(path)
        meta = table.schema.metadata or {}
        counts = FilterCounts(**json.loads(meta[b"seriesfactory.counts"]))
        fields = np.vstack([table.column(n).to_numpy() for n in AGGREGATE_FIELDS])
        ts, start, count = (table.column(c).to_numpy() for c in _AGG_COLUMNS)
        arrays = AggregateArrays(ts, start, count, fields.reshape(len(AGGREGATE_FIELDS), -1))
    except (OSError, KeyError, ValueError, pa.ArrowException) as exc:
        raise CacheError(f"{path}: unreadable aggregates ({exc}); delete it to rebuild") from exc
    mark_used(path)
    return arrays, counts


def aggregate_tick_set(
    ticks: TickSet, params: AggregationParams, end_ns: int
) -> tuple[AggregateArrays, FilterCounts]:
    """Stream a tick set through an :class:`Aggregator` (decode overlapped with aggregation)."""
    agg = Aggregator(params)
    parts = [
        agg.update(c.ts, c.bid, c.ask, c.vbid, c.vask, age, source=path, row_offset=first)
        for c, age, path, first in ticks.aged_chunks()
    ]
    parts.append(agg.finish(end_ns))
    return AggregateArrays.concat(parts), agg.counts


# -- output ---------------------------------------------------------------------------------------
def output_name(request: TicksRequest, suffix: str, ext: str) -> str:
    """``{base}-{quote}_{sources}_{from}-{to}_{suffix}.{ext}``, lower case.

    Sources are joined with ``+``; a model spec appears as its slug, e.g.
    ``gbm(0.05,0.5,50000)`` -> ``gbm-0.05-0.5-50000`` (a minus sign becomes ``n``).
    """
    sources = "+".join(s.slug() for s in request.specs())
    span = f"{format_range_part(request.from_ns)}-{format_range_part(request.to_ns)}"
    return f"{request.base}-{request.quote}_{sources}_{span}_{suffix}.{ext}".lower()


def _day_offsets(start_ns: np.ndarray[Any, Any]) -> list[int]:
    if start_ns.shape[0] == 0:
        return [0]
    days = start_ns // NS_PER_DAY
    return [0, *(np.flatnonzero(np.diff(days)) + 1).tolist()]


def _write_output(
    path: Path, table: pa.Table, offsets: list[int], metadata: dict[str, str], fmt: OutFormat
) -> None:
    publish_table(path, table, fmt, metadata, row_group_offsets=offsets)


def build_series(request: SeriesRequest) -> SeriesResult:
    """Run the main job; return the table written, the filter counts and the output path."""
    started = time.perf_counter()
    ticks = build_ticks(request)
    inputs = ticks.ticks.content_hashes()
    agg_path = _aggregates_path(request.cache_dir, inputs, request.params)
    cached = _load_aggregates(agg_path)
    if cached is None:
        arrays, counts = aggregate_tick_set(ticks.ticks, request.params, request.to_ns)
        _save_aggregates(agg_path, arrays, counts)
    else:
        arrays, counts = cached
    table = arrays.to_arrow(request.fields)
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
        "seriesfactory.filters": json.dumps(dataclasses.asdict(counts)),
    }
    suffix = f"{request.params.mode}-{_step_text(request.params)}"
    out = request.output_dir / output_name(request, suffix, request.out_format)
    _write_output(out, table, _day_offsets(arrays.start_ns), metadata, request.out_format)
    return SeriesResult(
        table=table,
        aggregates=arrays,
        counts=counts,
        output=out,
        metadata=metadata,
        from_cache={"ticks": not ticks.generated, "aggregates": cached is not None},
        seconds=time.perf_counter() - started,
    )


def _step_text(params: AggregationParams) -> str:
    return format_number(params.step)


def write_ticks_file(
    request: TicksRequest, *, out_format: OutFormat, output_dir: Path
) -> tuple[Path, TicksResult]:
    """The ``ticks`` command: write the requested tick series to one file."""
    result = build_ticks(request)
    table = result.ticks.read()
    out = output_dir / output_name(request, "ticks", out_format)
    metadata = {
        "seriesfactory.version": __version__,
        "seriesfactory.sources": json.dumps(result.sources),
        "seriesfactory.seed": str(request.seed),
        "seriesfactory.inputs": json.dumps(
            [{"file": f.path.name, "sha256": f.sha256} for f in result.ticks.files]
        ),
    }
    days = table.column("ts").cast(pa.int64()).to_numpy() if table.num_rows else np.empty(0)
    _write_output(out, table, _day_offsets(np.asarray(days)), metadata, out_format)
    return out, result
