"""open_clip backbones: what a backbone string names, loading it without surprise downloads, batched encoding.

A backbone string (YAML `backbone:`, `TrialConfig.backbone`) is one of:
- "simulated": the embedded simulated CLIP world (`flexcoder.data.simulated`); not handled here.
- "MODEL/PRETRAINED", split at the first "/": an open_clip model name (`open_clip.list_models()`) and either a
  pretrained tag ("ViT-B-32/openai") or a weights file. PRETRAINED is a file when it contains a path separator or
  ends in .pt/.pth/.bin/.safetensors: "ViT-B-32//abs/ckpt.pt", "ViT-B-32/./rel.safetensors".
- "hf-hub:ORG/REPO" or "local-dir:/path": open_clip's schemas; config, preprocessing and weights come from the hub
  repo (or the HF cache) or from the folder (open_clip_config.json + weights), so they take no PRETRAINED.

A model name alone (random weights) is refused: it would give meaningless features (our choice).
Tags resolve through open_clip's Hugging Face cache; with HF_HUB_OFFLINE=1 a tag missing from the cache is an
error that says how to fix it, never a download. Weight files load with `weights_only=True` (open_clip's default).
Outputs of every encoder are float32, L2-normalised, on the CPU, whatever the device and precision.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from flexcoder.runtime import file_sha256, resolve_device

SIMULATED = "simulated"
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")
HF_HUB_PREFIX = "hf-hub:"
LOCAL_DIR_PREFIX = "local-dir:"
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "bf16")
_AUTOCAST = {"fp16": torch.float16, "bf16": torch.bfloat16}
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


class BackboneError(ValueError):
    """A backbone string is malformed, or its weights cannot be found or read; the message says what to do."""


@dataclass(frozen=True)
class BackboneSpec:
    """A parsed backbone string; `str(spec)` gives the string back.

    Attributes:
        model: an open_clip model name, or a whole "hf-hub:ORG/REPO" / "local-dir:PATH" name.
        tag: a pretrained tag of `model` ("openai", "laion2b_s34b_b79k"), or None.
        checkpoint: a weights file as written (relative paths resolve against the working directory), or None.
    """

    model: str
    tag: str | None = None
    checkpoint: str | None = None

    def __str__(self) -> str:
        if self.schema in ("hf-hub", "local-dir"):
            return self.model
        return f"{self.model}/{self.tag if self.tag is not None else self.checkpoint}"

    @property
    def schema(self) -> Literal["tag", "checkpoint", "hf-hub", "local-dir"]:
        if self.model.startswith(HF_HUB_PREFIX):
            return "hf-hub"
        if self.model.startswith(LOCAL_DIR_PREFIX):
            return "local-dir"
        return "tag" if self.tag is not None else "checkpoint"

    @property
    def checkpoint_path(self) -> Path | None:
        return None if self.checkpoint is None else Path(self.checkpoint).expanduser().resolve()

    @property
    def local_dir(self) -> Path | None:
        if self.schema != "local-dir":
            return None
        return Path(self.model[len(LOCAL_DIR_PREFIX) :]).expanduser().resolve()


def parse_backbone(text: str) -> BackboneSpec:
    """Parse an open_clip backbone string (see the module docstring); "simulated" is not one."""
    if not isinstance(text, str) or not text.strip() or text != text.strip():
        raise BackboneError(f"backbone {text!r}: expected a non-empty string without surrounding spaces")
    if text == SIMULATED:
        raise BackboneError("backbone 'simulated' is the embedded simulated world, not an open_clip model")
    if text.startswith(HF_HUB_PREFIX):
        repo = text[len(HF_HUB_PREFIX) :]
        if repo.count("/") != 1 or "" in repo.split("/"):
            raise BackboneError(
                f"backbone {text!r}: expected 'hf-hub:ORG/REPO' (its weights and config come "
                "from that repo, so no /PRETRAINED follows)"
            )
        return BackboneSpec(model=text)
    if text.startswith(LOCAL_DIR_PREFIX):
        if not text[len(LOCAL_DIR_PREFIX) :]:
            raise BackboneError(
                f"backbone {text!r}: expected 'local-dir:/path/to/folder' holding open_clip_config.json and the weights"
            )
        return BackboneSpec(model=text)
    model, sep, pretrained = text.partition("/")
    if not sep or not model or not pretrained:
        raise BackboneError(
            f"backbone {text!r}: expected 'simulated', an open_clip 'MODEL/PRETRAINED' pair (e.g. 'ViT-B-32/openai', "
            "'ViT-B-32//path/to/weights.safetensors'), 'hf-hub:ORG/REPO' or 'local-dir:/path'"
        )
    if _is_file_name(pretrained):
        return BackboneSpec(model=model, checkpoint=pretrained)
    return BackboneSpec(model=model, tag=pretrained)


def _is_file_name(pretrained: str) -> bool:
    return "/" in pretrained or os.sep in pretrained or pretrained.lower().endswith(CHECKPOINT_SUFFIXES)


def as_spec(backbone: str | BackboneSpec) -> BackboneSpec:
    return backbone if isinstance(backbone, BackboneSpec) else parse_backbone(backbone)


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise BackboneError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    return precision


# ----------------------------------------------------------------------------------------------------------------
# Availability and identity: cheap checks that instantiate nothing (the driver's preflight and the cache key).


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
        if _hub_offline():
            repo = spec.model[len(HF_HUB_PREFIX) :]
            if _cached_hub_file(repo, ("open_clip_config.json",)) is None:
                raise BackboneError(_offline_message(str(spec), f"hf-hub repo {repo}"))
        return
    _builtin_model_config(spec)
    if spec.schema == "checkpoint":
        path = spec.checkpoint_path
        if not path.is_file():
            raise BackboneError(f"backbone {spec}: checkpoint file {path} does not exist")
        if not os.access(path, os.R_OK):
            raise BackboneError(f"backbone {spec}: checkpoint file {path} is not readable")
        return
    cfg = _tag_config(spec)
    if _hub_offline() and _cached_tag_weights(cfg) is None:
        raise BackboneError(_offline_message(str(spec), f"weights of {spec.model} tag {spec.tag}"))


def backbone_identity(backbone: str | BackboneSpec) -> dict[str, Any]:
    """What the features of a backbone depend on, as JSON-able values: the architecture, the weights' identity and
    the image preprocessing. Part of the feature cache key (`flexcoder.features`).

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
        model_cfg = _builtin_model_config(spec)
        if spec.schema == "tag":
            cfg = _tag_config(spec)
            preprocess = merge_preprocess_dict(preprocess, cfg)
            quick_gelu = _needs_quick_gelu(model_cfg, cfg)
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
        if _hub_offline():
            raise BackboneError(_offline_message(str(spec), f"hf-hub repo {repo}")) from e
        raise BackboneError(f"backbone {spec}: cannot fetch open_clip_config.json of {repo}: {e}") from e


