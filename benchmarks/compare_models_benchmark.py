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

`rvit_pretrained` is RViT fine-tuned (same budget) from a self-supervised `RViTForPreTraining` checkpoint that was
pretrained first, for `--pretrain_cpu_budget_s` CPU-seconds (reported apart), on the clips of the same archive's
training split only (`ahu_train.pretrain`, labels unused); a later run with the same `--out` reuses that
checkpoint, as it reuses every finished run (OUT/<run>.json). `--label_fractions 0.1 0.3 1.0` trains every model
with that share of the training labels (a stratified subset, the same for every model; pretraining still sees the
whole training split's clips) and adds a label-efficiency table.

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
    # The same RViT with the from-scratch recipe's convolutional stem (preset `scratch`; run it at --learning_rate 1e-3).
    "rvit_scratch": {
        "model_family": "rvit",
        "config_overrides": "patch_size=8,hidden_size=128,num_hidden_layers=2,num_attention_heads=4,"
        "intermediate_size=512,patch_embedding_type=conv_stem",
    },
    # The same RViT, its encoder pretrained by masked-patch reconstruction (`pretrain_rvit`), a new head.
    "rvit_pretrained": {
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
PRETRAINED = "rvit_pretrained"
PRETRAINING_RUN = "pretraining"
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
    parser.add_argument(
        "--pretrain_cpu_budget_s",
        type=float,
        default=600.0,
        help="Self-supervised pretraining CPU-seconds of rvit_pretrained (once, before its fine-tuning runs).",
    )
    parser.add_argument("--pretrain_learning_rate", type=float, default=1e-3)
    parser.add_argument(
        "--pretrain_batch_size",
        type=int,
        default=None,
        help="Pretraining batch size (default: --batch_size).",
    )
    parser.add_argument(
        "--pretrain_overrides",
        default="",
        help="RViTConfig pretraining fields for rvit_pretrained, e.g. 'mask_ratio=0.75,mask_type=tube'.",
    )
    parser.add_argument(
        "--label_fractions",
        nargs="+",
        type=float,
        default=[1.0],
        help="Shares of the training labels; each model trains once per share (label-efficiency table).",
    )
    parser.add_argument(
        "--calibration_steps",
        type=int,
        default=20,
        help="timed steps after a first, untimed one (5 gave one run 25 %% fewer steps than its budget)",
    )
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


def run_key(name: str, fraction: float) -> str:
    """The name of one run: the model, and the share of the training labels when it is not all of them."""
    return name if fraction == 1.0 else f"{name}@{fraction:g}"


def parse_run_key(key: str) -> tuple[str, float]:
    name, _, fraction = key.partition("@")
    return name, float(fraction or 1.0)


def label_subset(rows, fraction: float, seed: int):
    """A stratified share `fraction` of `rows` (at least one row of every label present), the same for every
    model of a run: per primary label, a seeded random choice of `round(fraction · count)` rows, in split order."""
    import numpy as np

    from hf_loader.constants import LABEL_COLUMN

    if fraction >= 1.0:
        return rows
    labels = np.asarray(rows[LABEL_COLUMN])
    generator = np.random.default_rng(seed)
    keep: list[int] = []
    for label in np.unique(labels):
        indices = np.flatnonzero(labels == label)
        generator.shuffle(indices)
        keep.extend(indices[: max(1, round(fraction * len(indices)))].tolist())
    return rows.select(sorted(keep))


def step_clock():
    """A `TrainerCallback` noting the CPU time at the end of every step (in its `ends`)."""
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def __init__(self):
            self.ends: list[float] = []

        def on_step_end(self, *_, **__):
            self.ends.append(time.process_time())

    return StepClock()


def cpu_budget_callback(cpu_budget_s: float):
    """A `TrainerCallback` that stops training once `1.1 · cpu_budget_s` is spent (the calibration can be off)."""
    from transformers import TrainerCallback

    class CpuBudget(TrainerCallback):
        def on_train_begin(self, *_, **__):
            self.start = time.process_time()

        def on_step_end(self, _args, state, control, **__):
            if time.process_time() - self.start > 1.1 * cpu_budget_s:
                control.should_training_stop = True

    return CpuBudget()


def budgeted_run(run, cpu_budget_s: float, calibration_steps: int, name: str):
    """`run(max_steps, output_name, callbacks)` calibrated, then run for `cpu_budget_s` CPU-seconds.

    Calibration: CPU-seconds per step, so that the schedule spans the budget. Timed from the end of the first step
    to the end of the last: model building, data loader start and the first step's warm-up would otherwise count as
    steps. Returns (the run's result, its training CPU-seconds, its wall seconds).
    """
    clock = step_clock()
    run(calibration_steps + 1, "calibration", [clock])
    seconds_per_step = (clock.ends[-1] - clock.ends[0]) / (len(clock.ends) - 1)
    max_steps = max(1, int(cpu_budget_s / seconds_per_step))
    print(f"{name}: {seconds_per_step:.3f} CPU-s a step -> max_steps {max_steps}", flush=True)
    wall, cpu = time.perf_counter(), time.process_time()
    result = run(max_steps, None, [cpu_budget_callback(cpu_budget_s)])
    return result, time.process_time() - cpu, time.perf_counter() - wall


def pretraining_dir(args) -> Path:
    return Path(args.out) / PRETRAINING_RUN


def pretrain(args) -> dict:
    """Pretrain rvit_pretrained's encoder on the training split's clips (labels unused) for the pretraining budget;
    the checkpoint goes to OUT/pretraining/model, its record (CPU-seconds, steps, losses, splits) is returned."""
    import torch

    from ahu_train.pretrain import (
        PRETRAINING_DATA_FILE,
        PRETRAINING_TRAINING_DEFAULTS,
        PretrainDataArguments,
        PretrainModelArguments,
        run_pretraining,
    )
    from benchmarks.bench_runs import bench_training_arguments

    torch.set_num_threads(args.threads)
    dataset, _ = load_bench_dataset(args)
    overrides = ",".join(filter(None, (MODELS[PRETRAINED]["config_overrides"], args.pretrain_overrides)))
    model_args = PretrainModelArguments(
        config_overrides=overrides, num_frames=args.num_frames, image_size=args.image_size
    )
    run_dir = pretraining_dir(args)

    def run(max_steps: int, output_name: str | None, callbacks: list):
        training_args = bench_training_arguments(
            run_dir / (output_name or "model"),
            args.seed,
            max_steps=max_steps,
            # ahu-pretrain's recipe; the batch size and learning rate are the script's options.
            **{
                **PRETRAINING_TRAINING_DEFAULTS,
                "per_device_train_batch_size": args.pretrain_batch_size or args.batch_size,
                "learning_rate": args.pretrain_learning_rate,
            },
            logging_steps=25,
        )
        # The whole dataset goes in: run_pretraining holds the validation and test splits out itself.
        return run_pretraining(model_args, PretrainDataArguments(), training_args, callbacks, dataset=dataset)

    result, cpu_s, wall_s = budgeted_run(
        run, args.pretrain_cpu_budget_s, args.calibration_steps, PRETRAINING_RUN
    )
    losses = [entry["loss"] for entry in result.trainer.state.log_history if "loss" in entry]
    data = json.loads((result.output_dir / PRETRAINING_DATA_FILE).read_text(encoding="utf-8"))
    return {
        "checkpoint": str(result.output_dir),
        "pretrain_cpu_s": round(cpu_s, 1),
        "pretrain_wall_s": round(wall_s, 1),
        "pretrain_steps": result.trainer.state.global_step,
        "pretrain_losses": losses,
        "pretrain_splits": data["splits"],
        "pretrain_samples": data["num_samples"],
        "pretrain_overrides": overrides,
        "pretrain_batch_size": args.pretrain_batch_size or args.batch_size,
    }


def train_and_evaluate(args, key: str) -> dict:
    """Train one model (with a share of the labels) for the CPU budget and evaluate it; returns its row."""
    import torch

    from ahu_train.evaluation import evaluate_model, predict_clips
    from ahu_train.train import ModelArguments, num_parameters, run_training
    from benchmarks.bench_runs import bench_training_arguments
    from hf_loader.constants import LABEL2ID

    torch.set_num_threads(args.threads)
    name, fraction = parse_run_key(key)
    dataset, data_args = load_bench_dataset(args)
    dataset = type(dataset)({**dataset, "train": label_subset(dataset["train"], fraction, args.seed)})
    # Training sees the training split alone: the test split is evaluated once, below, and not by the Trainer.
    training_data = type(dataset)({"train": dataset["train"]})
    pretraining = None
    if name == PRETRAINED:
        pretraining = json.loads(
            (pretraining_dir(args) / f"{PRETRAINING_RUN}.json").read_text(encoding="utf-8")
        )
        # The checkpoint fixes the shape; only the clip options are repeated (they must agree with it).
        model_args = ModelArguments(
            model_name_or_path=pretraining["checkpoint"],
            num_frames=args.num_frames,
            image_size=args.image_size,
            class_weighting=args.class_weighting,
        )
    else:
        model_args = ModelArguments(
            num_frames=args.num_frames,
            image_size=args.image_size,
            class_weighting=args.class_weighting,
            **MODELS[name],
        )
    run_dir = Path(args.out) / key

    def run(max_steps: int, output_name: str | None, callbacks: list):
        training_args = bench_training_arguments(
            run_dir / output_name if output_name else run_dir,
            args.seed,
            max_steps=max_steps,
            per_device_train_batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            weight_decay=args.weight_decay,
            warmup_steps=0.05,
            logging_steps=50,
        )
        return run_training(model_args, data_args, training_args, callbacks=callbacks, dataset=training_data)

    result, train_cpu, train_wall = budgeted_run(run, args.cpu_budget_s, args.calibration_steps, key)
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
    row = {
        "model": key,
        "class": type(model).__name__,
        "parameters": num_parameters(model),
        "config_overrides": MODELS[name]["config_overrides"],
        "label_fraction": fraction,
        "train_samples": len(dataset["train"]),
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
    if pretraining is not None:
        row.update({key: value for key, value in pretraining.items() if key != "pretrain_losses"})
    return row


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
            f"| {model_cell(row)} | {row['parameters']:,} | {row['steps']} | {row['train_cpu_s']:.0f} | "
            f"{interval(row['top1_accuracy'])} | {interval(row['top3_accuracy'])} | {interval(row['macro_f1'])} | "
            f"{vascular} | {row['train_clips_per_s']} | {row['train_clips_per_cpu_s']} | "
            f"{row['eval_clips_per_s']} | {row['eval_clips_per_cpu_s']} | {row['peak_rss_mb']:,.0f} |"
        )
    return "\n".join(lines)


def model_cell(row: dict) -> str:
    """The table's first cell: the run, its class, and its pretraining CPU-seconds when it had any."""
    cell = f"{row['model']} (`{row['class']}`)"
    if row.get("pretrain_cpu_s") is not None:
        cell += f", pretrained {row['pretrain_cpu_s']:.0f} CPU-s"
    return cell


def label_efficiency_table(rows: list[dict]) -> str:
    """Markdown table: top-1 and macro-F1 of RViT from scratch and from the pretrained start, per label share."""

    def cell(row: dict | None, metric: str) -> str:
        if row is None:
            return "–"
        value = row[metric]
        return (
            f"{value[0]:.3f} [{value[1]:.3f}, {value[2]:.3f}]"
            if isinstance(value, (list, tuple))
            else f"{value:.3f}"
        )

    by_run = {parse_run_key(row["model"]): row for row in rows}
    fractions = sorted({fraction for _, fraction in by_run})
    lines = [
        "| training labels | clips | RViT from scratch: top-1 | macro-F1 | from the pretrained start: top-1 | macro-F1 |",
        "|---|---|---|---|---|---|",
    ]
    for fraction in fractions:
        # From scratch: the recipe's RViT where it ran, else the reference RViT.
        scratch = by_run.get(("rvit_scratch", fraction)) or by_run.get(("rvit", fraction))
        pretrained = by_run.get((PRETRAINED, fraction))
        if scratch is None and pretrained is None:
            continue
        clips = (scratch or pretrained)["train_samples"]
        lines.append(
            f"| {fraction:.0%} | {clips} | {cell(scratch, 'top1_accuracy')} | {cell(scratch, 'macro_f1')} | "
            f"{cell(pretrained, 'top1_accuracy')} | {cell(pretrained, 'macro_f1')} |"
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
    if args.only == PRETRAINING_RUN:
        record = pretrain(args)
        (pretraining_dir(args) / f"{PRETRAINING_RUN}.json").write_text(
            json.dumps(record, indent=2), encoding="utf-8"
        )
        return [record]
    if args.only:
        row = train_and_evaluate(args, args.only)
        (out / f"{args.only}.json").write_text(json.dumps(row, indent=2, default=float), encoding="utf-8")
        return [row]
    load_bench_dataset(args)  # generate and prepare once, before the children share the cache
    forwarded = list(argv if argv is not None else sys.argv[1:])
    keys = [run_key(name, fraction) for fraction in args.label_fractions for name in args.models]
    pretrained_record = pretraining_dir(args) / f"{PRETRAINING_RUN}.json"
    needs_pretraining = PRETRAINED in args.models and not pretrained_record.is_file()
    if PRETRAINED in args.models and not needs_pretraining:
        print(
            f"reusing the pretrained checkpoint of {pretrained_record} (delete that folder to pretrain again)"
        )
    done = [key for key in keys if (out / f"{key}.json").is_file()]
    if done:
        print(
            f"reusing the finished runs {', '.join(done)} of {out} (delete OUT/<run>.json to run one again)"
        )
    pending = ([PRETRAINING_RUN] if needs_pretraining else []) + [key for key in keys if key not in done]
    running, failed = {}, []
    while pending or running:
        # A run from the pretrained start waits for the pretraining; the other runs go ahead meanwhile.
        ready = [key for key in pending if parse_run_key(key)[0] != PRETRAINED or pretrained_record.is_file()]
        while ready and len(running) < max(1, args.jobs):
            key = ready.pop(0)
            pending.remove(key)
            budget = args.pretrain_cpu_budget_s if key == PRETRAINING_RUN else args.cpu_budget_s
            print(f"running {key} for {budget:g} CPU-seconds", flush=True)
            running[key] = subprocess.Popen([sys.executable, "-m", __spec__.name, *forwarded, "--only", key])
        for key, process in list(running.items()):
            if process.poll() is not None:
                del running[key]
                if process.returncode != 0:
                    failed.append(f"{key} (exit status {process.returncode})")
                    if key == PRETRAINING_RUN:
                        pending = [key for key in pending if parse_run_key(key)[0] != PRETRAINED]
                elif key != PRETRAINING_RUN:
                    print(json.dumps(json.loads((out / f"{key}.json").read_text()), indent=2), flush=True)
        time.sleep(0.5)
    if failed:
        raise SystemExit(f"model comparison: these runs failed, see their output above: {', '.join(failed)}")
    rows = [json.loads((out / f"{key}.json").read_text(encoding="utf-8")) for key in keys]
    table = comparison_table(rows)
    if len(args.label_fractions) > 1:
        table += "\n\nLabel efficiency:\n\n" + label_efficiency_table(rows)
    (out / "table.md").write_text(table + "\n", encoding="utf-8")
    summary = {"args": vars(args), "runs": rows}
    if pretrained_record.is_file():
        summary["pretraining"] = json.loads(pretrained_record.read_text(encoding="utf-8"))
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    print(table)
    if args.docs_dir:
        for row in rows:
            shutil.copy(row["confusion_png"], Path(args.docs_dir) / f"compare_{row['model']}_confusion.png")
    if args.benchmarks_md:
        write_into_benchmarks_md(Path(args.benchmarks_md), comparison_table(rows))
    return rows


if __name__ == "__main__":
    main()
