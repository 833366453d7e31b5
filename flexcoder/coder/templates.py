"""CODER's text templates: the official defaults (YCaigogogo/CVPR24-CODER `CODER/template.py` @
89a64002e5a8883478c7e4674073895511747ecc, word for word, missing periods included; docs/methods.md §1.2), and a
dataset's own where its registration has them (`DatasetSpec.coder.templates`: EuroSAT, Food101, Oxford Pets, DTD,
CUB-200, Places365). {c} = class name (underscores read as spaces), {x} = attribute or analogous class,
{c1}/{c2}/{d} = the two classes and their difference. A dataset with no entry (ImageNet, Caltech101, every simulated
dataset) takes the defaults, as in the official file.
"""

from __future__ import annotations

from flexcoder.data.registry import get_dataset
from flexcoder.data.spec import CoderTemplates
from flexcoder.textgen.prompts import display_name

NAME = "a photo of {c}"
ATT = "{c} which has {x}"
ANA = "a {c} similar to {x}."
OVO = (
    "Because of {d}, {c1} is different from {c2}.",
    "{c1} is characterized by a distinct {d}, while {c2} isn't.",
    "The distinctive way in which {c1} handles {d} separates it significantly from {c2}.",
    "{c1} stands out in {d} compared to {c2}.",
    "The way {c1} approaches {d} distinguishes it from {c2}.",
    "In {d} expression, {c1} deviates from {c2}.",
    "Differences in {d} usage separate {c1} from {c2}.",
)


def dataset_templates(dataset: str) -> CoderTemplates:
    """The dataset's own templates (empty fields: the defaults); none for an unregistered name."""
    try:
        setting = get_dataset(dataset).coder
    except KeyError:
        return CoderTemplates()
    return setting.templates if setting is not None and setting.templates is not None else CoderTemplates()


def _att_ana(dataset: str, few_shot: bool) -> CoderTemplates:
    """Oxford Pets' and DTD's att and ana templates are zero-shot only: few-shot runs take the defaults (official)."""
    own = dataset_templates(dataset)
    return CoderTemplates() if few_shot and own.zero_shot_only else own


def name_text(cls: str, dataset: str = "default") -> str:
    return (dataset_templates(dataset).name or NAME).format(c=display_name(cls))


def syno_text(synonym: str, dataset: str = "default") -> str:
    """A synonym fills the name template in place of the class name (the official intent; its code fills in None,
    docs/methods.md §1.6)."""
    return name_text(synonym, dataset)


def att_text(cls: str, attribute: str, dataset: str = "default", few_shot: bool = False) -> str:
    return (_att_ana(dataset, few_shot).att or ATT).format(c=display_name(cls), x=attribute)


def ana_text(cls: str, analogous: str, dataset: str = "default", few_shot: bool = False) -> str:
    return (_att_ana(dataset, few_shot).ana or ANA).format(c=display_name(cls), x=analogous)


def ovo_texts(c1: str, c2: str, difference: str, dataset: str = "default") -> list[str]:
    """Every template of the dataset expanded with one difference phrase of c1 versus c2 (official)."""
    names = {"c1": display_name(c1), "c2": display_name(c2), "d": difference}
    return [t.format(**names) for t in dataset_templates(dataset).ovo or OVO]
