"""CLIP features of real datasets, extracted once into a content-addressed on-disk cache.

An entry holds one split of one dataset under one backbone: `image.npy` [N, D] and, for retrieval datasets,
`text.npy` [N, D] (each item's paired text), float32 and L2-normalised, plus `manifest.json` (shapes, dtypes, the
sha256 of each file, and the key's inputs for humans). Labels stay with the items (`flexcoder.data.items`): they
cost nothing to re-read and keep the cache independent of label edits that change no image.

The key is sha256 over FORMAT_VERSION, the split's fingerprint (class names, image paths relative to the
dataset folder, file sizes, texts, labels), the backbone's identity (architecture, the weights' hash or tag,
the image preprocessing: size, mean, std, interpolation, resize mode) and the precision. The extraction device
is not in it (our choice: fp32 on CPU and CUDA agree to ~1e-6, far below what moves a retrieval rank).

Location: `cache_dir` when given (TrialConfig.feature_cache), else $FLEXCODER_CACHE, else
`<data_root>/.flexcoder_cache` (our choice: it sits with the data, which on a cluster is storage every node
shares, so one node's extraction serves every trial).

Writes are atomic (a temporary folder, fsync, one rename), and an exclusive `fcntl.flock` on `.locks/<entry>.lock`
keeps two processes from extracting the same entry at once (the second waits and then reads). Reads verify
the manifest, shapes, dtypes and hashes; a corrupt or partial entry is reported (FeatureCacheWarning) and rebuilt,
never used.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from flexcoder.data.items import DatasetItems, ItemSplit
from flexcoder.data.reading import read_items
from flexcoder.features.backbone import load_backbone
from flexcoder.features.backbone_files import backbone_identity
from flexcoder.features.backbone_names import BackboneSpec, as_spec, check_precision
from flexcoder.file_hash import file_sha256

FORMAT_VERSION = 1
CACHE_ENV = "FLEXCODER_CACHE"
CACHE_FOLDER = ".flexcoder_cache"
MANIFEST = "manifest.json"
IMAGE_BATCH = 64  # our choice: fills a CPU's cores and keeps a ViT-L batch well under 2 GB of activations


class FeatureCacheWarning(UserWarning):
    """A cache entry was corrupt or partial and is being rebuilt."""


def cache_dir_for(data_root: str | Path | None, cache_dir: str | Path | None = None) -> Path:
    """Where features live: `cache_dir`, else $FLEXCODER_CACHE, else <data_root>/.flexcoder_cache."""
    if cache_dir:
        return Path(cache_dir).expanduser().resolve()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser().resolve()
    if data_root is None:
        raise ValueError(f"no feature cache location: set data_root, feature_cache or ${CACHE_ENV}")
    return (Path(data_root).expanduser() / CACHE_FOLDER).resolve()


def feature_key(items: DatasetItems, split: str, backbone: str | BackboneSpec, precision: str) -> tuple[str, dict]:
    """(hex key, the inputs it hashes) for one split's features; see the module docstring."""
    inputs = {
        "format_version": FORMAT_VERSION,
        "dataset": items.name,
        "split": split,
        "items": items.fingerprint(split),
        "backbone": backbone_identity(backbone),
        "precision": check_precision(precision),
    }
    return content_key(inputs), inputs


def content_key(inputs: dict) -> str:
    """An entry's key: sha256 of its inputs as canonical JSON (sorted keys, no spaces)."""
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class SplitFeatures:
    """One split's cached features: image [N, D] and text [N, D] or None, float32, L2-normalised."""

    image: torch.Tensor
    text: torch.Tensor | None


class CorruptEntry(Exception):
    pass


