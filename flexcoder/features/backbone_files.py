"""Where a backbone's config and weights are, found without loading anything: the availability check the driver
runs before Ray starts, and the identity that keys the feature cache.

Tags resolve through open_clip's Hugging Face cache; with HF_HUB_OFFLINE=1 a tag missing from the cache is an
error that says how to fix it, never a download.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from flexcoder.features.backbone_names import (
    CHECKPOINT_SUFFIXES,
    HF_HUB_PREFIX,
    LOCAL_DIR_PREFIX,
    BackboneError,
    BackboneSpec,
    as_spec,
)
from flexcoder.file_hash import file_sha256

# open_clip's file names inside a hub repo or a local-dir folder, in its order of preference (factory.py).
_WEIGHT_FILES = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pth",
    "model.safetensors",
    "pytorch_model.bin",
    "pytorch_model.pth",
    "model.pth",
)


def check_backbone_available(backbone: str | BackboneSpec) -> None:
    """Raise BackboneError unless the backbone's config and weights can be had without instantiating it: the file
    or folder exists, the model and tag are known to open_clip, and under HF_HUB_OFFLINE=1 the weights are cached."""
    spec = as_spec(backbone)
    if spec.schema == "local-dir":
        _local_dir_config(spec)
        if _local_dir_weights(spec) is None:
            raise BackboneError(
                f"backbone {spec}: no weights file in {spec.local_dir} (expected one of "
                f"{', '.join(_WEIGHT_FILES[:3])}, ...)"
            )
        return
    if spec.schema == "hf-hub":
        if hub_offline():
            repo = spec.model[len(HF_HUB_PREFIX) :]
            if _cached_hub_file(repo, ("open_clip_config.json",)) is None:
                raise BackboneError(offline_message(str(spec), f"hf-hub repo {repo}"))
        return
    builtin_model_config(spec)
    if spec.schema == "checkpoint":
        path = spec.checkpoint_path
        if not path.is_file():
            raise BackboneError(f"backbone {spec}: checkpoint file {path} does not exist")
        if not os.access(path, os.R_OK):
            raise BackboneError(f"backbone {spec}: checkpoint file {path} is not readable")
        return
    cfg = tag_config(spec)
    if hub_offline() and _cached_tag_weights(cfg) is None:
        raise BackboneError(offline_message(str(spec), f"weights of {spec.model} tag {spec.tag}"))


def backbone_identity(backbone: str | BackboneSpec) -> dict[str, Any]:
    """What the features of a backbone depend on, as JSON-able values: the architecture, the weights' identity and
    the image preprocessing. Part of the feature cache key (`flexcoder.features.cache`).

    Weights: a file is identified by its sha256 (so moving or renaming it keeps its cache); a local-dir by the
    sha256 of its config and weights; a tag by open_clip's source for it; an hf-hub repo by its name (our choice:
    the hub's commit is unknown before the first download, and the key must not change with it; pin exact weights
    with local-dir). Preprocessing is computed as open_clip will (defaults, then the tag's or folder's overrides,
    the size from the vision config), without instantiating the model.
    """
    spec = as_spec(backbone)
    from open_clip.transform import PreprocessCfg, merge_preprocess_dict

    preprocess = asdict(PreprocessCfg())
    quick_gelu = False
    if spec.schema == "local-dir":
        raw = _local_dir_config(spec)
        model_cfg = raw["model_cfg"]
        preprocess = merge_preprocess_dict(preprocess, raw.get("preprocess_cfg", {}))
        weights = {
            "config_sha256": _sha256_file(spec.local_dir / "open_clip_config.json"),
            "weights_sha256": _sha256_file(_local_dir_weights(spec)),
        }
    elif spec.schema == "hf-hub":
        raw = _hub_config(spec)
        model_cfg = raw["model_cfg"]
        preprocess = merge_preprocess_dict(preprocess, raw.get("preprocess_cfg", {}))
        weights = {"hf_hub": spec.model[len(HF_HUB_PREFIX) :]}
    else:
        model_cfg = builtin_model_config(spec)
        if spec.schema == "tag":
            cfg = tag_config(spec)
            preprocess = merge_preprocess_dict(preprocess, cfg)
            quick_gelu = needs_quick_gelu(model_cfg, cfg)
            weights = {"tag": spec.tag, "source": cfg.get("hf_hub") or cfg.get("url") or cfg.get("file", "")}
        else:
            weights = {"checkpoint_sha256": _sha256_file(spec.checkpoint_path)}
    size = model_cfg.get("vision_cfg", {}).get("image_size", preprocess["size"])
    preprocess["size"] = list(size) if isinstance(size, (list, tuple)) else [size, size]
    preprocess = {k: list(v) if isinstance(v, tuple) else v for k, v in sorted(preprocess.items())}
    return {"model": _model_name(spec), "weights": weights, "quick_gelu": quick_gelu, "preprocess": preprocess}


def _model_name(spec: BackboneSpec) -> str:
    if spec.schema == "local-dir":
        return LOCAL_DIR_PREFIX  # the folder's path is not part of its identity; its content is
    return spec.model


def _local_dir_config(spec: BackboneSpec) -> dict:
    folder = spec.local_dir
    path = folder / "open_clip_config.json"
    if not folder.is_dir():
        raise BackboneError(f"backbone {spec}: folder {folder} does not exist")
    if not path.is_file():
        raise BackboneError(
            f"backbone {spec}: {path} is missing (a local-dir folder holds open_clip_config.json "
            "with model_cfg, and the weights)"
        )
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise BackboneError(f"backbone {spec}: cannot read {path}: {e}") from e
    if not isinstance(raw, dict) or "model_cfg" not in raw:
        raise BackboneError(f"backbone {spec}: {path} has no 'model_cfg'")
    return raw


def _local_dir_weights(spec: BackboneSpec) -> Path | None:
    """The file open_clip will load from a local-dir folder: its preferred names first, else the first by name."""
    folder = spec.local_dir
    for name in _WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    others = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin", ".pth"))
    others.sort(key=lambda p: p.suffix != ".safetensors")
    return others[0] if others else None


def _hub_config(spec: BackboneSpec) -> dict:
    from open_clip.pretrained import download_pretrained_from_hf

    repo = spec.model[len(HF_HUB_PREFIX) :]
    try:
        path = download_pretrained_from_hf(repo, filename="open_clip_config.json")
        return json.loads(Path(path).read_text())
    except Exception as e:
        if hub_offline():
            raise BackboneError(offline_message(str(spec), f"hf-hub repo {repo}")) from e
        raise BackboneError(f"backbone {spec}: cannot fetch open_clip_config.json of {repo}: {e}") from e


def builtin_model_config(spec: BackboneSpec) -> dict:
    import open_clip

    cfg = open_clip.get_model_config(spec.model)
    if cfg is None:
        known = open_clip.list_models()
        close = [m for m in known if m.lower().startswith(spec.model.lower().split("-")[0])][:10]
        raise BackboneError(
            f"backbone {spec}: unknown open_clip model {spec.model!r}; similar: "
            f"{', '.join(close) or ', '.join(known[:10])} (all: open_clip.list_models())"
        )
    return cfg


def tag_config(spec: BackboneSpec) -> dict:
    import open_clip

    cfg = open_clip.get_pretrained_cfg(spec.model, spec.tag)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(spec.model)
        raise BackboneError(
            f"backbone {spec}: {spec.tag!r} is not a pretrained tag of {spec.model} (tags: "
            f"{', '.join(tags) or 'none'}) nor a weights file (a file needs a path separator or "
            f"one of {', '.join(CHECKPOINT_SUFFIXES)})"
        )
    return cfg


def needs_quick_gelu(model_cfg: dict, tag_cfg: dict) -> bool:
    """OpenAI's weights were trained with QuickGELU; open_clip only warns when "ViT-B-32/openai" builds the model
    with nn.GELU, which silently degrades the features. We force QuickGELU whenever the tag says so."""
    return bool(tag_cfg.get("quick_gelu", False)) and not model_cfg.get("quick_gelu", False)


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _cached_hub_file(repo: str, names: Sequence[str]) -> str | None:
    from huggingface_hub import try_to_load_from_cache

    for name in names:
        found = try_to_load_from_cache(repo, name)
        if isinstance(found, str):
            return found
    return None


def _cached_tag_weights(cfg: dict) -> str | None:
    """Where open_clip would find a tag's weights without downloading (its own lookup order), or None."""
    if cfg.get("file"):
        return cfg["file"] if os.path.isfile(cfg["file"]) else None
    if cfg.get("hf_hub"):
        repo, filename = os.path.split(cfg["hf_hub"])  # "org/repo/" names the repo's default weights file
        names = [filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        if filename.endswith((".bin", ".pth")):
            names.insert(0, filename[:-4] + ".safetensors")
        return _cached_hub_file(repo, names)
    if cfg.get("url"):
        path = Path("~/.cache/clip").expanduser() / os.path.basename(cfg["url"])
        return str(path) if path.is_file() else None
    return None


def offline_message(backbone: str, what: str) -> str:
    from huggingface_hub import constants

    return (
        f"backbone {backbone}: the {what} are not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and "
        "HF_HUB_OFFLINE=1 forbids downloading them. Populate the cache on a machine with internet (python -c "
        "\"import open_clip; open_clip.create_model('MODEL', pretrained='TAG')\") and copy it here, point "
        "HF_HOME at a populated cache visible to every worker, or name a weights file: "
        "'MODEL//path/to/weights'."
    )


@functools.lru_cache(maxsize=64)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    return file_sha256(path)


def _sha256_file(path: Path) -> str:
    """sha256 of a file's bytes, computed once per process per (path, size, mtime)."""
    try:
        st = path.stat()
        return _sha256_cached(str(path), st.st_size, st.st_mtime_ns)
    except OSError as e:
        raise BackboneError(f"cannot read {path}: {e}") from e
