"""The offline `template` backend: answers ATG requests from the embedded worlds' class knowledge (the hand-written
knowledge.json, then the classification world's LLM-written descriptors as attributes), formatted like an LLM.

Not an LLM (our construction, for offline runs and tests): att -> the class's visual attributes, ana -> its related
classes, syno -> its synonyms, each as a "_"-prefixed list like the ATG worked examples, so the same parser runs.
ovo (c1, c2) -> "For c1:\\n_...\\nFor c2:\\n_..." where c1's items are its attributes that c2 does not share (our
choice: an attribute is shared when at least half of its content words occur among c2's attribute/name/synonym
words). A class absent from the knowledge gets an empty answer (the caller counts it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from flexcoder.textgen.base import TextRequest


def _tokens(text: str) -> list[str]:
    from flexcoder.data.simulated import tokens

    return tokens(text)


class TemplateGenerator:
    """Deterministic answers from a knowledge dict {class: {synonyms, attributes, related}} (default: embedded)."""

    def __init__(self, knowledge: Mapping[str, Mapping] | None = None):
        if knowledge is None:
            from flexcoder.data.knowledge import descriptor_knowledge
            from flexcoder.data.knowledge import knowledge as embedded

            knowledge = {**descriptor_knowledge(), **embedded()}
        self.knowledge = knowledge
        self.calls = 0

    def identity(self) -> dict:
        return {"backend": "template", "model": "embedded-knowledge-2"}  # 2: with the descriptors

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
