"""The embedded world's class knowledge (`embedded/knowledge.json`, shipped), and so which datasets it can simulate.

Kept apart from `simulated.py`, which needs torch, so a space can be checked against it without torch.
"""

from __future__ import annotations

import functools
import json
from importlib import resources

from flexcoder.data.registry import Task, get_dataset, list_datasets


@functools.cache
def knowledge() -> dict[str, dict]:
    """Class knowledge shipped with the package: {class: {synonyms, attributes, related}}."""
    text = resources.files("flexcoder.data").joinpath("embedded/knowledge.json").read_text()
    return json.loads(text)["classes"]


def simulated_datasets(task: Task | None = None) -> list[str]:
    """The registered datasets the embedded world models: those whose every class it knows. Datasets registered
    for real data only (class names read from disk) are not among them."""
    known = knowledge()
    return [n for n in list_datasets(task) if all(c in known for c in get_dataset(n).classes)]
