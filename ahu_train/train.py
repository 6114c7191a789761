"""The training run behind `scripts/train_rvit.py`: arguments, the paper preset, `run_training`.

Everything the script does can be done from Python:

```python
from transformers import TrainingArguments
from ahu_train.train import DataArguments, ModelArguments, run_training

result = run_training(
    ModelArguments(config_overrides="hidden_size=32,num_hidden_layers=1,num_attention_heads=2,intermediate_size=64",
                   num_frames=4, image_size=32),
    DataArguments(data_dir="archive/"),
    TrainingArguments("outputs/rvit", max_steps=20, use_cpu=True, remove_unused_columns=False),
)
print(result.metrics)
```
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import TrainerCallback, TrainingArguments, set_seed
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint

from hf_loader.constants import ALL_LABELS_COLUMN, LABEL_COLUMN, LABELS
from hf_loader.export import dataset_source, rename_legacy_label_columns
from modeling_rvit.configuration_rvit import RViTConfig

from .data import (
    ClipAugmentation,
    TrainingDataError,
    VideoClipCollator,
    column_names_of,
    epoch_seed_callback,
    label_names_of,
    load_ahu_dataset,
    resize_frames,
    resolve_layout,
)
from .data_contract import (
    build_data_contract,
    check_data_contract,
    contract_differences,
    read_data_contract,
    write_data_contract,
)
from .losses import LOSS_TYPES, balanced_sample_weights, class_weights_from_counts
from .model_card import without_local_paths, write_model_card
from .models import (
    MODEL_FAMILIES,
    ModelSetupError,
    clip_shape_of,
    load_pretrained_model,
    new_video_model,
    video_processor_for,
)
from .trainer import AHUTrainer, make_compute_metrics

logger = logging.getLogger(__name__)

CLASS_WEIGHTINGS = ("none", "inverse_sqrt", "inverse")

# The AHU paper's protocol (its RViT-main/main.py and Table 2), as defaults of the three argument groups.
# StepLR(10 epochs, gamma 0.8) is `step_lr_epochs`/`step_lr_gamma`; the paper's 80/20 split is `split_scheme`.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {
        "model": {
            "config_preset": "ahu",
            # RViTConfig's defaults are the paper's clip shape (36 frames of 112 px).
            "num_frames": RViTConfig.num_frames,
            "image_size": RViTConfig.image_size,
            "step_lr_epochs": 10.0,
            "step_lr_gamma": 0.8,
        },
        "data": {"split_scheme": "paper"},
        "training": {
            "per_device_train_batch_size": 32,
            "per_device_eval_batch_size": 32,
            "learning_rate": 1e-4,
            "adam_beta1": 0.9,
            "adam_beta2": 0.999,
            "weight_decay": 0.0,
            "label_smoothing_factor": 0.1,
            "lr_scheduler_type": "constant",
            "warmup_steps": 0,
            "optim": "adamw_torch",
        },
    },
    # A new RViT trained from scratch (what `ahu-train` uses when given no preset and no starting weights): the
    # paper's model with a convolutional stem (RViTConfig preset "scratch"), AdamW 1e-3 with weight decay 0.05, cosine
    # schedule with 5 % warm-up, gradient clipping at 1.0, batch 16, inverse-square-root class weights. The reference
    # model under this recipe sits at the majority class or collapses to it at higher learning rates (BENCHMARKS.md,
    # "## RViT from scratch: the recipe").
    "scratch": {
        "model": {"config_preset": "scratch", "class_weighting": "inverse_sqrt"},
        "data": {},
        "training": {
            "per_device_train_batch_size": 16,
            "per_device_eval_batch_size": 32,
            "learning_rate": 1e-3,
            "weight_decay": 0.05,
            "lr_scheduler_type": "cosine",
            "warmup_steps": 0.05,
            "max_grad_norm": 1.0,
            "optim": "adamw_torch",
        },
    },
}
# A classifier fine-tuned from a self-supervised checkpoint (`ahu-pretrain`): the checkpoint fixes the model, the head
# is new, and the from-scratch recipe's optimizer, schedule and class weights are what the pretrained start was
# measured with (BENCHMARKS.md, "## Self-supervised pretraining: two objectives against training from scratch").
PRESETS["pretrained_start"] = {
    "model": {"class_weighting": "inverse_sqrt"},
    "data": {},
    "training": dict(PRESETS["scratch"]["training"]),
}
# The preset of a run that names none and starts a new RViT (no --model_name_or_path, --init_from_vit or other family).
NEW_RVIT_PRESET = "scratch"
# The preset of a run that names none and starts from a self-supervised RViT checkpoint.
PRETRAINED_START_PRESET = "pretrained_start"


def default_preset(preset: str | None, model_name_or_path, model_family, init_from_vit) -> str | None:
    """The preset a run uses: the one asked for, else `NEW_RVIT_PRESET` for a new RViT trained from scratch, or
    `PRETRAINED_START_PRESET` when `model_name_or_path` is a self-supervised checkpoint (`RViTForPreTraining`)."""
    if preset is not None:
        return preset
    if init_from_vit or model_family not in (None, "rvit"):
        return None
    if model_name_or_path:
        return PRETRAINED_START_PRESET if is_pretraining_checkpoint(model_name_or_path) else None
    return NEW_RVIT_PRESET


def is_pretraining_checkpoint(name_or_path: str) -> bool:
    """Whether the folder or Hub repo holds an `RViTForPreTraining` checkpoint (read from its `config.json` alone;
    an unreadable one is not, and fails later with its own message)."""
    from transformers import PretrainedConfig

    try:
        config, _ = PretrainedConfig.get_config_dict(name_or_path)
    except (OSError, ValueError):
        return False
    return "RViTForPreTraining" in (config.get("architectures") or [])


@dataclass
class ModelArguments:
    """What model to train, and how its loss is computed."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "A saved video classifier (folder or Hub repo) to fine-tune, or with --model_family "
            "frame_pooling an image classifier; default: a new model."
        },
    )
    model_family: str | None = field(
        default=None,
        metadata={
            "help": f"Model family of a new model: one of {', '.join(MODEL_FAMILIES)} (default: rvit; with "
            "--model_name_or_path, the checkpoint's own; ahu_train.models)."
        },
    )
    init_from_vit: str | None = field(
        default=None,
        metadata={
            "help": "A transformers ViT checkpoint (folder or Hub id) whose weights start the frame encoder of a "
            "new model; the ViT sets the encoder's shape (hidden size, layers, heads, patch; default: none)."
        },
    )
    config_preset: str = field(
        default="ahu", metadata={"help": "RViTConfig preset of a new model (ahu, jester, ...; default: ahu)."}
    )
    config_overrides: str | None = field(
        default=None,
        metadata={
            "help": "Comma-separated config fields of a new model, e.g. 'hidden_size=32,num_hidden_layers=1' "
            "(default: none)."
        },
    )
    num_frames: int | None = field(
        default=None, metadata={"help": "Frames per clip (default: the config preset's, 36 as in the paper)."}
    )
    image_size: int | None = field(
        default=None,
        metadata={"help": "Frame side in pixels (default: the config preset's, 112 as in the paper)."},
    )
    trust_remote_code: bool = field(
        default=False, metadata={"help": "Allow remote code of model_name_or_path (default: off)."}
    )
    loss_type: str = field(
        default="cross_entropy",
        metadata={
            "help": f"One of {', '.join(LOSS_TYPES)}; rank_weighted is the paper's top-3 rank weighting "
            "(1.0/0.7/0.5)."
        },
    )
    class_weighting: str = field(
        default="none",
        metadata={
            "help": f"Class weights of the loss for the long tail: one of {', '.join(CLASS_WEIGHTINGS)}."
        },
    )
    balanced_sampling: bool = field(
        default=False,
        metadata={
            "help": "Draw training rows so that classes come up evenly (one process only; default: off)."
        },
    )
    step_lr_epochs: float | None = field(
        default=None,
        metadata={
            "help": "StepLR period in epochs (the paper: 10); replaces lr_scheduler_type (default: none)."
        },
    )
    step_lr_gamma: float = field(default=0.8, metadata={"help": "StepLR factor (the paper: 0.8)."})

    def __post_init__(self):
        if self.model_name_or_path and self.init_from_vit:
            raise ValueError(
                "--model_name_or_path and --init_from_vit both choose the starting weights; give one of them"
            )
        if self.loss_type not in LOSS_TYPES:
            raise ValueError(f"--loss_type {self.loss_type!r}: choose one of {LOSS_TYPES}")
        if self.class_weighting not in CLASS_WEIGHTINGS:
            raise ValueError(f"--class_weighting {self.class_weighting!r}: choose one of {CLASS_WEIGHTINGS}")
        if self.model_family is not None and self.model_family not in MODEL_FAMILIES:
            raise ValueError(f"--model_family {self.model_family!r}: choose one of {MODEL_FAMILIES}")


