#!/usr/bin/env python
"""RViT from scratch: a learning-rate sweep of the reference model against the recipe's conv-stem model.

Both train through `ahu_train.train.run_training` with the "scratch" recipe's optimizer and schedule
(`ahu_train.train.PRESETS["scratch"]`: AdamW, weight decay 0.05, cosine with 5 % warm-up, gradient clipping at 1.0,
batch 16, inverse-square-root class weights) for a fixed number of steps on the demo's data (300 generated samples,
split 0.6 / 0.1 / 0.3, 4 frames x 64 px, frames resized once, augmentation on); only the model differs:
`reference` is RViTConfig preset "ahu" (the reference's patchify embedding), `scratch` preset "scratch" (a conv
stem). Both 2 layers, hidden 128, 4 heads, MLP 512, patch 8. Each run is its own process on one torch thread.

Per run: test top-1 and macro-F1 (one centred clip per video), whether it collapsed (every test clip predicted as
one class), the mean loss of the last 10 steps, the largest gradient norm before clipping, training CPU-seconds.
The table goes to OUT/table.md.

Example (the table in BENCHMARKS.md "## RViT from scratch: the recipe"):
    python -m benchmarks.rvit_recipe_sweep --out outputs/recipe_sweep --max_steps 240 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MODEL_SHAPE = "patch_size=8,hidden_size=128,num_hidden_layers=2,num_attention_heads=4,intermediate_size=512"
RECIPES = {"reference": "ahu", "scratch": "scratch"}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="outputs/recipe_sweep")
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--learning_rates", nargs="+", type=float, default=[1e-4, 3e-4, 1e-3, 3e-3])
    parser.add_argument("--max_steps", type=int, default=240)
    parser.add_argument("--num_frames", type=int, default=4)
    parser.add_argument("--image_size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="Runs at the same time, one thread each.")
    parser.add_argument("--only", nargs=2, default=None, help=argparse.SUPPRESS)  # recipe, lr: one child run
    return parser.parse_args(argv)


def demo_dataset(out: Path, seed: int):
    """The demo's data: its generated archive exported to Parquet (made once under OUT), loaded."""
    import datasets

    from ahu_train.demo import DEMO_NUM_SAMPLES, DEMO_SPLIT_FRACTIONS, DEMO_VIDEO_SIZE
    from hf_loader.export import export_dataset
    from hf_loader.sample_archive import make_sample_archive

    archive, export_dir = out / "archive", out / "dataset"
    if not (archive / "manifest.json").is_file():
        width, height = DEMO_VIDEO_SIZE
        make_sample_archive(
            archive, seed=seed, num_samples=DEMO_NUM_SAMPLES, width=width, height=height, zips=False
        )
    if not (export_dir / "README.md").is_file():
        export_dataset(
            archive, export_dir, "processed", cache_dir=str(out / "cache"), fractions=DEMO_SPLIT_FRACTIONS
        )
    return datasets.load_dataset(str(export_dir)), export_dir


def train_and_evaluate(args, recipe: str, learning_rate: float) -> dict:
    import numpy as np
    import torch

    from ahu_train.evaluation import predict_clips
    from ahu_train.train import PRESETS, DataArguments, ModelArguments, run_training
    from benchmarks.bench_runs import bench_training_arguments

    torch.set_num_threads(1)
    dataset, export_dir = demo_dataset(Path(args.out), args.seed)
    training = {**PRESETS["scratch"]["training"], "learning_rate": learning_rate}
    training.pop("optim")
    run_dir = Path(args.out) / f"{recipe}_lr{learning_rate:g}"
    model_args = ModelArguments(
        model_family="rvit",
        config_preset=RECIPES[recipe],
        config_overrides=MODEL_SHAPE,
        num_frames=args.num_frames,
        image_size=args.image_size,
        class_weighting=PRESETS["scratch"]["model"]["class_weighting"],
    )
    data_args = DataArguments(dataset_name=str(export_dir), eval_split="validation", pre_resize=True)
    training_args = bench_training_arguments(
        run_dir, args.seed, max_steps=args.max_steps, logging_steps=1, **training
    )
    cpu = time.process_time()
    result = run_training(model_args, data_args, training_args, dataset=dataset)
    train_cpu = time.process_time() - cpu
    logged = [entry for entry in result.trainer.state.log_history if "grad_norm" in entry]
    predictions = predict_clips(
        result.trainer.model, result.processor, result.dataset["test"], batch_size=32, progress=False
    )
    predicted = predictions.logits.argmax(1)
    return {
        "recipe": recipe,
        "learning_rate": learning_rate,
        "steps": result.trainer.state.global_step,
        "top1_accuracy": result.metrics["test_top1_accuracy"],
        "macro_f1": result.metrics["test_macro_f1"],
        "predicted_classes": int(np.unique(predicted).size),
        "collapsed": bool(np.unique(predicted).size == 1),
        "final_loss": float(np.mean([entry["loss"] for entry in logged[-10:]])),
        "max_grad_norm": float(max(entry["grad_norm"] for entry in logged)),
        "train_cpu_s": round(train_cpu, 1),
    }


def sweep_table(rows: list[dict]) -> str:
    lines = [
        (
            "| model | AdamW lr | test top-1 | macro-F1 | collapsed (classes predicted) | final loss | max grad norm "
            "| train CPU-s |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['recipe']} | {row['learning_rate']:g} | {row['top1_accuracy']:.3f} | {row['macro_f1']:.3f} | "
            f"{'yes' if row['collapsed'] else 'no'} ({row['predicted_classes']}) | {row['final_loss']:.3f} | "
            f"{row['max_grad_norm']:.1f} | {row['train_cpu_s']:.0f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.only:
        recipe, learning_rate = args.only[0], float(args.only[1])
        row = train_and_evaluate(args, recipe, learning_rate)
        (out / f"{recipe}_lr{learning_rate:g}.json").write_text(json.dumps(row, indent=2), encoding="utf-8")
        return [row]
    demo_dataset(out, args.seed)  # once, before the children read it
    runs = [(recipe, lr) for recipe in args.recipes for lr in args.learning_rates]
    forwarded = list(argv if argv is not None else sys.argv[1:])
    pending, running, failed = list(runs), {}, []
    while pending or running:
        while pending and len(running) < max(1, args.jobs):
            recipe, lr = pending.pop(0)
            print(f"training {recipe} at lr {lr:g} for {args.max_steps} steps", flush=True)
            command = [sys.executable, "-m", __spec__.name, *forwarded, "--only", recipe, repr(lr)]
            running[(recipe, lr)] = subprocess.Popen(command)
        for key, process in list(running.items()):
            if process.poll() is not None:
                del running[key]
                if process.returncode != 0:
                    failed.append(f"{key[0]} lr {key[1]:g} (exit status {process.returncode})")
        time.sleep(0.5)
    if failed:
        raise SystemExit(f"recipe sweep: these runs failed, see their output above: {', '.join(failed)}")
    rows = [json.loads((out / f"{recipe}_lr{lr:g}.json").read_text(encoding="utf-8")) for recipe, lr in runs]
    table = sweep_table(rows)
    (out / "table.md").write_text(table + "\n", encoding="utf-8")
    print(table)
    return rows


if __name__ == "__main__":
    main()
