"""Where the lake and the outputs live: a local folder, or a folder of an object store.

``--cache-dir`` and ``--output-dir`` take a path, a ``file://`` URL (both become a
:class:`~pathlib.Path` and keep the local code, which never goes through fsspec), or an
fsspec URL: ``s3://bucket/prefix`` (s3fs; the ``[s3]`` extra) or ``memory://name``
(fsspec's in-process store, for tests). :func:`parse_location` tells them apart.

On an object store (docs/scale.md, "The lake on shared storage"):

- *Atomic publish.* An object is uploaded to a temporary key ``.tmp-<id>-<name>`` beside
  its final key, then copied to the final key on the server (one ``CopyObject``: the final
  key appears whole or not at all) and the temporary key is deleted (:func:`put_atomic`).
  Readers ignore ``.tmp-`` keys; a publish of the same name later removes temporary keys
  over an hour old (a writer killed mid-upload).
- *A manifest written last.* :func:`publish_files` publishes a group of files (a CSV and
  its sidecar) and then writes one manifest entry ``_manifest/<first name>.json`` listing
  each file's size and CRC-32; a reader trusts only what a manifest entry lists, with that
  size (:func:`published`, :func:`read_published`). One entry per published name (not one
  ``_manifest.json`` per folder) so that writers publishing different names into the same
  folder at once (the workers of a universe job) never lose each other's entries.
- *Retries.* Every call is retried on a 5xx reply or a timeout with the project's one
  backoff (:mod:`seriesfactory.core.backoff`); s3fs's and botocore's own retries are
  turned off so there is one rule. An endpoint that refuses connections or does not
  resolve fails at once: one :class:`~seriesfactory.errors.StorageError` line naming the URL.
- *Ranged reads.* :func:`open_input` gives pyarrow a file that fetches exactly the byte
  ranges the reader asks for (the Parquet footer, then the row groups and columns it
  needs), each range one retried request: never a whole-object download.

fsspec and s3fs are imported on first use, never when the CLI loads.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from seriesfactory.core.backoff import backoff_delay_s
from seriesfactory.errors import InputError, StorageError

__all__ = [
    "MANIFEST_DIR",
    "PROTOCOLS",
    "TMP_PREFIX",
    "FileEntry",
    "ObjectInfo",
    "Remote",
    "StorageOptions",
    "call",
    "check_reachable",
    "exists",
    "is_url",
    "list_names",
    "open_input",
    "parse_location",
    "publish_files",
    "published",
    "put_atomic",
    "read_bytes",
    "read_published",
    "remove",
    "stat",
    "stats",
    "unpublish",
    "walk",
    "write_bytes_atomic",
]

T = TypeVar("T")

#: Temporary names (the same prefix as local temporary files, core/atomic.py).
TMP_PREFIX = ".tmp-"
#: A temporary key older than this (s) belongs to no live writer.
STALE_TEMP_S = 3600.0
#: The folder of manifest entries inside a published folder.
MANIFEST_DIR = "_manifest"
MANIFEST_VERSION = 1
#: URL schemes that name an object store (``file://`` is a local path).
PROTOCOLS = ("s3", "memory")


@dataclass(frozen=True, slots=True)
class StorageOptions:
    """How to reach the object store: from the TOML config / ``SERIESFACTORY_S3_*``, else
    the usual ``AWS_*`` variables (read by botocore itself), else botocore's defaults."""

    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    #: Retries of one call after a 5xx reply or a timeout (then the error is raised).
    retries: int = 5
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    backoff_base_s: float = 0.2
    backoff_max_s: float = 5.0

    def endpoint(self, env: Mapping[str, str] | None = None) -> str:
        """The endpoint a message names: the configured one, ``$AWS_ENDPOINT_URL[_S3]``, or AWS."""
        environ = os.environ if env is None else env
        return (
            self.endpoint_url
            or environ.get("AWS_ENDPOINT_URL_S3")
            or environ.get("AWS_ENDPOINT_URL")
            or "AWS S3"
        )


@dataclass(frozen=True, slots=True)
class Remote:
    """A folder or an object of an object store: ``protocol://path``."""

    protocol: str
    #: The fsspec path: ``bucket/key`` for s3, ``/name`` for memory.
    path: str
    options: StorageOptions = field(default=StorageOptions(), compare=False)

    @property
    def url(self) -> str:
        return f"{self.protocol}://{self.path.lstrip('/')}"

    def __str__(self) -> str:
        return self.url

    def __truediv__(self, name: str) -> Remote:
        return Remote(self.protocol, f"{self.path.rstrip('/')}/{name}", self.options)

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    @property
    def parent(self) -> Remote:
        head = self.path.rstrip("/").rsplit("/", 1)[0]
        return Remote(self.protocol, head, self.options)

    @property
    def bucket(self) -> str:
        return self.path.lstrip("/").split("/", 1)[0]


