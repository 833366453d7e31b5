"""Search-space files: YAML -> validated, typed `Space` -> the cells a grid runs.

A study names a method and its grid axes (dataset, backbone, shots, seed). Its `params` map dotted config keys
(`flexclip.loss.contrastive`) to a fixed value, a list (a grid axis) or a distribution (searched by Optuna, which
then needs a `search:` block). A cell is one point of the grid: method x dataset x backbone x shots x seed x the
grid-listed params. With a search each cell gets its own Optuna study over the distributions; without one each cell
is a single trial. Every error names the key path (`studies[0].params.flexclip.loss.kll`) before Ray starts.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from flexcoder import ConfigError, TrialConfig, list_methods, method_info
from flexcoder.config import leaf_paths
from flexcoder.data.knowledge import simulated_datasets
from flexcoder.data.registry import get_dataset, list_datasets
from flexcoder.features.backbone_names import BackboneError, parse_backbone
from grid.naming import SEPARATOR, cell_label


class SpaceError(ValueError):
    """The search-space file is invalid; the message starts with the file and the key path."""


DIST_KINDS = ("uniform", "loguniform", "choice", "randint")
SAFE_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"  # a space's name is a path part: no "/", no leading "." ("../x")
AXES = ("method", "dataset", "backbone", "shots", "seed")  # a study's own grid axes; params may add more


@dataclass(frozen=True)
class Distribution:
    """A searched parameter: uniform / loguniform over [low, high], randint over [low, high] inclusive, or choice."""

    kind: Literal["uniform", "loguniform", "choice", "randint"]
    args: tuple

    def sample_value(self) -> Any:
        """A representative value, used to type-check the parameter before anything runs."""
        return self.args[0]

    def to_dict(self) -> dict[str, list]:
        return {self.kind: list(self.args)}


@dataclass(frozen=True)
class Search:
    trials: int
    sampler: Literal["tpe", "random", "gp"] = "tpe"
    metric: str | None = None
    mode: Literal["max", "min"] = "max"
    max_concurrent: int | None = None
    seed: int = 0


@dataclass(frozen=True)
class Scheduler:
    type: Literal["fifo", "asha"] = "fifo"
    grace_period: int = 1
    reduction_factor: int = 3
    max_t: int = 1000


@dataclass(frozen=True)
class Resources:
    cpu: float = 1.0
    gpu: float = 0.0


@dataclass(frozen=True)
class Study:
    method: tuple[str, ...]
    dataset: tuple[str, ...]
    backbone: tuple[str, ...] = ("simulated",)
    shots: tuple[int, ...] = (0,)
    seed: tuple[int, ...] = (0,)
    fixed: Mapping[str, Any] = field(default_factory=dict)
    grid: Mapping[str, tuple] = field(default_factory=dict)
    searched: Mapping[str, Distribution] = field(default_factory=dict)
    search: Search | None = None
    scheduler: Scheduler = Scheduler()
    resources: Resources = Resources()
    max_failures: int = 1


@dataclass(frozen=True)
class Space:
    name: str
    studies: tuple[Study, ...]
    description: str = ""
    data_root: str | None = None
    source: str = ""

    def cells(self) -> list[Cell]:
        """Every cell of every study. Two studies can yield the same grid point (e.g. one fixes
        `flexclip.variant: raw_clip`, another searches loss weights on the same datasets and shots); their ids then
        get a `studyN/` prefix, so each cell keeps its own parent run."""
        cells = [cell for i, study in enumerate(self.studies) for cell in _expand(i, study, self.data_root)]
        studies_of: dict[str, set[int]] = {}
        for cell in cells:
            studies_of.setdefault(cell.id, set()).add(cell.study_index)
        cells = [dataclasses.replace(c, shared_id=True) if len(studies_of[c.id]) > 1 else c for c in cells]
        # Run names (grid.naming); two studies that differ only in fixed params give the same one: prefix the study.
        labels = [cell_label(c.constants, c.grid_values, searched=c.study.search is not None) for c in cells]
        seen: dict[str, set[int]] = {}
        for cell, label in zip(cells, labels):
            seen.setdefault(label, set()).add(cell.study_index)
        return [
            dataclasses.replace(c, label=f"study{c.study_index}{SEPARATOR}{label}" if len(seen[label]) > 1 else label)
            for c, label in zip(cells, labels)
        ]

    def num_trials(self) -> int:
        return sum(c.num_trials for c in self.cells())

    @property
    def simulated(self) -> bool:
        return all(b == "simulated" for s in self.studies for b in s.backbone)


@dataclass(frozen=True)
class Cell:
    """One grid point. `constants` is the flat trial config shared by all its trials (dotted keys)."""

    study_index: int
    study: Study
    constants: Mapping[str, Any]
    grid_values: Mapping[str, Any]
    shared_id: bool = False  # another study has a cell with the same grid point (see Space.cells)
    label: str = ""  # its MLflow run name (grid.naming), set by Space.cells

    @property
    def method(self) -> str:
        return self.constants["method"]

    @property
    def id(self) -> str:
        """Human-readable and stable: "flexclip/wikipedia/simulated/shots=5/seed=0/flexclip.variant=full"."""
        c = self.constants
        parts = [c["method"], c["dataset"], c["backbone"], f"shots={c['shots']}", f"seed={c['seed']}"]
        parts += [f"{k}={v}" for k, v in sorted(self.grid_values.items())]
        if self.shared_id:
            parts.insert(0, f"study{self.study_index}")
        return "/".join(str(p) for p in parts)

    @property
    def point(self) -> dict[str, Any]:
        """What makes this cell one point of its study's grid: the axes and its grid-listed params."""
        return {**{k: self.constants[k] for k in AXES}, **self.grid_values}

    @property
    def setting(self) -> tuple:
        """The cell's constants without its seed: cells that share it differ only in randomness, never in what
        a check of their values or their features would find."""
        return tuple((k, repr(v)) for k, v in self.constants.items() if k != "seed")

    @property
    def num_trials(self) -> int:
        return self.study.search.trials if self.study.search else 1

    @property
    def metric(self) -> str:
        return (self.study.search and self.study.search.metric) or method_info(self.method).metric

    @property
    def mode(self) -> str:
        return self.study.search.mode if self.study.search else "max"


