"""benchmarks/compare_models_benchmark.py: one model trained for a CPU budget through the harness, its row of the
comparison table, and the table written into BENCHMARKS.md between its markers."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks.compare_models_benchmark import (
    SECTION_END,
    SECTION_START,
    comparison_table,
    main,
    write_into_benchmarks_md,
)


@pytest.mark.slow  # a child process trains the per-frame model for 2 CPU-seconds (~40 s on a loaded machine)
def test_benchmark_trains_within_the_budget_and_writes_the_table(sample_archive, tmp_path):
    benchmarks_md = tmp_path / "BENCHMARKS.md"
    benchmarks_md.write_text(
        f"# Benchmarks\n\n{SECTION_START}\nold\n{SECTION_END}\n\n## Next\n", encoding="utf-8"
    )
    docs = tmp_path / "docs"
    docs.mkdir()
    argv = [
        "--out",
        str(tmp_path / "out"),
        "--archive",
        str(sample_archive),
        "--models",
        "frame_pooling",
        "--cpu_budget_s",
        "2",
        "--calibration_steps",
        "1",
        "--image_size",
        "32",
        "--num_frames",
        "4",
        "--batch_size",
        "4",
        "--num_resamples",
        "10",
        "--benchmarks_md",
        str(benchmarks_md),
        "--docs_dir",
        str(docs),
    ]
    (row,) = main(argv)
    assert row["model"] == "frame_pooling" and row["class"] == "FramePoolingForVideoClassification"
    assert 1 <= row["steps"] and row["train_clips_per_s"] > 0 and row["eval_clips_per_s"] > 0
    assert row["train_clips_per_cpu_s"] > 0 and row["eval_clips_per_cpu_s"] > 0
    assert row["peak_rss_mb"] > 100
    top1, low, high = row["top1_accuracy"]
    assert low <= top1 <= high
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["runs"][0]["parameters"] == row["parameters"]
    text = benchmarks_md.read_text(encoding="utf-8")
    assert "old" not in text and text.endswith("## Next\n")
    assert f"| frame_pooling (`FramePoolingForVideoClassification`) | {row['parameters']:,} |" in text
    assert (docs / "compare_frame_pooling_confusion.png").is_file()


def test_table_shows_intervals_and_a_missing_vascular_class():
    row = {
        "model": "vivit",
        "class": "VivitForVideoClassification",
        "parameters": 1417933,
        "steps": 90,
        "train_cpu_s": 299.6,
        "top1_accuracy": [0.5, 0.4, 0.6],
        "top3_accuracy": [0.8, 0.7, 0.9],
        "macro_f1": [0.3, 0.2, 0.4],
        "recall_Vascular": math.nan,
        "vascular_test_clips": 0,
        "train_clips_per_s": 12.5,
        "train_clips_per_cpu_s": 6.25,
        "eval_clips_per_s": 80.0,
        "eval_clips_per_cpu_s": 40.5,
        "peak_rss_mb": 1300.4,
    }
    line = comparison_table([row]).splitlines()[-1]
    assert line == (
        "| vivit (`VivitForVideoClassification`) | 1,417,933 | 90 | 300 | 0.500 [0.400, 0.600] | "
        "0.800 [0.700, 0.900] | 0.300 [0.200, 0.400] | – (n=0) | 12.5 | 6.25 | 80.0 | 40.5 | 1,300 |"
    )


def test_benchmarks_md_without_markers_is_refused(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="no <!-- model-comparison:start -->"):
        write_into_benchmarks_md(path, "| table |")


def test_label_subset_keeps_a_stratified_share_with_every_label():
    from datasets import Dataset

    from benchmarks.compare_models_benchmark import label_subset
    from hf_loader.constants import LABEL_COLUMN

    rows = Dataset.from_dict({LABEL_COLUMN: [0] * 50 + [1] * 20 + [2] * 3, "sample_id": list(range(73))})
    subset = label_subset(rows, 0.1, seed=0)
    labels = subset[LABEL_COLUMN]
    assert (labels.count(0), labels.count(1), labels.count(2)) == (5, 2, 1)
    assert subset["sample_id"] == label_subset(rows, 0.1, seed=0)["sample_id"]
    assert label_subset(rows, 1.0, seed=0) is rows


def test_label_efficiency_table_pairs_scratch_and_pretrained_runs_per_share():
    from benchmarks.compare_models_benchmark import label_efficiency_table, model_cell

    def row(model, top1, samples):
        return {
            "model": model,
            "train_samples": samples,
            "top1_accuracy": [top1, top1 - 0.1, top1 + 0.1],
            "macro_f1": 0.5,
        }

    rows = [row("rvit@0.1", 0.3, 72), row("rvit_pretrained@0.1", 0.6, 72), row("rvit", 0.7, 718)]
    lines = label_efficiency_table(rows).splitlines()
    assert lines[2] == "| 10% | 72 | 0.300 [0.200, 0.400] | 0.500 | 0.600 [0.500, 0.700] | 0.500 |"
    assert lines[3] == "| 100% | 718 | 0.700 [0.600, 0.800] | 0.500 | – | – |"
    cell = model_cell(
        {"model": "rvit_pretrained", "class": "RViTForVideoClassification", "pretrain_cpu_s": 149.6}
    )
    assert cell == "rvit_pretrained (`RViTForVideoClassification`), pretrained 150 CPU-s"


@pytest.mark.slow  # a pretraining and two fine-tuning child processes of 2 CPU-seconds each
def test_pretrained_rows_fine_tune_a_checkpoint_pretrained_on_the_training_split_only(
    sample_archive, tmp_path
):
    argv = [
        "--out",
        str(tmp_path / "out"),
        "--archive",
        str(sample_archive),
        "--models",
        "rvit_pretrained",
        "--label_fractions",
        "0.5",
        "1.0",
        "--cpu_budget_s",
        "2",
        "--pretrain_cpu_budget_s",
        "2",
        "--calibration_steps",
        "1",
        "--image_size",
        "32",
        "--num_frames",
        "4",
        "--batch_size",
        "4",
        "--num_resamples",
        "10",
    ]
    half, full = main(argv)
    pretraining = json.loads((tmp_path / "out" / "pretraining" / "pretraining.json").read_text())
    assert pretraining["pretrain_splits"] == ["train"] and pretraining["pretrain_steps"] >= 1
    for row in (half, full):
        assert row["class"] == "RViTForVideoClassification"
        assert row["checkpoint"] == pretraining["checkpoint"] and row["pretrain_cpu_s"] > 0
    assert half["model"] == "rvit_pretrained@0.5" and half["train_samples"] < full["train_samples"]
    table = (tmp_path / "out" / "table.md").read_text()
    assert "rvit_pretrained (`RViTForVideoClassification`), pretrained" in table
    assert "| 50% |" in table and "| 100% |" in table