def is_url(text: str | Path) -> bool:
    """True for an object-store URL (``s3://``, ``memory://``); paths and ``file://`` are not."""
    if isinstance(text, Path):
        return False
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.lower() != "file"


def parse_location(
    text: str | Path, *, option: str, options: StorageOptions | None = None
) -> Path | Remote:
    """A local :class:`Path` (a path or ``file://`` URL) or a :class:`Remote` (s3, memory).

    Raises :class:`InputError` (naming ``option``) for another scheme or an s3 URL with no
    bucket.
    """
    if isinstance(text, Path):
        return text
    scheme, sep, rest = text.partition("://")
    if not sep:
        return Path(text)
    scheme = scheme.lower()
    if scheme == "file":
        parsed = urllib.parse.urlparse(text)
        if parsed.netloc not in ("", "localhost"):
            raise InputError(
                f"{option} {text}: a file:// URL names this machine's files; "
                "write file:///absolute/path or a plain path"
            )
        return Path(urllib.parse.unquote(parsed.path))
    if scheme not in PROTOCOLS:
        raise InputError(
            f"{option} {text}: unsupported URL scheme {scheme!r}; use a path, file://, "
            "s3://bucket/prefix or memory://name"
        )
    rest = rest.strip("/")
    if not rest:
        raise InputError(f"{option} {text}: no bucket; write {scheme}://bucket/prefix")
    if ".." in rest.split("/") or any(c in rest for c in "\\\x00"):
        raise InputError(f"{option} {text}: '..', backslashes and NUL are refused in a URL")
    path = rest if scheme == "s3" else "/" + rest
    return Remote(scheme, path, options or StorageOptions())


# ---------------------------------------------------------------------------------------
# The file system of a protocol, one per process (s3fs's event loop does not survive fork)

_FS: dict[tuple[object, ...], Any] = {}
_FS_LOCK = threading.Lock()
#: The variables botocore reads that change which store a file system talks to.
_AWS_VARS = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
)


def _filesystem(remote: Remote) -> Any:
    env = tuple(os.environ.get(v) for v in _AWS_VARS)
    key = (os.getpid(), remote.protocol, remote.options, env)
    with _FS_LOCK:
        fs = _FS.get(key)
        if fs is None:
            fs = _FS[key] = _new_filesystem(remote)
    return fs


def _new_filesystem(remote: Remote) -> Any:
    try:
        import fsspec
    except ImportError:
        raise StorageError(
            f"{remote.url}: object stores need the s3 extra; pip install 'seriesfactory[s3]'"
        ) from None
    if remote.protocol == "memory":
        return fsspec.filesystem("memory")
    try:
        import s3fs
    except ImportError:
        raise StorageError(
            f"{remote.url}: s3:// needs the s3 extra; pip install 'seriesfactory[s3]'"
        ) from None
    opts = remote.options
    client_kwargs: dict[str, Any] = {}
    if opts.endpoint_url:
        client_kwargs["endpoint_url"] = opts.endpoint_url
    if opts.region:
        client_kwargs["region_name"] = opts.region
    fs = s3fs.S3FileSystem(
        key=opts.access_key_id,
        secret=opts.secret_access_key,
        client_kwargs=client_kwargs,
        config_kwargs={
            "connect_timeout": opts.connect_timeout_s,
            "read_timeout": opts.read_timeout_s,
            "retries": {"total_max_attempts": 1, "mode": "standard"},
        },
        skip_instance_cache=True,
        use_listings_cache=False,
    )
    fs.retries = 1  # one retry rule (ours): s3fs's loop makes one attempt, botocore's none again
    return fs


# ---------------------------------------------------------------------------------------
# Retries and the one-line errors


@dataclass
class Stats:
    """Requests made and bytes fetched by :func:`open_input` files (tests, benchmarks)."""

    range_requests: int = 0
    range_bytes: int = 0
    retries: int = 0


stats = Stats()

