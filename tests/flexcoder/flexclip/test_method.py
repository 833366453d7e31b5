"""FLEX-CLIP end to end: config, determinism, per-epoch logging, and the paper's key claim on simulated data."""

from __future__ import annotations

import re

import pytest

from flexcoder import ConfigError, MemoryLogger, TrialConfig, TrialContext, run_trial
from flexcoder.metrics import cross_modal_map
from flexcoder.protocols import retrieval_task

FINAL_KEYS = {
    "val/map_i2t",
    "val/map_t2i",
    "val/map_avg",
    "test/map_i2t",
    "test/map_t2i",
    "test/map_avg",
    "time/train_s",
    "cost/trainable_params",
    "cost/trial_s",
    "cost/peak_rss_mib",
}
STAGE1_KEYS = {"time/stage1_s", "stage1_memo_hit"}  # variants that generate (full, no_gate) also report these

SMALL = {  # a few steps of everything: fast enough for unit tests
    "flexclip.generator.epochs": 2,
    "flexclip.generator.max_steps_per_epoch": 2,
    "flexclip.generator.critic_steps": 2,
    "flexclip.projector.epochs": 3,
    "flexclip.projector.max_steps_per_epoch": 2,
}


def _cfg(variant: str, dataset: str = "pascal_sentence", seed: int = 0, shots: int = 5, **extra) -> TrialConfig:
    flat = {
        "method": "flexclip",
        "dataset": dataset,
        "shots": shots,
        "seed": seed,
        "device": "cpu",
        "flexclip.variant": variant,
        **extra,
    }
    return TrialConfig.from_flat(flat)


def test_config_dotted_keys_reach_the_nested_sections():
    cfg = _cfg(
        "full",
        **{"flexclip.loss.contrastive": 0.5, "flexclip.projector.epochs": 7, "flexclip.generator.latent_dim": 128},
    )
    assert cfg.flexclip.loss.contrastive == 0.5
    assert cfg.flexclip.projector.epochs == 7
    assert cfg.flexclip.generator.latent_dim == 128
    assert cfg.to_flat()["flexclip.loss.classification"] == 1.0


@pytest.mark.parametrize(
    "key, value",
    [
        ("flexclip.projector.epochs", 0),
        ("flexclip.generator.epochs", -1),
        ("flexclip.projector.temperature", 0.0),
        ("flexclip.loss.contrastive", -1.0),
        ("flexclip.generator.pseudo_per_class", 0),
        ("flexclip.variant", "nope"),
    ],
)
def test_config_rejects_bad_values(key, value):
    with pytest.raises(ConfigError):
        _cfg("full", **{key: value})


def test_config_rejects_all_zero_loss_weights():
    zero = {f"flexclip.loss.{k}": 0.0 for k in ("classification", "consistency", "contrastive")}
    with pytest.raises(ConfigError):
        _cfg("full", **zero)


def test_raw_clip_is_cosine_retrieval_on_the_clip_features():
    out = run_trial(_cfg("raw_clip"))
    task = retrieval_task("pascal_sentence", "simulated", 5, 0)
    expected = cross_modal_map(task.test.image, task.test.text, task.test.labels)
    assert out["test/map_avg"] == expected["map_avg"]
    assert set(out) == FINAL_KEYS


def test_raw_clip_test_map_does_not_depend_on_the_seed():
    assert run_trial(_cfg("raw_clip", seed=0))["test/map_avg"] == run_trial(_cfg("raw_clip", seed=1))["test/map_avg"]


@pytest.mark.parametrize("variant", ["full", "no_generation", "no_gate"])
def test_same_seed_gives_identical_metrics(variant):
    a = run_trial(_cfg(variant, **SMALL))
    b = run_trial(_cfg(variant, **SMALL))
    assert set(a) == FINAL_KEYS | (STAGE1_KEYS if variant != "no_generation" else set())
    measured = lambda out: {k: v for k, v in out.items() if k.startswith(("val/", "test/"))}  # noqa: E731
    assert measured(a) == measured(b)


