"""A real `mlflow server` (SQLite backend, artifacts proxied into a temp dir, bound to 127.0.0.1) receives a grid's runs
over HTTP; everything is checked back through MlflowClient over HTTP. A server that is down stops the grid before
anything is written."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from grid.run import main

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
SPACE = """\
name: served
studies:
  - method: flexclip
    dataset: pascal_sentence
    shots: [0, 1]
    params: {flexclip.generator.epochs: 1, flexclip.projector.epochs: 3}
  - method: coder
    dataset: pascal_sentence
    params: {coder.text_set: name+att}
"""


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    if not (BIN / "mlflow").exists():
        pytest.skip("needs the mlflow CLI next to the test interpreter")
    tmp = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    # MLflow's background job runner (a pool of huey consumers) serves GenAI jobs the grid never submits.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = open(tmp / "server.log", "w")
    server = subprocess.Popen(
        [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp}/server.db", "--artifacts-destination", str(tmp / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while not _healthy(url):
            assert server.poll() is None and time.time() < deadline, (tmp / "server.log").read_text()[-3000:]
            time.sleep(0.5)
        yield url, tmp
    finally:
        _stop_group(server)
        log.close()


@pytest.fixture(scope="module")
def served_grid(ray_local, mlflow_server):
    url, tmp = mlflow_server
    (tmp / "space.yaml").write_text(SPACE)
    code = main(["--space", str(tmp / "space.yaml"), "--mlflow-uri", url, "--storage", str(tmp / "rr")])
    client = MlflowClient(url)
    exp = client.get_experiment_by_name("served")
    return code, client, exp, client.search_runs([exp.experiment_id], max_results=1000), tmp


def test_a_grid_logs_every_run_to_the_server_over_http(served_grid):
    code, _, exp, runs, _ = served_grid
    assert code == 0
    parents = {r.info.run_id: r for r in runs if r.data.tags.get("grid.role") == "cell"}
    children = [r for r in runs if r.data.tags.get("grid.role") == "trial"]
    assert len(parents) == 3 and len(children) == 3
    assert all(r.info.status == "FINISHED" for r in runs)
    assert all(c.data.tags["mlflow.parentRunId"] in parents for c in children)
    assert exp.artifact_location.startswith("mlflow-artifacts:")  # artifacts go through the server's proxy


def test_params_metrics_and_per_epoch_history_arrive_over_http(served_grid):
    _, client, _, runs, _ = served_grid
    flex = [r for r in runs if r.data.tags.get("grid.role") == "trial" and r.data.tags["method"] == "flexclip"]
    for run in flex:
        assert run.data.params["dataset"] == "pascal_sentence" and run.data.params["flexclip.projector.epochs"] == "3"
        assert {"test/map_i2t", "test/map_t2i", "test/map_avg"} <= set(run.data.metrics)
        assert run.data.tags["data"] == "simulated"
        history = client.get_metric_history(run.info.run_id, "val/map_avg")
        assert {h.step for h in history} == {0, 1, 2}  # one evaluation per epoch (the final one logged at the last)
    coder = next(r for r in runs if r.data.tags.get("grid.role") == "trial" and r.data.tags["method"] == "coder")
    assert 0.0 <= coder.data.metrics["test/top1"] <= 1.0


def test_trial_configs_are_stored_by_the_server_and_download_over_http(served_grid, tmp_path):
    _, client, _, runs, server_tmp = served_grid
    for run in (r for r in runs if r.data.tags.get("grid.role") == "trial"):
        assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["trial_config.json"]
        local = client.download_artifacts(run.info.run_id, "trial_config.json", str(tmp_path))
        config = json.loads(Path(local).read_text())
        assert config["method"] == run.data.tags["method"] and config["seed"] == 0
        assert config["shots"] == int(run.data.tags["shots"])
    stored = list((server_tmp / "artifacts").rglob("trial_config.json"))
    assert len(stored) == 3  # on the server's artifact store, not on the client side


def test_a_server_that_is_down_stops_the_grid_before_anything_is_written(tmp_path, capsys):
    (tmp_path / "space.yaml").write_text(SPACE)
    url = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    code = main(["--space", str(tmp_path / "space.yaml"), "--mlflow-uri", url, "--storage", str(tmp_path / "rr")])
    assert code == 2
    assert f"MLflow tracking server {url} is not reachable" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["space.yaml"]  # no Tune storage, no local MLflow store


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (start_new_session made it: the server and its uvicorn worker), SIGKILL
    what is left after 20 s."""
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
