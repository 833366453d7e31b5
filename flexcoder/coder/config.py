"""CODER configuration (arXiv 2404.17753). Every default the paper leaves open says "our choice" and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class CoderConfig:
    """CODER settings.

    Attributes:
        variant: "clip_prompt" (the CLIP baseline: class-name prompt ensemble, zero-shot) or "coder" (the
            cross-modal neighbour representation with the heuristic classifier).
    """

    variant: Literal["clip_prompt", "coder"] = "coder"
