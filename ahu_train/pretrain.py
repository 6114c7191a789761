"""Self-supervised pretraining of RViT on unlabelled clips: the run behind `ahu-pretrain`.

`RViTForPreTraining` (masked-patch reconstruction) trains with `Trainer` on the frames of a dataset's training
split (labels unused; the validation split only with `include_validation`, the test split only with
`include_test`). The saved folder (safetensors, config, video processor, card, `pretraining_data.json`) starts a
classifier with a new head:

```python
from transformers import TrainingArguments
from ahu_train.pretrain import PretrainDataArguments, PretrainModelArguments, run_pretraining

run_pretraining(
    PretrainModelArguments(config_overrides="hidden_size=32,num_hidden_layers=1,num_attention_heads=2",
                           num_frames=4, image_size=32),
    PretrainDataArguments(data_dir="archive/"),
    TrainingArguments("outputs/rvit-pretrained", max_steps=200, use_cpu=True, remove_unused_columns=False),
)
# then: ahu-train --model_name_or_path outputs/rvit-pretrained --data_dir archive/ ...
```
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainingArguments, set_seed

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
from .model_card import without_local_paths
from .models import video_processor_for
from .train import parse_config_overrides

logger = logging.getLogger(__name__)

PRETRAINING_DATA_FILE = "pretraining_data.json"
# `ahu-pretrain`'s training defaults (options given still win): the settings the pretrained starts of BENCHMARKS.md
# ("Self-supervised pretraining: two objectives against training from scratch") were pretrained with.
PRETRAINING_TRAINING_DEFAULTS = {
    "per_device_train_batch_size": 16,
    "learning_rate": 1e-3,
    "weight_decay": 0.05,
    "lr_scheduler_type": "cosine",
    "warmup_steps": 0.05,
    "max_grad_norm": 1.0,
}
HELD_OUT_SPLITS = ("validation", "test")


@dataclass
class PretrainModelArguments:
    """What model to pretrain."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "An RViT checkpoint (pretraining or classifier) to continue from; default: a new model."
        },
    )
    config_preset: str = field(
        default="scratch",
        metadata={
            "help": "RViTConfig preset of a new model (default: scratch, the conv-stem RViT ahu-train starts a new "
            "model from)."
        },
    )
    config_overrides: str | None = field(
        default=None,
        metadata={
            "help": "Comma-separated RViTConfig fields of a new model, e.g. 'hidden_size=128,decoder_hidden_size=64'."
        },
    )
    num_frames: int | None = field(default=None, metadata={"help": "Frames per clip (the paper: 36)."})
    image_size: int | None = field(default=None, metadata={"help": "Frame side in pixels (the paper: 112)."})
    mask_ratio: float | None = field(
        default=None, metadata={"help": "Share of each frame's patches masked (default: the config's, 0.75)."}
    )
    mask_type: str | None = field(
        default=None,
        metadata={
            "help": "tube (the same patches in every frame, the default) or frame (a new mask per frame)."
        },
    )
    objective: str | None = field(
        default=None,
        metadata={
            "help": "masked_reconstruction (VideoMAE's, the default of a new model) or contrastive (SimCLR's on two "
            "views of each clip; it trains the pooled features the classifier reads).",
            "choices": ["masked_reconstruction", "contrastive"],
        },
    )


