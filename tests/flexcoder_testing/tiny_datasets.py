"""Tiny copies of the real datasets, written in their distributed on-disk formats (docs/data.md).

`write_tiny_dataset(name, data_root)` writes `<data_root>/<name>/` with a few generated images per class and the
same list files, label files, texts and split files the real release has, so `flexcoder.data.reading.read_items` and the
feature cache run on them exactly as on the real data. Images are small JPEGs whose colour and stripe pattern
depend on the class (a model could separate them); texts name the class, so text and image agree.
"""

from __future__ import annotations

import colorsys
import hashlib
import json
from pathlib import Path

import numpy as np

from flexcoder.data.registry import get_dataset

# Classification datasets: a handful of real classes each (the adapters read class names from the data, so a
# tiny copy needs no more). (folder or split-file key, readable class name) in label order.
COOP_SPLIT_CLASSES: dict[str, list[tuple[str, str]]] = {
    "eurosat": [  # CoOp's split_zhou_EuroSAT.json: folder under 2750/ and CoOp's readable name
        ("AnnualCrop", "Annual Crop Land"),
        ("Forest", "Forest"),
        ("HerbaceousVegetation", "Herbaceous Vegetation Land"),
        ("Highway", "Highway or Road"),
        ("Industrial", "Industrial Buildings"),
        ("Pasture", "Pasture Land"),
        ("PermanentCrop", "Permanent Crop Land"),
        ("Residential", "Residential Buildings"),
        ("River", "River"),
        ("SeaLake", "Sea or Lake"),
    ],
    "dtd": [
        ("banded", "banded"),
        ("blotchy", "blotchy"),
        ("braided", "braided"),
        ("bubbly", "bubbly"),
        ("bumpy", "bumpy"),
    ],
    "caltech101": [
        ("accordion", "accordion"),
        ("airplanes", "airplane"),
        ("anchor", "anchor"),
        ("ant", "ant"),
        ("Faces_easy", "face"),
    ],
    "food101": [
        ("apple_pie", "apple pie"),
        ("baby_back_ribs", "baby back ribs"),
        ("baklava", "baklava"),
        ("beef_carpaccio", "beef carpaccio"),
        ("beef_tartare", "beef tartare"),
    ],
    "oxford_pets": [
        ("Abyssinian", "abyssinian"),
        ("american_bulldog", "american_bulldog"),
        ("american_pit_bull_terrier", "american_pit_bull_terrier"),
        ("basset_hound", "basset_hound"),
        ("beagle", "beagle"),
    ],
}
CUB_CLASSES = [
    ("001.Black_footed_Albatross", "Black footed Albatross"),
    ("002.Laysan_Albatross", "Laysan Albatross"),
    ("003.Sooty_Albatross", "Sooty Albatross"),
    ("004.Groove_billed_Ani", "Groove billed Ani"),
    ("005.Crested_Auklet", "Crested Auklet"),
]
FOLDER_TREE_CLASSES: dict[str, list[tuple[str, str]]] = {
    "imagenet": [
        ("n01440764", "tench"),
        ("n01443537", "goldfish"),
        ("n01484850", "great white shark"),
        ("n01491361", "tiger shark"),
        ("n01494475", "hammerhead shark"),
    ],
    "places365": [
        ("airfield", "airfield"),
        ("airplane_cabin", "airplane cabin"),
        ("airport_terminal", "airport terminal"),
        ("alcove", "alcove"),
        ("alley", "alley"),
    ],
}
WIKIPEDIA_FOLDERS = (
    "art",
    "biology",
    "geography",
    "history",
    "literature",
    "media",
    "music",
    "royalty",
    "sport",
    "warfare",
)
NUSWIDE_OTHER_CONCEPTS = ("dog", "beach")  # Labels_*.txt files the adapter must ignore (the real release has 81)


