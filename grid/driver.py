"""Run a validated Space on Ray Tune, recording into MLflow.

The whole space is one Tuner: `grid.search.CellSearcher` hands out the trials of every cell of every study, grid
and searched alike, in schedule order, and `grid.scheduler.PerCellScheduler` runs ASHA within each cell. What bounds
the trials in flight is the cluster, `--max-concurrent` and each search's own `max_concurrent`. Trial processes are
reused across trials (reuse_actors): imports, the simulated world and loaded features stay warm, which is most of a
small trial's cost. `--resume` takes up each cell where MLflow says it is (see grid/search.py).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
import ray
from ray import tune
from ray.tune.logger import JsonLoggerCallback

from flexcoder import TrialConfig
from flexcoder.data.reading import check_data_available
from flexcoder.data.registry import get_dataset
from flexcoder.features.backbone_files import check_backbone_available
from flexcoder.features.backbone_names import BackboneError
from grid.cluster import check_resources, trial_slots
from grid.scheduler import PerCellScheduler
from grid.search import CellSearcher
from grid.space import Cell, Space
from grid.textgen_actor import start_grid_textgen, stop_textgen_actor
from grid.tracking import GridTracking, check_reachable, normalise_uri
from grid.trials import grid_trial

if TYPE_CHECKING:
    from flexcoder.features.cache import FeatureReport

NAMESPACE = "flexcoder"


@dataclass(frozen=True)
class RunOptions:
    mlflow_uri: str
    storage: str
    address: str | None = None
    max_concurrent: int | None = None
    resume: bool = False
    reuse: bool = True  # a trial matching a finished one in the store is not run again (grid/reuse.py)
    count_flops: bool = False  # each trial logs cost/gflops (torch's FlopCounterMode; slows CPU trials)
    verbose: int = 0  # Tune's verbosity: 0 = our one-line-per-trial progress only
    # Called with (phase, seconds) as each phase of the run ends: ray_init, mlflow_setup, textgen_actor, tuner_fit,
    # summary, ray_shutdown. For benchmarks and tooling; the driver itself prints nothing of it.
    on_phase: Callable[[str, float], None] | None = field(default=None, compare=False)


class GridError(RuntimeError):
    """The grid cannot start (missing data, unreachable services, impossible resources)."""


def preflight(space: Space) -> None:
    """Everything that can be checked without Ray: real data and backbones named by the cells exist (weight files
    and local-dir folders present, models and tags known to open_clip, tags cached when HF_HUB_OFFLINE=1)."""
    problems, weights = [], []
    real = dict.fromkeys(
        (c.constants["dataset"], c.constants["data_root"])
        for c in space.cells()
        if c.constants["backbone"] != "simulated"
    )
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


def _extract_features_task(
    dataset: str, backbone: str, data_root: str, precision: str, cache_dir: str, device: str, threads: int
) -> FeatureReport:
    import torch

    from flexcoder.features.cache import ensure_features

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
    real = [c for c in space.cells() if c.constants["backbone"] != "simulated"]
    if not real:
        return []
    from flexcoder.features.cache import cache_dir_for  # loads torch: only for real backbones

    for cell in {c.setting: c for c in real}.values():
        cfg = TrialConfig.from_flat(cell.constants)
        root = str(Path(cfg.data_root).expanduser().resolve())
        cache = str(cache_dir_for(root, cfg.feature_cache))
        jobs[(cfg.dataset, cfg.backbone, root, cfg.precision, cache, cfg.device)] = None
    gpus = ray.cluster_resources().get("GPU", 0)
    node_cpus = max((n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive")), default=1)
    print(f"[grid] features: {len(jobs)} (dataset, backbone) pair(s) to check or extract before the trials", flush=True)
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
            failures.append(f"features of {key[0]} x {key[1]} (data root {key[2]}): {type(cause).__name__}: {cause}")
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
    phase = functools.partial(_timed, sink=options.on_phase)
    with phase("ray_init"):
        started_ray = _init_ray(options.address)
    textgen: dict = {}
    try:
        notes, problems = check_resources(space)  # before anything is written to MLflow
        if problems:
            raise GridError("\n".join(problems))
        for note in notes:
            print(f"[grid] {note}", flush=True)
        prepare_features(space)  # likewise: unreadable data or weights stop the grid before any run exists
        with phase("mlflow_setup"):
            tracking = GridTracking(options.mlflow_uri, space)
            cells = space.cells()
            finished = _finished_cells(tracking) if options.resume else set()
        todo = [c for c in cells if c.id not in finished]
        with phase("textgen_actor"):
            textgen = start_grid_textgen(_textgen_configs(todo), NAMESPACE)
        print(
            f"[grid] {space.name}: {len(cells)} cells, {len(cells) - len(todo)} already finished; "
            f"MLflow experiment {space.name!r} at {tracking.uri}",
            flush=True,
        )
        failed = 0
        if todo:
            with phase("tuner_fit"):
                failed = _run_tuner(space, todo, tracking, options, textgen)
        with phase("summary"):
            _print_summary(tracking, cells)
        if failed:
            print(
                f"[grid] {failed} trial(s) failed after retries; see the Tune errors above and the FAILED runs "
                "in MLflow. Rerun with --resume to retry only those.",
                file=sys.stderr,
            )
        return 1 if failed else 0
    finally:
        for name, client in textgen.items():
            _print_textgen_stats(name, client)
            stop_textgen_actor(NAMESPACE, name)  # detached actors outlive the job otherwise
        if started_ray:
            with phase("ray_shutdown"):
                ray.shutdown()


def _print_textgen_stats(name: str, client) -> None:
    """One line per LLM the grid used: prompts answered from the cache and by the model, and its speed."""
    if client.cfg.backend not in ("vllm", "openai"):
        return
    try:
        stats = client.stats()
    except Exception as e:  # noqa: BLE001 - a dead actor has no figures; the grid's result stands
        print(f"[grid] text generator {name}: no figures ({type(e).__name__})", flush=True)
        return
    seconds = stats.get("seconds", 0.0)
    rate = f", {stats.get('generated_tokens', 0) / seconds:.1f} tokens/s" if seconds else ""
    merged = [callers for callers, _ in stats.get("batches", [])]
    print(
        f"[grid] text generator {client.cfg.model}: {stats.get('cache_hits', 0)} answers from the cache, "
        f"{stats.get('prompts', 0)} generated in {len(merged)} batches (up to {max(merged, default=0)} trials "
        f"each), {stats.get('generated_tokens', 0)} tokens in {seconds:.1f} s{rate}",
        flush=True,
    )


@contextlib.contextmanager
def _timed(name: str, sink: Callable[[str, float], None] | None) -> Iterator[None]:
    """Report the seconds the block took to RunOptions.on_phase."""
    start = time.perf_counter()
    try:
        yield
    finally:
        if sink is not None:
            sink(name, time.perf_counter() - start)


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
    """Where Tune keeps this space's trial folders and logs: a URI (s3://, gs://, file://) as given, a plain path
    made absolute (Tune needs one; the driver's working directory is not the trials')."""
    base = storage.rstrip("/") if "://" in storage else str(Path(storage).resolve())
    return f"{base}/{space_name}"


def _finished_cells(tracking: GridTracking) -> set[str]:
    return {cell_id for cell_id, run in tracking.parents_by_cell().items() if run.info.status == "FINISHED"}


def _textgen_configs(cells: list[Cell]) -> list:
    """The text-generator configs CODER cells will use: only the `coder` variant generates texts (the CLIP
    baselines do not), and a searched textgen key is built in each trial instead."""
    configs, built = [], {}
    for c in cells:
        if c.method != "coder" or any(k.startswith("coder.textgen.") for k in c.study.searched):
            continue
        # Only the coder section decides; built once per distinct section (a 5,000-cell space has a handful).
        section = tuple(sorted((k, repr(v)) for k, v in c.constants.items() if k.startswith("coder.")))
        if section not in built:
            built[section] = TrialConfig.from_flat({**c.constants, "seed": 0}).coder
        if built[section].variant == "coder":
            configs.append(built[section].textgen)
    return configs


def _trainable(space: Space, tracking: GridTracking, textgen: dict, reuse: bool = True, count_flops: bool = False):
    """The trial function with its resources: each trial asks for its own study's `resources` (one Tuner, many
    studies)."""
    fn = tune.with_parameters(
        grid_trial, tracking=tracking.spec, space=space, textgen=textgen, reuse=reuse, count_flops=count_flops
    )
    bundles = [{"CPU": s.resources.cpu, **({"GPU": s.resources.gpu} if s.resources.gpu else {})} for s in space.studies]
    return tune.with_resources(fn, lambda config: tune.PlacementGroupFactory([bundles[config["grid.study"]]]))


class TrialProgress(tune.Callback):
    """One line per finished, stopped or failed trial (Tune's own tables come with --verbose)."""

    def __init__(self, total: int):
        self.total = total
        self.done = 0

    def _line(self, trial: Any, what: str) -> None:
        self.done += 1
        result = trial.last_result or {}
        metric = trial.config.get("grid.metric", "")
        value = result.get(metric)
        shown = f"{metric}={value:.4f}" if isinstance(value, float) else ""
        print(
            f"[grid] trial {self.done}/{self.total}: {what:<8} {trial.config.get('grid.cell', '')} {shown} "
            f"({result.get('time_total_s', 0.0):.1f}s)",
            flush=True,
        )

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        result = trial.last_result or {}
        stopped = "mlflow_run_id" not in result
        self._line(trial, "stopped" if stopped else "reused" if result.get("reused") else "done")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._line(trial, "FAILED")


def _run_tuner(space: Space, cells: list[Cell], tracking: GridTracking, options: RunOptions, textgen: dict) -> int:
    """One Tuner for all `cells`; returns the number of trials that failed for good."""
    total = sum(c.num_trials for c in cells)
    searched = sum(1 for c in cells if c.study.search)
    print(
        f"[grid] {len(cells)} cells to run ({searched} searched), {total} trials, in flight at once: up to "
        f"{options.max_concurrent or 'as many as the cluster fits'}",
        flush=True,
    )
    # Tune keeps one pending trial at a time for a custom searcher; a whole space needs as many as the cluster has
    # slots (and a few more, so an autoscaler sees the demand). A value the user set wins.
    pending = os.environ.get("TUNE_MAX_PENDING_TRIALS_PG") or str(max(8, trial_slots(space) + 4))
    run_config = tune.RunConfig(
        name=datetime.now().strftime("grid-%Y-%m-%d_%H-%M-%S.%f"),  # one folder per driver run
        storage_path=_storage_uri(options.storage, space.name),
        # The most any study allows; PerCellScheduler gives each trial its own study's max_failures.
        failure_config=tune.FailureConfig(max_failures=max(s.max_failures for s in space.studies)),
        verbose=options.verbose,
        callbacks=[TrialProgress(total), JsonLoggerCallback()],
    )
    tuner = tune.Tuner(
        _trainable(space, tracking, textgen, options.reuse, options.count_flops),
        tune_config=tune.TuneConfig(
            search_alg=CellSearcher(cells, tracking, resume=options.resume),
            scheduler=PerCellScheduler(space.studies),
            num_samples=-1,  # the searcher says when every cell has handed out its trials
            max_concurrent_trials=options.max_concurrent,
            reuse_actors=True,
            trial_dirname_creator=trial_dirname,
        ),
        run_config=run_config,
    )
    # Of Tune's own per-trial files only result.json stays (ours; its results read it): MLflow holds every result,
    # and Tune's TensorBoard writer loads torch into the driver (+500 MiB). A value the user set wins.
    loggers = os.environ.get("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS") or "1"
    with _env({"TUNE_MAX_PENDING_TRIALS_PG": pending, "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": loggers}):
        return tuner.fit().num_errors  # the variables are read when fit() builds its controller


@contextlib.contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def trial_dirname(trial: Any) -> str:
    """Short trial folders: Tune's default spells out the whole config, which overflows path limits."""
    return f"trial_{trial.trial_id}"


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
    if tracking.uri.startswith(("http://", "https://")):
        print(f"[grid] in the MLflow UI: {tracking.ui_link()}\n", flush=True)
    else:
        print(
            f"[grid] open the MLflow UI: mlflow ui --backend-store-uri {tracking.uri}\n"
            f"       then {tracking.ui_link()}\n",
            flush=True,
        )