@dataclass
class PretrainDataArguments:
    """Where the unlabelled clips come from."""

    data_dir: str | None = field(
        default=None, metadata={"help": "Archive folder (prepared by the AHU builder)."}
    )
    dataset_name: str | None = field(
        default=None, metadata={"help": "Hub repo id or exported Parquet folder."}
    )
    dataset_config_name: str | None = field(
        default=None, metadata={"help": "Builder config (default: processed) or the export's config."}
    )
    dataset_revision: str | None = field(default=None, metadata={"help": "Hub dataset revision."})
    split_scheme: str | None = field(
        default=None,
        metadata={"help": "stratified, paper or creator (an archive only); use the fine-tuning's."},
    )
    split_fractions: str | None = field(
        default=None,
        metadata={
            "help": "Train,validation,test shares of the split, e.g. 0.6,0.1,0.3; use the fine-tuning's."
        },
    )
    include_validation: bool = field(
        default=False, metadata={"help": "Pretrain on the validation split's clips too."}
    )
    include_test: bool = field(
        default=False,
        metadata={
            "help": "Pretrain on the test split's clips too (its later test scores are then not held out)."
        },
    )
    video_column_name: str | None = field(
        default=None, metadata={"help": "The video column (default: 'video')."}
    )
    frames_column_name: str | None = field(
        default=None, metadata={"help": "The list-of-frames column (default: 'frames')."}
    )
    max_train_samples: int | None = field(default=None)
    augment: bool = field(default=True, metadata={"help": "Random crop/flip/intensity jitter of the clips."})
    pre_resize: bool = field(
        default=False, metadata={"help": "Resize the frames to the model's size once before training."}
    )
    cache_dir: str | None = field(default=None)

    def load(self):
        """The `DatasetDict` these arguments describe."""
        builder_kwargs = {}
        if self.split_fractions:
            builder_kwargs["fractions"] = tuple(float(part) for part in self.split_fractions.split(","))
        return load_ahu_dataset(
            data_dir=self.data_dir,
            dataset_name=self.dataset_name,
            config_name=self.dataset_config_name,
            split_scheme=self.split_scheme,
            cache_dir=self.cache_dir,
            revision=self.dataset_revision,
            **builder_kwargs,
        )


@dataclass
class PretrainingRunResult:
    """What `run_pretraining` returns."""

    trainer: Trainer
    processor: Any
    metrics: dict[str, float]
    output_dir: Path
    splits: list[str]
    num_samples: int


@dataclass
class UnlabelledClipCollator(VideoClipCollator):
    """`VideoClipCollator` without targets: {"pixel_values", "frame_mask"} for `RViTForPreTraining`."""

    def labels_of(self, rows: Sequence[dict]) -> None:
        return None

    def __call__(self, rows: Sequence[dict]) -> dict[str, torch.Tensor]:
        batch = super().__call__(rows)
        del batch["labels"]
        return batch


# The contrastive objective's views: a stronger crop and intensity jitter than fine-tuning's `ClipAugmentation`, so
# that two views of one clip differ by more than a few pixels (each also has its own window of frames).
CONTRASTIVE_AUGMENTATION = ClipAugmentation(crop_scale=(0.4, 1.0), brightness=0.2, contrast=0.3)
SECOND_VIEW_SEED = 0x5EC0


@dataclass
class PairedClipCollator(UnlabelledClipCollator):
    """Two views of every clip for the contrastive objective: {"pixel_values", "frame_mask", "paired_pixel_values",
    "paired_frame_mask"}; each view has its own random window and augmentation (seeded per sample and epoch)."""

    # Set while the second view is drawn (not an option: each call draws both views).
    second_view: bool = field(default=False, init=False, repr=False)

    def __call__(self, rows: Sequence[dict]) -> dict[str, torch.Tensor]:
        first = super().__call__(rows)
        self.second_view = True
        try:
            second = super().__call__(rows)
        finally:
            self.second_view = False
        return {
            **first,
            "paired_pixel_values": second["pixel_values"],
            "paired_frame_mask": second["frame_mask"],
        }

    def _generator_of(self, row: dict, index: int) -> torch.Generator:
        generator = super()._generator_of(row, index)
        if self.second_view:
            generator.manual_seed(generator.initial_seed() ^ SECOND_VIEW_SEED)
        return generator


def pretraining_splits(split_names: Sequence[str], include_validation: bool, include_test: bool) -> list[str]:
    """The splits whose clips pretrain: every split but validation and test, unless they are asked for.

    Raises:
        TrainingDataError: no split is left.
    """
    held_out = {
        name for name, included in zip(HELD_OUT_SPLITS, (include_validation, include_test)) if not included
    }
    splits = [name for name in split_names if name not in held_out]
    if not splits:
        raise TrainingDataError(
            f"no split to pretrain on: the dataset has {sorted(split_names)} and {sorted(held_out)} are held out; "
            "add --include_validation or --include_test"
        )
    return splits


