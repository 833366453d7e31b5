"""What the Ray cluster can run: each study's trial request checked against the node types it has or could add.

A trial's request (`resources: {cpu, gpu}`) is one placement-group bundle, so it must fit on one node. A request
that no node type fits can never run and is refused before anything is written. One that only a node type of an
autoscaler fits is fine: Tune's pending trials make the autoscaler start such a node, so a cluster that starts with
no GPU worker (`min_workers: 0`) is not refused. Node types come from, in order:
1. the autoscaler's cluster config in the GCS (reported by autoscalers that report one, e.g. KubeRay's);
2. the cluster launcher's config on the head node, `~/ray_bootstrap_config.yaml` (where `ray job submit` runs the
   driver; Tune reads the same file to tell an autoscaling cluster);
3. the nodes alive now (a fixed cluster, or a local one).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
import yaml

from grid.space import Space

BOOTSTRAP_CONFIG = "~/ray_bootstrap_config.yaml"


@dataclass(frozen=True)
class NodeType:
    name: str
    resources: Mapping[str, float] = field(default_factory=dict)  # empty: not declared (the provider fills it in)
    max_count: int = 1  # -1: unlimited
    alive: int = 0  # nodes of this type alive now

    def fits(self, request: Mapping[str, float]) -> bool:
        if not self.resources:
            return True  # undeclared: only the cloud provider knows; let the autoscaler decide
        return all(self.resources.get(k, 0.0) >= v for k, v in request.items() if v > 0)

    def describe(self) -> str:
        shown = ", ".join(f"{k}: {v:g}" for k, v in sorted(self.resources.items()) if k in ("CPU", "GPU")) or "?"
        count = "unlimited" if self.max_count < 0 else f"up to {self.max_count}"
        return f"{self.name} ({{{shown}}}, {self.alive} alive, {count})"


def trial_request(cpu: float, gpu: float) -> dict[str, float]:
    return {"CPU": cpu, "GPU": gpu}


def alive_nodes() -> list[NodeType]:
    """Every node alive now, each its own type of one."""
    out = []
    for node in ray.nodes():
        if node.get("Alive"):
            res = {k: float(v) for k, v in node.get("Resources", {}).items() if k in ("CPU", "GPU")}
            out.append(NodeType(f"node {node.get('NodeManagerAddress', '?')}", res, max_count=1, alive=1))
    return out


def autoscaler_node_types() -> tuple[list[NodeType], str]:
    """The node types an autoscaler could start, and where they were read; ([], "") for a fixed cluster."""
    types = _gcs_node_types()
    if types:
        return types, "the autoscaler's cluster config"
    path = Path(os.path.expanduser(BOOTSTRAP_CONFIG))
    if path.is_file():
        return launcher_node_types(yaml.safe_load(path.read_text()) or {}), str(path)
    return [], ""


def launcher_node_types(config: Mapping[str, Any]) -> list[NodeType]:
    """Node types of a cluster launcher config (`available_node_types`; the head type counts once)."""
    head = config.get("head_node_type")
    out = []
    for name, spec in (config.get("available_node_types") or {}).items():
        spec = spec or {}
        res = {k: float(v) for k, v in (spec.get("resources") or {}).items()}
        max_count = 1 if name == head else int(spec.get("max_workers", config.get("max_workers", 0)))
        if max_count != 0:
            out.append(NodeType(name, res, max_count=max_count))
    return out


def _gcs_node_types() -> list[NodeType]:
    try:
        from ray._private.state import state  # the reader Ray Data uses; no public API reads this config yet

        config = state.get_cluster_config()
    except Exception:  # an older GCS, a client connection: fall back to the launcher config
        return []
    if config is None:
        return []
    return [
        NodeType(g.name or f"group {i}", {k: float(v) for k, v in g.resources.items()}, max_count=g.max_count)
        for i, g in enumerate(config.node_group_configs)
        if g.max_count != 0
    ]


def check_resources(space: Space) -> tuple[list[str], list[str]]:
    """(notes, problems): a problem names the study whose trial no node type fits; a note says which studies wait
    for an autoscaler to add a node."""
    alive = alive_nodes()
    scalable, source = autoscaler_node_types()
    notes, problems = [], []
    for i, study in enumerate(space.studies):
        request = trial_request(study.resources.cpu, study.resources.gpu)
        if any(n.fits(request) for n in alive):
            continue
        fitting = [t for t in scalable if t.fits(request)]
        wanted = " and ".join(f"{v:g} {k}" for k, v in request.items() if v > 0)
        if fitting:
            notes.append(
                f"studies[{i}]: no node alive now fits a trial ({wanted}); waiting for the autoscaler to "
                f"start a {' or '.join(t.name for t in fitting)} node (node types from {source})"
            )
            continue
        have = "; ".join(n.describe() for n in alive + scalable)
        problems.append(
            f"studies[{i}].resources: a trial needs {wanted} on one node, and no node of the Ray "
            f"cluster has or could have that (nodes: {have})"
        )
    return notes, problems


def trial_slots(space: Space) -> int:
    """How many trials the nodes alive now fit at once, for the study whose trials are smallest (a bound for how
    many pending trials Tune keeps)."""
    best = 0
    for study in space.studies:
        slots = 0
        for node in alive_nodes():
            cpu = node.resources.get("CPU", 0.0) / study.resources.cpu
            gpu = node.resources.get("GPU", 0.0) / study.resources.gpu if study.resources.gpu else math.inf
            slots += int(min(cpu, gpu) + 1e-9)
        best = max(best, slots)
    return best