def _builtin_model_config(spec: BackboneSpec) -> dict:
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


def _tag_config(spec: BackboneSpec) -> dict:
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


def _needs_quick_gelu(model_cfg: dict, tag_cfg: dict) -> bool:
    """OpenAI's weights were trained with QuickGELU; open_clip only warns when "ViT-B-32/openai" builds the model
    with nn.GELU, which silently degrades the features. We force QuickGELU whenever the tag says so."""
    return bool(tag_cfg.get("quick_gelu", False)) and not model_cfg.get("quick_gelu", False)


def _hub_offline() -> bool:
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


def _offline_message(backbone: str, what: str) -> str:
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


# ----------------------------------------------------------------------------------------------------------------
# Loading and encoding.


class Backbone:
    """A loaded open_clip model with its image preprocessing and tokenizer, in eval mode on `device`.

    Precision: the weights stay fp32 and "fp16"/"bf16" run the forward passes under torch.autocast (our choice:
    autocast keeps LayerNorm and softmax in fp32, as open_clip's mixed "fp16" does, and works on CPU too).
    """

    def __init__(
        self,
        spec: BackboneSpec,
        model: torch.nn.Module,
        preprocess: Any,
        tokenizer: Any,
        device: torch.device,
        precision: str,
    ):
        self.spec = spec
        self.model = model
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.device = device
        self.precision = precision
        self.calls = {"images": 0, "texts": 0}  # items encoded by this instance: tests and reports read it

    @property
    def preprocess_config(self) -> dict[str, Any]:
        return dict(getattr(self.model.visual, "preprocess_cfg", {}))

    def _autocast(self):
        if self.precision == "fp32":
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=_AUTOCAST[self.precision])

    def encode_image_batch(self, pixels: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] preprocessed pixels -> [B, D] float32 L2-normalised features on the CPU."""
        with torch.inference_mode(), self._autocast():
            feats = self.model.encode_image(pixels.to(self.device, non_blocking=True))
        self.calls["images"] += pixels.shape[0]
        return torch.nn.functional.normalize(feats.float(), dim=-1).cpu()

    def encode_text(self, texts: Sequence[str], batch_size: int = 256, desc: str | None = None) -> torch.Tensor:
        """Texts -> [N, D] float32 L2-normalised features on the CPU; texts longer than the model's context are
        truncated by its tokenizer (open_clip's behaviour). `desc` shows a progress display under that name."""
        texts = list(texts)
        out = []
        progress = make_progress(len(texts), desc, unit="text") if desc else None
        for start in range(0, len(texts), batch_size):
            tokens = self.tokenizer(texts[start : start + batch_size]).to(self.device)
            with torch.inference_mode(), self._autocast():
                feats = self.model.encode_text(tokens)
            out.append(torch.nn.functional.normalize(feats.float(), dim=-1).cpu())
            if progress is not None:
                progress.update(len(tokens))
        if progress is not None:
            progress.close()
        self.calls["texts"] += len(texts)
        if not out:
            return torch.empty(0, self.embed_dim)
        return torch.cat(out)

    @property
    def embed_dim(self) -> int:
        """Width of the joint embedding: the output size of both towers."""
        for name in ("text_projection", "visual.proj"):
            obj = self.model
            for part in name.split("."):
                obj = getattr(obj, part, None)
            if isinstance(obj, torch.Tensor):
                return int(obj.shape[-1])
        with torch.inference_mode():
            return int(self.model.encode_text(self.tokenizer(["a"]).to(self.device)).shape[-1])

    def encode_image_files(
        self, paths: Sequence[str], batch_size: int = 64, num_workers: int | None = None, desc: str = "images"
    ) -> torch.Tensor:
        """Decode (PIL, RGB), preprocess and encode image files in batches, with a progress display.

        num_workers: DataLoader decode processes; None picks `default_loader_workers(device)`.
        Raises BackboneError naming the first file that cannot be read.
        """
        from torch.utils.data import DataLoader

        paths = list(paths)
        workers = default_loader_workers(self.device) if num_workers is None else num_workers
        loader = DataLoader(
            _ImageFiles(paths, self.preprocess),
            batch_size=batch_size,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
        )
        out = []
        progress = make_progress(len(paths), desc)
        try:
            for pixels in loader:
                out.append(self.encode_image_batch(pixels))
                progress.update(pixels.shape[0])
        except BackboneError as e:  # from a DataLoader worker, the message carries the worker's traceback too
            message = str(e)
            if "cannot read image" not in message:
                raise
            raise BackboneError(message[message.rindex("cannot read image") :].split("\n")[0]) from None
        finally:
            progress.close()
        if not out:
            return torch.empty(0, self.embed_dim)
        return torch.cat(out)


def default_loader_workers(device: torch.device) -> int:
    """DataLoader decode processes: none on CPU (our choice: decoding and encoding share the same cores; on 2 busy
    cores, 1 or 2 workers gave no consistent gain over none for the tiny model: 166-629 vs 196-606 img/s), up to 8
    on CUDA, where decoding is the bottleneck."""
    if device.type != "cuda":
        return 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(0, min(8, cpus - 1))


class _ImageFiles(torch.utils.data.Dataset):
    def __init__(self, paths: Sequence[str], preprocess: Any):
        self.paths = paths
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        from PIL import Image

        path = self.paths[i]
        try:
            with Image.open(path) as im:
                return self.preprocess(im.convert("RGB"))
        except Exception as e:  # PIL raises OSError, UnidentifiedImageError, DecompressionBombError, ...
            raise BackboneError(f"cannot read image {path}: {type(e).__name__}: {e}") from e


class _LineProgress:
    """Progress as a plain line every `every_s` seconds: for logs and Ray workers, where stderr is not a terminal."""

    def __init__(self, total: int, desc: str, unit: str, every_s: float = 30.0):
        self.total, self.desc, self.unit, self.every_s = total, desc, unit, every_s
        self.done = 0
        self.start = self.last = time.perf_counter()

    def update(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self.last >= self.every_s:
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            print(
                f"[features] {self.desc}: {self.done}/{self.total} ({rate:.0f} {self.unit}/s)",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        pass


def make_progress(total: int, desc: str, unit: str = "img"):
    """A tqdm bar on an interactive stderr, else a line every 30 s (our choice: a bar redrawn into a log file is noise,
    silence on a long extraction looks like a hang)."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False)
    return _LineProgress(total, desc, unit)


def load_backbone(backbone: str | BackboneSpec, device: str = "auto", precision: str = "fp32") -> Backbone:
    """Load a backbone once per process per (backbone, device, precision); later calls return the same object."""
    spec = as_spec(backbone)
    return _load_backbone(spec, str(resolve_device(device)), check_precision(precision))


@functools.lru_cache(maxsize=2)
def _load_backbone(spec: BackboneSpec, device: str, precision: str) -> Backbone:
    import open_clip

    check_backbone_available(spec)
    kwargs: dict[str, Any] = {"device": device, "weights_only": True}
    if spec.schema == "tag":
        kwargs["pretrained"] = spec.tag
        kwargs["force_quick_gelu"] = _needs_quick_gelu(_builtin_model_config(spec), _tag_config(spec))
    elif spec.schema == "checkpoint":
        kwargs["pretrained"] = str(spec.checkpoint_path)
    name = spec.model if spec.schema != "local-dir" else f"{LOCAL_DIR_PREFIX}{spec.local_dir}"
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(name, **kwargs)
    except Exception as e:
        raise BackboneError(_load_failure(spec, e)) from e
    tokenizer = open_clip.get_tokenizer(name)
    return Backbone(spec, model.eval(), preprocess, tokenizer, torch.device(device), precision)


def _load_failure(spec: BackboneSpec, error: Exception) -> str:
    if spec.schema == "checkpoint":
        hint = (
            "; a checkpoint must be a state dict of this architecture (torch.save(model.state_dict()) or "
            "safetensors), loadable with torch.load(weights_only=True)"
        )
        return f"backbone {spec}: cannot load checkpoint {spec.checkpoint_path} into {spec.model}: {error}{hint}"
    if spec.schema == "local-dir":
        return f"backbone {spec}: cannot load the folder {spec.local_dir}: {error}"
    if _hub_offline():
        what = f"weights of {spec.model} tag {spec.tag}" if spec.schema == "tag" else f"repo {spec.model}"
        return _offline_message(str(spec), what) + f" ({error})"
    return (
        f"backbone {spec}: cannot load its weights ({error}). Without internet, populate the Hugging Face cache "
        "first and set HF_HUB_OFFLINE=1, or name a weights file ('MODEL//path/to/weights')."
    )