def build_pretraining_model(model_args: PretrainModelArguments, label_names: Sequence[str] | None = None):
    """A new `RViTForPreTraining` (preset + overrides), or one continued from a saved RViT; with its processor.

    `label_names` (the dataset's, when it has any) go into the config, so the classifier fine-tuned from the
    checkpoint on the same dataset has the dataset's labels.
    """
    from modeling_rvit import RViTForPreTraining

    overrides = parse_config_overrides(model_args.config_overrides)
    for name in ("num_frames", "image_size", "mask_ratio", "mask_type"):
        if getattr(model_args, name) is not None:
            overrides[name] = getattr(model_args, name)
    if model_args.objective is not None:
        overrides["pretraining_objective"] = model_args.objective
    if model_args.model_name_or_path:
        model = RViTForPreTraining.from_pretrained(model_args.model_name_or_path, **overrides)
    else:
        if label_names:
            overrides.setdefault("num_labels", len(label_names))
            overrides.setdefault("id2label", dict(enumerate(label_names)))
            overrides.setdefault("label2id", {label: index for index, label in enumerate(label_names)})
        model = RViTForPreTraining(RViTConfig.from_preset(model_args.config_preset, **overrides))
    return model, video_processor_for(model.config.num_frames, model.config.image_size)


def run_pretraining(
    model_args: PretrainModelArguments,
    data_args: PretrainDataArguments,
    training_args: TrainingArguments,
    callbacks: list | None = None,
    dataset=None,
) -> PretrainingRunResult:
    """Pretrain RViT by masked-patch reconstruction with `Trainer`; save the model, processor, card and
    `pretraining_data.json` (the splits and sample ids used) in `training_args.output_dir`.

    `dataset`: an already loaded `DatasetDict` (default: loaded from `data_args`). The test split's clips are used
    only with `data_args.include_test`, the validation split's only with `include_validation`.
    """
    training_args.remove_unused_columns = False  # transformers#20827: keep the frames column for the collator
    set_seed(training_args.seed)
    if dataset is None:
        dataset = data_args.load()
    splits = pretraining_splits(list(dataset), data_args.include_validation, data_args.include_test)
    layout = resolve_layout(
        column_names_of(dataset[splits[0]]),
        video_column_name=data_args.video_column_name,
        frames_column_name=data_args.frames_column_name,
        require_label=False,
    )
    label_names = label_names_of(dataset[splits[0]], layout) if layout.label_column else None
    model, processor = build_pretraining_model(model_args, label_names)

    from datasets import concatenate_datasets

    rows = concatenate_datasets([dataset[name] for name in splits]) if len(splits) > 1 else dataset[splits[0]]
    if data_args.max_train_samples is not None:
        rows = rows.select(range(min(data_args.max_train_samples, len(rows))))
    if data_args.pre_resize:
        if layout.frames_column is None or not layout.frames_are_processed:
            raise TrainingDataError(
                "--pre_resize caches processed frames; this dataset's clips come from its "
                f"{layout.video_column or layout.frames_column!r} column: drop --pre_resize"
            )
        rows = resize_frames(rows, model.config.image_size, layout.frames_column)

    contrastive = model.config.pretraining_objective == "contrastive"
    if contrastive and not data_args.augment:
        raise TrainingDataError(
            "the contrastive objective learns from two augmented views of each clip: drop --augment False, or use "
            "--objective masked_reconstruction"
        )
    collator = (PairedClipCollator if contrastive else UnlabelledClipCollator)(
        processor=processor,
        layout=layout,
        training=True,
        augmentation=(CONTRASTIVE_AUGMENTATION if contrastive else ClipAugmentation())
        if data_args.augment
        else None,
        seed=training_args.seed,
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=rows,
        data_collator=collator,
        processing_class=processor,
        callbacks=[epoch_seed_callback(collator), *(callbacks or [])],
    )
    train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model()
    metrics = dict(train_result.metrics)
    trainer.log_metrics("train", metrics)
    trainer.save_metrics("train", metrics)
    trainer.save_state()
    output_dir = Path(training_args.output_dir)
    if trainer.is_world_process_zero():
        sample_ids = list(rows["sample_id"]) if "sample_id" in rows.column_names else None
        # No folder of this machine goes into the checkpoint (it is meant to be pushed): only folder names.
        record = {
            **without_local_paths({"data_dir": data_args.data_dir}),
            "dataset_name": data_args.dataset_name,
            "dataset_config_name": data_args.dataset_config_name,
            "split_scheme": data_args.split_scheme,
            "split_fractions": data_args.split_fractions,
            "splits": splits,
            "num_samples": len(rows),
            "sample_ids": sample_ids,
        }
        (output_dir / PRETRAINING_DATA_FILE).write_text(
            json.dumps(record, indent=2, default=str), encoding="utf-8"
        )
        losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
        write_pretraining_card(output_dir, model.config, record, trainer.state.global_step, losses)
    return PretrainingRunResult(trainer, processor, metrics, output_dir, splits, len(rows))