#: Exception type names (any module) of a transient failure: a timeout or a broken reply.
_TRANSIENT_NAMES = frozenset(
    {
        "ReadTimeoutError",
        "ConnectTimeoutError",
        "TimeoutError",
        "ServerTimeoutError",
        "FSTimeoutError",
        "ClientPayloadError",
        "ServerDisconnectedError",
        "ResponseStreamingError",
        "IncompleteReadError",
        "IncompleteRead",
        "ResponseParserError",
        "ClientOSError",
    }
)
#: Type names of an endpoint that cannot be reached at all (refused, unresolvable).
_UNREACHABLE_NAMES = frozenset(
    {"EndpointConnectionError", "ConnectionRefusedError", "ClientConnectorError", "gaierror"}
)
_TRANSIENT_CODES = frozenset(
    {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "503", "500"}
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _http(exc: BaseException) -> tuple[int, str] | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        code = str(response.get("Error", {}).get("Code", ""))
        return status, code
    return None


def _classify(exc: BaseException) -> str:
    """``unreachable``, ``transient`` or ``final`` (not worth retrying)."""
    for e in _chain(exc):
        name = type(e).__name__
        if name in _UNREACHABLE_NAMES:
            return "unreachable"
        http = _http(e)
        if http is not None:
            status, code = http
            return "transient" if status >= 500 or code in _TRANSIENT_CODES else "final"
        if name in _TRANSIENT_NAMES:
            return "transient"
    return "final"


def _reason(exc: BaseException) -> str:
    for e in _chain(exc):
        http = _http(e)
        if http is not None:
            status, code = http
            return f"HTTP {status} {code}".strip()
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def call(remote: Remote, what: str, fn: Callable[[], T]) -> T:
    """``fn()``, retried on a 5xx reply or a timeout with the project's backoff.

    ``what`` is the verb of the message (``write``, ``read``, ...). A missing object stays a
    :class:`FileNotFoundError`; every other failure is one :class:`StorageError` line.
    """
    opts = remote.options
    rng = random.Random()
    for attempt in range(opts.retries + 1):
        try:
            return fn()
        except FileNotFoundError:
            raise
        except Exception as exc:
            kind = _classify(exc)
            if kind == "unreachable":
                raise _unreachable(remote, exc) from exc
            if kind == "final" or attempt == opts.retries:
                tries = f" after {attempt + 1} tries" if kind == "transient" else ""
                raise StorageError(
                    f"cannot {what} {remote.url}: {_reason(exc)}{tries}; nothing partial "
                    "was published (check the store and rerun)"
                ) from exc
            stats.retries += 1
            time.sleep(
                backoff_delay_s(
                    attempt, base_s=opts.backoff_base_s, cap_s=opts.backoff_max_s, rng=rng
                )
            )
    raise AssertionError("unreachable")  # pragma: no cover (the loop returns or raises)


def _unreachable(remote: Remote, exc: BaseException) -> StorageError:
    return StorageError(
        f"cannot reach {remote.url} (endpoint {remote.options.endpoint()}): {_reason(exc)}; "
        "check the URL, s3_endpoint_url / AWS_ENDPOINT_URL and the network"
    )


def check_reachable(remote: Remote) -> None:
    """Fail fast (one line, no retries) unless the store answers and the bucket exists."""
    fs = _filesystem(remote)
    if remote.protocol == "memory":
        return
    try:
        fs.ls(remote.bucket, detail=False)
    except FileNotFoundError:
        raise StorageError(
            f"{remote.url}: no bucket {remote.bucket!r} at {remote.options.endpoint()}; "
            "create it or fix the URL"
        ) from None
    except Exception as exc:
        if _classify(exc) == "unreachable":
            raise _unreachable(remote, exc) from exc
        call(remote, "list", lambda: fs.ls(remote.bucket, detail=False))


# ---------------------------------------------------------------------------------------
# Objects


def exists(remote: Remote) -> bool:
    fs = _filesystem(remote)
    return bool(call(remote, "check", lambda: fs.exists(remote.path)))


def read_bytes(remote: Remote) -> bytes:
    """The whole object (small ones: manifests, records); FileNotFoundError when absent."""
    fs = _filesystem(remote)
    return bytes(call(remote, "read", lambda: fs.cat_file(remote.path)))


def remove(remote: Remote) -> None:
    """Delete an object (absent is fine)."""
    fs = _filesystem(remote)
    with contextlib.suppress(FileNotFoundError):
        call(remote, "delete", lambda: fs.rm_file(remote.path))


def list_names(folder: Remote) -> list[str]:
    """Names directly under ``folder`` (temporary names excluded); [] when it is absent."""
    fs = _filesystem(folder)
    try:
        entries = call(folder, "list", lambda: fs.ls(folder.path, detail=False, refresh=True))
    except FileNotFoundError:
        return []
    names = (str(e).rstrip("/").rsplit("/", 1)[-1] for e in entries)
    return sorted(n for n in names if not n.startswith(TMP_PREFIX))


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One object found by :func:`walk`: its key below the folder, size, last write."""

    name: str
    size: int
    #: Seconds since the epoch the object was last written (None: the store did not say).
    modified_s: float | None


def _stamp(info: dict[str, Any]) -> float | None:
    modified: Any = info.get("LastModified") or info.get("created")
    if isinstance(modified, int | float):
        return float(modified)
    return float(modified.timestamp()) if hasattr(modified, "timestamp") else None


def walk(folder: Remote) -> list[ObjectInfo]:
    """Every object under ``folder`` at any depth, temporary keys included, sorted by key;
    [] when there is none. One listing (paged by the store), no object is read."""
    fs = _filesystem(folder)
    try:
        found = call(folder, "list", lambda: fs.find(folder.path, detail=True))
    except FileNotFoundError:
        return []
    base = folder.path.rstrip("/") + "/"
    out: list[ObjectInfo] = []
    for path, info in dict(found).items():
        key = str(path)
        if info.get("type") == "directory" or not key.startswith(base):
            continue
        out.append(ObjectInfo(key[len(base) :], int(info.get("size") or 0), _stamp(info)))
    return sorted(out, key=lambda o: o.name)


def stat(remote: Remote) -> ObjectInfo | None:
    """The object's size and last write (its ``name``: the key's last part); None when absent."""
    fs = _filesystem(remote)
    try:
        info = call(remote, "check", lambda: fs.info(remote.path))
    except FileNotFoundError:
        return None
    if info.get("type") == "directory":
        return None
    return ObjectInfo(remote.name, int(info.get("size") or 0), _stamp(info))


def _temp_key(final: Remote) -> Remote:
    return final.parent / f"{TMP_PREFIX}{uuid.uuid4().hex[:12]}-{final.name}"


def _sweep_stale_temps(final: Remote) -> None:
    """Remove temporary keys of ``final`` older than STALE_TEMP_S (writers killed mid-upload)."""
    fs = _filesystem(final)
    folder = final.parent
    try:
        entries = call(folder, "list", lambda: fs.ls(folder.path, detail=True, refresh=True))
    except FileNotFoundError:
        return
    now = time.time()
    suffix = f"-{final.name}"
    for entry in entries:
        name = str(entry.get("name", "")).rsplit("/", 1)[-1]
        if not (name.startswith(TMP_PREFIX) and name.endswith(suffix)):
            continue
        modified = entry.get("LastModified") or entry.get("created")
        stamp = modified.timestamp() if hasattr(modified, "timestamp") else None
        if stamp is not None and now - stamp > STALE_TEMP_S:
            remove(folder / name)


def _publish_temp(tmp: Remote, final: Remote) -> None:
    """Make the uploaded ``tmp`` visible as ``final`` in one step, then drop ``tmp``."""
    fs = _filesystem(final)
    if final.protocol == "s3":
        call(final, "publish", lambda: fs.copy(tmp.path, final.path))  # one CopyObject
        remove(tmp)
    else:
        call(final, "publish", lambda: fs.mv(tmp.path, final.path))


def _write_via_temp(final: Remote, write: Callable[[Any, str], None]) -> Remote:
    """``write(fs, temporary key)``, then publish that key whole as ``final``; on any failure
    the temporary key is removed."""
    fs = _filesystem(final)
    _sweep_stale_temps(final)
    tmp = _temp_key(final)
    try:
        call(final, "write", lambda: write(fs, tmp.path))
        _publish_temp(tmp, final)
    except BaseException:
        with contextlib.suppress(Exception):
            fs.rm_file(tmp.path)
        raise
    return final


def put_atomic(local: Path, final: Remote) -> Remote:
    """Upload the file ``local`` to ``final``: a temporary key first, then published whole."""
    return _write_via_temp(final, lambda fs, key: fs.put_file(str(local), key))


def write_bytes_atomic(final: Remote, data: bytes) -> Remote:
    """Write ``data`` to ``final`` through a temporary key (see :func:`put_atomic`)."""
    return _write_via_temp(final, lambda fs, key: fs.pipe_file(key, data))


# ---------------------------------------------------------------------------------------
# Manifests


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A published file as its manifest entry lists it."""

    name: str
    bytes: int
    crc32: int


