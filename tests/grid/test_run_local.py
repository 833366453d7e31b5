"""A real local Ray run of search_spaces/smoke.yaml into a real SQLite MLflow store, checked through MlflowClient."""

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from grid.bootstrap import PER_QUERY_ARTIFACT, load_per_query, metric_of
from grid.run import main
from grid.space import load_space

pytestmark = pytest.mark.integration

SMOKE = Path(__file__).resolve().parents[2] / "search_spaces" / "smoke.yaml"


def _runs(uri):
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("smoke")
    return client, exp, client.search_runs([exp.experiment_id], max_results=1000)


def test_smoke_grid_exits_zero(smoke_run):
    assert smoke_run[0] == 0


def test_one_finished_parent_per_cell_with_the_best_metric(smoke_run):
    _, uri, _ = smoke_run
    space = load_space(SMOKE)
    client, _, runs = _runs(uri)
    parents = [r for r in runs if r.data.tags.get("grid.role") == "cell"]
    assert sorted(r.data.tags["grid.cell"] for r in parents) == sorted(c.id for c in space.cells())
    for p in parents:
        assert p.info.status == "FINISHED"
        assert p.data.tags["data"] == "simulated" and p.data.tags["git_commit"]
        metric = p.data.tags["grid.metric"]
        assert 0.0 <= p.data.metrics[metric] <= 1.0
        assert p.data.tags["best_run_id"] in {r.info.run_id for r in runs}
        assert any(k.startswith("test/") for k in p.data.metrics)  # the best is a trial that ran to the end


def test_children_nest_under_their_parent_with_params_tags_metrics_and_config(smoke_run):
    _, uri, _ = smoke_run
    space = load_space(SMOKE)
    client, _, runs = _runs(uri)
    parents = {r.info.run_id: r for r in runs if r.data.tags.get("grid.role") == "cell"}
    children = [r for r in runs if r.data.tags.get("grid.role") == "trial"]
    assert len(children) == space.num_trials()
    for child in children:
        parent = parents[child.data.tags["mlflow.parentRunId"]]
        assert child.data.tags["grid.cell"] == parent.data.tags["grid.cell"]
        if child.data.tags.get("grid.stopped_by"):  # ASHA stopped it early: not a failure, no final metrics
            assert child.info.status == "KILLED" and child.data.tags["grid.stopped_by"] == "asha"
            continue
        assert child.info.status == "FINISHED"
        for tag in ("method", "dataset", "backbone", "shots", "seed", "data"):
            assert child.data.tags[tag]
        assert child.data.params["dataset"] == "pascal_sentence"
        other = "coder" if child.data.tags["method"] == "flexclip" else "flexclip"
        assert not any(k.startswith(other + ".") for k in child.data.params)  # only its own method's section
        names = [a.path for a in client.list_artifacts(child.info.run_id)]
        assert "trial_config.json" in names
        if child.data.tags["method"] == "flexclip":
            assert {"test/map_i2t", "test/map_t2i", "test/map_avg"} <= set(child.data.metrics)
        else:
            assert "test/top1" in child.data.metrics
        # The per-query values behind its test metrics, for the report's bootstrap: their mean is the metric.
        assert PER_QUERY_ARTIFACT in names
        per_query = load_per_query(client, child)
        assert per_query and all(name in child.data.metrics for name in per_query)
        for name in per_query:
            assert metric_of(per_query, name)[0] == pytest.approx(child.data.metrics[name], abs=1e-6)  # float32 APs


def test_optuna_cell_searched_distinct_loss_weights(smoke_run):
    _, uri, _ = smoke_run
    _, _, runs = _runs(uri)
    searched = [
        r
        for r in runs
        if r.data.tags.get("grid.role") == "trial"
        and "search" not in r.data.tags
        and r.data.params.get("flexclip.loss.contrastive") not in (None, "1.0")
    ]
    assert len({r.data.params["flexclip.loss.contrastive"] for r in searched}) == 3


