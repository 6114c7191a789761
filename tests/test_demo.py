"""The demo's summary: baselines, the learning check, and a reduced run of the whole path."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from ahu_train.demo import MIN_GAIN_OVER_CONSTANT, check_learning, run_demo
from hf_loader.constants import LABEL_COLUMN, LABELS


def one_hot_scores(predicted: list[int]) -> np.ndarray:
    scores = np.zeros((len(predicted), len(LABELS)))
    scores[np.arange(len(predicted)), predicted] = 1.0
    return scores


def test_learning_check_compares_top1_with_the_best_constant_and_the_majority_class():
    # 50 test clips: 20 Tumor (0), 15 Cyst (1), 15 Stone (3); the model gets every Tumor and Cyst clip right and
    # calls every Stone clip Cyst.
    labels = [0] * 20 + [1] * 15 + [3] * 15
    predicted = [0] * 20 + [1] * 15 + [1] * 15
    train_labels = [1] * 30 + [0] * 10  # the training split's majority class is Cyst
    check = check_learning(one_hot_scores(predicted), labels, train_labels, LABELS)
    assert check.num_test == 50
    assert check.top1_accuracy == pytest.approx(35 / 50)
    assert (check.best_constant_label, check.best_constant_accuracy) == ("Tumor", pytest.approx(20 / 50))
    assert (check.majority_label, check.majority_baseline) == ("Cyst", pytest.approx(15 / 50))
    assert check.gain_over_constant == pytest.approx(0.3)
    # Macro-F1 over the classes present: Tumor 1.0, Cyst 2*15/(30+15) = 2/3, Stone 0.
    assert check.macro_f1 == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert check.passed
    assert (
        "learned: test top-1 0.700 on 50 clips vs. 0.400 for the best constant prediction (Tumor"
        in check.describe()
    )


def test_learning_check_fails_a_constant_predictor_and_a_small_test_split():
    labels = [0] * 30 + [1] * 20
    constant = check_learning(one_hot_scores([0] * 50), labels, labels, LABELS)
    assert constant.gain_over_constant == 0.0 and not constant.passed
    assert "did NOT learn" in constant.describe()
    few = check_learning(one_hot_scores([0] * 10 + [1] * 10), [0] * 10 + [1] * 10, [0], LABELS)
    assert few.top1_accuracy == 1.0 and few.gain_over_constant >= MIN_GAIN_OVER_CONSTANT
    assert not few.passed  # 20 test clips are too few to show anything
    with pytest.raises(ValueError, match="no test clips"):
        check_learning(np.zeros((0, len(LABELS))), [], [0], LABELS)


@pytest.mark.slow  # generates a 30-sample archive and trains for 2 epochs (~1 min on a loaded machine)
def test_reduced_demo_run_reports_baselines_from_its_own_splits(tmp_path):
    import datasets

    lines: list[str] = []
    summary = run_demo(tmp_path, num_samples=30, num_train_epochs=2, num_resamples=10, log=lines.append)
    test = datasets.load_dataset(str(tmp_path / "dataset"), split="test")
    train = datasets.load_dataset(str(tmp_path / "dataset"), split="train")
    learning = summary["learning"]
    assert learning["num_test"] == test.num_rows == summary["test"]["test/clip"]["n"]
    test_counts = np.bincount(test[LABEL_COLUMN], minlength=len(LABELS))
    majority = int(np.bincount(train[LABEL_COLUMN], minlength=len(LABELS)).argmax())
    assert learning["majority_label"] == LABELS[majority]
    assert learning["majority_baseline"] == pytest.approx(test_counts[majority] / test.num_rows)
    assert learning["best_constant_accuracy"] == pytest.approx(test_counts.max() / test.num_rows)
    # The learning check scores the same centred clips as the clip-level table.
    assert learning["top1_accuracy"] == pytest.approx(summary["test"]["test/clip"]["top1_accuracy"])
    assert not learning["passed"]  # 30 samples give 9 test clips: too few to count, whatever the accuracy
    low, high = summary["test"]["test/clip"]["ci"]["top1_accuracy"][1:]
    assert low <= learning["top1_accuracy"] <= high
    assert 0.0 <= summary["train_accuracy"] <= 1.0
    assert (tmp_path / "eval" / "test_clip_confusion.png").is_file()
    assert json.loads((tmp_path / "demo_summary.json").read_text())["learning"] == json.loads(
        json.dumps(learning)
    )
    assert any("majority class" in line for line in lines) and any(
        line.startswith("[") and "predict:" in line for line in lines
    )
    # The model folder is fit to publish: it says it was trained on the sample archive and names no local path.
    model_dir = tmp_path / "model"
    card = (model_dir / "README.md").read_text(encoding="utf-8")
    meta = yaml.safe_load(card.split("---\n")[1])
    assert "synthetic" in meta["tags"] and "> **Trained on synthetic data.**" in card
    assert {result["dataset"]["split"] for result in meta["model-index"][0]["results"]} == {"test"}
    leaking = [
        path.name
        for path in model_dir.rglob("*")
        if path.is_file()
        and str(tmp_path).encode() in path.read_bytes()
    ]
    assert leaking == []

    # The demo's model is RViT (the from-scratch recipe's conv-stem model), saved and reloaded as one.
    saved = json.loads((tmp_path / "model" / "config.json").read_text())
    assert saved["model_type"] == "rvit" and saved["patch_embedding_type"] == "conv_stem"
    assert saved["architectures"] == ["RViTForVideoClassification"]
    assert summary["model"] == {"family": "rvit", "class": "RViTForVideoClassification"}
    assert any(
        "reload: AutoModelForVideoClassification -> RViTForVideoClassification" in line for line in lines
    )


def test_demo_names_its_model_families():
    with pytest.raises(ValueError, match="the demo trains one of"):
        run_demo("unused", model_family="videomae")
