"""transformers' video-classification task guide, walked end to end on an export of the sample archive (issue 19).

`load_dataset(folder, config)` for the `processed` and `filtered` configs, the saved processor called on the rows
(in `with_transform` with a `collate_fn` stacking its output, in `map` with the default collator, and in a
`collate_fn` given the rows), a plain `Trainer` for two steps with a tiny RViT, `trainer.push_to_hub` to the Hub
emulator, and `pipeline("video-classification")` on an mp4 in a clean process that pulls the model as remote
code. Each route must feed the frames `ahu-train`'s collator feeds for the same rows (docs/plain_trainer.md
gives the same script for a user).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from child_process import HIDE_PROJECT
from conftest import REPO_ROOT

from hf_loader.constants import LABEL_COLUMN
from modeling_rvit import RViTConfig, RViTForVideoClassification, RViTVideoProcessor

CONFIGS = ("processed", "filtered")
ROUTES = ("with_transform", "map", "collate_rows")
# A tiny RViT whose clip (12 frames) is longer than the sample's processed clips, so the real frames count.
TINY_RVIT = {
    "num_frames": 12,
    "image_size": 32,
    "patch_size": 8,
    "hidden_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 64,
}
# The bound on the frames a route feeds against the harness's, in grey levels (pixel values span 255).
GREY_LEVEL_TOLERANCE = 2.5


@pytest.fixture(scope="module")
def export_dir(sample_archive, tmp_path_factory) -> Path:
    """The sample archive exported as a Hub-style folder with the `processed` and `filtered` configs."""
    from ahu_train.data import load_ahu_dataset
    from hf_loader.export import export_dataset_dict

    cache = str(tmp_path_factory.mktemp("build_cache"))
    out = tmp_path_factory.mktemp("export")
    for config in CONFIGS:
        export_dataset_dict(
            load_ahu_dataset(data_dir=sample_archive, config_name=config, cache_dir=cache), out, config
        )
    return out


@pytest.fixture(scope="module")
def guide_datasets(export_dir, tmp_path_factory):
    """{config: DatasetDict} as the guide loads them: `load_dataset(folder, config)`."""
    from datasets import load_dataset

    cache = str(tmp_path_factory.mktemp("load_cache"))
    return {config: load_dataset(str(export_dir), config, cache_dir=cache) for config in CONFIGS}


def tiny_model(dataset) -> RViTForVideoClassification:
    names = dataset.features[LABEL_COLUMN].names
    config = RViTConfig(
        **TINY_RVIT, num_labels=len(names), id2label=dict(enumerate(names)),
        label2id={name: index for index, name in enumerate(names)},
    )  # fmt: skip
    torch.manual_seed(0)
    return RViTForVideoClassification(config)


def guide_route(route: str, dataset, processor):
    """(the dataset the Trainer reads, its data collator, remove_unused_columns) of one route of the guide."""
    from transformers import default_data_collator

    def transform(batch):
        inputs = processor(batch, return_tensors="pt")
        inputs["labels"] = batch[LABEL_COLUMN]
        return inputs

    def collate_fn(examples):
        return {
            "pixel_values": torch.stack([example["pixel_values"] for example in examples]),
            "frame_mask": torch.stack([example["frame_mask"] for example in examples]),
            "labels": torch.tensor([example["labels"] for example in examples]),
        }

    def collate_rows(rows):
        inputs = processor(rows, return_tensors="pt")
        inputs["labels"] = torch.tensor([row[LABEL_COLUMN] for row in rows])
        return dict(inputs)

    if route == "with_transform":
        return dataset.with_transform(transform), collate_fn, False
    if route == "map":
        mapped = dataset.map(transform, batched=True, batch_size=4, remove_columns=dataset.column_names)
        return mapped.with_format("torch"), default_data_collator, True
    return dataset, collate_rows, False


def harness_batch(dataset, processor, indices):
    """What `ahu-train`'s collator feeds for these rows (evaluation mode: centre window, no augmentation)."""
    from ahu_train.data import VideoClipCollator, resolve_layout

    collator = VideoClipCollator(processor, resolve_layout(dataset.column_names), augmentation=None)
    return collator([dataset[index] for index in indices])


def few_rows(dataset):
    """Every image set of the split and two videos: a few rows that hold each kind of clip."""
    kinds = dataset["kind"]
    image_sets = [index for index, kind in enumerate(kinds) if kind == "image_set"]
    videos = [index for index, kind in enumerate(kinds) if kind == "video"][:2]
    return dataset.select(image_sets + videos)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("config", CONFIGS)
def test_each_route_feeds_the_harness_frames_and_trains_with_plain_trainer(
    guide_datasets, config, route, tmp_path
):
    from transformers import Trainer, TrainingArguments

    train = few_rows(guide_datasets[config]["train"])
    model = tiny_model(train)
    processor = RViTVideoProcessor.from_model_config(model.config)
    dataset, collator, remove_unused_columns = guide_route(route, train, processor)
    indices = range(len(train))
    assert set(train["kind"]) == {"image_set", "video"}
    fed = collator([dataset[index] for index in indices])
    expected = harness_batch(train, processor, indices)
    assert fed["pixel_values"].shape == expected["pixel_values"].shape
    assert fed["frame_mask"].sum(dim=1).tolist() == expected["frame_mask"].sum(dim=1).tolist()
    grey_levels = (fed["pixel_values"] - expected["pixel_values"]).abs() * 127.5
    assert grey_levels.mean().item() < GREY_LEVEL_TOLERANCE
    assert fed["labels"].tolist() == expected["labels"].tolist()

    args = TrainingArguments(
        output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=4, learning_rate=1e-2, use_cpu=True,
        report_to="none", save_strategy="no", disable_tqdm=True, remove_unused_columns=remove_unused_columns,
    )  # fmt: skip
    before = [parameter.detach().clone() for parameter in model.parameters()]
    trainer = Trainer(
        model=model, args=args, train_dataset=dataset, data_collator=collator, processing_class=processor
    )
    result = trainer.train()
    assert np.isfinite(result.training_loss)
    assert any(not torch.equal(old, new) for old, new in zip(before, model.parameters()))


