"""The training command line (`ahu-train`, scripts/train_rvit.py): what it leaves on disk."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SECRET = "hf_SecretTokenThatMustNotBeWritten0123"


def test_hub_token_is_in_no_file_of_the_run_folder_or_its_checkpoints(sample_archive, tmp_path):
    spec = importlib.util.spec_from_file_location("train_rvit", REPO_ROOT / "scripts" / "train_rvit.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "run"
    script.main(
        [
            "--data_dir",
            str(sample_archive),
            "--cache_dir",
            str(tmp_path / "cache"),
            "--output_dir",
            str(out),
            "--num_frames",
            "4",
            "--image_size",
            "32",
            "--config_overrides",
            "hidden_size=32,num_hidden_layers=1,num_attention_heads=2,intermediate_size=64",
            "--per_device_train_batch_size",
            "2",
            "--max_steps",
            "2",
            "--save_strategy",
            "steps",
            "--save_steps",
            "1",
            "--use_cpu",
            "--disable_tqdm",
            "true",
            "--report_to",
            "none",
            "--hub_token",
            SECRET,
        ]
    )
    files = [path for path in out.rglob("*") if path.is_file()]
    written_args = [path for path in files if path.name == "training_args.bin"]
    assert len(written_args) == 3  # the run folder, checkpoint-1, checkpoint-2
    assert [path for path in files if SECRET.encode() in path.read_bytes()] == []


def test_a_new_rvit_without_a_preset_trains_with_the_from_scratch_recipe():
    from ahu_train.cli.train_rvit import parse_arguments

    model_args, data_args, training_args = parse_arguments(["--output_dir", "x"])
    assert data_args.preset == "scratch"
    assert model_args.config_preset == "scratch" and model_args.class_weighting == "inverse_sqrt"
    assert training_args.learning_rate == 1e-3 and training_args.weight_decay == 0.05
    assert training_args.lr_scheduler_type == "cosine" and training_args.warmup_steps == 0.05
    assert training_args.max_grad_norm == 1.0 and training_args.per_device_train_batch_size == 16
    # Flags given still win.
    _, _, overridden = parse_arguments(["--output_dir", "x", "--learning_rate", "3e-4"])
    assert overridden.learning_rate == 3e-4
    # Class weights need a map-style training split: a streamed run keeps the rest of the recipe without them.
    streamed, _, training_args = parse_arguments(["--output_dir", "x", "--streaming", "--max_steps", "5"])
    assert streamed.class_weighting == "none" and training_args.learning_rate == 1e-3


@pytest.mark.parametrize(
    "argv",
    [
        ["--model_name_or_path", "outputs/rvit"],
        ["--init_from_vit", "google/vit-base-patch16-224"],
        ["--model_family", "vivit"],
    ],
)
def test_starting_weights_or_another_family_get_no_recipe(argv):
    from ahu_train.cli.train_rvit import parse_arguments

    model_args, data_args, training_args = parse_arguments(["--output_dir", "x", *argv])
    assert data_args.preset is None and model_args.config_preset == "ahu"
    assert training_args.learning_rate == 5e-5  # TrainingArguments' own default


def test_an_explicit_preset_replaces_the_recipe():
    from ahu_train.cli.train_rvit import parse_arguments

    model_args, data_args, training_args = parse_arguments(["--output_dir", "x", "--preset", "paper"])
    assert data_args.preset == "paper" and model_args.config_preset == "ahu"
    assert training_args.learning_rate == 1e-4
