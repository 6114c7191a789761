"""ahu_train.evaluation: video-level aggregation, bootstrap intervals, tables, plots and CSVs."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from ahu_train.evaluation import (
    aggregate_clip_scores,
    bootstrap_confidence_intervals,
    confusion_matrix_counts,
    metrics_table,
    softmax,
    write_evaluation_report,
)
from hf_loader.constants import LABELS, NUM_LABELS


def test_mean_probability_aggregation_averages_softmax_per_video():
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 5.0], [1.0, 1.0, 1.0]])
    video = aggregate_clip_scores(logits, sample_ids=[7, 7, 3, 7], labels=[1, 1, 2, 1])
    assert video.sample_ids.tolist() == [7, 3]  # order of first appearance
    assert video.num_clips.tolist() == [3, 1]
    probabilities = softmax(logits)
    np.testing.assert_allclose(video.scores[0], probabilities[[0, 1, 3]].mean(0))
    np.testing.assert_allclose(video.scores[1], probabilities[2])
    assert video.labels.tolist() == [1, 2]


def test_several_clips_outvote_one_misleading_clip():
    # Video 0 (true class 1): one clip says class 0 strongly-ish, two say class 1.
    logits = np.array([[3.0, 0.0], [0.0, 2.5], [0.0, 2.5]])
    single_clip = logits[:1].argmax(1)
    video = aggregate_clip_scores(logits, [0, 0, 0], [1, 1, 1], method="mean_probability")
    assert single_clip[0] == 0 and video.scores.argmax(1)[0] == 1


def test_max_and_mean_logit_aggregations_and_unknown_method():
    logits = np.array([[0.0, 4.0], [4.0, 0.0]])
    maxed = aggregate_clip_scores(logits, ["a", "a"], [0, 0], method="max_probability")
    np.testing.assert_allclose(maxed.scores, [[0.5, 0.5]])
    mean_logit = aggregate_clip_scores(logits, ["a", "a"], [0, 0], method="mean_logit")
    np.testing.assert_allclose(mean_logit.scores, [[2.0, 2.0]])
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate_clip_scores(logits, ["a", "a"], [0, 0], method="vote")


def test_clips_of_one_video_with_different_labels_are_refused():
    with pytest.raises(ValueError, match="sample 5: its clips carry different labels"):
        aggregate_clip_scores(np.zeros((2, 3)), [5, 5], [0, 1])


def test_bootstrap_interval_contains_point_and_narrows_with_more_samples():
    rng = np.random.default_rng(0)

    def make(n):
        labels = rng.integers(0, 4, size=n)
        scores = rng.random((n, 4))
        correct = rng.random(n) < 0.7
        scores[correct, labels[correct]] += 1.0  # about 70 % top-1
        return scores, labels

    small = bootstrap_confidence_intervals(*make(40), num_resamples=200, seed=1)
    large = bootstrap_confidence_intervals(*make(1000), num_resamples=200, seed=1)
    for name in ("top1_accuracy", "macro_f1"):
        point, low, high = small[name]
        assert low <= point <= high
        assert (large[name][2] - large[name][1]) < (high - low)
    assert 0.6 < large["top1_accuracy"][0] < 0.85
    scores, labels = make(30)
    first = bootstrap_confidence_intervals(scores, labels, num_resamples=50, seed=3)
    assert first == bootstrap_confidence_intervals(scores, labels, num_resamples=50, seed=3)


def test_confusion_matrix_rows_are_true_classes():
    matrix = confusion_matrix_counts(np.array([0, 1, 1, 2]), np.array([0, 0, 1, 2]), 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_metrics_table_prints_intervals():
    table = metrics_table(
        {"test": {"n": 12, "top1_accuracy": (0.5, 0.25, 0.75), "top3_accuracy": 0.9}},
        metric_names=["top1_accuracy", "top3_accuracy", "macro_f1"],
    )
    assert "| test | 12 | 0.500 [0.250, 0.750] | 0.900 | – |" in table


def test_evaluation_report_writes_png_and_csv(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, NUM_LABELS, size=50)
    scores = softmax(rng.normal(size=(50, NUM_LABELS)) + 3 * np.eye(NUM_LABELS)[labels])
    report = write_evaluation_report(tmp_path, "test", np.arange(100, 150), scores, labels, num_resamples=20)
    for key in ("confusion_matrix", "per_class"):
        with open(report["files"][key], "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(report["files"]["predictions"], encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 50
    assert rows[0]["sample_id"] == "100"
    assert rows[0]["true_label"] == LABELS[labels[0]]
    assert sum(int(row["correct"]) for row in rows) == round(report["top1_accuracy"] * 50)
    assert set(report["ci"]) >= {"top1_accuracy", "top3_accuracy", "macro_f1"}
    assert np.asarray(report["confusion_matrix"]).sum() == 50
