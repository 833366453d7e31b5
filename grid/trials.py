"""One trial = one call into flexcoder, with MLflow and Ray Tune listening.

The config Tune hands a trial is small and flat: the cell's grid point (method, dataset, backbone, shots, seed and
its grid-listed params), the searched values, and the grid keys (GRID_KEYS). The trial rebuilds the rest of its
constants from its study (`grid.space.cell_constants`), so Tune, which keeps every trial's config for the whole
grid, never holds the study's fixed params thousands of times over.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Mapping
from typing import Any

import ray
from ray import tune

from flexcoder import TrialConfig, TrialContext, run_trial
from flexcoder.methods import dataset_settings, resolve_config
from grid.bootstrap import PER_QUERY_ARTIFACT
from grid.naming import identity_tags, settings_label
from grid.reuse import REUSE_KEY_TAG, REUSED_FROM_TAG, data_fingerprint, find_finished, reuse_key
from grid.space import AXES, Space, cell_constants
from grid.textgen_actor import actor_name
from grid.tracking import TrackingSpec, TrialRun

GRID_KEYS = ("grid.cell", "grid.parent_run_id", "grid.metric", "grid.study", "grid.rerun_of", "grid.run_name")


class TuneMlflowLogger:
    """flexcoder's MetricLogger: every call goes to the MLflow child run; calls that carry the cell's metric also go
    to Tune, so schedulers (ASHA) see one result per evaluated epoch and nothing without the metric. Tune gets that
    metric alone: it keeps running statistics of every number it is given, for every trial, for the whole grid."""

    def __init__(self, run: TrialRun, metric: str):
        self.run = run
        self.metric = metric
        self.last_step = 0

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        self.run.log_metrics(metrics, step)
        self.last_step = max(self.last_step, step)
        if self.metric in metrics:
            tune.report({self.metric: metrics[self.metric], "epoch": step})


def grid_trial(
    config: dict[str, Any],
    *,
    tracking: TrackingSpec,
    space: Space,
    textgen: Mapping[str, Any] | None = None,
    reuse: bool = True,
    count_flops: bool = False,
) -> None:
    """The Tune trainable. `textgen` maps actor names to clients of the grid's shared text generators. Reports the
    cell's metric and the MLflow run once more at the end, so every trial's last result carries them even when the
    method has no epochs. With `reuse`, a trial that matches a finished one in the store (`grid.reuse`) copies its
    metrics instead of running. `count_flops`: the trial logs cost/gflops (`TrialContext.count_flops`)."""
    import torch  # here: the driver imports this module for the function and never needs torch itself

    # As many torch threads as CPUs Ray gave this trial: concurrent trials each using every core oversubscribe it.
    torch.set_num_threads(max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1))))
    searched = dict(config)
    cell_id, parent_run_id, metric, study, rerun_of, run_name = (searched.pop(k) for k in GRID_KEYS)
    point = {k: searched.pop(k) for k in list(searched) if k in AXES or k in space.studies[study].grid}
    cfg = TrialConfig.from_flat({**cell_constants(space.studies[study], point, space.data_root), **searched})
    official = dataset_settings(cfg)
    cfg = resolve_config(cfg)  # params in MLflow are the values the trial runs, per-dataset defaults included
    own = cfg.own_flat()
    tags = {**identity_tags(own), "grid.cell": cell_id, "grid.tune_trial": tune.get_context().get_trial_name()}
    if official:
        tags["grid.dataset_settings"] = settings_label(official)
    key = _reuse_key(own, cfg, tracking.code_version)
    if key:
        tags[REUSE_KEY_TAG] = key
    run = TrialRun(tracking, parent_run_id, tune.get_context().get_trial_id(), run_name, own, tags, rerun_of)
    if run.finished_metrics is not None:  # finished in an earlier attempt: report it again, redo nothing
        tune.report({**_only(run.finished_metrics, metric), "mlflow_run_id": run.run_id})
        return
    # Where this attempt ran: on a cluster, the first thing to check when one node's trials fail or crawl.
    run.set_tags({"grid.node": ray.get_runtime_context().get_node_id(), "grid.host": socket.gethostname()})
    earlier = find_finished(run.client, key) if reuse and key else None
    if earlier is not None:
        run.log_metrics(earlier.data.metrics, step=0)
        run.set_tags({REUSED_FROM_TAG: earlier.info.run_id})
        run.finish("FINISHED")
        tune.report({**_only(earlier.data.metrics, metric), "mlflow_run_id": run.run_id, "reused": 1})
        return
    logger = TuneMlflowLogger(run, metric)
    try:
        name = actor_name(cfg.coder.textgen)
        client = (textgen or {}).get(name) if cfg.method == "coder" else None
        if client is not None:
            run.set_tags({"grid.textgen_actor": name, "grid.textgen_pid": str(client.info()["pid"])})
        ctx = TrialContext(logger=logger, textgen=client, count_flops=count_flops)
        metrics = run_trial(cfg, ctx)
    except SystemExit:  # how tune.report ends a trial that Tune stops (its cell's ASHA): not a failure
        run.finish("KILLED")
        raise
    except BaseException:
        run.finish("FAILED")
        raise
    # At the last epoch's step, so MLflow's "latest value" of a per-epoch metric is the final one.
    run.log_metrics(metrics, step=logger.last_step)
    _log_per_query(run, ctx.per_query)
    run.finish("FINISHED")
    tune.report({**_only(metrics, metric), "mlflow_run_id": run.run_id})


def _log_per_query(run: TrialRun, per_query: Mapping[str, Any]) -> None:
    """The per-query values behind the test metrics, as the artifact PER_QUERY_ARTIFACT (one array per metric, in
    test-set order; APs in float32, half the bytes, far finer than any interval): the report's bootstrap over test
    queries reads them (`grid.bootstrap`)."""
    if not per_query:
        return
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, PER_QUERY_ARTIFACT)
        arrays = {}
        for name, values in per_query.items():
            values = np.asarray(values)
            arrays[name.replace("/", "__")] = values.astype(np.float32) if values.dtype == np.float64 else values
        np.savez_compressed(path, **arrays)
        run.client.log_artifact(run.run_id, path)


def _reuse_key(own: Mapping[str, Any], cfg: TrialConfig, version: str | None) -> str | None:
    """This trial's reuse key, or None without a clean commit or when its data cannot be read (the trial then fails
    with the reader's error, in its own run)."""
    if version is None:
        return None
    try:
        return reuse_key(own, version, data_fingerprint(cfg))
    except (OSError, ValueError):
        return None


def _only(metrics: Mapping[str, float], metric: str) -> dict[str, float]:
    """What Tune needs of a trial's final metrics: the cell's metric (the rest is in MLflow)."""
    return {metric: float(metrics[metric])} if metric in metrics else {}
