"""Dataset registry: names that appear in YAML, with their classes, sizes and real on-disk layout.

Sizes and class lists mirror the real datasets; the simulated world generates data of exactly these shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Task = Literal["retrieval", "classification"]


@dataclass(frozen=True)
class TipAdapterSetting:
    """Tip-Adapter's hyper-parameters for one dataset, as its official config file sets them: the initial
    (alpha, beta), and the validation search over 200 betas in [0.1, beta_max) x 20 alphas in [0.1, alpha_max)
    (the config's `search_scale: [beta_max, alpha_max]`, `search_step: [200, 20]`). `source`: repository, file,
    commit."""

    init_alpha: float
    init_beta: float
    beta_max: float
    alpha_max: float
    source: str


@dataclass(frozen=True)
class CoderSetting:
    """CODER's values for one dataset in its official code: the one-to-one rerank threshold (`utils.get_thres`)
    and the CODER-Adapter's initial alpha/beta (`configs/<dataset>.yaml`; None where the authors ran no few-shot
    experiment). Each `*_source`: repository, file, commit."""

    rerank_threshold: float
    rerank_source: str
    adapter_alpha: float | None = None
    adapter_beta: float | None = None
    adapter_source: str = ""


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset known by name.

    Attributes:
        name: the registry key.
        classes: class names in canonical order (the order of the dataset's own class list).
        tasks: what the dataset serves: cross-modal retrieval (image-text pairs) and/or classification.
        n_train, n_test: item counts of the real dataset's standard split (pairs for retrieval datasets).
        multilabel: items may carry several labels (NUS-WIDE); retrieval relevance is "shares a label".
        layout: files and folders expected under `<data_root>/<name>/` for real data.
        provenance: where the class list, sizes and split come from.
        tip_adapter: the official Tip-Adapter setting for this dataset, where its authors published one.
        coder: the official CODER setting for this dataset, where its authors published one.
    """

    name: str
    classes: tuple[str, ...]
    tasks: tuple[Task, ...]
    n_train: int
    n_test: int
    multilabel: bool = False
    layout: tuple[str, ...] = ()
    provenance: str = ""
    tip_adapter: TipAdapterSetting | None = None
    coder: CoderSetting | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)


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


register_dataset(
    DatasetSpec(
        name="wikipedia",
        classes=(
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
        ),
        tasks=("retrieval", "classification"),
        n_train=2173,
        n_test=693,
        layout=("categories.list", "trainset_txt_img_cat.list", "testset_txt_img_cat.list", "texts/", "images/"),
        provenance=(
            "Rasiwasia et al. 2010 (10 categories, 2,173 train / 693 test pairs), the SVCL release; the split is "
            "the release's train/test list files"
        ),
    )
)
register_dataset(
    DatasetSpec(
        name="pascal_sentence",
        classes=_VOC,
        tasks=("retrieval", "classification"),
        n_train=800,
        n_test=200,
        layout=("pascal_sentences.json", "images/"),
        provenance=(
            "Rashtchian et al. 2010 (20 VOC classes x 50 images, 5 sentences each); 40 train / 10 test per class "
            "by sorted file name (our choice: the common 800/100/100 split with val folded into test)"
        ),
    )
)
register_dataset(
    DatasetSpec(
        name="nuswide",
        classes=("sky", "clouds", "person", "water", "animal", "grass", "buildings", "window", "plants", "lake"),
        tasks=("retrieval",),
        n_train=42941,
        n_test=23661,
        multilabel=True,
        layout=(
            "ImageList/Imagelist.txt",
            "ImageList/TrainImagelist.txt",
            "ImageList/TestImagelist.txt",
            "Groundtruth/AllLabels/",
            "NUS_WID_Tags/All_Tags.txt",
            "images/",
        ),
        provenance="Chua et al. 2009; the 10 largest concepts as used in cross-modal retrieval work (DSCMR: "
        "42,941 train / 23,661 test pairs), canonical order by concept frequency. Real data: images with at "
        "least one of the 10 concepts and a tag, split by the release's Train/TestImagelist.txt (counts as "
        "the files give them)",
    )
)
register_dataset(
    DatasetSpec(
        name="nuswide10k",
        classes=("animal", "clouds", "flowers", "food", "grass", "person", "sky", "toy", "water", "window"),
        tasks=("retrieval", "classification"),
        n_train=8000,
        n_test=2000,
        layout=("nuswide10k_train.txt", "nuswide10k_test.txt", "images/"),
        provenance="Feng et al. 2014 (10 concepts x 1,000 single-label pairs); 800 train / 200 test per class "
        "(our choice: the 8,000/1,000/1,000 split with val folded into test); no raw-file release is "
        "canonical, so the two list files are this project's format (docs/data.md)",
    )
)

