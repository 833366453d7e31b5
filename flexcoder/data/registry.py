"""The dataset registry: every dataset a YAML file may name, registered once, here.

A registration (`DatasetSpec`, `flexcoder.data.spec`) holds everything about one dataset: its classes and sizes, its
on-disk reader and layout, FLEX-CLIP's class halves and the methods' official per-dataset settings, each with its
source. Sizes and class lists mirror the real datasets; the embedded world generates data of exactly these shapes.
Adding a dataset: a reader in `flexcoder.data.formats` (or an existing one) and one `register_dataset` call below.
"""

from __future__ import annotations

from flexcoder.data.formats import cub, fewshot, nuswide, nuswide10k, pascal_sentence, wikipedia
from flexcoder.data.spec import ClassHalves, CoderSetting, CoderTemplates, DatasetSpec, Task, TipAdapterSetting

_VOC = (
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "dining table",
    "dog",
    "horse",
    "motorbike",
    "person",
    "potted plant",
    "sheep",
    "sofa",
    "train",
    "tv monitor",
)

_DATASETS: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    if spec.name in _DATASETS:
        raise ValueError(f"dataset {spec.name!r} is already registered")
    _DATASETS[spec.name] = spec
    return spec


def get_dataset(name: str) -> DatasetSpec:
    try:
        return _DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(sorted(_DATASETS))}") from None


def list_datasets(task: Task | None = None) -> list[str]:
    return sorted(n for n, s in _DATASETS.items() if task is None or task in s.tasks)


def _first_half(classes: tuple[str, ...], order: str) -> ClassHalves:
    """FLEX-CLIP's halves when the paper does not list them: the first half of the canonical class order is the
    source, the rest the target (our choice; fixed across runs so results stay comparable)."""
    half = len(classes) // 2
    return ClassHalves(
        classes[:half],
        classes[half:],
        f"FLEX-CLIP (arXiv 2411.17454) splits the classes into disjoint source and target halves "
        f"({half} + {len(classes) - half} here) but does not list them. Our choice: the first half of the canonical "
        f"class order ({order}) is the source, the rest the target.",
    )


# FLEX-CLIP's retrieval datasets (arXiv 2411.17454).

_WIKIPEDIA = (
    "art & architecture",
    "biology",
    "geography & places",
    "history",
    "literature & theatre",
    "media",
    "music",
    "royalty & nobility",
    "sport & recreation",
    "warfare",
)
register_dataset(
    DatasetSpec(
        name="wikipedia",
        classes=_WIKIPEDIA,
        tasks=("retrieval", "classification"),
        n_train=2173,
        n_test=693,
        reader=wikipedia.read,
        layout=wikipedia.LAYOUT,
        provenance=(
            "Rasiwasia et al. 2010 (10 categories, 2,173 train / 693 test pairs), the SVCL release; the split is "
            "the release's train/test list files"
        ),
        halves=_first_half(_WIKIPEDIA, "the release's categories.list, category numbers 1-10 of the list files"),
    )
)
register_dataset(
    DatasetSpec(
        name="pascal_sentence",
        classes=_VOC,
        tasks=("retrieval", "classification"),
        n_train=800,
        n_test=200,
        reader=pascal_sentence.read,
        layout=pascal_sentence.LAYOUT,
        provenance=(
            "Rashtchian et al. 2010 (20 VOC classes x 50 images, 5 sentences each); 40 train / 10 test per class "
            "by sorted file name (our choice: the common 800/100/100 split with val folded into test)"
        ),
        halves=_first_half(_VOC, "the PASCAL VOC class order, alphabetical as on the dataset's page"),
    )
)
_NUSWIDE = ("sky", "clouds", "person", "water", "animal", "grass", "buildings", "window", "plants", "lake")
register_dataset(
    DatasetSpec(
        name="nuswide",
        classes=_NUSWIDE,
        tasks=("retrieval",),
        n_train=42941,
        n_test=23661,
        multilabel=True,
        reader=nuswide.read,
        layout=nuswide.LAYOUT,
        provenance="Chua et al. 2009; the 10 largest concepts as used in cross-modal retrieval work (DSCMR: "
        "42,941 train / 23,661 test pairs), canonical order by concept frequency. Real data: images with at "
        "least one of the 10 concepts and a tag, split by the release's Train/TestImagelist.txt (counts as "
        "the files give them)",
        halves=_first_half(_NUSWIDE, "the 10 largest concepts by frequency"),
    )
)
_NUSWIDE10K = ("animal", "clouds", "flowers", "food", "grass", "person", "sky", "toy", "water", "window")
register_dataset(
    DatasetSpec(
        name="nuswide10k",
        classes=_NUSWIDE10K,
        tasks=("retrieval", "classification"),
        n_train=8000,
        n_test=2000,
        reader=nuswide10k.read,
        layout=nuswide10k.LAYOUT,
        provenance="Feng et al. 2014 (10 concepts x 1,000 single-label pairs); 800 train / 200 test per class "
        "(our choice: the 8,000/1,000/1,000 split with val folded into test); no raw-file release is "
        "canonical, so the two list files are this project's format (docs/data.md)",
        halves=_first_half(_NUSWIDE10K, "alphabetical"),
    )
)

