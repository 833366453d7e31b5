"""A real-data grid end to end: a tiny Wikipedia in its real on-disk format (list files, texts, images), a tiny
open_clip model saved as a local-dir folder, a real local Ray cluster and a real SQLite MLflow store. FLEX-CLIP and
CODER share one grid Tuner (one per study is most of this test's time; the CoOp split format goes through the same
feature path in tests/flexcoder/test_features.py). The driver fills the feature cache before any trial; a second
run of the grid encodes nothing."""

import contextlib
import io
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from flexcoder.data.reading import read_items
from flexcoder_testing.tiny_clip import save_tiny_local_dir
from grid.run import main

pytestmark = pytest.mark.integration

tiny_datasets = pytest.importorskip("flexcoder_testing.tiny_datasets")  # helper B's writers of the real formats


def _space(folder: Path, data_root: Path, backbone: str) -> Path:
    path = folder / "real.yaml"
    path.write_text(f"""
name: real-tiny
data_root: {data_root}
studies:
  - method: [flexclip, coder]
    dataset: wikipedia
    backbone: "{backbone}"
    shots: 1
    params:
      flexclip.generator.epochs: 2
      flexclip.projector.epochs: 2
      coder.text_set: name+att
""")
    return path


def _entries(cache: Path) -> dict[str, int]:
    """{entry: mtime_ns of its manifest}: a rewrite of any entry changes it."""
    return {p.name: (p / "manifest.json").stat().st_mtime_ns for p in cache.iterdir() if not p.name.startswith(".")}


@pytest.fixture(scope="module")
def two_runs(ray_local, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("real_grid")
    data_root = tmp / "data"
    tiny_datasets.write_tiny_dataset("wikipedia", data_root)
    backbone = save_tiny_local_dir(tmp / "tiny_clip")
    space = _space(tmp, data_root, backbone)
    uri = f"sqlite:///{tmp}/mlflow.db"
    out = []
    # No --resume: the second run opens new parents; --no-reuse: it reruns every trial (on the cached features)
    # instead of taking the first run's results (grid/reuse.py).
    for run in ("first", "second"):
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            code = main(
                ["--space", str(space), "--mlflow-uri", uri, "--storage", str(tmp / f"ray_{run}"), "--no-reuse"]
            )
        out.append((code, buffer.getvalue(), _entries(data_root / ".flexcoder_cache")))
    return {"runs": out, "uri": uri, "backbone": backbone}


def test_both_runs_exit_zero(two_runs):
    assert [code for code, _, _ in two_runs["runs"]] == [0, 0], two_runs["runs"][0][1][-3000:]


def test_the_first_run_extracts_each_dataset_once_before_the_trials(two_runs):
    _, out, entries = two_runs["runs"][0]
    backbone = two_runs["backbone"]
    assert f"[grid] features wikipedia x {backbone}: 2 extracted, 0 cached" in out
    assert out.index("[grid] features wikipedia") < out.index("trial 1/")
    # The two splits by the driver, and the CODER-Adapter's support features over 10 random-crop passes (the
    # fallback augment_epoch) by its trial.
    names = sorted(name.rsplit("-", 1)[0] for name in entries)
    assert names == ["wikipedia-test", "wikipedia-train", "wikipedia-train-support-x10"]


def test_the_second_run_hits_the_cache_and_encodes_no_image(two_runs):
    _, out, entries = two_runs["runs"][1]
    backbone = two_runs["backbone"]
    assert f"[grid] features wikipedia x {backbone}: 0 extracted, 2 cached" in out
    assert entries == two_runs["runs"][0][2]  # the same entries, none rewritten (by the driver or a trial)


def test_every_trial_finished_on_real_data_with_metrics_in_range(two_runs):
    client = MlflowClient(two_runs["uri"])
    exp = client.get_experiment_by_name("real-tiny")
    runs = client.search_runs([exp.experiment_id], max_results=100)
    parents = [r for r in runs if r.data.tags.get("grid.role") == "cell"]
    children = [r for r in runs if r.data.tags.get("grid.role") == "trial"]
    assert len(parents) == 4 and len(children) == 4  # 2 cells x 2 runs, one trial each
    for run in parents + children:
        assert run.info.status == "FINISHED" and run.data.tags["data"] == "real"
        assert run.data.tags["backbone"] == two_runs["backbone"]
    for child in children:
        metric = "test/map_avg" if child.data.tags["method"] == "flexclip" else "test/top1"
        assert 0.0 <= child.data.metrics[metric] <= 1.0
        if child.data.tags["method"] == "coder":  # the few-shot adapter ran with augmentation on
            assert child.data.params["coder.augment_epoch"] == "10"
    # The same cached features give the same numbers in both runs.
    by_cell: dict[str, set] = {}
    for child in children:
        metric = "test/map_avg" if child.data.tags["method"] == "flexclip" else "test/top1"
        by_cell.setdefault(child.data.tags["grid.cell"], set()).add(round(child.data.metrics[metric], 6))
    assert all(len(values) == 1 for values in by_cell.values()), by_cell


def test_a_missing_checkpoint_stops_the_grid_before_ray_naming_the_file(tmp_path, capsys):
    tiny_datasets.write_tiny_dataset("wikipedia", tmp_path / "data")
    missing = tmp_path / "weights" / "ViT-B-32.safetensors"
    space = _space(tmp_path, tmp_path / "data", f"ViT-B-32/{missing}")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    assert main(["--space", str(space), "--mlflow-uri", uri]) == 2
    err = capsys.readouterr().err
    assert "CLIP weights are missing or unusable" in err and f"checkpoint file {missing} does not exist" in err
    assert not (tmp_path / "mlflow.db").exists()  # stopped before the tracking store was touched


def test_an_unreadable_image_stops_the_grid_before_any_run_naming_dataset_and_backbone(ray_local, tmp_path, capsys):
    tiny_datasets.write_tiny_dataset("wikipedia", tmp_path / "data")
    broken = read_items("wikipedia", tmp_path / "data").train.image_paths[0]
    Path(broken).write_bytes(b"not an image")
    backbone = save_tiny_local_dir(tmp_path / "tiny_clip")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    assert main(["--space", str(_space(tmp_path, tmp_path / "data", backbone)), "--mlflow-uri", uri]) == 2
    err = capsys.readouterr().err
    assert f"feature extraction failed:\nfeatures of wikipedia x {backbone}" in err
    assert f"cannot read image {broken}" in err
    assert MlflowClient(uri).get_experiment_by_name("real-tiny") is None
