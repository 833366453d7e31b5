"""NUS-WIDE-10K (Feng et al., ACM MM 2014): 10,000 NUS-WIDE image-tag pairs, 1,000 from each of 10 concepts, each
pair carrying exactly one of them.

No raw-file release is canonical (papers ship extracted features), so this project defines two list files (our
choice: one line per pair, tab-separated, so a user can build them from NUS-WIDE with any tool):
    <image path relative to images/>\\t<class name>\\t<text: the image's tags joined by spaces>
Split: the lists themselves; the registry's sizes are 800 train / 200 test per class (the 8,000/1,000/1,000 split
with validation folded into test).
"""

from __future__ import annotations

from pathlib import Path

from flexcoder.data.formats._common import DatasetFolder, one_hot
from flexcoder.data.items import DatasetItems
from flexcoder.data.spec import DatasetSpec

LAYOUT = """
nuswide10k_train.txt           "<image path under images/>\\t<class>\\t<tags>" per line, e.g.
                               "animal/0001_2124494179.jpg<TAB>animal<TAB>cat pet cute" (8,000 lines)
nuswide10k_test.txt            same format (2,000 lines)
images/<path>                  the NUS-WIDE images the lists name
"""


def read(spec: DatasetSpec, data_root: Path) -> DatasetItems:
    ds = DatasetFolder(spec.name, data_root / spec.name, spec.layout)
    class_index = {c: i for i, c in enumerate(spec.classes)}
    splits = []
    for split in ("train", "test"):
        list_file = ds.require(f"nuswide10k_{split}.txt")
        images, texts, labels = [], [], []
        for number, line in ds.lines(list_file):
            fields = [f.strip() for f in line.split("\t")]
            if len(fields) != 3 or not all(fields):
                raise ds.malformed(list_file, f"expected '<image>\\t<class>\\t<text>', got {line!r}", number)
            image, cls, text = fields
            if cls not in class_index:
                raise ds.malformed(list_file, f"unknown class {cls!r}; known: {', '.join(spec.classes)}", number)
            images.append(str(ds.root / "images" / image))
            texts.append(text)
            labels.append(class_index[cls])
        ds.check_images(images, list_file)
        splits.append(ds.split(images, texts, one_hot(labels, spec.num_classes), list_file, split))
    return DatasetItems(spec.name, spec.classes, splits[0], splits[1], root=str(ds.root))
