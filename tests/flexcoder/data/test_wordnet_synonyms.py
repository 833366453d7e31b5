"""WordNet synonyms from timm's synset files, checked against the files read by hand."""

from importlib import resources

import pytest

from flexcoder.data.knowledge import classification_world_entry
from flexcoder.data.wordnet_synonyms import wordnet_synonyms


def _by_hand() -> dict[str, list[str]]:
    info = resources.files("timm.data").joinpath("_info")
    rows = info.joinpath("imagenet_synset_to_lemma.txt").read_text().splitlines()
    return {s: [x.strip() for x in lemmas.split(",")] for s, lemmas in (r.split("\t") for r in rows)}


def test_imagenet_classes_get_the_other_lemmas_of_their_own_synset():
    lemmas = _by_hand()
    classes = classification_world_entry("imagenet")["classes"]
    synonyms = wordnet_synonyms(classes, imagenet=True)
    assert synonyms["great white shark"] == ["white shark", "man-eater", "man-eating shark", "Carcharodon carcharias"]
    assert synonyms["tench"] == lemmas["n01440764"][1:]  # ImageNet's first class
    assert all(cls.lower() not in [s.lower() for s in syn] for cls, syn in synonyms.items())
    assert 400 < len(synonyms) < 1000  # many synsets have one lemma only


def test_another_name_needs_to_head_exactly_one_synset():
    synonyms = wordnet_synonyms(["airplane", "bubbly", "crane", "no such class"])
    assert synonyms == {"airplane": ["aeroplane", "plane"]}  # bubbly: champagne's second lemma; crane: several


def test_imagenet_synsets_need_imagenet_s_class_list():
    with pytest.raises(ValueError, match="1000"):
        wordnet_synonyms(["tench"], imagenet=True)


def test_without_timm_the_error_names_the_file_it_needs(monkeypatch):
    from flexcoder.data import wordnet_synonyms as module

    monkeypatch.setattr(module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RuntimeError, match="imagenet_synsets.txt"):
        module._info_file("imagenet_synsets.txt")
