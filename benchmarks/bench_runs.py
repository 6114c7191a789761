"""What the training benchmarks share: their bench-scale sample archive and the Trainer settings of a timed run."""

from __future__ import annotations

import time
from pathlib import Path


def ensure_bench_archive(
    archive: Path, *, seed: int, num_samples: int, width: int, height: int, zips: bool = True
) -> Path:
    """Generate a bench-scale sample archive at `archive` unless one is there already (its manifest.json)."""
    from hf_loader.sample_archive import MANIFEST_NAME, make_sample_archive

    if not (archive / MANIFEST_NAME).is_file():
        started = time.perf_counter()
        make_sample_archive(
            archive,
            seed=seed,
            scale="bench",
            num_samples=num_samples,
            width=width,
            height=height,
            zips=zips,
            progress=True,
        )
        print(f"sample archive: {num_samples} samples in {time.perf_counter() - started:.0f} s", flush=True)
    return archive


def bench_training_arguments(output_dir: Path, seed: int, **overrides):
    """`TrainingArguments` of a benchmark run: CPU, cosine schedule, no evaluation, checkpoints, reports or
    progress bars (they would be timed too), the clip columns kept; `overrides` set the run's own fields."""
    from transformers import TrainingArguments

    defaults = {
        "per_device_eval_batch_size": 32,
        "lr_scheduler_type": "cosine",
        "max_grad_norm": 1.0,
        "eval_strategy": "no",
        "save_strategy": "no",
        "report_to": "none",
        "use_cpu": True,
        "seed": seed,
        "remove_unused_columns": False,
        "disable_tqdm": True,
    }
    return TrainingArguments(output_dir=str(output_dir), **{**defaults, **overrides})
