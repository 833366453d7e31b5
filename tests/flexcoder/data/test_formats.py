import json
import re
from pathlib import Path

import numpy as np
import pytest

from flexcoder.data.reading import read_items, readable_datasets
from flexcoder.data.registry import get_dataset, list_datasets
from flexcoder.data.spec import ClassHalves, DatasetSpec, class_halves
from flexcoder.protocols import source_target_split
from flexcoder_testing.tiny_datasets import COOP_SPLIT_CLASSES, CUB_CLASSES, FOLDER_TREE_CLASSES, write_tiny_dataset

RETRIEVAL = ["wikipedia", "pascal_sentence", "nuswide", "nuswide10k"]
TRAIN, TEST = 3, 2  # write_tiny_dataset's defaults


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    for name in readable_datasets():
        write_tiny_dataset(name, root)
    return root


@pytest.fixture
def fresh(tmp_path):
    """A private tiny copy of one dataset, for tests that break it."""
    return lambda name: write_tiny_dataset(name, tmp_path)


def expected_error(kind, *fragments):
    """pytest.raises for an adapter error naming every fragment (files) and the expected layout."""
    pattern = "".join(f"(?=.*{re.escape(str(f))})" for f in (*fragments, "Expected layout"))
    return pytest.raises(kind, match=re.compile(pattern, re.DOTALL))


def test_every_registered_dataset_with_a_layout_has_a_reader_and_back():
    real = [n for n in list_datasets() if get_dataset(n).layout]
    assert readable_datasets() == real
    assert all(get_dataset(n).layout_files for n in real)


@pytest.mark.parametrize("name", readable_datasets())
def test_adapter_reads_tiny_dataset_into_items_with_existing_images(name, tiny_root):
    items = read_items(name, tiny_root)
    assert items.root == str(tiny_root / name)
    for split in (items.train, items.test):
        assert split.labels.shape == (len(split), len(items.classes))
        assert split.labels.any(1).all()
        assert all(Path(p).is_absolute() and Path(p).is_file() and p.startswith(items.root) for p in split.image_paths)
        if name in RETRIEVAL:
            assert all(isinstance(t, str) and t for t in split.texts)
        else:
            assert split.texts is None
    if get_dataset(name).multilabel:
        assert (items.train.labels.sum(1) == 2).any()
    else:
        assert (items.train.labels.sum(1) == 1).all() and (items.test.labels.sum(1) == 1).all()


@pytest.mark.parametrize("name", ["wikipedia", "nuswide", "nuswide10k"])
def test_retrieval_adapter_keeps_registry_classes_and_per_class_counts(name, tiny_root):
    items = read_items(name, tiny_root)
    spec = get_dataset(name)
    assert items.classes == spec.classes
    assert len(items.train) == TRAIN * spec.num_classes and len(items.test) == TEST * spec.num_classes
    if not spec.multilabel:
        per_class = np.bincount(items.train.labels.argmax(1), minlength=spec.num_classes)
        assert per_class.tolist() == [TRAIN] * spec.num_classes


def test_wikipedia_reads_text_between_text_tags_despite_bare_ampersand(tiny_root):
    items = read_items("wikipedia", tiny_root)
    first = "An article about art & architecture & its history, part 0. It is about art & architecture."
    assert items.train.texts[0] == first
    assert Path(items.train.image_paths[0]).parent.name == "art"
    last = items.test.labels[-1]
    assert items.classes[last.argmax()] == "warfare" and Path(items.test.image_paths[-1]).parent.name == "warfare"


def test_wikipedia_text_entities_are_decoded(fresh):
    root = fresh("wikipedia")
    text_id = (root / "trainset_txt_img_cat.list").read_text().split("\t")[0]
    xml = b"<document><text>Caf\xc3\xa9 &amp; bar\n  &lt;b&gt;</text></document>"
    (root / "texts" / f"{text_id}.xml").write_bytes(xml)
    assert read_items("wikipedia", root.parent).train.texts[0] == "Café & bar <b>"


