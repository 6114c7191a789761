#!/usr/bin/env python
"""One model, three routes to its input: does an mp4 give what training saw? And what does decoding cost?

On a bench-scale sample archive (720x1280 phone recordings, ~6 s), a small RViT is trained on the processed tier,
then evaluated on the test split three ways:

1. `processed`: the archive's processed frames (the training input);
2. `video column`: the `filtered` config, each video decoded on the fly and run through the saved processor
   (stride 10, region crop, 224 px, noise removal), image sets through the border crop;
3. `pipeline`: `pipeline("video-classification", model=folder)` on each test video's mp4.

Routes 2 and 3 must agree to float precision; route 1 differs from 2 only where our frames differ from the
archive's (resampling; the crop boxes and noise flags are the same code). Then the training throughput (clips/s) of
the `filtered` config's video column against the processed frames, both with DataLoader workers, in one run.

Example (the BENCHMARKS.md figures):
    python -m benchmarks.input_contract_benchmark --out outputs/bench_input_contract --num-samples 300
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

MODEL = {
    "num_frames": 6,
    "image_size": 64,
    "config_overrides": "hidden_size=96,num_hidden_layers=2,num_attention_heads=4,intermediate_size=192,patch_size=8",
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--num-samples", type=int, default=300)
    parser.add_argument(
        "--width", type=int, default=None, help="Frame width (default: the bench scale's 720)."
    )
    parser.add_argument("--height", type=int, default=None, help="Frame height (default: 1280).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=float, default=6.0)
    parser.add_argument(
        "--workers", type=int, default=2, help="DataLoader workers (evaluation and throughput)."
    )
    parser.add_argument("--throughput-steps", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=8)
    return parser.parse_args(argv)


def training_args(output_dir: Path, seed: int, **overrides):
    """This benchmark's small model: batch 8, lr 1e-3, 10 warm-up steps unless `overrides` say otherwise."""
    from benchmarks.bench_runs import bench_training_arguments

    defaults = {
        "per_device_train_batch_size": 8,
        "per_device_eval_batch_size": 16,
        "learning_rate": 1e-3,
        "warmup_steps": 10,
        "logging_steps": 20,
    }
    return bench_training_arguments(output_dir, seed, **{**defaults, **overrides})


def pipeline_scores(model_dir: Path, archive: Path, sample_ids) -> dict[str, dict[str, float]]:
    """{sample_id: {label: score}} of the video-classification pipeline on each test video's mp4."""
    from transformers import pipeline

    import modeling_rvit  # noqa: F401  (registers RViT with the Auto classes)

    wanted = {str(sample_id) for sample_id in sample_ids}
    classify = pipeline("video-classification", model=str(model_dir))
    scores = {}
    for path in sorted((archive / "filtered").glob("Video_*.mp4")):
        sample_id = path.name.split("_")[1]
        if sample_id in wanted:
            scores[sample_id] = {p["label"]: p["score"] for p in classify(str(path), top_k=13)}
    return scores


def read_scores(csv_path: Path) -> dict[str, dict[str, float]]:
    import csv

    with open(csv_path, encoding="utf-8") as handle:
        return {
            row["sample_id"]: {
                key[6:]: float(value) for key, value in row.items() if key.startswith("score_")
            }
            for row in csv.DictReader(handle)
        }


