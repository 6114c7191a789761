"""Evaluation outputs: metrics tables, confusion matrix, per-class chart, predictions CSV,
video-level aggregation of several clips per video, bootstrap confidence intervals.

Every function here works on plain arrays (scores (num_items, num_labels), labels (num_items,)),
so it is testable without a model; `ahu_train.trainer.predict_clips` produces those arrays.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hf_loader.constants import LABELS

from .metrics import single_label_metrics

logger = logging.getLogger(__name__)

HEADLINE_METRICS = ("top1_accuracy", "top3_accuracy", "top5_accuracy", "macro_f1")
AGGREGATIONS = ("mean_probability", "mean_logit", "max_probability")


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (num_items, num_labels) logits."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


@dataclass
class VideoScores:
    """Scores aggregated to one row per video.

    Attributes:
        sample_ids: (num_videos,) the `sample_id` of each row, in order of first appearance.
        scores: (num_videos, num_labels) aggregated scores (probabilities, or logits for `mean_logit`).
        labels: (num_videos,) the primary label of each video.
        num_clips: (num_videos,) how many clips were aggregated into each row.
    """

    sample_ids: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    num_clips: np.ndarray


def aggregate_clip_scores(
    clip_logits: np.ndarray,
    sample_ids: Sequence,
    labels: Sequence[int],
    method: str = "mean_probability",
) -> VideoScores:
    """Aggregate the logits of several clips of one video into one score row per video.

    Args:
        clip_logits: (num_clips_total, num_labels) logits, one row per clip.
        sample_ids: (num_clips_total,) the video each clip comes from.
        labels: (num_clips_total,) the video's primary label (the same for all its clips).
        method: `mean_probability` (average of the softmax), `mean_logit`, or `max_probability`
            (per-class maximum over clips, then renormalized).

    Returns:
        `VideoScores`, videos in order of first appearance.
    """
    if method not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {method!r}; choose one of {', '.join(AGGREGATIONS)}")
    clip_logits = np.asarray(clip_logits, dtype=np.float64)
    sample_ids = np.asarray(sample_ids)
    labels = np.asarray(labels)
    if not (len(clip_logits) == len(sample_ids) == len(labels)):
        raise ValueError(
            f"aggregate_clip_scores: {len(clip_logits)} logit rows, {len(sample_ids)} sample ids and "
            f"{len(labels)} labels; they must be one per clip"
        )
    _, first, inverse = np.unique(sample_ids, return_index=True, return_inverse=True)
    order = np.argsort(first)  # videos in order of first appearance
    rank_of = np.empty_like(order)
    rank_of[order] = np.arange(len(order))
    video_index = rank_of[inverse.reshape(-1)]
    num_videos = len(order)
    values = clip_logits if method == "mean_logit" else softmax(clip_logits)
    scores = np.zeros((num_videos, clip_logits.shape[1]))
    num_clips = np.bincount(video_index, minlength=num_videos)
    if method == "max_probability":
        scores[:] = -np.inf
        np.maximum.at(scores, video_index, values)
        scores /= scores.sum(axis=1, keepdims=True)
    else:
        np.add.at(scores, video_index, values)
        scores /= num_clips[:, None]
    video_labels = labels[first[order]]
    for video, label in zip(video_index, labels):
        if video_labels[video] != label:
            raise ValueError(
                f"sample {sample_ids[first[order]][video]}: its clips carry different labels "
                f"({video_labels[video]} and {label})"
            )
    return VideoScores(sample_ids[first[order]], scores, video_labels, num_clips)


def bootstrap_confidence_intervals(
    scores: np.ndarray,
    labels: np.ndarray,
    metric_fn: Callable[[np.ndarray, np.ndarray], dict] = single_label_metrics,
    metric_names: Sequence[str] = HEADLINE_METRICS,
    num_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, tuple[float, float, float]]:
    """Percentile bootstrap over samples (resampled with replacement) of headline metrics.

    Args:
        scores: (num_items, num_labels). labels: (num_items,).
        metric_fn: maps (scores, labels) to a dict holding `metric_names`.
        num_resamples: bootstrap replicates.
        confidence: two-sided level of the interval.
        seed: seed of the resampling (same seed, same intervals).

    Returns:
        {name: (point estimate on all items, lower bound, upper bound)}.
    """
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    point = metric_fn(scores, labels)
    rng = np.random.default_rng(seed)
    draws = {name: np.empty(num_resamples) for name in metric_names}
    n = len(labels)
    for i in range(num_resamples):
        index = rng.integers(0, n, size=n)
        result = metric_fn(scores[index], labels[index])
        for name in metric_names:
            draws[name][i] = result[name]
    alpha = (1.0 - confidence) / 2
    return {
        name: (
            float(point[name]),
            float(np.quantile(draws[name], alpha)),
            float(np.quantile(draws[name], 1 - alpha)),
        )
        for name in metric_names
    }


def metrics_table(rows: dict[str, dict], metric_names: Sequence[str] = HEADLINE_METRICS) -> str:
    """Markdown table, one row per split/setting.

    Args:
        rows: {row name: {metric: value or (value, low, high)}}; a tuple prints as `v [lo, hi]`.
    """
    header = "| split | n | " + " | ".join(metric_names) + " |"
    lines = [header, "|" + "---|" * (len(metric_names) + 2)]
    for name, values in rows.items():
        cells = []
        for metric in metric_names:
            value = values.get(metric)
            if isinstance(value, (tuple, list)):
                cells.append(f"{value[0]:.3f} [{value[1]:.3f}, {value[2]:.3f}]")
            elif value is None:
                cells.append("–")
            else:
                cells.append(f"{value:.3f}")
        lines.append(f"| {name} | {values.get('n', '')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def confusion_matrix_counts(predicted: np.ndarray, labels: np.ndarray, num_labels: int) -> np.ndarray:
    """(num_labels, num_labels) counts, rows = true class, columns = predicted class."""
    matrix = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predicted)), 1)
    return matrix


def plot_confusion_matrix(
    matrix: np.ndarray, path: str | Path, label_names: Sequence[str] = LABELS, title: str = ""
) -> Path:
    """Write the confusion matrix as a PNG (rows normalized to recall; counts printed in cells)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    totals = matrix.sum(axis=1, keepdims=True)
    normalized = np.divide(matrix, totals, out=np.zeros(matrix.shape, dtype=float), where=totals > 0)
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    image = ax.imshow(normalized, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(label_names)), label_names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(label_names)), label_names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for (row, col), count in np.ndenumerate(matrix):
        if count:
            color = "white" if normalized[row, col] > 0.5 else "black"
            ax.text(col, row, str(count), ha="center", va="center", fontsize=7, color=color)
    fig.colorbar(image, ax=ax, label="fraction of true class")
    ax.set_title(title or "Confusion matrix")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_per_class(
    recalls: Sequence[float],
    support: Sequence[int],
    path: str | Path,
    label_names: Sequence[str] = LABELS,
    title: str = "",
) -> Path:
    """Bar chart of per-class recall, each bar annotated with the class's number of test items."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    values = np.nan_to_num(np.asarray(recalls, dtype=float), nan=0.0)
    fig, ax = plt.subplots(figsize=(8, 4))
    bars = ax.bar(range(len(label_names)), values, color="#4C72B0")
    for bar, count in zip(bars, support):
        ax.text(
            bar.get_x() + bar.get_width() / 2, bar.get_height() + 0.02, f"n={count}", ha="center", fontsize=7
        )
    ax.set_xticks(range(len(label_names)), label_names, rotation=60, ha="right", fontsize=8)
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("recall")
    ax.set_title(title or "Per-class recall")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_predictions_csv(
    path: str | Path,
    sample_ids: Sequence,
    scores: np.ndarray,
    labels: Sequence[int],
    label_names: Sequence[str] = LABELS,
    extra_columns: dict[str, Sequence] | None = None,
) -> Path:
    """One row per item: sample_id, true label, predicted label, top-3, correct, a score per class.

    Args:
        scores: (num_items, num_labels) probabilities (or logits).
        extra_columns: more columns, e.g. {"clip_start": [...], "num_clips": [...]}.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    scores = np.asarray(scores)
    top3 = np.argsort(-scores, axis=1, kind="stable")[:, :3]
    extra_columns = extra_columns or {}
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "sample_id",
                "true_label",
                "predicted_label",
                "top3",
                "correct",
                *extra_columns,
                *[f"score_{name}" for name in label_names],
            ]
        )
        for i, sample_id in enumerate(sample_ids):
            predicted = int(top3[i, 0])
            writer.writerow(
                [
                    sample_id,
                    label_names[int(labels[i])],
                    label_names[predicted],
                    ";".join(label_names[int(c)] for c in top3[i]),
                    int(predicted == int(labels[i])),
                    *[column[i] for column in extra_columns.values()],
                    *[f"{value:.5f}" for value in scores[i]],
                ]
            )
    return path


