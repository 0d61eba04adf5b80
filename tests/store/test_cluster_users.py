"""``db up`` / ``db down`` run by a normal (non-root) user, on a real server.

``test_cli_store.py`` runs them as whoever runs the tests (root in CI: the
cluster then belongs to the ``postgres`` system user). Here the command runs in a
child process whose user is an unprivileged one (``nobody``): the child starts as
the test's user, loads the interpreter and the CLI (the interpreter may live
where ``nobody`` cannot read, e.g. ``/root/.pyenv``), then, when that user is root,
drops to ``nobody`` with ``setgid``/``setuid`` before running the command: from
there on, ``db up`` sees a non-root user and runs ``initdb`` and the server as it,
exactly as for a user who typed the command. Run by a non-root user already, the
child keeps that user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

CHILD = """
import os, sys, json, pwd, socket, subprocess, shutil
import decimal, seriesfactory.cli, seriesfactory.store.cluster
import seriesfactory.cli.store, seriesfactory.config
from seriesfactory.cli import main
uid, gid = int(sys.argv[1]), int(sys.argv[2])
if os.geteuid() == 0 and uid != 0:
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
assert (os.geteuid() == 0) == (uid == 0)
sys.exit(main(sys.argv[3:]))
"""


def _as_user(uid: int, gid: int, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)  # the same imports as here
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(uid), str(gid), *args],
        capture_output=True, text=True, timeout=180, cwd=home, env=env, check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_db_up_and_down_as_a_normal_user() -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam("nobody")
        uid, gid, name = user.pw_uid, user.pw_gid, user.pw_name
    else:
        uid, gid, name = os.geteuid(), os.getegid(), pwd.getpwuid(os.geteuid()).pw_name
    root = Path(tempfile.mkdtemp(prefix="sf-user-", dir="/tmp"))
    os.chown(root, uid, gid)
    data = root / "pgdata"
    try:
        got = _as_user(uid, gid, root, "db", "up", "--data-dir", str(data))
        assert got.returncode == 0, got.stderr
        url = got.stdout.strip()
        # the cluster belongs to the user who ran the command, and so does the server process
        assert url.startswith(f"postgresql://{name}@127.0.0.1:")
        assert data.stat().st_uid == uid and (data / "PG_VERSION").is_file()
        pid = int((data / "postmaster.pid").read_text().split()[0])
        assert os.stat(f"/proc/{pid}").st_uid == uid
        with psycopg.connect(url, connect_timeout=10) as conn:
            row = conn.execute("SELECT current_user").fetchone()
            assert row is not None and row[0] == name
        again = _as_user(uid, gid, root, "db", "up", "--data-dir", str(data))
        assert again.returncode == 0 and again.stdout.strip() == url
        down = _as_user(uid, gid, root, "db", "down", "--data-dir", str(data))
        assert down.returncode == 0 and "stopped" in down.stdout, down.stderr
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=2)
    finally:
        _as_user(uid, gid, root, "db", "down", "--data-dir", str(data))
        shutil.rmtree(root, ignore_errors=True)