def top1(scores: dict[str, dict[str, float]], truth: dict[str, str], ids) -> float:
    ids = list(ids)
    return sum(max(scores[i], key=scores[i].get) == truth[i] for i in ids) / len(ids)


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch

    from ahu_train.evaluation import run_evaluation
    from ahu_train.train import DataArguments, ModelArguments, load_dataset_of, run_training
    from benchmarks.bench_runs import ensure_bench_archive
    from benchmarks.report import cpu_model
    from hf_loader.sample_archive import load_manifest

    out = args.out
    archive = out / "archive"
    cache = str(out / "cache")
    ensure_bench_archive(
        archive,
        seed=args.seed,
        num_samples=args.num_samples,
        width=args.width,
        height=args.height,
        zips=False,
    )
    manifest = load_manifest(archive)
    truth = {str(sample["sample_id"]): sample["labels"][0] for sample in manifest["samples"]}
    kinds = {str(sample["sample_id"]): sample["kind"] for sample in manifest["samples"]}

    model_dir = out / "model"
    if not (model_dir / "model.safetensors").is_file():
        started = time.perf_counter()
        run_training(
            ModelArguments(**MODEL, class_weighting="inverse_sqrt"),
            DataArguments(data_dir=str(archive), cache_dir=cache, pre_resize=True),
            training_args(model_dir, args.seed, num_train_epochs=args.epochs),
        )
        print(f"trained on the processed tier in {time.perf_counter() - started:.0f} s", flush=True)

    routes = {}
    for route, config in (("processed", "processed"), ("video column", "filtered")):
        eval_dir = out / f"eval_{config}"
        started = time.perf_counter()
        run_evaluation(
            str(model_dir), eval_dir, data_dir=str(archive), dataset_config_name=config, cache_dir=cache,
            video_level=False, num_resamples=0, num_workers=args.workers, batch_size=16,
        )  # fmt: skip
        routes[route] = read_scores(eval_dir / "test_clip_predictions.csv")
        print(f"{route}: evaluated in {time.perf_counter() - started:.0f} s", flush=True)
    test_ids = sorted(routes["processed"], key=int)
    video_ids = [i for i in test_ids if kinds[i] == "video"]
    started = time.perf_counter()
    routes["pipeline"] = pipeline_scores(model_dir, archive, video_ids)
    print(f"pipeline: {len(video_ids)} mp4s in {time.perf_counter() - started:.0f} s", flush=True)

    def largest_gap(a, b, ids):
        return max(abs(routes[a][i][label] - routes[b][i][label]) for i in ids for label in routes[a][i])

    def agreement(a, b, ids):
        return sum(
            max(routes[a][i], key=routes[a][i].get) == max(routes[b][i], key=routes[b][i].get) for i in ids
        ) / len(ids)

    summary = {
        "machine": f"{cpu_model()}, {os.cpu_count()} cores",
        "archive": {
            "samples": args.num_samples,
            "frame_size": [args.width or 720, args.height or 1280],
            "test": len(test_ids),
            "test_videos": len(video_ids),
        },
        "model": MODEL,
        "epochs": args.epochs,
        "top1": {
            "all test samples": {
                route: top1(routes[route], truth, test_ids) for route in ("processed", "video column")
            },
            "test videos": {route: top1(routes[route], truth, video_ids) for route in routes},
        },
        "video column vs pipeline, largest score difference": largest_gap(
            "video column", "pipeline", video_ids
        ),
        "processed vs video column, same top-1 prediction": agreement("processed", "video column", test_ids),
    }

    # Throughput: the same model and batch, the processed frames against the video column, DataLoader workers.
    throughput = {}
    for route, config in (("processed frames", "processed"), ("video column", "filtered")):
        dataset = load_dataset_of(
            DataArguments(data_dir=str(archive), cache_dir=cache, dataset_config_name=config)
        )
        started = time.perf_counter()
        result = run_training(
            ModelArguments(**MODEL),
            DataArguments(data_dir=str(archive), cache_dir=cache, dataset_config_name=config),
            training_args(
                out / f"throughput_{config}", args.seed, max_steps=args.throughput_steps,
                per_device_train_batch_size=args.batch_size, dataloader_num_workers=args.workers,
                warmup_steps=0, logging_steps=1000,
            ),
            dataset=type(dataset)({"train": dataset["train"]}),
        )  # fmt: skip
        seconds = time.perf_counter() - started
        throughput[route] = {
            "clips_per_second": result.metrics["train_samples_per_second"],
            "steps": args.throughput_steps,
            "wall_seconds": round(seconds, 1),
        }
        print(f"{route}: {throughput[route]}", flush=True)
    summary["training throughput"] = throughput
    summary["torch_threads"] = torch.get_num_threads()
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
