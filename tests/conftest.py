"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

#: Recorded real exchange data shared by the project (read-only; see its PROVENANCE.md).
SHARED_REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


@pytest.fixture
def shared_real() -> Path:
    """The shared real-data folder; skips (saying why) where ``../shared`` is absent."""
    if not SHARED_REAL.is_dir():
        pytest.skip(f"{SHARED_REAL} is absent: the recorded real data lives only in ../shared")
    return SHARED_REAL


# -- a local archive mirror (exchange-history tests) ----------------------------------------------
import hashlib  # noqa: E402
import io  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import zipfile  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402

#: The recorded data.binance.vision mirror root.
BINANCE_VISION = SHARED_REAL / "binance" / "vision"


@dataclass
class Mirror:
    """A real HTTP server on 127.0.0.1 serving files from ``roots`` (first match wins).

    ``faults[path]`` is a queue of misbehaviours consumed one per request of that
    path: ``"500"``, ``"429"``, ``"truncate"`` (half the body, then close),
    ``"slow"`` (0.3 s before the body), ``"corrupt"`` (one byte flipped).
    ``requests`` logs ``(path, range header)`` of every request.
    """

    roots: list[Path]
    url: str = ""
    faults: dict[str, list[str]] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    routes: dict[str, bytes] = field(default_factory=dict)
    #: Dynamic routes: path -> function of the query parameters returning the body.
    handlers: dict[str, Callable[[dict[str, str]], bytes]] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)

    def body(self, path: str) -> bytes | None:
        if path in self.routes:
            return self.routes[path]
        for root in self.roots:
            f = (root / path.lstrip("/")).resolve()
            if f.is_file() and root.resolve() in f.parents:
                return f.read_bytes()
        return None

    def add_archive(self, root: Path, rel: str, csv_text: str, member: str | None = None) -> bytes:
        """Write ``rel`` (a zip holding ``csv_text``) and ``rel.CHECKSUM`` under ``root``."""
        buf = io.BytesIO()
        name = member if member is not None else Path(rel).name.replace(".zip", ".csv")
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(name, csv_text)
        data = buf.getvalue()
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        path.with_name(path.name + ".CHECKSUM").write_text(f"{digest}  {path.name}\n")
        return data


def _handler(mirror: Mirror) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            with mirror.lock:
                mirror.in_flight += 1
                mirror.max_in_flight = max(mirror.max_in_flight, mirror.in_flight)
            try:
                self._get()
            finally:
                with mirror.lock:
                    mirror.in_flight -= 1

        def _get(self) -> None:
            path, _, query = self.path.partition("?")
            rng = self.headers.get("Range")
            mirror.requests.append((path, rng))
            queue = mirror.faults.get(path, [])
            fault = queue.pop(0) if queue else ""
            if fault in ("500", "429"):
                self.send_response(int(fault))
                self.send_header("Content-Length", "0")
                if fault == "429":
                    self.send_header("Retry-After", "0")
                self.end_headers()
                return
            if path in mirror.handlers:
                params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
                body: bytes | None = mirror.handlers[path](params)
            else:
                body = mirror.body(path)
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if fault == "corrupt":
                body = bytes([body[0] ^ 0xFF]) + body[1:]
            start = 0
            if rng and rng.startswith("bytes=") and fault != "truncate":
                start = int(rng[6:].split("-")[0])
            if start >= len(body) > 0:
                self.send_response(416)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206 if start else 200)
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            if fault == "slow":
                time.sleep(0.3)
            if fault == "truncate":
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body[start:])

    return Handler


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    """A :class:`Mirror` over a fresh generated root (``mirror.roots[0]``), real mirror second."""
    gen = tmp_path / "mirror"
    gen.mkdir()
    m = Mirror(roots=[gen, BINANCE_VISION])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(m))
    server.daemon_threads = True
    m.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield m
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def hash_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the raw files read in full for their SHA-256 (``raw/hashes.hash_file``)."""
    from seriesfactory.raw import download, hashes

    seen: list[str] = []
    real = hashes.hash_file

    def counted(path: Path) -> str:
        seen.append(path.name)
        return real(path)

    monkeypatch.setattr(hashes, "hash_file", counted)
    monkeypatch.setattr(download, "hash_file", counted)
    return seen