# CODER's classification datasets (arXiv 2404.17753, Sec. 4). Real data only; the adapters read the common few-shot
# split JSON (CoOp format), ImageNet-style folder trees (train/ and val/ class folders) for the two that ship so, and
# CUB-200-2011's own release files (flexcoder/data/formats/). Sizes are the standard test splits.
_COOP_LAYOUT = ("split.json  (CoOp format: {train,val,test: [[path, label, classname], ...]})", "images/")
_FOLDER_LAYOUT = ("train/  (one folder of images per class)", "val/  (the test split, same class folders)")
_CUB_LAYOUT = ("classes.txt", "images.txt", "image_class_labels.txt", "train_test_split.txt", "images/")
_TIP = "gaopengcuhk/Tip-Adapter configs/{}.yaml @ 4e29134179c971f2e617428f6dfe46066cf9b80d"
_TIP_FORK = (
    "OE-Heart/Tip-Adapter (a fork whose other configs equal the official ones) configs/{}.yaml @ "
    "bf8fb377432400c96c749480de1128c877ee265c; the official repository's copy is not in our index"
)
_TIP_ADAPTER = {
    "imagenet": TipAdapterSetting(1.17, 1.0, 7.0, 3.0, _TIP.format("imagenet")),
    "caltech101": TipAdapterSetting(3.0, 1.0, 12.0, 5.0, _TIP_FORK.format("caltech101")),
    "dtd": TipAdapterSetting(2.0, 1.0, 13.0, 13.0, _TIP.format("dtd")),
    "eurosat": TipAdapterSetting(2.0, 1.0, 12.0, 10.0, _TIP.format("eurosat")),
    "oxford_pets": TipAdapterSetting(1.17, 1.0, 7.0, 3.0, _TIP.format("oxford_pets")),
}
_CODER_REPO = "YCaigogogo/CVPR24-CODER {} @ 1501735a2860041b78aa206d3ca01a9f0c294932"
_RERANK = _CODER_REPO.format("utils.py get_thres")
_CODER = {
    "imagenet": CoderSetting(0.1, _RERANK, 1.66, 72.0, _CODER_REPO.format("configs/imagenet.yaml")),
    "caltech101": CoderSetting(0.3, _RERANK, 100.0, 24.76, _CODER_REPO.format("configs/caltech-101.yaml")),
    "dtd": CoderSetting(0.6, _RERANK, 2.57, 30.18, _CODER_REPO.format("configs/dtd.yaml")),
    "eurosat": CoderSetting(0.3, _RERANK, 1.73, 91.34, _CODER_REPO.format("configs/eurosat.yaml")),
    "food101": CoderSetting(0.1, _RERANK, 1.0, 1.0, _CODER_REPO.format("configs/food101.yaml")),
    "oxford_pets": CoderSetting(0.1, _RERANK, 1.0, 26.0, _CODER_REPO.format("configs/oxford-pet.yaml")),
    "cub200": CoderSetting(0.2, _RERANK),
    "places365": CoderSetting(0.1, _RERANK),
}
for _name, _n_classes, _n_test, _layout in [
    ("imagenet", 1000, 50000, _FOLDER_LAYOUT),
    ("caltech101", 100, 2465, _COOP_LAYOUT),
    ("dtd", 47, 1692, _COOP_LAYOUT),
    ("eurosat", 10, 8100, _COOP_LAYOUT),
    ("food101", 101, 30300, _COOP_LAYOUT),
    ("oxford_pets", 37, 3669, _COOP_LAYOUT),
    ("cub200", 200, 5794, _CUB_LAYOUT),
    ("places365", 365, 36500, _FOLDER_LAYOUT),
]:
    register_dataset(
        DatasetSpec(
            name=_name,
            classes=tuple(f"class_{i}" for i in range(_n_classes)),
            tasks=("classification",),
            n_train=0,
            n_test=_n_test,
            layout=_layout,
            provenance="CODER zero-shot datasets (exp_zero_shot.sh); class names come from the data root's split file "
            "or class folders (an optional classnames.txt gives readable names)",
            tip_adapter=_TIP_ADAPTER.get(_name),
            coder=_CODER.get(_name),
        )
    )