def test_per_epoch_metrics_are_logged_for_trained_trials(smoke_run):
    _, uri, _ = smoke_run
    client, _, runs = _runs(uri)
    full = [
        r
        for r in runs
        if r.data.tags.get("grid.role") == "trial"
        and r.data.tags["method"] == "flexclip"
        and r.data.params["flexclip.variant"] == "full"
        and not r.data.tags.get("grid.stopped_by")
    ]
    assert full
    history = client.get_metric_history(full[0].info.run_id, "val/map_avg")
    assert len(history) >= 2 and len({h.step for h in history}) >= 2


def test_resume_of_a_finished_grid_runs_nothing_and_adds_no_runs(smoke_run, capsys):
    code, uri, tmp = smoke_run
    before = len(_runs(uri)[2])
    assert main(["--space", str(SMOKE), "--mlflow-uri", uri, "--storage", str(tmp / "ray_results"), "--resume"]) == 0
    assert len(_runs(uri)[2]) == before
    assert "already finished" in capsys.readouterr().out


def test_coder_trials_share_one_textgen_actor_that_is_stopped_after_the_grid(ray_local, tmp_path):
    """Two CODER cells (datasets) use the template backend through the same named actor; it is gone afterwards.
    Each trial records the rerank threshold it ran: EuroSAT's official 0.3 (tagged as a dataset setting), the
    fallback 0.1 elsewhere."""
    import ray

    from flexcoder import TrialConfig
    from grid.textgen_actor import actor_name

    space = tmp_path / "s.yaml"
    space.write_text(
        "name: shared\nstudies:\n  - {method: coder, dataset: [wikipedia, eurosat], "
        "params: {coder.text_set: name+att, coder.rerank: true}}\n"
    )
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    assert main(["--space", str(space), "--mlflow-uri", uri, "--storage", str(tmp_path / "rr")]) == 0
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("shared")
    trials = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("grid.role") == "trial"]
    assert len(trials) == 2
    pids = {r.data.tags.get("grid.textgen_pid") for r in trials}
    assert len(pids) == 1 and None not in pids  # one actor process answered both trials
    by_dataset = {r.data.tags["dataset"]: r.data for r in trials}
    assert by_dataset["eurosat"].params["coder.rerank_threshold"] == "0.3"
    assert by_dataset["eurosat"].tags["grid.dataset_settings"] == "rerank_threshold=0.3"
    assert by_dataset["wikipedia"].params["coder.rerank_threshold"] == "0.1"
    assert "grid.dataset_settings" not in by_dataset["wikipedia"].tags
    name = actor_name(TrialConfig.from_flat({"method": "coder", "dataset": "wikipedia"}).coder.textgen)
    with pytest.raises(ValueError):
        ray.get_actor(name, namespace="flexcoder")


def test_impossible_resources_fail_clearly_before_any_run_is_written(ray_local, tmp_path, capsys):
    space = tmp_path / "s.yaml"
    space.write_text("name: greedy\nstudies:\n  - {method: coder, dataset: wikipedia, resources: {cpu: 1, gpu: 4}}\n")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    assert main(["--space", str(space), "--mlflow-uri", uri]) == 2
    err = capsys.readouterr().err
    assert "studies[0].resources: a trial needs 1 CPU and 4 GPU on one node, and no node of the Ray cluster" in err
    assert MlflowClient(uri).get_experiment_by_name("greedy") is None


def test_unreachable_tracking_server_is_an_error_before_trials(tmp_path, capsys):
    space = tmp_path / "s.yaml"
    space.write_text("name: t\nstudies:\n  - {method: coder, dataset: wikipedia}\n")
    assert main(["--space", str(space), "--mlflow-uri", "http://127.0.0.1:9"]) == 2
    assert "MLflow tracking server http://127.0.0.1:9 is not reachable" in capsys.readouterr().err


