"""Driver helpers that need no Ray cluster."""

from pathlib import Path

from grid.driver import _storage_uri, _textgen_configs
from grid.space import parse_space


def test_storage_uris_are_kept_and_plain_paths_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _storage_uri("s3://bucket/ray/", "full") == "s3://bucket/ray/full"
    assert _storage_uri("file:///shared/ray", "full") == "file:///shared/ray/full"
    assert _storage_uri("ray_results", "full") == f"{Path(tmp_path).resolve()}/ray_results/full"


def test_only_cells_that_generate_texts_start_a_textgen_actor():
    space = parse_space(
        {
            "name": "t",
            "studies": [
                {
                    "method": "coder",
                    "dataset": "wikipedia",
                    "shots": [0, 5],
                    "params": {"coder.variant": ["clip_prompt", "tip_adapter", "coder"]},
                },
            ],
        }
    )
    configs = _textgen_configs(space.cells())
    assert len(configs) == 2  # the coder variant at 0 and 5 shots; the CLIP baselines generate nothing