@dataclass
class DataArguments:
    """Where the data comes from and how it becomes clips."""

    data_dir: str | None = field(
        default=None,
        metadata={
            "help": "Archive folder (prepared by the AHU builder) or exported folder; this or --dataset_name."
        },
    )
    dataset_name: str | None = field(
        default=None, metadata={"help": "Hub repo id or exported Parquet folder; this or --data_dir."}
    )
    dataset_config_name: str | None = field(
        default=None,
        metadata={
            "help": "Builder config (default: processed; filtered reads the videos) or the export's config."
        },
    )
    dataset_revision: str | None = field(
        default=None, metadata={"help": "Hub dataset revision (branch, tag, sha; default: main)."}
    )
    split_scheme: str | None = field(
        default=None,
        metadata={"help": "stratified, paper (80/20) or creator (an archive only; default: stratified)."},
    )
    split_fractions: str | None = field(
        default=None,
        metadata={
            "help": "Train,validation,test shares of the stratified/creator split, e.g. 0.6,0.1,0.3 "
            "(default: 0.7,0.15,0.15)."
        },
    )
    streaming: bool = field(
        default=False, metadata={"help": "Stream the training data (needs --max_steps; default: off)."}
    )
    video_column_name: str | None = field(
        default=None, metadata={"help": "The column holding a video per row (default: 'video' if present)."}
    )
    frames_column_name: str | None = field(
        default=None,
        metadata={"help": "The column holding a list of frames per row (default: 'frames' if present)."},
    )
    label_column_name: str | None = field(
        default=None,
        metadata={
            "help": f"The target column (default: {LABEL_COLUMN}, else the first of {ALL_LABELS_COLUMN} or labels)."
        },
    )
    train_split: str = field(default="train", metadata={"help": "Split to train on."})
    eval_split: str | None = field(
        default=None, metadata={"help": "Split to evaluate on (default: validation, else test)."}
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Train on the first N rows only (default: all)."}
    )
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Evaluate on the first N rows only (default: all)."}
    )
    frame_mode: str = field(
        default="clip",
        metadata={"help": "clip, or single: one frame repeated over the clip (a no-motion control)."},
    )
    multi_label: bool = field(
        default=False, metadata={"help": "Train on every label (BCE) instead of the first (default: off)."}
    )
    augment: bool = field(
        default=True,
        metadata={
            "help": "Random crop/flip/intensity jitter while training (default: on; --no_augment: off)."
        },
    )
    pre_resize: bool = field(
        default=False,
        metadata={
            "help": "Resize the frames to the model's size once before training (a cache: faster CPU epochs; "
            "default: off)."
        },
    )
    cache_dir: str | None = field(default=None, metadata={"help": "datasets cache (default: datasets' own)."})
    preset: str | None = field(
        default=None,
        metadata={
            "help": f"Protocol preset: {', '.join(sorted(PRESETS))}; sets defaults only (explicit options still "
            f"win). Default: {NEW_RVIT_PRESET} for a new RViT (a conv-stem RViT, AdamW 1e-3, cosine, 5 %% warm-up, "
            f"batch 16, class weights); {PRETRAINED_START_PRESET} (the same optimizer, schedule and class weights) for "
            "a self-supervised checkpoint (ahu-pretrain); none for other saved models."
        },
    )
    allow_contract_mismatch: bool = field(
        default=False,
        metadata={
            "help": "Resume from a checkpoint even when its data contract (data fingerprint, config, split, "
            "sample ids) differs from the data given; the new data_contract.json records both."
        },
    )


