#!/usr/bin/env python
"""Model comparison: RViT against transformers' VideoMAE, TimeSformer and ViViT and a per-frame ResNet with temporal
mean pooling, each trained through the same harness (`ahu_train.train.run_training`: same splits, processor, clips,
augmentation, optimizer and schedule) at a matched parameter count (1.2-1.7 M) and an equal CPU budget, on one
bench-scale sample archive, then evaluated the same way (`ahu_train.evaluation.evaluate_model`: test split, one
centred clip per video, 95 % bootstrap intervals).

Each model trains in its own process (so that its peak memory is its own), one torch thread, for
`--cpu_budget_s` CPU-seconds: a few timed steps set `max_steps` so that the cosine schedule ends with the budget.
The table (top-1, top-3, macro-F1 with CIs, Vascular recall, training and inference clips/s, peak RSS) goes to
OUT/table.md and, with `--benchmarks_md`, replaces the "model comparison" block of BENCHMARKS.md; the confusion
matrices are copied to `--docs_dir`.

Example (the numbers in BENCHMARKS.md "## Model comparison"):
    python -m benchmarks.compare_models_benchmark --out outputs/compare --archive /tmp/ahu_bench/archive2400 \\
        --cpu_budget_s 1200 --benchmarks_md BENCHMARKS.md --docs_dir docs/benchmarks
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Matched at 8 frames x 64 px (about 1.2-1.7 M parameters each); patch 8 everywhere (64 tokens a frame).
MODELS: dict[str, dict] = {
    "rvit": {
        "model_family": "rvit",
        "config_overrides": "patch_size=8,hidden_size=128,num_hidden_layers=2,num_attention_heads=4,"
        "intermediate_size=512",
    },
    "videomae": {
        "model_family": "videomae",
        "config_overrides": "patch_size=8,tubelet_size=2,hidden_size=192,num_hidden_layers=3,num_attention_heads=4,"
        "intermediate_size=768",
    },
    "timesformer": {
        "model_family": "timesformer",
        "config_overrides": "patch_size=8,hidden_size=192,num_hidden_layers=2,num_attention_heads=4,"
        "intermediate_size=768",
    },
    "vivit": {
        "model_family": "vivit",
        "config_overrides": "tubelet_size=[2,8,8],hidden_size=192,num_hidden_layers=3,num_attention_heads=4,"
        "intermediate_size=768",
    },
    "frame_pooling": {
        "model_family": "frame_pooling",
        "config_overrides": "layer_type=basic,embedding_size=32,hidden_sizes=[32,64,128,256],depths=[1,1,1,1]",
    },
}
SECTION_START = "<!-- model-comparison:start -->"
SECTION_END = "<!-- model-comparison:end -->"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="outputs/compare")
    parser.add_argument(
        "--archive", default=None, help="Existing sample archive (default: generate OUT/archive)."
    )
    parser.add_argument("--num_samples", type=int, default=2400)
    parser.add_argument("--width", type=int, default=180)
    parser.add_argument("--height", type=int, default=320)
    parser.add_argument("--split_fractions", default="0.6,0.1,0.3")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--num_frames", type=int, default=8)
    parser.add_argument("--image_size", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--weight_decay", type=float, default=0.05)
    parser.add_argument(
        "--class_weighting",
        default="inverse_sqrt",
        help="ModelArguments.class_weighting (as the demo: without it, short runs predict the majority class)",
    )
    parser.add_argument("--cpu_budget_s", type=float, default=1200.0, help="Training CPU-seconds per model.")
    parser.add_argument("--calibration_steps", type=int, default=5, help="timed steps after a first, untimed one")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="Models trained at the same time, each in its own process (use at most cores / threads).",
    )
    parser.add_argument("--num_resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--benchmarks_md", default=None, help="BENCHMARKS.md to write the table into.")
    parser.add_argument("--docs_dir", default=None, help="Folder for the confusion-matrix PNGs.")
    parser.add_argument("--only", default=None, help=argparse.SUPPRESS)  # one model, in a child process
    return parser.parse_args(argv)


def load_bench_dataset(args):
    """The archive's processed config, split `--split_fractions`, frames resized once to the model size."""
    from ahu_train.data import resize_frames
    from ahu_train.train import DataArguments, load_dataset_of
    from benchmarks.bench_runs import ensure_bench_archive

    out = Path(args.out)
    archive = Path(args.archive) if args.archive else out / "archive"
    ensure_bench_archive(
        archive, seed=args.seed, num_samples=args.num_samples, width=args.width, height=args.height
    )
    data_args = DataArguments(
        data_dir=str(archive), cache_dir=str(out / "cache"), split_fractions=args.split_fractions
    )
    dataset = load_dataset_of(data_args)
    dataset = type(dataset)({split: resize_frames(rows, args.image_size) for split, rows in dataset.items()})
    return dataset, data_args


