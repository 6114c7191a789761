"""The training command line (`ahu-train`, scripts/train_rvit.py): what it leaves on disk."""

from __future__ import annotations

import importlib.util
from pathlib import Path

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