@dataclass
class TrainingRunResult:
    """What `run_training` returns: the trainer (model inside), the processor and the metrics it logged."""

    trainer: AHUTrainer
    processor: Any
    metrics: dict[str, float]
    output_dir: Path
    dataset: Any = None


def preset_defaults(name: str | None) -> dict[str, Any]:
    """The flat argument defaults of a preset (for `HfArgumentParser.set_defaults`)."""
    if name is None:
        return {}
    if name not in PRESETS:
        raise ValueError(f"--preset {name!r}: choose one of {sorted(PRESETS)}")
    flat: dict[str, Any] = {}
    for group in PRESETS[name].values():
        flat.update(group)
    return flat


def parse_config_overrides(text: str | None) -> dict[str, Any]:
    """'hidden_size=32,attention_type=linear' → {'hidden_size': 32, 'attention_type': 'linear'} (JSON values;
    lists in brackets)."""
    overrides: dict[str, Any] = {}
    # Commas inside brackets belong to a list value: 'hidden_sizes=[32,64],depths=[1,1]'.
    for item in filter(None, (part.strip() for part in re.split(r",(?![^\[]*\])", text or ""))):
        if "=" not in item:
            raise ModelSetupError(f"--config_overrides: {item!r} is not key=value")
        key, value = item.split("=", 1)
        try:
            overrides[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key.strip()] = value
    return overrides


