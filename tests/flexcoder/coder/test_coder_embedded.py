"""CODER on the embedded simulated CLIP world (backbone "simulated"): measured accuracies, seed-averaged.

The zero-shot test split does not depend on the seed (only val and the shots do), so zero-shot test numbers are the
same for both seeds; the average is taken anyway, as the protocol says.
"""

import statistics

import pytest

from flexcoder import TrialConfig, TrialContext, run_trial
from flexcoder.textgen import TextgenConfig, create_generator

DATASETS = ("wikipedia", "pascal_sentence", "nuswide10k")
SEEDS = (0, 1)
TEXT_SETS = ("name", "name+att", "name+att+ana", "name+att+ana+syno")


def _run(dataset, seed, shots=0, ctx=None, **coder):
    flat = {"method": "coder", "dataset": dataset, "seed": seed, "shots": shots}
    flat.update({f"coder.{k}": v for k, v in coder.items()})
    return run_trial(TrialConfig.from_flat(flat), ctx)


@pytest.fixture(scope="module")
def results():
    generator = create_generator(TextgenConfig())  # shared, like the grid's actor client
    ctx = TrialContext(textgen=generator)
    out = {}
    for ds in DATASETS:
        for seed in SEEDS:
            out[ds, seed, "clip_prompt"] = _run(ds, seed, variant="clip_prompt")
            for ts in TEXT_SETS:
                out[ds, seed, ts] = _run(ds, seed, ctx=ctx, text_set=ts)
            out[ds, seed, "shots5"] = _run(ds, seed, shots=5, ctx=ctx)
            out[ds, seed, "tip5"] = _run(ds, seed, shots=5, variant="tip_adapter")
        out[ds, 0, "rerank"] = _run(ds, 0, ctx=ctx, rerank=True)
    return out


def _mean(results, key, metric="test/top1", seeds=SEEDS):
    return statistics.mean(results[ds, s, key][metric] for ds in DATASETS for s in seeds)


def test_coder_beats_the_clip_prompt_baseline(results):
    """CODER's zero-shot claim (Sec. 4): its texts classify better than CLIP's prompt ensemble, on every dataset."""
    assert _mean(results, "name+att+ana+syno") > _mean(results, "clip_prompt") + 0.01
    for ds in DATASETS:
        assert results[ds, 0, "name+att+ana+syno"]["test/top1"] > results[ds, 0, "clip_prompt"]["test/top1"]


def test_attribute_texts_raise_accuracy_over_the_names_alone(results):
    """P -> P+Att, and P -> the full set, seed-averaged over the three datasets. The world does not reproduce the
    steps after P+Att (analogous and synonym texts move accuracy by under a point either way: docs/calibration.md)."""
    assert _mean(results, "name") < _mean(results, "name+att")
    assert _mean(results, "name") < _mean(results, "name+att+ana+syno")


def test_rerank_changes_only_what_it_reranks(results):
    """The one-vs-one rerank (CODER*) touches only the images whose top candidates are close; on this world it does
    not raise accuracy (docs/calibration.md), so only its bookkeeping is asserted."""
    for ds in DATASETS:
        rr = results[ds, 0, "rerank"]
        assert 0 < rr["rerank/test_reranked"] and rr["rerank/test_changed"] <= rr["rerank/test_reranked"]


def test_tip_adapter_baseline_uses_its_shots(results):
    """Tip-Adapter (support CLIP features as the cache) improves on the zero-shot prompt ensemble it starts from.
    The CODER-Adapter with the same shots does not beat it on this world (docs/calibration.md)."""
    assert _mean(results, "tip5") > _mean(results, "clip_prompt")


def test_counts_are_reported_with_mlflow_safe_keys(results):
    import re

    m = results["pascal_sentence", 0, "rerank"]
    assert m["textgen/texts"] > 0 and m["textgen/parse_failures"] == 0 and m["textgen/ovo_requests"] > 0
    assert all(re.fullmatch(r"[A-Za-z0-9_\-./: ]+", k) for k in m)


def test_unknown_classes_and_garbage_answers_are_counted_not_fatal():
    class Junk:
        def identity(self):
            return {"backend": "junk"}

        def generate(self, requests):
            return ["" if i % 2 else "!!! ???" for i, _ in enumerate(requests)]

    m = _run("wikipedia", 0, ctx=TrialContext(textgen=Junk()), rerank=True)
    assert m["textgen/empty_answers"] > 0 and m["textgen/parse_failures"] > 0
    assert 0.0 <= m["test/top1"] <= 1.0
