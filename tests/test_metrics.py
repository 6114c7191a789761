"""The `evaluate` module metrics/ahu_metrics: loads offline from its folder, computes by definition."""

from __future__ import annotations

import math

import evaluate
import numpy as np
import pytest
from conftest import REPO_ROOT

METRIC_PATH = str(REPO_ROOT / "metrics" / "ahu_metrics")


@pytest.fixture(scope="module")
def single_label():
    return evaluate.load(METRIC_PATH)


def test_loads_offline_from_folder_and_names_itself(single_label):
    assert single_label.name == "ahu_metrics"
    assert "top-1/3/5" in single_label.description


def test_top_k_accuracy_counts_true_label_among_k_highest(single_label):
    scores = [
        [0.9, 0.05, 0.03, 0.02],  # true 0: rank 1
        [0.5, 0.3, 0.15, 0.05],  # true 1: rank 2
        [0.5, 0.3, 0.15, 0.05],  # true 2: rank 3
        [0.5, 0.3, 0.15, 0.05],  # true 3: rank 4
    ]
    result = single_label.compute(predictions=scores, references=[0, 1, 2, 3], top_k=[1, 2, 3, 5])
    assert result["top1_accuracy"] == pytest.approx(0.25)
    assert result["top2_accuracy"] == pytest.approx(0.5)
    assert result["top3_accuracy"] == pytest.approx(0.75)
    assert result["top5_accuracy"] == pytest.approx(1.0)  # k beyond the number of classes


def test_macro_f1_and_per_class_recall_match_sklearn(single_label):
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(3)
    scores = rng.random((60, 5))
    references = rng.integers(0, 4, size=60)  # class 4 never occurs
    result = single_label.compute(predictions=scores.tolist(), references=references.tolist())
    predicted = scores.argmax(1)
    expected_f1 = f1_score(references, predicted, labels=[0, 1, 2, 3], average="macro", zero_division=0)
    assert result["macro_f1"] == pytest.approx(expected_f1)
    recalls = result["per_class_recall"]
    for c in range(4):
        assert recalls[c] == pytest.approx(np.mean(predicted[references == c] == c))
    assert math.isnan(recalls[4])
    assert result["balanced_accuracy"] == pytest.approx(np.mean(recalls[:4]))


def test_perfect_scores_give_one_everywhere(single_label):
    references = [0, 1, 2, 2, 1]
    scores = np.eye(3)[references] + 0.01
    result = single_label.compute(predictions=scores.tolist(), references=references)
    assert result["top1_accuracy"] == result["macro_f1"] == result["balanced_accuracy"] == 1.0


def test_out_of_range_reference_is_a_clear_error(single_label):
    with pytest.raises(ValueError, match=r"must lie in \[0, 3\)"):
        single_label.compute(predictions=[[0.1, 0.2, 0.7]], references=[3])


def test_multi_label_map_and_f1():
    from sklearn.metrics import average_precision_score

    metric = evaluate.load(METRIC_PATH, "multi_label")
    probabilities = np.array([[0.9, 0.2, 0.6], [0.1, 0.8, 0.4], [0.7, 0.6, 0.1], [0.2, 0.1, 0.3]])
    references = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    result = metric.compute(predictions=probabilities.tolist(), references=references.tolist())
    expected_map = np.mean([average_precision_score(references[:, c], probabilities[:, c]) for c in range(3)])
    assert result["mAP"] == pytest.approx(expected_map)
    # threshold 0.5: predictions are exactly the references here
    assert result["macro_f1"] == pytest.approx(1.0)
    assert result["micro_f1"] == pytest.approx(1.0)
    worse = metric.compute(predictions=probabilities.tolist(), references=references.tolist(), threshold=0.75)
    assert worse["micro_f1"] < 1.0


def test_unknown_config_is_refused():
    with pytest.raises(KeyError, match="unknown config"):
        evaluate.load(METRIC_PATH, "regression")


def test_flatten_metrics_gives_scalars_per_class_name():
    from ahu_train.metrics import flatten_metrics

    flat = flatten_metrics(
        {"top1_accuracy": 0.5, "per_class_recall": [1.0, float("nan"), 0.25]},
        label_names=["Tumor", "Cyst", "Stone"],
    )
    assert flat == {"top1_accuracy": 0.5, "recall_Tumor": 1.0, "recall_Stone": 0.25}
