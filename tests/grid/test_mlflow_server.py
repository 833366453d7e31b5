"""A real `mlflow server` (SQLite backend, artifacts proxied into a temp dir, bound to 127.0.0.1) receives a grid's runs
over HTTP; everything is checked back through MlflowClient over HTTP. A server that is down stops the grid before
anything is written."""

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from flexcoder_testing.mlflow_server import BIN
from flexcoder_testing.mlflow_server import mlflow_server as served
from grid.bootstrap import PER_QUERY_ARTIFACT, load_per_query
from grid.local_cluster import free_ports
from grid.run import main

pytestmark = pytest.mark.integration

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
    with served(f"sqlite:///{tmp}/server.db", tmp) as url:
        yield url, tmp


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


def test_trial_configs_and_per_query_values_are_stored_by_the_server_and_download_over_http(served_grid, tmp_path):
    _, client, _, runs, server_tmp = served_grid
    for run in (r for r in runs if r.data.tags.get("grid.role") == "trial"):
        assert [a.path for a in client.list_artifacts(run.info.run_id)] == [PER_QUERY_ARTIFACT, "trial_config.json"]
        local = client.download_artifacts(run.info.run_id, "trial_config.json", str(tmp_path))
        config = json.loads(Path(local).read_text())
        assert config["method"] == run.data.tags["method"] and config["seed"] == 0
        assert config["shots"] == int(run.data.tags["shots"])
        per_query = load_per_query(client, run)  # what the report's bootstrap reads, through the server's proxy
        assert per_query and all(name in run.data.metrics for name in per_query)
    for name in ("trial_config.json", PER_QUERY_ARTIFACT):
        stored = list((server_tmp / "artifacts").rglob(name))
        assert len(stored) == 3  # on the server's artifact store, not on the client side


def test_a_server_that_is_down_stops_the_grid_before_anything_is_written(tmp_path, capsys):
    (tmp_path / "space.yaml").write_text(SPACE)
    url = f"http://127.0.0.1:{free_ports(1)[0]}"  # nothing listens there
    code = main(["--space", str(tmp_path / "space.yaml"), "--mlflow-uri", url, "--storage", str(tmp_path / "rr")])
    assert code == 2
    assert f"MLflow tracking server {url} is not reachable" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["space.yaml"]  # no Tune storage, no local MLflow store
