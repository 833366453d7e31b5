"""What a researcher sees: `mlflow ui` on loopback over the smoke grid's store, rendered by a real headless Chromium.
The link the driver prints opens the runs table (model-training view) listing the cells by name, and a trial's run
page shows its metrics."""

import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from flexcoder_testing.browser import chromium, render
from flexcoder_testing.mlflow_server import mlflow_server
from grid.space import load_space
from grid.tracking import GridTracking

SMOKE = Path(__file__).resolve().parents[2] / "search_spaces" / "smoke.yaml"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(chromium() is None, reason="Debian's chromium is not installed (.ci/run installs it)"),
]


@pytest.fixture(scope="module")
def ui(smoke_run, tmp_path_factory):
    code, uri, _ = smoke_run
    assert code == 0
    with mlflow_server(uri, tmp_path_factory.mktemp("ui"), command="ui") as url:
        yield url, uri


def test_the_printed_link_opens_the_runs_table_with_every_cell_by_name(ui, tmp_path):
    url, uri = ui
    link = GridTracking(uri, load_space(SMOKE)).ui_link(url)
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("smoke")
    parents = client.search_runs([exp.experiment_id], "tags.`grid.role` = 'cell'")
    start = time.perf_counter()
    text = render(link, expect=parents[0].info.run_name, screenshot=tmp_path / "runs.png")
    print(f"runs table rendered in {time.perf_counter() - start:.1f}s")
    assert "Runs" in text and "smoke" in text
    for parent in parents:
        assert parent.info.run_name in text
    assert "grid_trial_" not in text  # no run is named by its Ray id
    assert load_space(SMOKE).description in text  # the experiment's description


def test_a_trial_run_page_shows_its_metrics(ui):
    client, trial, page = _run_page(
        ui, "tags.`grid.role` = 'trial' and tags.method = 'flexclip' and attributes.status = 'FINISHED'"
    )
    text = render(page, expect="test/map_avg")
    assert trial.info.run_name in text
    for name in ("test/map_avg", "test/map_i2t", "val/map_avg"):
        value = trial.data.metrics[name]
        assert f"{name} {value}" in text  # the metric and its float64 value, as MLflow holds it


def test_a_searched_cell_page_names_its_best_trial_and_the_values_it_ran_with(ui):
    client, parent, page = _run_page(
        ui, "tags.`grid.role` = 'cell' and params.`search.flexclip.loss.contrastive` != ''"
    )
    best = client.get_run(parent.data.tags["best_run_id"])
    text = render(page, expect="Best trial")
    assert f"Best trial: {best.info.run_name}" in text
    assert f"flexclip.loss.contrastive {best.data.params['flexclip.loss.contrastive']}" in text


def _run_page(ui, filter_string: str):
    """(client, the first run of the smoke experiment matching the filter, the URL of its page in the UI)."""
    url, uri = ui
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("smoke")
    run = client.search_runs([exp.experiment_id], filter_string)[0]
    return client, run, f"{url}/#/experiments/{exp.experiment_id}/runs/{run.info.run_id}?workflowType=machine_learning"
