"""ATG's analogous-class filter against a by-hand loop over the other classes, on the real sentence encoder."""

import torch

from flexcoder.coder.atg import build_text_bank, filter_analogous, photo_features
from flexcoder.data.sentence_encoder import encode_sentences
from flexcoder.textgen.template import TemplateGenerator

CLASSES = ["annual crop land", "permanent crop land", "forest", "river", "sea or lake"]


def encode(texts):
    return torch.tensor(encode_sentences(list(texts)))


def naive_kept(index, proposals, threshold):
    """Keep a proposal unless "a photo of {it}" is closer than `threshold` to "a photo of {c}" for some other c."""
    kept = []
    for x in proposals:
        p = torch.nn.functional.normalize(encode([f"a photo of {x}"]), dim=-1)[0]
        others = [c for i, c in enumerate(CLASSES) if i != index]
        o = torch.nn.functional.normalize(encode([f"a photo of {c}" for c in others]), dim=-1)
        if float((o @ p).max()) <= threshold:
            kept.append(x)
    return kept


def test_a_proposal_too_close_to_another_class_is_dropped_as_by_hand():
    proposals = ["permanent crop land", "permanent crop fields", "orchard", "desert", "annual crop land"]
    features = photo_features(CLASSES, encode)
    for threshold in (0.7, 0.9):
        kept, rejected = filter_analogous(0, proposals, features, encode, threshold)
        assert kept == naive_kept(0, proposals, threshold)
        assert rejected == len(proposals) - len(kept)
    assert "permanent crop land" not in filter_analogous(0, proposals, features, encode, 0.9)[0]
    assert "annual crop land" in filter_analogous(0, proposals, features, encode, 0.9)[0]  # its own name is no other


def test_the_text_bank_counts_what_the_filter_dropped():
    gen = TemplateGenerator({c: {"related": ["permanent crop land", "orchard"]} for c in CLASSES})
    _, stats = build_text_bank(CLASSES, ("name", "ana"), gen, encode, ana_threshold=0.9)
    proposals = ["permanent crop land", "orchard"]
    by_hand = sum(len(proposals) - len(naive_kept(i, proposals, 0.9)) for i in range(len(CLASSES)))
    assert stats.ana_rejected == by_hand >= len(CLASSES) - 1  # another class's own name, for every class but it
