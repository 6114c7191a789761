"""Model cards: Hub metadata (datasets, base_model, model-index in the Hub's metric vocabulary), the repo id after a
push, and the card surviving `model.push_to_hub` (checked against the Hub emulator)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml
from conftest import REPO_ROOT

from ahu_train.model_card import write_model_card
from modeling_rvit import RViTConfig, RViTForVideoClassification, RViTVideoProcessor

TINY_CONFIG = {
    "hidden_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "image_size": 32,
    "num_frames": 4,
}


def front_matter(text: str) -> dict:
    match = re.match(r"---\n(.*?)\n---\n", text, flags=re.DOTALL)
    assert match, "the card has no YAML front matter"
    return yaml.safe_load(match.group(1))


def evaluation_results() -> dict:
    """What `evaluate_model` returns for one split, at clip and video level (values of a small run)."""
    return {
        "test/clip": {
            "n": 40,
            "top1_accuracy": 0.55,
            "top3_accuracy": 0.8,
            "top5_accuracy": 0.9,
            "macro_f1": 0.41,
            "ci": {"top1_accuracy": (0.55, 0.4, 0.7)},
        },
        "test/video": {"n": 40, "top1_accuracy": 0.575, "top3_accuracy": 0.825, "macro_f1": 0.44},
    }


def saved_model(folder: Path, run_info: dict | None = None) -> Path:
    torch.manual_seed(0)
    RViTForVideoClassification(RViTConfig(**TINY_CONFIG)).save_pretrained(folder)
    RViTVideoProcessor(size={"height": 32, "width": 32}, num_frames=4).save_pretrained(folder)
    if run_info is not None:
        (folder / "ahu_run.json").write_text(json.dumps(run_info), encoding="utf-8")
    return folder


def test_card_metadata_uses_the_hubs_fields_and_metric_types(tmp_path):
    folder = saved_model(
        tmp_path / "model",
        {
            "model_args": {"model_name_or_path": "someone/rvit-kinetics", "loss_type": "cross_entropy"},
            "data_args": {"dataset_name": "someone/ahu-ultrasound", "dataset_config_name": "processed"},
        },
    )
    card = write_model_card(folder, results=evaluation_results(), model_name="rvit-ahu")
    meta = front_matter(card.read_text(encoding="utf-8"))
    assert meta["datasets"] == ["someone/ahu-ultrasound"]
    assert meta["base_model"] == "someone/rvit-kinetics"
    assert meta["pipeline_tag"] == "video-classification" and meta["library_name"] == "transformers"
    assert meta["license"] == "cc-by-4.0"
    (entry,) = meta["model-index"]
    assert entry["name"] == "rvit-ahu"
    metrics = {}
    for result in entry["results"]:
        assert result["task"]["type"] == "video-classification"
        assert result["dataset"]["type"] == "someone/ahu-ultrasound"
        assert result["dataset"]["config"] == "processed" and result["dataset"]["split"] == "test"
        for metric in result["metrics"]:
            metrics[metric["name"]] = (metric["type"], metric["value"])
    assert metrics["Top-1 accuracy (test, clip level)"] == ("accuracy", 0.55)
    assert metrics["Top-3 accuracy (test, video level)"] == ("accuracy", 0.825)
    assert metrics["Macro-F1 (test, clip level)"] == ("f1", 0.41)
    assert {kind for kind, _ in metrics.values()} == {"accuracy", "f1"}
    assert len(metrics) == 7  # the video-level row has no top-5


def test_card_of_a_new_model_on_local_data_has_no_base_model_and_loads_its_folder(tmp_path):
    archive = tmp_path / "archive"
    archive.mkdir()
    folder = saved_model(
        tmp_path / "model",
        {"model_args": {"model_name_or_path": None}, "data_args": {"data_dir": str(archive)}},
    )
    text = write_model_card(folder).read_text(encoding="utf-8")
    meta = front_matter(text)
    assert "base_model" not in meta and "datasets" not in meta and "model-index" not in meta
    assert f'model_id = "{folder.name}"' in text and str(tmp_path) not in text and "REPO_ID" not in text


SAMPLE_ARCHIVE = {"seed": 0, "scale": "default", "num_samples": 26}


def test_card_of_a_run_on_the_sample_archive_says_synthetic_in_yaml_and_text(tmp_path):
    folder = saved_model(
        tmp_path / "model",
        {
            "model_args": {"model_name_or_path": None},
            "data_args": {"dataset_name": "export", "dataset_config_name": "processed"},
            "data_source": {"archive": "export", "fingerprint": "f" * 32, "sample_archive": SAMPLE_ARCHIVE},
            "eval_split": "validation",
        },
    )
    text = write_model_card(folder, results=evaluation_results()).read_text(encoding="utf-8")
    meta = front_matter(text)
    assert "synthetic" in meta["tags"] and meta["license"] == "mit" and "datasets" not in meta
    datasets = {
        (result["dataset"]["name"], result["dataset"]["type"], result["dataset"]["config"])
        for result in meta["model-index"][0]["results"]
    }
    assert datasets == {("AHU generated sample archive (synthetic)", "ahu-sample-archive", "processed")}
    body = text.split("\n---\n", 1)[1]
    assert "> **Trained on synthetic data.**" in body and "not the AHU database" in body
    assert f"folder `export` (fingerprint `{'f' * 32}`)" in body and "no CC BY 4.0 data" in body
    # The snippet's two real inputs: an mp4, and a row of the export it was trained on.
    assert 'processor("path/to/clip.mp4"' in body and 'load_dataset("export", "processed"' in body
    assert 'processor(row["frames"]' in body


def test_card_of_a_run_on_ahu_data_is_cc_by_and_names_the_hub_dataset_and_revision(tmp_path):
    folder = saved_model(
        tmp_path / "model",
        {
            "model_args": {"model_name_or_path": str(tmp_path / "start")},
            "data_args": {"dataset_name": "someone/ahu-ultrasound", "dataset_config_name": "filtered"},
            "data_source": {"hub": "someone/ahu-ultrasound", "revision": "abc123", "sample_archive": None},
            "started_from": {"folder": "start"},
        },
    )
    text = write_model_card(folder, results=evaluation_results()).read_text(encoding="utf-8")
    meta = front_matter(text)
    assert meta["license"] == "cc-by-4.0" and "synthetic" not in meta["tags"]
    assert meta["datasets"] == ["someone/ahu-ultrasound"] and "base_model" not in meta
    assert {result["dataset"]["config"] for result in meta["model-index"][0]["results"]} == {"filtered"}
    assert "`someone/ahu-ultrasound` (Hub dataset, revision `abc123`)" in text
    assert "licensed CC BY 4.0" in text and "is MIT" in text and "Synthetic" not in text
    assert 'load_dataset("someone/ahu-ultrasound", "filtered"' in text and str(tmp_path) not in text


def test_metrics_the_trainer_logged_fill_the_model_index(tmp_path):
    """`ahu-train` evaluates at the end of training: without `results`, the card reads them from all_results.json."""
    folder = saved_model(
        tmp_path / "model",
        {"model_args": {}, "data_args": {"dataset_config_name": "processed"}, "eval_split": "validation"},
    )
    logged = {
        "eval_top1_accuracy": 0.25,
        "eval_macro_f1": 0.1,
        "test_top1_accuracy": 0.5,
        "test_top3_accuracy": 0.75,
    }
    (folder / "all_results.json").write_text(json.dumps(logged), encoding="utf-8")
    text = write_model_card(folder).read_text(encoding="utf-8")
    metrics = {
        (result["dataset"]["split"], result["dataset"]["config"], metric["name"]): metric["value"]
        for result in front_matter(text)["model-index"][0]["results"]
        for metric in result["metrics"]
    }
    assert metrics == {
        ("validation", "processed", "Top-1 accuracy (validation, clip level)"): 0.25,
        ("validation", "processed", "Macro-F1 (validation, clip level)"): 0.1,
        ("test", "processed", "Top-1 accuracy (test, clip level)"): 0.5,
        ("test", "processed", "Top-3 accuracy (test, clip level)"): 0.75,
    }
    assert "Not evaluated" not in text


PUSH_CHILD = textwrap.dedent(
    """
    import json, sys
    from huggingface_hub import hf_hub_download
    from transformers import AutoModelForVideoClassification

    import modeling_rvit  # noqa: F401
    from ahu_train.model_card import publish
    import ahu_train.models  # noqa: F401

    rvit_folder, pooling_folder, built_in_memory, user = sys.argv[1:5]
    # A plain transformers push of models loaded from folders with cards, and of a model without one.
    AutoModelForVideoClassification.from_pretrained(rvit_folder).push_to_hub(f"{user}/rvit-pushed")
    AutoModelForVideoClassification.from_pretrained(pooling_folder).push_to_hub(f"{user}/pooling-pushed")
    modeling_rvit.RViTForVideoClassification(modeling_rvit.RViTConfig(hidden_size=32, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=64)).push_to_hub(f"{user}/no-card")
    publish(rvit_folder, f"{user}/rvit-published")
    cards = {name: open(hf_hub_download(f"{user}/{name}", "README.md"), encoding="utf-8").read()
             for name in ("rvit-pushed", "pooling-pushed", "no-card", "rvit-published")}
    print(json.dumps(cards))
    """
)


@pytest.mark.slow  # a client process against the Hub emulator (~30 s on a loaded machine)
def test_our_card_survives_push_to_hub_with_the_real_repo_id(tmp_path):
    from ahu_train.models import new_video_model
    from tests.hub_emulator import EMULATOR_USER, hub_env, running_hub

    rvit_folder = saved_model(tmp_path / "rvit", {"model_args": {}, "data_args": {}})
    write_model_card(rvit_folder, results=evaluation_results(), model_name="rvit-ahu")
    pooling_folder = tmp_path / "pooling"
    new_video_model(
        "frame_pooling", 4, 32, {"embedding_size": 8, "hidden_sizes": [8], "depths": [1]}
    ).save_pretrained(pooling_folder)
    RViTVideoProcessor(size={"height": 32, "width": 32}, num_frames=4).save_pretrained(pooling_folder)
    write_model_card(pooling_folder, results=evaluation_results(), model_name="pooling-ahu")
    with running_hub(tmp_path / "hub") as endpoint:
        env = hub_env(endpoint, tmp_path / "hf_home")
        completed = subprocess.run(
            [sys.executable, "-c", PUSH_CHILD, str(rvit_folder), str(pooling_folder), "x", EMULATOR_USER],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert completed.returncode == 0, completed.stderr[-4000:]
    cards = json.loads(completed.stdout.strip().splitlines()[-1])
    for name, model_name in (
        ("rvit-pushed", "rvit-ahu"),
        ("pooling-pushed", "pooling-ahu"),
        ("rvit-published", "rvit-ahu"),
    ):
        card = cards[name]
        meta = front_matter(card)
        assert meta["model-index"][0]["name"] == model_name, name
        assert f'model_id = "{EMULATOR_USER}/{name}"' in card and "REPO_ID" not in card, name
        assert "## Training" in card and "## Results" in card, name
    # A model with no folder card gets transformers' own card, as before.
    assert "automatically generated" in cards["no-card"]


TRAINER_PUSH_CHILD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from huggingface_hub import hf_hub_download
    from transformers import TrainingArguments

    from ahu_train.model_card import publish, write_model_card
    from ahu_train.models import new_video_model
    from ahu_train.train import DataArguments, ModelArguments, run_training
    from hf_loader.export import push_export

    export_dir, work, user, secret, results = sys.argv[1:6]
    work, results = Path(work), json.loads(results)
    # No HF_TOKEN in this process: every push authenticates with the token it is given.
    push_export(export_dir, "ahu-export", token=secret)
    tiny = "patch_size=16,hidden_size=32,num_hidden_layers=1,num_attention_heads=2,intermediate_size=64"
    start = new_video_model("videomae", 4, 32, {"patch_size": 16, "hidden_size": 32, "num_hidden_layers": 1,
        "num_attention_heads": 2, "intermediate_size": 64})
    start.push_to_hub(f"{user}/videomae-start", token=secret)

    def args(name, **kwargs):
        return TrainingArguments(output_dir=str(work / name), max_steps=2, per_device_train_batch_size=2,
            per_device_eval_batch_size=8, use_cpu=True, report_to="none", disable_tqdm=True, seed=0,
            hub_token=secret, **kwargs)

    data = DataArguments(dataset_name=f"{user}/ahu-export", cache_dir=str(work / "cache"))
    # 1. run_training with push_to_hub (a checkpoint pushed while training, the finished folder at the end),
    #    fine-tuning a Hub checkpoint.
    run_training(ModelArguments(model_name_or_path=f"{user}/videomae-start"), data,
        args("videomae", do_train=True, push_to_hub=True, hub_model_id=f"{user}/videomae-ahu",
             save_strategy="steps", save_steps=1))
    # 2. A Python user's trainer.push_to_hub() after run_training, the card holding evaluation results first;
    #    the repo named without its namespace.
    result = run_training(ModelArguments(model_family="timesformer", num_frames=4, image_size=32,
        config_overrides=tiny), data, args("timesformer", hub_model_id="timesformer-ahu"))
    write_model_card(result.output_dir, results=results, model_name="timesformer-ahu")
    result.trainer.push_to_hub()
    # 3. publish() of the same folder to a repo named without its namespace.
    publish(result.output_dir, "timesformer-published", token=secret)
    def read(repo, file):
        return open(hf_hub_download(f"{user}/{repo}", file, token=secret), "rb").read().decode("latin-1")

    # publish() leaves training_args.bin out; the trainer's pushes upload it.
    files = {name: {file: read(name, file) for file in files_of_repo}
             for name, files_of_repo in (("videomae-ahu", ("README.md", "training_args.bin")),
                                         ("timesformer-ahu", ("README.md", "training_args.bin")),
                                         ("timesformer-published", ("README.md",)))}
    # What the README says of a plain push of transformers' own classes to a new repo: transformers' card.
    print(json.dumps({"files": files, "plain_push_card": read("videomae-start", "README.md")}))
    """
)


