"""CODER's representation, heuristic classifier, rerank and adapter against hand computations on tiny tensors."""

import math

import pytest
import torch

from flexcoder.coder.adapter import adapter_logits, cosine_affinity, minmax_affinity
from flexcoder.coder.config import CoderConfig, parse_text_set
from flexcoder.coder.representation import (
    TextBank,
    candidate_pairs,
    coder_features,
    heuristic_scores,
    ovo_mean_similarity,
    rerank,
)
from flexcoder.config import ConfigError, TrialConfig, leaf_paths


def test_coder_vector_is_cosine_to_every_text():
    img = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    txt = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    got = coder_features(img, txt)
    r2 = 1 / math.sqrt(2)
    want = torch.tensor([[0.6, 0.8, 0.6 * r2 + 0.8 * r2], [1.0, 0.0, r2]])
    assert torch.allclose(got, want, atol=1e-6)


def test_text_bank_blocks_in_official_order():
    bank = TextBank.from_blocks([{"name": ["n0"], "att": ["a0"], "syno": ["s0"], "ana": ["b0"]}, {"name": ["n1"]}])
    assert bank.texts == ("a0", "b0", "n0", "s0", "n1")
    assert bank.owner.tolist() == [0, 0, 0, 0, 1] and bank.in_s.tolist() == [False, False, True, True, True]


def test_heuristic_score_is_100_times_mean_of_a_entries_and_max_s():
    bank = TextBank.from_blocks(
        [{"att": ["a", "b"], "ana": ["c"], "name": ["n"], "syno": ["s"]}, {"name": ["m"], "syno": ["t", "u"]}]
    )
    coder = torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.9, 0.5, 0.7, 0.6]])
    got = heuristic_scores(coder, bank)
    want0 = 100 * (0.1 + 0.2 + 0.3 + max(0.4, 0.9)) / 4
    want1 = 100 * max(0.5, 0.7, 0.6) / 1  # no A entries: the max of S alone
    assert torch.allclose(got, torch.tensor([[want0, want1]]), atol=1e-4)


def _rerank_case():
    # 6 classes; sample 0 is uncertain (scores 10.00 / 9.99 ...), sample 1 is confident.
    scores = torch.tensor([[10.0, 9.99, 9.98, 9.97, 9.96, 0.0], [20.0, 1.0, 0.5, 0.2, 0.1, 0.0]])
    m = torch.zeros(2, 6, 6)
    has = torch.ones(6, 6, dtype=torch.bool)
    # Class 5 (outside top-5 of sample 0) wins every pairwise comparison: must not be chosen.
    m[:, 5, :] = 1.0
    # Among the top-5, class 3 beats every other candidate.
    m[:, 3, :5] = 0.5
    return scores, m, has


def test_rerank_changes_only_uncertain_samples_and_only_to_top_k_classes():
    scores, m, has = _rerank_case()
    pred, mask = rerank(scores, m, has, k=5, threshold=0.1)
    assert mask.tolist() == [True, False]
    assert pred.tolist() == [3, 0]  # 5 would win overall but is not a top-5 candidate; sample 1 untouched


def test_rerank_hand_computation_of_candidate_score():
    scores = torch.tensor([[1.0, 0.99, 0.98]])
    m = torch.tensor([[[0, 0.2, 0.3], [0.4, 0, 0.1], [0.1, 0.5, 0]]])
    has = torch.ones(3, 3, dtype=torch.bool)
    # R(c) = mean_o (M[c,o] - M[o,c]): R0 = ((0.2-0.4)+(0.3-0.1))/2 = 0, R1 = ((0.4-0.2)+(0.1-0.5))/2 = -0.1,
    # R2 = ((0.1-0.3)+(0.5-0.1))/2 = 0.1 -> class 2.
    pred, _ = rerank(scores, m, has, k=3, threshold=0.5)
    assert pred.tolist() == [2]


def test_rerank_threshold_zero_or_missing_texts_change_nothing():
    scores, m, has = _rerank_case()
    pred, mask = rerank(scores, m, has, k=5, threshold=0.0)
    assert not mask.any() and pred.tolist() == scores.argmax(1).tolist()
    pred, _ = rerank(scores, m, torch.zeros(6, 6, dtype=torch.bool), k=5, threshold=0.1)
    assert pred.tolist() == scores.argmax(1).tolist()


def test_candidate_pairs_come_from_uncertain_top_k_only():
    scores, _, _ = _rerank_case()
    pairs = candidate_pairs(scores, k=3, threshold=0.1)
    assert pairs == {(0, 1), (0, 2), (1, 2)}


def test_ovo_mean_similarity_averages_each_direction():
    img = torch.tensor([[1.0, 0.0]])
    m, has = ovo_mean_similarity(img, {(0, 1): torch.tensor([[1.0, 0.0], [0.0, 1.0]])}, 2)
    assert m[0, 0, 1].item() == pytest.approx(0.5) and has.tolist() == [[False, True], [False, False]]


def test_adapter_formula_by_hand():
    q = torch.tensor([[1.0, 0.0]])
    keys = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    a = minmax_affinity(q, keys)  # cosines 1, 0, 0.707 -> min-max 1, 0, 0.707
    assert torch.allclose(a, torch.tensor([[1.0, 0.0, 1 / math.sqrt(2)]]), atol=1e-6)
    values = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    clip = torch.tensor([[1.0, 2.0]])
    got = adapter_logits(clip, a, values, alpha=2.0, beta=3.0)
    want = clip + 2.0 * torch.tensor([[1.0, math.exp(-3.0) + math.exp(-3.0 * (1 - 1 / math.sqrt(2)))]])
    assert torch.allclose(got, want, atol=1e-5)


def test_config_dotted_keys_and_validation():
    keys = leaf_paths(TrialConfig)
    for k in (
        "coder.variant",
        "coder.text_set",
        "coder.rerank",
        "coder.rerank_k",
        "coder.rerank_threshold",
        "coder.adapter_alpha",
        "coder.adapter_beta",
        "coder.textgen.backend",
        "coder.textgen.cache_dir",
    ):
        assert k in keys
    cfg = TrialConfig.from_flat({"method": "coder", "dataset": "wikipedia", "coder.text_set": "att+name"})
    assert cfg.coder.text_types == ("name", "att")
    assert CoderConfig().text_types == ("name", "att", "ana", "syno")
    for bad in ("name+colour", "att+ana", "name+name"):
        with pytest.raises(ConfigError, match="text_set"):
            TrialConfig.from_flat({"method": "coder", "dataset": "wikipedia", "coder.text_set": bad})
    with pytest.raises(ValueError):
        parse_text_set("")


def test_tip_adapter_affinity_is_the_raw_cosine_of_clip_features():
    q, k = torch.tensor([[3.0, 4.0]]), torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert torch.allclose(cosine_affinity(q, k), torch.tensor([[0.6, 0.8]]))


def test_tip_adapter_at_zero_shots_is_the_prompt_ensemble_and_uses_shots_otherwise():
    from flexcoder import run_trial

    def run(variant, shots):
        flat = {"method": "coder", "dataset": "wikipedia", "shots": shots, "coder.variant": variant}
        return run_trial(TrialConfig.from_flat(flat))

    def scores(out):
        return {k: v for k, v in out.items() if k.startswith(("val/", "test/"))}

    assert scores(run("tip_adapter", 0)) == scores(run("clip_prompt", 0))
    few = run("tip_adapter", 3)
    assert {"adapter/alpha", "adapter/beta"} <= set(few) and few["test/top1"] != run("clip_prompt", 3)["test/top1"]
