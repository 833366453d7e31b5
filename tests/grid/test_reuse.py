"""Incremental grids (grid/reuse.py): the reuse key, the store lookup, and real grids run twice into one store."""

import pytest
from mlflow.tracking import MlflowClient

from flexcoder import TrialConfig
from flexcoder_testing.tiny_datasets import write_tiny_dataset
from grid.reuse import REUSE_KEY_TAG, _real_fingerprint, code_version, data_fingerprint, find_finished, reuse_key
from grid.run import main

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_only_a_clean_known_commit_is_a_code_version():
    assert code_version(COMMIT) == COMMIT
    assert code_version(COMMIT + "-dirty") is None
    assert code_version("unknown") is None and code_version("") is None


def test_the_key_follows_config_code_and_data_but_not_where_files_live():
    own = TrialConfig.from_flat({"method": "coder", "dataset": "dtd", "shots": 4}).own_flat()
    key = reuse_key(own, COMMIT, "embedded")
    assert key == reuse_key(dict(own), COMMIT, "embedded")
    assert key == reuse_key({**own, "data_root": "/elsewhere", "feature_cache": "/tmp/c"}, COMMIT, "embedded")
    assert key != reuse_key({**own, "seed": 1}, COMMIT, "embedded")
    assert key != reuse_key({**own, "coder.rerank_threshold": 0.3}, COMMIT, "embedded")  # a changed default
    assert key != reuse_key(own, "f" * 40, "embedded")
    assert key != reuse_key(own, COMMIT, "other-data")


def test_real_data_is_fingerprinted_by_its_feature_cache_keys(tmp_path):
    write_tiny_dataset("wikipedia", tmp_path)
    flat = {"method": "flexclip", "dataset": "wikipedia", "backbone": "ViT-B-32/openai", "data_root": str(tmp_path)}
    before = data_fingerprint(TrialConfig.from_flat(flat))
    assert len(before.split(",")) == 2 and before == data_fingerprint(TrialConfig.from_flat(flat))
    assert before != data_fingerprint(TrialConfig.from_flat({**flat, "backbone": "RN50/openai"}))
    write_tiny_dataset("wikipedia", tmp_path, per_class_train=4)  # one more image per class: different data
    _real_fingerprint.cache_clear()  # a new trial process (the fingerprint is read once per process)
    assert before != data_fingerprint(TrialConfig.from_flat(flat))
    assert data_fingerprint(TrialConfig.from_flat({"method": "flexclip", "dataset": "wikipedia"})) == "embedded"


def test_the_lookup_finds_finished_runs_in_any_experiment_only(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path}/m.db")
    a, b = client.create_experiment("a"), client.create_experiment("b")
    old = client.create_run(a, tags={REUSE_KEY_TAG: "k1"}).info.run_id
    client.set_terminated(old, "FINISHED")
    client.set_terminated(client.create_run(b, tags={REUSE_KEY_TAG: "k2"}).info.run_id, "FAILED")
    client.create_run(b, tags={REUSE_KEY_TAG: "k3"})  # still running
    assert find_finished(client, "k1").info.run_id == old
    assert find_finished(client, "k2") is None and find_finished(client, "k3") is None


SPACE = (
    "name: {name}\nstudies:\n"
    "  - {{method: coder, dataset: {datasets}, shots: 0, params: {{coder.variant: clip_prompt}}}}\n"
)


def _grid(tmp_path, uri, name, datasets, *extra):
    space = tmp_path / f"{name}.yaml"
    space.write_text(SPACE.format(name=name, datasets=datasets))
    assert main(["--space", str(space), "--mlflow-uri", uri, "--storage", str(tmp_path / "rr"), *extra]) == 0
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(name)
    trials = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("grid.role") == "trial"]
    return {r.data.tags["dataset"]: r for r in trials}


@pytest.mark.integration
def test_a_second_run_reuses_matching_trials_reruns_new_cells_and_no_reuse_reruns_all(
    ray_local, tmp_path, monkeypatch, capsys
):
    """The same cells in another experiment of the store are not run again (their runs point at the first ones and
    carry the same metrics); a new dataset runs; --no-reuse and a dirty tree run everything."""
    monkeypatch.setattr("grid.tracking.git_commit", lambda: COMMIT)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    first = _grid(tmp_path, uri, "first", "[eurosat, oxford_pets]")
    assert all(REUSE_KEY_TAG in r.data.tags and "grid.reused_from" not in r.data.tags for r in first.values())
    second = _grid(tmp_path, uri, "second", "[eurosat, oxford_pets, dtd]")
    assert "reused" in capsys.readouterr().out
    for name in ("eurosat", "oxford_pets"):
        assert second[name].data.tags["grid.reused_from"] == first[name].info.run_id
        assert second[name].data.metrics["test/top1"] == first[name].data.metrics["test/top1"]
    assert "grid.reused_from" not in second["dtd"].data.tags and "test/top1" in second["dtd"].data.metrics
    fresh = _grid(tmp_path, uri, "third", "[eurosat]", "--no-reuse")
    assert "grid.reused_from" not in fresh["eurosat"].data.tags
    monkeypatch.setattr("grid.tracking.git_commit", lambda: COMMIT + "-dirty")
    dirty = _grid(tmp_path, uri, "fourth", "[eurosat]")
    assert "grid.reused_from" not in dirty["eurosat"].data.tags and REUSE_KEY_TAG not in dirty["eurosat"].data.tags
