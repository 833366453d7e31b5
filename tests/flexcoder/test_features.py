"""The content-addressed feature cache: tiny datasets in their real on-disk formats, through a tiny open_clip model
saved as a local-dir folder, into the cache and back; corruption, concurrency and the real-data protocols."""

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from flexcoder.data.reading import read_items
from flexcoder.data.registry import get_dataset
from flexcoder.features.backbone import load_backbone
from flexcoder.features.backbone_names import BackboneError
from flexcoder.features.cache import (
    CACHE_ENV,
    FORMAT_VERSION,
    MANIFEST,
    FeatureCacheWarning,
    cache_dir_for,
    ensure_features,
    feature_key,
    split_features,
)
from flexcoder.features.dataset_features import load_features
from flexcoder.protocols import classification_task, retrieval_task
from flexcoder_testing.tiny_clip import TINY_CLIP_EMBED_DIM, save_tiny_local_dir
from flexcoder_testing.tiny_datasets import write_tiny_dataset


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("models")
    return {"tiny": save_tiny_local_dir(tmp / "tiny", seed=0), "other": save_tiny_local_dir(tmp / "other", seed=1)}


@pytest.fixture
def data_root(tmp_path):
    write_tiny_dataset("wikipedia", tmp_path / "data")
    write_tiny_dataset("dtd", tmp_path / "data")
    return tmp_path / "data"


def _entries(cache: Path) -> list[Path]:
    return sorted(p for p in cache.iterdir() if not p.name.startswith("."))


def test_first_call_extracts_and_a_second_reads_the_cache_without_encoding(model, data_root):
    backbone = load_backbone(model["tiny"], "auto", "fp32")
    before = dict(backbone.calls)
    first = ensure_features("wikipedia", model["tiny"], data_root)
    items = read_items("wikipedia", data_root)
    assert first.extracted == ["train", "test"] and first.hit == []
    assert first.images == len(items.train) + len(items.test)
    assert backbone.calls["images"] - before["images"] == first.images
    assert backbone.calls["texts"] - before["texts"] == first.images  # one paired text per item
    after_first = dict(backbone.calls)
    second = ensure_features("wikipedia", model["tiny"], data_root)
    assert second.hit == ["train", "test"] and second.extracted == [] and second.images == 0
    assert backbone.calls == after_first  # no encoder call on a hit
    assert "0 extracted, 2 cached" in second.line() and "2 extracted, 0 cached" in first.line()
    assert len(_entries(data_root / ".flexcoder_cache")) == 2


def test_cached_features_equal_a_direct_encoding_of_the_items(model, data_root):
    ensure_features("wikipedia", model["tiny"], data_root)
    items = read_items("wikipedia", data_root)
    cached = split_features(items, "test", model["tiny"], cache_dir=data_root / ".flexcoder_cache")
    backbone = load_backbone(model["tiny"])
    assert cached.image.shape == (len(items.test), TINY_CLIP_EMBED_DIM) and cached.image.dtype == torch.float32
    assert torch.allclose(cached.image, backbone.encode_image_files(items.test.image_paths, num_workers=0), atol=1e-6)
    assert torch.allclose(cached.text, backbone.encode_text(items.test.texts), atol=1e-6)
    assert torch.allclose(cached.image.norm(dim=1), torch.ones(len(items.test)), atol=1e-5)


def test_classification_entries_hold_images_only(model, data_root):
    report = ensure_features("dtd", model["tiny"], data_root)
    assert report.extracted == ["train", "test", "val"]  # CoOp's val split is extracted with the others
    for entry in _entries(data_root / ".flexcoder_cache"):
        assert sorted(p.name for p in entry.iterdir()) == ["image.npy", MANIFEST]


def test_manifest_records_shapes_dtypes_hashes_and_the_key_inputs(model, data_root):
    import hashlib

    ensure_features("wikipedia", model["tiny"], data_root)
    items = read_items("wikipedia", data_root)
    key, inputs = feature_key(items, "train", model["tiny"], "fp32")
    entry = data_root / ".flexcoder_cache" / f"wikipedia-train-{key}"
    manifest = json.loads((entry / MANIFEST).read_text())
    assert manifest["key"] == key and manifest["format_version"] == FORMAT_VERSION
    assert manifest["inputs"] == json.loads(json.dumps(inputs))
    assert manifest["inputs"]["backbone"]["preprocess"]["size"] == [32, 32]
    for name in ("image.npy", "text.npy"):
        meta = manifest["files"][name]
        assert meta["shape"] == [len(items.train), TINY_CLIP_EMBED_DIM] and meta["dtype"] == "float32"
        assert meta["sha256"] == hashlib.sha256((entry / name).read_bytes()).hexdigest()
    assert manifest["images_per_second"] > 0 and manifest["seconds"] > 0


