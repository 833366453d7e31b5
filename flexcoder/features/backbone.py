"""A loaded open_clip backbone and its batched encoders; loaded once per process, never downloaded by surprise.

Weight files load with `weights_only=True` (open_clip's default). Outputs of every encoder are float32,
L2-normalised, on the CPU, whatever the device and precision.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any

import torch

from flexcoder.features.backbone_files import (
    builtin_model_config,
    check_backbone_available,
    hub_offline,
    needs_quick_gelu,
    offline_message,
    tag_config,
)
from flexcoder.features.backbone_names import (
    LOCAL_DIR_PREFIX,
    BackboneError,
    BackboneSpec,
    as_spec,
    check_precision,
)
from flexcoder.features.progress import make_progress
from flexcoder.runtime import resolve_device

_AUTOCAST = {"fp16": torch.float16, "bf16": torch.bfloat16}


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

    def encode_image_batch(self, pixels: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """[B, 3, H, W] preprocessed pixels -> [B, D] float32 features on the CPU, L2-normalised unless not
        `normalize` (the augmented support passes average raw features, as the official caches do)."""
        with torch.inference_mode(), self._autocast():
            feats = self.model.encode_image(pixels.to(self.device, non_blocking=True))
        self.calls["images"] += pixels.shape[0]
        feats = feats.float()
        return (torch.nn.functional.normalize(feats, dim=-1) if normalize else feats).cpu()

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
        self,
        paths: Sequence[str],
        batch_size: int = 64,
        num_workers: int | None = None,
        desc: str = "images",
        transform: Any = None,
        normalize: bool = True,
    ) -> torch.Tensor:
        """Decode (PIL, RGB), preprocess and encode image files in batches, with a progress display.

        num_workers: DataLoader decode processes; None picks `default_loader_workers(device)`.
        transform: PIL image -> pixels; None is the model's own preprocessing. normalize: see `encode_image_batch`.
        Raises BackboneError naming the first file that cannot be read.
        """
        from torch.utils.data import DataLoader

        paths = list(paths)
        workers = default_loader_workers(self.device) if num_workers is None else num_workers
        loader = DataLoader(
            _ImageFiles(paths, self.preprocess if transform is None else transform),
            batch_size=batch_size,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
        )
        out = []
        progress = make_progress(len(paths), desc)
        try:
            for pixels in loader:
                out.append(self.encode_image_batch(pixels, normalize))
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
        kwargs["force_quick_gelu"] = needs_quick_gelu(builtin_model_config(spec), tag_config(spec))
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
    if hub_offline():
        what = f"weights of {spec.model} tag {spec.tag}" if spec.schema == "tag" else f"repo {spec.model}"
        return offline_message(str(spec), what) + f" ({error})"
    return (
        f"backbone {spec}: cannot load its weights ({error}). Without internet, populate the Hugging Face cache "
        "first and set HF_HUB_OFFLINE=1, or name a weights file ('MODEL//path/to/weights')."
    )
