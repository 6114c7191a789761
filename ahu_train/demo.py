"""The whole path on the sample archive, in a few minutes on 2 CPU cores (`scripts/demo.py`).

prepare (sample archive → Parquet export) → `load_dataset` → train a small RViT → evaluate (table, PNGs,
CSV) → save (weights, config, processor, remote code, card) → reload through the Auto classes → predict one
sample video from its mp4 file (the paper's preprocessing, then the model).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

# The small RViT of the training benchmark (benchmarks/train_rvit_benchmark.py): under a minute of CPU here.
DEMO_MODEL = {
    "num_frames": 6,
    "image_size": 32,
    "config_overrides": "patch_size=8,hidden_size=96,num_hidden_layers=1,num_attention_heads=4,intermediate_size=192",
}


def run_demo(
    out: str | Path,
    seed: int = 0,
    num_samples: int | None = None,
    num_train_epochs: float = 100,
    log: Callable[[str], None] = print,
) -> dict:
    """Run every step, printing what it does; returns a summary (also written to `out/demo_summary.json`).

    Args:
        out: output folder (archive/, dataset/, model/, eval/ are created in it; an existing archive is reused).
        seed: seed of the sample archive and of training.
        num_samples: samples of the sample archive (default: the generator's default, 26).
        num_train_epochs: training epochs.
    """
    import datasets
    import numpy as np
    import torch
    from transformers import AutoModelForVideoClassification, AutoVideoProcessor, TrainingArguments

    import modeling_rvit  # noqa: F401  (registers RViT with the Auto classes)
    from hf_loader.export import export_dataset
    from hf_loader.preprocess import preprocess_sample
    from hf_loader.sample_archive import load_manifest, make_sample_archive

    from .evaluation import evaluate_model
    from .model_card import write_model_card
    from .train import DataArguments, ModelArguments, num_parameters, run_training

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary: dict = {}
    clock = time.perf_counter()

    def step(name: str, text: str) -> None:
        log(f"[{time.perf_counter() - clock:6.1f}s] {name}: {text}")

    archive = out / "archive"
    if (archive / "manifest.json").is_file():
        step("prepare", f"reusing the sample archive in {archive}")
    else:
        step("prepare", f"generating the sample archive (seed {seed}) in {archive}")
        make_sample_archive(archive, seed=seed, num_samples=num_samples)
    manifest = load_manifest(archive)
    export_dir = out / "dataset"
    step(
        "prepare", f"building the 'processed' config with AHUUltrasound and exporting Parquet to {export_dir}"
    )
    export_dataset(archive, export_dir, "processed", cache_dir=str(out / "cache"))

    dataset = datasets.load_dataset(str(export_dir))
    sizes = {split: len(rows) for split, rows in dataset.items()}
    step("load_dataset", f"load_dataset({str(export_dir)!r}) -> {sizes}")
    summary["splits"] = sizes

    model_dir = out / "model"
    training_args = TrainingArguments(
        output_dir=str(model_dir),
        num_train_epochs=num_train_epochs,
        per_device_train_batch_size=8,
        per_device_eval_batch_size=8,
        learning_rate=1e-3,
        weight_decay=0.0,
        warmup_steps=5,
        lr_scheduler_type="cosine",
        eval_strategy="no",
        save_strategy="no",
        logging_steps=10,
        report_to="none",
        use_cpu=True,
        seed=seed,
        remove_unused_columns=False,
        disable_tqdm=True,
    )
    model_args = ModelArguments(**DEMO_MODEL, class_weighting="inverse_sqrt")
    data_args = DataArguments(dataset_name=str(export_dir), eval_split="validation", pre_resize=True)
    step(
        "train",
        f"RViT {DEMO_MODEL['num_frames']} frames x {DEMO_MODEL['image_size']} px "
        f"({DEMO_MODEL['config_overrides']}), {num_train_epochs:g} epochs on {sizes.get('train')} clips",
    )
    result = run_training(model_args, data_args, training_args, dataset=dataset)
    trainer = result.trainer
    step(
        "train",
        f"{num_parameters(trainer.model):,} parameters, train loss "
        f"{result.metrics.get('train_loss', float('nan')):.3f}, validation top-1 "
        f"{result.metrics.get('eval_top1_accuracy', float('nan')):.3f}",
    )

    eval_dir = out / "eval"
    test_split = "test" if "test" in dataset else next(iter(dataset))
    results = evaluate_model(
        trainer.model,
        result.processor,
        {test_split: result.dataset[test_split]},
        eval_dir,
        num_resamples=200,
        seed=seed,
    )
    table = (eval_dir / "metrics.md").read_text(encoding="utf-8")
    step("evaluate", f"{test_split} split, clip and video level (95 % bootstrap CIs):\n{table}")
    for name, setting in results.items():
        step("evaluate", f"{name}: " + ", ".join(str(Path(p)) for p in setting["files"].values()))
    summary["test"] = {
        name: {k: setting[k] for k in ("n", "top1_accuracy", "top3_accuracy", "macro_f1")}
        for name, setting in results.items()
    }

    card = write_model_card(
        model_dir,
        results=results,
        model_name="rvit-ahu-demo",
        notes="Trained on the synthetic sample archive: a demonstration, not a clinical model.",
    )
    saved = sorted(path.name for path in model_dir.iterdir() if path.is_file())
    step("save", f"{model_dir}: {', '.join(saved)} (card: {card.name})")

    model = AutoModelForVideoClassification.from_pretrained(model_dir).eval()
    processor = AutoVideoProcessor.from_pretrained(model_dir)
    step(
        "reload",
        f"AutoModelForVideoClassification -> {type(model).__name__}, "
        f"AutoVideoProcessor -> {type(processor).__name__}",
    )

    test_ids = set(dataset[test_split]["sample_id"])
    videos = [s for s in manifest["samples"] if s["kind"] == "video"]
    sample = next((s for s in videos if s["sample_id"] in test_ids), videos[0])
    video_path = archive / sample["filtered_path"]
    processed = preprocess_sample(video_path)
    # The saved processor applies the paper's frame path (stride, crop, noise removal) to the mp4 itself.
    inputs = processor(str(video_path), return_tensors="pt")
    with torch.no_grad():
        probabilities = model(**inputs).logits.softmax(-1)[0].numpy()
    top3 = np.argsort(-probabilities)[:3]
    predicted = [(model.config.id2label[int(i)], float(probabilities[i])) for i in top3]
    step(
        "predict",
        f"{video_path.name}: {len(processed.frames)} frames extracted, {int(processed.noise.sum())} "
        f"noise; top-3 "
        + ", ".join(f"{name} {p:.2f}" for name, p in predicted)
        + f"; true labels {', '.join(sample['labels'])}",
    )
    summary["prediction"] = {"video": str(video_path), "top3": predicted, "true_labels": sample["labels"]}
    summary["seconds"] = round(time.perf_counter() - clock, 1)
    (out / "demo_summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    step("done", f"summary in {out / 'demo_summary.json'}")
    return summary
