import numpy as np
import pytest

from flexcoder.data import sentence_encoder
from flexcoder.data.sentence_encoder import DIM, encode_sentences


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(sentence_encoder.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(sentence_encoder, "_memo", {})
    return tmp_path


def test_minilm_embeds_by_meaning(fresh_cache):
    """The real all-MiniLM-L6-v2: a zebra is closer to a striped horse-like animal than to a car (0.508 and 0.278
    measured with sentence-transformers' own loader on the same folder)."""
    zebra, striped, car = encode_sentences(["a photo of a zebra", "a striped horse-like animal", "a red sports car"])
    assert zebra.shape == (DIM,)
    assert np.linalg.norm(zebra) == pytest.approx(1.0, abs=1e-5)
    assert float(zebra @ striped) == pytest.approx(0.508, abs=0.01)
    assert float(zebra @ car) == pytest.approx(0.278, abs=0.01)


def test_encodings_are_cached_on_disk_and_reused_without_the_model(fresh_cache, monkeypatch):
    texts = ["banded", "a repeating pattern of light and dark bands"]
    first = encode_sentences(texts)
    assert len(list(fresh_cache.rglob("*.npy"))) == 1
    monkeypatch.setattr(sentence_encoder, "_memo", {})

    def no_model():
        raise AssertionError("the model was loaded although the disk cache holds the encodings")

    monkeypatch.setattr(sentence_encoder, "_model", no_model)
    np.testing.assert_array_equal(encode_sentences(texts), first)


def test_a_damaged_cache_entry_is_encoded_again(fresh_cache, monkeypatch):
    texts = ["forest", "river"]
    first = encode_sentences(texts)
    (entry,) = fresh_cache.rglob("*.npy")
    entry.write_bytes(b"not an array")
    monkeypatch.setattr(sentence_encoder, "_memo", {})
    np.testing.assert_allclose(encode_sentences(texts), first, atol=1e-6)
    assert np.load(entry).shape == (2, DIM)


def test_no_texts_gives_an_empty_matrix():
    assert encode_sentences([]).shape == (0, DIM)


def test_lists_that_join_to_the_same_text_are_different_cache_entries(fresh_cache):
    a = encode_sentences(["a striped\nhorse", "a red car"])
    b = encode_sentences(["a striped", "horse\na red car"])
    assert not np.allclose(a, b)


def test_a_shared_encoding_cannot_be_changed_by_a_caller(fresh_cache):
    out = encode_sentences(["forest"])
    with pytest.raises(ValueError):
        out[0, 0] = 1.0
