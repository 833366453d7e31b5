"""Every file in search_spaces/ validates and expands (torchtune's config test, globbed recursively)."""

from pathlib import Path

import pytest

from grid.run import main
from grid.space import load_space

SPACES = sorted((Path(__file__).resolve().parents[2] / "search_spaces").rglob("*.yaml"))


def test_the_three_documented_spaces_exist():
    assert {p.name for p in SPACES} >= {"embedded.yaml", "smoke.yaml", "full.yaml"}


@pytest.mark.parametrize("path", SPACES, ids=lambda p: p.name)
def test_space_validates_and_expands(path):
    space = load_space(path)
    assert space.cells() and space.num_trials() >= len(space.cells())


def test_embedded_and_smoke_are_simulated_and_full_is_real():
    by_name = {p.name: load_space(p) for p in SPACES}
    assert by_name["embedded.yaml"].simulated and by_name["smoke.yaml"].simulated
    assert not by_name["full.yaml"].simulated


def test_full_covers_the_paper_grid():
    full = load_space(next(p for p in SPACES if p.name == "full.yaml"))
    flex = [c for c in full.cells() if c.method == "flexclip"]
    assert {c.constants["dataset"] for c in flex} == {"wikipedia", "pascal_sentence", "nuswide", "nuswide10k"}
    assert {c.constants["shots"] for c in flex} == {0, 1, 3, 5, 7}
    assert any(c.study.search for c in flex)
    assert any(c.method == "coder" for c in full.cells())


def test_dry_run_prints_cells_and_trial_count_and_starts_nothing(capsys):
    path = next(p for p in SPACES if p.name == "full.yaml")
    assert main(["--space", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    space = load_space(path)
    assert f"{len(space.cells())} cells, {space.num_trials()} trials" in out
    assert "flexclip/wikipedia/ViT-B-32/openai/shots=5/seed=0" in out
    # per-dataset official settings show beside the cells that use them
    rerank = "coder/dtd/ViT-B-32/openai/shots=0/seed=1/coder.rerank=True/coder.text_set=name+att  [1 trial]"
    assert f"{rerank}  dataset settings: rerank_threshold=0.6\n" in out
    adapter = "coder/dtd/ViT-B-32/openai/shots=4/seed=1  [1 trial]"
    official = "adapter_alpha=2.57, adapter_beta=30.18, augment_epoch=20, clip_templates=official"
    assert f"{adapter}  dataset settings: {official}\n" in out
    tip = "coder/dtd/ViT-B-32/openai/shots=4/seed=1/coder.variant=tip_adapter  [1 trial]"
    assert f"{tip}  dataset settings: augment_epoch=10, clip_templates=official, tip_alpha_max=13" in out
    assert "warning: a real run would stop here" in out  # no real data here


def test_full_space_fails_clearly_before_ray_when_real_data_is_missing(tmp_path, capsys):
    path = next(p for p in SPACES if p.name == "full.yaml")
    code = main(["--space", str(path), "--data-root", str(tmp_path), "--mlflow-uri", f"sqlite:///{tmp_path}/m.db"])
    assert code == 2
    err = capsys.readouterr().err
    assert "real data is missing" in err and "trainset_txt_img_cat.list" in err
    assert not (tmp_path / "m.db").exists()  # nothing half-written


def test_bad_space_exits_2_and_names_the_key(tmp_path, capsys):
    f = tmp_path / "s.yaml"
    f.write_text("name: t\nstudies:\n  - {method: flexclip, dataset: wikipedia, params: {flexclip.loss.kll: 1}}\n")
    assert main(["--space", str(f)]) == 2
    assert "studies[0].params.flexclip.loss.kll: unknown parameter" in capsys.readouterr().err


@pytest.mark.parametrize("path", SPACES, ids=lambda p: p.name)
def test_shipped_space_cell_ids_are_unique_without_study_prefixes(path):
    """Studies that share a grid point should differ by a grid-listed param (readable ids), not by `studyN/`."""
    assert not [c.id for c in load_space(path).cells() if c.shared_id]
