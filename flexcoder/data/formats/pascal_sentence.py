"""Pascal Sentence dataset (Rashtchian et al., NAACL-HLT 2010 workshop): 1,000 PASCAL VOC 2008 images, 50 in each
of 20 classes, 5 sentences each.

The dataset is published as a web page (vision.cs.uiuc.edu/pascal-sentences); users get files from one of two
scrapers, and both layouts are read:
- `pascal_sentences.json` + `images/<file>.jpg` (michelecafagna26/Pascal_Sentence_Dataset-downloader);
- `dataset/<category>/<file>.jpg` + `sentence/<category>/<stem>.txt`, one sentence per line
  (rupy/PascalSentenceDataset; its script names the sentence files `<stem>txt`, without the dot: both are read).

Split (our choice; the release has none): in each class, sorted by file name, the last fifth is test and the rest
train, i.e. 40 train / 10 test per class (800 / 200), the common 800/100/100 split with its validation part folded
into test. A pair's text is the image's sentences joined in page order: the cross-modal retrieval literature
treats them as one text document per image (DSCMR, ACMR); CLIP's tokenizer keeps the first 77 tokens.
"""

from __future__ import annotations

import json
from pathlib import Path

from flexcoder.data.formats._common import DatasetFolder, one_hot, squash
from flexcoder.data.items import DatasetItems
from flexcoder.data.spec import DatasetSpec

LAYOUT = """
pascal_sentences.json          {"<file>.jpg": {"category": "aeroplane", "captions": ["...", ...]}, ...} (1,000 keys)
images/<file>.jpg              e.g. images/2008_000716.jpg
  or, from rupy/PascalSentenceDataset:
dataset/<category>/<file>.jpg
sentence/<category>/<stem>.txt one sentence per line (<stem>txt, as that script writes it, is read too)
"""
TEST_FRACTION_DENOMINATOR = 5  # the last 1/5 of each class is test: 10 of 50 (see module docstring)


def read(spec: DatasetSpec, data_root: Path) -> DatasetItems:
    ds = DatasetFolder(spec.name, data_root / spec.name, spec.layout)
    if not (ds.root / "pascal_sentences.json").exists() and (ds.root / "dataset").is_dir():
        pairs, source = _read_folders(ds), ds.root / "sentence"
    else:
        source = ds.require("pascal_sentences.json")
        pairs = _read_json(ds, source)
    by_squashed = {squash(c): i for i, c in enumerate(spec.classes)}
    per_class: list[list[tuple[str, str]]] = [[] for _ in spec.classes]
    for category, image, text in pairs:
        if squash(category) not in by_squashed:
            raise ds.malformed(source, f"unknown category {category!r} for {image}; known: {', '.join(spec.classes)}")
        per_class[by_squashed[squash(category)]].append((image, text))
    parts: dict[str, tuple[list[str], list[str], list[int]]] = {"train": ([], [], []), "test": ([], [], [])}
    for label, items in enumerate(per_class):
        items.sort(key=lambda item: Path(item[0]).name)
        n_train = len(items) * (TEST_FRACTION_DENOMINATOR - 1) // TEST_FRACTION_DENOMINATOR
        for k, (image, text) in enumerate(items):
            images, texts, labels = parts["train" if k < n_train else "test"]
            images.append(image)
            texts.append(text)
            labels.append(label)
    ds.check_images(parts["train"][0] + parts["test"][0], source)
    train, test = (ds.split(p[0], p[1], one_hot(p[2], spec.num_classes), source, s) for s, p in parts.items())
    return DatasetItems(spec.name, spec.classes, train, test, root=str(ds.root))


def _read_json(ds: DatasetFolder, path: Path) -> list[tuple[str, str, str]]:
    try:
        annotations = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ds.malformed(path, f"not valid JSON ({e})") from None
    if not isinstance(annotations, dict):
        raise ds.malformed(path, "expected an object keyed by image file name")
    pairs = []
    for file, entry in annotations.items():
        captions = entry.get("captions") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or not isinstance(entry.get("category"), str) or not isinstance(captions, list):
            raise ds.malformed(path, f"entry {file!r}: expected {{'category': str, 'captions': [str, ...]}}")
        text = " ".join(str(c).strip() for c in captions if str(c).strip())
        if not text:
            raise ds.malformed(path, f"entry {file!r} has no captions")
        pairs.append((entry["category"], str(ds.root / "images" / file), text))
    return pairs


def _read_folders(ds: DatasetFolder) -> list[tuple[str, str, str]]:
    pairs = []
    for category_dir in sorted(p for p in (ds.root / "dataset").iterdir() if p.is_dir()):
        for image in sorted(category_dir.iterdir()):
            if image.suffix.lower() not in (".jpg", ".jpeg"):
                continue
            sentences = ds.root / "sentence" / category_dir.name
            text_file = next(
                (f for f in (sentences / f"{image.stem}.txt", sentences / f"{image.stem}txt") if f.exists()), None
            )
            if text_file is None:
                raise ds.missing(sentences / f"{image.stem}.txt", f"the sentences of {image}")
            text = " ".join(line for _, line in ds.lines(text_file))
            if not text:
                raise ds.malformed(text_file, "no sentences")
            pairs.append((category_dir.name, str(image), text))
    return pairs
