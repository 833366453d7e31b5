"""The offline `template` backend: answers ATG requests from the embedded worlds' class knowledge (the hand-written
knowledge.json, then the classification world's LLM-written descriptors as attributes, as analogous classes the
classes nearest by name in the same dataset, and WordNet's synonyms), formatted like an LLM.

Not an LLM (our construction, for offline runs and tests): att -> the class's visual attributes, ana -> its related
classes, syno -> its synonyms, each as a "_"-prefixed list like the ATG worked examples, so the same parser runs.
ovo (c1, c2) -> "For c1:\\n_...\\nFor c2:\\n_..." where c1's items are its attributes that c2 does not share (our
choice: an attribute is shared when at least half of its content words occur among c2's attribute/name/synonym
words). A class absent from the knowledge gets an empty answer (the caller counts it).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

from flexcoder.textgen.base import TextRequest


def _tokens(text: str) -> list[str]:
    from flexcoder.data.simulated import tokens

    return tokens(text)


@functools.cache
def classification_knowledge() -> dict[str, dict]:
    """The classification world's classes as knowledge: their descriptors (`descriptor_knowledge`), as related
    classes the ones nearest by name in their dataset (ours: the look-alikes the world's images borrow from, which
    is what an LLM asked for similar classes would name), and their WordNet synonyms where WordNet has the class
    (`wordnet_synonyms`; ImageNet's by its synsets). Computed once per process (it embeds every dataset's class
    names); callers do not mutate it."""
    from flexcoder.data.knowledge import classification_world_datasets, classification_world_entry, descriptor_knowledge
    from flexcoder.data.simulated_classification import related_classes
    from flexcoder.data.wordnet_synonyms import wordnet_synonyms

    out = descriptor_knowledge()
    named: set[str] = set()
    for name in sorted(classification_world_datasets()):  # the first dataset to name a class wins, as for descriptors
        classes = classification_world_entry(name)["classes"]
        related = related_classes(classes)
        synonyms = wordnet_synonyms(classes, imagenet=name == "imagenet")
        for cls in related.keys() - named:
            out[cls] = {**out[cls], "related": related[cls], "synonyms": synonyms.get(cls, [])}
        named |= related.keys()
    return out


class TemplateGenerator:
    """Deterministic answers from a knowledge dict {class: {synonyms, attributes, related}} (default: embedded)."""

    def __init__(self, knowledge: Mapping[str, Mapping] | None = None):
        if knowledge is None:
            from flexcoder.data.knowledge import knowledge as embedded

            knowledge = {**classification_knowledge(), **embedded()}
        self.knowledge = knowledge
        self.calls = 0

    def identity(self) -> dict:
        return {"backend": "template", "model": "embedded-knowledge-4"}  # 2: descriptors; 3: related; 4: WordNet

    def _bullets(self, items: Sequence[str]) -> str:
        return "\n".join(f"_{it}" for it in items)

    def _differences(self, c1: str, c2: str) -> list[str]:
        k2 = self.knowledge[c2]
        pool = set(_tokens(c2))
        for phrase in [*k2.get("attributes", ()), *k2.get("synonyms", ())]:
            pool.update(_tokens(phrase))
        out = []
        for phrase in self.knowledge[c1].get("attributes", ()):
            words = _tokens(phrase)
            if words and sum(w in pool for w in words) * 2 < len(words):
                out.append(phrase)
        return out

    def answer(self, request: TextRequest) -> str:
        if any(c not in self.knowledge for c in request.classes):
            return ""
        if request.kind == "ovo":
            c1, c2 = request.classes
            return (
                f"For {c1}:\n{self._bullets(self._differences(c1, c2))}\n"
                f"For {c2}:\n{self._bullets(self._differences(c2, c1))}"
            )
        field = {"att": "attributes", "ana": "related", "syno": "synonyms"}[request.kind]
        return self._bullets(self.knowledge[request.classes[0]].get(field, ()))

    def generate(self, requests: Sequence[TextRequest]) -> list[str]:
        self.calls += 1
        return [self.answer(r) for r in requests]
