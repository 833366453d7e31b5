"""Run names and identity tags: every method and variant gets a name that says what it is, and tags to group by."""

import typing

import pytest

from flexcoder import TrialConfig, list_methods
from flexcoder.coder.config import CoderConfig
from flexcoder.flexclip.config import FlexClipConfig
from grid.naming import cell_label, identity_tags, trial_label
from grid.space import parse_space

SECTIONS = {"flexclip": FlexClipConfig, "coder": CoderConfig}


def _variants(method: str) -> tuple[str, ...]:
    return typing.get_args(typing.get_type_hints(SECTIONS[method])["variant"])


POINTS = [(m, v) for m in list_methods() for v in _variants(m)]


def _point(method: str, variant: str, **extra) -> dict:
    return {
        "method": method,
        "dataset": "wikipedia",
        "backbone": "simulated",
        "shots": 5,
        "seed": 1,
        f"{method}.variant": variant,
        **extra,
    }


@pytest.mark.parametrize("method,variant", POINTS)
def test_identity_tags_name_the_method_variant_and_grid_point(method, variant):
    tags = identity_tags(_point(method, variant))
    assert tags == {
        **tags,
        "method": method,
        "variant": variant,
        "dataset": "wikipedia",
        "backbone": "simulated",
        "shots": "5",
        "seed": "1",
        "data": "simulated",
    }
    resolved = TrialConfig.from_flat(_point(method, variant)).own_flat()  # what a trial tags itself from
    assert identity_tags(resolved) == tags


@pytest.mark.parametrize("method", list_methods())
def test_a_variant_left_to_its_default_is_tagged_with_the_default(method):
    point = {"method": method, "dataset": "wikipedia", "backbone": "simulated", "shots": 0, "seed": 0}
    assert identity_tags(point)["variant"] == SECTIONS[method]().variant


def test_coder_tags_its_text_set_default_or_set():
    assert identity_tags(_point("coder", "coder", **{"coder.text_set": "name+att"}))["text_set"] == "name+att"
    assert identity_tags(_point("coder", "coder"))["text_set"] == CoderConfig().text_set


def test_every_method_and_variant_has_its_own_short_label():
    labels = [cell_label(_point(m, v), {f"{m}.variant": v}) for m, v in POINTS]
    assert len(set(labels)) == len(labels)
    assert labels[POINTS.index(("flexclip", "raw_clip"))] == "flexclip raw_clip · wikipedia · 5 shots · seed 1"
    assert labels[POINTS.index(("coder", "coder"))] == "coder · wikipedia · 5 shots · seed 1"
    assert max(len(x) for x in labels) <= 60  # readable in a chart legend


def test_labels_put_grid_params_first_and_a_real_backbone_after_the_dataset():
    point = _point("coder", "coder", **{"coder.text_set": "name+att", "backbone": "ViT-B-32/openai", "shots": 1})
    label = cell_label(point, {"coder.text_set": "name+att"}, searched=True)
    assert label == "coder text_set=name+att (searched) · wikipedia · ViT-B-32/openai · 1 shot · seed 1"


def test_a_searched_trial_leads_with_its_index_and_values_and_a_grid_trial_adds_nothing():
    searched = {"flexclip.loss.contrastive": 0.123456, "flexclip.loss.consistency": 2.0}
    assert trial_label("cell", 3, searched) == "#3 consistency=2 contrastive=0.123 · cell"
    assert trial_label("cell", None, {}) == "cell"


def test_cells_of_two_studies_that_would_share_a_label_are_told_apart_by_study():
    space = parse_space(
        {
            "name": "x",
            "studies": [
                {"method": "flexclip", "dataset": "wikipedia", "params": {"flexclip.projector.epochs": 2}},
                {"method": "flexclip", "dataset": "wikipedia", "params": {"flexclip.projector.epochs": 3}},
                {
                    "method": "flexclip",
                    "dataset": "wikipedia",
                    "params": {"flexclip.loss.contrastive": {"uniform": [0, 1]}},
                    "search": {"trials": 2},
                },
            ],
        }
    )
    labels = [c.label for c in space.cells()]
    assert labels == [
        "study0 · flexclip full · wikipedia · 0 shots · seed 0",
        "study1 · flexclip full · wikipedia · 0 shots · seed 0",
        "flexclip full (searched) · wikipedia · 0 shots · seed 0",
    ]


def test_coder_tags_the_llm_that_wrote_its_texts():
    llm = {
        (): "template",
        ("vllm", "~/.cache/flexcoder/models/SmolLM2-135M-Instruct"): "SmolLM2-135M-Instruct",
        ("vllm", "Qwen/Qwen2.5-7B-Instruct"): "Qwen2.5-7B-Instruct",
        ("openai", "gpt-4o-mini"): "gpt-4o-mini",
        ("file",): "file",
    }
    for setting, want in llm.items():
        keys = dict(zip(("coder.textgen.backend", "coder.textgen.model"), setting))
        assert identity_tags(_point("coder", "coder", **keys))["llm"] == want
    assert "llm" not in identity_tags(_point("coder", "clip_prompt"))  # a CLIP baseline reads no generated text
    model = "~/.cache/flexcoder/models/SmolLM2-135M-Instruct"
    point = _point("coder", "coder", **{"coder.textgen.backend": "vllm", "coder.textgen.model": model})
    assert cell_label(point, {"coder.textgen.model": model}).startswith("coder model=SmolLM2-135M-Instruct · ")
