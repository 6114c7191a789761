"""Access to the project's `evaluate` module (metrics/ahu_metrics) and flat metric dicts for logging."""

from __future__ import annotations

import functools
import importlib.resources
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hf_loader.constants import LABELS

# metrics/ahu_metrics/, shipped in the package (ahu_train/ahu_metrics links to it). An installed wheel is a
# folder, so this is a real path that `evaluate.load` can read.
METRIC_DIR = Path(str(importlib.resources.files("ahu_train") / "ahu_metrics"))


def ahu_metrics_path() -> str:
    """The folder of the `ahu_metrics` evaluate module, wherever the package is installed.

    `evaluate.load(ahu_metrics_path(), "single_label")` (or `"multi_label"`) works from any working directory,
    offline; `evaluate.load("metrics/ahu_metrics")` only from a checkout's root.
    """
    return str(METRIC_DIR)


@functools.lru_cache(maxsize=4)
def load_ahu_metric(config_name: str = "single_label"):
    """`evaluate.load` of metrics/ahu_metrics (works offline: it is a local folder).

    Args:
        config_name: `single_label` (top-k accuracy, macro-F1, per-class recall) or `multi_label`
            (mAP, F1).
    """
    import evaluate

    if not (METRIC_DIR / "ahu_metrics.py").is_file():
        raise FileNotFoundError(
            f"{METRIC_DIR}: the ahu_metrics evaluate module is missing; reinstall the package "
            "(pip install ahu-ultrasound, or pip install -e . in a checkout)"
        )
    return evaluate.load(ahu_metrics_path(), config_name)


def single_label_metrics(
    scores: np.ndarray, references: np.ndarray, top_k: Sequence[int] = (1, 3, 5)
) -> dict:
    """The `single_label` metrics of (num_samples, num_labels) scores against (num_samples,) labels.

    Calls the evaluate module's computation directly (no Arrow cache), so it is cheap enough to run
    a thousand times for a bootstrap.
    """
    metric = load_ahu_metric("single_label")
    return metric._compute(predictions=np.asarray(scores), references=np.asarray(references), top_k=top_k)


def multi_label_metrics(probabilities: np.ndarray, multi_hot: np.ndarray, threshold: float = 0.5) -> dict:
    """The `multi_label` metrics (mAP, macro-/micro-F1, per-class AP) of (num_samples, num_labels) arrays."""
    metric = load_ahu_metric("multi_label")
    return metric._compute(
        predictions=np.asarray(probabilities), references=np.asarray(multi_hot), threshold=threshold
    )


def flatten_metrics(results: dict, label_names: Sequence[str] = LABELS) -> dict[str, float]:
    """Scalar-only dict for `Trainer` logs: per-class lists become `recall_<Label>` / `ap_<Label>` keys.

    NaN entries (a class absent from the references) are dropped.
    """
    flat: dict[str, float] = {}
    for key, value in results.items():
        if isinstance(value, (list, tuple, np.ndarray)):
            prefix = {"per_class_recall": "recall", "per_class_ap": "ap"}.get(key, key)
            for name, item in zip(label_names, value):
                if not math.isnan(float(item)):
                    flat[f"{prefix}_{name}"] = float(item)
        else:
            flat[key] = float(value)
    return flat
