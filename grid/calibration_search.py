"""Search the classification world's global knobs: `python -m grid.calibration_search [--trials 80]`.

An Optuna TPE search over the `ClassWorldParams` fields in SEARCHED. A trial rebuilds the world of every dataset in
FIT with its knobs (each world still fit to its own zero-shot figure), runs Tip-Adapter at 0-16 shots, and scores
the mean absolute gap to the real figures (`grid.calibration.real_curve`); the zero-shot column counts too, so knobs
under which a dataset cannot reach its zero-shot figure lose. `--cell-penalty P` adds P points per cell more than
CELL_TOLERANCE from its real figure (the calibration's target is every cell within it). `--knobs` searches a few
knobs and keeps the rest at the shipped values. The first trial is the shipped knobs, so the best is never worse
than them. ImageNet stays out of FIT: its 1000 classes cost ten times the other four together (check
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
CELL_TOLERANCE = 3.0  # points: the calibration's target for every (dataset, shots) cell
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
    "text_gap": (1.0, 8.0),
}


def params_of(values: dict[str, float]):
    """`ClassWorldParams` with the searched `values` (the `ambiguity` pair from its low end and width); a coordinate
    missing from `values` keeps its shipped value."""
    from flexcoder.data.simulated_classification import ClassWorldParams

    values = {**searched_values(ClassWorldParams()), **values}
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


def cells_off(curves: dict[str, list[float]], tolerance: float = CELL_TOLERANCE) -> int:
    """How many (dataset, shots) cells of `curves` (`curve_gap`'s) are more than `tolerance` points from real CLIP."""
    return sum(abs(w - r) > tolerance for d, c in curves.items() for w, r in zip(c, real_curve(d)))


def search(trials: int, datasets=FIT, seeds=(0,), sampler_seed: int = 0, ranges=SEARCHED, cell_penalty: float = 0.0):
    """The Optuna study after `trials` trials over `ranges` (some of SEARCHED's keys; the others stay at the shipped
    values); its first trial is the shipped `ClassWorldParams`. The score is the mean gap plus `cell_penalty` per
    cell off by more than CELL_TOLERANCE."""
    import optuna

    from flexcoder.data.simulated_classification import ClassWorldParams

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=sampler_seed))
    shipped = searched_values(ClassWorldParams())
    study.enqueue_trial({k: shipped[k] for k in ranges}, skip_if_exists=True)

    def objective(trial) -> float:
        values = {k: trial.suggest_float(k, lo, hi) for k, (lo, hi) in ranges.items()}
        start = time.perf_counter()
        gap, curves = curve_gap(params_of(values), datasets, seeds)
        off = cells_off(curves)
        shape = "; ".join(f"{d} " + " ".join(f"{v:.1f}" for v in c) for d, c in curves.items())
        print(
            f"[search] trial {trial.number}: gap {gap:.2f}, {off} cells off ({time.perf_counter() - start:.0f} s) "
            f"{shape}",
            file=sys.stderr,
            flush=True,
        )
        return gap + cell_penalty * off

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
    p.add_argument(
        "--knobs",
        default=",".join(SEARCHED),
        help="comma-separated knobs to search; the others keep their shipped values (default: all)",
    )
    p.add_argument(
        "--cell-penalty",
        type=float,
        default=0.0,
        metavar="P",
        help=f"add P points to a trial's score per cell more than {CELL_TOLERANCE:g} points off (default 0)",
    )
    args = p.parse_args(argv)
    knobs = [k for k in args.knobs.split(",") if k]
    unknown = [k for k in knobs if k not in SEARCHED]
    if unknown:
        p.error(f"--knobs: no searched knob {', '.join(map(repr, unknown))}; the knobs: {', '.join(SEARCHED)}")
    ranges = {k: SEARCHED[k] for k in knobs}
    for item in args.range:
        knob, _, bounds = item.partition("=")
        low, _, high = bounds.partition(":")
        if knob not in ranges:
            p.error(f"--range {item}: no searched knob {knob!r}; the knobs searched: {', '.join(ranges)}")
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
    study = search(args.trials, datasets, seeds, ranges=ranges, cell_penalty=args.cell_penalty)
    best = params_of(study.best_params)
    score = "mean gap" if args.cell_penalty == 0 else f"score (mean gap + {args.cell_penalty:g} per cell off)"
    print(f"best {score} {study.best_value:.2f} points (trial {study.best_trial.number} of {len(study.trials)})")
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