def train_and_evaluate(args, name: str) -> dict:
    """Train one model for the CPU budget and evaluate it; returns its row of the comparison."""
    import torch
    from transformers import TrainerCallback

    from ahu_train.evaluation import evaluate_model, predict_clips
    from ahu_train.train import ModelArguments, num_parameters, run_training
    from benchmarks.bench_runs import bench_training_arguments
    from hf_loader.constants import LABEL2ID

    torch.set_num_threads(args.threads)
    dataset, data_args = load_bench_dataset(args)
    data_args.eval_split = "validation"
    model_args = ModelArguments(
        num_frames=args.num_frames,
        image_size=args.image_size,
        class_weighting=args.class_weighting,
        **MODELS[name],
    )
    run_dir = Path(args.out) / name

    def training_arguments(max_steps: int, output_dir: Path):
        return bench_training_arguments(
            output_dir,
            args.seed,
            max_steps=max_steps,
            per_device_train_batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            weight_decay=args.weight_decay,
            warmup_steps=0.05,
            logging_steps=50,
        )

    class StepClock(TrainerCallback):
        """CPU time at the end of every step."""

        def __init__(self):
            self.ends: list[float] = []

        def on_step_end(self, *_, **__):
            self.ends.append(time.process_time())

    # Calibration: CPU-seconds per step of this model, so that its schedule spans the budget. Timed from the end
    # of the first step to the end of the last: model building, data loader start and the first step's warm-up
    # would otherwise count as steps.
    clock = StepClock()
    run_training(
        model_args,
        data_args,
        training_arguments(args.calibration_steps + 1, run_dir / "calibration"),
        callbacks=[clock],
        dataset=dataset,
    )
    seconds_per_step = (clock.ends[-1] - clock.ends[0]) / (len(clock.ends) - 1)
    max_steps = max(1, int(args.cpu_budget_s / seconds_per_step))
    print(f"{name}: {seconds_per_step:.3f} CPU-s a step -> max_steps {max_steps}", flush=True)

    class CpuBudget(TrainerCallback):
        """Stops training once the CPU budget is spent (the calibration's estimate can be off)."""

        def on_train_begin(self, *_, **__):
            self.start = time.process_time()

        def on_step_end(self, _args, state, control, **__):
            if time.process_time() - self.start > 1.1 * args.cpu_budget_s:
                control.should_training_stop = True

    wall, cpu = time.perf_counter(), time.process_time()
    result = run_training(
        model_args,
        data_args,
        training_arguments(max_steps, run_dir),
        callbacks=[CpuBudget()],
        dataset=dataset,
    )
    train_wall, train_cpu = time.perf_counter() - wall, time.process_time() - cpu
    steps = result.trainer.state.global_step
    model = result.trainer.model
    wall, cpu = time.perf_counter(), time.process_time()
    predict_clips(model, result.processor, dataset["test"], batch_size=32, progress=False)
    inference_seconds, inference_cpu = time.perf_counter() - wall, time.process_time() - cpu
    results = evaluate_model(
        model,
        result.processor,
        {"test": dataset["test"]},
        run_dir / "eval",
        video_level=False,
        num_resamples=args.num_resamples,
        batch_size=32,
        seed=args.seed,
    )
    clip = results["test/clip"]
    vascular = LABEL2ID["Vascular"]
    return {
        "model": name,
        "class": type(model).__name__,
        "parameters": num_parameters(model),
        "config_overrides": MODELS[name]["config_overrides"],
        "steps": steps,
        "train_cpu_s": round(train_cpu, 1),
        "train_wall_s": round(train_wall, 1),
        "train_clips_per_s": round(steps * args.batch_size / train_wall, 1),
        # Per CPU-second: what a model costs, whatever else runs on the machine.
        "train_clips_per_cpu_s": round(steps * args.batch_size / train_cpu, 2),
        # Collation (the video processor) included, as in training.
        "eval_clips_per_s": round(clip["n"] / inference_seconds, 1),
        "eval_clips_per_cpu_s": round(clip["n"] / inference_cpu, 1),
        "n_test": clip["n"],
        **{
            metric: clip["ci"].get(metric, clip[metric])
            for metric in ("top1_accuracy", "top3_accuracy", "macro_f1")
        },
        "recall_Vascular": clip["per_class_recall"][vascular],
        "vascular_test_clips": int(sum(clip["confusion_matrix"][vascular])),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "confusion_png": clip["files"]["confusion_matrix"],
    }


