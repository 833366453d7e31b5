"""grid/importance.py on real Optuna studies: fANOVA attributes the objective to the parameter it depends on, says
nothing when there is nothing to attribute, and the slice plot is a real PNG."""

import matplotlib.image
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from grid.importance import (
    SlicedParam,
    SlicePoint,
    importance_metrics,
    importances_from_points,
    param_importances,
    slice_figure,
    slice_points,
    sliced_params,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _study(n_trials: int, objective) -> optuna.Study:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=n_trials)
    return study


def _steep_in_a(trial: optuna.Trial) -> float:
    return 10.0 * trial.suggest_float("a", 0.0, 1.0) + 0.01 * trial.suggest_float("b", 0.0, 1.0)


def test_the_parameter_the_objective_depends_on_gets_almost_all_the_importance():
    importances = param_importances(_study(30, _steep_in_a))
    assert set(importances) == {"a", "b"}
    assert importances["a"] > 0.9 > 0.1 > importances["b"]
    assert sum(importances.values()) == pytest.approx(1.0)
    assert param_importances(_study(30, _steep_in_a)) == importances  # fixed seed: the same numbers again


def test_pruned_and_failed_trials_do_not_count():
    study = _study(1, _steep_in_a)
    failed = create_trial(params={"a": 0.9}, distributions={"a": FloatDistribution(0, 1)}, state=TrialState.FAIL)
    study.add_trial(failed)
    study.add_trial(
        create_trial(params={"a": 0.1}, distributions={"a": FloatDistribution(0, 1)}, state=TrialState.PRUNED)
    )
    assert param_importances(study) == {}  # one complete trial: nothing to attribute
    assert len(slice_points(study)) == 1


@pytest.mark.parametrize(
    ("n_trials", "objective"),
    [
        (1, lambda t: t.suggest_float("a", 0.0, 1.0)),
        (5, lambda t: 0.5 + 0.0 * t.suggest_float("a", 0.0, 1.0)),  # every trial scored the same: zero variance
        (5, lambda t: float(t.suggest_categorical("a", ["only"]) == "only")),  # the parameter never varied
    ],
    ids=["one-trial", "constant-objective", "constant-param"],
)
def test_nothing_to_attribute_gives_no_importances_and_no_error(n_trials, objective):
    assert param_importances(_study(n_trials, objective)) == {}


def test_a_study_without_trials_gives_no_importances():
    assert param_importances(optuna.create_study()) == {}


def test_importances_from_plain_points_match_a_study_of_the_same_trials():
    study = _study(20, _steep_in_a)
    dists = {"a": FloatDistribution(0.0, 1.0), "b": FloatDistribution(0.0, 1.0)}
    assert importances_from_points(slice_points(study), dists) == pytest.approx(param_importances(study))
    assert importances_from_points(slice_points(study)[:1], dists) == {}


def test_metric_names_are_what_mlflow_accepts():
    assert importance_metrics({"flexclip.loss.lambda_con": 0.75, "odd key[1]": 0.25}) == {
        "importance/flexclip.loss.lambda_con": 0.75,
        "importance/odd key_1_": 0.25,
    }


def test_slice_plot_is_a_png_with_one_panel_per_parameter(tmp_path):
    study = _study(12, _steep_in_a)
    params = [SlicedParam("a", bounds=(0.0, 1.0)), SlicedParam("b", log=True)]
    fig = slice_figure({"cell": slice_points(study)}, params, "val/map_avg", param_importances(study))
    fig.savefig(tmp_path / "slice.png", dpi=80)
    image = matplotlib.image.imread(tmp_path / "slice.png")
    assert image.ndim == 3 and image.shape[1] > image.shape[0] > 100  # two panels side by side
    assert [ax.get_title().split(" (")[0] for ax in fig.axes] == ["a", "b"]
    assert fig.axes[0].get_xlim() == (0.0, 1.0) and fig.axes[1].get_xscale() == "log"
    assert len(fig.axes[0].collections[0].get_offsets()) == 12


def test_slice_plot_of_categorical_choices_and_several_cells():
    points = [SlicePoint({"opt": "adam"}, 0.3), SlicePoint({"opt": None}, 0.2)]
    fig = slice_figure({"seed 0": points, "seed 1": points[:1]}, [SlicedParam("opt")], "val/top1")
    assert len(fig.axes[0].collections) == 2 and fig.axes[0].get_legend() is not None


def test_sliced_params_follow_the_distributions():
    dists = {
        "w": FloatDistribution(0.1, 10.0, log=True),
        "k": IntDistribution(1, 4),
        "c": CategoricalDistribution(["x"]),
    }
    assert sliced_params(dists) == [
        SlicedParam("w", True, (0.1, 10.0)),
        SlicedParam("k", False, (1, 4)),
        SlicedParam("c", False, None),
    ]