def test_processed_rows_and_filtered_image_sets_give_the_frames_the_model_trained_on(guide_datasets):
    # An image set of the filtered config through the processor = its processed-tier frames (the same crop).
    processor = RViTVideoProcessor(num_frames=None, do_resize=False, do_rescale=False, do_normalize=False)
    processed = {row["sample_id"]: row for row in guide_datasets["processed"]["train"]}
    image_sets = [row for row in guide_datasets["filtered"]["train"] if row["kind"] == "image_set"]
    assert image_sets
    for row in image_sets:
        frames = processor(row)["pixel_values"][0].float()
        tier = torch.from_numpy(
            np.stack([np.asarray(frame.convert("RGB")) for frame in processed[row["sample_id"]]["frames"]])
        ).permute(0, 3, 1, 2)
        assert frames.shape == tier.shape
        assert (frames - tier.float()).abs().mean().item() < GREY_LEVEL_TOLERANCE


PUSH_CHILD = textwrap.dedent(
    """
    import sys
    from transformers import AutoModelForVideoClassification, AutoVideoProcessor, Trainer, TrainingArguments
    import modeling_rvit  # noqa: F401  (registers RViT with the Auto classes, as `pip install` users have it)

    folder, repo_id = sys.argv[1:3]
    model = AutoModelForVideoClassification.from_pretrained(folder)
    processor = AutoVideoProcessor.from_pretrained(folder)
    args = TrainingArguments(
        output_dir=folder, push_to_hub=True, hub_model_id=repo_id, report_to="none", use_cpu=True
    )
    Trainer(model=model, args=args, processing_class=processor).push_to_hub()
    """
)

PIPELINE_CHILD = HIDE_PROJECT + textwrap.dedent(
    """
    import json, sys

    repo_root, repo_id, video, num_labels = sys.argv[1:5]
    hide_project(repo_root)

    from transformers import pipeline

    classify = pipeline("video-classification", model=repo_id, trust_remote_code=True)
    scores = {p["label"]: p["score"] for p in classify(video, top_k=int(num_labels))}
    print(json.dumps({"processor_module": type(classify.video_processor).__module__, "scores": scores}))
    """
)


@pytest.mark.slow  # trains, pushes from one process and pulls into a clean one
def test_push_to_hub_and_pipeline_on_an_mp4_in_a_clean_process(guide_datasets, sample_archive, tmp_path):
    from transformers import Trainer, TrainingArguments

    from tests.hub_emulator import EMULATOR_USER, hub_env, running_hub

    train = few_rows(guide_datasets["processed"]["train"])
    model = tiny_model(train)
    processor = RViTVideoProcessor.from_model_config(model.config)
    dataset, collator, remove_unused_columns = guide_route("with_transform", train, processor)
    folder = tmp_path / "rvit-guide"
    args = TrainingArguments(
        output_dir=str(folder), max_steps=2, per_device_train_batch_size=4, learning_rate=1e-2, use_cpu=True,
        report_to="none", save_strategy="no", disable_tqdm=True, remove_unused_columns=remove_unused_columns,
    )  # fmt: skip
    trainer = Trainer(
        model=model, args=args, train_dataset=dataset, data_collator=collator, processing_class=processor
    )
    trainer.train()
    trainer.save_model()

    filtered = guide_datasets["filtered"]["test"]
    index = next(index for index, kind in enumerate(filtered["kind"]) if kind == "video")
    sample = filtered[index]["sample_id"]
    video = next((sample_archive / "filtered").glob(f"Video_{sample}_*.mp4"))
    model.eval()
    with torch.no_grad():
        expected = model(**{
            key: value for key, value in harness_batch(filtered, processor, [index]).items() if key != "labels"
        }).logits.softmax(-1)[0]  # fmt: skip

    repo_id = f"{EMULATOR_USER}/rvit-task-guide"
    with running_hub(tmp_path / "hub") as endpoint:
        push = subprocess.run(
            [sys.executable, "-c", PUSH_CHILD, str(folder), repo_id],
            env=hub_env(endpoint, tmp_path / "hf_home_push"), capture_output=True, text=True, timeout=300,
            check=False,
        )  # fmt: skip
        assert push.returncode == 0, push.stderr[-4000:]
        workdir = tmp_path / "child"
        workdir.mkdir()
        env = {**hub_env(endpoint, tmp_path / "hf_home_pull"), "HF_MODULES_CACHE": str(workdir / "modules")}
        env.pop("PYTHONPATH", None)
        pull = subprocess.run(
            [sys.executable, "-I", "-c", PIPELINE_CHILD, str(REPO_ROOT), repo_id, str(video), str(model.config.num_labels)],
            cwd=workdir, env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    assert pull.returncode == 0, pull.stderr[-4000:]
    result = json.loads(pull.stdout.strip().splitlines()[-1])
    assert result["processor_module"].startswith("transformers_modules.")
    scores = torch.tensor(
        [result["scores"][model.config.id2label[i]] for i in range(model.config.num_labels)]
    )
    assert torch.allclose(scores, expected, atol=2e-4)