def peak_rss_mb() -> float:
    """This process's peak resident memory since it started its program, in MB.

    Linux's `ru_maxrss` is carried across `fork` and `exec`, so a child of a parent that holds the dataset would
    report the parent's peak; `VmHWM` of /proc/self/status belongs to the child's own address space.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def comparison_table(rows: list[dict]) -> str:
    """Markdown table of the runs."""

    def interval(value) -> str:
        return (
            f"{value[0]:.3f} [{value[1]:.3f}, {value[2]:.3f}]"
            if isinstance(value, (list, tuple))
            else f"{value:.3f}"
        )

    lines = [
        (
            "| model | parameters | steps in budget | train CPU-s | top-1 | top-3 | macro-F1 | Vascular recall | "
            "train clips/s (wall) | train clips per CPU-s | eval clips/s (wall) | eval clips per CPU-s | peak RSS (MB) |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        recall = row["recall_Vascular"]
        vascular = f"{recall:.2f} (n={row['vascular_test_clips']})" if not math.isnan(recall) else "– (n=0)"
        lines.append(
            f"| {row['model']} (`{row['class']}`) | {row['parameters']:,} | {row['steps']} | {row['train_cpu_s']:.0f} | "
            f"{interval(row['top1_accuracy'])} | {interval(row['top3_accuracy'])} | {interval(row['macro_f1'])} | "
            f"{vascular} | {row['train_clips_per_s']} | {row['train_clips_per_cpu_s']} | "
            f"{row['eval_clips_per_s']} | {row['eval_clips_per_cpu_s']} | {row['peak_rss_mb']:,.0f} |"
        )
    return "\n".join(lines)


def write_into_benchmarks_md(path: Path, table: str) -> None:
    """Replace the text between the model-comparison markers of BENCHMARKS.md with `table`."""
    text = path.read_text(encoding="utf-8")
    if SECTION_START not in text or SECTION_END not in text:
        raise SystemExit(f"{path}: no {SECTION_START} ... {SECTION_END} block to write the table into")
    head, rest = text.split(SECTION_START, 1)
    _, tail = rest.split(SECTION_END, 1)
    path.write_text(f"{head}{SECTION_START}\n{table}\n{SECTION_END}{tail}", encoding="utf-8")


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.only:
        row = train_and_evaluate(args, args.only)
        (out / f"{args.only}.json").write_text(json.dumps(row, indent=2, default=float), encoding="utf-8")
        return [row]
    load_bench_dataset(args)  # generate and prepare once, before the children share the cache
    forwarded = list(argv if argv is not None else sys.argv[1:])
    pending, running, failed = list(args.models), {}, []
    while pending or running:
        while pending and len(running) < max(1, args.jobs):
            name = pending.pop(0)
            print(f"training {name} for {args.cpu_budget_s:g} CPU-seconds", flush=True)
            running[name] = subprocess.Popen([sys.executable, "-m", __spec__.name, *forwarded, "--only", name])
        for name, process in list(running.items()):
            if process.poll() is not None:
                del running[name]
                if process.returncode != 0:
                    failed.append(f"{name} (exit status {process.returncode})")
                else:
                    print(json.dumps(json.loads((out / f"{name}.json").read_text()), indent=2), flush=True)
        time.sleep(0.5)
    if failed:
        raise SystemExit(f"model comparison: these runs failed, see their output above: {', '.join(failed)}")
    rows = [json.loads((out / f"{name}.json").read_text(encoding="utf-8")) for name in args.models]
    table = comparison_table(rows)
    (out / "table.md").write_text(table + "\n", encoding="utf-8")
    (out / "summary.json").write_text(json.dumps({"args": vars(args), "runs": rows}, indent=2, default=float))
    print(table)
    if args.docs_dir:
        for row in rows:
            shutil.copy(row["confusion_png"], Path(args.docs_dir) / f"compare_{row['model']}_confusion.png")
    if args.benchmarks_md:
        write_into_benchmarks_md(Path(args.benchmarks_md), table)
    return rows


if __name__ == "__main__":
    main()