def write_evaluation_report(
    out_dir: str | Path,
    name: str,
    sample_ids: Sequence,
    scores: np.ndarray,
    labels: Sequence[int],
    label_names: Sequence[str] = LABELS,
    num_resamples: int = 1000,
    seed: int = 0,
    extra_columns: dict[str, Sequence] | None = None,
) -> dict:
    """All outputs for one split/setting: metrics (with bootstrap CIs), confusion PNG, per-class PNG, CSV.

    Writes `<name>_confusion.png`, `<name>_per_class.png`, `<name>_predictions.csv` in `out_dir`.

    Returns:
        {"n", the single-label metrics, "ci": {metric: (value, low, high)}, "files": {...}}.
    """
    out_dir = Path(out_dir)
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    num_labels = len(label_names)
    results = single_label_metrics(scores, labels)
    results["n"] = len(labels)
    results["ci"] = (
        bootstrap_confidence_intervals(scores, labels, num_resamples=num_resamples, seed=seed)
        if num_resamples
        else {}
    )
    predicted = scores.argmax(axis=1)
    matrix = confusion_matrix_counts(predicted, labels, num_labels)
    support = np.bincount(labels, minlength=num_labels)
    results["files"] = {
        "confusion_matrix": str(
            plot_confusion_matrix(
                matrix,
                out_dir / f"{name}_confusion.png",
                label_names,
                title=f"{name}: confusion matrix (n={len(labels)})",
            )
        ),
        "per_class": str(
            plot_per_class(
                results["per_class_recall"],
                support,
                out_dir / f"{name}_per_class.png",
                label_names,
                title=f"{name}: per-class recall",
            )
        ),
        "predictions": str(
            write_predictions_csv(
                out_dir / f"{name}_predictions.csv", sample_ids, scores, labels, label_names, extra_columns
            )
        ),
    }
    results["confusion_matrix"] = matrix.tolist()
    return results


