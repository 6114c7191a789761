"""`scan_archive` / `scripts/scan_archive.py`: what is recognised per tier, counts, labels, problems."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
from archive_helpers import zip_folder
from PIL import Image

from hf_loader.archive_index import index_archive
from hf_loader.scan_report import scan_archive

REPO_ROOT = Path(__file__).resolve().parents[1]


def _jpeg(color=(200, 100, 50), size=(32, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_scan_of_the_sample_archive_folder_counts_every_tier_and_label(sample_archive, sample_manifest):
    report = scan_archive(sample_archive)
    samples = sample_manifest["samples"]
    assert set(report.tiers) == {"raw", "filtered", "processed"}
    for tier in ("raw", "filtered", "processed"):
        assert report.tiers[tier].num_entries == len(samples)
    assert report.tiers["filtered"].kinds == dict(Counter(s["kind"] for s in samples))
    assert report.tiers["processed"].kinds == report.tiers["filtered"].kinds
    assert report.tiers["processed"].primary_labels == dict(Counter(s["primary_label"] for s in samples))
    assert report.tiers["filtered"].all_labels == dict(Counter(l for s in samples for l in s["labels"]))
    assert report.tiers["processed"].metadata == ["noise_files.txt"]
    assert report.linked == len(samples)
    assert report.problems == []
    # The folder holds the tiers twice (folders and zips): the zips are not read again.
    assert len(report.shadowed) == 3
    assert any(path.endswith("manifest.json") for path in report.ignored)


def test_scan_of_the_zips_alone_finds_the_same_entries(sample_archive, sample_manifest, tmp_path):
    for name in ("raw.zip", "filtered.zip", "processed.zip"):
        shutil.copy2(sample_archive / name, tmp_path / name)
    report = scan_archive(tmp_path)
    assert {tier: summary.num_entries for tier, summary in report.tiers.items()} == {
        "raw": len(sample_manifest["samples"]),
        "filtered": len(sample_manifest["samples"]),
        "processed": len(sample_manifest["samples"]),
    }
    assert report.tiers["processed"].sources == [str(tmp_path / "processed.zip")]
    assert report.problems == [] and report.shadowed == []


def test_zips_without_top_folder_and_tolerant_names_are_recognised(tmp_path):
    processed = tmp_path / "src" / "processed"
    (processed / "0012_cyst, stone").mkdir(parents=True)
    (processed / "0012_cyst, stone" / "1.png").write_bytes(_jpeg())
    (processed / "0012_cyst, stone" / "2.png").write_bytes(_jpeg())
    (processed / "7_STONE").mkdir()
    np.save(processed / "7_STONE" / "001.npy", np.zeros((8, 8, 3), np.uint8))
    (processed / "noise_files.txt").write_text("Subdirectory: 12_Cyst,Stone\n/a/b/12_Cyst,Stone/02.jpg\n")
    filtered = tmp_path / "src" / "filtered"
    (filtered / "Photos_0004_polyp").mkdir(parents=True)
    (filtered / "Photos_0004_polyp" / "a.jpg").write_bytes(_jpeg())
    (filtered / "video_3_Tumor,cyst.MP4").write_bytes(b"not decoded by the scan")
    data = tmp_path / "data"
    data.mkdir()
    zip_folder(processed, data / "processed.zip", top_folder=False)
    zip_folder(filtered, data / "AHU_filtered (1).zip", top_folder=False)

    index = index_archive(data)
    processed_entries = {e.sample_id: e for e in index.tiers["processed"].entries}
    assert set(processed_entries) == {7, 12}
    assert processed_entries[12].labels == ("Cyst", "Stone")
    assert processed_entries[12].media == ("0012_cyst, stone/1.png", "0012_cyst, stone/2.png")
    assert "noise_files.txt" in index.tiers["processed"].metadata
    filtered_entries = {e.sample_id: (e.kind, e.labels) for e in index.tiers["filtered"].entries}
    assert filtered_entries == {3: ("video", ("Tumor", "Cyst")), 4: ("image_set", ("Polyp",))}
    assert index.problems == []


def test_a_zip_named_after_nothing_is_recognised_by_content(tmp_path):
    with zipfile.ZipFile(tmp_path / "download.zip", "w") as archive:
        archive.writestr("Video_1_Cyst.mp4", b"x")
        archive.writestr("Photos_2_Stone/01.jpg", _jpeg())
        archive.writestr("3_Hernia/01.jpg", _jpeg())
        archive.writestr("noise_files.txt", "")
        archive.writestr("医院/V1/comments.xlsx", b"x")
        archive.writestr("医院/V1/V1.mp4", b"x")
    index = index_archive(tmp_path / "download.zip")
    assert [e.name for e in index.tiers["filtered"].entries] == ["Video_1_Cyst.mp4", "Photos_2_Stone"]
    assert [e.name for e in index.tiers["processed"].entries] == ["3_Hernia"]
    assert [(e.name, e.creator, e.kind) for e in index.tiers["raw"].entries] == [("医院/V1", "医院", "video")]


def test_scan_lists_every_unusable_entry_with_its_reason(tmp_path):
    filtered = tmp_path / "filtered"
    filtered.mkdir()
    (filtered / "Video_1_Cyst.mp4").write_bytes(b"x")
    (filtered / "Video_2_Cancer.mp4").write_bytes(b"x")
    (filtered / "clip.mp4").write_bytes(b"x")
    (filtered / "Photos_3_Stone").mkdir()
    (filtered / "readme.txt").write_text("hello")
    report = scan_archive(tmp_path)
    reasons = {Path(entry.split("::")[-1]).name: reason for entry, reason, _ in report.problems}
    assert reasons == {
        "Video_2_Cancer.mp4": "unknown label",
        "clip.mp4": "unparsable name",
        "Photos_3_Stone": "empty sample",
    }
    assert report.tiers["filtered"].num_entries == 1
    assert report.problem_counts == {"unknown label": 1, "unparsable name": 1, "empty sample": 1}
    assert any(path.endswith("readme.txt") for path in report.ignored)
    text = str(report)
    assert "Unusable entries: 3" in text and "'Cancer'" in text


def test_scan_script_prints_the_report_and_fails_on_problems(tmp_path):
    (tmp_path / "processed" / "5_Cyst").mkdir(parents=True)
    (tmp_path / "processed" / "5_Cyst" / "01.jpg").write_bytes(_jpeg())
    (tmp_path / "processed" / "6_Cist").mkdir()
    (tmp_path / "processed" / "6_Cist" / "01.jpg").write_bytes(_jpeg())
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "scan_archive.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "[processed] 1 entries" in result.stdout
    assert "[unknown label]" in result.stdout and "6_Cist" in result.stdout


def test_entries_in_label_subfolders_are_found_and_problems_give_full_paths(tmp_path):
    (tmp_path / "filtered" / "Tumor").mkdir(parents=True)
    (tmp_path / "filtered" / "Tumor" / "Video_1_Tumor.mp4").write_bytes(b"x")
    (tmp_path / "filtered" / "Stone" / "Photos_2_Stone").mkdir(parents=True)
    (tmp_path / "filtered" / "Stone" / "Photos_2_Stone" / "01.jpg").write_bytes(_jpeg())
    (tmp_path / "processed" / "part1" / "3_Cyst").mkdir(parents=True)
    (tmp_path / "processed" / "part1" / "3_Cyst" / "01.jpg").write_bytes(_jpeg())
    (tmp_path / "processed" / "part1" / "4_Cist").mkdir(parents=True)
    (tmp_path / "processed" / "part1" / "4_Cist" / "01.jpg").write_bytes(_jpeg())
    index = index_archive(tmp_path)
    assert [(e.sample_id, e.kind) for e in index.tiers["filtered"].entries] == [
        (1, "video"),
        (2, "image_set"),
    ]
    assert [e.location for e in index.tiers["processed"].entries] == [
        str(tmp_path / "processed" / "part1" / "3_Cyst")
    ]
    assert [problem.entry for problem in index.problems] == [str(tmp_path / "processed" / "part1" / "4_Cist")]
    assert str(index.problems[0].error).startswith(str(tmp_path / "processed" / "part1" / "4_Cist") + ":")
