"""A local PostgreSQL cluster started from the installed server binaries (``db up``/``db down``).

``up(data_dir)`` runs ``initdb`` on first use (trust authentication, UTF-8, C
locale), picks a free TCP port on 127.0.0.1, puts the unix socket in the data
directory itself, starts the server with ``pg_ctl`` and returns the URL
``postgresql://USER@127.0.0.1:PORT/postgres``. ``initdb`` refuses to run as root,
so under root the cluster belongs to the unprivileged ``postgres`` system user:
the data directory is chowned to it and every server command runs as it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from seriesfactory.errors import InputError, SourceError

__all__ = ["Cluster", "down", "find_bindir", "up"]

INSTALL_HINT = "install them, e.g. 'apt-get install -y postgresql' on Debian/Ubuntu"
#: sun_path of a unix socket holds 107 bytes.
_SOCKET_MAX = 107


@dataclass(frozen=True, slots=True)
class Cluster:
    """A running cluster: its data directory, port, database superuser and URL."""

    data_dir: Path
    port: int
    user: str

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"


def find_bindir() -> Path:
    """The folder of ``initdb``/``pg_ctl``: ``pg_config --bindir``, else the newest Debian one."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True
            )
            candidates.append(Path(out.stdout.strip()))
        except (OSError, subprocess.CalledProcessError):
            pass
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name)
    candidates += reversed(versions)
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb") or "").parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    raise SourceError(
        f"the PostgreSQL server binaries (initdb, pg_ctl) are not found; {INSTALL_HINT}"
    )


def _server_user() -> str | None:
    """``'postgres'`` when running as root (initdb refuses root), else ``None`` (ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise SourceError(
            "running as root, the server needs an unprivileged user and 'postgres' does not "
            "exist; create it (useradd --system postgres) or run as a normal user"
        ) from None
    return "postgres"


def _run(cmd: list[str], user: str | None, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, user=user, cwd=cwd, capture_output=True, text=True, check=False)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _running_port(data_dir: Path) -> int | None:
    """The port in ``postmaster.pid`` when the server of ``data_dir`` is alive."""
    pid_file = data_dir / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return port


def up(data_dir: Path, *, port: int | None = None, ephemeral: bool = False) -> Cluster:
    """Start (initialising on first use) the cluster in ``data_dir``; return it.

    ``ephemeral`` turns off fsync and synchronous commit (throwaway test clusters).
    An already running cluster is returned as it is.
    """
    data_dir = data_dir.resolve()
    user = _server_user()
    db_user = user or pwd.getpwuid(os.geteuid()).pw_name
    if len(str(data_dir / ".s.PGSQL.65535")) > _SOCKET_MAX:
        raise InputError(
            f"--data-dir {data_dir}: path too long for the server's unix socket "
            f"(at most {_SOCKET_MAX - 15} characters); choose a shorter folder"
        )
    running = _running_port(data_dir)
    if running is not None:
        return Cluster(data_dir, running, db_user)
    bindir = find_bindir()
    if data_dir.exists() and not data_dir.is_dir():
        raise InputError(f"--data-dir {data_dir} exists and is not a folder")
    fresh = not (data_dir / "PG_VERSION").is_file()
    if fresh and data_dir.is_dir() and any(data_dir.iterdir()):
        raise InputError(
            f"--data-dir {data_dir} is neither empty nor a PostgreSQL cluster; "
            "choose another folder"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in [data_dir, *data_dir.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
        os.chmod(data_dir, 0o700)
        probe = _run(["test", "-w", str(data_dir)], user, Path("/"))
        if probe.returncode != 0:
            raise InputError(
                f"--data-dir {data_dir} is not reachable by the '{user}' user that runs the "
                "server as root (a parent folder is not executable by others); choose e.g. "
                "/var/tmp/pgdata or 'chmod o+x' the parent folders"
            )
    if fresh:
        got = _run(
            [str(bindir / "initdb"), "-D", str(data_dir), "-A", "trust", "-U", db_user,
             "-E", "UTF8", "--locale=C", "--no-instructions"],
            user, data_dir,
        )  # fmt: skip
        if got.returncode != 0:
            tail = (got.stderr or got.stdout).strip().splitlines()[-1:]
            raise SourceError(f"initdb failed in {data_dir}: {' '.join(tail)}")
        extra = ["", "# written by seriesfactory db up", "listen_addresses = '127.0.0.1'",
                 f"unix_socket_directories = '{data_dir}'"]  # fmt: skip
        if ephemeral:
            extra += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        with (data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n".join(extra) + "\n")
    chosen = port or _free_port()
    got = _run(
        [str(bindir / "pg_ctl"), "-D", str(data_dir), "-l", str(data_dir / "server.log"),
         "-o", f"-p {chosen}", "-w", "-t", "60", "start"],
        user, data_dir,
    )  # fmt: skip
    if got.returncode != 0:
        log = data_dir / "server.log"
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.is_file() else []
        raise SourceError(
            f"the server in {data_dir} did not start: {' '.join(tail) or got.stderr.strip()}"
        )
    return Cluster(data_dir, chosen, db_user)


def down(data_dir: Path, *, missing_ok: bool = True) -> bool:
    """Stop the cluster of ``data_dir`` (fast shutdown); ``False`` when it was not running."""
    data_dir = data_dir.resolve()
    if _running_port(data_dir) is None:
        if not missing_ok:
            raise InputError(f"--data-dir {data_dir}: no server is running there")
        return False
    got = _run(
        [str(find_bindir() / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "stop"],
        _server_user(), data_dir,
    )  # fmt: skip
    if got.returncode != 0:
        raise SourceError(f"pg_ctl stop failed in {data_dir}: {got.stderr.strip()}")
    return True