def load_space(path: str | Path, data_root: str | None = None) -> Space:
    """Read and validate a search-space file; `data_root` (from the CLI) overrides the file's."""
    path = Path(path)
    if not path.is_file():
        raise SpaceError(f"{path}: no such file")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise SpaceError(f"{path}: not valid YAML: {e}") from e
    try:
        space = parse_space(raw, source=str(path))
    except SpaceError as e:
        raise SpaceError(f"{path}: {e}") from None
    if data_root is not None:
        space = Space(space.name, space.studies, space.description, data_root, space.source)
    return space


def parse_space(raw: Any, source: str = "") -> Space:
    if not isinstance(raw, Mapping):
        raise SpaceError("the file must be a mapping with keys name and studies")
    _check_keys(raw, {"name", "description", "data_root", "studies"}, "", required={"name", "studies"})
    name = raw["name"]
    if not isinstance(name, str) or not re.fullmatch(SAFE_NAME, name):
        raise SpaceError(
            f"name: {name!r} is not a safe name: letters, digits and . _ -, starting with a letter or "
            "digit (it becomes the MLflow experiment name and a folder under --storage and reports/)"
        )
    studies = raw["studies"]
    if not isinstance(studies, list) or not studies:
        raise SpaceError("studies: must be a non-empty list")
    data_root = raw.get("data_root")
    if data_root is not None and not isinstance(data_root, str):
        raise SpaceError("data_root: must be a path string or null")
    space = Space(
        name=name,
        description=str(raw.get("description", "")),
        data_root=data_root,
        studies=tuple(_parse_study(s, f"studies[{i}]") for i, s in enumerate(studies)),
        source=source,
    )
    checked = set()
    for cell in space.cells():  # type-check every value a trial could receive (seeds are checked ints already)
        if (cell.study_index, cell.setting) not in checked:
            checked.add((cell.study_index, cell.setting))
            _check_cell(cell)
    return space