@dataclass
class ClipPredictions:
    """Logits of every evaluated clip, with the video it comes from.

    Attributes:
        logits: (num_clips_total, num_labels) float32.
        sample_ids: (num_clips_total,) the `sample_id` of each clip's video.
        labels: (num_clips_total,) primary label of each clip's video.
        clip_starts: (num_clips_total,) index of the clip's first frame in the video's frame list.
    """

    logits: np.ndarray
    sample_ids: np.ndarray
    labels: np.ndarray
    clip_starts: np.ndarray


def predict_clips(
    model,
    processor,
    rows,
    all_clips: bool = False,
    batch_size: int = 8,
    frame_mode: str = "clip",
    device: str | None = None,
    progress: bool = True,
    layout=None,
    num_workers: int = 0,
) -> ClipPredictions:
    """Run the model on one centred clip per video (the paper) or on every clip covering each video.

    Args:
        model: an `RViTForVideoClassification` (or any model taking `pixel_values`, `frame_mask`).
        processor: its `RViTVideoProcessor` (gives the clip length `num_frames` and a video's frame path).
        rows: an iterable of dataset rows, or a map-style dataset (needed for `num_workers > 0`).
        all_clips: non-overlapping clips covering the whole video (`ahu_train.data.clip_starts`).
        frame_mode: `"clip"` or `"single"` (one frame repeated; the no-motion control).
        layout: the rows' `ahu_train.data.ColumnLayout` (default: the `processed` config's).
        num_workers: DataLoader worker processes that decode and process the rows (0: this process).
    """
    import torch
    from tqdm.auto import tqdm

    from .data import VideoClipCollator
    from .models import model_forward_inputs

    collator_kwargs = {"layout": layout} if layout is not None else {}
    collator = VideoClipCollator(
        processor,
        training=False,
        augmentation=None,
        frame_mode=frame_mode,
        num_labels=model.config.num_labels,
        label2id=dict(model.config.label2id),
        **collator_kwargs,
    )
    device = device or next(model.parameters()).device
    model.eval()
    logits, sample_ids, labels, starts = [], [], [], []
    clips, masks = [], []

    def flush():
        pixel_values, frame_mask = torch.stack(clips), torch.stack(masks)
        if frame_mode == "single":
            pixel_values, frame_mask = collator._single_frame(pixel_values, frame_mask)
        inputs = {"pixel_values": pixel_values.to(device), "frame_mask": frame_mask.to(device)}
        with torch.no_grad():
            output = model(**model_forward_inputs(model, inputs))
        logits.append(output.logits.float().cpu().numpy())
        clips.clear()
        masks.clear()

    items = _clip_items(rows, collator, all_clips, num_workers)
    for row_index, (sample_id, label, start, clip, mask) in enumerate(
        tqdm(items, desc="clips", unit="clip", disable=not progress)
    ):
        sample_ids.append(row_index if sample_id is None else sample_id)
        labels.append(label)
        starts.append(start)
        clips.append(clip)
        masks.append(mask)
        if len(clips) == batch_size:
            flush()
    if clips:
        flush()
    num_labels = model.config.num_labels
    return ClipPredictions(
        np.concatenate(logits) if logits else np.zeros((0, num_labels), dtype=np.float32),
        np.asarray(sample_ids),
        np.asarray(labels, dtype=np.int64),
        np.asarray(starts, dtype=np.int64),
    )


