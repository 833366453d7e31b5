"""What the embedded worlds know, and so which datasets they can simulate: the retrieval world's class knowledge
(`embedded/knowledge.json`, hand-written) and the classification world's datasets (`embedded/classification/*.json`:
real class names, LLM-written descriptors and a documented CLIP zero-shot accuracy, each with its source and license).

Kept apart from `simulated.py`, which needs torch, so a space can be checked against it without torch.
"""

from __future__ import annotations

import functools
import json
from importlib import resources

from flexcoder.data.registry import get_dataset, list_datasets
from flexcoder.data.spec import Task


@functools.cache
def knowledge() -> dict[str, dict]:
    """Class knowledge shipped with the package: {class: {synonyms, attributes, related}}."""
    text = resources.files("flexcoder.data").joinpath("embedded/knowledge.json").read_text()
    return json.loads(text)["classes"]


@functools.cache
def classification_world_datasets() -> frozenset[str]:
    """Registered datasets the embedded classification world (`simulated_classification`) simulates."""
    folder = resources.files("flexcoder.data").joinpath("embedded/classification")
    return frozenset(f.name.removesuffix(".json") for f in folder.iterdir() if f.name.endswith(".json"))


@functools.cache
def classification_world_entry(name: str) -> dict:
    """{classes, descriptors (one list per class), zero_shot (percent), and the *_source of each}."""
    if name not in classification_world_datasets():
        raise KeyError(
            f"the embedded classification world has no dataset {name!r}; it has "
            f"{', '.join(sorted(classification_world_datasets()))}"
        )
    text = resources.files("flexcoder.data").joinpath(f"embedded/classification/{name}.json").read_text()
    return json.loads(text)


def descriptor_knowledge() -> dict[str, dict]:
    """The classification world's LLM-written descriptors as class knowledge {class: {attributes, synonyms,
    related}} (no synonyms or related classes: the descriptor files have none); the first dataset to name a class
    wins."""
    out: dict[str, dict] = {}
    for name in sorted(classification_world_datasets()):
        entry = classification_world_entry(name)
        for cls, descriptors in zip(entry["classes"], entry["descriptors"]):
            out.setdefault(cls, {"attributes": list(descriptors), "synonyms": [], "related": []})
    return out


def simulated_datasets(task: Task | None = None) -> list[str]:
    """The registered datasets the embedded worlds model: those whose every class the retrieval world knows, and
    those the classification world ships. Other datasets need real data."""
    known = knowledge()
    shipped = classification_world_datasets()
    return [n for n in list_datasets(task) if n in shipped or all(c in known for c in get_dataset(n).classes)]