def _crc32_file(path: Path) -> tuple[int, int]:
    from isal import isal_zlib

    crc = size = 0
    with open(path, "rb") as fh:
        while block := fh.read(8 << 20):
            crc = isal_zlib.crc32(block, crc)
            size += len(block)
    return size, int(crc)


def _entry_key(folder: Remote, name: str) -> Remote:
    return folder / MANIFEST_DIR / f"{name}.json"


def unpublish(folder: Remote, name: str) -> None:
    """Withdraw the manifest entry of ``name`` (first, before its files are replaced)."""
    remove(_entry_key(folder, name))


def publish_files(folder: Remote, files: Sequence[Path]) -> list[Remote]:
    """Publish local ``files`` (a group: the first names it) into ``folder``, manifest last.

    The group's old manifest entry is withdrawn first, so while the files are replaced
    no reader trusts either version; each file is published atomically; then the entry
    ``_manifest/<first name>.json`` lists every file's size and CRC-32.
    """
    if not files:
        return []
    unpublish(folder, files[0].name)
    entries: list[dict[str, Any]] = []
    out: list[Remote] = []
    for path in files:
        size, crc = _crc32_file(path)
        out.append(put_atomic(path, folder / path.name))
        entries.append({"name": path.name, "bytes": size, "crc32": crc})
    doc = {"version": MANIFEST_VERSION, "files": entries, "published_ns": time.time_ns()}
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    write_bytes_atomic(_entry_key(folder, files[0].name), text.encode())
    return out