def _row_clips(rows: list[dict], collator, all_clips: bool) -> list[tuple]:
    """(sample_id, primary label, clip start, clip, frame mask) for every clip of `rows`."""
    from .data import iter_video_clips

    return [
        (row.get("sample_id"), collator.label_of(row), start, clip, mask)
        for row, start, clip, mask in iter_video_clips(rows, collator, all_clips=all_clips)
    ]


def _clip_items(rows, collator, all_clips: bool, num_workers: int):
    """The clips of `rows` in order, made in this process or in `num_workers` DataLoader workers."""
    if num_workers <= 0:
        for row in rows:
            yield from _row_clips([row], collator, all_clips)
        return
    from functools import partial

    from torch.utils.data import DataLoader

    loader = DataLoader(
        rows,
        batch_size=1,
        num_workers=num_workers,
        collate_fn=partial(_row_clips, collator=collator, all_clips=all_clips),
    )
    for items in loader:
        yield from items


def evaluate_model(
    model,
    processor,
    splits: dict,
    out_dir: str | Path,
    video_level: bool = True,
    aggregation: str = "mean_probability",
    num_resamples: int = 1000,
    batch_size: int = 8,
    frame_mode: str = "clip",
    seed: int = 0,
    layout=None,
    num_workers: int = 0,
) -> dict:
    """Evaluate on each split at clip level (one centred clip per video, the paper's protocol) and, when
    `video_level`, at video level (all clips of a video, scores aggregated). Writes per setting the confusion
    matrix and per-class PNGs and the predictions CSV, plus `metrics.json` and `metrics.md` for all of them.

    Args:
        splits: {split name: dataset (map-style or iterable) of rows}.
        layout: the rows' `ahu_train.data.ColumnLayout` (default: the `processed` config's).
        num_workers: DataLoader workers that decode and process the rows.

    Returns:
        {"<split>/clip" and "<split>/video": the `write_evaluation_report` dict of that setting}.
    """
    import json

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    label_names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    results: dict[str, dict] = {}
    for split, rows in splits.items():
        common = {
            "batch_size": batch_size,
            "frame_mode": frame_mode,
            "layout": layout,
            "num_workers": num_workers,
        }
        single = predict_clips(model, processor, rows, all_clips=False, **common)
        results[f"{split}/clip"] = write_evaluation_report(
            out_dir,
            f"{split}_clip",
            single.sample_ids,
            softmax(single.logits),
            single.labels,
            label_names,
            num_resamples=num_resamples,
            seed=seed,
            extra_columns={"clip_start": single.clip_starts},
        )
        if video_level:
            every = predict_clips(model, processor, rows, all_clips=True, **common)
            video = aggregate_clip_scores(every.logits, every.sample_ids, every.labels, method=aggregation)
            scores = softmax(video.scores) if aggregation == "mean_logit" else video.scores
            results[f"{split}/video"] = write_evaluation_report(
                out_dir,
                f"{split}_video",
                video.sample_ids,
                scores,
                video.labels,
                label_names,
                num_resamples=num_resamples,
                seed=seed,
                extra_columns={"num_clips": video.num_clips},
            )
            results[f"{split}/video"]["aggregation"] = aggregation
    summary = {
        name: {key: value for key, value in result.items() if key not in ("confusion_matrix",)}
        for name, result in results.items()
    }
    (out_dir / "metrics.json").write_text(json.dumps(summary, indent=2, default=float), encoding="utf-8")
    table_rows = {
        name: {"n": result["n"], **{m: result["ci"].get(m, result[m]) for m in HEADLINE_METRICS}}
        for name, result in results.items()
    }
    (out_dir / "metrics.md").write_text(metrics_table(table_rows) + "\n", encoding="utf-8")
    return results