def build_model_and_processor(
    model_args: ModelArguments, multi_label: bool = False, label_names: Sequence[str] | None = None
):
    """A new model (RViT from a preset and overrides or from a ViT checkpoint, or another family of
    `ahu_train.models`) with its matching video processor, or a saved one (`model_name_or_path`).

    Args:
        label_names: the dataset's class names, in index order (default: the 13 AHU labels). A saved model must
            have the same, unless it is a checkpoint with another number of classes (e.g. Kinetics-400), which
            gets a new head for these.

    Returns:
        (model, processor); the processor's `num_frames` and size match the model's config.

    Raises:
        ValueError: a saved model whose config or labels do not fit the arguments or the dataset, or a ViT
            checkpoint whose shapes do not fit the overrides; the message says which and what to do.
    """
    from modeling_rvit import RViTForVideoClassification

    label_names = list(label_names or LABELS)
    overrides = parse_config_overrides(model_args.config_overrides)
    if model_args.num_frames is not None:
        overrides["num_frames"] = model_args.num_frames
    if model_args.image_size is not None:
        overrides["image_size"] = model_args.image_size
    if model_args.model_name_or_path:
        name = model_args.model_name_or_path
        model, processor = load_pretrained_model(
            name,
            model_args.model_family,
            trust_remote_code=model_args.trust_remote_code,
            num_frames=model_args.num_frames,
            image_size=model_args.image_size,
            multi_label=multi_label,
            label_names=label_names,
        )
        conflicts = {
            key: (value, getattr(model.config, key, None))
            for key, value in overrides.items()
            if getattr(model.config, key, None) != value
        }
        if conflicts:
            details = ", ".join(
                f"{key}={asked!r} (the model has {saved!r})" for key, (asked, saved) in conflicts.items()
            )
            raise ModelSetupError(
                f"{name}: {details}; a saved model's shape cannot change here: drop these options, or start a new "
                "model (without --model_name_or_path)"
            )
        model_labels = [model.config.id2label[index] for index in range(model.config.num_labels)]
        if model_labels != label_names:
            raise ModelSetupError(
                f"{name} classifies {len(model_labels)} labels {model_labels} but the dataset has {len(label_names)} "
                f"{label_names}; fine-tune a model with the dataset's labels, or start a new one"
            )
        return model, processor
    if model_args.model_family not in (None, "rvit"):
        shape = {key: overrides.pop(key) for key in ("num_frames", "image_size") if key in overrides}
        model = new_video_model(
            model_args.model_family,
            shape.get("num_frames", RViTConfig.num_frames),
            shape.get("image_size", RViTConfig.image_size),
            overrides,
            multi_label=multi_label,
            label_names=label_names,
        )
        return model, video_processor_for(*clip_shape_of(model.config))
    overrides.setdefault("num_labels", len(label_names))
    overrides.setdefault("id2label", dict(enumerate(label_names)))
    overrides.setdefault("label2id", {label: index for index, label in enumerate(label_names)})
    if multi_label:
        overrides["problem_type"] = "multi_label_classification"
    if model_args.init_from_vit:
        try:
            model = RViTForVideoClassification.from_vit_pretrained(model_args.init_from_vit, **overrides)
        except (ValueError, OSError) as error:
            raise ModelSetupError(f"--init_from_vit {model_args.init_from_vit}: {error}") from error
        config = model.config
    else:
        config = RViTConfig.from_preset(model_args.config_preset, **overrides)
        model = RViTForVideoClassification(config)
    return model, video_processor_for(config.num_frames, config.image_size)


