"""Run a search space: `python grid/run.py --space search_spaces/embedded.yaml`.

Parses arguments, validates the space (every error names the key path, before Ray starts), and hands it to the
driver. `--dry-run` prints the expanded cells and the trial count and starts nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # `python grid/run.py`: grid/ is sys.path[0]; make the project root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grid.driver import GridError, RunOptions, preflight, run_grid  # noqa: E402
from grid.space import SpaceError, load_space  # noqa: E402
from grid.tracking import default_tracking_uri  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="grid/run.py",
        description="Run a FLEX-CLIP / CODER experiment grid on Ray Tune and record every trial in MLflow.",
        epilog="Examples:\n"
        "  python grid/run.py --space search_spaces/embedded.yaml            # offline default, simulated data\n"
        "  python grid/run.py --space search_spaces/full.yaml --data-root /data --dry-run\n"
        "  mlflow ui --backend-store-uri sqlite:///$PWD/mlflow.db           # then compare runs\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--space", required=True, help="search-space YAML (see search_spaces/)")
    p.add_argument(
        "--mlflow-uri",
        default=None,
        help="MLflow tracking URI (default: sqlite:///<absolute cwd>/mlflow.db; on a cluster an http:// mlflow server)",
    )
    p.add_argument(
        "--address", default=None, help="Ray cluster address (e.g. auto or HEAD:6379); default: start a local Ray"
    )
    p.add_argument(
        "--storage",
        default="ray_results",
        help="where Tune keeps its trial folders and logs (default ./ray_results; on a multi-node "
        "cluster a shared path or URI)",
    )
    p.add_argument("--data-root", default=None, help="root of real datasets (overrides the space's data_root)")
    p.add_argument(
        "--max-concurrent",
        type=int,
        default=None,
        help="cap on trials running at once over the whole grid (each search's own max_concurrent still caps its cell)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the last run of this space from what MLflow recorded: finished cells and trials "
        "are kept, each search goes on from its trials, cut-off trials run again",
    )
    p.add_argument(
        "--no-reuse",
        action="store_true",
        help="run every trial, even one whose config, code commit and data match a finished trial already in the "
        "tracking store (by default that trial is not run again: its run carries the earlier metrics)",
    )
    p.add_argument(
        "--count-flops",
        action="store_true",
        help="log each trial's floating-point operations as cost/gflops (torch's FlopCounterMode: every matmul, "
        "forward and backward; makes CPU trials 1.3-3.5x slower, so off by default)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the expanded cells, in the order they start, and the trial count; start nothing",
    )
    p.add_argument(
        "--report",
        action="store_true",
        help="after the grid, write tables and plots of its experiment to reports/<name>/ (grid/report.py)",
    )
    p.add_argument(
        "--verbose",
        action="store_true",
        help="Tune's own progress tables and per-trial results (default: one line per trial)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        space = load_space(args.space, data_root=args.data_root)
    except SpaceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.dry_run:
        return dry_run(space)
    options = RunOptions(
        mlflow_uri=args.mlflow_uri or default_tracking_uri(),
        storage=args.storage,
        address=args.address,
        max_concurrent=args.max_concurrent,
        resume=args.resume,
        reuse=not args.no_reuse,
        count_flops=args.count_flops,
        verbose=2 if args.verbose else 0,
    )
    try:
        code = run_grid(space, options)
    except (GridError, ConnectionError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.report:
        from grid.report import build_report

        out = build_report(options.mlflow_uri, space.name)
        print(f"[grid] report: {out / 'report.md'} and {out / 'report.html'}")
    return code


def dry_run(space) -> int:
    from flexcoder import TrialConfig
    from flexcoder.methods import dataset_settings
    from grid.naming import settings_label
    from grid.search import schedule_order

    cells = schedule_order(space.cells())  # in the order they start
    print(
        f"space {space.name!r} ({space.source}): {len(space.studies)} studies, {len(cells)} cells, "
        f"{space.num_trials()} trials; data: {'simulated' if space.simulated else 'real'}"
    )
    for cell in cells:
        search = cell.study.search
        how = f"optuna x{search.trials} on {cell.metric}" if search else "1 trial"
        official = dataset_settings(TrialConfig.from_flat(cell.constants))
        print(f"  {cell.id}  [{how}]" + (f"  dataset settings: {settings_label(official)}" if official else ""))
    try:
        preflight(space)
    except GridError as e:
        print(f"warning: a real run would stop here: {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
