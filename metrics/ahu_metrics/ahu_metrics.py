# Copyright 2026 The AHU-Ultrasound authors. MIT license.
"""AHU ultrasound classification metrics, as an `evaluate` module.

Loads offline from this folder: `evaluate.load("metrics/ahu_metrics")` (single-label) or
`evaluate.load("metrics/ahu_metrics", "multi_label")`.
"""

import datasets
import evaluate
import numpy as np
from sklearn.metrics import average_precision_score, f1_score, recall_score

from hf_loader.constants import PAPER_CITATION, PAPER_DOI

_DESCRIPTION = """\
Metrics of the AHU ultrasound database's classification task (13 labels, long-tailed).

Single-label (config `single_label`, the paper's protocol on the primary label): top-1/3/5
accuracy (top-3 is the paper's headline metric), macro-F1, balanced accuracy and the recall of
every class. Multi-label (config `multi_label`, every label of a sample): mean average
precision (mAP over the classes that occur in the references), macro- and micro-F1 at a
threshold, and the average precision of every class.
"""

_KWARGS_DESCRIPTION = """
Args (single_label):
    predictions (`list` of `list` of `float`, shape (num_samples, num_labels)): the scores of
        every class (logits or probabilities: only their order matters).
    references (`list` of `int`, shape (num_samples,)): the true class index of every sample.
    top_k (`list` of `int`, optional, default [1, 3, 5]): the k of the top-k accuracies.
    num_labels (`int`, optional): number of classes; default: the width of `predictions`.
Args (multi_label):
    predictions (`list` of `list` of `float`, shape (num_samples, num_labels)): probabilities
        (after a sigmoid) of every class.
    references (`list` of `list` of `int`, shape (num_samples, num_labels)): multi-hot truth.
    threshold (`float`, optional, default 0.5): a class is predicted when its probability is
        at least this.
Returns (single_label):
    top1_accuracy, top3_accuracy, top5_accuracy (`float` in [0, 1]); macro_f1 (`float`,
    averaged over the classes present in the references); balanced_accuracy (`float`, mean of
    the recalls of the classes present in the references); per_class_recall (`list` of
    `float`, one per class, NaN for a class absent from the references).
Returns (multi_label):
    mAP (`float`), macro_f1, micro_f1 (`float`), per_class_ap (`list` of `float`, NaN for a
    class absent from the references).
Examples:
    >>> metric = evaluate.load("metrics/ahu_metrics")
    >>> metric.compute(predictions=[[0.1, 0.9, 0.0], [0.8, 0.1, 0.1]], references=[1, 2], top_k=[1, 2])
    {'top1_accuracy': 0.5, 'top2_accuracy': 0.5, 'macro_f1': 0.5, ...}
"""


def top_k_accuracy(scores: np.ndarray, references: np.ndarray, k: int) -> float:
    """Fraction of samples whose true class is among the k highest scores.

    Args:
        scores: (num_samples, num_labels) class scores.
        references: (num_samples,) true class indices.
        k: how many of the highest-scoring classes count as a hit; k >= num_labels gives 1.0.
    """
    k = min(k, scores.shape[1])
    # A stable sort over the negated scores breaks ties by class index, the same for every k.
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == references[:, None], axis=1)))


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class AhuMetrics(evaluate.Metric):
    """Top-k accuracy, macro-F1 and per-class recall (single-label); mAP and F1 (multi-label)."""

    def _info(self):
        if self.config_name not in ("default", "single_label", "multi_label"):
            raise KeyError(
                f"ahu_metrics: unknown config {self.config_name!r}; use 'single_label' (default) or "
                "'multi_label'"
            )
        if self.config_name == "multi_label":
            features = datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("float32")),
                    "references": datasets.Sequence(datasets.Value("int32")),
                }
            )
        else:
            features = datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("float32")),
                    "references": datasets.Value("int32"),
                }
            )
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=PAPER_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=features,
            reference_urls=[f"https://doi.org/{PAPER_DOI}"],
        )

    def _compute(self, predictions, references, top_k=(1, 3, 5), num_labels=None, threshold=0.5):
        scores = np.asarray(predictions, dtype=np.float64)
        if scores.ndim != 2:
            raise ValueError(
                f"ahu_metrics: predictions must be a (num_samples, num_labels) array of scores, got "
                f"shape {scores.shape}"
            )
        num_labels = int(num_labels or scores.shape[1])
        if self.config_name == "multi_label":
            return self._compute_multi_label(scores, np.asarray(references), num_labels, threshold)
        return self._compute_single_label(scores, np.asarray(references), num_labels, top_k)

    def _compute_single_label(self, scores, references, num_labels, top_k):
        references = references.astype(np.int64)
        if references.size and (references.min() < 0 or references.max() >= num_labels):
            raise ValueError(
                f"ahu_metrics: reference class indices must lie in [0, {num_labels}), got "
                f"{references.min()}..{references.max()}"
            )
        results = {f"top{k}_accuracy": top_k_accuracy(scores, references, k) for k in top_k}
        predicted = scores.argmax(axis=1)
        present = np.unique(references)
        results["macro_f1"] = float(
            f1_score(references, predicted, labels=present, average="macro", zero_division=0)
        )
        recalls = recall_score(
            references, predicted, labels=np.arange(num_labels), average=None, zero_division=0
        )
        per_class_recall = [
            float(recalls[c]) if c in set(present.tolist()) else float("nan") for c in range(num_labels)
        ]
        results["balanced_accuracy"] = float(np.mean(recalls[present])) if present.size else 0.0
        results["per_class_recall"] = per_class_recall
        return results

    def _compute_multi_label(self, probabilities, references, num_labels, threshold):
        references = references.astype(np.int64)
        if references.shape != probabilities.shape:
            raise ValueError(
                f"ahu_metrics (multi_label): references must be multi-hot with the shape of predictions "
                f"{probabilities.shape}, got {references.shape}"
            )
        present = references.sum(axis=0) > 0
        per_class_ap = [
            float(average_precision_score(references[:, c], probabilities[:, c]))
            if present[c]
            else float("nan")
            for c in range(num_labels)
        ]
        predicted = (probabilities >= threshold).astype(np.int64)
        return {
            "mAP": float(np.nanmean(per_class_ap)) if present.any() else 0.0,
            "macro_f1": float(
                f1_score(references[:, present], predicted[:, present], average="macro", zero_division=0)
            )
            if present.any()
            else 0.0,
            "micro_f1": float(f1_score(references, predicted, average="micro", zero_division=0)),
            "per_class_ap": per_class_ap,
        }