def test_pascal_sentence_splits_last_fifth_of_each_class_as_test(tiny_root):
    items = read_items("pascal_sentence", tiny_root)
    per_class = TRAIN + TEST  # 5 images per class -> 4 train, 1 test
    assert len(items.train) == 20 * 4 and len(items.test) == 20
    assert [Path(p).name for p in items.test.image_paths[:2]] == [
        f"2008_000{per_class - 1:03d}.jpg",
        f"2008_001{per_class - 1:03d}.jpg",
    ]
    assert items.classes[items.test.labels[10].argmax()] == "dining table"
    assert items.train.texts[0] == " ".join(f"A photo of a aeroplane, view {k}." for k in range(5))


def test_pascal_sentence_reads_rupy_folder_layout_like_json(fresh):
    root = fresh("pascal_sentence")
    annotations = json.loads((root / "pascal_sentences.json").read_text())
    for file, entry in annotations.items():
        (root / "dataset" / entry["category"]).mkdir(parents=True, exist_ok=True)
        (root / "images" / file).rename(root / "dataset" / entry["category"] / file)
        (root / "sentence" / entry["category"]).mkdir(parents=True, exist_ok=True)
        stem = file.removesuffix(".jpg")
        (root / "sentence" / entry["category"] / f"{stem}txt").write_text("\n".join(entry["captions"]) + "\n")
    (root / "pascal_sentences.json").unlink()
    items = read_items("pascal_sentence", root.parent)
    assert len(items.train) == 80 and len(items.test) == 20
    assert items.train.texts[0] == " ".join(f"A photo of a aeroplane, view {k}." for k in range(5))
    assert Path(items.test.image_paths[0]).parent.name == "aeroplane"


def test_nuswide_keeps_items_with_a_concept_and_tags_as_multilabel_pairs(tiny_root):
    items = read_items("nuswide", tiny_root)
    assert len(items.train) == 30 and len(items.test) == 20  # the 'dog'-only and tagless items are dropped
    assert items.train.texts[2] == "sky clouds photo flickr2"
    assert items.train.labels[2].tolist() == [True, True] + [False] * 8
    assert Path(items.train.image_paths[2]).relative_to(tiny_root / "nuswide") == Path("images/sky/0003_100002.jpg")
    assert not any("dog" in t.split() for t in items.train.texts + items.test.texts)


def test_nuswide_reads_split_lists_without_the_windows_prefix(fresh, tiny_root):
    root = fresh("nuswide")
    train_list = root / "ImageList" / "TrainImagelist.txt"
    train_list.write_text(train_list.read_text().replace("C:\\ImageData\\Flickr\\", ""))
    items = read_items("nuswide", root.parent)
    assert items.train.image_paths == tuple(
        p.replace(str(tiny_root), str(root.parent)) for p in read_items("nuswide", tiny_root).train.image_paths
    )


@pytest.mark.parametrize("name", sorted(COOP_SPLIT_CLASSES))
def test_coop_split_orders_classes_by_label(name, tiny_root):
    items = read_items(name, tiny_root)
    assert items.classes == tuple(readable for _, readable in COOP_SPLIT_CLASSES[name])
    assert len(items.train) == TRAIN * len(items.classes) and len(items.test) == TEST * len(items.classes)
    assert np.bincount(items.test.labels.argmax(1)).tolist() == [TEST] * len(items.classes)
    # CoOp's own val split (one image per class in the tiny copy), kept apart from train and test
    assert items.splits == ("train", "test", "val") and len(items.val) == len(items.classes)
    assert set(items.val.image_paths).isdisjoint(items.train.image_paths + items.test.image_paths)


def test_coop_split_without_a_val_list_has_no_val_split(fresh):
    root = fresh("dtd")
    split = json.loads((root / "split.json").read_text())
    del split["val"]
    (root / "split.json").write_text(json.dumps(split))
    items = read_items("dtd", root.parent)
    assert items.val is None and items.splits == ("train", "test")
    with pytest.raises(KeyError, match="no split 'val'"):
        items.split("val")


