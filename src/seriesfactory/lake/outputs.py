"""Publishing a command's output table: Parquet, or CSV with its ``.meta.json`` sidecar.

A Parquet output carries its metadata inside and is one atomic rename. A CSV output
is a pair, ``out.csv`` and ``out.csv.meta.json``, published both or neither:

1. the CSV is written to a temporary name and synced, and its SHA-256 computed;
2. the sidecar, holding the metadata plus ``seriesfactory.data_file`` (the CSV's
   name) and ``seriesfactory.data_sha256`` (its hash), is written to a temporary
   name and renamed into place;
3. the CSV is renamed into place.

A failure in 1 or 2 (a full disk, a read-only folder) removes both temporary files
and leaves any previous pair as it was. A reader therefore never sees a CSV without
a sidecar; between steps 2 and 3 (or after a crash there) it may see a sidecar
whose ``data_sha256`` does not match the CSV beside it (or with no CSV): that
sidecar is a leftover half, and :func:`publish_table` removes it before writing
again. Temporary files of an earlier crashed run that are over an hour old are
removed too (younger ones may belong to a run still writing).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.csv as pacsv

from seriesfactory.core.atomic import (
    TMP_PREFIX,
    atomic_path,
    atomic_write_json,
    atomic_write_parquet,
)
from seriesfactory.core.storage import Remote

__all__ = [
    "DATA_SHA256_KEY",
    "OutputFolder",
    "clean_leftovers",
    "output_folder",
    "publish_table",
    "seal_csv",
    "sidecar_path",
]

DATA_SHA256_KEY = "seriesfactory.data_sha256"
DATA_FILE_KEY = "seriesfactory.data_file"
#: Temporary files older than this (s) belong to no running writer.
_STALE_TMP_S = 3600.0


def sidecar_path(path: Path) -> Path:
    """``out.csv`` -> ``out.csv.meta.json``."""
    return path.with_name(path.name + ".meta.json")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def clean_leftovers(path: Path) -> list[Path]:
    """Remove a half-published pair's sidecar and stale temporary files of ``path``.

    A sidecar is a leftover half when its CSV is missing or its ``data_sha256``
    is not the CSV's. Returns what was removed.
    """
    removed: list[Path] = []
    side = sidecar_path(path)
    if side.is_file():
        try:
            recorded = json.loads(side.read_text()).get(DATA_SHA256_KEY)
        except (OSError, ValueError, AttributeError):
            recorded = None
        if recorded is not None and (not path.is_file() or _sha256(path) != recorded):
            side.unlink()
            removed.append(side)
    if path.parent.is_dir():
        now = time.time()
        for name in (path.name, side.name):
            for tmp in path.parent.glob(f"{TMP_PREFIX}*-{name}"):
                with contextlib.suppress(OSError):
                    if now - tmp.stat().st_mtime > _STALE_TMP_S:
                        tmp.unlink()
                        removed.append(tmp)
    return removed


def seal_csv(tmp: Path, final: Path, metadata: Mapping[str, Any]) -> None:
    """Steps 1-2 for a CSV streamed to ``tmp``: sync it, then publish its sidecar for ``final``.

    Call it after the CSV writer is closed and before ``tmp`` is renamed to ``final``
    (step 3, e.g. by leaving :func:`~seriesfactory.core.atomic.atomic_path`).
    """
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    meta = dict(metadata)
    meta[DATA_FILE_KEY] = final.name
    meta[DATA_SHA256_KEY] = _sha256(tmp)
    atomic_write_json(sidecar_path(final), meta)  # the sidecar first, then the CSV


def publish_table(
    path: Path,
    table: pa.Table,
    fmt: Literal["parquet", "csv"] | str,
    metadata: Mapping[str, Any] | None = None,
    *,
    row_group_offsets: list[int] | None = None,
) -> Path:
    """Write ``table`` to ``path`` as Parquet (metadata inside) or CSV plus sidecar.

    ``metadata`` values go into the sidecar as they are (JSON); into Parquet's key-value
    metadata as text (a value that is not a string as its JSON).
    """
    meta = dict(metadata or {})
    if fmt == "parquet":
        text = {k: v if isinstance(v, str) else json.dumps(v, default=str) for k, v in meta.items()}
        atomic_write_parquet(path, table, row_group_offsets=row_group_offsets, metadata=text)
        return path
    if fmt != "csv":
        raise ValueError(f"unknown output format {fmt!r}")
    clean_leftovers(path)
    with atomic_path(path) as tmp:
        pacsv.write_csv(table, tmp)
        seal_csv(tmp, path, meta)
    return path


@dataclass(frozen=True, slots=True)
class OutputFolder:
    """Where a command writes its outputs: ``local``, then :meth:`publish` each file.

    For a local ``--output-dir`` ``local`` is that folder and :meth:`publish` does nothing
    (the writers already rename into place). For an object store ``local`` is a private
    staging folder; :meth:`publish` uploads a file (and a CSV's sidecar) to ``remote``
    with a temporary key each, then its manifest entry (core/storage.py), so the bytes
    published are exactly the bytes a local run writes.
    """

    local: Path
    remote: Remote | None = None

    def publish(self, path: Path) -> str:
        """Publish the finished output ``path`` (in :attr:`local`); return where it now is."""
        if self.remote is None:
            return str(path)
        from seriesfactory.core.storage import publish_files

        files = [path]
        if path.suffix.lower() == ".csv" and sidecar_path(path).is_file():
            files.append(sidecar_path(path))
        return str(publish_files(self.remote, files)[0])


@contextlib.contextmanager
def output_folder(where: Path | Remote) -> Iterator[OutputFolder]:
    """An :class:`OutputFolder` for ``where``; a remote one is checked reachable first (one
    line, before any work) and its staging folder is removed on leaving."""
    if isinstance(where, Path):
        yield OutputFolder(where)
        return
    from seriesfactory.core.storage import check_reachable

    check_reachable(where)
    stage = Path(tempfile.mkdtemp(prefix="seriesfactory-out-"))
    try:
        yield OutputFolder(stage, where)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
