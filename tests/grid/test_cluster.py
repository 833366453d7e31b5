"""Cluster submission for real: a Ray head with the job server and a second worker node, both on this machine,
`ray job submit` of grid/run.py with a working_dir runtime_env, checked through the job status, Ray's state API and
MLflow.

The test never calls ray.init: the cluster, the job and its driver are separate processes, so it coexists with the
session's in-process Ray (tests/conftest.py). Every process it starts is ended in the fixture's finalizer, and the
finalizer checks that none is left.
"""

import json
import secrets
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from grid.local_cluster import ClusterUnavailable, LocalRayCluster

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
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
EXCLUDES = [
    ".venv",
    ".venv-llm",
    ".git",
    "mlflow.db",
    "mlruns",
    "mlartifacts",
    "ray_results",
    ".flexcoder_cache",
    "__pycache__",
]


@pytest.fixture(scope="module")
def two_node_cluster():
    try:
        cluster = LocalRayCluster(head_cpus=1, dashboard=True)  # the job server lives in the dashboard
    except ClusterUnavailable as e:  # this machine cannot; a start that fails is a failure
        pytest.skip(str(e))
    try:
        cluster.add_node(cpus=1)
        yield cluster
    finally:
        leftover = cluster.stop()
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
    submit = cluster.ray(
        "job",
        "submit",
        "--address",
        cluster.dashboard,
        "--submission-id",
        job_id,
        "--runtime-env-json",
        json.dumps(runtime_env),
        "--",
        "python",
        "grid/run.py",
        "--space",
        str(cluster.tmp / "space.yaml"),
        "--mlflow-uri",
        uri,
        "--storage",
        str(cluster.tmp / "ray_results"),
        timeout=420,
        cwd=ROOT,
    )
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

    actors = json.loads(
        cluster.ray(
            "list", "actors", "--address", cluster.dashboard, "--detail", "--format", "json", "--limit", "1000"
        ).stdout
    )
    textgen = [a for a in actors if a["class_name"] == "TextgenActor"]
    assert all(a["state"] == "DEAD" for a in textgen)  # the detached actor was stopped with the grid
