"""CellSearcher driven directly, as Tune drives it, against a real SQLite MLflow store: the order cells start in,
per-cell concurrency, one Optuna study per cell, parents opened and closed as cells start and end, and `--resume`
from what MLflow recorded. Trials are played by writing their child runs with the same TrialRun the trial uses."""

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from ray.tune.search import Searcher

from grid.search import CellSearcher, schedule_order
from grid.space import parse_space
from grid.tracking import GridTracking, TrialRun

SEARCHED = {
    "method": "flexclip",
    "dataset": ["wikipedia", "pascal_sentence"],
    "shots": 1,
    "params": {"flexclip.loss.contrastive": {"loguniform": [0.1, 10.0]}},
    "search": {"trials": 3, "max_concurrent": 2, "seed": 0},
}
GRID = {"method": "coder", "dataset": ["wikipedia", "pascal_sentence"], "shots": 1}


def _tracking(tmp_path, studies, name="t"):
    space = parse_space({"name": name, "studies": studies})
    return space, GridTracking(f"sqlite:///{tmp_path}/mlflow.db", space)


def _suggest_all(searcher: CellSearcher, prefix: str) -> dict:
    """Ask until the searcher says wait (None) or done; {trial id: config}."""
    out = {}
    while True:
        trial_id = f"{prefix}{len(out)}"
        config = searcher.suggest(trial_id)
        if config is None or config == Searcher.FINISHED:
            return out
        out[trial_id] = config


def _finish(searcher, tracking, trial_id, config, value, end=True):
    """What a trial does: its child run under the cell's parent, metrics, FINISHED; then Tune tells the searcher."""
    own = {k: v for k, v in config.items() if not k.startswith("grid.")}
    run = TrialRun(
        tracking.spec,
        config["grid.parent_run_id"],
        trial_id,
        trial_id,
        own,
        {"grid.cell": config["grid.cell"]},
        config.get("grid.rerun_of"),
    )
    if not end:
        return run.run_id  # cut off: the run stays RUNNING
    metrics = {config["grid.metric"]: value, "test/map_avg": value / 2}
    run.log_metrics(metrics, step=1)
    run.finish()
    searcher.on_trial_complete(trial_id, {**metrics, "mlflow_run_id": run.run_id})
    return run.run_id


def _parents(tracking):
    return tracking.parents_by_cell()


def _history(tracking, run_id):
    path = MlflowClient(tracking.uri).download_artifacts(run_id, "optuna_trials.json")
    return json.loads(Path(path).read_text())["trials"]


def test_cells_start_seed_by_seed_then_shot_by_shot_in_the_order_listed():
    space = parse_space(
        {
            "name": "t",
            "studies": [
                {"method": "flexclip", "dataset": ["wikipedia", "nuswide"], "shots": [5, 0], "seed": [1, 0]},
                {"method": "coder", "dataset": "wikipedia", "shots": [0, 5], "seed": [0, 1]},
            ],
        }
    )
    order = [
        (c.constants["seed"], c.constants["shots"], c.method, c.constants["dataset"])
        for c in schedule_order(space.cells())
    ]
    assert order[:5] == [
        (1, 5, "flexclip", "wikipedia"),
        (1, 5, "flexclip", "nuswide"),
        (1, 5, "coder", "wikipedia"),
        (1, 0, "flexclip", "wikipedia"),
        (1, 0, "flexclip", "nuswide"),
    ]
    assert [o[0] for o in order] == [1] * 6 + [0] * 6  # every cell of the first seed before the second


def test_grid_and_searched_cells_run_together_up_to_each_searchs_own_limit(tmp_path):
    space, tracking = _tracking(tmp_path, [SEARCHED, GRID])
    searcher = CellSearcher(space.cells(), tracking)
    first = _suggest_all(searcher, "a")
    per_cell = {}
    for config in first.values():
        per_cell[config["grid.cell"]] = per_cell.get(config["grid.cell"], 0) + 1
    # 2 searched cells at their max_concurrent of 2, and both grid cells: 6 trials in flight, none waits for a cell
    assert sorted(per_cell.values()) == [1, 1, 2, 2] and len(first) == 6
    assert len(_parents(tracking)) == 4  # a parent per cell, opened as its first trial started
    searched_cell = next(c for c in first.values() if "flexclip" in c["grid.cell"])["grid.cell"]
    trial_id, config = next((t, c) for t, c in first.items() if c["grid.cell"] == searched_cell)
    _finish(searcher, tracking, trial_id, config, 0.5)
    third = searcher.suggest("b0")  # the freed slot goes to the cell that started first and has trials left
    assert third["grid.cell"] == searched_cell
    assert searcher.suggest("b1") is None  # the other searched cell is at its limit; everything else has started
    for t, c in [*first.items(), ("b0", third)]:
        if t != trial_id:
            _finish(searcher, tracking, t, c, 0.1 + 0.1 * len(t))
    assert searcher.suggest("c0") is not None  # the second searched cell's third trial
    assert searcher.suggest("c1") == Searcher.FINISHED