def load_dataset_of(data_args: DataArguments):
    """The `DatasetDict` (or streamed one) that `data_args` describe."""
    builder_kwargs = {}
    if data_args.split_fractions:
        if data_args.data_dir is None:
            raise TrainingDataError(
                "--split_fractions applies to an archive (--data_dir), not to an exported dataset"
            )
        builder_kwargs["fractions"] = tuple(float(part) for part in data_args.split_fractions.split(","))
    return load_ahu_dataset(
        data_dir=data_args.data_dir,
        dataset_name=data_args.dataset_name,
        config_name=data_args.dataset_config_name,
        split_scheme=data_args.split_scheme,
        streaming=data_args.streaming,
        cache_dir=data_args.cache_dir,
        revision=data_args.dataset_revision,
        **builder_kwargs,
    )


def _pick_eval_split(dataset, requested: str | None, evaluate_during_training: bool = False) -> str | None:
    """The split evaluated as `eval_*`: `requested`, else `validation`, else `test` (with a word: see below).

    Raises:
        TrainingDataError: there is no validation split and evaluation during training is on, so the test split
            would be scored every epoch under the name `eval_*` (an empty validation share does that).
    """
    if requested is not None:
        if requested not in dataset:
            raise TrainingDataError(f"no split {requested!r}; the dataset has {sorted(dataset)}")
        return requested
    if "validation" in dataset:
        return "validation"
    if "test" not in dataset:
        return None
    if evaluate_during_training:
        raise TrainingDataError(
            f"the dataset has no validation split (its splits: {', '.join(sorted(dataset))}; an empty validation "
            "share of --split_fractions leaves it out), so evaluating during training would score the test split "
            "and log it as eval_*. Give --split_fractions a validation share (e.g. 0.7,0.1,0.2), pass --eval_split "
            "test to evaluate on the test split deliberately, or --eval_strategy no"
        )
    logger.warning(
        "the dataset has no validation split: the test split is evaluated after training and its metrics are "
        "logged as eval_* (pass --eval_split test to choose this explicitly)"
    )
    return "test"


