"""The embedded classification world: CLIP-like image features for any list of class names, with a real text side.

Ours; every run on it is tagged simulated. The text encoder is a real sentence encoder (all-MiniLM-L6-v2,
`sentence_encoder`), so a prompt, an attribute list or an LLM's answer is embedded by what it says. Images are
simulated around those text embeddings:

- Class c's visual centre is its name's embedding plus a class-specific *hidden* direction that no text names (what
  the words miss; only labelled images reveal it). `misalignment` scales it (`hidden_share` 0.9: a tenth of its
  variance is a direction of each image's own instead).
- An image adds a few of its class's descriptors (real LLM-written phrases, embedded), some of a similar class
  (one of the `confusers` classes nearest by name: the confusions a real CLIP makes), variation in a low-rank
  subspace of its own class, scene/style nuisance from a pool every class shares, isotropic noise, and a constant
  image-modality offset; texts get a text-modality offset (the modality gap). That offset is large (`text_gap` 5),
  so the texts sit in a narrow cone (narrower than CLIP's; docs/calibration.md): the prompt ensemble's logits differ
  little between classes, and a few-shot cache within the official alpha range can outvote a wrong zero-shot answer
  after one shot.
- A share of the images is *ambiguous*: they carry a similar class's centre at 0.84-1.7 times their own, so neither
  text nor a few-shot cache names them reliably. The share is `ambiguous_per_error` times the zero-shot error the
  world is fit to (ours: a dataset CLIP's words find hard has images that are hard too), scaled down for datasets
  with few classes (`ambiguous_share`). It caps what shots can add, which gives the few-shot curves real CLIP's
  shape: most of the gain from the first shots, then a plateau.
- `misalignment` is the one fitted per-dataset parameter: bisection makes the CLIP prompt ensemble's zero-shot
  accuracy hit the dataset's documented figure. Everything else (`ClassWorldParams`) is shared by every dataset;
  how the world's few-shot curves compare with real CLIP's is in docs/calibration.md.
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from flexcoder.data.feature_sets import DatasetFeatures, FeatureSet
from flexcoder.data.sentence_encoder import encode_sentences
from flexcoder.data.simulated import distinct_picks, scene_weights
from flexcoder.data.spec import DatasetSpec
from flexcoder.prompts import CLIP_TEMPLATES, prompt_prototypes

SHOTS_MAX = 16  # the largest few-shot setting the papers report
VAL_TOTAL = 1000  # as many validation images as the protocol draws (tasks.VAL_CAP)
TEST_TOTAL = 3000  # our choice: +-0.9 points of sampling error on an accuracy near 50%, cheap on 2 cores
TEST_MIN_PER_CLASS = 5
PROBE_TOTAL = 6000  # the zero-shot fit's probe sample (+-0.6 points near 50%), at least 20 images per class


@dataclass(frozen=True)
class ClassWorldParams:
    """The world's global knobs, shared by every dataset (ours), chosen to bring the world's Tip-Adapter curves
    within 3 points of real CLIP's on caltech101, dtd, eurosat, oxford_pets and imagenet (an Optuna search with
    `python -m grid.calibration_search`, then `text_gap`, the class-count factor and the ambiguity range by hand over
    3 seeds; docs/decisions.md)."""

    descriptors_per_image: int = 3
    descriptor_weight: float = 0.17
    variation_rank: int = 8
    variation: float = 0.45  # norm scale of an image's class-specific low-rank variation
    nuisance_pool: int = 64
    nuisance_per_item: int = 2
    nuisance: float = 1.2
    noise: float = 0.55
    modality_gap: float = 1.0  # norm of the image modality's constant offset
    text_gap: float = 5.0  # norm of the text modality's constant offset: how narrow the text cone is
    confusion: float = 0.1  # an image mixes in a similar class's centre with weight ~ U(0, 2 confusion)
    confusers: int = 5
    ambiguous_per_error: float = 1.33  # share of ambiguous images per unit of the zero-shot error, with many classes
    ambiguous_half_classes: float = 8.6  # with this many classes, half that share (an image's look-alike must exist)
    ambiguity: tuple[float, float] = (0.84, 1.7)  # a similar class's weight in an ambiguous image, relative to its own
    hidden_share: float = 0.9  # share of the hidden part that is the class's own direction; the rest is per image
    misalignment_max: float = 30.0


def nearest_by_name(names: np.ndarray, k: int) -> np.ndarray:
    """[C, min(k, C-1)] each class's k most similar other classes by name embedding ([C, D], L2-normalised), most
    similar first: the classes the world's images borrow from, and what the template backend answers as analogous."""
    sim = names @ names.T
    np.fill_diagonal(sim, -np.inf)
    return np.argsort(-sim, axis=1)[:, : min(k, max(len(names) - 1, 1))]


