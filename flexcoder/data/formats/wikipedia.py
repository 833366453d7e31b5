"""Wikipedia image-text dataset (Rasiwasia et al., ACM MM 2010), as released by SVCL (`wikipedia_dataset.zip`).

Each pair is a Wikipedia article section and one image from it, labelled with one of 10 categories. The release's
list files fix the split: 2,173 train / 693 test pairs.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from flexcoder.data.formats._common import DatasetFolder, one_hot, squash
from flexcoder.data.items import DatasetItems
from flexcoder.data.spec import DatasetSpec

LAYOUT = """
categories.list                one category per line, 10 lines (art, biology, geography, ...)
trainset_txt_img_cat.list      "<text_id>\\t<image_id>\\t<category number 1-10>" per line (2,173 lines)
testset_txt_img_cat.list       same format (693 lines)
texts/<text_id>.xml            the article text between <text> and </text>
images/<category>/<image_id>.jpg
"""
_TEXT = re.compile(r"<text>(.*?)</text>", re.DOTALL | re.IGNORECASE)


def read(spec: DatasetSpec, data_root: Path) -> DatasetItems:
    ds = DatasetFolder(spec.name, data_root / spec.name, spec.layout)
    categories_file = ds.require("categories.list")
    folders = [line for _, line in ds.lines(categories_file)]
    # The release lists short names (art, geography, ...); the registry keeps the longer category titles.
    if len(folders) != spec.num_classes or any(
        squash(f) not in (squash(c), squash(c.split()[0])) for f, c in zip(folders, spec.classes)
    ):
        raise ds.malformed(
            categories_file,
            f"expected the {spec.num_classes} categories {', '.join(spec.classes)} in this order, found {folders}",
        )
    train, test = (_read_split(ds, ds.require(f"{s}set_txt_img_cat.list"), folders, s) for s in ("train", "test"))
    return DatasetItems(spec.name, spec.classes, train, test, root=str(ds.root))


def _read_split(ds: DatasetFolder, list_file: Path, folders: list[str], split: str):
    images, texts, labels = [], [], []
    for number, line in ds.lines(list_file):
        fields = line.split()
        if len(fields) != 3 or not fields[2].isdigit() or not 1 <= int(fields[2]) <= len(folders):
            raise ds.malformed(
                list_file, f"expected '<text_id> <image_id> <category 1-{len(folders)}>', got {line!r}", number
            )
        text_id, image_id, category = fields[0], fields[1], int(fields[2]) - 1
        images.append(str(ds.root / "images" / folders[category] / f"{image_id}.jpg"))
        texts.append(_article_text(ds, ds.root / "texts" / f"{text_id}.xml", list_file))
        labels.append(category)
    ds.check_images(images, list_file)
    return ds.split(images, texts, one_hot(labels, len(folders)), list_file, split)


def _article_text(ds: DatasetFolder, path: Path, list_file: Path) -> str:
    """The text between <text> and </text>, entities decoded, whitespace collapsed. The released files are not
    always well-formed XML (bare '&', stray bytes), so no XML parser."""
    try:
        raw = path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        raise ds.missing(path, f"text named in {list_file}") from None
    match = _TEXT.search(raw)
    if match is None:
        raise ds.malformed(path, "no <text>...</text> element")
    return " ".join(html.unescape(match.group(1)).split())
