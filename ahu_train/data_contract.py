"""A run's data contract: which data a model was trained on, saved beside it as `data_contract.json`.

`run_training` writes it; `evaluate_rvit.py` reads it to evaluate on the run's own held-out split by default and to
refuse a split that shares samples with the training split; the model card states it. It records:

- the source, with no local path (the folder can be published): a local archive or export folder by its name and
  the fingerprint of its files (`hf_loader.export.archive_source`), a Hub dataset by repo id and revision; where
  the folder lay relative to the model folder (`location`, so `ahu-evaluate --model RUN` finds it on the same
  machine); the config, and the fingerprint of each split as loaded (datasets' Arrow fingerprint, which also
  follows the folder's absolute path; None when streamed);
- the split scheme and its seed and fractions (`"fixed"` for an export or Hub dataset, whose splits are given);
- the columns the clips and targets came from (`ColumnLayout`);
- the sample ids of every split the run used (the training split after `max_train_samples`; such cut splits are
  listed under `truncated`);
- the processor, saved beside it as `video_preprocessor_config.json`;
- after a run resumed on data that differ from its checkpoint's (`--allow_contract_mismatch`): `resumed_from`, the
  checkpoint's data and what differed.

`contract_differences` compares a contract with the data given: `ahu-evaluate` refuses a split whose ids differ
from the run's, and `--resume_from_checkpoint` refuses data that differ from the checkpoint's, unless
`--allow_contract_mismatch`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .data import TrainingDataError, column_names_of

DATA_CONTRACT_NAME = "data_contract.json"
FIXED_SPLITS = "fixed"


class TrainOverlapError(TrainingDataError):
    """An evaluation split shares samples with the split the model was trained on."""

    reason = "evaluation split overlaps the training data"


class DataContractMismatchError(TrainingDataError):
    """The data given differ from those a run's data contract records (source, config, split or sample ids)."""

    reason = "data differ from the run's data contract"


def data_source_record(data_dir=None, dataset_name=None, revision=None) -> dict:
    """The data's identity without a local path: {"archive": folder name, "fingerprint"} for a local archive or
    export folder, {"hub": repo id, "revision"} for a Hub dataset."""
    from hf_loader.export import archive_source

    folder = data_dir if data_dir is not None else dataset_name
    if folder is not None and Path(folder).is_dir():
        return archive_source(folder)
    return {"hub": dataset_name, "revision": revision}


