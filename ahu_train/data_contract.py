"""A run's data contract: which data a model was trained on, saved beside it as `data_contract.json`.

`run_training` writes it; `evaluate_rvit.py` reads it to evaluate on the run's own held-out split by default and to
refuse a split that shares samples with the training split; the model card states it. It records:

- the source: `data_dir` (an archive or export folder) or `dataset_name` (a Hub repo id), the config, the revision
  and the fingerprint of each split (datasets' Arrow fingerprint; None when streamed);
- the split scheme and its seed and fractions (`"fixed"` for an export or Hub dataset, whose splits are given);
- the columns the clips and targets came from (`ColumnLayout`);
- the sample ids of every split the run used (the training split after `max_train_samples`);
- the processor, saved beside it as `video_preprocessor_config.json`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .data import TrainingDataError, column_names_of

DATA_CONTRACT_NAME = "data_contract.json"
FIXED_SPLITS = "fixed"


class TrainOverlapError(TrainingDataError):
    """An evaluation split shares samples with the split the model was trained on."""

    reason = "evaluation split overlaps the training data"


def sample_ids_of(rows) -> list | None:
    """The `sample_id` column of a map-style or streamed split (None when the rows have no `sample_id`)."""
    if "sample_id" not in column_names_of(rows):
        return None
    if hasattr(rows, "select"):
        return list(rows["sample_id"])
    return [row["sample_id"] for row in rows.select_columns(["sample_id"])]


def build_data_contract(
    data_args,
    dataset,
    layout,
    splits_used: dict[str, Any],
    train_split: str,
    eval_split: str | None,
) -> dict:
    """The contract of a run (see the module docstring).

    Args:
        data_args: the run's `DataArguments`.
        dataset: the loaded `DatasetDict` (or streamed one).
        layout: the `ColumnLayout` the collators read.
        splits_used: {split name: the rows the run used of it} (the training split after `max_train_samples`).
    """
    from hf_loader.splits import DEFAULT_FRACTIONS, DEFAULT_SEED

    from_archive = data_args.data_dir is not None and not (Path(data_args.data_dir) / "README.md").is_file()
    first = next(iter(dataset.values()))
    config_name = getattr(getattr(first, "info", None), "config_name", None) or data_args.dataset_config_name
    if from_archive:
        fractions = (
            [float(part) for part in data_args.split_fractions.split(",")]
            if data_args.split_fractions
            else list(DEFAULT_FRACTIONS)
        )
        split = {
            "scheme": data_args.split_scheme or "stratified",
            "seed": DEFAULT_SEED,
            "fractions": fractions,
        }
        if split["scheme"] == "paper":
            split["fractions"] = None  # the paper's 80/20 split has no fractions to set
    else:
        split = {"scheme": FIXED_SPLITS, "seed": None, "fractions": None}
    source = str(Path(data_args.data_dir).resolve()) if data_args.data_dir else data_args.dataset_name
    return {
        "dataset": {
            "data_dir" if data_args.data_dir else "dataset_name": source,
            "config": config_name,
            "revision": data_args.dataset_revision,
            "fingerprints": {name: getattr(rows, "_fingerprint", None) for name, rows in splits_used.items()},
        },
        "split": split,
        "train_split": train_split,
        "eval_split": eval_split,
        "columns": layout.to_dict(),
        "sample_ids": {name: sample_ids_of(rows) for name, rows in splits_used.items()},
        "processor": "video_preprocessor_config.json",
    }


def write_data_contract(output_dir: str | Path, contract: dict) -> Path:
    path = Path(output_dir) / DATA_CONTRACT_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(contract, indent=1, default=str), encoding="utf-8")
    return path


def read_data_contract(model_name_or_path: str | Path) -> dict | None:
    """The `data_contract.json` of a model folder or Hub repo, or None when it has none."""
    folder = Path(model_name_or_path)
    if folder.is_dir():
        path = folder / DATA_CONTRACT_NAME
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    try:
        path = hf_hub_download(str(model_name_or_path), DATA_CONTRACT_NAME)
    except (EntryNotFoundError, LocalEntryNotFoundError):
        return None
    return json.loads(Path(path).read_text(encoding="utf-8"))


def contract_source(contract: dict) -> dict:
    """`load_ahu_dataset` arguments that reload the contract's data with its splits."""
    dataset, split = contract["dataset"], contract["split"]
    kwargs = {
        "data_dir": dataset.get("data_dir"),
        "dataset_name": dataset.get("dataset_name"),
        "config_name": dataset.get("config"),
        "revision": dataset.get("revision"),
    }
    if split["scheme"] != FIXED_SPLITS:
        kwargs["split_scheme"] = split["scheme"]
        if split.get("fractions") is not None:
            kwargs["fractions"] = tuple(split["fractions"])
    return kwargs


def check_no_train_overlap(contract: dict, split: str, sample_ids: Iterable | None, source: str) -> None:
    """Refuse to score `split` (of `source`) when it holds samples of the contract's training split.

    Raises:
        TrainOverlapError: naming the shared sample ids, the run's split scheme and `--allow_train_overlap`.
    """
    train_ids = contract["sample_ids"].get(contract["train_split"])
    if train_ids is None or sample_ids is None:
        return
    shared = sorted(set(map(str, sample_ids)) & set(map(str, train_ids)), key=_natural)
    if not shared:
        return
    listed = ", ".join(shared[:10]) + (", ..." if len(shared) > 10 else "")
    raise TrainOverlapError(
        f"split {split!r} of {source} shares {len(shared)} samples with the data this model was trained on "
        f"(split {contract['train_split']!r}, split scheme {contract['split']['scheme']!r}): sample ids {listed}. "
        "Evaluate the run's own held-out split (omit --data_dir/--dataset_name/--split_scheme to use the "
        "recorded data), or pass --allow_train_overlap to score them anyway"
    )


def _natural(text: str):
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def contract_summary(contract: dict) -> dict[str, str]:
    """The contract as model-card lines: data, config, split scheme, samples per split, columns."""
    dataset, split = contract["dataset"], contract["split"]
    source = dataset.get("data_dir") or dataset.get("dataset_name")
    if dataset.get("revision"):
        source += f"@{dataset['revision']}"
    if split["scheme"] == FIXED_SPLITS:
        scheme = "the dataset's own splits"
    else:
        scheme = f"{split['scheme']} (seed {split['seed']}" + (
            f", fractions {split['fractions']})" if split.get("fractions") else ")"
        )
    counts = ", ".join(
        f"{name} {len(ids)}" for name, ids in contract["sample_ids"].items() if ids is not None
    )
    columns = contract["columns"]
    clips = " / ".join(
        f"`{name}`" for name in (columns.get("frames_column"), columns.get("video_column")) if name
    )
    target = columns.get("label_column") or columns.get("labels_column")
    return {
        "data": source,
        "config": str(dataset.get("config")),
        "split scheme": scheme,
        "samples per split": counts or "not recorded (no sample_id column)",
        "clips from": clips + (" (processed frames)" if columns.get("frames_are_processed") else ""),
        "target": f"`{target}`",
    }