def test_coop_split_reads_split_zhou_file_and_classnames_txt_in_label_order(fresh):
    root = fresh("eurosat")
    (root / "split.json").rename(root / "split_zhou_EuroSAT.json")
    names = [f"satellite photo {k}" for k in range(10)]
    (root / "classnames.txt").write_text("\n".join(names) + "\n")
    assert read_items("eurosat", root.parent).classes == tuple(names)


@pytest.mark.parametrize("name", sorted(FOLDER_TREE_CLASSES))
def test_folder_tree_names_classes_from_classnames_txt_or_folders(name, tiny_root):
    items = read_items(name, tiny_root)
    assert items.classes == tuple(readable for _, readable in FOLDER_TREE_CLASSES[name])
    assert len(items.train) == TRAIN * len(items.classes) and len(items.test) == TEST * len(items.classes)
    assert Path(items.test.image_paths[0]).parts[-3] == "val"


def test_cub_reads_release_split_and_names_classes_from_folders(tiny_root):
    items = read_items("cub200", tiny_root)
    assert items.classes == tuple(readable for _, readable in CUB_CLASSES)
    assert len(items.train) == TRAIN * 5 and len(items.test) == TEST * 5
    assert all("_1_" in Path(p).name for p in items.train.image_paths)
    assert items.classes[items.test.labels[-1].argmax()] == "Crested Auklet"


def test_cub_unknown_class_id_names_file(fresh):
    root = fresh("cub200")
    _replace_line(root / "image_class_labels.txt", 3, "3 201\n")
    with expected_error(ValueError, root / "image_class_labels.txt", "image 3: '201'"):
        read_items("cub200", root.parent)


def test_folder_tree_prefers_test_folder_over_val(fresh):
    root = fresh("places365")
    (root / "test").mkdir()
    (root / "val" / "alley").rename(root / "test" / "alley")
    items = read_items("places365", root.parent)
    assert len(items.test) == TEST and items.test.labels[:, 4].all()


# Malformed input: each error names the file and quotes the expected layout.

MISSING = [
    ("wikipedia", "categories.list"),
    ("wikipedia", "testset_txt_img_cat.list"),
    ("pascal_sentence", "pascal_sentences.json"),
    ("nuswide", "ImageList/TrainImagelist.txt"),
    ("nuswide", "Groundtruth/AllLabels/Labels_lake.txt"),
    ("nuswide", "NUS_WID_Tags/All_Tags.txt"),
    ("nuswide10k", "nuswide10k_test.txt"),
    ("dtd", "split.json"),
    ("imagenet", "val"),
    ("cub200", "train_test_split.txt"),
]


@pytest.mark.parametrize(("name", "relative"), MISSING, ids=[f"{n}:{r}" for n, r in MISSING])
def test_missing_file_is_an_error_naming_it(name, relative, fresh):
    import shutil

    root = fresh(name)
    target = root / relative
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with expected_error(FileNotFoundError, target):
        read_items(name, root.parent)


@pytest.mark.parametrize("name", ["wikipedia", "pascal_sentence", "nuswide", "nuswide10k", "eurosat", "oxford_pets"])
def test_missing_listed_image_is_an_error_naming_image_and_list(name, fresh):
    root = fresh(name)
    image = sorted((root / "images").rglob("*.jpg"))[0]
    image.unlink()
    listed_in = {
        "wikipedia": "set_txt_img_cat.list",
        "pascal_sentence": "pascal_sentences.json",
        "nuswide": "Imagelist.txt",
        "nuswide10k": "nuswide10k_",
        "eurosat": "split.json",
        "oxford_pets": "split.json",
    }[name]
    with expected_error(FileNotFoundError, image, listed_in, "1 of the"):
        read_items(name, root.parent)


def test_missing_wikipedia_text_is_an_error_naming_it(fresh):
    root = fresh("wikipedia")
    text = sorted((root / "texts").iterdir())[0]
    text.unlink()
    with expected_error(FileNotFoundError, text, "set_txt_img_cat.list"):
        read_items("wikipedia", root.parent)


