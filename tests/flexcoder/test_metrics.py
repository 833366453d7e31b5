import pytest
import torch
from sklearn.metrics import average_precision_score

from flexcoder.metrics import cross_modal_map, mean_average_precision, top_k_accuracy


def reference_map(scores, qlab, glab):
    """Per-query sklearn average precision, relevance = shares a label, queries without relevant items skipped."""
    aps = []
    for i in range(scores.shape[0]):
        rel = (qlab[i].float() @ glab.float().T > 0).numpy()
        if rel.sum() == 0:
            continue
        aps.append(average_precision_score(rel, scores[i].numpy()))
    return sum(aps) / len(aps)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("multilabel", [False, True])
def test_map_matches_sklearn_reference_on_random_cases(seed, multilabel):
    g = torch.Generator().manual_seed(seed)
    q, n, c = 37, 53, 6
    if multilabel:
        qlab = torch.rand(q, c, generator=g) < 0.3
        glab = torch.rand(n, c, generator=g) < 0.3
    else:
        qlab = torch.nn.functional.one_hot(torch.randint(c, (q,), generator=g), c).bool()
        glab = torch.nn.functional.one_hot(torch.randint(c, (n,), generator=g), c).bool()
    scores = torch.randn(q, n, generator=g)
    assert mean_average_precision(scores, qlab, glab, chunk=8) == pytest.approx(reference_map(scores, qlab, glab))


@pytest.mark.parametrize("seed", range(3))
def test_map_with_many_ties_matches_sklearn(seed):
    g = torch.Generator().manual_seed(seed)
    qlab = torch.nn.functional.one_hot(torch.randint(3, (20,), generator=g), 3).bool()
    glab = torch.nn.functional.one_hot(torch.randint(3, (30,), generator=g), 3).bool()
    scores = torch.randint(0, 4, (20, 30), generator=g).float()  # heavy ties
    assert mean_average_precision(scores, qlab, glab) == pytest.approx(reference_map(scores, qlab, glab))


def test_map_is_one_for_a_perfect_ranking_and_known_value_for_a_reversed_one():
    lab = torch.eye(2).bool()[[0, 0, 1]]
    perfect = torch.tensor([[3.0, 2.0, 1.0]])
    assert mean_average_precision(perfect, lab[:1], lab) == pytest.approx(1.0)
    worst = torch.tensor([[1.0, 2.0, 3.0]])  # relevant at ranks 2 and 3: (1/2 + 2/3) / 2
    assert mean_average_precision(worst, lab[:1], lab) == pytest.approx((0.5 + 2 / 3) / 2)


def test_cross_modal_map_reports_both_directions_and_their_mean():
    g = torch.Generator().manual_seed(0)
    labels = torch.nn.functional.one_hot(torch.arange(40) % 4, 4).bool()
    image = torch.randn(40, 16, generator=g)
    text = image + 0.1 * torch.randn(40, 16, generator=g)
    m = cross_modal_map(image, text, labels)
    assert set(m) == {"map_i2t", "map_t2i", "map_avg"}
    assert m["map_avg"] == pytest.approx((m["map_i2t"] + m["map_t2i"]) / 2)


def test_top_k_accuracy_against_hand_count():
    logits = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.3, 0.5], [0.4, 0.5, 0.1]])
    labels = torch.tensor([0, 1, 0])
    assert top_k_accuracy(logits, labels, k=1) == pytest.approx(1 / 3)
    assert top_k_accuracy(logits, labels, k=2) == pytest.approx(1.0)
    assert top_k_accuracy(logits, torch.nn.functional.one_hot(labels, 3), k=1) == pytest.approx(1 / 3)