def test_each_cell_has_its_own_optuna_study_and_its_parent_holds_the_best(tmp_path):
    space, tracking = _tracking(tmp_path, [SEARCHED])
    searcher = CellSearcher(space.cells(), tracking)
    ended = {}
    while batch := _suggest_all(searcher, f"r{len(ended)}-"):
        for t, c in batch.items():
            value = c["flexclip.loss.contrastive"] / 10  # the sampler's own value, so the best is known
            ended[t] = (c, value, _finish(searcher, tracking, t, c, value))
    assert len(ended) == 6
    for cell_id, parent in _parents(tracking).items():
        mine = {t: v for t, v in ended.items() if v[0]["grid.cell"] == cell_id}
        history = _history(tracking, parent.info.run_id)
        assert sorted(h["trial_id"] for h in history) == sorted(mine)  # no other cell's trial in its study
        best = max(mine.values(), key=lambda v: v[1])
        assert parent.info.status == "FINISHED" and parent.data.tags["best_run_id"] == best[2]
        assert parent.data.metrics["val/map_avg"] == pytest.approx(best[1])


def test_among_tied_trials_the_parent_holds_the_one_that_ended_first(tmp_path):
    study = {**SEARCHED, "dataset": "wikipedia", "search": {"trials": 3, "seed": 0}}
    space, tracking = _tracking(tmp_path, [study])
    searcher = CellSearcher(space.cells(), tracking)
    batch = _suggest_all(searcher, "a")
    ended = [_finish(searcher, tracking, t, c, v) for (t, c), v in zip(batch.items(), [0.7, 0.7, 0.7])]
    (parent,) = _parents(tracking).values()
    assert parent.data.tags["best_run_id"] == ended[0]  # not whichever run id sorts last
    assert parent.data.metrics["val/map_avg"] == pytest.approx(0.7)


def test_a_stopped_trial_is_pruned_in_optuna_and_killed_in_mlflow_never_the_best(tmp_path):
    space, tracking = _tracking(tmp_path, [{**SEARCHED, "dataset": "wikipedia", "search": {"trials": 2}}])
    searcher = CellSearcher(space.cells(), tracking)
    (t0, c0), (t1, c1) = _suggest_all(searcher, "s").items()
    run = TrialRun(tracking.spec, c0["grid.parent_run_id"], t0, t0, {}, {"grid.cell": c0["grid.cell"]})
    searcher.on_trial_result(t0, {"val/map_avg": 0.99, "epoch": 1})
    searcher.on_trial_complete(t0, {"val/map_avg": 0.99})  # ASHA stopped it: no mlflow_run_id, no test metrics
    _finish(searcher, tracking, t1, c1, 0.3)
    parent = _parents(tracking)[c0["grid.cell"]]
    assert MlflowClient(tracking.uri).get_run(run.run_id).info.status == "KILLED"
    assert parent.data.metrics["val/map_avg"] == pytest.approx(0.3)  # the stopped 0.99 has no test metrics
    states = [(h["state"], h["value"]) for h in _history(tracking, parent.info.run_id)]
    assert states == [("PRUNED", 0.99), ("COMPLETE", 0.3)]


def test_resume_continues_a_search_from_its_finished_trials_and_reruns_the_cut_off_one(tmp_path):
    study = {**SEARCHED, "dataset": "wikipedia", "search": {"trials": 4, "seed": 0}}
    space, tracking = _tracking(tmp_path, [study])
    first = CellSearcher(space.cells(), tracking)
    batch = _suggest_all(first, "a")  # all 4 trials start (no per-cell limit)
    (t0, c0), (t1, c1), (t2, c2), _ = batch.items()
    _finish(first, tracking, t0, c0, 0.4)
    _finish(first, tracking, t1, c1, 0.6)
    cut_off = _finish(first, tracking, t2, c2, None, end=False)  # the driver dies; trial 4 never opened its run

    second = CellSearcher(parse_space({"name": "t", "studies": [study]}).cells(), tracking, resume=True)
    again = _suggest_all(second, "b")
    reruns = [c for c in again.values() if c["grid.rerun_of"]]
    assert len(again) == 2 and len(reruns) == 1  # the cut-off trial and the one that never started
    assert reruns[0]["grid.rerun_of"] == cut_off
    assert reruns[0]["flexclip.loss.contrastive"] == c2["flexclip.loss.contrastive"]  # its own values again
    assert reruns[0]["grid.parent_run_id"] == c0["grid.parent_run_id"]  # the same parent, reopened
    for t, c in again.items():
        _finish(second, tracking, t, c, 0.5)
    runs = MlflowClient(tracking.uri).search_runs([tracking.experiment_id], "tags.`grid.role` = 'trial'")
    assert len(runs) == 4 and all(r.info.status == "FINISHED" for r in runs)  # the rerun reused its run
    history = _history(tracking, c0["grid.parent_run_id"])
    assert [(h["params"]["flexclip.loss.contrastive"], h["value"]) for h in history[:2]] == [
        (c0["flexclip.loss.contrastive"], 0.4),
        (c1["flexclip.loss.contrastive"], 0.6),
    ]
    assert len(history) == 4 and {h["state"] for h in history} == {"COMPLETE"}


