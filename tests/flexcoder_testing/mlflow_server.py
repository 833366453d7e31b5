"""A real `mlflow server` on loopback for tests: any backend store, artifacts proxied into a folder, its process
group stopped afterwards."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from grid.local_cluster import free_ports

BIN = Path(sys.executable).parent


@contextlib.contextmanager
def mlflow_server(backend_store_uri: str, folder: Path, workers: int = 1, command: str = "server") -> Iterator[str]:
    """Yields the server's URL once /health answers; its log is `folder/server.log`. `command`: "server", or "ui"
    (what a user types to look at a store)."""
    (port,) = free_ports(1)
    # MLflow's background job runner (a pool of huey consumers) serves GenAI jobs the grid never submits.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = open(folder / "server.log", "w")
    server = subprocess.Popen(
        [
            str(BIN / "mlflow"),
            command,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--backend-store-uri",
            backend_store_uri,
            "--artifacts-destination",
            str(folder / "artifacts"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while not healthy(url):
            if server.poll() is not None or time.time() > deadline:
                raise RuntimeError((folder / "server.log").read_text()[-3000:])
            time.sleep(0.5)
        yield url
    finally:
        stop_group(server)
        log.close()


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the process group start_new_session made (the server and its uvicorn workers), SIGKILL what is left
    after 20 s."""
    for sig, grace in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
        if not _group_alive(proc):
            return
        os.killpg(proc.pid, sig)
        deadline = time.time() + grace
        while _group_alive(proc) and time.time() < deadline:
            time.sleep(0.3)


def _group_alive(proc: subprocess.Popen) -> bool:
    proc.poll()  # reap the leader: a zombie still counts as a group member
    try:
        os.killpg(proc.pid, 0)
        return True
    except ProcessLookupError:
        return False