def test_driver_killed_mid_grid_resumes_without_rerunning_or_duplicating(tmp_path):
    """A real driver process is SIGKILLed after its first trial finishes; --resume completes the grid. Nothing is
    lost (every cell finished), nothing is duplicated (one parent per cell, one child per trial), and the finished
    trial is not run again (its grid.attempts stays 1)."""
    import os
    import re
    import signal
    import subprocess
    import sys
    import time

    space = tmp_path / "k.yaml"
    space.write_text(
        "name: killme\nstudies:\n  - method: flexclip\n    dataset: pascal_sentence\n    shots: [0, 1, 3]\n"
        "    params: {flexclip.generator.epochs: 2, flexclip.projector.epochs: 4}\n"
    )
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    run_py = Path(__file__).resolve().parents[2] / "grid" / "run.py"
    args = [
        sys.executable,
        str(run_py),
        "--space",
        str(space),
        "--mlflow-uri",
        uri,
        "--storage",
        str(tmp_path / "rr"),
        "--max-concurrent",
        "1",
    ]
    log = open(tmp_path / "first.txt", "w")
    first = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    deadline = time.time() + 240
    while "trial 1/3: done" not in (tmp_path / "first.txt").read_text():
        assert time.time() < deadline and first.poll() is None, (tmp_path / "first.txt").read_text()[-3000:]
        time.sleep(0.5)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    second = subprocess.run(args + ["--resume"], capture_output=True, text=True, cwd=tmp_path, timeout=400)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("killme")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("grid.role") == "cell"]
    children = [r for r in runs if r.data.tags.get("grid.role") == "trial"]
    assert len(parents) == 3 and len(children) == 3
    assert all(r.info.status == "FINISHED" for r in runs)
    finished_before_kill = re.search(r"trial 1/3: done\s+(\S+)", (tmp_path / "first.txt").read_text()).group(1)
    by_cell = {r.data.tags["grid.cell"]: r for r in children}
    assert by_cell[finished_before_kill].data.tags["grid.attempts"] == "1"  # not run again
    # A trial interrupted mid-run reuses its run (attempts 2); one that never started has a single attempt.
    assert all(r.data.tags["grid.attempts"] in {"1", "2"} for r in children)


def test_every_run_says_what_it_is_in_its_name_and_tags(smoke_run):
    _, uri, _ = smoke_run
    client, exp, runs = _runs(uri)
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"  # the model-training kind, not GenAI
    assert exp.tags["mlflow.note.content"] == load_space(SMOKE).description
    for run in runs:  # baselines and searched cells included
        assert {"method", "variant", "dataset", "backbone", "shots", "seed"} <= set(run.data.tags), run.info.run_name
    parents = {r.data.tags["grid.cell"]: r for r in runs if r.data.tags["grid.role"] == "cell"}
    names = {cell: run.info.run_name for cell, run in parents.items()}
    assert len(set(names.values())) == len(names)
    assert (
        names["flexclip/pascal_sentence/simulated/shots=1/seed=0/flexclip.variant=raw_clip"]
        == "flexclip raw_clip · pascal_sentence · 1 shot · seed 0"
    )
    assert (
        names["coder/pascal_sentence/simulated/shots=0/seed=0/coder.variant=clip_prompt"]
        == "coder clip_prompt · pascal_sentence · 0 shots · seed 0"
    )
    searched = parents["flexclip/pascal_sentence/simulated/shots=1/seed=0"]
    assert searched.info.run_name == "flexclip full (searched) · pascal_sentence · 1 shot · seed 0"
    assert searched.data.tags["variant"] == "full"
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == searched.info.run_id]
    assert sorted(r.info.run_name.split()[0] for r in trials) == ["#1", "#2", "#3"]
    for trial in trials:
        weight = float(trial.data.params["flexclip.loss.contrastive"])
        assert trial.info.run_name.endswith(f"contrastive={weight:.3g} · {searched.info.run_name}")
    # The searched cell's parent holds the values its best trial ran with, and links to that trial.
    best = client.get_run(searched.data.tags["best_run_id"])
    assert searched.data.params["flexclip.loss.contrastive"] == best.data.params["flexclip.loss.contrastive"]
    assert f"runs/{best.info.run_id})" in searched.data.tags["mlflow.note.content"]
