"""A run's data contract is checked: evaluation scores the run's own split, resuming continues on the run's own
data, and the contract names its data without a local path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ahu_train.data import TrainingDataError
from hf_loader.errors import AHUDataError

TINY_MODEL = {
    "num_frames": 4,
    "image_size": 32,
    "config_overrides": "hidden_size=32,num_hidden_layers=1,num_attention_heads=2,intermediate_size=64",
}


@pytest.fixture(scope="module")
def data_cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("hf_datasets_cache"))


def train_tiny(output_dir, data_dir, data_cache, callbacks=None, data_kwargs=None, **training_kwargs):
    """A few steps of `run_training` of a tiny RViT; returns the `TrainingRunResult`."""
    from transformers import TrainingArguments

    from ahu_train.train import DataArguments, ModelArguments, run_training

    defaults = {
        "max_steps": 2,
        "per_device_train_batch_size": 4,
        "per_device_eval_batch_size": 8,
        "use_cpu": True,
        "report_to": "none",
        "seed": 0,
        "save_strategy": "no",
        "disable_tqdm": True,
        "remove_unused_columns": False,
    }
    args = TrainingArguments(output_dir=str(output_dir), **{**defaults, **training_kwargs})
    data_args = DataArguments(data_dir=str(data_dir), cache_dir=data_cache, **(data_kwargs or {}))
    return run_training(ModelArguments(**TINY_MODEL), data_args, args, callbacks=callbacks)


@pytest.fixture(scope="module")
def archive(sample_archive, tmp_path_factory) -> Path:
    """A copy of the sample archive beside the runs (the model folder finds it by its relative place)."""
    return Path(shutil.copytree(sample_archive, tmp_path_factory.mktemp("data") / "ahu_archive"))


@pytest.fixture(scope="module")
def run_with_checkpoint(archive, data_cache, tmp_path_factory) -> Path:
    """A run of 4 steps on `archive` that saved checkpoint-2 on the way (as an interrupted one would have)."""
    output_dir = tmp_path_factory.mktemp("runs") / "tiny"
    train_tiny(output_dir, archive, data_cache, max_steps=4, save_strategy="steps", save_steps=2)
    assert (output_dir / "checkpoint-2").is_dir()
    return output_dir


def evaluate(model: Path, out: Path, *extra: str) -> dict:
    from ahu_train.cli.evaluate_rvit import run

    return run(["--model", str(model), "--out", str(out), "--no_video_level", "--num_resamples", "0", *extra])


def _model_copy(run: Path, tmp_path: Path) -> Path:
    """The run folder copied beside the original (its contract's relative data location still resolves)."""
    copy = run.parent / f"{run.name}-{tmp_path.name}"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("checkpoint-*"))
    return copy


def test_contract_names_its_data_by_folder_name_and_fingerprint_not_by_local_path(
    run_with_checkpoint, archive
):
    from hf_loader.archive_fingerprint import archive_fingerprint

    text = (run_with_checkpoint / "data_contract.json").read_text(encoding="utf-8")
    assert str(archive.parent) not in text and str(run_with_checkpoint.parent) not in text
    assert "/tmp" not in text and str(Path.home()) not in text
    dataset = json.loads(text)["dataset"]
    assert dataset["source"] == {"archive": "ahu_archive", "fingerprint": archive_fingerprint(archive)}
    assert not Path(dataset["location"]).is_absolute()
    checkpoint_contract = json.loads(
        (run_with_checkpoint / "checkpoint-2" / "data_contract.json").read_text()
    )
    assert checkpoint_contract["dataset"] == dataset


def test_evaluation_of_the_runs_own_split_passes_the_contract_check(
    run_with_checkpoint, data_cache, tmp_path
):
    results = evaluate(run_with_checkpoint, tmp_path / "eval", "--cache_dir", data_cache)
    assert list(results) == ["test/clip"]


