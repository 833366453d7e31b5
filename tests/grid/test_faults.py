"""Faults with real processes: a trial's worker and the shared text-generation actor SIGKILLed mid-grid, a trial that
keeps raising, and a trial SIGKILLed with no retry left. Counted after each grid: what was lost and what was
duplicated (nothing), and which runs say FAILED (exactly the trials that failed for good).

The grids run in-process on the session's local Ray (tests/conftest.py), so the Ray worker processes are
descendants of this pytest process; a watcher thread finds them there through /proc and kills them.
"""

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from grid.local_cluster import live_processes
from grid.run import main

pytestmark = pytest.mark.integration

# Study 0 runs first (one trial at a time) while study 1, the CODER cell, waits for its texts.
KILL_SPACE = """\
name: faults
studies:
  - method: flexclip
    dataset: pascal_sentence
    shots: [1, 0]
    params: {flexclip.generator.epochs: 1, flexclip.projector.epochs: 12}
    max_failures: 2
  - method: coder
    dataset: pascal_sentence
    params: {coder.text_set: name+att}
"""
# device cuda:99 is a well-formed config that fails at run time on any machine (no 100th GPU): the trial raises,
# is retried max_failures times, and fails for good. Study 1's trial is SIGKILLed with no retry left.
FAIL_SPACE = """\
name: failing
studies:
  - method: flexclip
    dataset: pascal_sentence
    params: {flexclip.generator.epochs: 1, flexclip.projector.epochs: 1, device: [cpu, "cuda:99"]}
    max_failures: 1
  - method: flexclip
    dataset: pascal_sentence
    shots: 1
    params: {flexclip.generator.epochs: 1, flexclip.projector.epochs: 12}
    max_failures: 0
"""


class Killer(threading.Thread):
    """Waits until a FLEX-CLIP trial has logged two epochs to MLflow, then SIGKILLs the Ray worker running that trial
    (and first, with `textgen`, the text-generation actor). Records what it killed."""

    def __init__(self, uri: str, experiment: str, textgen: bool, timeout: float = 240):
        super().__init__(daemon=True)
        self.uri, self.experiment, self.textgen, self.timeout = uri, experiment, textgen, timeout
        self.killed: dict = {}
        self.error: str | None = None

    def run(self) -> None:
        try:
            self._run()
        except Exception as e:  # reported by the test, not lost in the thread
            self.error = repr(e)

    def _run(self) -> None:
        deadline = time.time() + self.timeout
        client = MlflowClient(self.uri)
        while time.time() < deadline:
            exp = client.get_experiment_by_name(self.experiment)
            running = []
            if exp is not None:
                running = [
                    r
                    for r in client.search_runs([exp.experiment_id], "attributes.status = 'RUNNING'")
                    if r.data.tags.get("grid.role") == "trial"
                ]
            target = next((r for r in running if _epochs_logged(client, r.info.run_id) >= 2), None)
            trials = _descendants_named("ray::ImplicitFunc")
            if target is not None and len(trials) == 1:
                self.killed = {
                    "run_id": target.info.run_id,
                    "cell": target.data.tags["grid.cell"],
                    "trial_pid": trials[0],
                }
                if self.textgen:
                    (self.killed["textgen_pid"],) = _descendants_named("ray::TextgenActor")
                    os.kill(self.killed["textgen_pid"], signal.SIGKILL)
                os.kill(trials[0], signal.SIGKILL)
                return
            time.sleep(0.2)
        raise TimeoutError("no FLEX-CLIP trial reached its second epoch")


@pytest.fixture(scope="module")
def killed_grid(ray_local, tmp_path_factory):
    code, killer, runs = _run_while_killing(tmp_path_factory.mktemp("faults"), KILL_SPACE, "faults", textgen=True)
    return code, killer.killed, runs


def _run_while_killing(tmp: Path, space: str, experiment: str, textgen: bool) -> tuple[int, Killer, list]:
    """Run the grid `space` (one trial at a time) while a Killer SIGKILLs its victims; (exit code, killer, runs)."""
    (tmp / "space.yaml").write_text(space)
    uri = f"sqlite:///{tmp}/mlflow.db"
    killer = Killer(uri, experiment, textgen=textgen)
    killer.start()
    code = main(
        ["--space", str(tmp / "space.yaml"), "--mlflow-uri", uri, "--storage", str(tmp / "rr"), "--max-concurrent", "1"]
    )
    killer.join(timeout=10)
    assert killer.error is None and killer.killed, killer.error
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id], max_results=1000)
    return code, killer, runs


