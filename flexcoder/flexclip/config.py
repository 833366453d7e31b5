"""FLEX-CLIP configuration (arXiv 2411.17454). Every default the paper leaves open says "our choice" and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class FlexClipConfig:
    """FLEX-CLIP settings.

    Attributes:
        variant: "full" (stage 1 generation + stage 2 gate residual projection), "raw_clip" (no training: cosine
            retrieval on the CLIP features, the paper's CLIP baseline), "no_generation" / "no_gate" (the paper's
            ablations, Sec. IV).
    """

    variant: Literal["full", "raw_clip", "no_generation", "no_gate"] = "full"
