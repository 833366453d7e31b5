"""NUS-WIDE (Chua et al., CIVR 2009): 269,648 Flickr images with user tags and ground truth for 81 concepts.

What is read (our choice, following the 10-largest-concept subset of cross-modal retrieval work such as DSCMR):
- classes: the registry's 10 largest concepts; an image's labels are its 0/1 ground truth for those 10
  (`Groundtruth/AllLabels/Labels_<concept>.txt`), so items are multi-label;
- items: images with at least one of the 10 concepts and at least one tag; the others are dropped;
- text: the image's Flickr tags from `NUS_WID_Tags/All_Tags.txt`, joined by spaces in file order (the tags are the
  only text NUS-WIDE has; CLIP reads them as a short caption);
- split: the release's own `ImageList/TrainImagelist.txt` / `TestImagelist.txt`.
The resulting counts are whatever the files give; DSCMR's 42,941 / 23,661 come from a further selection it does not
publish, so they are not reproduced here.

The image lists hold Windows paths (`C:\\ImageData\\Flickr\\actor\\0001_2124494179.jpg`); only the last two parts
(`actor/0001_2124494179.jpg`) are used, looked up under `images/` (the release's `Flickr/` folder).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from flexcoder.data.formats._common import DatasetFolder
from flexcoder.data.items import DatasetItems
from flexcoder.data.spec import DatasetSpec

LAYOUT = """
ImageList/Imagelist.txt        one image per line (269,648), e.g. C:\\ImageData\\Flickr\\actor\\0001_2124494179.jpg
ImageList/TrainImagelist.txt   the train images, same path format (161,789 lines)
ImageList/TestImagelist.txt    the test images (107,859 lines)
Groundtruth/AllLabels/Labels_<concept>.txt   one 0/1 per Imagelist line, for sky, clouds, person, water, ...
NUS_WID_Tags/All_Tags.txt      "<photo id> <tag> <tag> ..." per Imagelist line
images/<folder>/<file>.jpg     the release's Flickr/ folder, e.g. images/actor/0001_2124494179.jpg
"""


def read(spec: DatasetSpec, data_root: Path) -> DatasetItems:
    ds = DatasetFolder(spec.name, data_root / spec.name, spec.layout)
    image_list = ds.require("ImageList/Imagelist.txt")
    keys = [_image_key(ds, image_list, number, line) for number, line in ds.lines(image_list)]
    index = {key: i for i, key in enumerate(keys)}
    in_split = {}
    for split in ("train", "test"):
        list_file = ds.require(f"ImageList/{split.capitalize()}Imagelist.txt")
        rows = [index.get(_image_key(ds, list_file, number, line), -1) for number, line in ds.lines(list_file)]
        unknown = [number for number, row in enumerate(rows, start=1) if row < 0]
        if unknown:
            raise ds.malformed(list_file, f"{len(unknown)} images are not in {image_list} (first at line {unknown[0]})")
        in_split[split] = np.zeros(len(keys), dtype=bool)
        in_split[split][rows] = True
    labels = np.stack([_read_labels(ds, concept, len(keys)) for concept in spec.classes], axis=1)  # [N, C]
    tags = _read_tags(ds, keys, candidates=np.flatnonzero(labels.any(1)))
    keep = labels.any(1) & np.array([bool(t) for t in tags])
    splits, images_dir = [], str(ds.root / "images")
    for split in ("train", "test"):
        rows = np.flatnonzero(keep & in_split[split])
        images = [os.path.join(images_dir, keys[i]) for i in rows]  # not pathlib: ~100k joins
        ds.check_images(images, image_list)
        texts = [" ".join(tags[i]) for i in rows]
        splits.append(
            ds.split(images, texts, labels[rows], ds.root / f"ImageList/{split.capitalize()}Imagelist.txt", split)
        )
    return DatasetItems(spec.name, spec.classes, splits[0], splits[1], root=str(ds.root))


def _image_key(ds: DatasetFolder, list_file: Path, number: int, line: str) -> str:
    """`<folder>/<file>` from a Windows or POSIX path of any depth."""
    parts = line.replace("\\", "/").rsplit("/", 2)
    if len(parts) < 2 or not parts[-1] or not parts[-2]:
        raise ds.malformed(
            list_file, f"expected an image path like C:\\ImageData\\Flickr\\<folder>\\<file>.jpg, got {line!r}", number
        )
    return f"{parts[-2]}/{parts[-1]}"


def _read_labels(ds: DatasetFolder, concept: str, n_images: int) -> np.ndarray:
    path = ds.require(f"Groundtruth/AllLabels/Labels_{concept}.txt", f"ground truth of concept {concept!r}")
    values = path.read_text(encoding="utf-8", errors="replace").split()
    if len(values) != n_images:
        raise ds.malformed(path, f"{len(values)} values for the {n_images} images of ImageList/Imagelist.txt")
    bad = next((k for k, v in enumerate(values) if v not in ("0", "1")), None)
    if bad is not None:
        raise ds.malformed(path, f"expected 0 or 1, got {values[bad]!r}", bad + 1)
    return np.array(values) == "1"


def _read_tags(ds: DatasetFolder, keys: list[str], candidates: np.ndarray) -> list[list[str]]:
    """Tags of every image (empty lists outside `candidates`, which are the only ones parsed).

    Each line starts with the Flickr photo id, which is also the part after '_' in the image's file name; a
    mismatch means the tag file is not aligned with the image list."""
    path = ds.require("NUS_WID_Tags/All_Tags.txt")
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) != len(keys):
        raise ds.malformed(path, f"{len(lines)} lines for the {len(keys)} images of ImageList/Imagelist.txt")
    tags: list[list[str]] = [[] for _ in keys]
    for i in candidates:
        fields = lines[i].split()
        photo_id = keys[i].rsplit("/", 1)[-1].rsplit(".", 1)[0].partition("_")[2]
        if not fields or (photo_id.isdigit() and fields[0] != photo_id):
            raise ds.malformed(
                path,
                f"expected photo id {photo_id} (image {keys[i]}) at the start of the line, got {lines[i][:40]!r}",
                int(i) + 1,
            )
        tags[i] = fields[1:]
    return tags
