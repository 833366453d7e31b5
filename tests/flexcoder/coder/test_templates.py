"""CODER's templates are the official file's, word for word (YCaigogogo/CVPR24-CODER CODER/template.py @ 89a64002),
with the official zero-shot-only entries and our one fix (DTD's joined one-vs-one templates kept apart)."""

from flexcoder.coder import templates


def test_name_attribute_and_analogous_texts_are_verbatim_missing_periods_included():
    assert templates.name_text("tench", "imagenet") == "a photo of tench"
    assert templates.name_text("Abyssinian", "oxford_pets") == "a photo of a Abyssinian, a type of pet."
    assert templates.name_text("AnnualCrop", "eurosat") == "a photo of AnnualCrop, satellite domain."
    assert templates.att_text("tench", "fins", "imagenet") == "tench which has fins"
    assert templates.ana_text("Forest", "jungle", "eurosat") == "A satellite photo of a Forest similar to jungle."
    assert (
        templates.ana_text("banded", "striped", "dtd") == "The texture of banded bears a likeness to that of striped ."
    )


def test_pet_and_texture_attribute_templates_are_zero_shot_only_as_in_the_official_scripts():
    assert templates.att_text("Abyssinian", "ears", "oxford_pets") == "A pet photo of Abyssinian which has ears."
    assert templates.att_text("Abyssinian", "ears", "oxford_pets", few_shot=True) == "Abyssinian which has ears"
    assert templates.ana_text("banded", "striped", "dtd", few_shot=True) == "a banded similar to striped."
    assert templates.att_text("pizza", "cheese", "food101", few_shot=True) == "A food photo of pizza which has cheese."


def test_one_vs_one_templates_per_dataset():
    assert len(templates.ovo_texts("a", "b", "d")) == 7
    assert len(templates.ovo_texts("a", "b", "d", "cub200")) == 11
    dtd = templates.ovo_texts("banded", "blotchy", "stripes", "dtd")
    assert len(dtd) == 4 and dtd[1] == "Because of stripes, banded is different from blotchy."
    assert (
        templates.ovo_texts("a_b", "c", "d", "places365")[1]
        == "Because of d, a b, a type of places, is different from c, a type of places."
    )


def test_dataset_templates_live_in_the_registrations_with_their_source():
    from flexcoder.data.registry import get_dataset, list_datasets

    own = {n for n in list_datasets() if get_dataset(n).coder and get_dataset(n).coder.templates}
    assert own == {"eurosat", "food101", "oxford_pets", "dtd", "cub200", "places365"}
    for name in own:
        assert "CODER/template.py @ 89a64002" in get_dataset(name).coder.templates.source
    assert templates.dataset_templates("not_registered") == templates.dataset_templates("imagenet")  # the defaults
