"""CUB-200-2011 (Wah et al., Caltech tech. report 2011) in its own release layout (`CUB_200_2011.tgz`).

CoOp publishes no split for CUB, so the release's `train_test_split.txt` is the split (5,994 train / 5,794 test).
Classes follow `classes.txt` (ids 1-200); a class is named by its folder without the number prefix, '_' read as a
space (`001.Black_footed_Albatross` -> `Black footed Albatross`), unless `classnames.txt` gives names (see
`fewshot`: CODER's CUB200.txt list works as is).
"""

from __future__ import annotations

from pathlib import Path

from flexcoder.data.formats._common import DatasetFolder, one_hot
from flexcoder.data.formats.fewshot import class_names
from flexcoder.data.items import DatasetItems
from flexcoder.data.spec import DatasetSpec

LAYOUT = """
classes.txt                    "<class id> <folder>" per line, e.g. "1 001.Black_footed_Albatross" (200 lines)
images.txt                     "<image id> <path under images/>", e.g. "1 001.Black_footed_Albatross/<file>.jpg"
image_class_labels.txt         "<image id> <class id>" per line
train_test_split.txt           "<image id> <1: train, 0: test>" per line
images/<folder>/<file>.jpg
classnames.txt                 optional: readable class names, one per line in class-id order
"""


def read(spec: DatasetSpec, data_root: Path) -> DatasetItems:
    name = spec.name
    ds = DatasetFolder(name, data_root / name, spec.layout)
    folders = _id_table(ds, "classes.txt")
    if sorted(folders) != list(range(1, len(folders) + 1)):
        raise ds.malformed(ds.root / "classes.txt", "class ids must be 1..C")
    keys = tuple(folders[i] for i in range(1, len(folders) + 1))
    default = tuple(k.partition(".")[2].replace("_", " ") if "." in k else k.replace("_", " ") for k in keys)
    classes = class_names(ds, keys, default)
    paths, labels, is_train = (
        _id_table(ds, f) for f in ("images.txt", "image_class_labels.txt", "train_test_split.txt")
    )
    for file, table, allowed in (
        ("image_class_labels.txt", labels, {str(i) for i in folders}),
        ("train_test_split.txt", is_train, {"0", "1"}),
    ):
        if table.keys() != paths.keys():
            raise ds.malformed(ds.root / file, "its image ids differ from those of images.txt")
        bad = next((i for i, v in table.items() if v not in allowed), None)
        if bad is not None:
            raise ds.malformed(ds.root / file, f"image {bad}: {table[bad]!r} is not one of {sorted(allowed)[:5]} ...")
    splits = []
    for part, flag in (("train", "1"), ("test", "0")):
        ids = sorted(i for i in paths if is_train[i] == flag)
        images = [str(ds.root / "images" / paths[i]) for i in ids]
        ds.check_images(images, ds.root / "images.txt")
        splits.append(
            ds.split(
                images,
                None,
                one_hot([int(labels[i]) - 1 for i in ids], len(keys)),
                ds.root / "train_test_split.txt",
                part,
            )
        )
    return DatasetItems(name, classes, splits[0], splits[1], root=str(ds.root))


def _id_table(ds: DatasetFolder, file: str) -> dict[int, str]:
    """`{id: value}` from a CUB file of "<id> <value>" lines."""
    path = ds.require(file)
    table: dict[int, str] = {}
    for number, line in ds.lines(path):
        key, _, value = line.partition(" ")
        if not key.isdigit() or not value.strip() or int(key) in table:
            raise ds.malformed(path, f"expected '<id> <value>' with a new id, got {line!r}", number)
        table[int(key)] = value.strip()
    return table
