"""PerCellScheduler: ASHA compares trials of one cell only, and each trial gets its own study's max_failures."""

from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from grid.scheduler import PerCellScheduler
from grid.space import parse_space

SPACE = {
    "name": "t",
    "studies": [
        {
            "method": "flexclip",
            "dataset": ["wikipedia", "pascal_sentence"],
            "shots": 1,
            "params": {"flexclip.loss.contrastive": {"loguniform": [0.1, 10.0]}},
            "search": {"trials": 4},
            "scheduler": {"type": "asha", "grace_period": 1, "reduction_factor": 2},
            "max_failures": 3,
        },
        {"method": "coder", "dataset": "wikipedia", "max_failures": 0},
    ],
}


def _trial(cell, index: int) -> Trial:
    config = {"grid.cell": cell.id, "grid.study": cell.study_index, "grid.metric": cell.metric}
    return Trial(
        "grid_trial", config=config, trial_id=f"{cell.study_index}_{cell.constants['dataset']}_{index}", stub=True
    )


def _result(metric: str, value: float, iteration: int) -> dict:
    return {metric: value, "training_iteration": iteration}


def test_asha_never_compares_trials_of_different_cells():
    """Wikipedia's trials score ~0.9, Pascal Sentence's ~0.1. One shared ASHA would stop every Pascal trial at the
    first rung; per cell, the better Pascal trial goes on and only the worse one of each cell stops."""
    space = parse_space(SPACE)
    wiki, pascal = [c for c in space.cells() if c.method == "flexclip"]
    scheduler = PerCellScheduler(space.studies)
    trials = {c.id: [_trial(c, i) for i in range(2)] for c in (wiki, pascal)}
    for ts in trials.values():
        for t in ts:
            scheduler.on_trial_add(None, t)
    shared = ASHAScheduler(metric=wiki.metric, mode="max", grace_period=1, reduction_factor=2)  # the naive one
    for ts in trials.values():
        for t in ts:
            shared.on_trial_add(None, t)
    metric = wiki.metric
    decisions, shared_decisions = {}, {}
    for cell, (low, high) in ((wiki, (0.88, 0.92)), (pascal, (0.08, 0.12))):
        for t, value in zip(trials[cell.id], (high, low)):
            key = (cell.constants["dataset"], value)
            decisions[key] = scheduler.on_trial_result(None, t, _result(metric, value, 1))
            shared_decisions[key] = shared.on_trial_result(None, t, _result(metric, value, 1))
    assert shared_decisions[("pascal_sentence", 0.12)] == TrialScheduler.STOP
    assert decisions[("wikipedia", 0.92)] == TrialScheduler.CONTINUE
    assert decisions[("pascal_sentence", 0.12)] == TrialScheduler.CONTINUE  # its cell's best so far
    assert decisions[("wikipedia", 0.88)] == TrialScheduler.STOP
    assert decisions[("pascal_sentence", 0.08)] == TrialScheduler.STOP


def test_each_trial_gets_its_studys_max_failures_and_unscheduled_cells_always_continue():
    space = parse_space(SPACE)
    scheduler = PerCellScheduler(space.studies)
    searched = _trial(space.cells()[0], 0)
    grid = _trial(next(c for c in space.cells() if c.method == "coder"), 0)
    for t in (searched, grid):
        scheduler.on_trial_add(None, t)
    assert (searched.max_failures, grid.max_failures) == (3, 0)
    assert scheduler.on_trial_result(None, grid, _result("val/top1", 0.0, 1)) == TrialScheduler.CONTINUE


def test_a_retried_trial_rejoins_its_cells_brackets():
    """Tune calls on_trial_error before a retry, then on_trial_add again: the trial is judged by ASHA again."""
    space = parse_space(SPACE)
    cell = space.cells()[0]
    scheduler = PerCellScheduler(space.studies)
    good, bad = _trial(cell, 0), _trial(cell, 1)
    for t in (good, bad):
        scheduler.on_trial_add(None, t)
    assert scheduler.on_trial_result(None, good, _result(cell.metric, 0.9, 1)) == TrialScheduler.CONTINUE
    scheduler.on_trial_error(None, bad)
    scheduler.on_trial_add(None, bad)
    assert scheduler.on_trial_result(None, bad, _result(cell.metric, 0.1, 1)) == TrialScheduler.STOP
