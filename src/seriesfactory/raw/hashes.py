"""SHA-256 of raw files, remembered beside them so a warm run does not read them again.

Every raw file's content hash is needed on every run: it is part of the ticks
tier's key (and Binance archives are checked against their ``.CHECKSUM``).
Reading a month of archives again only to find the hash already known costs
about a second per 100 M ticks, a fifth of a warm month through ``series``.

So when a file is hashed, the digest is written beside it in ``NAME.sha256``
(JSON: ``sha256``, and the ``size``, ``mtime_ns`` and ``inode`` of the file
that was hashed, taken from the open file). A later run uses the digest only
while the file still has that size, modification time and inode; any other
state (the file was replaced, rewritten, appended to, touched) hashes it again.

Raw files are written once under a temporary name and renamed into place, so a
new file has a new inode. The last-used time that the raw tier's LRU reads is
kept on the side files (:func:`seriesfactory.raw.cache.touch`), so using a file
does not change its own modification time.

What this cannot see is a file changed in place with its size, modification
time and inode all restored (deliberate tampering, or bit rot under the file
system). Reading such an archive still fails its zip or gzip CRC-32 check; to
force a full re-hash, delete the ``.sha256`` files or run ``cache clear``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from seriesfactory.core.atomic import atomic_write_json

__all__ = ["SUFFIX", "forget_sha256", "hash_file", "raw_sha256"]

#: Suffix of the side file holding a raw file's remembered hash.
SUFFIX = ".sha256"
_CHUNK = 1 << 22


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + SUFFIX)


def _stamp(st: os.stat_result) -> dict[str, int]:
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


def hash_file(path: Path) -> str:
    """SHA-256 (hex) of ``path``, read in full; the digest is remembered beside it."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        st = os.fstat(fh.fileno())
        while block := fh.read(_CHUNK):
            h.update(block)
    digest = h.hexdigest()
    atomic_write_json(_record_path(path), {"sha256": digest, **_stamp(st)})
    return digest


def raw_sha256(path: Path) -> str:
    """SHA-256 (hex) of ``path``: the remembered digest if the file is unchanged, else read."""
    try:
        doc = json.loads(_record_path(path).read_text())
        if (
            isinstance(doc, dict)
            and doc.get("sha256")
            and {k: doc.get(k) for k in ("size", "mtime_ns", "inode")} == _stamp(path.stat())
        ):
            return str(doc["sha256"])
    except (OSError, ValueError):
        pass  # no record, or an unreadable one: hash the file
    return hash_file(path)


def forget_sha256(path: Path) -> None:
    """Remove the remembered digest of ``path`` (the file is being deleted or replaced)."""
    with contextlib.suppress(FileNotFoundError):
        _record_path(path).unlink()
