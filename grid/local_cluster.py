"""A real multi-process Ray cluster on this machine, for benchmarks and tests of the schedule and of job submission.

`ray start` nodes (a head, optionally more nodes), each with as many logical CPUs as asked, so a 2-core machine can
stand in for a 16-slot cluster. The cluster is private: its own temp dir (other Ray users on the machine never
auto-connect to it), its own ports, token auth (this Ray refuses `ray start` without it), and `stop()` ends exactly
the processes it started, never another Ray on the machine (unlike `ray stop`). A process joins it with
`ray.init(address=cluster.address)` under `cluster.env`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent  # the environment running us: its `ray` CLI
NODE_PORTS = (
    "node-manager-port",
    "object-manager-port",
    "dashboard-agent-listen-port",
    "dashboard-agent-grpc-port",
    "runtime-env-agent-port",
    "metrics-export-port",
)


def live_processes() -> dict[int, tuple[int, int, str]]:
    """{pid: (parent pid, session id, command line)} of every live (not zombie) process, from /proc."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        state, ppid, _pgrp, sid = stat[stat.rindex(")") + 2 :].split()[:4]
        if state not in "ZX":
            out[int(entry)] = (int(ppid), int(sid), cmd)
    return out


# Ours: the ports `free_ports` finds free can be taken by another process before `ray start` binds them, so a head
# or node that fails to start is started again on fresh ports, in a fresh temp dir.
START_ATTEMPTS = 3


class ClusterUnavailable(RuntimeError):
    """This machine cannot run a local Ray cluster at all (no /proc, no ray CLI), as opposed to a start that failed."""


def free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class LocalRayCluster:
    """Start with `LocalRayCluster(head_cpus)`, add nodes with `add_node`, end with `stop()` (or use `with`)."""

    def __init__(self, head_cpus: int, dashboard: bool = False):
        if not Path("/proc/self/stat").exists() or not (BIN / "ray").exists():
            raise ClusterUnavailable("a local Ray cluster needs Linux /proc and the ray CLI next to this interpreter")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        self.env.update(
            PATH=f"{BIN}{os.pathsep}{self.env.get('PATH', '')}",
            RAY_USAGE_STATS_ENABLED="0",
            RAY_AUTH_MODE="token",
            RAY_AUTH_TOKEN=secrets.token_hex(32),
        )
        self._sessions: set[int] = set()
        self._nodes = 0
        for attempt in range(1, START_ATTEMPTS + 1):
            # Short: Ray puts unix sockets under it (path limit ~107 characters).
            self.tmp = Path(tempfile.mkdtemp(prefix="fxrc-", dir="/tmp"))
            gcs, dash, client, *ports = free_ports(3 + len(NODE_PORTS))
            self.address = f"127.0.0.1:{gcs}"
            self.dashboard = f"http://127.0.0.1:{dash}"
            try:
                self._start(
                    [
                        "--head",
                        f"--port={gcs}",
                        f"--include-dashboard={'true' if dashboard else 'false'}",
                        "--dashboard-host=127.0.0.1",
                        f"--dashboard-port={dash}",
                        f"--ray-client-server-port={client}",
                        f"--temp-dir={self.tmp}",
                        *self._common(head_cpus),
                        *_node_ports(ports),
                    ]
                )
                return
            except RuntimeError:
                self.stop()
                if attempt == START_ATTEMPTS:
                    raise
            except BaseException:
                self.stop()
                raise

    def add_node(self, cpus: int) -> None:
        """One more node. Its own temp dir: nodes sharing one would share runtime_resources/, and one node's
        runtime-env agent deletes a working_dir package another node's job driver is running in."""
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                self._start(
                    [
                        f"--address={self.address}",
                        f"--temp-dir={self.tmp}/n{self._nodes}-{attempt}",
                        *self._common(cpus),
                        *_node_ports(free_ports(len(NODE_PORTS))),
                    ]
                )
                return
            except RuntimeError:
                if attempt == START_ATTEMPTS:
                    raise

    def ray(self, *args: str, timeout: float = 120, cwd: str | Path | None = None) -> subprocess.CompletedProcess:
        """Run the `ray` CLI against this cluster."""
        return subprocess.run(
            [str(BIN / "ray"), *args], env=self.env, capture_output=True, text=True, timeout=timeout, cwd=cwd
        )

    def stop(self, grace: float = 5.0) -> set[int]:
        """SIGTERM (what `ray stop` sends) to this cluster's processes only, SIGKILL after `grace`; removes its temp
        dir; returns the pids still alive (none, normally)."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            for pid in self._ours():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.time() + wait
            while self._ours() and time.time() < deadline:
                time.sleep(0.5)
        left = self._ours()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return left

    def __enter__(self) -> LocalRayCluster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _common(self, cpus: int) -> list[str]:
        return [
            f"--num-cpus={cpus}",
            "--num-gpus=0",
            "--disable-usage-stats",
            "--min-worker-port=0",
            "--max-worker-port=0",
        ]

    def _start(self, args: list[str]) -> None:
        proc = subprocess.Popen(
            [str(BIN / "ray"), "start", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._sessions.add(proc.pid)  # the daemons `ray start` leaves behind stay in this session
        out, _ = proc.communicate(timeout=180)
        if proc.returncode != 0:
            raise RuntimeError(f"ray start failed:\n{out[-4000:]}")
        self._nodes += 1

    def _ours(self) -> set[int]:
        """Processes in the sessions we started, naming our temp dir, or descending from either (a job's driver runs
        in a session of its own under the head's job supervisor)."""
        procs = live_processes()
        marker = str(self.tmp)
        ours = {pid for pid, (_, sid, cmd) in procs.items() if sid in self._sessions or marker in cmd}
        while True:
            more = {pid for pid, (ppid, _, _) in procs.items() if ppid in ours} - ours
            if not more:
                break
            ours |= more
        ours.discard(os.getpid())
        return ours


def _node_ports(ports: list[int]) -> list[str]:
    return [f"--{name}={port}" for name, port in zip(NODE_PORTS, ports)]
