#!/usr/bin/env python
"""Training benchmark: does RViT learn the sample archive, and does it use time?

Trains the same small RViT twice on a benchmark-scale sample archive: once on clips (`frame_mode=clip`) and once
as a control that sees one frame per clip, repeated (`frame_mode=single`), then evaluates both on the test split
(clip level and video level, bootstrap CIs). `Vascular` is drawn exactly like `Cyst` in any single frame and
differs only by its pulsation over time, so the control should lose it.

Example (the numbers in BENCHMARKS.md "## Training"; the two modes can also run as two processes):
    python -m benchmarks.train_rvit_benchmark --out outputs/train_bench
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Small enough for seconds per epoch on one CPU core: 6 frames span 2 s of video (the Vascular pulse period is
# 0.7-0.9 s); at 64 px with patch 8 (64 tokens a frame) the smallest signatures (calcification dots, the
# vessel's radius change) are still visible, which they are not at 32 px.
MODEL = {
    "num_frames": 6,
    "image_size": 64,
    "config_overrides": "patch_size=8,hidden_size=128,num_hidden_layers=1,num_attention_heads=4,intermediate_size=256",
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="outputs/train_bench")
    parser.add_argument(
        "--archive", default=None, help="Existing sample archive (default: generate OUT/archive)."
    )
    parser.add_argument(
        "--num_samples", type=int, default=2400, help="Archive size (2400: about 70 Vascular samples)."
    )
    parser.add_argument(
        "--width", type=int, default=180, help="Source video width (the processed tier is 224 px)."
    )
    parser.add_argument("--height", type=int, default=320)
    parser.add_argument(
        "--split_fractions",
        default="0.6,0.1,0.3",
        help="A larger test share than the default 70/15/15 gives the rare Vascular label test clips.",
    )
    parser.add_argument("--epochs", type=float, default=100)
    parser.add_argument("--num_frames", type=int, default=MODEL["num_frames"])
    parser.add_argument("--image_size", type=int, default=MODEL["image_size"])
    parser.add_argument("--config_overrides", default=MODEL["config_overrides"])
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--weight_decay", type=float, default=0.05)
    parser.add_argument("--warmup", type=float, default=0.05, help="Warm-up, as a share of the steps.")
    parser.add_argument("--modes", nargs="+", default=["clip", "single"])
    parser.add_argument("--class_weighting", default="none", choices=["none", "inverse_sqrt", "inverse"])
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default 1: with more threads than free cores, the small "
        "per-frame ops of a tiny model wait on each other, 10x slower on a shared machine)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num_resamples", type=int, default=1000)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch

    from ahu_train.data import resize_frames
    from ahu_train.evaluation import evaluate_model
    from ahu_train.train import DataArguments, ModelArguments, load_dataset_of, num_parameters, run_training
    from benchmarks.bench_runs import bench_training_arguments, ensure_bench_archive
    from hf_loader.constants import LABEL2ID, LABEL_COLUMN

    torch.set_num_threads(args.threads)
    model_spec = {
        "num_frames": args.num_frames,
        "image_size": args.image_size,
        "config_overrides": args.config_overrides,
    }
    out = Path(args.out)
    archive = Path(args.archive) if args.archive else out / "archive"
    ensure_bench_archive(
        archive, seed=args.seed, num_samples=args.num_samples, width=args.width, height=args.height
    )
    data_args_common = {
        "data_dir": str(archive),
        "cache_dir": str(out / "cache"),
        "split_fractions": args.split_fractions,
        "eval_split": "validation",
    }
    dataset = load_dataset_of(DataArguments(**data_args_common))
    # Frames resized once to the model's size (a cache: the processor's resize is then a no-op).
    dataset = type(dataset)(
        {split: resize_frames(rows, model_spec["image_size"]) for split, rows in dataset.items()}
    )
    test_labels = dataset["test"][LABEL_COLUMN]
    vascular = LABEL2ID["Vascular"]
    summary: dict = {
        "splits": {split: len(rows) for split, rows in dataset.items()},
        "test_vascular": int(sum(label == vascular for label in test_labels)),
        "model": model_spec,
        "epochs": args.epochs,
        "learning_rate": args.learning_rate,
        "weight_decay": args.weight_decay,
        "class_weighting": args.class_weighting,
        "cpu_threads": torch.get_num_threads(),
        "runs": {},
    }
    print(json.dumps(summary, indent=2), flush=True)
    for mode in args.modes:
        run_dir = out / mode
        training_args = bench_training_arguments(
            run_dir,
            args.seed,
            num_train_epochs=args.epochs,
            per_device_train_batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            weight_decay=args.weight_decay,
            warmup_steps=args.warmup,
            logging_steps=100,
        )
        started = time.perf_counter()
        cpu_started = time.process_time()
        result = run_training(
            ModelArguments(**model_spec, class_weighting=args.class_weighting),
            DataArguments(**data_args_common, frame_mode=mode),
            training_args,
            dataset=dataset,
        )
        train_seconds, train_cpu = time.perf_counter() - started, time.process_time() - cpu_started
        model = result.trainer.model
        results = evaluate_model(
            model,
            result.processor,
            {"test": dataset["test"]},
            run_dir / "eval",
            frame_mode=mode,
            num_resamples=args.num_resamples,
            seed=args.seed,
        )
        run = {
            "parameters": num_parameters(model),
            "train_wall_s": round(train_seconds, 1),
            "train_cpu_s": round(train_cpu, 1),
            "train_loss": result.metrics.get("train_loss"),
        }
        for setting, values in results.items():
            run[setting] = {
                "n": values["n"],
                **{
                    metric: values["ci"].get(metric, values[metric])
                    for metric in ("top1_accuracy", "top3_accuracy", "macro_f1")
                },
                "recall_Vascular": values["per_class_recall"][vascular],
                "recall_Cyst": values["per_class_recall"][LABEL2ID["Cyst"]],
                "vascular_predicted_as": _row_of(values["confusion_matrix"], vascular, model.config.id2label),
            }
        summary["runs"][mode] = run
        print(json.dumps({mode: run}, indent=2, default=float), flush=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float), encoding="utf-8")
    return summary


def _row_of(matrix, label: int, id2label) -> dict[str, int]:
    """Where the test clips of one true class went: {predicted label: count}."""
    return {id2label[j]: int(count) for j, count in enumerate(matrix[label]) if count}


if __name__ == "__main__":
    main()