def _replace_line(path: Path, number: int, line: str) -> None:
    lines = path.read_text().splitlines(keepends=True)
    lines[number - 1] = line
    path.write_text("".join(lines))


def test_bad_wikipedia_list_line_names_file_and_line(fresh):
    root = fresh("wikipedia")
    _replace_line(root / "trainset_txt_img_cat.list", 4, "abc\t11\n")
    with expected_error(ValueError, root / "trainset_txt_img_cat.list", "line 4", "'abc\\t11'"):
        read_items("wikipedia", root.parent)


def test_wikipedia_category_out_of_range_is_a_bad_line(fresh):
    root = fresh("wikipedia")
    _replace_line(root / "testset_txt_img_cat.list", 1, "t\ti\t11\n")
    with expected_error(ValueError, root / "testset_txt_img_cat.list", "line 1", "category 1-10"):
        read_items("wikipedia", root.parent)


def test_wikipedia_unknown_category_list_is_an_error(fresh):
    root = fresh("wikipedia")
    _replace_line(root / "categories.list", 2, "chemistry\n")
    with expected_error(ValueError, root / "categories.list", "chemistry"):
        read_items("wikipedia", root.parent)


def test_wikipedia_text_without_text_element_is_an_error(fresh):
    root = fresh("wikipedia")
    text = sorted((root / "texts").iterdir())[0]
    text.write_text("<document><title>x</title></document>")
    with expected_error(ValueError, text, "<text>"):
        read_items("wikipedia", root.parent)


def test_empty_split_is_an_error_naming_its_list(fresh):
    root = fresh("wikipedia")
    (root / "testset_txt_img_cat.list").write_text("\n")
    with expected_error(ValueError, root / "testset_txt_img_cat.list", "test split is empty"):
        read_items("wikipedia", root.parent)


def test_pascal_sentence_unknown_category_is_an_error(fresh):
    root = fresh("pascal_sentence")
    annotations = json.loads((root / "pascal_sentences.json").read_text())
    annotations["2008_000000.jpg"]["category"] = "giraffe"
    (root / "pascal_sentences.json").write_text(json.dumps(annotations))
    with expected_error(ValueError, root / "pascal_sentences.json", "'giraffe'"):
        read_items("pascal_sentence", root.parent)


def test_pascal_sentence_entry_without_captions_is_an_error(fresh):
    root = fresh("pascal_sentence")
    annotations = json.loads((root / "pascal_sentences.json").read_text())
    annotations["2008_000000.jpg"] = {"category": "aeroplane"}
    (root / "pascal_sentences.json").write_text(json.dumps(annotations))
    with expected_error(ValueError, root / "pascal_sentences.json", "2008_000000.jpg"):
        read_items("pascal_sentence", root.parent)


def test_nuswide_label_value_other_than_0_or_1_names_file_and_line(fresh):
    root = fresh("nuswide")
    labels = root / "Groundtruth" / "AllLabels" / "Labels_water.txt"
    _replace_line(labels, 7, "-1130179\n")
    with expected_error(ValueError, labels, "line 7", "-1130179"):
        read_items("nuswide", root.parent)


def test_nuswide_label_file_shorter_than_image_list_is_an_error(fresh):
    root = fresh("nuswide")
    labels = root / "Groundtruth" / "AllLabels" / "Labels_sky.txt"
    labels.write_text("".join(labels.read_text().splitlines(keepends=True)[:-1]))
    with expected_error(ValueError, labels, "values for the 54 images"):
        read_items("nuswide", root.parent)


def test_nuswide_tags_out_of_step_with_image_list_is_an_error(fresh):
    root = fresh("nuswide")
    tags = root / "NUS_WID_Tags" / "All_Tags.txt"
    lines = tags.read_text().splitlines(keepends=True)
    tags.write_text("".join(lines[1:2] + lines[0:1] + lines[2:]))
    with expected_error(ValueError, tags, "line 1", "photo id 100000"):
        read_items("nuswide", root.parent)


