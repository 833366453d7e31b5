"""Class-name synonyms from WordNet, offline: the lemmas of ImageNet-21k's WordNet synsets as timm ships them
(`timm/data/_info/imagenet_synset_to_lemma.txt`; timm is installed with open_clip).

A class's synonyms are the other lemmas of its synset. ImageNet's 1000 classes have their synsets
(`imagenet_synsets.txt`, in class order). Any other class name gets a synset only when it is the first lemma of
exactly one of the 21,844 synsets (ours: a name that is a synset's head word means that synset; a name that is only
a secondary lemma, or heads several, is too often another sense, e.g. DTD's "bubbly" is a secondary lemma of
champagne's synset).
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Sequence
from pathlib import Path

IMAGENET_CLASSES = 1000


def _info_file(name: str) -> str:
    """One of timm's `data/_info` files, found without importing timm (which would import torch and its models)."""
    spec = importlib.util.find_spec("timm")
    path = Path(spec.submodule_search_locations[0], "data", "_info", name) if spec else None
    if path is None or not path.is_file():
        raise RuntimeError(f"WordNet synonyms read timm's data/_info/{name}; it is missing (timm comes with open_clip)")
    return path.read_text()


@functools.cache
def synset_lemmas() -> dict[str, tuple[str, ...]]:
    """{WordNet synset id (e.g. n01440764): its lemmas, head word first}."""
    out = {}
    for line in _info_file("imagenet_synset_to_lemma.txt").splitlines():
        synset, _, lemmas = line.partition("\t")
        out[synset] = tuple(x.strip() for x in lemmas.split(",") if x.strip())
    return out


@functools.cache
def imagenet_synsets() -> tuple[str, ...]:
    """ImageNet-1k's synset ids in class-index order."""
    return tuple(_info_file("imagenet_synsets.txt").split())


@functools.cache
def _synsets_headed_by() -> dict[str, tuple[str, ...]]:
    heads: dict[str, list[str]] = {}
    for synset, lemmas in synset_lemmas().items():
        if lemmas:
            heads.setdefault(lemmas[0].lower(), []).append(synset)
    return {k: tuple(v) for k, v in heads.items()}


def _only(synsets: tuple[str, ...]) -> str | None:
    return synsets[0] if len(synsets) == 1 else None


def wordnet_synonyms(class_names: Sequence[str], imagenet: bool = False) -> dict[str, list[str]]:
    """{class: its WordNet synonyms} for the classes that have any. `imagenet`: `class_names` are ImageNet-1k's, in
    class order, so each has its own synset."""
    if imagenet:
        if len(class_names) != IMAGENET_CLASSES:
            raise ValueError(f"ImageNet's synsets are for {IMAGENET_CLASSES} classes, got {len(class_names)}")
        synsets = list(imagenet_synsets())
    else:
        heads = _synsets_headed_by()
        synsets = [_only(heads.get(c.lower(), ())) for c in class_names]
    lemmas = synset_lemmas()
    out = {}
    for cls, synset in zip(class_names, synsets):
        others = [x for x in lemmas.get(synset, ()) if x.lower() != cls.lower()] if synset else []
        if others:
            out[cls] = others
    return out
