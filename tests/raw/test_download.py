"""The downloader against a real local server that misbehaves on demand."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from seriesfactory.config import load_settings
from seriesfactory.errors import IntegrityError, MissingFileError, NetworkError
from seriesfactory.raw.download import Downloader

REL = "data/spot/daily/aggTrades/XYZUSDT/XYZUSDT-aggTrades-2024-01-02.zip"
CSV = "".join(f"{i},100.5,0.25,{i},{i},{1704153600000 + i},true,true\n" for i in range(2000))


def _downloader(retries: int = 4) -> tuple[Downloader, list[float]]:
    slept: list[float] = []
    settings = load_settings(env={}, download_retries=retries, backoff_base_s=0.01)
    return Downloader(settings, seed=1, sleep=slept.append), slept


def test_500_and_429_are_retried(mirror, tmp_path: Path) -> None:
    data = mirror.add_archive(mirror.roots[0], REL, CSV)
    mirror.faults["/" + REL] = ["500", "429", "slow"]
    dl, slept = _downloader()
    with dl:
        out = dl.fetch(f"{mirror.url}/{REL}", tmp_path / "a.zip")
    assert out.read_bytes() == data
    assert mirror.count("/" + REL) == 3 and len(slept) == 2 and dl.retries_done == 2


def test_truncated_body_resumes_with_a_range_request(mirror, tmp_path: Path) -> None:
    data = mirror.add_archive(mirror.roots[0], REL, CSV)
    mirror.faults["/" + REL] = ["truncate"]
    dl, _ = _downloader()
    with dl:
        out = dl.fetch(f"{mirror.url}/{REL}", tmp_path / "a.zip")
    assert out.read_bytes() == data
    ranges = [r for p, r in mirror.requests if p == "/" + REL]
    assert ranges[0] is None and ranges[1] == f"bytes={len(data) // 2}-"
    assert not list(tmp_path.glob(".partial-*"))


def test_gives_up_cleanly_after_the_retries(mirror, tmp_path: Path) -> None:
    mirror.add_archive(mirror.roots[0], REL, CSV)
    mirror.faults["/" + REL] = ["500"] * 10
    dl, slept = _downloader(retries=2)
    with dl, pytest.raises(NetworkError, match=r"HTTP 500 \(gave up after 2 retries"):
        dl.fetch(f"{mirror.url}/{REL}", tmp_path / "a.zip")
    assert not (tmp_path / "a.zip").exists() and len(slept) == 2


def test_404_is_not_retried(mirror, tmp_path: Path) -> None:
    dl, slept = _downloader()
    with dl, pytest.raises(MissingFileError, match="404"):
        dl.fetch(f"{mirror.url}/nothing.zip", tmp_path / "a.zip")
    assert slept == []


def test_checksum_mismatch_downloads_both_again_once(mirror, tmp_path: Path) -> None:
    data = mirror.add_archive(mirror.roots[0], REL, CSV)
    mirror.faults["/" + REL] = ["corrupt"]
    dl, _ = _downloader()
    with dl:
        out = dl.fetch_verified(f"{mirror.url}/{REL}", tmp_path / "a.zip")
    assert hashlib.sha256(out.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    assert mirror.count("/" + REL) == 2 and mirror.count("/" + REL + ".CHECKSUM") == 2


def test_persistent_checksum_mismatch_fails_and_leaves_nothing(mirror, tmp_path: Path) -> None:
    mirror.add_archive(mirror.roots[0], REL, CSV)
    mirror.faults["/" + REL] = ["corrupt", "corrupt"]
    dl, _ = _downloader()
    with dl, pytest.raises(IntegrityError, match=r"does not match its \.CHECKSUM"):
        dl.fetch_verified(f"{mirror.url}/{REL}", tmp_path / "out" / "a.zip")
    assert list((tmp_path / "out").iterdir()) == []


def test_verified_file_is_reused_without_traffic(mirror, tmp_path: Path) -> None:
    mirror.add_archive(mirror.roots[0], REL, CSV)
    dl, _ = _downloader()
    with dl:
        dl.fetch_verified(f"{mirror.url}/{REL}", tmp_path / "a.zip")
        n = len(mirror.requests)
        dl.fetch_verified(f"{mirror.url}/{REL}", tmp_path / "a.zip")
    assert len(mirror.requests) == n


def test_real_checksum_files_verify(mirror, shared_real, tmp_path: Path) -> None:
    rel = "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2020-01-01.zip"  # no trailing newline
    dl, _ = _downloader()
    with dl:
        out = dl.fetch_verified(f"{mirror.url}/{rel}", tmp_path / "k.zip")
    assert out.stat().st_size == (shared_real / "binance/vision" / rel).stat().st_size


def test_bounded_concurrency_keeps_order(mirror, tmp_path: Path) -> None:
    rels = [REL.replace("2024-01-02", f"2024-01-{d:02d}") for d in range(1, 9)]
    datas = [mirror.add_archive(mirror.roots[0], r, CSV + str(i)) for i, r in enumerate(rels)]
    dl, _ = _downloader()
    with dl:
        outs = dl.map(lambda r: dl.fetch_verified(f"{mirror.url}/{r}", tmp_path / r), rels)
    assert [o.read_bytes() for o in outs] == datas


def test_a_later_run_resumes_a_partial_download(mirror, tmp_path: Path) -> None:
    data = mirror.add_archive(mirror.roots[0], REL, CSV)
    mirror.faults["/" + REL] = ["truncate"]
    dl, _ = _downloader(retries=0)
    with dl, pytest.raises(NetworkError, match="without sending complete message body"):
        dl.fetch(f"{mirror.url}/{REL}", tmp_path / "a.zip")
    assert not (tmp_path / "a.zip").exists()
    assert (tmp_path / ".partial-a.zip").stat().st_size == len(data) // 2
    dl2, _ = _downloader()
    with dl2:
        assert dl2.fetch(f"{mirror.url}/{REL}", tmp_path / "a.zip").read_bytes() == data
    assert mirror.requests[-1] == ("/" + REL, f"bytes={len(data) // 2}-")


def test_concurrency_is_bounded(mirror, tmp_path: Path) -> None:
    rels = [REL.replace("2024-01-02", f"2024-02-{d:02d}") for d in range(1, 9)]
    for r in rels:
        mirror.add_archive(mirror.roots[0], r, CSV)
        mirror.faults["/" + r] = ["slow"]  # 0.3 s each: requests overlap
    settings = load_settings(env={}, download_concurrency=3)
    with Downloader(settings) as dl:
        dl.map(lambda r: dl.fetch(f"{mirror.url}/{r}", tmp_path / r), rels)
    assert 2 <= mirror.max_in_flight <= 3