def test_a_killed_trial_worker_is_retried_and_the_grid_finishes(killed_grid):
    code, killed, runs = killed_grid
    assert code == 0
    parents = [r for r in runs if r.data.tags.get("grid.role") == "cell"]
    children = [r for r in runs if r.data.tags.get("grid.role") == "trial"]
    lost = 3 - sum(r.info.status == "FINISHED" for r in children)
    duplicated = len(children) - len({r.data.tags["grid.cell"] for r in children})
    print(
        f"\nSIGKILLed trial worker {killed['trial_pid']} ({killed['cell']}) and text-generation actor "
        f"{killed['textgen_pid']}: {lost} trials lost, {duplicated} runs duplicated"
    )
    assert len(parents) == 3 and len(children) == 3 and lost == 0 and duplicated == 0
    assert all(r.info.status == "FINISHED" for r in parents)


def test_the_retried_trial_reuses_its_run_and_counts_the_attempt(killed_grid):
    _, killed, runs = killed_grid
    by_id = {r.info.run_id: r for r in runs}
    retried = by_id[killed["run_id"]]  # the run the killed attempt was writing to is the one that finished
    assert retried.info.status == "FINISHED" and retried.data.tags["grid.attempts"] == "2"
    assert {"test/map_avg", "val/map_avg"} <= set(retried.data.metrics)
    others = [r for r in runs if r.data.tags.get("grid.role") == "trial" and r.info.run_id != killed["run_id"]]
    assert [r.data.tags["grid.attempts"] for r in others] == ["1", "1"]


def test_a_killed_textgen_actor_is_recreated_for_the_next_coder_trial(killed_grid):
    _, killed, runs = killed_grid
    coder = [r for r in runs if r.data.tags.get("grid.role") == "trial" and r.data.tags["method"] == "coder"]
    assert len(coder) == 1 and coder[0].info.status == "FINISHED"
    assert 0.0 <= coder[0].data.metrics["test/top1"] <= 1.0
    served_by = int(coder[0].data.tags["grid.textgen_pid"])
    assert served_by != killed["textgen_pid"]  # a new actor process generated the texts


def test_failed_trials_are_retried_then_failed_while_the_rest_finishes(ray_local, tmp_path, capsys):
    """A trial that keeps raising, and a trial killed with no retry left: both FAILED (attempts counted), the cell
    beside them finishes, the grid exits 1, and no run is left RUNNING."""
    code, killer, runs = _run_while_killing(tmp_path, FAIL_SPACE, "failing", textgen=False)
    assert code == 1
    assert "2 trial(s) failed after retries" in capsys.readouterr().err
    assert len(runs) == 6  # one parent and one child per cell: retries added no run
    children = {r.data.tags["grid.cell"]: r for r in runs if r.data.tags.get("grid.role") == "trial"}
    parents = {r.data.tags["grid.cell"]: r for r in runs if r.data.tags.get("grid.role") == "cell"}
    raised = next(c for c in children if c.endswith("device=cuda:99"))
    fine = next(c for c in children if c.endswith("device=cpu"))
    killed = killer.killed["cell"]
    assert children[raised].info.status == "FAILED"
    assert children[raised].data.tags["grid.attempts"] == "2"  # the first attempt and max_failures=1 retry
    assert children[killed].info.status == "FAILED" and children[killed].data.tags["grid.attempts"] == "1"
    assert children[killed].data.tags["grid.error"] == "the trial's process died and no retry was left"
    assert children[killed].info.run_id == killer.killed["run_id"]
    for cell in (raised, killed):
        assert parents[cell].info.status == "FAILED" and parents[cell].data.metrics["grid/errors"] == 1
    assert children[fine].info.status == "FINISHED" and "test/map_avg" in children[fine].data.metrics
    assert parents[fine].info.status == "FINISHED"


def _epochs_logged(client: MlflowClient, run_id: str) -> int:
    """Distinct epochs with a validation metric (a trial logs its final metrics again at its last epoch's step)."""
    return len({m.step for m in client.get_metric_history(run_id, "val/map_avg")})


def _descendants_named(prefix: str) -> list[int]:
    """Live descendants of this process whose command line starts with `prefix` (Ray titles a worker process
    `ray::<ActorClass>`)."""
    procs = live_processes()
    parent_of = {pid: ppid for pid, (ppid, _sid, _cmd) in procs.items()}
    ours, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, ppid in parent_of.items() if ppid in frontier} - ours
        ours |= frontier
    return sorted(pid for pid in ours if procs[pid][2].startswith(prefix))
