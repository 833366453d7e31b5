"""Run a validated Space on Ray Tune, recording into MLflow.

Trial processes are reused across trials (reuse_actors): imports, the simulated world and loaded features stay warm,
which is most of a small trial's cost. Cells of a study without a search run together in one grid_search Tuner (one trial per cell); a study with an
Optuna search runs one Tuner per cell, each with a fresh OptunaSearch (they cannot share one param_space).
Parents are created on the driver before trials start; with --resume, finished cells are skipped and unfinished
Tuners are restored from their storage folder, so finished trials never run twice.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import ray
from ray import tune

from flexcoder import TrialConfig
from flexcoder.backbones import BackboneError, check_backbone_available
from flexcoder.data.items import check_data_available
from flexcoder.data.registry import get_dataset
from flexcoder.features import FeatureReport, cache_dir_for, ensure_features
from grid.search import make_searcher
from grid.space import Cell, Space, Study
from grid.textgen_actor import start_grid_textgen, stop_textgen_actor
from grid.tracking import GridTracking, check_reachable, normalise_uri
from grid.trials import flat_trial_config, grid_trial

NAMESPACE = "flexcoder"


@dataclass(frozen=True)
class RunOptions:
    mlflow_uri: str
    storage: str
    address: str | None = None
    max_concurrent: int | None = None
    resume: bool = False
    verbose: int = 0  # Tune's verbosity: 0 = our one-line-per-trial progress only


class GridError(RuntimeError):
    """The grid cannot start (missing data, unreachable services, impossible resources)."""


def preflight(space: Space) -> None:
    """Everything that can be checked without Ray: real data and backbones named by the cells exist (weight files
    and local-dir folders present, models and tags known to open_clip, tags cached when HF_HUB_OFFLINE=1)."""
    problems, weights = [], []
    real = dict.fromkeys((c.constants["dataset"], c.constants["data_root"]) for c in space.cells()
                         if c.constants["backbone"] != "simulated")  # fmt: skip
    for dataset, data_root in real:  # each dataset's list files are read once, however many cells use it
        try:
            check_data_available(get_dataset(dataset), data_root)
        except (FileNotFoundError, ValueError) as e:
            problems.append(str(e))
    for backbone in dict.fromkeys(c.constants["backbone"] for c in space.cells()):
        if backbone != "simulated":
            try:
                check_backbone_available(backbone)
            except BackboneError as e:
                weights.append(str(e))
    message = []
    if problems:
        message.append("real data is missing or malformed:\n" + "\n".join(dict.fromkeys(problems)))
    if weights:
        message.append("CLIP weights are missing or unusable:\n" + "\n".join(weights))
    if message:
        raise GridError("\n".join(message))


def _extract_features_task(dataset: str, backbone: str, data_root: str, precision: str, cache_dir: str,
                           device: str, threads: int) -> FeatureReport:  # fmt: skip
    import torch

    torch.set_num_threads(threads)
    return ensure_features(dataset, backbone, data_root, precision=precision, cache_dir=cache_dir, device=device)


def prepare_features(space: Space) -> list[FeatureReport]:
    """Fill the feature cache before any trial starts: one Ray task per distinct (dataset, backbone, data root,
    precision, cache folder, device) among the cells with a real backbone, so N trials never extract N times;
    trials then only read the cache. Prints one line per pair; a failure is a GridError naming the pair.

    Resources (our choice): 1 GPU (+1 CPU; the DataLoader decodes on up to 8 more processes) when the cluster has
    GPUs and the cells do not ask for device "cpu"; otherwise the CPUs of the largest node shared evenly among the
    pairs, as torch threads. Nothing else runs meanwhile, so the requests only pace the tasks.
    """
    jobs: dict[tuple, None] = {}  # ordered set of (dataset, backbone, data root, precision, cache folder, device)
    for cell in space.cells():
        if cell.constants["backbone"] == "simulated":
            continue
        cfg = TrialConfig.from_flat(cell.constants)
        root = str(Path(cfg.data_root).expanduser().resolve())
        cache = str(cache_dir_for(root, cfg.feature_cache))
        jobs[(cfg.dataset, cfg.backbone, root, cfg.precision, cache, cfg.device)] = None
    if not jobs:
        return []
    gpus = ray.cluster_resources().get("GPU", 0)
    node_cpus = max((n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive")), default=1)
    print(f"[grid] features: {len(jobs)} (dataset, backbone) pair(s) to check or extract before the trials",
          flush=True)  # fmt: skip
    pending = {}
    extract = ray.remote(_extract_features_task)
    for key in jobs:
        dataset, backbone, root, precision, cache, device = key
        on_gpu = gpus >= 1 and device != "cpu"
        cpus = 1 if on_gpu else max(1, int(node_cpus) // len(jobs))
        task = extract.options(num_cpus=cpus, num_gpus=1 if on_gpu else 0)
        pending[task.remote(dataset, backbone, root, precision, cache, device, cpus)] = key
    reports, failures = [], []
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        key = pending.pop(done[0])
        try:
            report = ray.get(done[0])
        except Exception as e:  # RayTaskError wraps the task's own exception as .cause
            cause = getattr(e, "cause", None) or e
            failures.append(f"features of {key[0]} x {key[1]} (data root {key[2]}): {type(cause).__name__}: "
                            f"{cause}")  # fmt: skip
            continue
        reports.append(report)
        print(f"[grid] features {report.line()}", flush=True)
    if failures:
        raise GridError("feature extraction failed:\n" + "\n".join(failures))
    return reports


def run_grid(space: Space, options: RunOptions) -> int:
    """Run every cell; returns 0 when every trial finished, 1 otherwise."""
    if options.verbose == 0:
        # Tune's new output engine prints its experiment box and a TensorBoard hint even at verbose=0; the classic
        # reporter is silent there, which leaves our one line per trial. Tune's and Optuna's INFO chatter likewise.
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
        logging.getLogger("ray.tune").setLevel(logging.WARNING)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    preflight(space)
    check_reachable(normalise_uri(options.mlflow_uri))
    started_ray = _init_ray(options.address)
    textgen: dict = {}
    try:
        _check_resources(space)  # before anything is written to MLflow
        prepare_features(space)  # likewise: unreadable data or weights stop the grid before any run exists
        tracking = GridTracking(options.mlflow_uri, space)
        cells = space.cells()
        parents = _open_parents(tracking, cells, options.resume)
        todo = [c for c in cells if c.id in parents]
        textgen = start_grid_textgen(_textgen_configs(todo), NAMESPACE)
        print(f"[grid] {space.name}: {len(cells)} cells, {len(cells) - len(todo)} already finished; "
              f"MLflow experiment {space.name!r} at {tracking.uri}", flush=True)  # fmt: skip
        failed = 0
        for index, study in enumerate(space.studies):
            study_cells = [c for c in todo if c.study_index == index]
            if not study_cells:
                continue
            if study.search is None:
                failed += _run_grid_study(index, study, study_cells, parents, tracking, options, textgen)
            else:
                for cell in study_cells:
                    failed += _run_search_cell(cell, parents[cell.id], tracking, options, textgen)
        _print_summary(tracking, cells)
        if failed:
            print(f"[grid] {failed} trial(s) failed after retries; see the Tune errors above and the FAILED runs "
                  "in MLflow. Rerun with --resume to retry only those.", file=sys.stderr)  # fmt: skip
        return 1 if failed else 0
    finally:
        for name in textgen:
            stop_textgen_actor(NAMESPACE, name)  # detached actors outlive the job otherwise
        if started_ray:
            ray.shutdown()


FORWARDED_ENV = ("HF_HUB_OFFLINE", "HF_HOME", "HF_HUB_CACHE", "FLEXCODER_CACHE")


def _init_ray(address: str | None) -> bool:
    # Trials keep the driver's working directory, so relative paths in a space mean the same thing everywhere.
    os.environ["RAY_CHDIR_TO_TRIAL_DIR"] = "0"
    if ray.is_initialized():
        return False
    # Workers see what the driver was told about offline weights and caches (a cluster's nodes don't share our env).
    forwarded = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
    runtime_env = {"env_vars": {"RAY_CHDIR_TO_TRIAL_DIR": "0", **forwarded}}
    if address:
        ray.init(address=address, namespace=NAMESPACE, runtime_env=runtime_env)
    else:
        ray.init(namespace=NAMESPACE, runtime_env=runtime_env, include_dashboard=False)
    return True


def _storage_uri(storage: str, space_name: str) -> str:
    """Where Tune keeps this space's trial state: a URI (s3://, gs://, file://) as given, a plain path made absolute
    (Tune needs one; the driver's working directory is not the trials')."""
    base = storage.rstrip("/") if "://" in storage else str(Path(storage).resolve())
    return f"{base}/{space_name}"


def _check_resources(space: Space) -> None:
    total = ray.cluster_resources()
    for i, study in enumerate(space.studies):
        for kind, need in (("CPU", study.resources.cpu), ("GPU", study.resources.gpu)):
            if need > total.get(kind, 0):
                raise GridError(f"studies[{i}].resources: a trial needs {need} {kind} but the Ray cluster has "
                                f"{total.get(kind, 0)}")  # fmt: skip


def _open_parents(tracking: GridTracking, cells: list[Cell], resume: bool) -> dict[str, str]:
    """{cell id: parent run id} for the cells still to run."""
    parents = {}
    previous = tracking.parents_by_cell() if resume else {}
    for cell in cells:
        existing = previous.get(cell.id)
        if existing is not None and existing.info.status == "FINISHED":
            continue
        if existing is not None:
            tracking.reopen_parent(existing.info.run_id)
            parents[cell.id] = existing.info.run_id
        else:
            parents[cell.id] = tracking.open_parent(cell)
    return parents


def _textgen_configs(cells: list[Cell]) -> list:
    """The text-generator configs CODER cells will use: only the `coder` variant generates texts (the CLIP
    baselines do not), and a searched textgen key is built in each trial instead."""
    configs = []
    for c in cells:
        if c.method != "coder" or any(k.startswith("coder.textgen.") for k in c.study.searched):
            continue
        cfg = TrialConfig.from_flat(c.constants)
        if cfg.coder.variant == "coder":
            configs.append(cfg.coder.textgen)
    return configs


def _trainable(study: Study, tracking: GridTracking, textgen: dict):
    fn = tune.with_parameters(grid_trial, tracking=tracking.spec, textgen=textgen)
    return tune.with_resources(fn, {"cpu": study.resources.cpu, "gpu": study.resources.gpu})


class TrialProgress(tune.Callback):
    """One line per finished, stopped or failed trial (Tune's own tables come with --verbose)."""

    def __init__(self, label: str, metric_of: Any):
        self.label = label
        self.metric_of = metric_of
        self.done = 0

    def _line(self, trial: Any, what: str) -> None:
        self.done += 1
        result = trial.last_result or {}
        metric = self.metric_of(trial)
        value = result.get(metric)
        shown = f"{metric}={value:.4f}" if isinstance(value, float) else ""
        cell = flat_trial_config(trial.config).get("grid.cell", "")
        print(f"[grid] {self.label} trial {self.done}: {what:<8} {cell} {shown} "
              f"({result.get('time_total_s', 0.0):.1f}s)", flush=True)  # fmt: skip

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        stopped = "mlflow_run_id" not in (trial.last_result or {})
        self._line(trial, "stopped" if stopped else "done")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._line(trial, "FAILED")


def _run_config(name: str, study: Study, options: RunOptions, space_name: str) -> tune.RunConfig:
    metric_of = lambda trial: flat_trial_config(trial.config).get("grid.metric", "")  # noqa: E731
    return tune.RunConfig(
        name=name,
        storage_path=_storage_uri(options.storage, space_name),
        failure_config=tune.FailureConfig(max_failures=study.max_failures),
        verbose=options.verbose,
        callbacks=[TrialProgress(name, metric_of)],
    )


def _tuner(trainable, path: str, resume: bool, **kwargs) -> tune.Tuner:
    if resume and tune.Tuner.can_restore(path):
        print(f"[grid] restoring {path}", flush=True)
        return tune.Tuner.restore(path, trainable, resume_unfinished=True, resume_errored=True)
    return tune.Tuner(trainable, **kwargs)


def _run_grid_study(index: int, study: Study, cells: list[Cell], parents: dict[str, str], tracking: GridTracking,
                    options: RunOptions, textgen: dict) -> int:  # fmt: skip
    name = f"study{index}-grid"
    run_config = _run_config(name, study, options, tracking.space.name)
    trials = [{**c.constants, **_grid_keys(c, parents[c.id])} for c in cells]
    tuner = _tuner(
        _trainable(study, tracking, textgen),
        os.path.join(run_config.storage_path, name),
        options.resume,
        param_space={"trial": tune.grid_search(trials)},
        tune_config=tune.TuneConfig(max_concurrent_trials=options.max_concurrent, reuse_actors=True,
                                    trial_dirname_creator=trial_dirname),
        run_config=run_config,
    )
    results = tuner.fit()
    by_cell = {c.id: c for c in cells}
    failed = 0
    for result in results:
        flat = flat_trial_config(result.config or {})
        cell = by_cell.get(flat.get("grid.cell"))
        if cell is None:
            continue
        ok = result.error is None and cell.metric in (result.metrics or {})
        failed += not ok
        tracking.close_parent(parents[cell.id], _final_metrics(result) if ok else None,
                              (result.metrics or {}).get("mlflow_run_id"), errors=int(not ok), trials=1)  # fmt: skip
    return failed


def _run_search_cell(cell: Cell, parent_run_id: str, tracking: GridTracking, options: RunOptions,
                     textgen: dict) -> int:  # fmt: skip
    study = cell.study
    run_config = _run_config(cell.slug, study, options, tracking.space.name)
    scheduler = None
    if study.scheduler.type == "asha":
        scheduler = tune.schedulers.ASHAScheduler(
            metric=cell.metric, mode=cell.mode, grace_period=study.scheduler.grace_period,
            reduction_factor=study.scheduler.reduction_factor, max_t=study.scheduler.max_t,
        )  # fmt: skip
    constants = {**cell.constants, **_grid_keys(cell, parent_run_id)}
    print(f"[grid] cell {cell.id}: Optuna, {study.search.trials} trials on {cell.metric} ({cell.mode})", flush=True)
    tuner = _tuner(
        _trainable(study, tracking, textgen),
        os.path.join(run_config.storage_path, cell.slug),
        options.resume,
        tune_config=tune.TuneConfig(
            search_alg=make_searcher(cell, constants),
            scheduler=scheduler,
            num_samples=study.search.trials,
            max_concurrent_trials=options.max_concurrent or study.search.max_concurrent,
            trial_dirname_creator=trial_dirname,
            reuse_actors=True,
        ),
        run_config=run_config,
    )
    results = tuner.fit()
    errors = results.num_errors
    for result in results:
        if result.error is None and "mlflow_run_id" not in (result.metrics or {}):
            trial_id = (result.metrics or {}).get("trial_id")
            if trial_id:
                tracking.mark_stopped_early(parent_run_id, trial_id, study.scheduler.type)
    # The best among trials that ran to the end: an ASHA-stopped trial has a val metric but no test metrics.
    completed = [r for r in results if r.error is None and "mlflow_run_id" in (r.metrics or {})
                 and cell.metric in r.metrics]  # fmt: skip
    pick = max if cell.mode == "max" else min
    best = pick(completed, key=lambda r: r.metrics[cell.metric]) if completed else None
    ok = best is not None
    tracking.close_parent(parent_run_id, _final_metrics(best) if ok else None,
                          best.metrics["mlflow_run_id"] if ok else None, errors=errors,
                          trials=len(results))  # fmt: skip
    return errors


def trial_dirname(trial: Any) -> str:
    """Short trial folders: Tune's default spells out the whole config, which overflows path limits."""
    return f"trial_{trial.trial_id}"


def _grid_keys(cell: Cell, parent_run_id: str) -> dict[str, str]:
    """What a trial needs besides its TrialConfig: its cell, its parent run, the metric to report to Tune."""
    return {"grid.cell": cell.id, "grid.parent_run_id": parent_run_id, "grid.metric": cell.metric}


def _final_metrics(result: Any) -> dict[str, float]:
    """The numeric metrics of a trial's last report, minus Tune's bookkeeping."""
    skip = {"training_iteration", "timestamp", "time_this_iter_s", "time_total_s", "time_since_restore",
            "iterations_since_restore", "pid", "epoch", "done"}  # fmt: skip
    return {k: v for k, v in (result.metrics or {}).items()
            if "/" in k and k not in skip and isinstance(v, (int, float)) and not isinstance(v, bool)}  # fmt: skip


def _print_summary(tracking: GridTracking, cells: list[Cell]) -> None:
    rows = []
    latest = tracking.parents_by_cell()
    for cell in cells:
        run = latest.get(cell.id)
        if run is None:
            continue
        m = run.data.metrics
        test = {k: v for k, v in m.items() if k.startswith("test/")}
        rows.append((cell.id, run.info.status, m.get(cell.metric), test))
    width = max((len(r[0]) for r in rows), default=10)
    print(f"\n[grid] results ({'simulated data' if tracking.space.simulated else 'real data'}):")
    for cell_id, status, metric, test in rows:
        shown = "  ".join(f"{k}={v:.4f}" for k, v in sorted(test.items()))
        best = f"{metric:.4f}" if metric is not None else "-"
        print(f"  {cell_id:<{width}}  {status:<8}  best={best}  {shown}")
    print(f"[grid] open the MLflow UI: mlflow ui --backend-store-uri {tracking.uri}\n", flush=True)
