"""CODER's classification datasets in the two layouts CLIP few-shot work distributes them in.

- CoOp split JSON (Zhou et al., CoOp, IJCV 2022; reused by Tip-Adapter, CoOp-derived repos and CODER):
  `{"train": [[image path, label, class name], ...], "val": [...], "test": [...]}`, image paths relative to the
  image folder. Read from `split.json`, or from CoOp's own file name `split_zhou_<Dataset>.json`; images from
  `images/`. Classes are ordered by label. Train, val and test are CoOp's: the shots are drawn from train, every
  search validates on val (as the official few-shot scripts do), and a file without a val list has none.
- Folder trees (ImageNet after the usual valprep, places365_standard): `train/<class>/<image>` and
  `val/<class>/<image>` (or `test/<class>/<image>`, preferred when present); classes are the sorted folder names.

Either layout may add `classnames.txt` with readable class names, one per line: `<folder or split class name>
<readable name>` (CoOp's ImageNet classnames.txt: `n01440764 tench`), or just the names in class order (CODER's
class-name lists). Without it, folder trees name classes by their folder with '_' read as a space.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from flexcoder.data.formats._common import IMAGE_SUFFIXES, DatasetFolder, one_hot
from flexcoder.data.items import DatasetItems
from flexcoder.data.spec import DatasetSpec

COOP_LAYOUT = """
split.json                     CoOp format: {"train": [["<image path under images/>", <label>, "<class name>"], ...],
                               "val": [...], "test": [...]}; CoOp's split_zhou_<Dataset>.json is read too
images/<image path>            e.g. images/AnnualCrop/AnnualCrop_1.jpg (CoOp's eurosat/2750/ folder)
classnames.txt                 optional: "<class name in split> <readable name>" per line, or the names in label order
"""
FOLDER_LAYOUT = """
train/<class>/<image>          e.g. train/n01440764/n01440764_10026.JPEG
val/<class>/<image>            the test split (test/<class>/<image> is used instead when present)
classnames.txt                 optional: "<class folder> <readable name>" per line, e.g. "n01440764 tench"
"""
_COOP_SPLITS = ("train", "test")  # required; "val" is read when the file has a non-empty one


def read_coop_split(spec: DatasetSpec, data_root: Path) -> DatasetItems:
    name = spec.name
    ds = DatasetFolder(name, data_root / name, spec.layout)
    split_file = _find_split_file(ds)
    try:
        split = json.loads(split_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ds.malformed(split_file, f"not valid JSON ({e})") from None
    if not isinstance(split, dict) or any(not isinstance(split.get(s), list) for s in _COOP_SPLITS):
        raise ds.malformed(split_file, f"expected an object with lists {', '.join(_COOP_SPLITS)}")
    if split.get("val") is not None and not isinstance(split["val"], list):
        raise ds.malformed(split_file, f"'val' must be a list like train and test, got {type(split['val']).__name__}")
    parts = (*_COOP_SPLITS, "val") if split.get("val") else _COOP_SPLITS
    names: dict[int, str] = {}
    entries: dict[str, list[tuple[str, int]]] = {}
    for part in parts:
        entries[part] = []
        for k, entry in enumerate(split[part]):
            if not (
                isinstance(entry, list)
                and len(entry) == 3
                and isinstance(entry[0], str)
                and isinstance(entry[1], int)
                and isinstance(entry[2], str)
                and entry[1] >= 0
            ):
                raise ds.malformed(
                    split_file, f"{part}[{k}]: expected [image path, label >= 0, class name], got {entry!r}"
                )
            path, label, classname = entry
            if names.setdefault(label, classname) != classname:
                raise ds.malformed(
                    split_file, f"{part}[{k}]: label {label} is {classname!r} here but {names[label]!r} elsewhere"
                )
            entries[part].append((path, label))
    if sorted(names) != list(range(len(names))):
        gaps = sorted(set(range(max(names, default=-1) + 1)) - set(names))
        raise ds.malformed(split_file, f"labels must be 0..C-1 with a class name each; missing labels {gaps[:10]}")
    keys = tuple(names[i] for i in range(len(names)))
    classes = class_names(ds, keys, default=keys)
    splits = {}
    for part in parts:
        images = [str(ds.root / "images" / path) for path, _ in entries[part]]
        ds.check_images(images, split_file)
        labels = one_hot([label for _, label in entries[part]], len(classes))
        splits[part] = ds.split(images, None, labels, split_file, part)
    return DatasetItems(name, classes, splits["train"], splits["test"], root=str(ds.root), val=splits.get("val"))


def read_folder_tree(spec: DatasetSpec, data_root: Path) -> DatasetItems:
    name = spec.name
    ds = DatasetFolder(name, data_root / name, spec.layout)
    train_dir = ds.require("train", "one folder of images per class")
    test_dir = ds.root / "test" if (ds.root / "test").is_dir() else ds.require("val", "one folder per class")
    keys = tuple(sorted(p.name for p in train_dir.iterdir() if p.is_dir()))
    if not keys:
        raise ds.malformed(train_dir, "no class folders")
    classes = class_names(ds, keys, default=tuple(k.replace("_", " ") for k in keys))
    index = {k: i for i, k in enumerate(keys)}
    unknown = sorted(p.name for p in test_dir.iterdir() if p.is_dir() and p.name not in index)
    if unknown:
        raise ds.malformed(test_dir, f"class folders not in {train_dir}: {', '.join(unknown[:10])}")
    splits = []
    for part, folder in (("train", train_dir), ("test", test_dir)):
        images, labels = [], []
        for key in keys:
            for path in _images_under(folder / key):
                images.append(path)
                labels.append(index[key])
        splits.append(ds.split(images, None, one_hot(labels, len(keys)), folder, part))
    return DatasetItems(name, classes, splits[0], splits[1], root=str(ds.root))


def _images_under(folder: Path) -> list[str]:
    """Image files under `folder` (any depth), sorted; a class with no folder in this split has no images."""
    found = []
    for parent, dirs, files in os.walk(folder):
        dirs.sort()
        found.extend(os.path.join(parent, f) for f in sorted(files) if f.lower().endswith(IMAGE_SUFFIXES))
    return found


def _find_split_file(ds: DatasetFolder) -> Path:
    if (ds.root / "split.json").is_file():
        return ds.root / "split.json"
    coop = sorted(ds.root.glob("split_zhou_*.json")) if ds.root.is_dir() else []
    if len(coop) > 1:
        raise ds.malformed(
            ds.root,
            f"several CoOp split files ({', '.join(p.name for p in coop)}); keep one or "
            "copy the one to use to split.json",
        )
    if not coop:
        raise ds.missing(ds.root / "split.json", "the CoOp split file")
    return coop[0]


def class_names(ds: DatasetFolder, keys: tuple[str, ...], default: tuple[str, ...]) -> tuple[str, ...]:
    """Readable class names from the optional classnames.txt (see the module docstring), else `default`."""
    path = ds.root / "classnames.txt"
    if not path.is_file():
        return default
    lines = [line for _, line in ds.lines(path)]
    pairs = [line.split(maxsplit=1) for line in lines]
    known = set(keys)
    if lines and all(len(p) == 2 and p[0] in known for p in pairs):
        mapping = dict(pairs)
        return tuple(mapping.get(k, d).strip() for k, d in zip(keys, default))
    if len(lines) == len(keys):
        return tuple(lines)
    raise ds.malformed(
        path,
        f"expected '<class> <readable name>' lines for the classes {', '.join(keys[:5])}, ... "
        f"or exactly {len(keys)} names in class order; got {len(lines)} lines",
    )
