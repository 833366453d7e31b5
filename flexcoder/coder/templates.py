"""CODER text templates per type (official CODER/template.py, docs/methods.md §1.2; {c} = class name,
underscores -> spaces).

Generic templates apply to every dataset without a specific entry (all the simulated ones). The dataset-specific
entries follow the official file's structure; we kept their structure and meaning, so treat their wording as a
close paraphrase. The last three generic ovo templates are ours (written in the same style).
"""

from __future__ import annotations

from flexcoder.textgen.prompts import display_name

NAME = {
    "default": "a photo of {c}.",
    "eurosat": "a photo of {c}, satellite domain.",
    "food101": "a photo of {c}, a type of food.",
    "flowers102": "a photo of a {c}, a type of flower.",
    "fgvc_aircraft": "a photo of {c}, a type of aircraft.",
    "oxford_pets": "a photo of {c}, a type of pet.",
    "ucf101": "a photo of a person doing {c}.",
}
ATT = {
    "default": "{c} which has {x}.",
    "eurosat": "A satellite photo of {c} which has {x}.",
    "oxford_pets": "A pet photo of {c} which has {x}.",
    "food101": "A food photo of {c} which has {x}.",
    "dtd": "The texture of {c} is characterized by its {x} feature.",
}
ANA = {
    "default": "a {c} similar to {x}.",
    "eurosat": "A satellite photo of {c} similar to {x}.",
    "oxford_pets": "A pet photo of {c} similar to {x}.",
    "food101": "A food photo of {c} similar to {x}.",
    "dtd": "The texture of {c} bears a likeness to that of {x}.",
}
OVO = {
    "default": (
        "Because of {d}, {c1} is different from {c2}.",
        "{c1} is characterized by a distinct {d}, while {c2} isn't.",
        "{c1} stands out in {d} compared to {c2}.",
        "Differences in {d} usage separate {c1} from {c2}.",
        "{c1} can be told apart from {c2} by {d}.",  # ours
        "Unlike {c2}, {c1} shows {d}.",  # ours
        "{d} distinguishes {c1} from {c2}.",  # ours
    ),
}


def _pick(table: dict, dataset: str):
    return table.get(dataset, table["default"])


def name_text(cls: str, dataset: str = "default") -> str:
    return _pick(NAME, dataset).format(c=display_name(cls))


def syno_text(synonym: str, dataset: str = "default") -> str:
    """Synonyms reuse the name template with the synonym in place of the class name (official)."""
    return _pick(NAME, dataset).format(c=display_name(synonym))


def att_text(cls: str, attribute: str, dataset: str = "default") -> str:
    return _pick(ATT, dataset).format(c=display_name(cls), x=attribute)


def ana_text(cls: str, analogous: str, dataset: str = "default") -> str:
    return _pick(ANA, dataset).format(c=display_name(cls), x=analogous)


def ovo_texts(c1: str, c2: str, difference: str, dataset: str = "default") -> list[str]:
    """Every template of the dataset expanded with one difference phrase of c1 versus c2 (official)."""
    return [t.format(c1=display_name(c1), c2=display_name(c2), d=difference) for t in _pick(OVO, dataset)]
