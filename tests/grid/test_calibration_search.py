"""`python -m grid.calibration_search`: its coordinates, its score, and a search that starts from the shipped knobs."""

import dataclasses
import statistics

import pytest

from flexcoder.data.simulated_classification import ClassWorldParams
from grid.calibration import SHOTS, real_curve
from grid.calibration_search import CELL_TOLERANCE, SEARCHED, cells_off, curve_gap, main, params_of, searched_values


def test_the_searched_coordinates_round_trip_to_the_same_knobs():
    shipped = ClassWorldParams()
    assert params_of(searched_values(shipped)) == shipped
    moved = params_of({**searched_values(shipped), "ambiguity_low": 0.7, "ambiguity_width": 0.5, "noise": 0.9})
    assert moved.ambiguity == (0.7, 1.2) and moved.noise == 0.9
    assert set(searched_values(shipped)) == set(SEARCHED)


def test_the_score_is_the_mean_gap_to_the_real_curve_zero_shot_included():
    gap, curves = curve_gap(ClassWorldParams(), datasets=("eurosat",))
    real = real_curve("eurosat")
    assert len(curves["eurosat"]) == len(SHOTS) == len(real)
    assert gap == pytest.approx(statistics.fmean(abs(w - r) for w, r in zip(curves["eurosat"], real)))


def test_a_search_starts_from_the_shipped_knobs_and_prints_the_best(capsys):
    assert main(["--trials", "2", "--datasets", "eurosat"]) == 0
    out = capsys.readouterr()
    assert "[search] trial 0:" in out.err and "[search] trial 1:" in out.err
    best = out.out.splitlines()[-1]
    assert best.startswith("ClassWorldParams(") and "ambiguity=(" in best
    shipped_gap = float(out.err.split("trial 0: gap ")[1].split(",")[0])
    assert float(out.out.split("best mean gap ")[1].split()[0]) <= shipped_gap


def test_a_dataset_without_a_real_curve_is_refused_by_name(capsys):
    with pytest.raises(SystemExit):
        main(["--datasets", "eurosat,food101"])
    assert "food101" in capsys.readouterr().err


def test_cells_off_counts_the_cells_beyond_the_tolerance():
    real = real_curve("eurosat")
    moved = [
        r + d for r, d in zip(real, (0.0, CELL_TOLERANCE + 0.1, -CELL_TOLERANCE - 0.1, CELL_TOLERANCE - 0.1, 0, 0))
    ]
    assert cells_off({"eurosat": moved}) == 2
    assert cells_off({"eurosat": real}) == 0


@pytest.mark.parametrize(
    "bad, named",
    [
        ("nosie=0.1:0.5", "'nosie'"),
        ("noise=0.5", "LOW:HIGH"),
        ("noise=0.8:0.2", "below"),
        ("variation=0.3:0.5 --knobs noise", "'variation'"),  # a range for a knob the search keeps fixed
    ],
)
def test_a_bad_range_is_refused_naming_what_is_wrong(bad, named, capsys):
    with pytest.raises(SystemExit):
        main(["--range", *bad.split()])
    assert named in capsys.readouterr().err


def test_an_unknown_knob_to_search_is_refused_by_name(capsys):
    with pytest.raises(SystemExit):
        main(["--knobs", "noise,txt_gap"])
    assert "'txt_gap'" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:Fixed parameter")
def test_knobs_not_searched_keep_their_shipped_values_and_the_penalty_counts_cells_off(monkeypatch, capsys):
    drawn = []
    curves = {"eurosat": [r + 4.0 for r in real_curve("eurosat")]}  # every cell off
    monkeypatch.setattr(
        "grid.calibration_search.curve_gap", lambda params, *a: (drawn.append(params), (1.0, curves))[1]
    )
    assert main(["--trials", "3", "--knobs", "noise,text_gap", "--cell-penalty", "0.5"]) == 0
    shipped = ClassWorldParams()
    for p in drawn:
        assert dataclasses.replace(p, noise=shipped.noise, text_gap=shipped.text_gap) == shipped
    assert len({(p.noise, p.text_gap) for p in drawn}) == 3
    out = capsys.readouterr()
    assert "6 cells off" in out.err
    assert float(out.out.split("cell off) ")[1].split()[0]) == pytest.approx(1.0 + 0.5 * len(SHOTS))


@pytest.mark.filterwarnings("ignore:Fixed parameter")  # Optuna: the shipped first trial lies outside
def test_a_range_narrows_what_the_search_draws(monkeypatch, capsys):
    drawn = []
    monkeypatch.setattr("grid.calibration_search.curve_gap", lambda params, *a: (drawn.append(params), (1.0, {}))[1])
    assert main(["--trials", "4", "--range", "noise=0.3:0.31"]) == 0
    assert drawn[0] == ClassWorldParams()  # the shipped knobs first, wherever the range is
    assert all(0.3 <= p.noise <= 0.31 for p in drawn[1:]) and len(drawn) == 4


def test_every_searched_field_is_a_knob_of_the_world():
    names = {f.name for f in dataclasses.fields(ClassWorldParams)}
    assert {k for k in SEARCHED if not k.startswith("ambiguity_")} <= names and "ambiguity" in names