_STUDY_KEYS = {
    "method",
    "dataset",
    "backbone",
    "shots",
    "seed",
    "params",
    "search",
    "scheduler",
    "resources",
    "max_failures",
}


def _parse_study(raw: Any, path: str) -> Study:
    if not isinstance(raw, Mapping):
        raise SpaceError(f"{path}: must be a mapping")
    _check_keys(raw, _STUDY_KEYS, path, required={"method", "dataset"})
    methods = _axis(raw, "method", str, path)
    for m in methods:
        if m not in list_methods():
            raise SpaceError(f"{path}.method: unknown method {m!r}; known: {', '.join(list_methods())}")
    datasets = _axis(raw, "dataset", str, path)
    for d in datasets:
        if d not in list_datasets():
            raise SpaceError(f"{path}.dataset: unknown dataset {d!r}; known: {', '.join(list_datasets())}")
        for m in methods:
            task = method_info(m).task
            if task not in get_dataset(d).tasks:
                raise SpaceError(
                    f"{path}.dataset: {d!r} has no {task} split, which method {m!r} needs; "
                    f"{task} datasets: {', '.join(list_datasets(task))}"
                )
    backbones = _axis(raw, "backbone", str, path, default="simulated")
    if "simulated" in backbones:
        embedded = simulated_datasets()
        for d in datasets:
            if d not in embedded:
                raise SpaceError(
                    f"{path}.dataset: the embedded world (backbone: simulated) does not model {d!r}; "
                    f"it has {', '.join(embedded)}. Use a real backbone and data_root for {d!r}"
                )
    for b in backbones:
        if b != "simulated":
            try:
                parse_backbone(b)  # the string's form only; whether the weights exist is the driver's preflight
            except BackboneError as e:
                raise SpaceError(f"{path}.backbone: {e}") from None
    shots = _axis(raw, "shots", int, path, default=0)
    if any(s < 0 for s in shots):
        raise SpaceError(f"{path}.shots: must be >= 0")
    seeds = _axis(raw, "seed", int, path, default=0)

    fixed, grid, searched = {}, {}, {}
    params = raw.get("params") or {}
    if not isinstance(params, Mapping):
        raise SpaceError(f"{path}.params: must be a mapping of dotted keys to values, lists or distributions")
    allowed = _param_keys(methods)
    for key, value in params.items():
        kpath = f"{path}.params.{key}"
        if key not in allowed:
            close = sorted(k for k in allowed if k.split(".")[-1] == str(key).split(".")[-1]) or sorted(allowed)
            raise SpaceError(f"{kpath}: unknown parameter; allowed: {', '.join(close[:12])}")
        if isinstance(value, list):
            if not value:
                raise SpaceError(f"{kpath}: empty grid list")
            grid[key] = tuple(value)
        elif isinstance(value, Mapping):
            searched[key] = _parse_distribution(value, kpath)
        else:
            fixed[key] = value

    search = None
    if "search" in raw:
        search = _build(Search, raw["search"], f"{path}.search")
        if search.trials < 1:
            raise SpaceError(f"{path}.search.trials: must be >= 1")
        for m in methods:
            info = method_info(m)
            if search.metric is not None and search.metric not in info.metrics:
                raise SpaceError(
                    f"{path}.search.metric: {search.metric!r} is not reported by {m!r}; it reports "
                    f"{', '.join(info.metrics)}"
                )
    if searched and search is None:
        raise SpaceError(
            f"{path}.search: params {', '.join(searched)} are distributions, so a search block "
            "with `trials:` is required"
        )
    if search is not None and not searched:
        raise SpaceError(f"{path}.search: nothing to search (no param is a distribution); remove it or add one")
    scheduler = _build(Scheduler, raw.get("scheduler", {}), f"{path}.scheduler")
    if scheduler.type == "asha":
        for m in methods:
            if not method_info(m).epochs:
                raise SpaceError(f"{path}.scheduler.type: asha needs per-epoch metrics, which {m!r} does not report")
        if search is None:
            raise SpaceError(f"{path}.scheduler.type: asha stops trials of one cell early, so it needs a search")
    resources = _build(Resources, raw.get("resources", {}), f"{path}.resources")
    if resources.cpu <= 0 or resources.gpu < 0:
        raise SpaceError(f"{path}.resources: cpu must be > 0 and gpu >= 0")
    max_failures = raw.get("max_failures", 1)
    if not isinstance(max_failures, int) or isinstance(max_failures, bool) or max_failures < 0:
        raise SpaceError(f"{path}.max_failures: must be an integer >= 0")
    return Study(
        method=methods,
        dataset=datasets,
        backbone=backbones,
        shots=shots,
        seed=seeds,
        fixed=fixed,
        grid=grid,
        searched=searched,
        search=search,
        scheduler=scheduler,
        resources=resources,
        max_failures=max_failures,
    )


