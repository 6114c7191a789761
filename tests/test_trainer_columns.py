"""The label columns work with Trainer's defaults, and an export with the old column names still trains."""

from __future__ import annotations

import logging

import datasets
import pytest

from hf_loader.constants import ALL_LABELS_COLUMN, LABEL_COLUMN, LEGACY_LABEL_COLUMNS

TINY_CONFIG = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}
TINY_MODEL = {
    "num_frames": 4,
    "image_size": 32,
    "config_overrides": "hidden_size=32,num_hidden_layers=1,num_attention_heads=2,intermediate_size=64",
}


@pytest.fixture(scope="module")
def processed(sample_archive, tmp_path_factory):
    from hf_loader.builder import AHUUltrasound

    builder = AHUUltrasound(
        config_name="processed", data_dir=str(sample_archive), cache_dir=str(tmp_path_factory.mktemp("cache"))
    )
    builder.download_and_prepare()
    return builder.as_dataset()


@pytest.fixture(scope="module")
def exported(processed, tmp_path_factory):
    from hf_loader.export import export_dataset_dict

    out = tmp_path_factory.mktemp("export")
    export_dataset_dict(processed, out, "processed")
    return out


@pytest.fixture(scope="module")
def old_export(processed, tmp_path_factory):
    """An export as written before the rename: `primary_label` and a list-valued `labels`."""
    from hf_loader.export import export_dataset_dict

    out = tmp_path_factory.mktemp("old_export")
    old_names = {new: old for old, new in LEGACY_LABEL_COLUMNS.items()}
    export_dataset_dict(processed.rename_columns(old_names), out, "processed")
    return out


def test_guide_map_variant_trains_with_plain_trainer_and_default_collator(exported, tmp_path):
    """The task guide's common variant: `ds.map` adds `pixel_values`, then a plain `Trainer` with its default
    collator and `remove_unused_columns=True`. A list-valued `labels` column used to reach the collator as the
    target, which cannot make one tensor of lists of different lengths ("expected sequence of length 1 at dim 1
    (got 2)"; "stack expects each tensor to be equal size" with the torch format)."""
    import torch
    from transformers import Trainer, TrainingArguments

    from modeling_rvit import RViTConfig, RViTForVideoClassification, RViTVideoProcessor

    train = datasets.load_dataset(str(exported), split="train")
    # One batch that mixes a two-label sample with one-label ones: the case that cannot be stacked.
    multi = [i for i, labels in enumerate(train[ALL_LABELS_COLUMN]) if len(labels) > 1]
    single = [i for i, labels in enumerate(train[ALL_LABELS_COLUMN]) if len(labels) == 1]
    assert multi and len(single) >= 3
    train = train.select([multi[0], *single[:3]])
    names = train.features[LABEL_COLUMN].names
    processor = RViTVideoProcessor(num_frames=4, size={"height": 32, "width": 32})
    train = train.map(
        lambda row: {"pixel_values": processor(row["frames"], return_tensors="pt").pixel_values[0]}
    )
    config = RViTConfig(
        num_frames=4,
        image_size=32,
        num_labels=len(names),
        id2label=dict(enumerate(names)),
        label2id={name: i for i, name in enumerate(names)},
        **TINY_CONFIG,
    )
    args = TrainingArguments(
        output_dir=str(tmp_path / "guide"),
        per_device_train_batch_size=4,
        max_steps=2,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        remove_unused_columns=True,
    )
    trainer = Trainer(model=RViTForVideoClassification(config), args=args, train_dataset=train)
    batch = next(iter(trainer.get_train_dataloader()))
    assert set(batch) == {"pixel_values", "labels"}
    assert batch["labels"].shape == (4,) and batch["labels"].dtype == torch.long
    result = trainer.train()
    assert result.global_step == 2 and torch.isfinite(torch.tensor(result.training_loss))


def test_old_export_trains_in_the_harness_with_one_note(old_export, tmp_path, caplog):
    """An export with `primary_label` / `labels` loads under today's names, with one note on how to re-export."""
    from transformers import TrainingArguments

    from ahu_train.data import load_ahu_dataset
    from ahu_train.train import DataArguments, ModelArguments, run_training

    with caplog.at_level(logging.WARNING):
        dataset = load_ahu_dataset(dataset_name=str(old_export))
    assert (
        LABEL_COLUMN in dataset["train"].column_names and ALL_LABELS_COLUMN in dataset["train"].column_names
    )
    assert not set(LEGACY_LABEL_COLUMNS) & set(dataset["train"].column_names)
    notes = [record.getMessage() for record in caplog.records if "renamed" in record.getMessage()]
    assert len(notes) == 1
    assert (
        str(old_export) in notes[0] and "`primary_label` as `label`" in notes[0] and "ahu-export" in notes[0]
    )

    caplog.clear()
    args = TrainingArguments(
        output_dir=str(tmp_path / "model"),
        per_device_train_batch_size=4,
        max_steps=1,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        remove_unused_columns=False,
    )
    with caplog.at_level(logging.WARNING):
        result = run_training(
            ModelArguments(**TINY_MODEL),
            DataArguments(dataset_name=str(old_export), eval_split="validation", max_eval_samples=4),
            args,
        )
    assert result.trainer.state.global_step == 1
    assert sum("renamed" in record.getMessage() for record in caplog.records) == 1
    assert [result.trainer.model.config.id2label[i] for i in range(3)] == ["Tumor", "Cyst", "Inflammation"]


def test_other_datasets_keep_their_columns():
    from hf_loader.export import rename_legacy_label_columns

    hub_style = datasets.Dataset.from_dict({"label": [0], "labels": [[0, 1]]})
    assert rename_legacy_label_columns(hub_style, "x").column_names == ["label", "labels"]
