"""Tracking under load, with real processes: a grid of 16 trials in flight at once, on a local Ray cluster with 16
logical CPUs, loses no run and no per-epoch metric, both into the default SQLite store and into an `mlflow server`
backed by PostgreSQL (the database infra/mlflow deploys), each server started here on loopback and stopped after."""

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from flexcoder_testing.mlflow_server import mlflow_server
from flexcoder_testing.postgres import postgres_bindir, postgres_server
from grid.bench import schedule_figures
from grid.local_cluster import ClusterUnavailable, LocalRayCluster

pytestmark = pytest.mark.integration

RUN_PY = Path(__file__).resolve().parents[2] / "grid" / "run.py"
EPOCHS = 6
SPACE = f"""\
name: load
studies:
  - method: flexclip
    dataset: pascal_sentence
    shots: [0, 1, 3, 5]
    seed: [0, 1, 2, 3]
    params: {{flexclip.generator.epochs: 1, flexclip.projector.epochs: {EPOCHS}}}
"""


@pytest.fixture(scope="module")
def cluster16():
    try:
        cluster = LocalRayCluster(head_cpus=16)
    except ClusterUnavailable as e:  # this machine cannot; a start that fails is a failure
        pytest.skip(str(e))
    try:
        yield cluster
    finally:
        assert not cluster.stop()


def _grid(cluster: LocalRayCluster, uri: str, tmp: Path) -> None:
    (tmp / "load.yaml").write_text(SPACE)
    done = subprocess.run(
        [
            sys.executable,
            str(RUN_PY),
            "--space",
            str(tmp / "load.yaml"),
            "--address",
            cluster.address,
            "--mlflow-uri",
            uri,
            "--storage",
            str(tmp / "rr"),
        ],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "database is locked" not in done.stdout + done.stderr


def _check_nothing_lost(uri: str) -> dict:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("load")
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    trials = [r for r in runs if r.data.tags.get("grid.role") == "trial"]
    parents = [r for r in runs if r.data.tags.get("grid.role") == "cell"]
    assert len(trials) == 16 and len(parents) == 16
    assert all(r.info.status == "FINISHED" for r in runs)
    for run in trials:
        assert {"test/map_avg", "val/map_avg", "train/loss_total"} <= set(run.data.metrics)
        for metric in ("val/map_avg", "train/loss_total"):
            steps = {m.step for m in client.get_metric_history(run.info.run_id, metric)}
            assert steps == set(range(EPOCHS)), (metric, steps)  # every epoch's value arrived
    figures = schedule_figures(trials, slots=16)
    print(
        f"\n{uri.split(':')[0]}: 16 trials, peak {figures['peak_in_flight']:.0f} in flight, "
        f"mean {figures['mean_in_flight']:.1f}"
    )
    assert figures["peak_in_flight"] >= 12  # they really wrote at the same time
    return figures


def test_sixteen_trials_in_flight_lose_nothing_in_the_default_sqlite_store(cluster16, tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    _grid(cluster16, uri, tmp_path)
    _check_nothing_lost(uri)


def test_sixteen_trials_in_flight_land_every_run_in_a_postgresql_backed_server(cluster16):
    if postgres_bindir() is None:
        pytest.skip("PostgreSQL is not installed (Debian package postgresql; .ci/run installs it)")
    with tempfile.TemporaryDirectory(prefix="fxpg-test-") as tmp, postgres_server() as database:
        with mlflow_server(database, Path(tmp), workers=2) as url:
            _grid(cluster16, url, Path(tmp))
            _check_nothing_lost(url)
