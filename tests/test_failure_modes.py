"""Failures a new user meets: each gives a message naming the file and the fix, and leaves nothing half-written."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from archive_helpers import copy_samples

from hf_loader import AHUUltrasound
from hf_loader.errors import DuplicateSampleError, OutOfSpaceError

REPO_ROOT = Path(__file__).resolve().parents[1]


def _samples(manifest, kind: str, count: int) -> list[int]:
    return [s["sample_id"] for s in manifest["samples"] if s["kind"] == kind][:count]


@pytest.fixture
def small_archive(sample_archive, sample_manifest, tmp_path) -> Path:
    """Three videos and one image set of the sample archive, all three tiers."""
    chosen = sorted(_samples(sample_manifest, "video", 3) + _samples(sample_manifest, "image_set", 1))
    return copy_samples(sample_archive, tmp_path / "archive", chosen, tiers=("raw", "filtered", "processed"))


def _rewrite_rename_table_without_links(path: Path) -> None:
    from openpyxl import Workbook, load_workbook

    rows = list(load_workbook(path).active.iter_rows(values_only=True))
    workbook = Workbook()
    for row in rows:
        workbook.active.append(list(row[:2]))  # original_path, encoded_path; the filtered_name column dropped
    workbook.save(path)


def test_raw_config_with_a_rename_table_without_its_link_column_warns_naming_the_file(
    small_archive, tmp_path, caplog
):
    table = small_archive / "raw" / "rename.xlsx"
    _rewrite_rename_table_without_links(table)
    builder = AHUUltrasound(
        config_name="raw",
        data_dir=str(small_archive),
        cache_dir=str(tmp_path / "cache"),
        split_scheme="paper",
    )
    with caplog.at_level(logging.WARNING, logger="hf_loader.builder"):
        builder.download_and_prepare()
    assert "rename.xlsx" in caplog.text and "filtered_name" in caplog.text and "sample_id None" in caplog.text
    assert any("filtered_name" in note for note in builder.skipped.notes)
    rows = [row for split in builder.as_dataset().values() for row in split]
    assert rows and all(row["sample_id"] is None for row in rows)  # as warned


def test_lenient_per_split_skip_counts_are_per_split_not_cumulative(small_archive, tmp_path, caplog):
    for folder in (small_archive / "processed").glob("*_*/"):
        first = min(folder.glob("*.jpg"))
        first.write_bytes(b"not a jpeg")  # every sample corrupt: one skip in whichever split it falls
    builder = AHUUltrasound(
        config_name="processed",
        data_dir=str(small_archive),
        cache_dir=str(tmp_path / "cache"),
        errors="skip",
        split_scheme="paper",
    )
    with caplog.at_level(logging.WARNING, logger="hf_loader.builder"):
        builder.download_and_prepare()
    per_split = [
        record.getMessage() for record in caplog.records if record.getMessage().startswith("AHU processed/")
    ]
    assert len(per_split) == 2, per_split  # train and test
    counted = sum(int(message.split("skipped ")[1].split(" ")[0]) for message in per_split)
    assert counted == len(builder.skipped) == 4


def test_a_lenient_duplicate_pair_is_reported_once(small_archive, tmp_path):
    original = min((small_archive / "processed").glob("*_*/"))
    number = int(original.name.split("_")[0])
    shutil.copytree(original, original.parent / f"0{number}_Cyst")
    builder = AHUUltrasound(
        config_name="processed",
        data_dir=str(small_archive),
        cache_dir=str(tmp_path / "cache"),
        errors="skip",
        split_scheme="paper",
    )
    builder.download_and_prepare()
    report = str(builder.skipped)
    assert report.count(f"sample number {number} is used by 2") == 1, report


def test_preprocessing_refuses_two_videos_with_one_sample_number_and_other_labels(sample_archive, tmp_path):
    from hf_loader.processed_tier import preprocess_tier

    filtered = tmp_path / "filtered"
    filtered.mkdir()
    video = min((sample_archive / "filtered").glob("Video_*.mp4"))
    shutil.copyfile(video, filtered / "Video_5_Cyst.mp4")
    shutil.copyfile(video, filtered / "Video_5_Nodule.mp4")
    with pytest.raises(
        DuplicateSampleError, match=r"Video_5_Cyst\.mp4 and Video_5_Nodule\.mp4.*sample number 5"
    ):
        preprocess_tier(filtered, tmp_path / "processed", num_workers=1, progress=False)
    assert not [path for path in (tmp_path / "processed").iterdir() if not path.name.startswith(".")]


def test_disk_full_during_preprocessing_names_the_folder_and_leaves_no_part_files(
    sample_archive, tmp_path, monkeypatch
):
    from PIL import Image

    from hf_loader.processed_tier import STATE_DIR_NAME, preprocess_tier

    filtered = tmp_path / "filtered"
    filtered.mkdir()
    video = min((sample_archive / "filtered").glob("Video_*.mp4"))
    shutil.copyfile(video, filtered / video.name)
    original_save = Image.Image.save
    saved = 0

    def fill_the_disk(self, fp, *args, **kwargs):
        nonlocal saved
        saved += 1
        if saved == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", fill_the_disk)
    out = tmp_path / "processed"
    with pytest.raises(OutOfSpaceError) as caught:
        preprocess_tier(filtered, out, num_workers=1, lenient=True, progress=False)  # lenient stops too
    message = str(caught.value)
    assert str(out) in message and "disk is full" in message and "free space" in message
    assert list((out / STATE_DIR_NAME).iterdir()) == []  # no temporary frame folder, no marker
    assert [path.name for path in out.iterdir()] == [STATE_DIR_NAME]


def test_truncated_safetensors_is_named_with_the_fix(tmp_path):
    from ahu_train.models import ModelLoadError, load_pretrained_model
    from modeling_rvit import RViTConfig, RViTForVideoClassification

    config = RViTConfig(
        num_frames=4,
        image_size=32,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    RViTForVideoClassification(config).save_pretrained(tmp_path / "model")
    weights = tmp_path / "model" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(
        ModelLoadError, match="truncated or corrupt.*download or save the model again"
    ) as caught:
        load_pretrained_model(str(tmp_path / "model"))
    assert str(weights) in str(caught.value)


def test_offline_mode_with_an_uncached_model_id_says_so(tmp_path):
    code = (
        "from ahu_train.models import load_pretrained_model\n"
        "load_pretrained_model('someone/not-cached-rvit')\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "ModelLoadError" in last and "someone/not-cached-rvit" in last and "HF_HUB_OFFLINE=1" in last, last


def test_sample_archive_module_prints_help():
    result = subprocess.run(
        [sys.executable, "-m", "hf_loader.sample_archive", "--help"],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0 and "--out" in result.stdout and "--seed" in result.stdout
