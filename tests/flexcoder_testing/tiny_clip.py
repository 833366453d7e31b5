"""A tiny random-weight open_clip model, usable three ways through the same code as real weights.

- `register_tiny_clip(folder)`: writes the model config as JSON and registers it in this process
  (`open_clip.add_model_config`), so "Tiny-Test//path/ckpt.pt" names a built-in-style model with a weights file.
- `save_tiny_checkpoint(path)`: a state dict file (`.pt` via torch.save, or `.safetensors`) for that name.
- `save_tiny_local_dir(folder)`: an open_clip `local-dir:` folder (open_clip_config.json + open_clip_model.safetensors).
  Ray workers do not share in-process registrations, so grid tests name the model "local-dir:<folder>".

The sizes (it builds offline in 0.1 s): 32x32 images, 8x8 patches,
two layers per tower, 32-d embeddings; vocab_size stays 49408 so open_clip's bundled SimpleTokenizer fits.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch

TINY_CLIP_NAME = "Tiny-Test"
TINY_CLIP_EMBED_DIM = 32
TINY_CLIP_CONFIG = {
    "embed_dim": TINY_CLIP_EMBED_DIM,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}


def register_tiny_clip(folder: Path, name: str = TINY_CLIP_NAME) -> str:
    """Register the tiny config under `name` in this process; returns the name."""
    import open_clip

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(TINY_CLIP_CONFIG))
    open_clip.add_model_config(path)
    return name


def build_tiny_clip(seed: int = 0) -> torch.nn.Module:
    """The tiny CLIP with weights drawn from `seed` (open_clip's own init under a fixed torch seed)."""
    import open_clip

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return open_clip.CLIP(**copy.deepcopy(TINY_CLIP_CONFIG)).eval()


def save_tiny_checkpoint(path: Path, seed: int = 0) -> Path:
    """A weights file for the registered tiny config: safetensors when `path` ends in .safetensors, else torch.save."""
    state = build_tiny_clip(seed).state_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    return path


def save_tiny_local_dir(folder: Path, seed: int = 0) -> str:
    """Write an open_clip `local-dir:` folder holding the tiny model; returns the backbone string for it."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    # No preprocess_cfg: open_clip's defaults (OpenAI mean/std, bicubic, shortest-side resize) apply, sized 32.
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CLIP_CONFIG}))
    state = build_tiny_clip(seed).state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "open_clip_model.safetensors"))
    return f"local-dir:{folder.resolve()}"
