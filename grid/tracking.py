"""MLflow tracking: one experiment per space, one parent run per cell, one child run per trial.

The driver creates the experiment, and each parent run as its cell's first trial starts (only the driver creates
parents, so two trials never race to create one); trials open their child run with the tag `mlflow.parentRunId`,
which is how the MLflow UI nests runs. A child run is keyed by the Tune trial id, so a retried or resumed trial
reuses its run instead of adding a duplicate.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from grid.mlflow_pages import all_pages
from grid.naming import identity_tags
from grid.space import Cell, Space, resolved

MLFLOW_BATCH = 100  # MlflowClient.log_batch accepts at most 100 params and 1000 metrics per call
# MLflow's record of what an experiment holds (model training, not GenAI traces). MLflow 3.17's UI picks its view
# from a global switch instead, hence `ui_link` (docs/decisions.md).
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
DESCRIPTION_TAG = "mlflow.note.content"  # the experiment's description in the UI


def default_tracking_uri(cwd: str | Path | None = None) -> str:
    """`sqlite:///<absolute path>/mlflow.db`: absolute because Tune may run trials in other directories, and not
    ./mlruns because MLflow >= 3.13 refuses the file store unless MLFLOW_ALLOW_FILE_STORE is set."""
    return f"sqlite:///{Path(cwd or os.getcwd()).resolve() / 'mlflow.db'}"


def normalise_uri(uri: str) -> str:
    """Make a relative sqlite URI absolute; leave others alone."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return f"sqlite:///{Path(uri[len('sqlite:///') :]).resolve()}"
    return uri


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """A tracking server that is down is an error now, before any trial starts."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as r:
            r.read()
    except (urllib.error.URLError, OSError) as e:
        raise ConnectionError(
            f"MLflow tracking server {uri} is not reachable ({e}); start it or pass "
            "--mlflow-uri sqlite:///<path>/mlflow.db"
        ) from None


def git_commit() -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if sha.returncode != 0:
        return "unknown"
    return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


@dataclass(frozen=True)
class TrackingSpec:
    """What a trial needs to reach MLflow (picklable: it travels to Ray workers)."""

    uri: str
    experiment_id: str
    code_version: str | None = None  # the clean commit trials key reuse on; None: a dirty tree, no reuse


class GridTracking:
    """Driver side: the experiment and the parent runs. Picklable (Tune pickles the searcher that holds it along with
    the Tuner): the client is rebuilt on first use after unpickling."""

    def __init__(self, uri: str, space: Space):
        self.uri = normalise_uri(uri)
        check_reachable(self.uri)
        self._client: MlflowClient | None = None
        self.space = space
        exp = self.client.get_experiment_by_name(space.name)
        if exp is None:
            artifact_location = None
            if self.uri.startswith("sqlite:///"):
                # Next to the database, absolute: MLflow's default is relative to the working directory.
                db = Path(self.uri[len("sqlite:///") :])
                artifact_location = (db.parent / "mlartifacts" / space.name).as_uri()
            self.experiment_id = self.client.create_experiment(space.name, artifact_location=artifact_location)
        else:
            self.experiment_id = exp.experiment_id
        # Set on every run, not only at creation: the space's description may have changed since.
        self.client.set_experiment_tag(self.experiment_id, *EXPERIMENT_KIND)
        if space.description:
            self.client.set_experiment_tag(self.experiment_id, DESCRIPTION_TAG, space.description)
        self.commit = git_commit()

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            self._client = MlflowClient(self.uri)
        return self._client

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_client": None}

    @property
    def spec(self) -> TrackingSpec:
        from grid.reuse import code_version

        return TrackingSpec(self.uri, self.experiment_id, code_version(self.commit))

    def ui_link(self, server: str = "http://127.0.0.1:5000") -> str:
        """The experiment's runs table in the MLflow UI. MLflow 3.17's UI picks its view from a global switch
        (GenAI by default, remembered by the browser), not from the experiment's kind tag: the link asks for the
        model-training view."""
        base = self.uri if self.uri.startswith(("http://", "https://")) else server
        return f"{base.rstrip('/')}/#/experiments/{self.experiment_id}/runs?workflowType=machine_learning"

    def parents_by_cell(self) -> dict[str, Any]:
        """{cell id: its most recent parent run} for the whole experiment, in one paginated query."""
        latest: dict[str, Any] = {}
        for run in search_all_runs(
            self.client, self.experiment_id, "tags.`grid.role` = 'cell'", order_by=["attributes.start_time DESC"]
        ):
            latest.setdefault(run.data.tags["grid.cell"], run)
        return latest

    def trials_by_parent(self) -> dict[str, list]:
        """{parent run id: its trial runs, oldest first}, in one paginated query."""
        out: dict[str, list] = {}
        query = "tags.`grid.role` = 'trial'"
        for run in search_all_runs(self.client, self.experiment_id, query, order_by=["attributes.start_time ASC"]):
            out.setdefault(run.data.tags.get(MLFLOW_PARENT_RUN_ID, ""), []).append(run)
        return out

    def get_run(self, run_id: str) -> Any:
        return self.client.get_run(run_id)

    def log_search_history(self, parent_run_id: str, history: list[dict[str, Any]]) -> None:
        """A searched cell's Optuna trials in the order they ended (params, state, value), as
        `optuna_trials.json` on its parent run."""
        self.client.log_dict(parent_run_id, {"trials": history}, "optuna_trials.json")

    def log_importances(
        self, parent_run_id: str, metrics: Mapping[str, float], slice_plot: Any | None, artifact_file: str
    ) -> None:
        """A searched cell's parameter importances (`importance/<param>` metrics) and its slice plot (a matplotlib
        figure, as `artifact_file`) on its parent run (grid/importance.py)."""
        if metrics:
            self.client.log_batch(parent_run_id, metrics=[Metric(k, v, _now_ms(), 0) for k, v in metrics.items()])
        if slice_plot is not None:
            self.client.log_figure(parent_run_id, slice_plot, artifact_file, save_kwargs={"dpi": 110})

    def open_parent(self, cell: Cell) -> str:
        tags = {
            **identity_tags(cell.constants),
            "git_commit": self.commit,
            "grid.cell": cell.id,
            "grid.role": "cell",
            "grid.space": self.space.name,
            "grid.metric": cell.metric,
            **{f"grid.{k}": str(v) for k, v in cell.grid_values.items()},
        }
        run = self.client.create_run(self.experiment_id, run_name=cell.label or cell.id, tags=tags)
        rid = run.info.run_id
        params = [Param(k, _param_value(v)) for k, v in cell.constants.items()]
        params += [Param(f"search.{k}", json.dumps(d.to_dict())) for k, d in cell.study.searched.items()]
        _log_params(self.client, rid, params)
        self.client.log_dict(rid, resolved(self.space), "space.json")
        return rid

    def reopen_parent(self, run_id: str) -> None:
        self.client.update_run(run_id, status="RUNNING")

    def mark_stopped_early(self, parent_run_id: str, trial_id: str, by: str) -> None:
        """A trial a scheduler stopped is not a failure: status KILLED, tag grid.stopped_by."""
        for run in find_child_runs(self.client, self.experiment_id, parent_run_id, trial_id):
            self.client.set_tag(run.info.run_id, "grid.stopped_by", by)
            self.client.set_terminated(run.info.run_id, "KILLED")

    def close_parent(
        self, run_id: str, best: Any | None, errors: int, trials: int, searched: Sequence[str] = ()
    ) -> None:
        """Ends a cell's parent run with its best trial (an MLflow run, or None when no trial finished): that trial's
        final metrics, a link to it, and for a searched cell the values it ran with (as params under their own keys,
        next to the `search.*` ranges)."""
        metrics = [Metric(k, v, _now_ms(), 0) for k, v in (best.data.metrics if best else {}).items() if "/" in k]
        metrics += [Metric("grid/trials", trials, _now_ms(), 0), Metric("grid/errors", errors, _now_ms(), 0)]
        tags = []
        if best is not None:
            link = f"[{best.info.run_name}](#/experiments/{self.experiment_id}/runs/{best.info.run_id})"
            tags = [RunTag("best_run_id", best.info.run_id), RunTag("mlflow.note.content", f"Best trial: {link}")]
        self.client.log_batch(run_id, metrics=metrics, tags=tags)
        if best is not None and searched:
            logged = self.client.get_run(run_id).data.params  # a resumed cell may have logged them before it died
            values = [Param(k, best.data.params[k]) for k in searched if k in best.data.params and k not in logged]
            _log_params(self.client, run_id, values)
        # The cell's last trial has ended, so a child still RUNNING is an attempt whose process died (killed,
        # crashed) with no retry left: it could not close its own run.
        dead = f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{run_id}' and attributes.status = 'RUNNING'"
        for child in self.client.search_runs([self.experiment_id], filter_string=dead):
            self.client.set_tag(child.info.run_id, "grid.error", "the trial's process died and no retry was left")
            self.client.set_terminated(child.info.run_id, "FAILED")
        status = "FINISHED" if best is not None else "FAILED"
        self.client.set_terminated(run_id, status)


class TrialRun:
    """Trial side: the child run of one Tune trial. Reuses the run of an earlier attempt of the same trial: a retry
    (same Tune trial id) or, after `--resume`, the run `rerun_of` of a trial the earlier driver did not see end."""

    def __init__(
        self,
        spec: TrackingSpec,
        parent_run_id: str,
        trial_id: str,
        trial_name: str,
        flat_config: Mapping[str, Any],
        tags: Mapping[str, str],
        rerun_of: str | None = None,
    ):
        self.client = MlflowClient(spec.uri)
        existing = find_child_runs(self.client, spec.experiment_id, parent_run_id, trial_id)
        if not existing and rerun_of is not None:
            existing = [self.client.get_run(rerun_of)]
            self.client.set_tag(rerun_of, "grid.trial_id", trial_id)  # this session's retries find it by trial id
        self.finished_metrics: dict[str, float] | None = None
        if existing and existing[0].info.status == "FINISHED":
            # Its run finished but Tune never heard (the process died in between): report it, redo nothing.
            self.run_id = existing[0].info.run_id
            self.finished_metrics = dict(existing[0].data.metrics)
            return
        if existing:
            self.run_id = existing[0].info.run_id
            self.client.update_run(self.run_id, status="RUNNING")
            self.client.set_tag(
                self.run_id, "grid.attempts", str(int(existing[0].data.tags.get("grid.attempts", "1")) + 1)
            )
            return
        all_tags = {
            MLFLOW_PARENT_RUN_ID: parent_run_id,
            "grid.trial_id": trial_id,
            "grid.role": "trial",
            "grid.attempts": "1",
            **tags,
        }
        self.run_id = self.client.create_run(spec.experiment_id, run_name=trial_name, tags=all_tags).info.run_id
        _log_params(self.client, self.run_id, [Param(k, _param_value(v)) for k, v in flat_config.items()])
        self.client.log_dict(self.run_id, dict(flat_config), "trial_config.json")

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        ts = _now_ms()
        batch = [Metric(k, float(v), ts, step) for k, v in metrics.items() if _is_number(v)]
        for i in range(0, len(batch), 1000):
            self.client.log_batch(self.run_id, metrics=batch[i : i + 1000])

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self.client.log_batch(self.run_id, tags=[RunTag(k, v) for k, v in tags.items()])

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status)


def search_all_runs(
    client: MlflowClient, experiment_id: str, filter_string: str, order_by: list[str] | None = None
) -> list:
    """Every run matching `filter_string`, all pages."""
    return all_pages(client.search_runs, experiment_ids=[experiment_id], filter_string=filter_string, order_by=order_by)


def find_child_runs(client: MlflowClient, experiment_id: str, parent_run_id: str, trial_id: str) -> list:
    """The child run(s) of one Tune trial under one parent (at most one, since trials reuse their run)."""
    return client.search_runs(
        [experiment_id],
        filter_string=f"tags.`grid.trial_id` = '{trial_id}' and tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent_run_id}'",
    )


def _log_params(client: MlflowClient, run_id: str, params: list[Param]) -> None:
    for i in range(0, len(params), MLFLOW_BATCH):
        client.log_batch(run_id, params=params[i : i + MLFLOW_BATCH])


def _param_value(v: Any) -> str:
    return "null" if v is None else str(v)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _now_ms() -> int:
    return int(time.time() * 1000)