class _ContractInCheckpoints(TrainerCallback):
    """Writes the run's data contract into every checkpoint, so resuming from one can check the data."""

    def __init__(self, contract: dict):
        self.contract = contract

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        if state.is_world_process_zero and folder.is_dir():
            write_data_contract(folder, self.contract)
        return control


def _check_resumed_data(checkpoint: str, contract: dict, allow_mismatch: bool) -> None:
    """Refuses to resume `checkpoint` on data other than its own (`DataContractMismatchError`), or, allowed,
    records in `contract` the checkpoint's data and what differs (`resumed_from`)."""
    earlier = read_data_contract(checkpoint) or read_data_contract(Path(checkpoint).parent)
    if earlier is None:
        logger.warning(
            "%s holds no %s: the data it was trained on cannot be checked", checkpoint, "data_contract.json"
        )
        return
    differences = contract_differences(
        earlier,
        source=contract["dataset"]["source"],
        config=contract["dataset"]["config"],
        split=contract["split"],
        sample_ids=contract["sample_ids"],
    )
    if differences and not allow_mismatch:
        check_data_contract(
            differences,
            f"resuming from {checkpoint}",
            "Resume with the data the checkpoint was trained on, or pass --allow_contract_mismatch to continue on "
            "these data deliberately (the new data_contract.json then records both)",
        )
    if differences:
        logger.warning("resuming from %s on other data: %s", checkpoint, "; ".join(differences))
        contract["resumed_from"] = {
            "checkpoint": Path(checkpoint).name,
            "dataset": earlier["dataset"],
            "split": earlier.get("split"),
            "differences": differences,
        }


