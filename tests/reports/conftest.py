"""A real headless Chromium driven over the DevTools protocol, for the report tests.

:func:`open_page` starts ``chromium --headless`` with a throw-away profile, opens one
file in a new tab, records every network request, console message and uncaught
exception, waits until plotly has drawn every graph div (the report pushes each div id
onto ``window.sfDrawn`` once drawn) and takes a screenshot. Chromium is the Debian package
(``make test`` installs it); without it these tests skip locally and fail under CI.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


def chromium_binary() -> str:
    """The Chromium executable, or skip (locally) / fail (CI) saying how to install it."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    message = "chromium is not installed: apt-get install -y chromium (make test does this)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class PageReport:
    """What happened while a page loaded and drew."""

    requests: list[str] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)  # (level, text)
    exceptions: list[str] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    screenshot: bytes = b""


class _Session:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)
        raise TimeoutError(f"{method}: no reply in {timeout} s")

    def pump(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                self.events.append(json.loads(self.ws.recv(timeout=deadline - time.monotonic())))
            except TimeoutError:
                return


_STATE_JS = """JSON.stringify({
  drawn: (window.sfDrawn || []).slice().sort(),
  divs: Array.from(document.querySelectorAll('.plotly-graph-div')).map(d => d.id).sort(),
  rendered: Array.from(document.querySelectorAll('.plotly-graph-div'))
      .filter(d => d._fullLayout && d.querySelector('.main-svg')).map(d => d.id).sort(),
  ready: document.readyState,
  plotly: typeof Plotly !== 'undefined' ? Plotly.version : null
})"""


def open_page(
    path: Path, *, timeout: float = 180.0, width: int = 1400, height: int = 2400
) -> PageReport:
    """Load ``path`` from ``file://`` in headless Chromium; see :class:`PageReport`."""
    from websockets.sync.client import connect

    binary = chromium_binary()
    report = PageReport()
    profile = tempfile.mkdtemp(prefix="sf-chromium-")
    try:
        proc = subprocess.Popen(
            [
                binary,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "TMPDIR": profile},  # its singleton socket folder: removed with it
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + 60
            while not port_file.is_file() or len(port_file.read_text().splitlines()) < 2:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("chromium did not open its DevTools port")
                time.sleep(0.1)
            port, ws_path = port_file.read_text().splitlines()[:2]
            with connect(f"ws://127.0.0.1:{port}{ws_path}", max_size=None) as ws:
                s = _Session(ws)
                target = s.call("Target.createTarget", {"url": "about:blank"})["targetId"]
                sid = s.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
                    "sessionId"
                ]
                for domain in ("Runtime", "Log", "Network", "Page"):
                    s.call(f"{domain}.enable", session=sid)
                s.call(
                    "Emulation.setDeviceMetricsOverride",
                    {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                    session=sid,
                )
                s.call("Page.navigate", {"url": path.resolve().as_uri()}, session=sid)
                end = time.monotonic() + timeout
                state: dict[str, Any] = {}
                while time.monotonic() < end:
                    s.pump(1.0)
                    got = s.call(
                        "Runtime.evaluate",
                        {"expression": _STATE_JS, "returnByValue": True},
                        session=sid,
                    )
                    value = got.get("result", {}).get("value")
                    state = json.loads(value) if isinstance(value, str) else {}
                    if state.get("ready") == "complete" and state.get("drawn") == state.get("divs"):
                        break
                s.pump(1.0)
                report.state = state
                clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": 0.25}
                shot = s.call(
                    "Page.captureScreenshot", {"format": "png", "clip": clip}, session=sid
                )
                report.screenshot = base64.b64decode(shot["data"])
                for ev in s.events:
                    method, params = ev.get("method"), ev.get("params", {})
                    if method == "Network.requestWillBeSent":
                        report.requests.append(params["request"]["url"])
                    elif method == "Runtime.consoleAPICalled":
                        text = " ".join(
                            str(a.get("value", a.get("description", "")))
                            for a in params.get("args", [])
                        )
                        report.console.append((params.get("type", ""), text))
                    elif method == "Log.entryAdded":
                        entry = params.get("entry", {})
                        report.console.append((entry.get("level", ""), entry.get("text", "")))
                    elif method == "Runtime.exceptionThrown":
                        details = params.get("exceptionDetails", {})
                        report.exceptions.append(
                            str(
                                details.get("exception", {}).get("description", details.get("text"))
                            )
                        )
        finally:
            _end_group(proc)
    finally:
        _remove_profile(Path(profile))
    return report


def _end_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop Chromium and every helper process it started (they share its process group).

    Helpers (renderer, utility, crashpad) can outlive the browser process for a moment and
    keep writing into the profile, so the group is ended as a whole and waited for.
    """
    for sig, grace in ((15, 10.0), (9, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


def _remove_profile(profile: Path) -> None:
    """Remove the throw-away profile; a straggling write is retried for up to 5 s."""
    for _ in range(50):
        try:
            shutil.rmtree(profile)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)
    shutil.rmtree(profile)


def png_pixels(data: bytes) -> tuple[int, int, int, bytes]:
    """Decode an 8-bit RGB/RGBA PNG: ``(width, height, channels, raw pixel bytes)``."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), (
                f"unsupported PNG (depth {depth}, type {colour})"
            )
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    out = bytearray(height * stride)
    prev = bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b = prev[x]
            c = prev[x - channels] if x >= channels else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa_, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa_ <= pb and pa_ <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pred) & 255
        out[y * stride : (y + 1) * stride] = line
        prev = line
    return width, height, channels, bytes(out)


@pytest.fixture
def browser() -> Any:
    """The page driver: ``browser.open_page(path)`` and ``browser.png_pixels(png)``."""
    import types

    return types.SimpleNamespace(open_page=open_page, png_pixels=png_pixels)
