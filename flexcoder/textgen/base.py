"""The generator interface: ATG requests in, raw LLM-style answers out (parsing lives in `flexcoder.textgen.parse`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal, Protocol, runtime_checkable

Kind = Literal["att", "ana", "syno", "ovo"]
KINDS: tuple[str, ...] = ("att", "ana", "syno", "ovo")


@dataclass(frozen=True)
class TextRequest:
    """One ATG question (docs/methods.md §1.3).

    Attributes:
        kind: "att" (visual attributes of a class), "ana" (visually analogous objects), "syno" (synonyms),
            "ovo" (differences between two classes; the answer covers both directions, "For c1: ... For c2: ...").
        classes: (c,) for att/ana/syno, (c1, c2) for ovo; raw class names.
        prompt: the full prompt text sent to an LLM (`flexcoder.textgen.prompts.build_request`).
    """

    kind: str
    classes: tuple[str, ...]
    prompt: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown request kind {self.kind!r}; known: {', '.join(KINDS)}")
        want = 2 if self.kind == "ovo" else 1
        if len(self.classes) != want:
            raise ValueError(f"a {self.kind!r} request names {want} class(es), got {self.classes!r}")


@runtime_checkable
class TextGenerator(Protocol):
    """Anything that answers a batch of requests with one raw string each, in order.

    `identity()` is what distinguishes two generators' answers to the same prompt (backend, model, sampling): it
    enters the disk-cache key.
    """

    def generate(self, requests: Sequence[TextRequest]) -> list[str]: ...

    def identity(self) -> dict: ...


@dataclass
class GenerationCounts:
    """What an LLM backend has done: backend calls, prompts answered, tokens generated, seconds spent generating."""

    calls: int = 0
    prompts: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0

    def add(self, prompts: int, tokens: int, seconds: float) -> None:
        self.calls += 1
        self.prompts += prompts
        self.generated_tokens += tokens
        self.seconds += seconds

    def as_dict(self) -> dict[str, float]:
        return asdict(self)