@pytest.mark.slow  # a client process trains twice and pushes to the Hub emulator (~60 s on a loaded machine)
def test_trainer_and_publish_pushes_of_transformers_classes_keep_our_card(tmp_path, sample_archive):
    from hf_loader.export import export_dataset
    from tests.hub_emulator import EMULATOR_USER, hub_env, running_hub

    secret = "hf_TokenGivenToTheTrainerOnly0123"
    export_dir = tmp_path / "export"
    export_dataset(sample_archive, export_dir, "processed", cache_dir=str(tmp_path / "cache"))
    with running_hub(tmp_path / "hub") as endpoint:
        env = hub_env(endpoint, tmp_path / "hf_home", token=None)
        completed = subprocess.run(
            [
                sys.executable,
                "-c",
                TRAINER_PUSH_CHILD,
                str(export_dir),
                str(tmp_path / "work"),
                EMULATOR_USER,
                secret,
                json.dumps(evaluation_results()),
            ],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    assert completed.returncode == 0, completed.stderr[-4000:]
    pushed = json.loads(completed.stdout.strip().splitlines()[-1])
    assert "automatically generated" in pushed["plain_push_card"]
    files = pushed["files"]
    dataset_id = f"{EMULATOR_USER}/ahu-export"
    for name, files_of_repo in files.items():
        card = files_of_repo["README.md"]
        meta = front_matter(card)
        assert meta["datasets"] == [dataset_id], name
        # The Hub dataset's card says it holds the generated sample archive: so does the model's.
        assert "synthetic" in meta["tags"] and "Trained on synthetic data" in card, name
        assert meta["pipeline_tag"] == "video-classification" and "ultrasound" in meta["tags"], name
        assert f'model_id = "{EMULATOR_USER}/{name}"' in card and "REPO_ID" not in card, name
        assert "## Training" in card and "automatically generated" not in card, name
        assert secret not in files_of_repo.get("training_args.bin", ""), name
    # Fine-tuned from a Hub checkpoint: its base model; the splits run_training evaluated in its model-index.
    assert front_matter(files["videomae-ahu"]["README.md"])["base_model"] == f"{EMULATOR_USER}/videomae-start"
    splits = {
        (result["dataset"]["type"], result["dataset"]["config"], result["dataset"]["split"])
        for result in front_matter(files["videomae-ahu"]["README.md"])["model-index"][0]["results"]
    }
    assert splits == {(dataset_id, "processed", "validation"), (dataset_id, "processed", "test")}
    assert "videomae" in front_matter(files["videomae-ahu"]["README.md"])["tags"]
    for name in ("timesformer-ahu", "timesformer-published"):
        meta = front_matter(files[name]["README.md"])
        assert "base_model" not in meta, name
        (entry,) = meta["model-index"]
        assert entry["name"] == "timesformer-ahu", name
        metrics = {
            metric["name"]: metric["type"]
            for result in entry["results"]
            for metric in result["metrics"]
            if result["dataset"]["type"] == dataset_id
        }
        assert metrics["Top-1 accuracy (test, clip level)"] == "accuracy", name
        assert metrics["Macro-F1 (test, clip level)"] == "f1", name
        assert set(metrics.values()) == {"accuracy", "f1"}, name
