"""CODER's text templates per type and dataset, as the official code writes them (YCaigogogo/CVPR24-CODER
`CODER/template.py` @ 89a64002e5a8883478c7e4674073895511747ecc; docs/methods.md §1.2). {c} = class name (underscores
read as spaces), {x} = attribute or analogous class, {c1}/{c2}/{d} = the two classes and their difference.

Keys are our dataset names (the official `food-101`, `oxford-pet`, `DTD`, `CUB200`, `places-365`, `Aircraft` map to
food101, oxford_pets, dtd, cub200, places365, fgvc_aircraft); a dataset without an entry takes "default", as in the
official file (ImageNet, Caltech101, CUB-200 and Places365 names, every simulated dataset). The wording is verbatim,
missing periods included. Two departures, both ours: DTD's one-vs-one list has a missing comma in the official file,
which joins two templates into one string; we keep the four it lists. Oxford Pets' and DTD's attribute and analogous
templates are the official zero-shot ones; few-shot runs use the default ones, as the official few-shot script does.
"""

from __future__ import annotations

from flexcoder.textgen.prompts import display_name

NAME = {
    "default": "a photo of {c}",
    "eurosat": "a photo of {c}, satellite domain.",
    "food101": "a photo of {c}, a type of food.",
    "oxford_flowers": "a photo of a {c}, a type of flower.",
    "fgvc_aircraft": "a photo of a {c}, a type of aircraft.",
    "oxford_pets": "a photo of a {c}, a type of pet.",
    "ucf101": "a photo of a person doing {c}.",
}
ATT = {
    "default": "{c} which has {x}",
    "eurosat": "A satellite photo of {c} which has {x}.",
    "oxford_pets": "A pet photo of {c} which has {x}.",
    "food101": "A food photo of {c} which has {x}.",
    "dtd": "The texture of {c} is characterized by its {x} feature.",
}
ANA = {
    "default": "a {c} similar to {x}.",
    "eurosat": "A satellite photo of a {c} similar to {x}.",
    "oxford_pets": "A pet photo of a {c} similar to {x}.",
    "food101": "A food photo of a {c} similar to {x}.",
    "dtd": "The texture of {c} bears a likeness to that of {x} .",
}
ZERO_SHOT_ONLY = frozenset({"oxford_pets", "dtd"})  # their ATT and ANA entries (the official task_type check)
OVO = {
    "default": (
        "Because of {d}, {c1} is different from {c2}.",
        "{c1} is characterized by a distinct {d}, while {c2} isn't.",
        "The distinctive way in which {c1} handles {d} separates it significantly from {c2}.",
        "{c1} stands out in {d} compared to {c2}.",
        "The way {c1} approaches {d} distinguishes it from {c2}.",
        "In {d} expression, {c1} deviates from {c2}.",
        "Differences in {d} usage separate {c1} from {c2}.",
    ),
    "eurosat": (
        "The unique utilization of {d} in satellite photos makes {c1} different from {c2}.",
        "Differences in {d} representation separate {c1} in satellite photos from {c2}.",
        "Contrasting {c1} and {c2} in satellite photos reveals notable differences in the representation of {d}.",
        "{c1} and {c2} showcase distinct visual features when it comes to {d} in satellite imagery.",
        "The comparison of {c1} and {c2} in satellite photos underscores variations in the depiction of {d}.",
        "In the context of satellite imagery, differences emerge between {c1} and {c2} in how they capture {d}.",
        "Analyzing satellite photos highlights disparities in the portrayal of {d} between {c1} and {c2}.",
        "{c1} and {c2} exhibit contrasting visual interpretations when representing {d} in satellite imagery.",
    ),
    "oxford_pets": (
        "A {c1}, a species of pet, can be distinguished from a {c2}, a species of pet, by the characteristics of {d}",
        "Because of {d}, a {c1}, a kind of pet, is different from a {c2}, a kind of pet.",
        "Due to their {d}, a {c1}, a pet type, displays a different demeanor compared to a {c2}, another pet type.",
        "Because of their {d}, a {c1}, a kind of pet, differs significantly from a {c2}, a kind of pet.",
    ),
    "food101": (
        "While both are popular dishes, {c1} is notably different from {c2} in that {d}.",
        "While both are popular snacks, {c1} is notably different from {c2} in that {d}.",
        "While both are popular dessert, {c1} is notably different from {c2} in that {d}.",
        "In terms of food aspects, a food photo of {c1}, which has {d}, differs from {c2}.",
    ),
    "places365": (
        "{c1}, a type of places, can be distinguished from {c2}, a type of places, by the characteristics of {d}",
        "Because of {d}, {c1}, a type of places, is different from {c2}, a type of places.",
    ),
    "cub200": (
        "{c1}, a type of bird, can be distinguished from {c2} by the characteristics of {d}",
        "Because of {d}, {c1}, a type of bird, is different from {c2}.",
        "{c1}, a type of bird, exhibits a unique {d} that sets it apart from {c2}.",
        "{c1}, a type of bird, uses {d} in a way that differs from {c2}, making it distinctive.",
        "The unique expression of {d} is what separates {c1}, a type of bird, from {c2}.",
        "In handling {d}, {c1}, a type of bird, differs distinctly from {c2}.",
        "{c1}, a type of bird, stands out in {d} compared to {c2}.",
        "The way {c1}, a type of bird, approaches {d} distinguishes it from {c2}.",
        "In {d} expression, {c1}, a type of bird, deviates from {c2}.",
        "Unique {d} utilization makes {c1}, a type of bird, different from {c2}.",
        "Differences in {d} usage separate {c1}, a type of bird, from {c2}.",
    ),
    "dtd": (
        "{c1}, a type of texture, exhibits a unique {d} that sets it apart from {c2}.",
        "Because of {d}, {c1} is different from {c2}.",
        "In handling {d}, {c1} differs distinctly from {c2}.",
        "In {d} expression, {c1} deviates from {c2}.",
    ),
}


def _pick(table: dict, dataset: str):
    return table.get(dataset, table["default"])


def _att_ana_key(dataset: str, few_shot: bool) -> str:
    return "default" if few_shot and dataset in ZERO_SHOT_ONLY else dataset


def name_text(cls: str, dataset: str = "default") -> str:
    return _pick(NAME, dataset).format(c=display_name(cls))


def syno_text(synonym: str, dataset: str = "default") -> str:
    """A synonym fills the name template in place of the class name (the official intent; its code fills in None,
    docs/methods.md §1.6)."""
    return _pick(NAME, dataset).format(c=display_name(synonym))


def att_text(cls: str, attribute: str, dataset: str = "default", few_shot: bool = False) -> str:
    return _pick(ATT, _att_ana_key(dataset, few_shot)).format(c=display_name(cls), x=attribute)


def ana_text(cls: str, analogous: str, dataset: str = "default", few_shot: bool = False) -> str:
    return _pick(ANA, _att_ana_key(dataset, few_shot)).format(c=display_name(cls), x=analogous)


def ovo_texts(c1: str, c2: str, difference: str, dataset: str = "default") -> list[str]:
    """Every template of the dataset expanded with one difference phrase of c1 versus c2 (official)."""
    return [t.format(c1=display_name(c1), c2=display_name(c2), d=difference) for t in _pick(OVO, dataset)]
