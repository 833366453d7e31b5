"""What a backbone string names: parsed and checked without torch, so the grid's driver can validate a space.

A backbone string (YAML `backbone:`, `TrialConfig.backbone`) is one of:
- "simulated": the embedded simulated CLIP world (`flexcoder.data.simulated`); not handled here.
- "MODEL/PRETRAINED", split at the first "/": an open_clip model name (`open_clip.list_models()`) and either a
  pretrained tag ("ViT-B-32/openai") or a weights file. PRETRAINED is a file when it contains a path separator or
  ends in .pt/.pth/.bin/.safetensors: "ViT-B-32//abs/ckpt.pt", "ViT-B-32/./rel.safetensors".
- "hf-hub:ORG/REPO" or "local-dir:/path": open_clip's schemas; config, preprocessing and weights come from the hub
  repo (or the HF cache) or from the folder (open_clip_config.json + weights), so they take no PRETRAINED.

A model name alone (random weights) is refused: it would give meaningless features (our choice).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

SIMULATED = "simulated"
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")
HF_HUB_PREFIX = "hf-hub:"
LOCAL_DIR_PREFIX = "local-dir:"
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "bf16")


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