def _truncate(entry):
    data = (entry / "image.npy").read_bytes()
    (entry / "image.npy").write_bytes(data[: len(data) // 2])


def _flip_a_byte(entry):
    data = bytearray((entry / "image.npy").read_bytes())
    data[-3] ^= 0xFF
    (entry / "image.npy").write_bytes(bytes(data))


def _drop_manifest(entry):
    (entry / MANIFEST).unlink()


def _drop_text(entry):
    (entry / "text.npy").unlink()


def _garble_manifest(entry):
    (entry / MANIFEST).write_text('{"format_version": 1, "key": ')


def _fewer_rows_consistent_manifest(entry):
    """A well-formed entry for the wrong number of items: hashes and manifest agree, the item count does not."""
    import hashlib

    np.save(entry / "image.npy", np.load(entry / "image.npy")[:-1])
    manifest = json.loads((entry / MANIFEST).read_text())
    manifest["files"]["image.npy"]["shape"][0] -= 1
    manifest["files"]["image.npy"]["sha256"] = hashlib.sha256((entry / "image.npy").read_bytes()).hexdigest()
    (entry / MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    "corrupt",
    [_truncate, _flip_a_byte, _drop_manifest, _drop_text, _garble_manifest, _fewer_rows_consistent_manifest],
    ids=lambda f: f.__name__.strip("_"),
)
def test_a_corrupt_or_partial_entry_is_reported_and_rebuilt_never_used(model, data_root, corrupt):
    ensure_features("wikipedia", model["tiny"], data_root)
    items = read_items("wikipedia", data_root)
    cache = data_root / ".flexcoder_cache"
    good = split_features(items, "train", model["tiny"], cache_dir=cache)
    key, _ = feature_key(items, "train", model["tiny"], "fp32")
    entry = cache / f"wikipedia-train-{key}"
    corrupt(entry)
    with pytest.warns(FeatureCacheWarning, match=f"{entry.name} is corrupt"):
        report = ensure_features("wikipedia", model["tiny"], data_root)
    assert report.extracted == ["train"] and report.rebuilt == ["train"] and report.hit == ["test"]
    again = split_features(items, "train", model["tiny"], cache_dir=cache)
    assert torch.allclose(again.image, good.image, atol=1e-6) and torch.allclose(again.text, good.text, atol=1e-6)
    assert len(_entries(cache)) == 2 and not [p for p in cache.iterdir() if p.name.startswith((".tmp", ".trash"))]


def test_the_key_follows_precision_weights_and_item_files_but_not_where_the_data_root_lives(model, data_root, tmp_path):
    items = read_items("wikipedia", data_root)
    key, _ = feature_key(items, "train", model["tiny"], "fp32")
    moved = tmp_path / "elsewhere"
    shutil.copytree(data_root, moved)
    assert feature_key(read_items("wikipedia", moved), "train", model["tiny"], "fp32")[0] == key
    assert feature_key(items, "test", model["tiny"], "fp32")[0] != key
    assert feature_key(items, "train", model["tiny"], "bf16")[0] != key
    assert feature_key(items, "train", model["other"], "fp32")[0] != key
    with open(items.train.image_paths[0], "ab") as f:  # a re-encoded image changes its size
        f.write(b"\0")
    assert feature_key(read_items("wikipedia", data_root), "train", model["tiny"], "fp32")[0] != key


def test_concurrent_extractions_of_one_entry_extract_it_once(model, data_root):
    """Two extractors at once (separate lock file descriptors, so flock serialises them as it does processes)."""
    reports, errors = [], []

    def run():
        try:
            reports.append(ensure_features("wikipedia", model["tiny"], data_root))
        except Exception as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(s for r in reports for s in r.extracted) == ["test", "train"]
    assert sorted(s for r in reports for s in r.hit) == ["test", "train"]


def test_a_failed_extraction_leaves_no_entry_and_no_temporary_folder(model, data_root):
    items = read_items("wikipedia", data_root)
    Path(items.test.image_paths[1]).write_bytes(b"truncated")
    with pytest.raises(BackboneError, match=f"cannot read image {items.test.image_paths[1]}"):
        ensure_features("wikipedia", model["tiny"], data_root)
    cache = data_root / ".flexcoder_cache"
    assert [p.name.split("-")[1] for p in _entries(cache)] == ["train"]  # train finished before test failed
    assert not [p for p in cache.iterdir() if p.name.startswith((".tmp", ".trash"))]


def test_cache_location_is_the_explicit_folder_then_the_env_var_then_the_data_root(tmp_path, monkeypatch):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    assert cache_dir_for(tmp_path / "data") == (tmp_path / "data" / ".flexcoder_cache").resolve()
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env"))
    assert cache_dir_for(tmp_path / "data") == (tmp_path / "env").resolve()
    assert cache_dir_for(tmp_path / "data", tmp_path / "explicit") == (tmp_path / "explicit").resolve()


def test_real_protocols_use_cached_features_and_the_data_roots_class_names(model, data_root):
    items = read_items("dtd", data_root)
    task = classification_task("dtd", model["tiny"], 1, 0, str(data_root), feature_cache=str(data_root / "fc"))
    assert task.class_names == items.classes == ("banded", "blotchy", "braided", "bubbly", "bumpy")
    assert not task.simulated and task.spec.num_classes == 5
    assert task.support.image.shape == (5, TINY_CLIP_EMBED_DIM) and len(task.test) == len(items.test)
    # Validation is CoOp's own val split (one image per class here), encoded into the cache like train and test.
    val = split_features(items, "val", model["tiny"], cache_dir=data_root / "fc")
    assert len(task.val) == len(items.val) == 5 and torch.equal(task.val.image, val.image)
    assert torch.equal(task.val.labels, torch.from_numpy(items.val.labels))
    prompts = task.encode_text(["a photo of banded texture"])
    assert torch.allclose(prompts, load_backbone(model["tiny"]).encode_text(["a photo of banded texture"]))

    data = load_features("wikipedia", model["tiny"], str(data_root))
    wiki = read_items("wikipedia", data_root)
    assert data.spec.classes == get_dataset("wikipedia").classes and data.spec.n_train == len(wiki.train)
    assert torch.equal(data.train.labels, torch.from_numpy(wiki.train.labels))
    rt = retrieval_task("wikipedia", model["tiny"], 1, 0, str(data_root))
    assert rt.test.text.shape == rt.test.image.shape and not rt.simulated
    assert len(rt.train) == len(rt.source_classes) * 3 + len(rt.target_classes)  # 3 per source class + 1 shot