class FeatureCache:
    """The folder of entries `<dataset>-<split>-<key>/`, with their lock files under `.locks/`."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def entry(self, dataset: str, split: str, key: str) -> Path:
        return self.root / f"{dataset}-{split}-{key}"

    @contextlib.contextmanager
    def lock(self, entry: Path) -> Iterator[None]:
        """Exclusive lock on `.locks/<entry>.lock` (flock: released by the kernel if the holder dies; lock files are
        never deleted, since deleting one while another process waits on it would let a third lock a new file)."""
        import fcntl

        (self.root / ".locks").mkdir(parents=True, exist_ok=True)
        with open(self.root / ".locks" / f"{entry.name}.lock", "a+") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def read(self, entry: Path, key: str, n_items: int, with_text: bool) -> SplitFeatures | None:
        """The verified entry, None when absent; raises CorruptEntry when present but not valid."""
        if not entry.exists():
            return None
        try:
            manifest = json.loads((entry / MANIFEST).read_text())
        except (OSError, ValueError) as e:
            raise CorruptEntry(f"unreadable {MANIFEST}: {e}") from e
        if manifest.get("format_version") != FORMAT_VERSION or manifest.get("key") != key:
            raise CorruptEntry(
                f"{MANIFEST} is for key {manifest.get('key')!r}, format {manifest.get('format_version')}"
            )
        expected = {"image.npy"} | ({"text.npy"} if with_text else set())
        files = manifest.get("files", {})
        if set(files) != expected:
            raise CorruptEntry(f"{MANIFEST} lists {sorted(files)}, expected {sorted(expected)}")
        arrays = {}
        for name, meta in files.items():
            path = entry / name
            try:
                data = path.read_bytes()
            except OSError as e:
                raise CorruptEntry(f"{name}: {e}") from e
            if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
                raise CorruptEntry(f"{name}: sha256 differs from the manifest (truncated or modified)")
            try:
                array = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as e:
                raise CorruptEntry(f"{name}: {e}") from e
            if list(array.shape) != meta.get("shape") or str(array.dtype) != meta.get("dtype"):
                raise CorruptEntry(
                    f"{name}: {array.dtype} {list(array.shape)}, manifest says {meta.get('dtype')} {meta.get('shape')}"
                )
            if array.ndim != 2 or array.shape[0] != n_items or array.dtype != np.float32:
                raise CorruptEntry(f"{name}: {array.dtype} {array.shape} for {n_items} items")
            arrays[name] = array
        image = torch.from_numpy(arrays["image.npy"])
        text = torch.from_numpy(arrays["text.npy"]) if with_text else None
        return SplitFeatures(image, text)

    def write(self, entry: Path, key: str, features: SplitFeatures, inputs: dict, stats: dict) -> None:
        """Write an entry atomically: into a temporary folder beside it, fsync'd, then renamed into place; an old
        (corrupt) entry is moved aside and deleted first. Call under `lock(entry)`."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{entry.name}-", dir=self.root))
        try:
            files = {}
            arrays = {"image.npy": features.image}
            if features.text is not None:
                arrays["text.npy"] = features.text
            for name, tensor in arrays.items():
                array = np.ascontiguousarray(tensor.numpy().astype(np.float32, copy=False))
                with open(tmp / name, "wb") as f:
                    np.save(f, array, allow_pickle=False)
                    f.flush()
                    os.fsync(f.fileno())
                files[name] = {"shape": list(array.shape), "dtype": str(array.dtype), "sha256": file_sha256(tmp / name)}
            manifest = {
                "format_version": FORMAT_VERSION,
                "key": key,
                "files": files,
                "inputs": inputs,
                "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                **stats,
            }
            with open(tmp / MANIFEST, "w") as f:
                json.dump(manifest, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            _fsync_dir(tmp)
            if entry.exists():
                trash = Path(tempfile.mkdtemp(prefix=f".trash-{entry.name}-", dir=self.root))
                os.rename(entry, trash / "old")
                shutil.rmtree(trash, ignore_errors=True)
            os.rename(tmp, entry)
            _fsync_dir(self.root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class FeatureReport:
    """What `ensure_features` found: which splits were cache hits and which were extracted, and how fast."""

    dataset: str
    backbone: str
    hit: list[str] = field(default_factory=list)
    extracted: list[str] = field(default_factory=list)
    rebuilt: list[str] = field(default_factory=list)  # extracted because the entry was corrupt
    images: int = 0  # images encoded (0 on a full hit)
    seconds: float = 0.0  # time spent extracting
    cache_dir: str = ""

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        how = f"{len(self.extracted)} extracted, {len(self.hit)} cached"
        if self.rebuilt:
            how += f" ({len(self.rebuilt)} rebuilt after corruption)"
        speed = (
            f"; {self.images} images in {self.seconds:.1f}s ({self.images_per_second:.1f} img/s)" if self.images else ""
        )
        return f"{self.dataset} x {self.backbone}: {how}{speed} [{self.cache_dir}]"


def split_features(
    items: DatasetItems,
    split: str,
    backbone: str | BackboneSpec,
    *,
    precision: str = "fp32",
    cache_dir: str | Path,
    device: str = "auto",
    num_workers: int | None = None,
    report: FeatureReport | None = None,
) -> SplitFeatures:
    """One split's features from the cache, extracting (under the entry's lock) when absent or corrupt."""
    spec = as_spec(backbone)
    key, inputs = feature_key(items, split, spec, precision)
    cache = FeatureCache(cache_dir)
    part = items.split(split)

    def build() -> SplitFeatures:
        return _extract(items, split, part, spec, precision, device, num_workers, cache, entry, key, inputs, report)

    entry = cache.entry(items.name, split, key)
    return cached_entry(cache, entry, key, len(part), part.texts is not None, build, report, split)


def cached_entry(
    cache: FeatureCache,
    entry: Path,
    key: str,
    n_items: int,
    with_text: bool,
    build: Callable[[], SplitFeatures],
    report: FeatureReport | None = None,
    label: str = "",
) -> SplitFeatures:
    """The verified entry, else `build()` under the entry's lock (which writes it); a corrupt entry is rebuilt with
    a FeatureCacheWarning. `report` records `label` as a hit or an extraction."""
    found, problem = _try_read(cache, entry, key, n_items, with_text)
    if found is None:
        with cache.lock(entry):
            found, problem = _try_read(cache, entry, key, n_items, with_text)  # built by another process meanwhile?
            if found is None:
                if problem is not None:
                    warnings.warn(
                        f"feature cache entry {entry} is corrupt ({problem}); rebuilding it",
                        FeatureCacheWarning,
                        stacklevel=3,
                    )
                found = build()
                if report is not None:
                    report.extracted.append(label)
                    if problem is not None:
                        report.rebuilt.append(label)
                return found
    if report is not None:
        report.hit.append(label)
    return found


def _try_read(
    cache: FeatureCache, entry: Path, key: str, n_items: int, with_text: bool
) -> tuple[SplitFeatures | None, str | None]:
    try:
        return cache.read(entry, key, n_items, with_text), None
    except CorruptEntry as e:
        return None, str(e)


def _extract(
    items: DatasetItems,
    split: str,
    part: ItemSplit,
    spec: BackboneSpec,
    precision: str,
    device: str,
    num_workers: int | None,
    cache: FeatureCache,
    entry: Path,
    key: str,
    inputs: dict,
    report: FeatureReport | None,
) -> SplitFeatures:
    backbone = load_backbone(spec, device, precision)
    start = time.perf_counter()
    image = backbone.encode_image_files(part.image_paths, IMAGE_BATCH, num_workers, desc=f"{items.name}/{split}")
    text = None if part.texts is None else backbone.encode_text(part.texts, desc=f"{items.name}/{split} texts")
    seconds = time.perf_counter() - start
    features = SplitFeatures(image, text)
    stats = {
        "seconds": round(seconds, 3),
        "device": str(backbone.device),
        "images_per_second": round(len(part) / seconds, 2) if seconds > 0 else None,
        "preprocess_loaded": _jsonable(backbone.preprocess_config),
    }
    cache.write(entry, key, features, inputs, stats)
    if report is not None:
        report.images += len(part)
        report.seconds += seconds
    return features


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def ensure_features(
    dataset: str,
    backbone: str,
    data_root: str | Path,
    *,
    precision: str = "fp32",
    cache_dir: str | Path | None = None,
    device: str = "auto",
    num_workers: int | None = None,
) -> FeatureReport:
    """Fill the cache for every split of a dataset under a backbone; the grid's driver runs this once per
    (dataset, backbone, data root, precision) before any trial starts, so N trials never extract N times."""
    root = cache_dir_for(data_root, cache_dir)
    report = FeatureReport(dataset, str(backbone), cache_dir=str(root))
    items = read_items(dataset, data_root)
    for split in items.splits:
        split_features(
            items,
            split,
            backbone,
            precision=precision,
            cache_dir=root,
            device=device,
            num_workers=num_workers,
            report=report,
        )
    return report
