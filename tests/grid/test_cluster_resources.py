"""grid/cluster.py: a trial request is refused only when no node type of the cluster, alive or addable by its
autoscaler, fits it. Checked against the shipped launcher config and against a real local Ray's nodes."""

from pathlib import Path

import pytest
import yaml

from grid.cluster import NodeType, check_resources, launcher_node_types, trial_slots
from grid.space import load_space, parse_space

ROOT = Path(__file__).resolve().parents[2]


def _space(cpu: float, gpu: float):
    return parse_space(
        {"name": "t", "studies": [{"method": "coder", "dataset": "wikipedia", "resources": {"cpu": cpu, "gpu": gpu}}]}
    )


def test_the_shipped_launcher_config_fits_every_full_yaml_trial_though_it_starts_without_gpu_workers():
    config = yaml.safe_load((ROOT / "infra/ray/cluster.yaml").read_text())
    types = {t.name: t for t in launcher_node_types(config)}
    assert types["gpu_worker"].max_count == 4 and types["head"].max_count == 1
    assert config["available_node_types"]["gpu_worker"]["min_workers"] == 0
    for study in load_space(ROOT / "search_spaces/full.yaml").studies:
        request = {"CPU": study.resources.cpu, "GPU": study.resources.gpu}
        assert types["gpu_worker"].fits(request) and not types["head"].fits(request)


def test_a_node_type_fits_a_request_on_one_node_and_an_undeclared_one_fits_anything():
    node = NodeType("g", {"CPU": 8, "GPU": 1}, max_count=4)
    assert node.fits({"CPU": 1, "GPU": 0.25}) and node.fits({"CPU": 8, "GPU": 1})
    assert not node.fits({"CPU": 1, "GPU": 2})  # four such nodes have 4 GPUs, but a trial runs on one
    assert NodeType("cloud-filled", {}, max_count=2).fits({"CPU": 64, "GPU": 8})


@pytest.mark.integration
def test_on_a_fixed_local_cluster_only_what_a_node_has_fits(ray_local, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))  # no launcher config here: the nodes alive are all there is
    notes, problems = check_resources(_space(1, 0))
    assert notes == [] and problems == []
    notes, problems = check_resources(_space(1, 1))
    assert len(problems) == 1 and "studies[0].resources: a trial needs 1 CPU and 1 GPU on one node" in problems[0]
    assert trial_slots(_space(1, 0)) == 2 and trial_slots(_space(0.5, 0)) == 4  # the session's Ray has 2 CPUs


@pytest.mark.integration
def test_an_autoscaling_cluster_without_gpu_workers_yet_waits_instead_of_refusing(ray_local, monkeypatch, tmp_path):
    """The head keeps the launcher config at ~/ray_bootstrap_config.yaml; a GPU request that only its (not yet
    started) gpu_worker type fits is a note, not an error; one that no type fits is still refused."""
    (tmp_path / "ray_bootstrap_config.yaml").write_text((ROOT / "infra/ray/cluster.yaml").read_text())
    monkeypatch.setenv("HOME", str(tmp_path))
    notes, problems = check_resources(_space(1, 0.25))
    assert problems == [] and len(notes) == 1
    assert "waiting for the autoscaler to start a gpu_worker node" in notes[0]
    notes, problems = check_resources(_space(1, 2))
    assert notes == [] and "no node of the Ray cluster has or could have that" in problems[0]
    assert "gpu_worker ({CPU: 8, GPU: 1}, 0 alive, up to 4)" in problems[0]
