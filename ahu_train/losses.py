"""Losses for AHU classification: the paper's rank-weighted top-3 loss, class weights, multi-label.

Shapes: `logits` (batch, num_labels) float; `labels` (batch,) int64 class indices for
single-label, (batch, num_labels) float multi-hot for multi-label.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

# The paper's CustomLoss (RViT-main/tools/loss.py): weight of the true label at rank 1, 2, 3.
PAPER_RANK_WEIGHTS: tuple[float, ...] = (1.0, 0.7, 0.5)

LOSS_TYPES = ("cross_entropy", "rank_weighted", "paper_top3", "multi_label")


def rank_weights_of_labels(
    logits: torch.Tensor,
    labels: torch.Tensor,
    rank_weights: Sequence[float] = PAPER_RANK_WEIGHTS,
    outside_weight: float = 1.0,
) -> torch.Tensor:
    """Per-sample weight given by the true label's rank among the top-k predictions.

    Args:
        logits: (batch, num_labels) scores.
        labels: (batch,) true class indices.
        rank_weights: weight when the true label ranks 1st, 2nd, ... (k = len(rank_weights)).
        outside_weight: weight when the true label is not among the top k.

    Returns:
        (batch,) float weights, without gradient.
    """
    k = min(len(rank_weights), logits.shape[-1])
    with torch.no_grad():
        top = logits.topk(k, dim=-1).indices
        hit = top == labels.unsqueeze(-1)  # (batch, k), at most one True per row
        weights = torch.tensor(rank_weights[:k], dtype=logits.dtype, device=logits.device)
        per_sample = (hit.to(logits.dtype) * weights).sum(-1)
        return torch.where(hit.any(-1), per_sample, torch.full_like(per_sample, outside_weight))


def rank_weighted_cross_entropy(
    logits: torch.Tensor,
    labels: torch.Tensor,
    rank_weights: Sequence[float] = PAPER_RANK_WEIGHTS,
    outside_weight: float = 1.0,
    label_smoothing: float = 0.0,
    class_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cross-entropy of each sample scaled by its true label's rank among the top-3 (1.0/0.7/0.5).

    A per-sample reading of the paper's CustomLoss: a sample already ranked first keeps the full
    loss, one ranked 2nd or 3rd is down-weighted (top-3 is the paper's headline metric), and one
    outside the top 3 keeps `outside_weight`. Unlike the upstream code (see `paper_top3_loss`),
    every sample contributes and the result does not depend on the rest of the batch.

    Args:
        logits: (batch, num_labels). labels: (batch,) int64.
        label_smoothing: as in `torch.nn.functional.cross_entropy`.
        class_weights: optional (num_labels,) weight of each true class (long tail).

    Returns:
        scalar loss (weighted mean over the batch).
    """
    per_sample = F.cross_entropy(logits, labels, reduction="none", label_smoothing=label_smoothing)
    weights = rank_weights_of_labels(logits, labels, rank_weights, outside_weight)
    if class_weights is not None:
        weights = weights * class_weights.to(logits)[labels]
    return (per_sample * weights).sum() / labels.shape[0]


def paper_top3_loss(
    logits: torch.Tensor, labels: torch.Tensor, rank_weights: Sequence[float] = PAPER_RANK_WEIGHTS
) -> torch.Tensor:
    """The paper's CustomLoss exactly as its code computes it, for reproduction.

    If no sample of the batch has its true label among the top k, the loss is the mean negative
    log-likelihood; otherwise it is minus the mean over the batch of the rank-weighted
    log-probability of the true label, and samples outside the top k contribute nothing (so their
    gradient is zero whenever another sample of the batch is in its top k).

    Args:
        logits: (batch, num_labels). labels: (batch,) int64.

    Returns:
        scalar loss.
    """
    k = min(len(rank_weights), logits.shape[-1])
    log_probs = F.log_softmax(logits, dim=-1)
    top_log_probs, top = log_probs.topk(k, dim=-1)
    hit = (top == labels.unsqueeze(-1)).to(logits.dtype)
    if not bool(hit.any()):
        return F.nll_loss(log_probs, labels)
    weights = torch.tensor(rank_weights[:k], dtype=logits.dtype, device=logits.device)
    return -(hit * top_log_probs * weights).sum(-1).mean()


def multi_label_loss(
    logits: torch.Tensor, multi_hot: torch.Tensor, class_weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Binary cross-entropy over every label (a sample may carry several of the 13).

    Args:
        logits: (batch, num_labels). multi_hot: (batch, num_labels) 0/1.
        class_weights: optional (num_labels,) positive-example weight of each class (`pos_weight`).
    """
    pos_weight = class_weights.to(logits) if class_weights is not None else None
    return F.binary_cross_entropy_with_logits(logits, multi_hot.to(logits), pos_weight=pos_weight)


def compute_classification_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    loss_type: str = "cross_entropy",
    label_smoothing: float = 0.0,
    class_weights: torch.Tensor | None = None,
    rank_weights: Sequence[float] = PAPER_RANK_WEIGHTS,
) -> torch.Tensor:
    """Dispatch on `loss_type`, one of `LOSS_TYPES`.

    - `cross_entropy`: (class-weighted, label-smoothed) cross-entropy on the primary label.
    - `rank_weighted`: `rank_weighted_cross_entropy` (the paper's weighting, per sample).
    - `paper_top3`: `paper_top3_loss` (the paper's code verbatim in behaviour; ignores smoothing
      and class weights, as upstream does).
    - `multi_label`: `multi_label_loss`; `labels` must be (batch, num_labels) multi-hot.
    """
    if loss_type == "cross_entropy":
        weight = class_weights.to(logits) if class_weights is not None else None
        return F.cross_entropy(logits, labels, weight=weight, label_smoothing=label_smoothing)
    if loss_type == "rank_weighted":
        return rank_weighted_cross_entropy(
            logits, labels, rank_weights, label_smoothing=label_smoothing, class_weights=class_weights
        )
    if loss_type == "paper_top3":
        return paper_top3_loss(logits, labels, rank_weights)
    if loss_type == "multi_label":
        return multi_label_loss(logits, labels, class_weights)
    raise ValueError(f"unknown loss_type {loss_type!r}; choose one of {', '.join(LOSS_TYPES)}")


def class_weights_from_counts(counts: Sequence[int], power: float = 0.5) -> torch.Tensor:
    """Inverse-frequency class weights, normalized to mean 1 over the classes that occur.

    Args:
        counts: (num_labels,) number of training samples of each class.
        power: 1.0 gives 1/count, 0.5 (default) 1/sqrt(count), gentler for a long tail this steep.

    Returns:
        (num_labels,) float32 weights; a class with no training sample gets 0.
    """
    counts = np.asarray(counts, dtype=np.float64)
    weights = np.zeros_like(counts)
    present = counts > 0
    weights[present] = counts[present] ** -power
    if present.any():
        weights[present] /= weights[present].mean()
    return torch.tensor(weights, dtype=torch.float32)


def balanced_sample_weights(labels: Sequence[int], power: float = 1.0) -> torch.Tensor:
    """Per-sample weights for a `WeightedRandomSampler` that draws classes (near) evenly.

    Args:
        labels: (num_samples,) primary class index of each training sample.
        power: 1.0 draws every class equally often; 0.5 half-way between natural and balanced.
    """
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(labels)
    return torch.tensor(counts[labels].astype(np.float64) ** -power, dtype=torch.double)
