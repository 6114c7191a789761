"""The whole path on a generated sample archive, about 4.5 minutes on 2 CPU cores (`scripts/demo.py`).

generate a sample archive → export Parquet + card → `load_dataset` → train a small RViT from scratch with `Trainer` →
evaluate against the constant-prediction baselines (table with bootstrap intervals, confusion PNGs, CSV) → save
(weights, config, processor, remote code, card) → reload through the Auto classes → predict one sample video from
its mp4 file (the paper's preprocessing, then the model).

The model is `ahu-train`'s from-scratch recipe (`ahu_train.train.PRESETS["scratch"]`: RViT with a convolutional
stem, AdamW with weight decay 0.05, cosine schedule with 5 % warm-up, gradient clipping, batch 16,
inverse-square-root class weights), shrunk to fit the time: 4 frames of 64 px, patch 8, two layers of hidden size
128, frames resized once, augmentation, torch on one thread, a 0.6 / 0.1 / 0.3 split so that the test split has
enough clips. `model_family="frame_pooling"` trains a per-frame ResNet instead (a baseline).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# What each model family of the demo trains: its ModelArguments, epochs and learning rate (BENCHMARKS.md, "## RViT
# from scratch: the recipe"). RViT is the demo; the per-frame ResNet with temporal mean pooling is a baseline.
DEMO_MODELS: dict[str, dict] = {
    "rvit": {
        "model": {
            "model_family": "rvit",
            "config_preset": "scratch",
            "num_frames": 4,
            "image_size": 64,
            "config_overrides": "hidden_size=128,num_hidden_layers=2,num_attention_heads=4,intermediate_size=512",
        },
        "epochs": 30.0,
        "learning_rate": 1e-3,
    },
    "frame_pooling": {
        "model": {
            "model_family": "frame_pooling",
            "num_frames": 4,
            "image_size": 64,
            "config_overrides": "embedding_size=32,hidden_sizes=[32,64,128],depths=[1,1,1]",
        },
        "epochs": 35.0,
        "learning_rate": 2e-3,
    },
}
DEMO_MODEL_FAMILY = "rvit"
DEMO_NUM_SAMPLES = 300
DEMO_SPLIT_FRACTIONS = (0.6, 0.1, 0.3)
# Source video size of the generated archive: the processed tier is 224 px whatever the source, and small
# sources render faster.
DEMO_VIDEO_SIZE = (180, 320)

# What the demo must show to count as learning (issue #14).
MIN_TEST_CLIPS = 40
MIN_GAIN_OVER_CONSTANT = 0.15
MIN_MACRO_F1 = 0.3


@dataclass
class LearningCheck:
    """Did the model learn? Its test top-1 and macro-F1 against what a constant prediction gets.

    Attributes:
        num_test: test clips scored.
        top1_accuracy, macro_f1: the model's, on those clips.
        majority_label: the commonest primary label of the training split (what a model that learned
            nothing but the class prior predicts).
        majority_baseline: top-1 on the test clips of always predicting `majority_label`.
        best_constant_label, best_constant_accuracy: the constant prediction that scores best on the test
            clips themselves (an upper bound for any constant predictor).
        passed: `num_test >= MIN_TEST_CLIPS`, top-1 at least `MIN_GAIN_OVER_CONSTANT` above the best
            constant, and macro-F1 at least `MIN_MACRO_F1`.
    """

    num_test: int
    top1_accuracy: float
    macro_f1: float
    majority_label: str
    majority_baseline: float
    best_constant_label: str
    best_constant_accuracy: float
    passed: bool

    @property
    def gain_over_constant(self) -> float:
        return self.top1_accuracy - self.best_constant_accuracy

    def describe(self) -> str:
        verdict = "learned" if self.passed else "did NOT learn enough"
        return (
            f"{verdict}: test top-1 {self.top1_accuracy:.3f} on {self.num_test} clips vs. "
            f"{self.best_constant_accuracy:.3f} for the best constant prediction ({self.best_constant_label}; "
            f"gain {self.gain_over_constant:+.3f}, needs >= {MIN_GAIN_OVER_CONSTANT}), the training split's "
            f"majority class ({self.majority_label}) gets {self.majority_baseline:.3f}; macro-F1 "
            f"{self.macro_f1:.3f} (needs >= {MIN_MACRO_F1}); test clips needed >= {MIN_TEST_CLIPS}"
        )


def check_learning(
    test_scores: np.ndarray,
    test_labels: Sequence[int],
    train_labels: Sequence[int],
    label_names: Sequence[str],
) -> LearningCheck:
    """Compare a model's test predictions with constant predictions.

    Args:
        test_scores: (num_test, num_labels) scores (logits or probabilities) of the test clips.
        test_labels: (num_test,) their primary labels.
        train_labels: primary labels of the training split (gives the majority class).
        label_names: names of the label indices.
    """
    from .metrics import single_label_metrics

    test_labels = np.asarray(test_labels, dtype=np.int64)
    if len(test_labels) == 0:
        raise ValueError("check_learning: no test clips to score")
    metrics = single_label_metrics(np.asarray(test_scores), test_labels, top_k=(1,))
    num_labels = len(label_names)
    test_counts = np.bincount(test_labels, minlength=num_labels)
    majority = int(np.bincount(np.asarray(train_labels, dtype=np.int64), minlength=num_labels).argmax())
    best_constant = int(test_counts.argmax())
    check = LearningCheck(
        num_test=len(test_labels),
        top1_accuracy=float(metrics["top1_accuracy"]),
        macro_f1=float(metrics["macro_f1"]),
        majority_label=label_names[majority],
        majority_baseline=float(test_counts[majority] / len(test_labels)),
        best_constant_label=label_names[best_constant],
        best_constant_accuracy=float(test_counts[best_constant] / len(test_labels)),
        passed=False,
    )
    check.passed = bool(
        check.num_test >= MIN_TEST_CLIPS
        and check.gain_over_constant >= MIN_GAIN_OVER_CONSTANT
        and check.macro_f1 >= MIN_MACRO_F1
    )
    return check


def run_demo(
    out: str | Path,
    seed: int = 0,
    num_samples: int = DEMO_NUM_SAMPLES,
    num_train_epochs: float | None = None,
    num_resamples: int = 500,
    threads: int = 1,
    log: Callable[[str], None] = print,
    model_family: str = DEMO_MODEL_FAMILY,
) -> dict:
    """Run every step, printing what it does; returns a summary (also written to `out/demo_summary.json`).

    Args:
        out: output folder (archive/, dataset/, model/, eval/ are created in it; an existing archive is reused).
        seed: seed of the sample archive and of training.
        num_samples: samples of the generated archive.
        num_train_epochs: training epochs (default: the model family's, `DEMO_MODELS`).
        num_resamples: bootstrap resamples of the confidence intervals.
        threads: torch intra-op threads. One is fastest for this small model on a shared machine (more threads
            than free cores make its small per-frame ops wait on each other).
        model_family: `"rvit"` (the demo) or `"frame_pooling"` (a per-frame ResNet baseline).
    """
    import datasets
    import torch
    from transformers import AutoModelForVideoClassification, AutoVideoProcessor, TrainingArguments

    import modeling_rvit  # noqa: F401  (registers RViT and its video processor with the Auto classes)
    from hf_loader.export import export_dataset
    from hf_loader.preprocess import preprocess_sample
    from hf_loader.sample_archive import load_manifest, make_sample_archive

    from . import models  # noqa: F401  (registers the frame-pooling model with the Auto classes)
    from .evaluation import evaluate_model, predict_clips
    from .model_card import write_model_card
    from .train import PRESETS, DataArguments, ModelArguments, num_parameters, run_training

    if model_family not in DEMO_MODELS:
        raise ValueError(f"model_family={model_family!r}: the demo trains one of {sorted(DEMO_MODELS)}")
    demo_model = DEMO_MODELS[model_family]
    if num_train_epochs is None:
        num_train_epochs = demo_model["epochs"]
    torch.set_num_threads(threads)
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
        step("prepare", f"generating a sample archive of {num_samples} samples (seed {seed}) in {archive}")
        width, height = DEMO_VIDEO_SIZE
        make_sample_archive(
            archive, seed=seed, num_samples=num_samples, width=width, height=height, zips=False, progress=True
        )
    manifest = load_manifest(archive)
    export_dir = out / "dataset"
    step(
        "prepare", f"building the 'processed' config with AHUUltrasound and exporting Parquet to {export_dir}"
    )
    # The demo's own folder: an export of an earlier (regenerated) archive in it is replaced, not refused.
    export_dataset(
        archive,
        export_dir,
        "processed",
        cache_dir=str(out / "cache"),
        fractions=DEMO_SPLIT_FRACTIONS,
        overwrite=True,
    )

    dataset = datasets.load_dataset(str(export_dir))
    sizes = {split: len(rows) for split, rows in dataset.items()}
    step("load_dataset", f"load_dataset({str(export_dir)!r}) -> {sizes}")
    summary["splits"] = sizes

    model_dir = out / "model"
    # The from-scratch recipe's optimizer, schedule and batch (`ahu-train`'s default for a new RViT).
    recipe = {**PRESETS["scratch"]["training"], "learning_rate": demo_model["learning_rate"]}
    training_args = TrainingArguments(
        output_dir=str(model_dir),
        num_train_epochs=num_train_epochs,
        eval_strategy="no",
        save_strategy="no",
        logging_steps=50,
        report_to="none",
        use_cpu=True,
        seed=seed,
        remove_unused_columns=False,
        disable_tqdm=False,
        **recipe,
    )
    # Inverse-square-root class weights: the rare labels count, for the macro-F1.
    model_args = ModelArguments(
        **demo_model["model"], class_weighting=PRESETS["scratch"]["model"]["class_weighting"]
    )
    data_args = DataArguments(dataset_name=str(export_dir), eval_split="validation", pre_resize=True)
    step(
        "train",
        f"{model_args.model_family} model"
        + (f" (RViTConfig preset {model_args.config_preset!r})" if model_family == "rvit" else "")
        + f", {model_args.num_frames} frames x {model_args.image_size} px ({model_args.config_overrides}), "
        f"AdamW {training_args.learning_rate:g}, {num_train_epochs:g} epochs on {sizes.get('train')} clips, "
        f"{torch.get_num_threads()} torch thread(s)",
    )
    train_started = time.perf_counter()
    result = run_training(model_args, data_args, training_args, dataset=dataset)
    summary["train_seconds"] = round(time.perf_counter() - train_started, 1)
    trainer = result.trainer
    summary["model"] = {"family": model_family, "class": type(trainer.model).__name__}
    label_names = [trainer.model.config.id2label[i] for i in range(trainer.model.config.num_labels)]
    # Training accuracy without augmentation: one centred clip per training video, as at test.
    train_rows = result.dataset["train"]
    train_predictions = predict_clips(
        trainer.model, result.processor, train_rows, batch_size=32, progress=False
    )
    train_accuracy = float((train_predictions.logits.argmax(1) == train_predictions.labels).mean())
    summary["train_accuracy"] = train_accuracy
    step(
        "train",
        f"{num_parameters(trainer.model):,} parameters, {summary['train_seconds']:.0f} s, train loss "
        f"{result.metrics.get('train_loss', float('nan')):.3f}, training accuracy (centre clip, no augmentation) "
        f"{train_accuracy:.3f}, validation top-1 {result.metrics.get('eval_top1_accuracy', float('nan')):.3f}",
    )

    eval_dir = out / "eval"
    test_split = "test" if "test" in dataset else next(iter(dataset))
    results = evaluate_model(
        trainer.model,
        result.processor,
        {test_split: result.dataset[test_split]},
        eval_dir,
        num_resamples=num_resamples,
        batch_size=32,
        seed=seed,
    )
    table = (eval_dir / "metrics.md").read_text(encoding="utf-8")
    step("evaluate", f"{test_split} split, clip and video level (95 % bootstrap CIs):\n{table}")
    for name, setting in results.items():
        step("evaluate", f"{name}: " + ", ".join(str(Path(p)) for p in setting["files"].values()))
    headline = ("top1_accuracy", "top3_accuracy", "macro_f1")
    summary["test"] = {
        name: {
            "n": setting["n"],
            **{k: setting[k] for k in headline},
            "ci": {k: setting["ci"][k] for k in headline if k in setting["ci"]},
        }
        for name, setting in results.items()
    }
    # The same centred clips as the clip-level row above, scored against constant predictions.
    test_predictions = predict_clips(
        trainer.model, result.processor, result.dataset[test_split], batch_size=32, progress=False
    )
    check = check_learning(
        test_predictions.logits, test_predictions.labels, train_predictions.labels, label_names
    )
    summary["learning"] = {**vars(check), "gain_over_constant": check.gain_over_constant}
    step("evaluate", check.describe())

    card = write_model_card(
        model_dir,
        results=results,
        model_name="ahu-demo",
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
    (out / "demo_summary.json").write_text(json.dumps(summary, indent=2, default=float), encoding="utf-8")
    step("done", f"{check.describe()}\nsummary in {out / 'demo_summary.json'}")
    return summary
