"""Stage-2 networks: the gate residual projector and the shared classifier (paper Sec. III-E1).

Per modality m: h = P_m(x) (an MLP into the common space, same width as CLIP), g = sigmoid(W_g [x; h] + b_g)
(element-wise), z = g * h + (1 - g) * x. When the gate closes (g -> 0) z is exactly the CLIP feature x: the
residual identity that lets the model keep CLIP's knowledge and reduce "feature degradation" in X-shot settings.
(Written g * x + (1 - g) * f(x) elsewhere, the same family with g relabelled 1 - g. Our choice of labelling: g is
the share of the *projected* feature, so "gate closed" means "raw CLIP".)
The "w/o gate" ablation (Sec. IV) uses z = P_m(x).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Projector(nn.Module):
    """P_m: Linear -> LeakyReLU(0.2) -> Linear, dim -> hidden -> dim (docs/methods.md §2.3: "multi-layer fully
    connected"; our choice: two layers)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class GateResidual(nn.Module):
    """z = g * P(x) + (1 - g) * x with g = sigmoid(W [x; P(x)] + b)."""

    def __init__(self, dim: int, hidden: int, gate_bias: float = 0.0):
        super().__init__()
        self.projector = Projector(dim, hidden)
        self.gate = nn.Linear(2 * dim, dim)
        nn.init.constant_(self.gate.bias, gate_bias)

    def gate_and_projection(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.projector(x)
        return torch.sigmoid(self.gate(torch.cat([x, h], -1))), h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g, h = self.gate_and_projection(x)
        return g * h + (1 - g) * x


class CommonSpace(nn.Module):
    """Both modalities' branches (gated or plain projectors) and one linear classifier over all classes, shared by
    the image and text embeddings (Sec. III-E2). Embeddings are L2-normalised before the classifier and retrieval
    (our choice: the classifier sees exactly what retrieval compares)."""

    def __init__(self, dim: int, hidden: int, num_classes: int, gated: bool = True, gate_bias: float = 0.0):
        super().__init__()
        make = (lambda: GateResidual(dim, hidden, gate_bias)) if gated else (lambda: Projector(dim, hidden))
        self.image = make()
        self.text = make()
        self.classifier = nn.Linear(dim, num_classes)

    def embed_image(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image(x), dim=-1)

    def embed_text(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text(x), dim=-1)

    def forward(
        self, image: torch.Tensor, text: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(z_image, z_text, logits_image, logits_text)."""
        z_v, z_t = self.embed_image(image), self.embed_text(text)
        return z_v, z_t, self.classifier(z_v), self.classifier(z_t)
