"""ATG prompts (arXiv 2404.17753; official ATG/ATG.py, docs/methods.md §1.3): one-shot Q/A with a worked example.

The official code sends these through OpenAI ChatCompletion; we send the same text as a plain completion prompt
ending with the answer primer, which works for base and instruction models alike (our choice: model-agnostic, and
vLLM's `generate` batches plain prompts). Answers are "_"-prefixed item lists, as in the worked examples.
"""

from __future__ import annotations

from flexcoder.textgen.base import TextRequest


def display_name(cls: str) -> str:
    """Class name as it appears in prompts and texts: underscores become spaces (official template.py)."""
    return cls.replace("_", " ").strip()


ATT = (
    "Q: What are useful visual features for distinguishing a lemur in a photo?\n"
    "A: There are several useful visual features to tell there is a lemur in a photo:\n"
    "_four-limbed primate\n_black, grey, white, brown, or red-brown\n_wet and hairless nose with curved nostrils\n"
    "_long tail\n_large eyes\n_furry bodies\n_clawed hands and feet\n\n"
    "Q: What are useful visual features for distinguishing a {c} in a photo?\n"
    "A: There are several useful visual features to tell there is a {c} in a photo:\n_"
)
ANA = (
    "Q: What other objects are cats visually similar to?\n"
    "A: _Tiger\n_Lion\n_Leopard\n_Garfield Cat\n_Cat-themed Products\n_Cat Toys\n\n"
    "Q: What other objects are {c} visually similar to?\n"
    "A: _"
)
SYNO = (
    "Q: What are the synonyms for forest?\n"
    "A: _Woodland\n_Woods\n_Thicket\n_Jungle\n_Timberland\n_Rainforest\n\n"
    "Q: What are the synonyms for {c}?\n"
    "A: _"
)
OVO = (
    "Q: What are different visual features between the river and the lake in a photo? Focus on their key "
    "differences.\n"
    "A: For river:\n_Flowing water\n_Narrow and elongated body of water\n"
    "For lake:\n_Still or calm water\n_Larger and more circular or irregular in shape\n\n"
    "Q: What are different visual features between the {c1} and the {c2} in a photo? Focus on their key "
    "differences. You should decide the number of attributes to output based on the actual situation, not just 2. "
    "You should follow the format of the example above.\n"
    "A: For {c1}:\n_"
)
_PROMPTS = {"att": ATT, "ana": ANA, "syno": SYNO}


def build_request(kind: str, classes: tuple[str, ...] | list[str]) -> TextRequest:
    """The TextRequest for one ATG question about raw class name(s)."""
    classes = tuple(classes)
    if kind == "ovo":
        prompt = OVO.format(c1=display_name(classes[0]), c2=display_name(classes[1]))
    elif kind in _PROMPTS:
        prompt = _PROMPTS[kind].format(c=display_name(classes[0]))
    else:
        raise ValueError(f"unknown request kind {kind!r}")
    return TextRequest(kind, classes, prompt)


def primer(request: TextRequest) -> str:
    """The answer prefix the prompt ends with; a completion continues it, so parsers see primer + completion."""
    if request.kind == "ovo":
        return f"For {display_name(request.classes[0])}:\n_"
    return "_"
