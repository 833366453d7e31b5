"""`python -m grid.retrieval_calibration`: the tables' arithmetic, the band verdicts, and one real run."""

import pytest

from grid.retrieval_calibration import VARIANTS, main, report


def _results(raw: float, full: list[float], others: float = 0.5) -> dict:
    out = {("wikipedia", "raw_clip", None): [raw]}
    for k in (5, 7):
        out["wikipedia", "full", k] = full
        for v in VARIANTS[1:]:
            out["wikipedia", v, k] = [others] * len(full)
    return out


def test_a_world_in_every_band_is_said_to_meet_each():
    text = report(_results(0.55, [0.66, 0.68]), ["wikipedia"], [5, 7])
    assert "| wikipedia | 5 | +21.8% | +0.170 (seed std 0.014) | +0.170 (seed std 0.014) |" in text
    assert text.count("meets it") == 3 and "MISSES" not in text
    assert "full >= no_generation in 2 of 2 cells; full > no_gate in 2 of 2" in text


def test_a_saturated_world_misses_the_gain_and_ceiling_bands():
    text = report(_results(0.55, [0.95, 0.97]), ["wikipedia"], [5, 7])
    assert "gain over raw CLIP at 5 shots" in text and text.count("MISSES it") == 2
    assert "the best is 0.960" in text


def test_one_real_run_prints_the_tables(capsys):
    assert main(["--datasets", "pascal_sentence", "--shots", "1", "--seeds", "0"]) == 0
    out = capsys.readouterr().out
    assert "| pascal_sentence | " in out and "raw CLIP mAP in (0.45, 0.65)" in out


def test_a_dataset_the_world_lacks_is_refused_by_name(capsys):
    with pytest.raises(SystemExit):
        main(["--datasets", "wikipedia,eurosat"])
    err = capsys.readouterr().err
    assert "eurosat" in err and "nuswide10k" in err
