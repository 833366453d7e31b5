"""One trial = one call into flexcoder, with MLflow and Ray Tune listening.

The config Tune hands a trial is flat: the cell's constants (dotted TrialConfig keys) plus the searched values,
plus the grid keys (GRID_KEYS) that `grid.search` adds.
"""

from __future__ import annotations

import socket
from typing import Any, Mapping

import ray
from ray import tune

from flexcoder import TrialConfig, TrialContext, run_trial
from grid.textgen_actor import actor_name
from grid.tracking import TrackingSpec, TrialRun, identity_tags

GRID_KEYS = ("grid.cell", "grid.parent_run_id", "grid.metric", "grid.study", "grid.rerun_of")


class TuneMlflowLogger:
    """flexcoder's MetricLogger: every call goes to the MLflow child run; calls that carry the cell's metric also go
    to Tune, so schedulers (ASHA) see one result per evaluated epoch and nothing without the metric."""

    def __init__(self, run: TrialRun, metric: str):
        self.run = run
        self.metric = metric
        self.last_step = 0

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        self.run.log_metrics(metrics, step)
        self.last_step = max(self.last_step, step)
        if self.metric in metrics:
            tune.report({**metrics, "epoch": step})


def grid_trial(config: dict[str, Any], *, tracking: TrackingSpec, textgen: Mapping[str, Any] | None = None) -> None:
    """The Tune trainable. `textgen` maps actor names to clients of the grid's shared text generators. Reports the
    final metrics once more at the end, so every trial's last result carries them (and the search metric) even
    when the method has no epochs."""
    import torch  # here: the driver imports this module for the function and never needs torch itself

    # As many torch threads as CPUs Ray gave this trial: concurrent trials each using every core oversubscribe it.
    torch.set_num_threads(max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1))))
    flat = dict(config)
    cell_id, parent_run_id, metric, _study, rerun_of = (flat.pop(k) for k in GRID_KEYS)
    cfg = TrialConfig.from_flat(flat)
    context = tune.get_context()
    own = cfg.own_flat()
    tags = {**identity_tags(own), "grid.cell": cell_id}
    run = TrialRun(tracking, parent_run_id, context.get_trial_id(), context.get_trial_name(), own, tags, rerun_of)
    if run.finished_metrics is not None:  # finished in an earlier attempt: report it again, redo nothing
        tune.report({**run.finished_metrics, "mlflow_run_id": run.run_id})
        return
    # Where this attempt ran: on a cluster, the first thing to check when one node's trials fail or crawl.
    run.set_tags({"grid.node": ray.get_runtime_context().get_node_id(), "grid.host": socket.gethostname()})
    logger = TuneMlflowLogger(run, metric)
    try:
        name = actor_name(cfg.coder.textgen)
        client = (textgen or {}).get(name) if cfg.method == "coder" else None
        if client is not None:
            run.set_tags({"grid.textgen_actor": name, "grid.textgen_pid": str(client.info()["pid"])})
        metrics = run_trial(cfg, TrialContext(logger=logger, textgen=client))
    except SystemExit:  # how tune.report ends a trial that Tune stops (its cell's ASHA): not a failure
        run.finish("KILLED")
        raise
    except BaseException:
        run.finish("FAILED")
        raise
    # At the last epoch's step, so MLflow's "latest value" of a per-epoch metric is the final one.
    run.log_metrics(metrics, step=logger.last_step)
    run.finish("FINISHED")
    tune.report({**metrics, "mlflow_run_id": run.run_id})