def write_pretraining_card(
    output_dir: Path, config: RViTConfig, data: dict, steps: int, losses: Sequence[float]
) -> Path:
    """`README.md` of a pretraining checkpoint: what it is, what it saw, and how to fine-tune it."""
    source = data["dataset_name"] or data["data_dir"] or "a local dataset"
    contrastive = config.pretraining_objective == "contrastive"
    loss_name = "Contrastive (InfoNCE) loss" if contrastive else "Reconstruction loss"
    loss_line = (
        f"{loss_name} (logged): {losses[0]:.4f} at the start, {losses[-1]:.4f} at the end."
        if losses
        else "No loss was logged (too few steps for `logging_steps`)."
    )
    test_line = (
        "The test split's clips were included (`--include_test`): test scores of a model fine-tuned from this "
        "checkpoint are not on held-out clips."
        if "test" in data["splits"]
        else "The test split's clips were not used."
    )
    model_id = output_dir.name  # `publish` writes the Hub repo's id in its place (`card_with_repo_id`)
    if contrastive:
        objective_tag, objective_name = (
            "contrastive-learning",
            "contrastive learning on two views of each clip",
        )
        objective_line = (
            "two views of each clip (another window of frames, crop, flip and intensity each) pulled together and "
            f"away from the batch's other clips: InfoNCE at temperature {config.contrastive_temperature} on a "
            f"{config.contrastive_projection_size}-wide projection of the pooled representation."
        )
    else:
        objective_tag, objective_name = "masked-image-modeling", "masked-patch reconstruction"
        objective_line = (
            f"{config.mask_ratio:.0%} of each frame's patches masked ({config.mask_type} masking), reconstructed by "
            f"a {config.decoder_num_hidden_layers}-layer decoder of width {config.decoder_hidden_size}; mean squared "
            f"error on the masked patches{' of per-patch normalized pixels' if config.norm_pix_loss else ''}."
        )
    text = f"""---
library_name: transformers
tags:
- video
- rvit
- self-supervised
- {objective_tag}
- ultrasound
---

# {output_dir.name}

A self-supervised RViT checkpoint (`RViTForPreTraining`: {objective_name}, no classification head),
pretrained by `ahu-pretrain` on the unlabelled clips of {source}.

- Model: {config.num_hidden_layers} layer(s), hidden size {config.hidden_size}, {config.num_attention_heads} heads, MLP
  {config.intermediate_size}, patch {config.patch_size}; {config.num_frames} frames per clip at {config.image_size}×{config.image_size} px.
- Objective: {objective_line}
- Data: splits {", ".join(data["splits"])} ({data["num_samples"]} samples, labels unused; `{PRETRAINING_DATA_FILE}`
  lists them). {test_line}
- Training: {steps} steps. {loss_line}

## Fine-tune

```bash
ahu-train --model_name_or_path {model_id} --data_dir /data/ahu --output_dir outputs/rvit-finetuned
```

```python
from modeling_rvit import RViTForVideoClassification

model_id = "{model_id}"
model = RViTForVideoClassification.from_pretrained(model_id)  # the encoder's weights, a new head
```

Without the `modeling_rvit` package, `AutoModelForVideoClassification.from_pretrained(model_id,
trust_remote_code=True)` runs the code saved with the checkpoint.
"""
    card = output_dir / "README.md"
    card.write_text(text, encoding="utf-8")
    return card