def published(folder: Remote) -> dict[str, FileEntry]:
    """Every file the manifest entries of ``folder`` list, by name (what readers may trust)."""
    out: dict[str, FileEntry] = {}
    for name in list_names(folder / MANIFEST_DIR):
        if not name.endswith(".json"):
            continue
        try:
            doc = json.loads(read_bytes(folder / MANIFEST_DIR / name))
            files = [
                FileEntry(str(f["name"]), int(f["bytes"]), int(f["crc32"])) for f in doc["files"]
            ]
        except FileNotFoundError:
            continue  # withdrawn meanwhile: being republished
        except (ValueError, KeyError, TypeError) as exc:
            raise StorageError(
                f"{folder / MANIFEST_DIR / name}: unreadable manifest ({exc})"
            ) from exc
        for f in files:
            out[f.name] = f
    return out


def read_published(remote: Remote) -> bytes:
    """A published file's bytes, checked against its manifest entry (size and CRC-32)."""
    from isal import isal_zlib

    entry = published(remote.parent).get(remote.name)
    if entry is None:
        raise FileNotFoundError(f"{remote.url} is not published (no manifest entry lists it)")
    data = read_bytes(remote)
    if len(data) != entry.bytes or int(isal_zlib.crc32(data)) != entry.crc32:
        raise StorageError(
            f"{remote.url}: {len(data):,} bytes do not match its manifest entry "
            f"({entry.bytes:,} bytes, CRC-32 {entry.crc32}); republish it"
        )
    return data


# ---------------------------------------------------------------------------------------
# Ranged reads


class _RangedFile(io.RawIOBase):
    """A read-only, seekable file of one object: each read is one ranged, retried GET."""

    def __init__(self, remote: Remote, size: int) -> None:
        super().__init__()
        self._remote = remote
        self._fs = _filesystem(remote)
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def size(self) -> int:
        return self._size

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = min(len(view), self._size - self._pos)
        if n <= 0:
            return 0
        start = self._pos
        data = call(
            self._remote,
            "read",
            lambda: self._fs.cat_file(self._remote.path, start=start, end=start + n),
        )
        got = len(data)
        view[:got] = data
        self._pos += got
        stats.range_requests += 1
        stats.range_bytes += got
        return got


def open_input(remote: Remote, *, size: int | None = None) -> Any:
    """A pyarrow file (``pyarrow.PythonFile``) of the object ``remote`` for ranged reads.

    ``size`` (from a manifest or a seal) saves the HEAD request. FileNotFoundError when
    the object is absent.
    """
    import pyarrow as pa

    if size is None:
        fs = _filesystem(remote)
        size = int(call(remote, "read", lambda: fs.size(remote.path)))
    return pa.PythonFile(_RangedFile(remote, size), mode="r")
