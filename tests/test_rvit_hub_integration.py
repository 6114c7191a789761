"""A saved RViT folder works like a Hub model: remote code where this package is absent, and the pipeline.

The remote-code half runs in a child Python whose import system cannot see this project (its editable-install
finder and the repository are taken off the import path, and the child checks that `modeling_rvit` cannot be
found), offline, in an empty working directory, so it can only use the code that `save_pretrained` copied.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from child_process import HIDE_PROJECT
from test_video_processing_rvit import write_mp4

from modeling_rvit import AHU_LABELS, RViTConfig, RViTForVideoClassification, RViTVideoProcessor

REPO_ROOT = Path(__file__).resolve().parents[1]

# A tiny RViT (the paper's layout at toy size) so that saving, loading and the pipeline take seconds.
TINY_CONFIG = {
    "image_size": 32,
    "patch_size": 8,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "num_frames": 6,
}

CHILD_SCRIPT = HIDE_PROJECT + textwrap.dedent(
    """
    import json, sys

    repo_root, folder, video = sys.argv[1:4]
    hide_project(repo_root)

    import torch
    from transformers import AutoModelForVideoClassification, AutoVideoProcessor, pipeline

    model = AutoModelForVideoClassification.from_pretrained(folder, trust_remote_code=True).eval()
    processor = AutoVideoProcessor.from_pretrained(folder, trust_remote_code=True)
    with torch.no_grad():
        logits = model(**processor(video, return_tensors="pt")).logits
    classifier = pipeline("video-classification", model=folder, trust_remote_code=True)
    print(json.dumps({
        "model_class": type(model).__name__,
        "model_module": type(model).__module__,
        "processor_class": type(processor).__name__,
        "processor_module": type(processor).__module__,
        "pipeline_processor_class": type(classifier.video_processor).__name__,
        "logits": logits.tolist(),
        "predictions": classifier(video, top_k=3),
    }))
    """
)


@pytest.fixture(scope="module")
def saved_folder(tmp_path_factory) -> Path:
    """A tiny trained-looking RViT and its video processor, saved with `auto_map` and their code."""
    torch.manual_seed(0)
    model = RViTForVideoClassification(RViTConfig(**TINY_CONFIG)).eval()
    processor = RViTVideoProcessor(size={"height": 32, "width": 32}, num_frames=TINY_CONFIG["num_frames"])
    folder = tmp_path_factory.mktemp("rvit-tiny")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return write_mp4(tmp_path_factory.mktemp("video") / "clip.mp4", num_frames=9)


@pytest.fixture(scope="module")
def in_process_logits(saved_folder, video) -> torch.Tensor:
    model = RViTForVideoClassification.from_pretrained(saved_folder).eval()
    processor = RViTVideoProcessor.from_pretrained(saved_folder)
    with torch.no_grad():
        return model(**processor(str(video), return_tensors="pt")).logits


@pytest.fixture(scope="module")
def remote_code_run(saved_folder, video, tmp_path_factory) -> dict:
    """Runs CHILD_SCRIPT once; returns what it printed (classes, logits, pipeline predictions)."""
    workdir = tmp_path_factory.mktemp("child")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(
        HF_HUB_OFFLINE="1", HF_HOME=str(workdir / "hf_home"), HF_MODULES_CACHE=str(workdir / "modules")
    )
    completed = subprocess.run(
        [sys.executable, "-I", "-c", CHILD_SCRIPT, str(REPO_ROOT), str(saved_folder), str(video)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert completed.returncode == 0, f"child failed:\n{completed.stderr[-4000:]}"
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_saved_folder_holds_code_and_auto_maps(saved_folder):
    config = json.loads((saved_folder / "config.json").read_text())
    processor_config = json.loads((saved_folder / "video_preprocessor_config.json").read_text())
    assert config["auto_map"]["AutoModelForVideoClassification"] == "modeling_rvit.RViTForVideoClassification"
    assert processor_config["auto_map"]["AutoVideoProcessor"] == "video_processing_rvit.RViTVideoProcessor"
    for code_file in (
        "configuration_rvit.py",
        "modeling_rvit.py",
        "video_processing_rvit.py",
        "ahu_labels.py",
        "ultrasound_frames.py",
    ):
        assert (saved_folder / code_file).is_file(), code_file


@pytest.mark.slow  # the child imports torch and transformers afresh (~15 s on a loaded machine)
def test_remote_code_loads_model_and_processor_without_the_package(remote_code_run):
    assert remote_code_run["model_class"] == "RViTForVideoClassification"
    assert remote_code_run["processor_class"] == "RViTVideoProcessor"
    assert remote_code_run["model_module"].startswith("transformers_modules.")
    assert remote_code_run["processor_module"].startswith("transformers_modules.")


@pytest.mark.slow
def test_remote_code_gives_the_in_process_logits(remote_code_run, in_process_logits):
    remote_logits = torch.tensor(remote_code_run["logits"])
    assert remote_logits.shape == (1, len(AHU_LABELS))
    torch.testing.assert_close(remote_logits, in_process_logits, rtol=0, atol=1e-5)


@pytest.mark.slow
def test_remote_code_pipeline_uses_our_video_processor(remote_code_run, in_process_logits):
    assert remote_code_run["pipeline_processor_class"] == "RViTVideoProcessor"
    predictions = remote_code_run["predictions"]
    expected = in_process_logits[0].softmax(-1).topk(3)
    assert [p["label"] for p in predictions] == [AHU_LABELS[i] for i in expected.indices.tolist()]
    assert [p["score"] for p in predictions] == pytest.approx(expected.values.tolist(), abs=1e-5)


def test_pipeline_with_the_package_imported_needs_no_remote_code(saved_folder, video, in_process_logits):
    from transformers import pipeline

    classifier = pipeline("video-classification", model=str(saved_folder))
    assert type(classifier.model) is RViTForVideoClassification
    assert type(classifier.video_processor) is RViTVideoProcessor
    predictions = classifier(str(video), top_k=5)
    expected = in_process_logits[0].softmax(-1).topk(5)
    assert [p["label"] for p in predictions] == [AHU_LABELS[i] for i in expected.indices.tolist()]
    assert [p["score"] for p in predictions] == pytest.approx(expected.values.tolist(), abs=1e-5)
    assert all(a["score"] >= b["score"] for a, b in itertools.pairwise(predictions))
