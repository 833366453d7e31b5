"""ATG prompts (arXiv 2404.17753; official ATG/ATG.py, docs/methods.md §1.3): one-shot Q/A with a worked example.

Each prompt is (worked question, worked answer, question). Two renderings of the same parts:
- `build_request(...).prompt`: a plain completion prompt ending with the answer primer ("_"), for base models and
  the offline backends (our choice: model-agnostic).
- `chat_messages(request)`: the worked example as a user/assistant turn and the question as the last user turn, as
  the official code sends them to a chat model; with `structured=True` the worked answer is the JSON the answer
  schema (`answer_schema`) constrains the model to.
"""

from __future__ import annotations

import json

from flexcoder.textgen.base import TextRequest


def display_name(cls: str) -> str:
    """Class name as it appears in prompts and texts: underscores become spaces (official template.py)."""
    return cls.replace("_", " ").strip()


_ATT = (
    "What are useful visual features for distinguishing a lemur in a photo?",
    [
        "four-limbed primate",
        "black, grey, white, brown, or red-brown",
        "wet and hairless nose with curved nostrils",
        "long tail",
        "large eyes",
        "furry bodies",
        "clawed hands and feet",
    ],
    "What are useful visual features for distinguishing a {c} in a photo?",
    "There are several useful visual features to tell there is a {c} in a photo:\n",
)
_ANA = (
    "What other objects are cats visually similar to?",
    ["Tiger", "Lion", "Leopard", "Garfield Cat", "Cat-themed Products", "Cat Toys"],
    "What other objects are {c} visually similar to?",
    "",
)
_SYNO = (
    "What are the synonyms for forest?",
    ["Woodland", "Woods", "Thicket", "Jungle", "Timberland", "Rainforest"],
    "What are the synonyms for {c}?",
    "",
)
_OVO_Q = "What are different visual features between the river and the lake in a photo? Focus on their key differences."
_OVO_A = {
    "river": ["Flowing water", "Narrow and elongated body of water"],
    "lake": ["Still or calm water", "Larger and more circular or irregular in shape"],
}
_OVO_ASK = (
    "What are different visual features between the {c1} and the {c2} in a photo? Focus on their key differences. "
    "You should decide the number of attributes to output based on the actual situation, not just 2. You should "
    "follow the format of the example above."
)
_LISTS = {"att": _ATT, "ana": _ANA, "syno": _SYNO}

# Answer-length caps of the JSON schema (ours: without a cap a small model's list runs on to max_tokens).
SCHEMA_MAX_ITEMS = 8
SCHEMA_MAX_CHARS = 80


def _underscored(items: list[str]) -> str:
    return "".join(f"_{x}\n" for x in items)


def _completion(kind: str, classes: tuple[str, ...]) -> str:
    if kind == "ovo":
        c1, c2 = (display_name(c) for c in classes)
        worked = "".join(f"For {k}:\n{_underscored(v)}" for k, v in _OVO_A.items())
        return f"Q: {_OVO_Q}\nA: {worked}\nQ: {_OVO_ASK.format(c1=c1, c2=c2)}\nA: For {c1}:\n_"
    worked_q, worked_a, ask, lead = _LISTS[kind]
    c = display_name(classes[0])
    worked_lead = lead.replace("{c}", "lemur")
    return f"Q: {worked_q}\nA: {worked_lead}{_underscored(worked_a)}\nQ: {ask.format(c=c)}\nA: {lead.format(c=c)}_"


def build_request(kind: str, classes: tuple[str, ...] | list[str]) -> TextRequest:
    """The TextRequest for one ATG question about raw class name(s)."""
    classes = tuple(classes)
    if kind != "ovo" and kind not in _LISTS:
        raise ValueError(f"unknown request kind {kind!r}")
    return TextRequest(kind, classes, _completion(kind, classes))


def primer(request: TextRequest) -> str:
    """The answer prefix the completion prompt ends with; a completion continues it, so parsers see primer +
    completion."""
    if request.kind == "ovo":
        return f"For {display_name(request.classes[0])}:\n_"
    return "_"


def answer_schema(request: TextRequest) -> dict:
    """The JSON schema an answer is constrained to: {"items": [...]} for a list question, {c1: [...], c2: [...]}
    for a pairwise one (the shapes `flexcoder.textgen.parse` reads)."""
    items = {"type": "array", "items": {"type": "string", "maxLength": SCHEMA_MAX_CHARS}, "minItems": 1}
    items["maxItems"] = SCHEMA_MAX_ITEMS
    keys = [display_name(c) for c in request.classes] if request.kind == "ovo" else ["items"]
    return {"type": "object", "properties": {k: items for k in keys}, "required": keys, "additionalProperties": False}


def _json(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False)


def chat_messages(request: TextRequest, structured: bool = False) -> list[dict[str, str]]:
    """The request as chat turns: the worked example (user, assistant), then the question (user)."""
    if request.kind == "ovo":
        c1, c2 = (display_name(c) for c in request.classes)
        worked = _json(_OVO_A) if structured else "".join(f"For {k}:\n{_underscored(v)}" for k, v in _OVO_A.items())
        return [
            {"role": "user", "content": _OVO_Q},
            {"role": "assistant", "content": worked},
            {"role": "user", "content": _OVO_ASK.format(c1=c1, c2=c2)},
        ]
    worked_q, worked_a, ask, _ = _LISTS[request.kind]
    worked = _json({"items": worked_a}) if structured else _underscored(worked_a)
    return [
        {"role": "user", "content": worked_q},
        {"role": "assistant", "content": worked},
        {"role": "user", "content": ask.format(c=display_name(request.classes[0]))},
    ]
