"""ahu_train losses, data collation and training runs (tiny model, default sample archive)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ahu_train.losses import (
    balanced_sample_weights,
    class_weights_from_counts,
    compute_classification_loss,
    paper_top3_loss,
    rank_weighted_cross_entropy,
    rank_weights_of_labels,
)


def test_rank_weights_follow_true_label_rank_among_top3():
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0]]).repeat(4, 1)
    weights = rank_weights_of_labels(logits, torch.tensor([0, 1, 2, 3]))
    assert weights.tolist() == pytest.approx([1.0, 0.7, 0.5, 1.0])  # rank 4 is outside the top 3


def test_rank_weighted_cross_entropy_scales_each_sample():
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0]]).repeat(3, 1)
    labels = torch.tensor([0, 1, 2])
    plain = F.cross_entropy(logits, labels, reduction="none")
    expected = (plain * torch.tensor([1.0, 0.7, 0.5])).mean()
    assert rank_weighted_cross_entropy(logits, labels).item() == pytest.approx(expected.item())
    class_weights = torch.tensor([2.0, 1.0, 1.0, 1.0])
    weighted = rank_weighted_cross_entropy(logits, labels, class_weights=class_weights)
    expected = (plain * torch.tensor([2.0, 0.7, 0.5])).mean()
    assert weighted.item() == pytest.approx(expected.item())


def test_paper_top3_loss_ignores_samples_outside_top3_when_one_is_inside():
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0], [4.0, 3.0, 2.0, 1.0]], requires_grad=True)
    loss = paper_top3_loss(logits, torch.tensor([1, 3]))
    log_probs = F.log_softmax(logits, -1)
    assert loss.item() == pytest.approx((-(0.7 * log_probs[0, 1]) / 2).item())
    loss.backward()
    assert torch.all(logits.grad[1] == 0)  # the upstream quirk: no gradient for the miss
    none_inside = paper_top3_loss(torch.tensor([[4.0, 3.0, 2.0, 1.0]]), torch.tensor([3]))
    assert none_inside.item() == pytest.approx(F.cross_entropy(torch.tensor([[4.0, 3.0, 2.0, 1.0]]),
                                                               torch.tensor([3])).item())


def test_loss_dispatch_label_smoothing_and_multi_label():
    logits = torch.randn(5, 13, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 3, 9, 12, 1])
    smoothed = compute_classification_loss(logits, labels, "cross_entropy", label_smoothing=0.1)
    assert smoothed.item() == pytest.approx(F.cross_entropy(logits, labels, label_smoothing=0.1).item())
    multi_hot = F.one_hot(labels, 13).float()
    multi = compute_classification_loss(logits, multi_hot, "multi_label")
    assert multi.item() == pytest.approx(F.binary_cross_entropy_with_logits(logits, multi_hot).item())
    with pytest.raises(ValueError, match="unknown loss_type 'focal'"):
        compute_classification_loss(logits, labels, "focal")


def test_class_weights_favour_rare_classes_and_zero_absent_ones():
    weights = class_weights_from_counts([100, 25, 0, 4], power=0.5)
    assert weights[2] == 0
    assert weights[3] > weights[1] > weights[0]
    assert weights[[0, 1, 3]].mean().item() == pytest.approx(1.0)
    sample_weights = balanced_sample_weights([0, 0, 0, 1])
    assert sample_weights[:3].sum().item() == pytest.approx(sample_weights[3].item())
