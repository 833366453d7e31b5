"""The whole space as one schedule, with real processes: on a local Ray cluster with 8 logical CPUs, the trials of
several cells and of both studies are in flight at once (read from the child runs' start and end times in MLflow),
and a searched cell's own max_concurrent still holds. A driver SIGKILLed in the middle of a search resumes it: the
resumed cell's Optuna study holds the first attempt's trials, and no finished trial runs again."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from grid.bench import schedule_figures
from grid.local_cluster import ClusterUnavailable, LocalRayCluster

pytestmark = pytest.mark.integration

RUN_PY = Path(__file__).resolve().parents[2] / "grid" / "run.py"
MIXED = """\
name: mixed
studies:
  - method: flexclip
    dataset: [wikipedia, pascal_sentence]
    shots: 1
    params:
      flexclip.generator.epochs: 1
      flexclip.projector.epochs: 3
      flexclip.loss.contrastive: {loguniform: [0.1, 10.0]}
    search: {trials: 3, max_concurrent: 2, seed: 0}
  - method: flexclip
    dataset: [wikipedia, pascal_sentence]
    shots: [0, 1]
    params: {flexclip.generator.epochs: 1, flexclip.projector.epochs: 3}
"""
SEARCH = """\
name: searchkill
studies:
  - method: flexclip
    dataset: pascal_sentence
    shots: 1
    params:
      flexclip.generator.epochs: 1
      flexclip.projector.epochs: 4
      flexclip.loss.contrastive: {loguniform: [0.1, 10.0]}
    search: {trials: 4, max_concurrent: 1, seed: 0}
"""


def _runs(uri: str, experiment: str) -> list:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], max_results=1000)


def _overlapping_cells(trials: list) -> int:
    """The most distinct cells with a trial running at the same instant."""
    best = 0
    for r in trials:
        t = (r.info.start_time + r.info.end_time) / 2
        live = {x.data.tags["grid.cell"] for x in trials if x.info.start_time <= t <= x.info.end_time}
        best = max(best, len(live))
    return best


def test_cells_of_every_study_run_at_once_on_a_multi_cpu_cluster(tmp_path):
    try:
        cluster = LocalRayCluster(head_cpus=8)
    except ClusterUnavailable as e:  # this machine cannot; a start that fails is a failure
        pytest.skip(str(e))
    try:
        (tmp_path / "mixed.yaml").write_text(MIXED)
        uri = f"sqlite:///{tmp_path}/mlflow.db"
        done = subprocess.run(
            [
                sys.executable,
                str(RUN_PY),
                "--space",
                str(tmp_path / "mixed.yaml"),
                "--address",
                cluster.address,
                "--mlflow-uri",
                uri,
                "--storage",
                str(tmp_path / "rr"),
            ],
            env=cluster.env,
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
        )
    finally:
        left = cluster.stop()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not left
    runs = _runs(uri, "mixed")
    trials = [r for r in runs if r.data.tags.get("grid.role") == "trial"]
    assert len(trials) == 2 * 3 + 4 and all(r.info.status == "FINISHED" for r in trials)
    figures = schedule_figures(trials, slots=8)
    print(f"\n8-slot local cluster, 2 searched cells x 3 trials + 4 grid cells: {figures}")
    assert figures["peak_in_flight"] > 2  # more than one searched cell's max_concurrent: cells ran together
    assert _overlapping_cells(trials) >= 3
    for cell in {r.data.tags["grid.cell"] for r in trials if r.data.params.get("flexclip.loss.contrastive") != "1.0"}:
        mine = [r for r in trials if r.data.tags["grid.cell"] == cell]
        if len(mine) == 3:  # a searched cell: never more than its max_concurrent of 2 at once
            assert schedule_figures(mine, slots=2)["peak_in_flight"] <= 2
    parents = [r for r in runs if r.data.tags.get("grid.role") == "cell"]
    assert len(parents) == 6 and all(p.info.status == "FINISHED" for p in parents)


def test_a_search_cut_off_by_a_killed_driver_resumes_from_its_own_history(tmp_path):
    (tmp_path / "s.yaml").write_text(SEARCH)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    args = [
        sys.executable,
        str(RUN_PY),
        "--space",
        str(tmp_path / "s.yaml"),
        "--mlflow-uri",
        uri,
        "--storage",
        str(tmp_path / "rr"),
    ]
    log = tmp_path / "first.txt"
    first = subprocess.Popen(args, stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=tmp_path)
    deadline = time.time() + 300
    while "trial 2/4: done" not in log.read_text():
        assert time.time() < deadline and first.poll() is None, log.read_text()[-3000:]
        time.sleep(0.3)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    before = {r.info.run_id: r for r in _runs(uri, "searchkill") if r.data.tags.get("grid.role") == "trial"}
    finished_before = [r for r in before.values() if r.info.status == "FINISHED"]
    assert len(finished_before) >= 2

    second = subprocess.run(args + ["--resume"], capture_output=True, text=True, cwd=tmp_path, timeout=400)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    runs = _runs(uri, "searchkill")
    (parent,) = [r for r in runs if r.data.tags.get("grid.role") == "cell"]
    trials = {r.info.run_id: r for r in runs if r.data.tags.get("grid.role") == "trial"}
    assert len(trials) == 4 and all(r.info.status == "FINISHED" for r in trials.values())
    for run_id, r in before.items():  # nothing duplicated; what had finished ran once
        assert run_id in trials
        if r.info.status == "FINISHED":
            assert trials[run_id].data.tags["grid.attempts"] == "1"
    path = MlflowClient(uri).download_artifacts(parent.info.run_id, "optuna_trials.json")
    history = json.loads(Path(path).read_text())["trials"]
    assert len(history) == 4
    first_attempt = sorted(finished_before, key=lambda r: r.info.end_time)
    for row, run in zip(history, first_attempt):  # the resumed study starts with the first attempt's trials
        assert row["state"] == "COMPLETE"
        assert row["params"]["flexclip.loss.contrastive"] == pytest.approx(
            float(run.data.params["flexclip.loss.contrastive"])
        )
        assert row["value"] == pytest.approx(run.data.metrics["val/map_avg"])
    assert re.search(r"searchkill: 1 cells, 0 already finished", second.stdout)
    top = max(r.data.metrics["val/map_avg"] for r in trials.values())
    tied = sorted((r for r in trials.values() if r.data.metrics["val/map_avg"] == top), key=lambda r: r.info.end_time)
    assert parent.data.tags["best_run_id"] == tied[0].info.run_id  # a small validation set can tie: the earliest
