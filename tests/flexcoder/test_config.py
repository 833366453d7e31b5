import pytest

from flexcoder import ConfigError, TrialConfig
from flexcoder.config import flatten, leaf_paths, unflatten


def test_from_flat_builds_nested_sections_from_dotted_keys():
    cfg = TrialConfig.from_flat(
        {"method": "flexclip", "dataset": "wikipedia", "shots": 5, "flexclip.variant": "no_gate"}
    )
    assert cfg.shots == 5 and cfg.flexclip.variant == "no_gate" and cfg.backbone == "simulated"


def test_to_flat_round_trips():
    cfg = TrialConfig.from_flat({"method": "coder", "dataset": "pascal_sentence", "seed": 3})
    assert TrialConfig.from_flat(cfg.to_flat()) == cfg


@pytest.mark.parametrize(
    "flat, message",
    [
        ({"method": "flexclip", "dataset": "w", "flexclip.variantt": "full"}, "unknown key flexclip.variantt"),
        ({"method": "flexclip", "dataset": "w", "shots": "five"}, "shots: expected an integer"),
        ({"method": "flexclip", "dataset": "w", "shots": True}, "shots: expected an integer"),
        ({"method": "flexclip", "dataset": "w", "flexclip.variant": "half"}, "flexclip.variant: 'half' is not one of"),
        ({"dataset": "w"}, "missing required key method"),
        ({"method": "flexclip", "dataset": "w", "flexclip": 3}, "flexclip: expected a mapping"),
    ],
)
def test_bad_values_raise_errors_naming_the_key(flat, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        TrialConfig.from_flat(flat)


def test_unflatten_rejects_a_key_that_is_both_value_and_section():
    with pytest.raises(ConfigError):
        unflatten({"a": 1, "a.b": 2})
    assert flatten(unflatten({"a.b": 1, "a.c.d": 2})) == {"a.b": 1, "a.c.d": 2}


def test_leaf_paths_list_every_settable_key():
    paths = leaf_paths(TrialConfig)
    assert {"method", "dataset", "shots", "flexclip.variant", "coder.variant"} <= set(paths)


def test_own_flat_keeps_only_the_trials_method_section():
    flat = TrialConfig.from_flat({"method": "coder", "dataset": "pascal_sentence"}).own_flat()
    assert "coder.variant" in flat and "shots" in flat and not any(k.startswith("flexclip.") for k in flat)
