"""The per-process stage-1 memo: trials at one (data, shots, seed, generator) point share CoFeG's pseudo pairs, and
a trial served from the memo measures and logs exactly what a trial that trained CoFeG itself does."""

from __future__ import annotations

import pytest

from flexcoder import MemoryLogger, TrialConfig, TrialContext, run_trial
from flexcoder.flexclip.stage1_memo import MEMO_SIZE, clear_memo, memo_stats, stage1_pseudo_pairs

SMALL = {
    "flexclip.generator.epochs": 2,
    "flexclip.generator.max_steps_per_epoch": 2,
    "flexclip.generator.critic_steps": 2,
    "flexclip.projector.epochs": 2,
    "flexclip.projector.max_steps_per_epoch": 2,
}


def _cfg(**extra) -> TrialConfig:
    flat = {
        "method": "flexclip",
        "dataset": "pascal_sentence",
        "shots": 3,
        "seed": 0,
        "device": "cpu",
        **SMALL,
        **extra,
    }
    return TrialConfig.from_flat(flat)


def _run(cfg: TrialConfig) -> tuple[dict[str, float], MemoryLogger]:
    logger = MemoryLogger()
    return run_trial(cfg, TrialContext(logger=logger)), logger


@pytest.fixture(autouse=True)
def _fresh_memo():
    clear_memo()
    yield
    clear_memo()


def test_a_memo_hit_gives_the_metrics_and_history_of_a_fresh_stage1():
    weights = {"flexclip.loss.contrastive": 0.3, "flexclip.loss.classification": 2.0}
    fresh, fresh_log = _run(_cfg(**weights))
    clear_memo()
    _run(_cfg())  # another loss-weight setting at the same point fills the memo
    hit, hit_log = _run(_cfg(**weights))
    assert (fresh["stage1_memo_hit"], hit["stage1_memo_hit"]) == (0.0, 1.0)
    assert {k: v for k, v in hit.items() if k.startswith(("val/", "test/"))} == {
        k: v for k, v in fresh.items() if k.startswith(("val/", "test/"))
    }
    assert hit_log.history == fresh_log.history  # gen/* replayed at the same steps, then the same stage 2
    assert hit["time/stage1_s"] > 0  # what stage 1 cost when it ran, reported on a hit too


def test_full_and_no_gate_share_stage1_and_other_points_do_not():
    _run(_cfg(**{"flexclip.variant": "full"}))
    _run(_cfg(**{"flexclip.variant": "no_gate", "flexclip.projector.lr": 1e-3}))
    assert memo_stats() == {"hits": 1, "misses": 1, "entries": 1}
    _run(_cfg(seed=1))
    _run(_cfg(shots=1))
    _run(_cfg(**{"flexclip.generator.kl": 0.2}))
    assert memo_stats() == {"hits": 1, "misses": 4, "entries": 4}
    _run(_cfg(**{"flexclip.variant": "no_generation"}))  # no stage 1: neither a hit nor a miss
    assert memo_stats()["hits"] + memo_stats()["misses"] == 5


def test_the_memo_keeps_only_the_most_recent_points():
    calls = []
    for k in range(MEMO_SIZE + 2):
        stage1_pseudo_pairs(k, lambda logger, k=k: calls.append(k) or k)
    stage1_pseudo_pairs(MEMO_SIZE + 1, lambda logger: calls.append("again"))  # most recent: still there
    stage1_pseudo_pairs(0, lambda logger: calls.append("again") or 0)  # the oldest was evicted: rebuilt
    assert calls == [*range(MEMO_SIZE + 2), "again"]
    assert memo_stats()["entries"] == MEMO_SIZE
