"""`python -m grid.calibration`: the table's arithmetic, and datasets with and without a real few-shot curve."""

import pytest

from grid.calibration import REAL_FEW_SHOT, SHOTS, main, markdown, real_curve


def test_a_dataset_with_a_real_curve_gets_its_differences_and_their_mean():
    real = real_curve("dtd")
    rows = [{"dataset": "dtd", "shots": s, "world": r + 1.0, "std": 0.5, "real": r} for s, r in zip(SHOTS, real)]
    line = markdown(rows).splitlines()[-1]
    assert line.startswith("| dtd | ") and line.endswith(" | 1.0 |")
    assert f"(real {REAL_FEW_SHOT['dtd'][-1]:.1f}, +1.0)" in line


def test_a_dataset_without_one_gets_the_worlds_columns_alone():
    real = real_curve("food101")
    assert real[0] == 78.37 and real[1:] == (None,) * (len(SHOTS) - 1)
    rows = [{"dataset": "food101", "shots": s, "world": 80.0 + s, "std": 0.1, "real": r} for s, r in zip(SHOTS, real)]
    line = markdown(rows).splitlines()[-1]
    assert "| 96.0 ± 0.1 |" in line and line.endswith("| no real curve |")
    assert "(real 78.4, +1.6)" in line  # its zero-shot target is still a real figure


def test_a_dataset_the_world_lacks_is_refused_by_name(capsys):
    with pytest.raises(SystemExit):
        main(["--datasets", "dtd,mnist"])
    err = capsys.readouterr().err
    assert "mnist" in err and "food101" in err
