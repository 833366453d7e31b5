"""The embedded classification world against real CLIP: `python -m grid.calibration [--seeds 0,1,2]`.

Runs Tip-Adapter (`coder.variant: tip_adapter`, its validation search on) in process on the embedded world at 0, 1,
2, 4, 8 and 16 shots, by default for every dataset in REAL_FEW_SHOT (Tip-Adapter's official log, CLIP RN50: the
reference table of docs/calibration.md), and prints a markdown table: the world's mean +- std over trial seeds beside
the real figure, and the difference. Each dataset's world is fit only to its zero-shot figure; the shot columns come
out of it. `--datasets` takes any dataset of the world; those without a real curve get the world's columns alone.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

SHOTS = (0, 1, 2, 4, 8, 16)

# Tip-Adapter's official log (CLIP RN50, training-free Tip-Adapter), top-1 % at 1/2/4/8/16 shots. Its zero-shot
# figure is the one each dataset's world is fit to, so it is read from the shipped entry (`zero_shot`), not repeated.
REAL_FEW_SHOT = {
    "caltech101": (87.18, 88.44, 89.39, 89.83, 90.18),
    "dtd": (46.22, 49.47, 53.96, 58.63, 60.93),
    "eurosat": (54.38, 61.68, 65.32, 67.95, 70.54),
    "oxford_pets": (86.10, 87.03, 86.45, 87.03, 88.14),
    "imagenet": (60.70, 60.96, 60.98, 61.45, 62.01),
}


def real_curve(dataset: str) -> tuple[float | None, ...]:
    """Real CLIP RN50 top-1 % at SHOTS: the world's zero-shot target, then Tip-Adapter's log (None without one)."""
    from flexcoder.data.knowledge import classification_world_entry

    few_shot = REAL_FEW_SHOT.get(dataset, (None,) * (len(SHOTS) - 1))
    return (classification_world_entry(dataset)["zero_shot"], *few_shot)


def tip_adapter_top1(dataset: str, shots: int, seed: int, features=None) -> float:
    """Test top-1 (percent) of one Tip-Adapter trial on the embedded world; `features`: that dataset's world built
    with other knobs (`simulate_classification(..., params=...)`) instead of the registered one."""
    from flexcoder.config import TrialConfig
    from flexcoder.methods import TrialContext, get_method, resolve_config, run_trial
    from flexcoder.protocols import classification_split

    cfg = TrialConfig.from_flat(
        {"method": "coder", "dataset": dataset, "shots": shots, "seed": seed, "coder.variant": "tip_adapter"}
    )
    if features is None:
        return 100.0 * run_trial(cfg)["test/top1"]
    cfg = resolve_config(cfg)
    return 100.0 * get_method("coder")(cfg, classification_split(features, shots, seed), TrialContext())["test/top1"]


def calibration_rows(datasets, seeds) -> list[dict]:
    rows = []
    for dataset in datasets:
        start = time.perf_counter()
        for shots, real in zip(SHOTS, real_curve(dataset)):
            values = [tip_adapter_top1(dataset, shots, s) for s in seeds]
            mean = statistics.fmean(values)
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            rows.append({"dataset": dataset, "shots": shots, "world": mean, "std": std, "real": real})
        print(f"[calibration] {dataset}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| dataset | " + " | ".join(f"{s} shots" if s else "zero-shot" for s in SHOTS) + " | mean abs diff |",
        "|---|" + "---|" * (len(SHOTS) + 1),
    ]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        mine = [r for r in rows if r["dataset"] == dataset]
        cells = [
            f"{r['world']:.1f} ± {r['std']:.1f}"
            + (f" (real {r['real']:.1f}, {r['world'] - r['real']:+.1f})" if r["real"] is not None else "")
            for r in mine
        ]
        gaps = [abs(r["world"] - r["real"]) for r in mine[1:] if r["real"] is not None]
        mad = f"{statistics.fmean(gaps):.1f}" if gaps else "no real curve"
        lines.append(f"| {dataset} | " + " | ".join(cells) + f" | {mad} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m grid.calibration",
        description="Tip-Adapter on the embedded classification world vs real CLIP RN50 (Tip-Adapter's log).",
    )
    from flexcoder.data.knowledge import classification_world_datasets

    world = sorted(classification_world_datasets())
    p.add_argument(
        "--datasets",
        default=",".join(REAL_FEW_SHOT),
        help=f"comma-separated, from: {', '.join(world)} (default: the {len(REAL_FEW_SHOT)} with a real curve)",
    )
    p.add_argument("--seeds", default="0,1,2", help="trial seeds (support draws) to average over")
    args = p.parse_args(argv)
    datasets = [d for d in args.datasets.split(",") if d]
    unknown = [d for d in datasets if d not in world]
    if unknown:
        p.error(f"--datasets: the embedded world has no {', '.join(unknown)}; it has {', '.join(world)}")
    seeds = [int(s) for s in args.seeds.split(",") if s]
    print(markdown(calibration_rows(datasets, seeds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