# CODER's classification datasets (arXiv 2404.17753, Sec. 4). Real data only: the CoOp split JSON, ImageNet-style
# folder trees, or CUB-200-2011's own release files. Sizes are the standard test splits; class names come from the
# data root's split file or class folders (an optional classnames.txt gives readable names).
_ZERO_SHOT = (
    "CODER zero-shot datasets (exp_zero_shot.sh); class names come from the data root's split file or class folders "
    "(an optional classnames.txt gives readable names)"
)
_TIP = "gaopengcuhk/Tip-Adapter configs/{}.yaml @ 4e29134179c971f2e617428f6dfe46066cf9b80d"
_TIP_FORK = (
    "OE-Heart/Tip-Adapter (a fork whose other configs equal the official ones) configs/{}.yaml @ "
    "bf8fb377432400c96c749480de1128c877ee265c; the official repository's copy is not in our index"
)
_CODER_REPO = "YCaigogogo/CVPR24-CODER {} @ 1501735a2860041b78aa206d3ca01a9f0c294932"
_RERANK = _CODER_REPO.format("utils.py get_thres")
_CODER_TEMPLATES = "YCaigogogo/CVPR24-CODER datasets/few_shot_dataset/{}.py @ 89a64002e5a8883478c7e4674073895511747ecc"
_CODER_TEXT = "YCaigogogo/CVPR24-CODER CODER/template.py @ 89a64002e5a8883478c7e4674073895511747ecc"
_IMAGENET_TEMPLATES = (
    "itap of a {}.",
    "a bad photo of the {}.",
    "a origami {}.",
    "a photo of the large {}.",
    "a {} in a video game.",
    "art of the {}.",
    "a photo of the small {}.",
)


def _placeholder_classes(n: int) -> tuple[str, ...]:
    return tuple(f"class_{i}" for i in range(n))


