"""Source / target class halves of the retrieval datasets, shipped as data files with their provenance.

`flexcoder/data/halves/<dataset>.json` holds `{"source": [class, ...], "target": [class, ...], "provenance": "..."}`
with class names as in the registry; `class_halves` turns them into class indices and checks them.
"""

from __future__ import annotations

import json
from importlib import resources

from flexcoder.data.registry import DatasetSpec


def halves_file(name: str):
    """The packaged halves file of dataset `name` (an importlib.resources Traversable)."""
    return resources.files("flexcoder.data").joinpath(f"halves/{name}.json")


def class_halves(spec: DatasetSpec) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(source class indices, target class indices) of `spec`, each in the registry's class order.

    Raises FileNotFoundError when the dataset has no halves file, ValueError when the file names an unknown class,
    repeats one, or the halves overlap or leave a class out.
    """
    file = halves_file(spec.name)
    if not file.is_file():
        raise FileNotFoundError(f"dataset {spec.name!r} has no source/target halves file ({file})")
    halves = json.loads(file.read_text(encoding="utf-8"))
    index = {c: i for i, c in enumerate(spec.classes)}
    picked = []
    for half in ("source", "target"):
        names = halves.get(half)
        if not isinstance(names, list) or not names:
            raise ValueError(f"{file}: {half!r} must be a non-empty list of class names")
        unknown = [n for n in names if n not in index]
        if unknown:
            raise ValueError(f"{file}: unknown {half} classes {unknown}; known: {', '.join(spec.classes)}")
        picked.append(tuple(sorted(index[n] for n in names)))
    source, target = picked
    everything = source + target
    if len(set(everything)) != len(everything) or len(everything) != spec.num_classes:
        raise ValueError(f"{file}: source and target must split the {spec.num_classes} classes into disjoint halves")
    if not str(halves.get("provenance", "")).strip():
        raise ValueError(f"{file}: 'provenance' must say where the split comes from")
    return source, target
