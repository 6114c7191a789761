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


def _files_naming(folder: Path, needle: str) -> list[str]:
    """Files under `folder` whose bytes hold `needle` (as UTF-8, or as JSON escapes it)."""
    import json

    patterns = {needle.encode(), json.dumps(needle)[1:-1].encode()}
    return sorted(
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and any(pattern in path.read_bytes() for pattern in patterns)
    )


def test_no_file_of_a_trained_model_folder_names_a_local_path(sample_archive, tmp_path, tmp_path_factory):
    """A folder fit to publish: the card, the run record and every other file (checkpoints included) name the
    data by folder name and fingerprint and the model by its folder name, never by a path of this machine."""
    import json

    import yaml

    spec = importlib.util.spec_from_file_location("train_rvit", REPO_ROOT / "scripts" / "train_rvit.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "rvit-sample"
    tiny = "hidden_size=32,num_hidden_layers=1,num_attention_heads=2,intermediate_size=64"
    script.main(
        ["--data_dir", str(sample_archive), "--cache_dir", str(tmp_path / "cache"), "--output_dir", str(out)]
        + ["--num_frames", "4", "--image_size", "32", "--config_overrides", tiny]
        + ["--per_device_train_batch_size", "2", "--max_steps", "2", "--save_strategy", "steps"]
        + ["--save_steps", "2", "--use_cpu", "--disable_tqdm", "true", "--report_to", "none"]
    )
    local_root = str(tmp_path_factory.getbasetemp())
    assert local_root in str(sample_archive) and local_root in str(out)
    assert _files_naming(out, local_root) == []
    assert (out / "checkpoint-2" / "training_args.bin").is_file()
    # Named all the same: by folder name and fingerprint, and as the generated sample archive it is.
    source = json.loads((out / "ahu_run.json").read_text(encoding="utf-8"))["data_source"]
    assert source["archive"] == sample_archive.name and len(source["fingerprint"]) == 32
    assert source["sample_archive"]["num_samples"] > 0
    card = (out / "README.md").read_text(encoding="utf-8")
    assert f"folder `{sample_archive.name}` (fingerprint `{source['fingerprint']}`)" in card
    assert 'model_id = "rvit-sample"' in card
    meta = yaml.safe_load(card.split("---\n")[1])
    assert "synthetic" in meta["tags"] and meta["license"] == "mit"
    # ahu-train evaluated the validation and test splits: their metrics are the card's model-index.
    results = meta["model-index"][0]["results"]
    assert {result["dataset"]["split"] for result in results} == {"validation", "test"}
    assert {result["dataset"]["config"] for result in results} == {"processed"}
    assert {result["dataset"]["type"] for result in results} == {"ahu-sample-archive"}
    logged = json.loads((out / "all_results.json").read_text(encoding="utf-8"))
    test_top1 = next(
        metric["value"]
        for result in results
        for metric in result["metrics"]
        if metric["name"] == "Top-1 accuracy (test, clip level)"
    )
    assert test_top1 == round(logged["test_top1_accuracy"], 4)
    test_rows = len(
        json.loads((out / "data_contract.json").read_text(encoding="utf-8"))["sample_ids"]["test"]
    )
    assert "Not evaluated" not in card and f"| test/clip | {test_rows} |" in card


def test_a_new_rvit_without_a_preset_trains_with_the_from_scratch_recipe():
    from ahu_train.cli.train_rvit import parse_args

    model_args, data_args, training_args = parse_args(["--output_dir", "x"])
    assert data_args.preset == "scratch"
    assert model_args.config_preset == "scratch" and model_args.class_weighting == "inverse_sqrt"
    assert training_args.learning_rate == 1e-3 and training_args.weight_decay == 0.05
    assert training_args.lr_scheduler_type == "cosine" and training_args.warmup_steps == 0.05
    assert training_args.max_grad_norm == 1.0 and training_args.per_device_train_batch_size == 16
    # Flags given still win.
    _, _, overridden = parse_args(["--output_dir", "x", "--learning_rate", "3e-4"])
    assert overridden.learning_rate == 3e-4
    # Class weights need a map-style training split: a streamed run keeps the rest of the recipe without them.
    streamed, _, training_args = parse_args(["--output_dir", "x", "--streaming", "--max_steps", "5"])
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
    from ahu_train.cli.train_rvit import parse_args

    model_args, data_args, training_args = parse_args(["--output_dir", "x", *argv])
    assert data_args.preset is None and model_args.config_preset == "ahu"
    assert training_args.learning_rate == 5e-5  # TrainingArguments' own default


def test_a_self_supervised_checkpoint_is_fine_tuned_with_the_recipes_optimizer(tmp_path):
    from ahu_train.cli.train_rvit import parse_args
    from modeling_rvit import RViTConfig, RViTForPreTraining, RViTForVideoClassification

    config = RViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    RViTForPreTraining(config).save_pretrained(tmp_path / "pretrained")
    RViTForVideoClassification(config).save_pretrained(tmp_path / "classifier")

    model_args, data_args, training_args = parse_args(
        ["--output_dir", "x", "--model_name_or_path", str(tmp_path / "pretrained")]
    )
    assert data_args.preset == "pretrained_start" and model_args.class_weighting == "inverse_sqrt"
    assert training_args.learning_rate == 1e-3 and training_args.lr_scheduler_type == "cosine"
    assert training_args.warmup_steps == 0.05 and training_args.max_grad_norm == 1.0
    assert model_args.config_preset == "ahu"  # the checkpoint fixes the model
    _, _, overridden = parse_args(
        ["--output_dir", "x", "--model_name_or_path", str(tmp_path / "pretrained"), "--learning_rate", "3e-4"]
    )
    assert overridden.learning_rate == 3e-4
    # A trained classifier is fine-tuned as asked, with TrainingArguments' defaults.
    _, data_args, training_args = parse_args(
        ["--output_dir", "x", "--model_name_or_path", str(tmp_path / "classifier")]
    )
    assert data_args.preset is None and training_args.learning_rate == 5e-5


def test_an_explicit_preset_replaces_the_recipe():
    from ahu_train.cli.train_rvit import parse_args

    model_args, data_args, training_args = parse_args(["--output_dir", "x", "--preset", "paper"])
    assert data_args.preset == "paper" and model_args.config_preset == "ahu"
    assert training_args.learning_rate == 1e-4