def write_tiny_dataset(
    name: str,
    data_root: Path,
    *,
    per_class_train: int = 3,
    per_class_test: int = 2,
    image_size: int = 32,
    seed: int = 0,
) -> Path:
    """Write a tiny, format-faithful copy of dataset `name` under `data_root/name` and return that folder.

    Every class gets `per_class_train` train and `per_class_test` test items, except:
    - pascal_sentence: each class gets `per_class_train + per_class_test` images and the adapter's own split rule
      (the last fifth of each class's sorted file names, at least one, is test) decides;
    - nuswide: items are multi-label (every third item also carries the next class); each split also holds one
      item with none of the 10 concepts and one with no tags, which the adapter drops;
    - the classification datasets hold the few classes of `COOP_SPLIT_CLASSES`, `FOLDER_TREE_CLASSES` or
      `CUB_CLASSES`.
    """
    writers = {
        "wikipedia": _write_wikipedia,
        "pascal_sentence": _write_pascal_sentence,
        "nuswide": _write_nuswide,
        "nuswide10k": _write_nuswide10k,
        "cub200": _write_cub,
    }
    folder = Path(data_root) / name
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    counts = (per_class_train, per_class_test)
    if name in writers:
        writers[name](folder, counts, image_size, rng)
    elif name in COOP_SPLIT_CLASSES:
        _write_coop_split(folder, COOP_SPLIT_CLASSES[name], counts, image_size, rng, flat=name == "oxford_pets")
    elif name in FOLDER_TREE_CLASSES:
        _write_folder_tree(folder, FOLDER_TREE_CLASSES[name], counts, image_size, rng, name == "imagenet")
    else:
        raise KeyError(f"no tiny writer for dataset {name!r}")
    return folder


