"""Reading a registered dataset's real files: the items of `<data_root>/<name>/`, or an error naming what is missing."""

from __future__ import annotations

from pathlib import Path

from flexcoder.data.items import DatasetItems
from flexcoder.data.registry import get_dataset, list_datasets
from flexcoder.data.spec import DatasetSpec


def readable_datasets() -> list[str]:
    """The registered datasets that have an on-disk reader."""
    return [name for name in list_datasets() if get_dataset(name).reader is not None]


def read_items(name: str, data_root: str | Path) -> DatasetItems:
    """Read dataset `name` from `<data_root>/<name>/` in its distributed layout (its registration's reader).

    Raises FileNotFoundError or ValueError naming the missing or malformed file and the expected layout.
    """
    spec = get_dataset(name)
    if spec.reader is None:
        raise KeyError(f"no on-disk reader for dataset {name!r}; readable: {', '.join(readable_datasets())}")
    return spec.reader(spec, Path(data_root).expanduser())


def check_data_available(spec: DatasetSpec, data_root: str | None) -> Path:
    """The dataset's folder under `data_root`, after reading its list files through the dataset's reader: a
    missing or malformed file raises FileNotFoundError / ValueError naming the file and the expected layout, before
    anything starts."""
    if data_root is None:
        layout = "\n".join(f"  <data_root>/{spec.name}/{line}" for line in spec.layout.strip("\n").splitlines())
        raise FileNotFoundError(
            f"dataset {spec.name!r} with a real backbone needs real data: set data_root (YAML `data_root:` or "
            f"--data-root). Expected layout:\n{layout}"
        )
    read_items(spec.name, data_root)
    return Path(data_root).expanduser() / spec.name