def _same_source(recorded: Mapping, given: Mapping) -> bool:
    """Folders compare by their files' fingerprint (a renamed folder is the same data), Hub data by id and revision."""
    if recorded.get("fingerprint") and given.get("fingerprint"):
        return recorded["fingerprint"] == given["fingerprint"]
    return dict(recorded) == dict(given)


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
    output_dir: str | Path | None = None,
    fingerprints: Mapping[str, str | None] | None = None,
    truncated: Iterable[str] = (),
) -> dict:
    """The contract of a run (see the module docstring).

    Args:
        data_args: the run's `DataArguments`.
        dataset: the loaded `DatasetDict` (or streamed one).
        layout: the `ColumnLayout` the collators read.
        splits_used: {split name: the rows the run used of it} (the training split after `max_train_samples`).
        output_dir: the model folder; the data's place is recorded relative to it.
        fingerprints: {split: Arrow fingerprint} of the splits as loaded (default: of `splits_used`).
        truncated: the splits of which the run used only the first rows (`max_train_samples`, `max_eval_samples`).
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
    source = data_source_record(data_args.data_dir, data_args.dataset_name, data_args.dataset_revision)
    folder = data_args.data_dir if data_args.data_dir is not None else data_args.dataset_name
    location = None
    if "hub" not in source and output_dir is not None:
        try:  # relative: a model folder names no absolute local path (it may be published)
            location = Path(os.path.relpath(Path(folder).resolve(), Path(output_dir).resolve())).as_posix()
        except ValueError:  # another drive (Windows): no relative path exists
            location = None
    if fingerprints is None:
        fingerprints = {name: getattr(rows, "_fingerprint", None) for name, rows in splits_used.items()}
    return {
        "dataset": {
            "source": source,
            "location": location,
            "config": config_name,
            "revision": data_args.dataset_revision,
            "fingerprints": dict(fingerprints),
        },
        "split": split,
        "train_split": train_split,
        "eval_split": eval_split,
        "columns": layout.to_dict(),
        "sample_ids": {name: sample_ids_of(rows) for name, rows in splits_used.items()},
        "truncated": sorted(truncated),
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


def locate_contract_data(contract: dict, model_name_or_path: str | Path | None) -> Path:
    """The local folder a contract's data came from: its `location` seen from the model folder.

    Raises:
        TrainingDataError: the folder is not there (the model or the data moved, or the model came from the
            Hub); the message names the data by folder name and fingerprint and says to give `--data_dir`.
    """
    from hf_loader.export import describe_source

    dataset = contract["dataset"]
    location = dataset.get("location")
    if location is not None and model_name_or_path is not None and Path(model_name_or_path).is_dir():
        folder = (Path(model_name_or_path) / location).resolve()
        if folder.is_dir():
            return folder
    raise TrainingDataError(
        f"{model_name_or_path}: its {DATA_CONTRACT_NAME} records {describe_source(dataset.get('source'))}"
        + (f", which is not at {location} from the model folder" if location else "")
        + "; give --data_dir with that folder (or --dataset_name)"
    )


def contract_source(contract: dict, model_name_or_path: str | Path | None = None) -> dict:
    """`load_ahu_dataset` arguments that reload the contract's data with its splits.

    Args:
        model_name_or_path: the model folder, from which a local source's recorded `location` is resolved.
    """
    dataset, split = contract["dataset"], contract["split"]
    kwargs = {
        "data_dir": dataset.get("data_dir"),  # contracts written before sources were recorded by name
        "dataset_name": dataset.get("dataset_name"),
        "config_name": dataset.get("config"),
        "revision": dataset.get("revision"),
    }
    source = dataset.get("source")
    if source is not None and "hub" in source:
        kwargs.update(dataset_name=source["hub"], revision=source.get("revision") or dataset.get("revision"))
    elif source is not None:
        kwargs["data_dir"] = str(locate_contract_data(contract, model_name_or_path))
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


def _few(ids: list[str], count: int = 5) -> str:
    return ", ".join(ids[:count]) + (f", ... ({len(ids)} in all)" if len(ids) > count else "")


def contract_differences(
    contract: dict,
    *,
    source: Mapping | None = None,
    config: str | None = None,
    split: Mapping | None = None,
    sample_ids: Mapping[str, Iterable | None] | None = None,
) -> list[str]:
    """What differs between a run's contract and the data given, one phrase each (empty: the same data).

    Args:
        source: `data_source_record` of the data given (compared with the recorded source by fingerprint).
        config: the config given.
        split: the contract's `split` entry for the data given (scheme, seed, fractions).
        sample_ids: {split: sample ids of the data given}; ids the contract lists that the data lack are missing,
            ids the data hold that the contract does not list are extra (a truncated split may hold extra ones).
    """
    from hf_loader.export import describe_source

    recorded = contract["dataset"]
    differences = []
    if (
        source is not None
        and recorded.get("source") is not None
        and not _same_source(recorded["source"], source)
    ):
        differences.append(
            f"the data: recorded {describe_source(recorded['source'])}, given {describe_source(source)} (the "
            "files changed, or it is another archive)"
        )
    if config is not None and recorded.get("config") not in (None, config):
        differences.append(f"the config: recorded {recorded['config']!r}, given {config!r}")
    if split is not None and dict(contract.get("split") or {}) != dict(split):
        differences.append(f"the split: recorded {contract.get('split')}, given {dict(split)}")
    truncated = set(contract.get("truncated") or ())
    for name, ids in (sample_ids or {}).items():
        expected = (contract.get("sample_ids") or {}).get(name)
        if expected is None or ids is None:
            continue
        expected, given = set(map(str, expected)), set(map(str, ids))
        missing = sorted(expected - given, key=_natural)
        extra = [] if name in truncated else sorted(given - expected, key=_natural)
        if missing:
            differences.append(
                f"split {name!r} lacks {len(missing)} sample ids the contract lists ({_few(missing)})"
            )
        if extra:
            differences.append(
                f"split {name!r} holds {len(extra)} sample ids the contract does not list ({_few(extra)})"
            )
    return differences


def check_data_contract(differences: list[str], what: str, fix: str) -> None:
    """Raises `DataContractMismatchError` listing `differences` (when any) with `what` was attempted and `fix`."""
    if differences:
        raise DataContractMismatchError(
            f"{what}: the data differ from the run's {DATA_CONTRACT_NAME}: {'; '.join(differences)}. {fix}"
        )


def contract_summary(contract: dict) -> dict[str, str]:
    """The contract as model-card lines: data, config, split scheme, samples per split, columns."""
    from hf_loader.export import describe_source

    dataset, split = contract["dataset"], contract["split"]
    if dataset.get("source") is not None:
        source = describe_source(dataset["source"])
    else:
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