register_dataset(
    DatasetSpec(
        name="imagenet",
        classes=_placeholder_classes(1000),
        tasks=("classification",),
        n_train=0,
        n_test=50000,
        reader=fewshot.read_folder_tree,
        layout=fewshot.FOLDER_LAYOUT,
        provenance=_ZERO_SHOT,
        tip_adapter=TipAdapterSetting(1.17, 1.0, 7.0, 3.0, _TIP.format("imagenet"), augment_epoch=10),
        coder=CoderSetting(
            0.1,
            _RERANK,
            1.66,
            72.0,
            _CODER_REPO.format("configs/imagenet.yaml"),
            _IMAGENET_TEMPLATES,
            _CODER_TEMPLATES.format("imagenet"),
            augment_epoch=1,
        ),
    )
)
register_dataset(
    DatasetSpec(
        name="caltech101",
        classes=_placeholder_classes(100),
        tasks=("classification",),
        n_train=0,
        n_test=2465,
        reader=fewshot.read_coop_split,
        layout=fewshot.COOP_LAYOUT,
        provenance=_ZERO_SHOT,
        tip_adapter=TipAdapterSetting(3.0, 1.0, 12.0, 5.0, _TIP_FORK.format("caltech101"), augment_epoch=10),
        coder=CoderSetting(
            0.3,
            _RERANK,
            100.0,
            24.76,
            _CODER_REPO.format("configs/caltech-101.yaml"),
            ("a photo of a {}.",),
            _CODER_TEMPLATES.format("caltech101"),
            augment_epoch=20,
        ),
    )
)
register_dataset(
    DatasetSpec(
        name="dtd",
        classes=_placeholder_classes(47),
        tasks=("classification",),
        n_train=0,
        n_test=1692,
        reader=fewshot.read_coop_split,
        layout=fewshot.COOP_LAYOUT,
        provenance=_ZERO_SHOT,
        tip_adapter=TipAdapterSetting(2.0, 1.0, 13.0, 13.0, _TIP.format("dtd"), augment_epoch=10),
        coder=CoderSetting(
            0.6,
            _RERANK,
            2.57,
            30.18,
            _CODER_REPO.format("configs/dtd.yaml"),
            ("{} texture.",),
            _CODER_TEMPLATES.format("dtd"),
            augment_epoch=20,
            templates=CoderTemplates(
                att="The texture of {c} is characterized by its {x} feature.",
                ana="The texture of {c} bears a likeness to that of {x} .",
                # The official list lacks a comma after its first entry, which joins two templates; we keep four.
                ovo=(
                    "{c1}, a type of texture, exhibits a unique {d} that sets it apart from {c2}.",
                    "Because of {d}, {c1} is different from {c2}.",
                    "In handling {d}, {c1} differs distinctly from {c2}.",
                    "In {d} expression, {c1} deviates from {c2}.",
                ),
                zero_shot_only=True,
                source=_CODER_TEXT,
            ),
        ),
    )
)
register_dataset(
    DatasetSpec(
        name="eurosat",
        classes=_placeholder_classes(10),
        tasks=("classification",),
        n_train=0,
        n_test=8100,
        reader=fewshot.read_coop_split,
        layout=fewshot.COOP_LAYOUT,
        provenance=_ZERO_SHOT,
        tip_adapter=TipAdapterSetting(2.0, 1.0, 12.0, 10.0, _TIP.format("eurosat"), augment_epoch=10),
        coder=CoderSetting(
            0.3,
            _RERANK,
            1.73,
            91.34,
            _CODER_REPO.format("configs/eurosat.yaml"),
            ("a centered satellite photo of {}.",),
            _CODER_TEMPLATES.format("eurosat"),
            augment_epoch=20,
            templates=CoderTemplates(
                name="a photo of {c}, satellite domain.",
                att="A satellite photo of {c} which has {x}.",
                ana="A satellite photo of a {c} similar to {x}.",
                ovo=(
                    "The unique utilization of {d} in satellite photos makes {c1} different from {c2}.",
                    "Differences in {d} representation separate {c1} in satellite photos from {c2}.",
                    "Contrasting {c1} and {c2} in satellite photos reveals notable differences in the representation "
                    "of {d}.",
                    "{c1} and {c2} showcase distinct visual features when it comes to {d} in satellite imagery.",
                    "The comparison of {c1} and {c2} in satellite photos underscores variations in the depiction of "
                    "{d}.",
                    "In the context of satellite imagery, differences emerge between {c1} and {c2} in how they "
                    "capture {d}.",
                    "Analyzing satellite photos highlights disparities in the portrayal of {d} between {c1} and {c2}.",
                    "{c1} and {c2} exhibit contrasting visual interpretations when representing {d} in satellite "
                    "imagery.",
                ),
                source=_CODER_TEXT,
            ),
        ),
    )
)
register_dataset(
    DatasetSpec(
        name="food101",
        classes=_placeholder_classes(101),
        tasks=("classification",),
        n_train=0,
        n_test=30300,
        reader=fewshot.read_coop_split,
        layout=fewshot.COOP_LAYOUT,
        provenance=_ZERO_SHOT,
        coder=CoderSetting(
            0.1,
            _RERANK,
            1.0,
            1.0,
            _CODER_REPO.format("configs/food101.yaml"),
            ("a photo of {}, a type of food.",),
            _CODER_TEMPLATES.format("food101"),
            augment_epoch=20,
            templates=CoderTemplates(
                name="a photo of {c}, a type of food.",
                att="A food photo of {c} which has {x}.",
                ana="A food photo of a {c} similar to {x}.",
                ovo=(
                    "While both are popular dishes, {c1} is notably different from {c2} in that {d}.",
                    "While both are popular snacks, {c1} is notably different from {c2} in that {d}.",
                    "While both are popular dessert, {c1} is notably different from {c2} in that {d}.",
                    "In terms of food aspects, a food photo of {c1}, which has {d}, differs from {c2}.",
                ),
                source=_CODER_TEXT,
            ),
        ),
    )
)
register_dataset(
    DatasetSpec(
        name="oxford_pets",
        classes=_placeholder_classes(37),
        tasks=("classification",),
        n_train=0,
        n_test=3669,
        reader=fewshot.read_coop_split,
        layout=fewshot.COOP_LAYOUT,
        provenance=_ZERO_SHOT,
        tip_adapter=TipAdapterSetting(1.17, 1.0, 7.0, 3.0, _TIP.format("oxford_pets"), augment_epoch=10),
        coder=CoderSetting(
            0.1,
            _RERANK,
            1.0,
            26.0,
            _CODER_REPO.format("configs/oxford-pet.yaml"),
            ("a photo of a {}, a type of pet.",),
            _CODER_TEMPLATES.format("oxford_pets"),
            augment_epoch=10,
            templates=CoderTemplates(
                name="a photo of a {c}, a type of pet.",
                att="A pet photo of {c} which has {x}.",
                ana="A pet photo of a {c} similar to {x}.",
                ovo=(
                    "A {c1}, a species of pet, can be distinguished from a {c2}, a species of pet, by the "
                    "characteristics of {d}",
                    "Because of {d}, a {c1}, a kind of pet, is different from a {c2}, a kind of pet.",
                    "Due to their {d}, a {c1}, a pet type, displays a different demeanor compared to a {c2}, another "
                    "pet type.",
                    "Because of their {d}, a {c1}, a kind of pet, differs significantly from a {c2}, a kind of pet.",
                ),
                zero_shot_only=True,
                source=_CODER_TEXT,
            ),
        ),
    )
)
register_dataset(
    DatasetSpec(
        name="cub200",
        classes=_placeholder_classes(200),
        tasks=("classification",),
        n_train=0,
        n_test=5794,
        reader=cub.read,
        layout=cub.LAYOUT,
        provenance=_ZERO_SHOT,
        coder=CoderSetting(
            0.2,
            _RERANK,
            templates=CoderTemplates(
                ovo=(
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
                source=_CODER_TEXT,
            ),
        ),
    )
)
register_dataset(
    DatasetSpec(
        name="places365",
        classes=_placeholder_classes(365),
        tasks=("classification",),
        n_train=0,
        n_test=36500,
        reader=fewshot.read_folder_tree,
        layout=fewshot.FOLDER_LAYOUT,
        provenance=_ZERO_SHOT,
        coder=CoderSetting(
            0.1,
            _RERANK,
            templates=CoderTemplates(
                ovo=(
                    "{c1}, a type of places, can be distinguished from {c2}, a type of places, by the "
                    "characteristics of {d}",
                    "Because of {d}, {c1}, a type of places, is different from {c2}, a type of places.",
                ),
                source=_CODER_TEXT,
            ),
        ),
    )
)