def class_image(label: int, num_classes: int, rng: np.random.Generator, size: int, second: int | None = None):
    """A PIL image of class `label`: the class's hue, stripes whose frequency and direction depend on the class,
    light per-image noise; a second class (multi-label items) paints the right half in its own hue."""
    from PIL import Image

    def paint(c: int) -> np.ndarray:
        rgb = np.array(colorsys.hsv_to_rgb(c / num_classes, 0.8, 0.9))
        axis = np.arange(size)[:, None] if (c // 4) % 2 else np.arange(size)[None, :]
        stripes = 0.75 + 0.25 * np.sign(np.sin(2 * np.pi * (1 + c % 4) * axis / size))
        return stripes[..., None] * rgb  # [S, S, 3]

    pixels = np.broadcast_to(paint(label), (size, size, 3)).copy()
    if second is not None:
        pixels[:, size // 2 :] = np.broadcast_to(paint(second), (size, size, 3))[:, size // 2 :]
    pixels = np.clip(pixels + rng.normal(0, 0.03, pixels.shape), 0, 1)
    return Image.fromarray((pixels * 255).astype(np.uint8), "RGB")


def _save(image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=95) if path.suffix.lower() in (".jpg", ".jpeg") else image.save(path)


def _hex_id(*parts: object) -> str:
    return hashlib.md5("/".join(map(str, parts)).encode()).hexdigest()


def _write_wikipedia(folder: Path, counts: tuple[int, int], size: int, rng: np.random.Generator) -> None:
    """SVCL release: categories.list, {train,test}set_txt_img_cat.list, texts/<id>.xml, images/<category>/<id>.jpg."""
    classes = get_dataset("wikipedia").classes
    (folder / "categories.list").write_text("".join(f"{c}\n" for c in WIKIPEDIA_FOLDERS))
    for split, n in zip(("train", "test"), counts):
        lines = []
        for c, cls in enumerate(classes):
            for i in range(n):
                text_id, image_id = f"{_hex_id(split, c, i)}-{c + 1}.{i}", _hex_id("img", split, c, i)
                lines.append(f"{text_id}\t{image_id}\t{c + 1}\n")
                image = folder / "images" / WIKIPEDIA_FOLDERS[c] / f"{image_id}.jpg"
                _save(class_image(c, len(classes), rng, size), image)
                # The real files are not always valid XML (bare '&'); the adapter reads between <text> tags.
                body = f"An article about {cls} & its history, part {i}.\nIt is about {cls}."
                (folder / "texts").mkdir(exist_ok=True)
                (folder / "texts" / f"{text_id}.xml").write_text(
                    f'<?xml version="1.0" encoding="UTF-8"?>\n<document>\n<title>{cls} {i}</title>\n'
                    f"<text>\n{body}\n</text>\n</document>\n"
                )
        (folder / f"{split}set_txt_img_cat.list").write_text("".join(lines))


def _write_pascal_sentence(folder: Path, counts: tuple[int, int], size: int, rng: np.random.Generator) -> None:
    """pascal_sentences.json ({image file: {category, captions}}) + images/<file>.jpg, as scraped from the UIUC
    page by michelecafagna26/Pascal_Sentence_Dataset-downloader; categories use the page's spelling (diningtable)."""
    classes = get_dataset("pascal_sentence").classes
    annotations = {}
    for c, cls in enumerate(classes):
        for i in range(sum(counts)):
            file = f"2008_{c:03d}{i:03d}.jpg"
            annotations[file] = {
                "category": cls.replace(" ", ""),
                "captions": [f"A photo of a {cls}, view {k}." for k in range(5)],
            }
            _save(class_image(c, len(classes), rng, size), folder / "images" / file)
    (folder / "pascal_sentences.json").write_text(json.dumps(annotations))


def _write_nuswide(folder: Path, counts: tuple[int, int], size: int, rng: np.random.Generator) -> None:
    """ImageList/{Imagelist,TrainImagelist,TestImagelist}.txt (Windows paths), Groundtruth/AllLabels/Labels_<c>.txt
    (one 0/1 per image line), NUS_WID_Tags/All_Tags.txt ("<photo id>  tags..."), images/<folder>/<file>.jpg."""
    classes = get_dataset("nuswide").classes
    concepts = list(classes) + list(NUSWIDE_OTHER_CONCEPTS)
    rows = []  # (split, folder/file, labels over `concepts`, tags)
    for split, n in zip(("train", "test"), counts):
        for c in range(len(classes)):
            for i in range(n):
                labels = {c, (c + 1) % len(classes)} if i % 3 == 2 else {c}
                tags = [classes[j] for j in sorted(labels)] + ["photo", f"flickr{i}"]
                rows.append((split, labels, tags))
        rows.append((split, {len(classes)}, ["dog", "cute"]))  # only an 11th concept: dropped
        rows.append((split, {0}, []))  # no tags: dropped
    image_lines, split_lines, tag_lines = [], {"train": [], "test": []}, []
    label_columns = np.zeros((len(rows), len(concepts)), dtype=np.int8)
    for k, (split, labels, tags) in enumerate(rows):
        photo_id = 100000 + k
        primary = min(labels)
        rel = f"{concepts[primary]}\\{k + 1:04d}_{photo_id}.jpg"
        second = max(labels) if len(labels) > 1 else None
        _save(class_image(primary, len(concepts), rng, size, second), folder / "images" / rel.replace("\\", "/"))
        image_lines.append(f"C:\\ImageData\\Flickr\\{rel}\r\n")
        split_lines[split].append(f"C:\\ImageData\\Flickr\\{rel}\r\n")
        tag_lines.append(f"{photo_id}      {' '.join(tags)} \n")
        label_columns[k, sorted(labels)] = 1
    (folder / "ImageList").mkdir()
    (folder / "ImageList" / "Imagelist.txt").write_text("".join(image_lines), newline="")
    (folder / "ImageList" / "TrainImagelist.txt").write_text("".join(split_lines["train"]), newline="")
    (folder / "ImageList" / "TestImagelist.txt").write_text("".join(split_lines["test"]), newline="")
    (folder / "Groundtruth" / "AllLabels").mkdir(parents=True)
    for j, concept in enumerate(concepts):
        column = "".join(f"{v}\n" for v in label_columns[:, j])
        (folder / "Groundtruth" / "AllLabels" / f"Labels_{concept}.txt").write_text(column)
    (folder / "NUS_WID_Tags").mkdir()
    (folder / "NUS_WID_Tags" / "All_Tags.txt").write_text("".join(tag_lines))


def _write_nuswide10k(folder: Path, counts: tuple[int, int], size: int, rng: np.random.Generator) -> None:
    """nuswide10k_{train,test}.txt ("<image path under images/>\\t<class>\\t<tags>") + images/<class>/<file>.jpg."""
    classes = get_dataset("nuswide10k").classes
    for split, n in zip(("train", "test"), counts):
        lines = []
        for c, cls in enumerate(classes):
            for i in range(n):
                rel = f"{cls}/{split}_{i:04d}_{100000 + 1000 * c + i}.jpg"
                _save(class_image(c, len(classes), rng, size), folder / "images" / rel)
                lines.append(f"{rel}\t{cls}\t{cls} photo flickr{i}\n")
        (folder / f"nuswide10k_{split}.txt").write_text("".join(lines))


def _write_coop_split(
    folder: Path,
    classes: list[tuple[str, str]],
    counts: tuple[int, int],
    size: int,
    rng: np.random.Generator,
    flat: bool,
) -> None:
    """CoOp split JSON ({train, val, test: [[image path under images/, label, class name], ...]}) as split.json,
    + images/. Oxford Pets keeps CoOp's flat image folder (images/<Breed>_<n>.jpg); the others use class folders."""
    split: dict[str, list] = {"train": [], "val": [], "test": []}
    k = 0
    for label, (key, classname) in enumerate(classes):
        for part, n in zip(("train", "val", "test"), (counts[0], 1, counts[1])):
            for _ in range(n):
                k += 1
                rel = f"{key}_{k}.jpg" if flat else f"{key}/{key}_{k}.jpg"
                _save(class_image(label, len(classes), rng, size), folder / "images" / rel)
                split[part].append([rel, label, classname])
    (folder / "split.json").write_text(json.dumps(split, indent=1))


def _write_folder_tree(
    folder: Path,
    classes: list[tuple[str, str]],
    counts: tuple[int, int],
    size: int,
    rng: np.random.Generator,
    with_classnames: bool,
) -> None:
    """train/<class>/*.jpg and val/<class>/*.jpg (ImageNet after valprep, places365_standard); ImageNet also gets
    CoOp's classnames.txt ("<wnid> <readable name>" per line)."""
    for label, (key, _) in enumerate(classes):
        for split, n in zip(("train", "val"), counts):
            for i in range(n):
                _save(class_image(label, len(classes), rng, size), folder / split / key / f"{key}_{split}_{i}.JPEG")
    if with_classnames:
        (folder / "classnames.txt").write_text("".join(f"{key} {name}\n" for key, name in classes))


def _write_cub(folder: Path, counts: tuple[int, int], size: int, rng: np.random.Generator) -> None:
    """CUB_200_2011 release: classes.txt, images.txt, image_class_labels.txt, train_test_split.txt (all "<id> <value>"
    lines, ids from 1) and images/<class folder>/<file>.jpg."""
    classes, images, labels, is_train = [], [], [], []
    for label, (key, _) in enumerate(CUB_CLASSES, start=1):
        classes.append(f"{label} {key}\n")
        for split, n in zip((1, 0), counts):
            for i in range(n):
                image_id = len(images) + 1
                rel = f"{key}/{key.partition('.')[2]}_{split}_{i:04d}.jpg"
                _save(class_image(label - 1, len(CUB_CLASSES), rng, size), folder / "images" / rel)
                images.append(f"{image_id} {rel}\n")
                labels.append(f"{image_id} {label}\n")
                is_train.append(f"{image_id} {split}\n")
    for file, lines in (
        ("classes.txt", classes),
        ("images.txt", images),
        ("image_class_labels.txt", labels),
        ("train_test_split.txt", is_train),
    ):
        (folder / file).write_text("".join(lines))