def run_evaluation(
    model: str,
    out_dir: str | Path,
    data_dir: str | None = None,
    dataset_name: str | None = None,
    dataset_config_name: str | None = None,
    dataset_revision: str | None = None,
    split_scheme: str | None = None,
    splits: Sequence[str] | None = None,
    video_column_name: str | None = None,
    frames_column_name: str | None = None,
    label_column_name: str | None = None,
    allow_train_overlap: bool = False,
    allow_contract_mismatch: bool = False,
    trust_remote_code: bool = False,
    cache_dir: str | None = None,
    **evaluate_kwargs,
) -> dict:
    """Load a saved model and its processor, the data, and `evaluate_model` it (what `evaluate_rvit.py` does).

    The model's `data_contract.json` (written by `run_training`) decides the defaults: without `data_dir` /
    `dataset_name` the run's own data, config and split scheme are reloaded and its held-out split (`test`, else
    its evaluation split) is evaluated. Any split that shares `sample_id`s with the run's training split is
    refused (`TrainOverlapError`) unless `allow_train_overlap`. When the data are the run's own (no source given,
    or a folder with the recorded fingerprint, with the recorded split scheme), each evaluated split must hold
    exactly the sample ids the contract lists, and the folder the recorded fingerprint; a difference is an error
    naming the ids (`DataContractMismatchError`) unless `allow_contract_mismatch`.

    Args:
        model: a saved model folder or Hub repo id.
        splits: split names (default: `test`, else the run's evaluation split); an unknown one is an error.
        **evaluate_kwargs: `evaluate_model` options (`video_level`, `aggregation`, `num_resamples`,
            `batch_size`, `frame_mode`, `seed`, `num_workers`).

    Returns:
        `evaluate_model`'s results.
    """
    import modeling_rvit  # noqa: F401  (registers RViT with the Auto classes)
    from hf_loader.builder import AHUUltrasoundConfig

    from .data import TrainingDataError, column_names_of, load_ahu_dataset, resolve_layout
    from .data_contract import (
        FIXED_SPLITS,
        check_data_contract,
        check_no_train_overlap,
        contract_differences,
        contract_source,
        data_source_record,
        read_data_contract,
        sample_ids_of,
    )
    from .models import load_pretrained_model

    contract = read_data_contract(model)
    if data_dir is None and dataset_name is None:
        if contract is None:
            raise TrainingDataError(
                f"{model} has no {'data_contract.json'} recording its data; give --data_dir or --dataset_name"
            )
        source = contract_source(contract, model)
        if dataset_config_name is not None:
            source["config_name"] = dataset_config_name
        if split_scheme is not None:
            source["split_scheme"] = split_scheme
    else:
        source = {
            "data_dir": data_dir,
            "dataset_name": dataset_name,
            "config_name": dataset_config_name,
            "revision": dataset_revision,
            "split_scheme": split_scheme,
        }
    dataset = load_ahu_dataset(cache_dir=cache_dir, **source)
    if splits is None:
        held_out = contract.get("eval_split") if contract else None
        splits = ["test"] if "test" in dataset or held_out is None else [held_out]
    missing = [split for split in splits if split not in dataset]
    if missing:
        raise TrainingDataError(f"no split {missing} in the dataset; it has {sorted(dataset)}")
    where = source.get("data_dir") or source.get("dataset_name")
    if contract is not None and not allow_contract_mismatch:
        given = data_source_record(source.get("data_dir"), source.get("dataset_name"), source.get("revision"))
        recorded = contract["dataset"].get("source")
        own_data = data_dir is None and dataset_name is None
        # The scheme the loaded splits follow: the contract's (or the override), else the builder's default for an
        # archive and the given splits for an export or Hub data.
        if own_data:
            scheme = source.get("split_scheme") or contract["split"]["scheme"]
        elif data_dir is not None and not (Path(data_dir) / "README.md").is_file():
            scheme = split_scheme or AHUUltrasoundConfig.split_scheme
        else:
            scheme = FIXED_SPLITS
        own_split = scheme == contract["split"]["scheme"]
        if own_split and (
            own_data or (recorded is not None and not contract_differences(contract, source=given))
        ):
            check_data_contract(
                contract_differences(
                    contract,
                    source=given,
                    sample_ids={split: sample_ids_of(dataset[split]) for split in splits},
                ),
                f"evaluating {model} on {where}",
                "Give the data the model was trained on, or pass --allow_contract_mismatch to score these anyway",
            )
    if contract is not None and not allow_train_overlap:
        for split in splits:
            check_no_train_overlap(contract, split, sample_ids_of(dataset[split]), str(where))
    layout = resolve_layout(
        column_names_of(dataset[splits[0]]),
        video_column_name=video_column_name,
        frames_column_name=frames_column_name,
        label_column_name=label_column_name,
    )
    # Any family of ahu_train.models (RViT, VideoMAE, TimeSformer, ViViT, frame pooling), with the harness's processor.
    loaded, processor = load_pretrained_model(model, trust_remote_code=trust_remote_code)
    logger.info(
        "evaluating %s on %s (config %s, split scheme %s): %s",
        model,
        where,
        source.get("config_name") or "default",
        source.get("split_scheme") or "the dataset's",
        ", ".join(splits),
    )
    return evaluate_model(
        loaded,
        processor,
        {split: dataset[split] for split in splits},
        out_dir,
        layout=layout,
        **evaluate_kwargs,
    )
