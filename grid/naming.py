"""What a run is called and tagged in MLflow, so runs can be told apart in the UI's table and chart legends.

A cell's label puts what varies first and drops what every cell shares: "flexclip full · wikipedia · 5 shots ·
seed 0"; a searched cell says so ("flexclip full (searched) · ..."), and its trials lead with their index and
searched values ("#3 consistency=0.53 contrastive=2.1 · flexclip full (searched) · ..."). The full cell id stays in
the tag `grid.cell` (ours: cell ids were cut off in the runs table before the part that differed).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from flexcoder import TrialConfig

SEPARATOR = " · "


@functools.cache
def _defaults(method: str) -> dict[str, Any]:
    return TrialConfig(method=method, dataset="").own_flat()


def setting(flat: Mapping[str, Any], key: str) -> Any:
    """A key of a flat trial config, or its method's default when the config leaves it out."""
    return flat[key] if key in flat else _defaults(flat["method"]).get(key)


def variant_of(flat: Mapping[str, Any]) -> str:
    """The method's variant (FLEX-CLIP's ablations and raw CLIP; CODER, Tip-Adapter or the CLIP prompt ensemble)."""
    variant = setting(flat, f"{flat['method']}.variant")
    return flat["method"] if variant is None else str(variant)


def llm_label(backend: Any, model: Any) -> str:
    """Which text generator wrote a CODER run's texts: "template", "file", or the LLM's name (a model folder's
    name, a hub id's last part): "SmolLM2-135M-Instruct", "Qwen2.5-7B-Instruct"."""
    if backend in ("vllm", "openai") and model:
        return str(model).rstrip("/").rsplit("/", 1)[-1]
    return str(backend)


def identity_tags(flat: Mapping[str, Any]) -> dict[str, str]:
    """The tags that say what a run is: the same on a cell's parent run and on its trials, baselines and searched
    cells included, so the UI can filter and group by any of them."""
    tags = {k: str(flat[k]) for k in ("method", "dataset", "backbone", "shots", "seed")}
    tags["variant"] = variant_of(flat)
    tags["data"] = "simulated" if flat["backbone"] == "simulated" else "real"
    if flat["method"] == "coder" and tags["variant"] == "coder":
        tags["text_set"] = str(setting(flat, "coder.text_set"))
        tags["llm"] = llm_label(setting(flat, "coder.textgen.backend"), setting(flat, "coder.textgen.model"))
    return tags


def settings_label(settings: Mapping[str, Any]) -> str:
    """ "rerank_threshold=0.6, ...": the per-dataset values a trial took from its dataset's registration."""
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(settings.items()))


def cell_label(flat: Mapping[str, Any], grid_values: Mapping[str, Any], searched: bool = False) -> str:
    """A cell's run name, from its constants and its grid-listed params (those beyond the axes)."""
    method, variant = flat["method"], variant_of(flat)
    head = [method] if variant == method else [method, variant]
    head += [
        f"{_leaf(k)}={llm_label('vllm', v) if k == 'coder.textgen.model' else _short(v)}"
        for k, v in sorted(grid_values.items())
        if not k.endswith(".variant")
    ]
    if searched:
        head.append("(searched)")
    parts = [" ".join(head), str(flat["dataset"])]
    if flat["backbone"] != "simulated":
        parts.append(str(flat["backbone"]))
    shots = flat["shots"]
    parts += [f"{shots} shot{'' if shots == 1 else 's'}", f"seed {flat['seed']}"]
    return SEPARATOR.join(parts)


def trial_label(cell: str, index: int | None, searched: Mapping[str, Any]) -> str:
    """A trial's run name: its cell's label, led for a searched cell by the trial's index (from 1) and values, the
    part a chart legend or the runs table shows first and that tells a cell's trials apart."""
    if index is None:
        return cell
    values = " ".join(f"{_leaf(k)}={_short(v)}" for k, v in sorted(searched.items()))
    return f"#{index}" + (f" {values}" if values else "") + f"{SEPARATOR}{cell}"


def _leaf(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def _short(value: Any) -> str:
    """Three significant digits for floats: enough to tell trials apart in a legend; params keep the exact value."""
    return f"{value:.3g}" if isinstance(value, float) else str(value)