def run_training(
    model_args: ModelArguments,
    data_args: DataArguments,
    training_args: TrainingArguments,
    callbacks: list | None = None,
    dataset=None,
) -> TrainingRunResult:
    """Train (and evaluate) RViT on AHU with `AHUTrainer`; save the model, processor, metrics and model card.

    With `training_args.push_to_hub`, the finished folder is pushed once at the end (`hub_model_id`, default
    the folder's name) with the harness's card; `hub_token` is written into no `training_args.bin`.

    Resumes from `training_args.resume_from_checkpoint` (a path, or `"last"` for the newest checkpoint in
    `output_dir`). Test-split metrics are logged as `test_*` when the dataset has a test split distinct from
    the evaluation split. `callbacks` are extra `TrainerCallback`s; `dataset` an already loaded `DatasetDict`
    (default: loaded from `data_args`). The dataset used (after `pre_resize`) comes back in the result.
    """
    if training_args.remove_unused_columns:
        # transformers#20827: the Trainer would drop the `frames` column before the collator sees it.
        logger.info("remove_unused_columns=True would drop the frames column; setting it to False")
        training_args.remove_unused_columns = False
    set_seed(training_args.seed)
    if dataset is not None:  # loaded by the caller: an old export may have the label columns' old names
        dataset = rename_legacy_label_columns(dataset, "the dataset given to run_training")

    if dataset is None:
        dataset = load_dataset_of(data_args)
    # The splits as loaded (before pre_resize or max_*_samples): what the data contract identifies.
    loaded_fingerprints = {name: getattr(rows, "_fingerprint", None) for name, rows in dataset.items()}
    if data_args.train_split not in dataset:
        raise TrainingDataError(f"no split {data_args.train_split!r}; the dataset has {sorted(dataset)}")
    layout = resolve_layout(
        column_names_of(dataset[data_args.train_split]),
        video_column_name=data_args.video_column_name,
        frames_column_name=data_args.frames_column_name,
        label_column_name=data_args.label_column_name,
        multi_label=data_args.multi_label,
    )
    label_names = label_names_of(dataset[data_args.train_split], layout)
    model, processor = build_model_and_processor(
        model_args, multi_label=data_args.multi_label, label_names=label_names
    )
    if data_args.pre_resize:
        if data_args.streaming:
            raise TrainingDataError("--pre_resize needs a map-style dataset (not --streaming)")
        if layout.frames_column is None or not layout.frames_are_processed:
            raise TrainingDataError(
                "--pre_resize caches processed frames, but this dataset's clips come from its "
                f"{layout.video_column or layout.frames_column!r} column through the processor's frame path; "
                "drop --pre_resize, or train on the processed config"
            )
        size = model.config.image_size
        dataset = type(dataset)(
            {split: resize_frames(rows, size, layout.frames_column) for split, rows in dataset.items()}
        )
    train_dataset = dataset[data_args.train_split]
    eval_split = _pick_eval_split(dataset, data_args.eval_split, training_args.eval_strategy != "no")
    eval_dataset = dataset[eval_split] if eval_split else None
    if data_args.streaming and training_args.max_steps <= 0:
        raise TrainingDataError("a streamed dataset has no length: give --max_steps")
    if data_args.max_train_samples is not None:
        train_dataset = _take(train_dataset, data_args.max_train_samples)
    if eval_dataset is not None and data_args.max_eval_samples is not None:
        eval_dataset = _take(eval_dataset, data_args.max_eval_samples)
    # A new model is always trained, and so is a self-supervised checkpoint's new head; a saved classifier
    # (--model_name_or_path) only with --do_train.
    pretraining_checkpoint = any(
        name.endswith("ForPreTraining") for name in (getattr(model.config, "architectures", None) or [])
    )
    trained = training_args.do_train or not model_args.model_name_or_path or pretraining_checkpoint
    checkpoint = training_args.resume_from_checkpoint if trained else None
    if checkpoint == "last":
        checkpoint = get_last_checkpoint(training_args.output_dir)
        if checkpoint is None:
            logger.info("no checkpoint in %s: training from scratch", training_args.output_dir)
    used = {data_args.train_split: train_dataset}
    if eval_split:
        used[eval_split] = eval_dataset
    used.update({name: rows for name, rows in dataset.items() if name not in used})
    truncated = [data_args.train_split] if data_args.max_train_samples is not None else []
    if eval_split and data_args.max_eval_samples is not None:
        truncated.append(eval_split)
    contract = build_data_contract(
        data_args,
        dataset,
        layout,
        used,
        data_args.train_split,
        eval_split,
        output_dir=training_args.output_dir,
        fingerprints={name: loaded_fingerprints.get(name) for name in used},
        truncated=truncated,
    )
    if checkpoint:
        _check_resumed_data(checkpoint, contract, data_args.allow_contract_mismatch)
    if training_args.process_index == 0:
        write_data_contract(training_args.output_dir, contract)

    loss_type = "multi_label" if data_args.multi_label else model_args.loss_type
    collator_kwargs = {
        "processor": processor,
        "layout": layout,
        "frame_mode": data_args.frame_mode,
        "multi_label": data_args.multi_label,
        "num_labels": model.config.num_labels,
        "label2id": dict(model.config.label2id),
    }
    eval_collator = VideoClipCollator(training=False, augmentation=None, **collator_kwargs)

    class_weights = sample_weights = None
    if model_args.class_weighting != "none" or model_args.balanced_sampling:
        if data_args.streaming:
            raise TrainingDataError(
                "class weights and balanced sampling need a map-style dataset (not --streaming)"
            )
        primary_labels = [
            eval_collator.label_of(row) for row in train_dataset.select_columns([layout.label_column])
        ]
        counts = np.bincount(np.asarray(primary_labels, dtype=np.int64), minlength=model.config.num_labels)
        if model_args.class_weighting != "none":
            class_weights = class_weights_from_counts(
                counts, power=1.0 if model_args.class_weighting == "inverse" else 0.5
            )
        if model_args.balanced_sampling:
            sample_weights = balanced_sample_weights(primary_labels)

    train_collator = VideoClipCollator(
        training=True,
        augmentation=ClipAugmentation() if data_args.augment else None,
        seed=training_args.seed,
        **collator_kwargs,
    )

    trainer = AHUTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=processor,
        data_collator=train_collator,
        eval_data_collator=eval_collator,
        compute_metrics=make_compute_metrics(multi_label=data_args.multi_label),
        loss_type=loss_type,
        class_weights=class_weights,
        step_lr_epochs=model_args.step_lr_epochs,
        step_lr_gamma=model_args.step_lr_gamma,
        sample_weights=sample_weights,
        callbacks=[epoch_seed_callback(train_collator), _ContractInCheckpoints(contract), *(callbacks or [])],
    )

    metrics: dict[str, float] = {}
    if trained:
        train_result = trainer.train(resume_from_checkpoint=checkpoint)
        # Not pushed yet, even with push_to_hub: the model goes up once, at the end, with its finished card.
        trainer.save_model(_internal_call=True)
        metrics.update(train_result.metrics)
        trainer.log_metrics("train", train_result.metrics)
        trainer.save_metrics("train", train_result.metrics)
        trainer.save_state()
    if eval_dataset is not None:
        eval_metrics = trainer.evaluate()
        metrics.update(eval_metrics)
        trainer.log_metrics("eval", eval_metrics)
        trainer.save_metrics("eval", eval_metrics)
    if eval_split != "test" and "test" in dataset and not data_args.streaming:
        test_metrics = trainer.evaluate(eval_dataset=dataset["test"], metric_key_prefix="test")
        metrics.update(test_metrics)
        trainer.log_metrics("test", test_metrics)
        trainer.save_metrics("test", test_metrics)
    _write_run_info(training_args, model_args, data_args, eval_split)
    if trained:
        if trainer.is_world_process_zero():
            write_model_card(
                training_args.output_dir,
                model_name=Path(training_args.output_dir).name,
                trust_remote_code=model_args.trust_remote_code,
            )
        if training_args.push_to_hub:
            # AHUTrainer.push_to_hub uploads the folder with this card (its snippet pointed at the repo).
            trainer.push_to_hub(commit_message="End of training")
    return TrainingRunResult(trainer, processor, metrics, Path(training_args.output_dir), dataset)


