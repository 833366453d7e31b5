"""A private PostgreSQL server on loopback for tests: Debian's postgresql binaries, a fresh data dir in /tmp, a free
port, trust auth for one user, stopped and removed afterwards. As root it runs as the `postgres` user (PostgreSQL
refuses to run as root)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from grid.local_cluster import free_ports


def postgres_bindir() -> Path | None:
    """The newest installed server's bin folder, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("postgres")
    return Path(which).resolve().parent if which else None


@contextlib.contextmanager
def postgres_server(database: str = "mlflow", user: str = "mlflow") -> Iterator[str]:
    """Yields a SQLAlchemy URI, postgresql://USER@127.0.0.1:PORT/DATABASE."""
    bindir = postgres_bindir()
    if bindir is None:
        raise FileNotFoundError("no PostgreSQL server binaries (Debian package postgresql)")
    tmp = Path(tempfile.mkdtemp(prefix="fxpg-", dir="/tmp"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(tmp, "postgres")
    (port,) = free_ports(1)
    server = None
    try:
        subprocess.run(
            [
                *as_user,
                str(bindir / "initdb"),
                "-D",
                str(tmp / "data"),
                "-U",
                user,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        log = open(tmp / "server.log", "w") if not as_user else subprocess.DEVNULL
        server = subprocess.Popen(
            [
                *as_user,
                str(bindir / "postgres"),
                "-D",
                str(tmp / "data"),
                "-p",
                str(port),
                "-k",
                str(tmp),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.time() + 60
        while (
            subprocess.run(
                [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True
            ).returncode
            != 0
        ):
            if server.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"PostgreSQL did not start (exit {server.poll()})")
            time.sleep(0.3)
        subprocess.run(
            [
                str(bindir / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                user,
                "-d",
                "postgres",
                "-c",
                f"CREATE DATABASE {database}",
            ],
            check=True,
            capture_output=True,
        )
        yield f"postgresql://{user}@127.0.0.1:{port}/{database}"
    finally:
        if server is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGINT)  # fast shutdown
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        shutil.rmtree(tmp, ignore_errors=True)
