#!/usr/bin/env python
"""Is the clip model better than the single-frame control on the temporal label? Paired, on the same test videos.

Reads the clip-level prediction CSVs that `benchmarks/train_rvit_benchmark.py` (through `evaluate_model`) writes
for a `clip` run and a `single` run, keeps the test videos whose true label is `Vascular` or `Cyst` (one frame of
a pulsating vessel looks like a cyst), and reports for each run:

- Vascular recall (the share of Vascular videos predicted as Vascular);
- the AUC of `score_Vascular / (score_Vascular + score_Cyst)` for telling Vascular from Cyst videos,

with paired bootstrap 95 % intervals of the differences (clip − single), resampling the videos.

    python -m benchmarks.compare_frame_modes \\
        --clip outputs/train_bench/clip/eval/test_clip_predictions.csv \\
        --single outputs/train_bench/single/eval/test_clip_predictions.csv
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

TEMPORAL, LOOKALIKE = "Vascular", "Cyst"


def read_predictions(path: Path) -> dict[str, dict[str, str]]:
    """`{sample_id: row}` of a predictions CSV."""
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["sample_id"]: row for row in csv.DictReader(handle)}


def compare(clip_csv: Path, single_csv: Path, num_resamples: int = 2000, seed: int = 0) -> dict:
    """The comparison as a dict (see the module docstring). Both CSVs must hold the same test videos."""
    clip, single = read_predictions(clip_csv), read_predictions(single_csv)
    if set(clip) != set(single):
        raise ValueError(
            f"{clip_csv} and {single_csv} hold different samples ({len(clip)} and {len(single)}): "
            "compare runs on the same test split."
        )
    ids = sorted(i for i, row in clip.items() if row["true_label"] in (TEMPORAL, LOOKALIKE))
    is_temporal = np.array([clip[i]["true_label"] == TEMPORAL for i in ids])
    if not is_temporal.any() or is_temporal.all():
        raise ValueError(f"the test split needs both {TEMPORAL} and {LOOKALIKE} videos to compare")

    def share(row) -> float:
        temporal, lookalike = float(row[f"score_{TEMPORAL}"]), float(row[f"score_{LOOKALIKE}"])
        return temporal / (temporal + lookalike) if temporal + lookalike > 0 else 0.5

    scores = {
        name: np.array([share(rows[i]) for i in ids]) for name, rows in (("clip", clip), ("single", single))
    }
    hits = {
        name: np.array([rows[i]["predicted_label"] == TEMPORAL for i in ids])
        for name, rows in (("clip", clip), ("single", single))
    }

    def recall(name, index):
        return float(hits[name][index][is_temporal[index]].mean())

    def auc(name, index):
        return float(roc_auc_score(is_temporal[index], scores[name][index]))

    everything = np.arange(len(ids))
    result = {
        "videos": len(ids),
        TEMPORAL: int(is_temporal.sum()),
        LOOKALIKE: int((~is_temporal).sum()),
        "recall": {name: recall(name, everything) for name in ("clip", "single")},
        "auc": {name: auc(name, everything) for name in ("clip", "single")},
    }
    rng = np.random.default_rng(seed)
    differences = {"recall": [], "auc": []}
    for _ in range(num_resamples):
        index = rng.integers(0, len(ids), len(ids))
        if is_temporal[index].all() or not is_temporal[index].any():
            continue
        differences["recall"].append(recall("clip", index) - recall("single", index))
        differences["auc"].append(auc("clip", index) - auc("single", index))
    for metric, values in differences.items():
        low, high = np.percentile(values, [2.5, 97.5])
        result[f"{metric}_difference"] = {
            "value": result[metric]["clip"] - result[metric]["single"],
            "ci95": [float(low), float(high)],
        }
    return result


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clip", type=Path, required=True, help="predictions CSV of the clip run")
    parser.add_argument("--single", type=Path, required=True, help="predictions CSV of the single-frame run")
    parser.add_argument("--num_resamples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result = compare(args.clip, args.single, args.num_resamples, args.seed)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
