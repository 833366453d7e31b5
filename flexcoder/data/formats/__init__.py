"""Dataset adapters: each reads one dataset's distributed on-disk layout into `DatasetItems` (docs/data.md).

Stdlib and numpy only: lists are parsed line by line and images are checked by directory listing, never opened.
A missing or malformed file raises FileNotFoundError or ValueError naming the file and the expected layout.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from flexcoder.data.formats import cub, fewshot, nuswide, nuswide10k, pascal_sentence, wikipedia
from flexcoder.data.items import DatasetItems

READERS: dict[str, Callable[[Path], DatasetItems]] = {
    "wikipedia": wikipedia.read,
    "pascal_sentence": pascal_sentence.read,
    "nuswide": nuswide.read,
    "nuswide10k": nuswide10k.read,
    **{
        name: partial(fewshot.read_coop_split, name)
        for name in ("caltech101", "dtd", "eurosat", "food101", "oxford_pets")
    },
    "cub200": partial(cub.read, "cub200"),
    **{name: partial(fewshot.read_folder_tree, name) for name in ("imagenet", "places365")},
}


def read_dataset(name: str, data_root: Path) -> DatasetItems:
    """Dataset `name` read from `<data_root>/<name>/` in its distributed layout."""
    try:
        reader = READERS[name]
    except KeyError:
        raise KeyError(f"no on-disk reader for dataset {name!r}; readable: {', '.join(sorted(READERS))}") from None
    return reader(Path(data_root))
