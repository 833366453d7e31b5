"""Cluster submission for real: a Ray head with the job server and a second worker node, both on this machine,
`ray job submit` of grid/run.py with a working_dir runtime_env, checked through the job status, Ray's state API and
MLflow.

The test never calls ray.init: the cluster, the job and its driver are separate processes, so it coexists with the
session's in-process Ray (tests/conftest.py). Every process it starts is ended in the fixture's finalizer, and the
finalizer checks that none is left.
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from flexcoder_testing.processes import live_processes

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the environment running the tests: its `ray` CLI and its `python`
SPACE = """\
name: twonode
studies:
  - method: flexclip
    dataset: pascal_sentence
    shots: [0, 1]
    params: {flexclip.generator.epochs: 1, flexclip.projector.epochs: 8}  # long enough to overlap
  - method: coder
    dataset: pascal_sentence
    params: {coder.text_set: name+att}
"""
EXCLUDES = [".venv", ".git", "mlflow.db", "mlruns", "mlartifacts", "ray_results", ".flexcoder_cache", "__pycache__"]


@dataclass
class LocalCluster:
    dashboard: str  # http://127.0.0.1:PORT, the job server
    env: dict  # what every `ray` CLI call against this cluster needs (PATH, the cluster's auth token)
    tmp: Path  # the cluster's temp dir; the test's files live here too
    sessions: set  # session ids of the processes this fixture started

    def ray(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "ray"), *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, cwd=ROOT)  # fmt: skip


@pytest.fixture(scope="module")
def two_node_cluster():
    if not Path("/proc/self/stat").exists() or not (BIN / "ray").exists():
        pytest.skip("needs Linux /proc and the ray CLI next to the test interpreter")
    # Short and our own: Ray puts unix sockets under it (path limit ~107 chars), and `ray start --temp-dir` keeps
    # the ray_current_cluster file there, so other Ray users on this machine never auto-connect to this cluster.
    tmp = Path(tempfile.mkdtemp(prefix="fx2n-", dir="/tmp"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", RAY_USAGE_STATS_ENABLED="0",
               RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))  # fmt: skip
    gcs, dashboard, client, *ports = _free_ports(15)
    common = ["--num-cpus=1", "--num-gpus=0", "--disable-usage-stats", "--min-worker-port=0", "--max-worker-port=0"]
    cluster = LocalCluster(f"http://127.0.0.1:{dashboard}", env, tmp, set())
    try:
        _ray_start(cluster, ["--head", f"--port={gcs}", "--include-dashboard=true", "--dashboard-host=127.0.0.1",
                             f"--dashboard-port={dashboard}", f"--ray-client-server-port={client}",
                             f"--temp-dir={tmp}", *common, *_node_ports(ports[:6])])  # fmt: skip
        # Its own temp dir: nodes sharing one would share runtime_resources/, and one node's runtime-env agent
        # deletes a working_dir package the other node's job driver is running in.
        _ray_start(cluster, [f"--address=127.0.0.1:{gcs}", f"--temp-dir={tmp}/w", *common, *_node_ports(ports[6:])])
        yield cluster
    finally:
        leftover = _stop(cluster.sessions, str(tmp))
        shutil.rmtree(tmp, ignore_errors=True)
        assert not leftover, f"processes of the test cluster still running: {leftover}"


def test_grid_submitted_as_a_ray_job_runs_on_both_nodes_and_records_every_trial(two_node_cluster):
    cluster = two_node_cluster
    nodes = json.loads(cluster.ray("list", "nodes", "--address", cluster.dashboard, "--format", "json").stdout)
    alive = {n["node_id"] for n in nodes if n["state"] == "ALIVE"}
    assert len(alive) == 2
    (cluster.tmp / "space.yaml").write_text(SPACE)
    uri = f"sqlite:///{cluster.tmp}/mlflow.db"
    job_id = f"fx2n-{secrets.token_hex(4)}"
    runtime_env = {"working_dir": str(ROOT), "excludes": EXCLUDES}
    start = time.perf_counter()
    submit = cluster.ray("job", "submit", "--address", cluster.dashboard, "--submission-id", job_id,
                         "--runtime-env-json", json.dumps(runtime_env), "--",
                         "python", "grid/run.py", "--space", str(cluster.tmp / "space.yaml"), "--mlflow-uri", uri,
                         "--storage", str(cluster.tmp / "ray_results"), timeout=420)  # fmt: skip
    elapsed = time.perf_counter() - start
    print(f"\ntwo-node cluster: ray job submit -> finished grid (3 cells) in {elapsed:.1f}s")
    assert submit.returncode == 0, submit.stdout[-4000:] + submit.stderr[-2000:]
    jobs = json.loads(cluster.ray("list", "jobs", "--address", cluster.dashboard, "--format", "json").stdout)
    assert [j["status"] for j in jobs if j["submission_id"] == job_id] == ["SUCCEEDED"]

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("twonode")
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = {r.info.run_id: r for r in runs if r.data.tags.get("grid.role") == "cell"}
    children = [r for r in runs if r.data.tags.get("grid.role") == "trial"]
    assert len(parents) == 3 and len(children) == 3  # one parent per cell, one child per trial: nothing lost
    assert all(r.info.status == "FINISHED" for r in runs)
    assert sorted(parents[c.data.tags["mlflow.parentRunId"]].data.tags["grid.cell"] for c in children) == sorted(
        p.data.tags["grid.cell"] for p in parents.values()
    )
    assert all(c.data.tags["grid.attempts"] == "1" for c in children)
    # Trials ran on the head and on the worker node: each child run says which Ray node ran it. (MLflow, not Ray's
    # state API: `ray list actors` may drop dead actors of a finished job, which made this check flaky.)
    assert {c.data.tags["grid.node"] for c in children} == alive, submit.stdout[-3000:]
    assert "test/top1" in next(c for c in children if c.data.tags["method"] == "coder").data.metrics

    actors = json.loads(cluster.ray("list", "actors", "--address", cluster.dashboard, "--detail", "--format",
                                    "json", "--limit", "1000").stdout)  # fmt: skip
    textgen = [a for a in actors if a["class_name"] == "TextgenActor"]
    assert all(a["state"] == "DEAD" for a in textgen)  # the detached actor was stopped with the grid


def _ray_start(cluster: LocalCluster, args: list[str]) -> None:
    proc = subprocess.Popen([str(BIN / "ray"), "start", *args], env=cluster.env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    cluster.sessions.add(proc.pid)  # the daemons `ray start` leaves behind stay in this session
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, out[-4000:]


def _node_ports(ports: list[int]) -> list[str]:
    names = ["node-manager-port", "object-manager-port", "dashboard-agent-listen-port", "dashboard-agent-grpc-port",
             "runtime-env-agent-port", "metrics-export-port"]  # fmt: skip
    return [f"--{name}={port}" for name, port in zip(names, ports)]


def _free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _ours(sessions: set[int], marker: str) -> set[int]:
    """Processes in the sessions we started, naming our temp dir, or descending from either (the job driver runs in
    a session of its own under the head's job supervisor)."""
    procs = live_processes()
    ours = {pid for pid, (_, sid, cmd) in procs.items() if sid in sessions or marker in cmd}
    while True:
        more = {pid for pid, (ppid, _, _) in procs.items() if ppid in ours} - ours
        if not more:
            break
        ours |= more
    ours.discard(os.getpid())
    return ours


def _stop(sessions: set[int], marker: str, grace: float = 5.0) -> set[int]:
    """SIGTERM (what `ray stop` sends) to our processes only, SIGKILL after `grace`; returns what still runs."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        for pid in _ours(sessions, marker):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + wait
        while _ours(sessions, marker) and time.time() < deadline:
            time.sleep(0.5)
    return _ours(sessions, marker)