# Trial-level settings a study's `params` may set besides its methods' sections (not grid axes of their own).
TRIAL_PARAMS = ("device", "precision", "feature_cache")
SHARED_SECTIONS = ("noise",)  # config sections every method's protocol reads


def applies_to(key: str, method: str) -> bool:
    """Whether param `key` configures a trial of `method`: its own section, a shared section or a trial-level
    setting."""
    return key in TRIAL_PARAMS or key.startswith(method + ".") or key.split(".")[0] in SHARED_SECTIONS


def _param_keys(methods: tuple[str, ...]) -> set[str]:
    """Dotted keys a study may set: the sections of its methods and the shared ones, plus the trial-level settings."""
    paths = leaf_paths(TrialConfig)
    return {k for k in paths if k in TRIAL_PARAMS or k.split(".")[0] in (*methods, *SHARED_SECTIONS)}


def _axis(raw: Mapping, key: str, tp: type, path: str, default: Any = None) -> tuple:
    value = raw.get(key, default)
    values = value if isinstance(value, list) else [value]
    if not values:
        raise SpaceError(f"{path}.{key}: empty grid list")
    for v in values:
        if not isinstance(v, tp) or isinstance(v, bool):
            raise SpaceError(f"{path}.{key}: expected {tp.__name__} or a list of them, got {v!r}")
    if len(set(values)) != len(values):
        raise SpaceError(f"{path}.{key}: duplicate values in {values}")
    return tuple(values)


def _parse_distribution(raw: Mapping, path: str) -> Distribution:
    if len(raw) != 1 or next(iter(raw)) not in DIST_KINDS:
        raise SpaceError(f"{path}: a distribution is one of {{{': [..], '.join(DIST_KINDS)}: [..]}}, got {dict(raw)}")
    kind, args = next(iter(raw.items()))
    if not isinstance(args, list) or not args:
        raise SpaceError(f"{path}.{kind}: expected a list")
    if kind == "choice":
        return Distribution(kind, tuple(args))
    if len(args) != 2 or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
        raise SpaceError(f"{path}.{kind}: expected [low, high] numbers, got {args}")
    low, high = args
    if not low < high:
        raise SpaceError(f"{path}.{kind}: low must be < high, got {args}")
    if kind == "loguniform" and low <= 0:
        raise SpaceError(f"{path}.{kind}: low must be > 0 for a log scale")
    if kind == "randint" and not all(isinstance(a, int) for a in args):
        raise SpaceError(f"{path}.{kind}: bounds must be integers")
    return Distribution(kind, (low, high))


