"""Auto Text Generator glue (docs/methods.md §1.3): ask a generator, parse, filter, de-duplicate, fill the templates.

Counts everything that went wrong instead of failing: `TextStats` ends up in the trial's metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

from flexcoder.coder import templates
from flexcoder.coder.representation import TextBank
from flexcoder.textgen import TextGenerator, build_request, parse_list, parse_ovo

TextEncoder = Callable[[Sequence[str]], torch.Tensor]


@dataclass
class TextStats:
    requests: int = 0
    empty_answers: int = 0  # blank answer (e.g. a class the template backend does not know)
    parse_failures: int = 0  # non-blank answer with nothing usable
    ana_rejected: int = 0  # analogous proposals too close to another dataset class
    texts: int = 0  # rows of the CODER text bank
    ovo_requests: int = 0
    ovo_texts: int = 0

    def add(self, status: str) -> None:
        if status == "empty":
            self.empty_answers += 1
        elif status == "garbage":
            self.parse_failures += 1

    def metrics(self) -> dict[str, float]:
        return {f"textgen/{f.name}": float(getattr(self, f.name)) for f in fields(self)}


def photo_features(names: Sequence[str], encode_text: TextEncoder) -> torch.Tensor:
    """[N, D] L2-normalised features of "a photo of {name}": what `filter_analogous` compares."""
    return F.normalize(encode_text([f"a photo of {templates.display_name(x)}" for x in names]).float(), dim=-1)


def filter_analogous(
    cls_index: int,
    proposals: Sequence[str],
    class_features: torch.Tensor,
    encode_text: TextEncoder,
    threshold: float,
) -> tuple[list[str], int]:
    """Drop proposals whose "a photo of {x}" text has cosine > threshold with "a photo of {other class}" for any
    OTHER dataset class (official ATG); `class_features` = `photo_features(class_names)`, encoded once per dataset
    (per class it would be C^2 encodings: a million on ImageNet). Our choice: no re-ask round for replacements (the
    official code re-asks up to 5 times; that only adds analogous texts and needs a conversational backend).
    Returns (kept, rejected)."""
    if not proposals or len(class_features) < 2:
        return list(proposals), 0
    sims = photo_features(proposals, encode_text) @ class_features.T
    sims[:, cls_index] = -torch.inf  # the class itself is no other class
    keep = sims.max(1).values <= threshold
    kept = [x for x, k in zip(proposals, keep.tolist()) if k]
    return kept, len(proposals) - len(kept)


def build_text_bank(
    class_names: Sequence[str],
    text_types: Iterable[str],
    generator: TextGenerator,
    encode_text: TextEncoder,
    dataset: str = "default",
    cap: int = 0,
    ana_threshold: float = 0.9,
    stats: TextStats | None = None,
    few_shot: bool = False,
) -> tuple[TextBank, TextStats]:
    """The CODER text bank for `text_types` (subset of name/att/ana/syno) in one batched generator call; `few_shot`
    picks the templates of the official few-shot script (`flexcoder.coder.templates`)."""
    stats = stats or TextStats()
    types = tuple(text_types)
    kinds = [k for k in ("att", "ana", "syno") if k in types]
    requests = [build_request(k, (c,)) for c in class_names for k in kinds]
    answers = generator.generate(requests) if requests else []
    if len(answers) != len(requests):
        raise RuntimeError(f"text generator returned {len(answers)} answers for {len(requests)} requests")
    stats.requests += len(requests)
    items: dict[tuple[str, str], list[str]] = {}
    for req, ans in zip(requests, answers):
        parsed = parse_list(ans, cap)
        stats.add(parsed.status)
        items[(req.classes[0], req.kind)] = list(parsed.items)
    blocks = []
    class_features = photo_features(class_names, encode_text) if "ana" in types else None
    for ci, c in enumerate(class_names):
        block: dict[str, list[str]] = {"name": [templates.name_text(c, dataset)]}
        if "att" in types:
            block["att"] = [templates.att_text(c, x, dataset, few_shot) for x in items.get((c, "att"), [])]
        if "ana" in types:
            kept, rejected = filter_analogous(ci, items.get((c, "ana"), []), class_features, encode_text, ana_threshold)
            stats.ana_rejected += rejected
            block["ana"] = [templates.ana_text(c, x, dataset, few_shot) for x in kept]
        if "syno" in types:
            own = templates.display_name(c).lower()
            synos = [x for x in items.get((c, "syno"), []) if x.lower() != own]
            block["syno"] = [templates.syno_text(x, dataset) for x in synos]
        blocks.append({k: _dedup(v) for k, v in block.items()})
    bank = TextBank.from_blocks(blocks)
    stats.texts += len(bank.texts)
    return bank, stats


def build_ovo_texts(
    class_names: Sequence[str],
    pairs: Iterable[tuple[int, int]],
    generator: TextGenerator,
    dataset: str = "default",
    cap: int = 0,
    stats: TextStats | None = None,
) -> tuple[dict[tuple[int, int], list[str]], TextStats]:
    """{(c, o): ovo texts of c versus o} for both directions of each unordered pair, one batched call."""
    stats = stats or TextStats()
    pairs = sorted(pairs)
    requests = [build_request("ovo", (class_names[i], class_names[j])) for i, j in pairs]
    answers = generator.generate(requests) if requests else []
    if len(answers) != len(requests):
        raise RuntimeError(f"text generator returned {len(answers)} answers for {len(requests)} requests")
    stats.ovo_requests += len(requests)
    out: dict[tuple[int, int], list[str]] = {}
    for (i, j), ans in zip(pairs, answers):
        a, b = parse_ovo(ans, class_names[i], class_names[j], cap)
        for (c, o), parsed in (((i, j), a), ((j, i), b)):
            stats.add(parsed.status)
            texts = _dedup(
                [t for d in parsed.items for t in templates.ovo_texts(class_names[c], class_names[o], d, dataset)]
            )
            out[(c, o)] = texts
            stats.ovo_texts += len(texts)
    return out, stats


def _dedup(texts: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(texts))
