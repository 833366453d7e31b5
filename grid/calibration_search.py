"""Search the classification world's global knobs: `python -m grid.calibration_search [--trials 80]`.

An Optuna TPE search over the `ClassWorldParams` fields in SEARCHED. A trial rebuilds the world of every dataset in
FIT with its knobs (each world still fit to its own zero-shot figure), runs Tip-Adapter at 0-16 shots, and scores
the mean absolute gap to the real figures (`grid.calibration.real_curve`); the zero-shot column counts too, so knobs
under which a dataset cannot reach its zero-shot figure lose. The first trial is the shipped knobs, so the best is
never worse than them. ImageNet stays out of FIT: its 1000 classes cost ten times the other four together (check
its curve with `python -m grid.calibration`). Prints every trial, then the best knobs as code to paste into
`ClassWorldParams`.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time

from grid.calibration import REAL_FEW_SHOT, SHOTS, real_curve, tip_adapter_top1

FIT = ("caltech101", "dtd", "eurosat", "oxford_pets")
SEARCHED = {  # field: (low, high) of a uniform search; `ambiguity` is searched as its low end and its width
    "nuisance": (0.8, 2.0),
    "noise": (0.2, 1.0),
    "variation": (0.2, 1.2),
    "confusion": (0.0, 0.3),
    "descriptor_weight": (0.1, 0.5),
    "ambiguous_per_error": (0.0, 1.5),
    "ambiguous_half_classes": (0.0, 30.0),
    "ambiguity_low": (0.4, 1.2),
    "ambiguity_width": (0.1, 1.5),
    "hidden_share": (0.5, 1.0),
}


def params_of(values: dict[str, float]):
    """`ClassWorldParams` with the searched `values` (the `ambiguity` pair from its low end and width)."""
    from flexcoder.data.simulated_classification import ClassWorldParams

    fields = {k: v for k, v in values.items() if not k.startswith("ambiguity_")}
    low, width = values["ambiguity_low"], values["ambiguity_width"]
    return dataclasses.replace(ClassWorldParams(), **fields, ambiguity=(round(low, 3), round(low + width, 3)))


def searched_values(params) -> dict[str, float]:
    """The searched coordinates of `params` (the inverse of `params_of`)."""
    out = {k: getattr(params, k) for k in SEARCHED if not k.startswith("ambiguity_")}
    low, high = params.ambiguity
    return {**out, "ambiguity_low": low, "ambiguity_width": high - low}


def curve_gap(params, datasets=FIT, seeds=(0,)) -> tuple[float, dict[str, list[float]]]:
    """(mean absolute gap in points over SHOTS and `datasets`, each dataset's seed-mean curve at SHOTS)."""
    from flexcoder.data.knowledge import classification_world_entry
    from flexcoder.data.simulated_classification import simulate_classification

    gaps, curves = [], {}
    for dataset in datasets:
        entry = classification_world_entry(dataset)
        features = simulate_classification(
            entry["classes"], entry["zero_shot"] / 100, descriptors=entry["descriptors"], name=dataset, params=params
        )
        curve = [statistics.fmean(tip_adapter_top1(dataset, k, s, features) for s in seeds) for k in SHOTS]
        curves[dataset] = curve
        gaps += [abs(w - r) for w, r in zip(curve, real_curve(dataset))]
    return statistics.fmean(gaps), curves


def search(trials: int, datasets=FIT, seeds=(0,), sampler_seed: int = 0, ranges=SEARCHED):
    """The Optuna study after `trials` trials over `ranges` (SEARCHED's keys); its first trial is the shipped
    `ClassWorldParams`."""
    import optuna

    from flexcoder.data.simulated_classification import ClassWorldParams

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=sampler_seed))
    study.enqueue_trial(searched_values(ClassWorldParams()), skip_if_exists=True)

    def objective(trial) -> float:
        values = {k: trial.suggest_float(k, lo, hi) for k, (lo, hi) in ranges.items()}
        start = time.perf_counter()
        gap, curves = curve_gap(params_of(values), datasets, seeds)
        shape = "; ".join(f"{d} " + " ".join(f"{v:.1f}" for v in c) for d, c in curves.items())
        print(
            f"[search] trial {trial.number}: gap {gap:.2f} ({time.perf_counter() - start:.0f} s) {shape}",
            file=sys.stderr,
            flush=True,
        )
        return gap

    study.optimize(objective, n_trials=trials)
    return study


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m grid.calibration_search",
        description="Optuna search of the classification world's global knobs against Tip-Adapter's few-shot log.",
    )
    p.add_argument("--trials", type=int, default=80, help="Optuna trials (about 25 s each on 2 cores)")
    p.add_argument("--datasets", default=",".join(FIT), help=f"comma-separated, from: {', '.join(REAL_FEW_SHOT)}")
    p.add_argument("--seeds", default="0", help="trial seeds (support draws) each trial averages over")
    p.add_argument(
        "--range",
        action="append",
        default=[],
        metavar="KNOB=LOW:HIGH",
        help="search KNOB in [LOW, HIGH] instead of its default range (repeatable); knobs and defaults: "
        + ", ".join(f"{k}={lo:g}:{hi:g}" for k, (lo, hi) in SEARCHED.items()),
    )
    args = p.parse_args(argv)
    ranges = dict(SEARCHED)
    for item in args.range:
        knob, _, bounds = item.partition("=")
        low, _, high = bounds.partition(":")
        if knob not in SEARCHED:
            p.error(f"--range {item}: no searched knob {knob!r}; the knobs: {', '.join(SEARCHED)}")
        try:
            ranges[knob] = (float(low), float(high))
        except ValueError:
            p.error(f"--range {item}: expected {knob}=LOW:HIGH with two numbers")
        if not ranges[knob][0] < ranges[knob][1]:
            p.error(f"--range {item}: LOW must be below HIGH")
    datasets = [d for d in args.datasets.split(",") if d]
    unknown = [d for d in datasets if d not in REAL_FEW_SHOT]
    if unknown:
        p.error(
            f"--datasets: no real few-shot curve for {', '.join(unknown)}; those with one: {', '.join(REAL_FEW_SHOT)}"
        )
    seeds = tuple(int(s) for s in args.seeds.split(",") if s)
    study = search(args.trials, datasets, seeds, ranges=ranges)
    best = params_of(study.best_params)
    print(f"best mean gap {study.best_value:.2f} points (trial {study.best_trial.number} of {len(study.trials)})")
    print("ClassWorldParams(" + ", ".join(f"{k}={_fmt(getattr(best, k))}" for k in _searched_fields(best)) + ")")
    return 0


def _searched_fields(params) -> list[str]:
    """The `ClassWorldParams` fields the search sets, in the dataclass's order."""
    names = {k for k in SEARCHED if not k.startswith("ambiguity_")} | {"ambiguity"}
    return [f.name for f in dataclasses.fields(params) if f.name in names]


def _fmt(value) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(f"{v:.3g}" for v in value) + ")"
    return f"{value:.3g}"


if __name__ == "__main__":
    raise SystemExit(main())