def _build(cls: type, raw: Any, path: str) -> Any:
    from flexcoder.config import build

    try:
        return build(cls, raw if raw is not None else {}, path)
    except ConfigError as e:
        raise SpaceError(str(e)) from None


def _check_keys(raw: Mapping, allowed: set[str], path: str, required: set[str] = frozenset()) -> None:
    prefix = f"{path}." if path else ""
    for key in raw:
        if key not in allowed:
            raise SpaceError(f"{prefix}{key}: unknown key; allowed: {', '.join(sorted(allowed))}")
    for key in sorted(required):
        if key not in raw:
            raise SpaceError(f"{prefix}{key}: missing required key")


def _expand(index: int, study: Study, data_root: str | None) -> list[Cell]:
    grid_keys = sorted(study.grid)
    cells = []
    for method, dataset, backbone, shots, seed, *grid_vals in itertools.product(
        study.method, study.dataset, study.backbone, study.shots, study.seed, *(study.grid[k] for k in grid_keys)
    ):
        point = {
            "method": method,
            "dataset": dataset,
            "backbone": backbone,
            "shots": shots,
            "seed": seed,
            **{k: v for k, v in zip(grid_keys, grid_vals) if applies_to(k, method)},
        }
        cells.append(
            Cell(
                index,
                study,
                cell_constants(study, point, data_root),
                {k: v for k, v in point.items() if k in study.grid},
            )
        )
    # A param of another method in a multi-method study yields duplicate cells for this method; keep one.
    unique = {c.id: c for c in cells}
    return list(unique.values())


def cell_constants(study: Study, point: Mapping[str, Any], data_root: str | None) -> dict[str, Any]:
    """A cell's flat trial config from its grid point (the axes and the grid-listed params of its method): the
    study's fixed params of that method and the data root join it. Trials rebuild their constants with it too, so
    Tune only ever holds the point."""
    method = point["method"]
    return {
        **{k: point[k] for k in AXES},
        "data_root": data_root,
        **{k: v for k, v in study.fixed.items() if applies_to(k, method)},
        **{k: v for k, v in point.items() if k not in AXES},
    }


def _check_cell(cell: Cell) -> None:
    """Type-check the values a trial of the cell can receive: its constants with every searched parameter at a
    representative value, and then each value of every `choice` (a choice may mix types: `[1.0, "x"]`)."""
    base = dict(cell.constants)
    searched = {k: d for k, d in cell.study.searched.items() if applies_to(k, cell.method)}
    probes = [{**base, **{k: d.sample_value() for k, d in searched.items()}}]
    for key, dist in searched.items():
        if dist.kind == "choice":
            probes += [{**probes[0], key: value} for value in dist.args[1:]]
    for probe in probes:
        try:
            TrialConfig.from_flat(probe)
        except ConfigError as e:
            raise SpaceError(f"studies[{cell.study_index}].params: {e}") from None


def resolved(space: Space) -> dict[str, Any]:
    """The space as plain data, for logging next to results."""

    def study_dict(s: Study) -> dict[str, Any]:
        out: dict[str, Any] = {k: list(getattr(s, k)) for k in ("method", "dataset", "backbone", "shots", "seed")}
        out["params"] = {
            **s.fixed,
            **{k: list(v) for k, v in s.grid.items()},
            **{k: d.to_dict() for k, d in s.searched.items()},
        }
        if s.search:
            out["search"] = vars(s.search)
        out["scheduler"] = vars(s.scheduler)
        out["resources"] = vars(s.resources)
        out["max_failures"] = s.max_failures
        return out

    return json.loads(
        json.dumps(
            {
                "name": space.name,
                "description": space.description,
                "data_root": space.data_root,
                "studies": [study_dict(s) for s in space.studies],
            }
        )
    )