def test_evaluation_refuses_contract_ids_the_data_lack_or_ids_it_does_not_list(
    run_with_checkpoint, data_cache, tmp_path
):
    model = _model_copy(run_with_checkpoint, tmp_path)
    contract = json.loads((model / "data_contract.json").read_text())
    test_ids = contract["sample_ids"]["test"]
    dropped = test_ids.pop()
    contract["sample_ids"]["test"] = [*test_ids, "99991", "99992"]
    (model / "data_contract.json").write_text(json.dumps(contract))
    with pytest.raises(AHUDataError) as caught:
        evaluate(model, tmp_path / "eval", "--cache_dir", data_cache)
    message = str(caught.value)
    assert "99991" in message and "99992" in message and "lacks 2 sample ids" in message
    assert f"holds 1 sample ids the contract does not list ({dropped})" in message
    assert "--allow_contract_mismatch" in message
    results = evaluate(model, tmp_path / "eval", "--cache_dir", data_cache, "--allow_contract_mismatch")
    assert "test/clip" in results


def test_evaluation_refuses_data_whose_fingerprint_changed(run_with_checkpoint, data_cache, tmp_path):
    model = _model_copy(run_with_checkpoint, tmp_path)
    contract = json.loads((model / "data_contract.json").read_text())
    contract["dataset"]["source"]["fingerprint"] = "0" * 32
    (model / "data_contract.json").write_text(json.dumps(contract))
    with pytest.raises(AHUDataError, match="fingerprint 0{32}.*--allow_contract_mismatch"):
        evaluate(model, tmp_path / "eval", "--cache_dir", data_cache)


def test_evaluation_says_where_the_data_went_when_the_model_moved(run_with_checkpoint, data_cache, tmp_path):
    moved = Path(shutil.copytree(run_with_checkpoint, tmp_path / "a" / "b" / "c" / "moved"))
    with pytest.raises(TrainingDataError, match="archive 'ahu_archive'.*give --data_dir"):
        evaluate(moved, tmp_path / "eval", "--cache_dir", data_cache)


def test_resuming_on_another_archive_is_refused_naming_what_differs(
    run_with_checkpoint, other_archive, data_cache, tmp_path
):
    output_dir = _model_copy(run_with_checkpoint, tmp_path)
    shutil.copytree(run_with_checkpoint / "checkpoint-2", output_dir / "checkpoint-2")
    with pytest.raises(AHUDataError) as caught:
        train_tiny(
            output_dir,
            other_archive,
            data_cache,
            max_steps=4,
            resume_from_checkpoint=str(output_dir / "checkpoint-2"),
        )
    message = str(caught.value)
    assert "resuming from" in message and "archive_b" in message and "ahu_archive" in message
    assert "split 'train'" in message and "--allow_contract_mismatch" in message
    result = train_tiny(
        output_dir,
        other_archive,
        data_cache,
        max_steps=4,
        resume_from_checkpoint=str(output_dir / "checkpoint-2"),
        data_kwargs={"allow_contract_mismatch": True},
    )
    assert result.trainer.state.global_step == 4
    contract = json.loads((output_dir / "data_contract.json").read_text())
    assert contract["dataset"]["source"]["archive"] == "archive_b"
    assert contract["resumed_from"]["dataset"]["source"]["archive"] == "ahu_archive"
    assert contract["resumed_from"]["differences"]


def test_resuming_with_another_split_is_refused(run_with_checkpoint, archive, data_cache, tmp_path):
    output_dir = _model_copy(run_with_checkpoint, tmp_path)
    shutil.copytree(run_with_checkpoint / "checkpoint-2", output_dir / "checkpoint-2")
    with pytest.raises(AHUDataError, match="the split: recorded"):
        train_tiny(
            output_dir,
            archive,
            data_cache,
            max_steps=4,
            resume_from_checkpoint=str(output_dir / "checkpoint-2"),
            data_kwargs={"split_scheme": "paper"},
            eval_strategy="no",
        )


def test_empty_validation_split_with_evaluation_on_is_an_error_not_eval_on_test(
    archive, data_cache, tmp_path
):
    with pytest.raises(TrainingDataError, match="no validation split.*--eval_split test"):
        train_tiny(
            tmp_path / "run",
            archive,
            data_cache,
            data_kwargs={"split_fractions": "0.8,0,0.2"},
            eval_strategy="steps",
            eval_steps=1,
        )