def related_classes(class_names: Sequence[str], k: int = ClassWorldParams.confusers) -> dict[str, list[str]]:
    """{class: its k nearest other classes by name}, for one dataset's class list."""
    near = nearest_by_name(encode_sentences(list(class_names)), k)
    return {c: [class_names[j] for j in row] for c, row in zip(class_names, near)}


def ambiguous_share(zero_shot: float, num_classes: int, params: ClassWorldParams) -> float:
    """The share of a dataset's images that look like another class: `ambiguous_per_error` times its zero-shot
    error, times K / (K + `ambiguous_half_classes`) for K classes (ours: an image can only look like a class the
    dataset has, so few classes leave fewer look-alikes; it saturates with many)."""
    k = num_classes
    return min(1.0, params.ambiguous_per_error * (1.0 - zero_shot) * k / (k + params.ambiguous_half_classes))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class ClassificationWorld:
    """One dataset's simulated CLIP: `encode_text` for any string, `sample` for images of its classes."""

    def __init__(
        self,
        class_names: Sequence[str],
        descriptors: Sequence[Sequence[str]] | None = None,
        *,
        seed: int = 0,
        params: ClassWorldParams = ClassWorldParams(),
    ):
        self.class_names = tuple(class_names)
        self.params = p = params
        c = len(self.class_names)
        descriptors = descriptors or [()] * c
        if len(descriptors) != c:
            raise ValueError(f"{len(descriptors)} descriptor lists for {c} classes")
        self.names = encode_sentences(self.class_names)
        flat = [d for ds in descriptors for d in ds]
        self.descriptor_counts = np.array([len(ds) for ds in descriptors], dtype=np.int64)
        self.descriptor_offsets = np.concatenate([[0], np.cumsum(self.descriptor_counts)[:-1]])
        self.descriptors = encode_sentences(flat)
        dim = self.names.shape[1]
        rng = np.random.default_rng([seed, 0x5EED])  # the world's fixed directions
        self.hidden = _unit(rng.standard_normal((c, dim))).astype(np.float32)
        self.basis = _unit(rng.standard_normal((c, p.variation_rank, dim))).astype(np.float32)
        self.pool = _unit(rng.standard_normal((p.nuisance_pool, dim))).astype(np.float32)
        self.gap = _unit(rng.standard_normal(dim)).astype(np.float32) * p.modality_gap
        self.text_offset = _unit(rng.standard_normal(dim)).astype(np.float32) * p.text_gap
        self.near = nearest_by_name(self.names, p.confusers)
        self.misalignment = 0.0
        self.ambiguous_share = 0.0

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """[N] strings -> [N, 384] L2-normalised: the sentence encoder's embedding plus the text-modality offset."""
        return torch.from_numpy(_unit(encode_sentences(list(texts)) + self.text_offset))

    def sample(self, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """float32 [N, 384] L2-normalised image features for class indices `labels` [N]."""
        p = self.params
        n, dim = len(labels), self.names.shape[1]
        centres = self.names + self.misalignment * math.sqrt(p.hidden_share) * self.hidden
        x = centres[labels].astype(np.float64)
        if p.hidden_share < 1.0:
            own = _unit(rng.standard_normal((n, dim)))
            x += self.misalignment * math.sqrt(1.0 - p.hidden_share) * own
        unit_centres = _unit(centres)
        if len(self.descriptors):
            # k distinct descriptors of the image's class.
            width = max(int(self.descriptor_counts.max()), 1)
            picked, valid = distinct_picks(self.descriptor_counts[labels], width, p.descriptors_per_image, rng)
            rows = np.minimum(self.descriptor_offsets[labels][:, None] + picked, len(self.descriptors) - 1)
            x += p.descriptor_weight * np.einsum("nk,nkd->nd", valid, self.descriptors[rows])
        other = self.near[labels, rng.integers(0, self.near.shape[1], n)]
        mix = rng.uniform(0, 2 * p.confusion, n)
        ambiguous = rng.random(n) < self.ambiguous_share
        mix[ambiguous] = rng.uniform(*p.ambiguity, int(ambiguous.sum()))
        x = _unit(x) + mix[:, None] * unit_centres[other]
        z = rng.standard_normal((n, p.variation_rank)) / math.sqrt(p.variation_rank)
        x += p.variation * np.einsum("nr,nrd->nd", z, self.basis[labels])
        weights = scene_weights(n, p.nuisance_pool, p.nuisance_per_item, rng)
        x = _unit(x) + p.nuisance * _unit(weights @ self.pool) + rng.standard_normal((n, dim)) * (p.noise / dim**0.5)
        return _unit(_unit(x) + self.gap).astype(np.float32)

    def zero_shot_accuracy(self, seed: int = 0) -> float:
        """Top-1 of the CLIP prompt ensemble (`CLIP_TEMPLATES`) on a probe sample."""
        per_class = max(20, math.ceil(PROBE_TOTAL / len(self.class_names)))
        labels = np.repeat(np.arange(len(self.class_names)), per_class)
        images = self.sample(labels, np.random.default_rng([seed, 0x9B0BE]))
        return float(((images @ self.prompt_weights.T).argmax(1) == labels).mean())

    @functools.cached_property
    def prompt_weights(self) -> np.ndarray:
        """[C, 384] the CLIP prompt ensemble's class prototypes; they do not depend on `misalignment`, so the
        bisection computes them once."""
        return prompt_prototypes(self.encode_text, self.class_names, CLIP_TEMPLATES).numpy()

    def fit(self, zero_shot: float, steps: int = 16) -> float:
        """Fit the world to a zero-shot accuracy `zero_shot` (a fraction): set the ambiguous share from its error
        and class count (`ambiguous_share`), then bisect `misalignment` so the prompt ensemble's accuracy is
        `zero_shot` (it falls as misalignment grows). Returns the misalignment, also set on the world."""
        self.ambiguous_share = ambiguous_share(zero_shot, len(self.class_names), self.params)
        lo, hi = 0.0, self.params.misalignment_max
        for _ in range(steps):
            self.misalignment = (lo + hi) / 2
            if self.zero_shot_accuracy() > zero_shot:
                lo = self.misalignment
            else:
                hi = self.misalignment
        self.misalignment = (lo + hi) / 2
        return self.misalignment


def simulate_classification(
    class_names: Sequence[str],
    zero_shot: float,
    *,
    descriptors: Sequence[Sequence[str]] | None = None,
    name: str = "custom",
    seed: int | None = None,
    params: ClassWorldParams = ClassWorldParams(),
) -> DatasetFeatures:
    """A simulated classification dataset from class names and a target CLIP zero-shot accuracy (a fraction).

    `descriptors[i]`: optional visual phrases of class i (e.g. an LLM's), mixed into its images. The train split
    holds SHOTS_MAX images per class plus enough for VAL_TOTAL validation images; the test split about TEST_TOTAL
    images, at least TEST_MIN_PER_CLASS per class. `seed` fixes the world and the samples (default: from `name`).
    It plugs into the protocols like a registered dataset's features (`flexcoder.protocols.classification_task`).
    """
    if not 0.0 < zero_shot < 1.0:
        raise ValueError(f"zero_shot must be a fraction in (0, 1), got {zero_shot}")
    seed = zlib.crc32(name.encode()) if seed is None else seed
    world = ClassificationWorld(class_names, descriptors, seed=seed, params=params)
    world.fit(zero_shot)
    c = len(world.class_names)
    per_class = {
        "train": SHOTS_MAX + math.ceil(VAL_TOTAL / c),
        "test": max(TEST_MIN_PER_CLASS, math.ceil(TEST_TOTAL / c)),
    }
    parts = []
    for split_id, split in enumerate(("train", "test")):
        rng = np.random.default_rng([seed, split_id])
        labels = rng.permutation(np.repeat(np.arange(c), per_class[split]))
        image = torch.from_numpy(world.sample(labels, rng))
        parts.append(FeatureSet(image, None, torch.nn.functional.one_hot(torch.from_numpy(labels), c).bool()))
    spec = DatasetSpec(
        name=name,
        classes=world.class_names,
        tasks=("classification",),
        n_train=len(parts[0]),
        n_test=len(parts[1]),
        provenance=f"simulated: embedded classification world, zero-shot target {zero_shot:.4f}, "
        f"misalignment {world.misalignment:.3f}, ambiguous share {world.ambiguous_share:.3f}",
    )
    return DatasetFeatures(spec, parts[0], parts[1], world.encode_text, simulated=True)