def test_run_logs_val_map_for_every_stage2_epoch_and_generator_losses_per_stage1_epoch():
    logger = MemoryLogger()
    out = run_trial(_cfg("full", **SMALL), TrialContext(logger=logger))
    val = [(step, m["val/map_avg"]) for step, m in logger.history if "val/map_avg" in m]
    assert [step for step, _ in val] == [0, 1, 2]  # projector.epochs = 3
    assert val[-1][1] == pytest.approx(out["val/map_avg"])
    for key in ("train/loss_total", "train/loss_cls", "train/loss_mc", "train/loss_con"):
        assert len(logger.series(key)) == 3
    for key in ("gen/loss_vae", "gen/loss_d", "gen/loss_g"):
        assert len(logger.series(key)) == 2  # generator.epochs = 2
    mlflow_ok = re.compile(r"^[A-Za-z0-9_\-./: ]+$")
    assert all(mlflow_ok.match(k) for _, m in logger.history for k in m)


def test_no_generation_skips_stage1():
    logger = MemoryLogger()
    run_trial(_cfg("no_generation", **SMALL), TrialContext(logger=logger))
    assert logger.series("gen/loss_vae") == []
    assert len(logger.series("val/map_avg")) == 3


DATASETS = ("wikipedia", "pascal_sentence", "nuswide", "nuswide10k")
SEEDS = (0, 1)


@pytest.fixture(scope="module")
def measured_table() -> dict[tuple[str, str], float]:
    """Test mAP (avg of i2t, t2i) with the default config, mean over 2 seeds: raw CLIP, and full FLEX-CLIP zero-shot
    and 5-shot, on the four simulated datasets."""
    table: dict[tuple[str, str], float] = {}
    for ds in DATASETS:
        # raw CLIP's test mAP does not depend on the seed (the test split is fixed and nothing is trained; see
        # test_raw_clip_test_map_does_not_depend_on_the_seed), so one run stands for its 2-seed mean.
        table[ds, "raw"] = run_trial(_cfg("raw_clip", ds, SEEDS[0]))["test/map_avg"]
        for shots in (0, 5):
            runs = [run_trial(_cfg("full", ds, seed, shots=shots))["test/map_avg"] for seed in SEEDS]
            table[ds, f"full{shots}"] = sum(runs) / len(runs)
    return table


def _report(table) -> str:
    return "; ".join(
        f"{ds}: raw {table[ds, 'raw']:.4f} full0 {table[ds, 'full0']:.4f} full5 {table[ds, 'full5']:.4f}"
        for ds in DATASETS
    )


@pytest.mark.integration
def test_full_flexclip_beats_raw_clip_5shot_on_at_least_3_of_4_datasets(measured_table):
    """The paper's headline claim (abstract: FLEX-CLIP improves over CLIP in X-shot retrieval), measured on the
    embedded simulated data with the default config."""
    wins = sum(measured_table[ds, "full5"] > measured_table[ds, "raw"] for ds in DATASETS)
    assert wins >= 3, f"FLEX-CLIP beats raw CLIP on only {wins}/4 datasets: {_report(measured_table)}"


@pytest.mark.integration
def test_real_target_shots_raise_map_over_zero_shot(measured_table):
    """X-shot retrieval (paper Sec. IV): K real target pairs per class improve on zero-shot FLEX-CLIP, on at least
    3 of 4 datasets and by more than 0.01 mAP on average."""
    gains = [measured_table[ds, "full5"] - measured_table[ds, "full0"] for ds in DATASETS]
    assert sum(g > 0 for g in gains) >= 3 and sum(gains) / len(gains) > 0.01, _report(measured_table)


@pytest.mark.parametrize("shots, lr, expected", [(0, None, 1e-4), (5, None, 1e-3), (0, 3e-4, 3e-4), (5, 3e-4, 3e-4)])
def test_stage2_learning_rate_defaults_by_shots_and_an_explicit_one_wins(shots, lr, expected):
    logger = MemoryLogger()
    extra = {} if lr is None else {"flexclip.projector.lr": lr}
    run_trial(_cfg("no_generation", shots=shots, **SMALL, **extra), TrialContext(logger=logger))
    assert logger.series("train/lr") == [expected] * 3


def test_config_rejects_a_non_positive_learning_rate():
    with pytest.raises(ConfigError, match="lr"):
        _cfg("full", **{"flexclip.projector.lr": 0.0})
