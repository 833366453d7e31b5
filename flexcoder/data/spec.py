"""What a dataset's registration holds: its classes and sizes, its on-disk reader and layout, FLEX-CLIP's class
halves, and the per-dataset settings the methods' authors published, each with its source.

Stdlib only (a leaf): the readers, the registry and the grid's validation all name these types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from flexcoder.data.items import DatasetItems

Task = Literal["retrieval", "classification"]


@dataclass(frozen=True)
class TipAdapterSetting:
    """Tip-Adapter's hyper-parameters for one dataset, as its official config file sets them: the initial
    (alpha, beta), and the validation search over 200 betas in [0.1, beta_max) x 20 alphas in [0.1, alpha_max)
    (the config's `search_scale: [beta_max, alpha_max]`, `search_step: [200, 20]`), and `augment_epoch`: the
    random-crop passes averaged into each support image's cache key. `source`: repository, file, commit."""

    init_alpha: float
    init_beta: float
    beta_max: float
    alpha_max: float
    source: str
    augment_epoch: int = 0


@dataclass(frozen=True)
class CoderTemplates:
    """CODER's text templates for one dataset where the official file (`CODER/template.py`) has its own; a field
    left empty takes the default (`flexcoder.coder.templates`). {c} = class name, {x} = attribute or analogous
    class, {c1}/{c2}/{d} = two classes and their difference. `zero_shot_only`: the att and ana entries apply to
    zero-shot runs only (the official task_type check)."""

    name: str = ""
    att: str = ""
    ana: str = ""
    ovo: tuple[str, ...] = ()
    zero_shot_only: bool = False
    source: str = ""


@dataclass(frozen=True)
class CoderSetting:
    """CODER's values for one dataset in its official code: the one-to-one rerank threshold (`utils.get_thres`),
    the CODER-Adapter's initial alpha/beta (`configs/<dataset>.yaml`; None where the authors ran no few-shot
    experiment, with its `augment_epoch`) and the CLIP classifier's prompt templates of its few-shot scripts
    (`datasets/few_shot_dataset/<dataset>.py`; empty where it has none). Each `*_source`: repository, file, commit."""

    rerank_threshold: float
    rerank_source: str
    adapter_alpha: float | None = None
    adapter_beta: float | None = None
    adapter_source: str = ""
    clip_templates: tuple[str, ...] = ()
    clip_templates_source: str = ""
    augment_epoch: int | None = None  # the CODER-Adapter's support passes (`configs/<dataset>.yaml`, adapter_source)
    templates: CoderTemplates | None = None


@dataclass(frozen=True)
class ClassHalves:
    """FLEX-CLIP's source / target classes of a retrieval dataset, by name, and where the split comes from."""

    source: tuple[str, ...]
    target: tuple[str, ...]
    provenance: str


Reader = Callable[["DatasetSpec", Path], "DatasetItems"]


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset known by name.

    Attributes:
        name: the registry key.
        classes: class names in canonical order (the order of the dataset's own class list).
        tasks: what the dataset serves: cross-modal retrieval (image-text pairs) and/or classification.
        n_train, n_test: item counts of the real dataset's standard split (pairs for retrieval datasets).
        multilabel: items may carry several labels (NUS-WIDE); retrieval relevance is "shares a label".
        reader: reads `<data_root>/<name>/` into items (`flexcoder.data.formats`); None: no real data.
        layout: the files `reader` expects under `<data_root>/<name>/`, one per line (errors quote it; the README's
            and docs/data.md's tables are checked against it).
        provenance: where the class list, sizes and split come from.
        halves: FLEX-CLIP's source / target classes (retrieval datasets).
        tip_adapter: the official Tip-Adapter setting for this dataset, where its authors published one.
        coder: the official CODER setting for this dataset, where its authors published one.
    """

    name: str
    classes: tuple[str, ...]
    tasks: tuple[Task, ...]
    n_train: int
    n_test: int
    multilabel: bool = False
    reader: Reader | None = None
    layout: str = ""
    provenance: str = ""
    halves: ClassHalves | None = None
    tip_adapter: TipAdapterSetting | None = None
    coder: CoderSetting | None = None

    def __post_init__(self) -> None:
        if self.halves is not None:
            class_halves(self)  # raises naming what is wrong

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def layout_files(self) -> tuple[str, ...]:
        """The first word of each unindented layout line: the files and folders, e.g. `texts/<text_id>.xml`."""
        return tuple(line.split()[0] for line in self.layout.splitlines() if line.strip() and not line[0].isspace())


def class_halves(spec: DatasetSpec) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(source class indices, target class indices) of `spec`, each in the registry's class order.

    Raises ValueError when the dataset has no halves, when they name an unknown class or repeat one, or when they
    overlap or leave a class out.
    """
    halves = spec.halves
    if halves is None:
        raise ValueError(f"dataset {spec.name!r} has no source/target class halves (a retrieval dataset needs them)")
    index = {c: i for i, c in enumerate(spec.classes)}
    picked = []
    for half, names in (("source", halves.source), ("target", halves.target)):
        if not names:
            raise ValueError(f"dataset {spec.name!r}: the {half} half is empty")
        unknown = [n for n in names if n not in index]
        if unknown:
            known = ", ".join(spec.classes)
            raise ValueError(f"dataset {spec.name!r}: unknown {half} classes {unknown}; known: {known}")
        picked.append(tuple(sorted(index[n] for n in names)))
    source, target = picked
    everything = source + target
    if len(set(everything)) != len(everything) or len(everything) != spec.num_classes:
        raise ValueError(
            f"dataset {spec.name!r}: source and target must split the {spec.num_classes} classes into disjoint halves"
        )
    if not halves.provenance.strip():
        raise ValueError(f"dataset {spec.name!r}: the halves' provenance must say where the split comes from")
    return source, target


def wholly_in(labels, mask):
    """Which items [N] of multi-hot `labels` [N, C] have labels and all of them inside the class `mask` [C] (numpy or
    torch alike). FLEX-CLIP's protocol keeps an item in a half only when all its labels are there (ours: items
    spanning both halves are dropped, so target classes stay unseen in zero-shot training)."""
    return labels.any(1) & ~(labels & ~mask).any(1)