def test_resume_skips_finished_cells_and_runs_the_rest(tmp_path):
    space, tracking = _tracking(tmp_path, [GRID])
    first = CellSearcher(space.cells(), tracking)
    (t0, c0), (t1, c1) = _suggest_all(first, "a").items()
    _finish(first, tracking, t0, c0, 0.7)  # the other trial never ended
    second = CellSearcher(space.cells(), tracking, resume=True)
    again = _suggest_all(second, "b")
    assert [c["grid.cell"] for c in again.values()] == [c1["grid.cell"]]
    assert len(_parents(tracking)) == 2  # no parent added: the unfinished cell's parent is reopened


TWO_WEIGHTS = {
    **SEARCHED,
    "dataset": "wikipedia",
    "params": {
        "flexclip.loss.contrastive": {"loguniform": [0.1, 10.0]},
        "flexclip.loss.consistency": {"uniform": [0.0, 1.0]},
    },
    "search": {"trials": 8, "seed": 0, "sampler": "random"},
}


def test_a_searched_cell_closes_with_its_fanova_importances_and_slice_plot(tmp_path):
    """The trials' metric follows the contrastive weight alone: fANOVA gives it most of the importance."""
    space, tracking = _tracking(tmp_path, [TWO_WEIGHTS])
    searcher = CellSearcher(space.cells(), tracking)
    for t, c in _suggest_all(searcher, "a").items():
        _finish(searcher, tracking, t, c, c["flexclip.loss.contrastive"] / 10 + c["flexclip.loss.consistency"] / 1e4)
    parent = next(iter(_parents(tracking).values()))
    importances = {k: v for k, v in parent.data.metrics.items() if k.startswith("importance/")}
    assert set(importances) == {"importance/flexclip.loss.contrastive", "importance/flexclip.loss.consistency"}
    assert importances["importance/flexclip.loss.contrastive"] > 0.8  # 8 trials: a rough forest, still clear
    assert sum(importances.values()) == pytest.approx(1.0)
    assert parent.info.status == "FINISHED"
    artifacts = [a.path for a in MlflowClient(tracking.uri).list_artifacts(parent.info.run_id, "search")]
    assert artifacts == ["search/slice.png"]


def test_a_failure_of_the_importances_leaves_the_cell_closed_with_its_best_trial(tmp_path, monkeypatch, caplog):
    space, tracking = _tracking(tmp_path, [{**TWO_WEIGHTS, "search": {"trials": 2}}])

    def broken(*args, **kwargs):
        raise OSError("artifact store unreachable")

    monkeypatch.setattr(tracking, "log_importances", broken)
    searcher = CellSearcher(space.cells(), tracking)
    for i, (t, c) in enumerate(_suggest_all(searcher, "a").items()):
        _finish(searcher, tracking, t, c, 0.1 * (i + 1))
    parent = next(iter(_parents(tracking).values()))
    assert parent.info.status == "FINISHED" and parent.data.metrics["val/map_avg"] == pytest.approx(0.2)
    assert "no parameter importances" in caplog.text and "artifact store unreachable" in caplog.text


def test_a_searched_cell_with_one_complete_trial_closes_without_importances(tmp_path):
    space, tracking = _tracking(tmp_path, [{**TWO_WEIGHTS, "search": {"trials": 2}}])
    searcher = CellSearcher(space.cells(), tracking)
    (t0, c0), (t1, c1) = _suggest_all(searcher, "a").items()
    _finish(searcher, tracking, t0, c0, 0.4)
    searcher.on_trial_complete(t1, error=True)
    parent = next(iter(_parents(tracking).values()))
    assert parent.info.status == "FINISHED"
    assert not [k for k in parent.data.metrics if k.startswith("importance/")]
    assert [a.path for a in MlflowClient(tracking.uri).list_artifacts(parent.info.run_id, "search")] == [
        "search/slice.png"
    ]