def test_nuswide_split_list_naming_unknown_image_is_an_error(fresh):
    root = fresh("nuswide")
    test_list = root / "ImageList" / "TestImagelist.txt"
    test_list.write_text(test_list.read_text() + "C:\\ImageData\\Flickr\\zebra\\0999_1.jpg\r\n")
    with expected_error(ValueError, test_list, "1 images are not in"):
        read_items("nuswide", root.parent)


def test_nuswide10k_unknown_class_names_file_and_line(fresh):
    root = fresh("nuswide10k")
    _replace_line(root / "nuswide10k_train.txt", 2, "animal/x.jpg\tzebra\tstripes\n")
    with expected_error(ValueError, root / "nuswide10k_train.txt", "line 2", "'zebra'"):
        read_items("nuswide10k", root.parent)


def test_nuswide10k_line_without_three_tab_fields_is_an_error(fresh):
    root = fresh("nuswide10k")
    _replace_line(root / "nuswide10k_test.txt", 3, "animal/x.jpg animal cat\n")
    with expected_error(ValueError, root / "nuswide10k_test.txt", "line 3"):
        read_items("nuswide10k", root.parent)


@pytest.mark.parametrize(
    ("entry", "problem"),
    [(["a.jpg", "0", "banded"], "train[0]"), (["a.jpg", 0, "bubbly"], "'bubbly' elsewhere")],
)
def test_coop_split_bad_entry_is_an_error(entry, problem, fresh):
    root = fresh("dtd")
    split = json.loads((root / "split.json").read_text())
    split["train"][0] = entry
    (root / "split.json").write_text(json.dumps(split))
    with expected_error(ValueError, root / "split.json", problem):
        read_items("dtd", root.parent)


def test_coop_split_with_label_gap_is_an_error(fresh):
    root = fresh("dtd")
    split = json.loads((root / "split.json").read_text())
    for part in split.values():
        part[:] = [e for e in part if e[1] != 2]
    (root / "split.json").write_text(json.dumps(split))
    with expected_error(ValueError, root / "split.json", "missing labels [2]"):
        read_items("dtd", root.parent)


def test_folder_tree_test_class_unknown_to_train_is_an_error(fresh):
    root = fresh("imagenet")
    (root / "val" / "n09999999").mkdir()
    with expected_error(ValueError, root / "val", "n09999999"):
        read_items("imagenet", root.parent)


def test_classnames_txt_that_fits_neither_form_is_an_error(fresh):
    root = fresh("imagenet")
    (root / "classnames.txt").write_text("tench\ngoldfish\n")
    with expected_error(ValueError, root / "classnames.txt", "exactly 5 names"):
        read_items("imagenet", root.parent)


def test_unknown_dataset_name_lists_known_ones():
    with pytest.raises(KeyError, match="known: .*wikipedia"):
        read_items("mnist", Path("/nowhere"))


# Source / target class halves


@pytest.mark.parametrize("name", RETRIEVAL)
def test_class_halves_are_disjoint_cover_all_classes_and_match_first_half_rule(name):
    spec = get_dataset(name)
    source, target = class_halves(spec)
    assert set(source).isdisjoint(target) and sorted(source + target) == list(range(spec.num_classes))
    assert (source, target) == source_target_split(spec.num_classes)


def test_a_registration_whose_halves_name_classes_it_lacks_is_refused():
    halves = get_dataset("wikipedia").halves
    with pytest.raises(ValueError, match="unknown source classes"):
        DatasetSpec("wiki2", tuple(f"topic {i}" for i in range(10)), ("retrieval",), 1, 1, halves=halves)


def test_a_registration_whose_halves_overlap_is_refused():
    classes = ("a", "b", "c", "d")
    with pytest.raises(ValueError, match="disjoint halves"):
        DatasetSpec("x", classes, ("retrieval",), 1, 1, halves=ClassHalves(("a", "b"), ("b", "c", "d"), "ours"))


def test_class_halves_of_a_dataset_without_them_is_an_error():
    with pytest.raises(ValueError, match="eurosat"):
        class_halves(get_dataset("eurosat"))