def _take(dataset, count: int):
    """The first `count` rows of a map-style or streamed dataset."""
    if hasattr(dataset, "select"):
        return dataset.select(range(min(count, len(dataset))))
    return dataset.take(count)


def _checkpoint_source(name: str | None) -> dict | None:
    """The checkpoint a run started from: {"hub": repo id} or, for a local folder, {"folder": its name}."""
    if not name:
        return None
    if Path(name).exists():
        return {"folder": Path(name).resolve().name}
    return {"hub": name}


def _write_run_info(
    training_args: TrainingArguments,
    model_args: ModelArguments,
    data_args: DataArguments,
    eval_split: str | None,
) -> None:
    """`ahu_run.json`: the data and model arguments of the run and its process count (read by the model card).

    Fit to publish: a local path among the arguments is written as its last component, and the data's
    source as `hf_loader.export.dataset_source` names it (folder name and fingerprint, or Hub id and revision,
    and whether it is the generated sample archive).
    """
    if training_args.process_index != 0:
        return
    info = {
        "model_args": without_local_paths(vars(model_args)),
        "data_args": without_local_paths(vars(data_args)),
        "data_source": dataset_source(data_args.data_dir, data_args.dataset_name, data_args.dataset_revision),
        "started_from": _checkpoint_source(model_args.model_name_or_path),
        "eval_split": eval_split,
        "world_size": training_args.world_size,
        "seed": training_args.seed,
    }
    output_dir = Path(training_args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "ahu_run.json").write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")


def num_parameters(model: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
