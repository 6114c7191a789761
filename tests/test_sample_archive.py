"""The sample archive: deterministic, readable by the real readers, and true to its manifest."""

from __future__ import annotations

import hashlib
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hf_loader.constants import LABELS, NOISE_LIST_NAME
from hf_loader.sample_archive import (
    CREATOR_FILL,
    REPLY_PREFIX,
    SampleArchiveError,
    load_manifest,
    make_sample_archive,
)
from modeling_rvit.ultrasound_frames import FRAME_SIZE, FRAME_STRIDE

SMALL = 4  # samples in the archives built only to compare seeds


def _hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def small_archives(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("seeds")
    return {
        name: make_sample_archive(root / name, seed=seed, num_samples=SMALL)
        # "c" between the two seed-0 runs: the output must not depend on what ran before.
        for name, seed in (("a", 0), ("c", 1), ("b", 0))
    }


def _tier_files(root: Path, tier: str) -> set[str]:
    return {p.relative_to(root).as_posix() for p in (root / tier).rglob("*") if p.is_file()}


def test_same_seed_gives_byte_identical_files(small_archives):
    first, second = _hashes(small_archives["a"]), _hashes(small_archives["b"])
    assert len(first) > 20
    assert first.keys() == second.keys()
    differing = [name for name in first if first[name] != second[name]]
    assert differing == []


def test_different_seed_gives_different_files(small_archives):
    first, other = _hashes(small_archives["a"]), _hashes(small_archives["c"])
    assert set(first.values()) != set(other.values())
    assert load_manifest(small_archives["a"])["samples"] != load_manifest(small_archives["c"])["samples"]


def test_tier_folders_hold_exactly_the_manifest_entries(sample_archive, sample_manifest):
    samples = sample_manifest["samples"]
    filtered = {p.name for p in (sample_archive / "filtered").iterdir()}
    assert filtered == {Path(s["filtered_path"]).name for s in samples}
    processed = {p.name for p in (sample_archive / "processed").iterdir() if p.is_dir()}
    assert processed == {Path(s["processed_path"]).name for s in samples}
    for sample in samples:
        raw_dir = sample_archive / sample["raw_path"]
        assert sorted(p.name for p in raw_dir.iterdir()) == sorted([*sample["raw_files"], "comments.xlsx"])
        assert raw_dir.parent.name == sample["creator"]
        assert raw_dir.name == sample["post_code"]


def test_raw_posts_hold_the_same_media_as_the_filtered_entries(sample_archive, sample_manifest):
    for sample in sample_manifest["samples"]:
        raw = [(sample_archive / sample["raw_path"] / name).read_bytes() for name in sample["raw_files"]]
        filtered = sample_archive / sample["filtered_path"]
        if sample["kind"] == "video":
            assert sample["raw_files"] == [f"{sample['post_code']}.mp4"]
            assert raw == [filtered.read_bytes()]
        else:
            assert sample["raw_files"][0] == f"{sample['post_code']}_01.jpg"
            assert raw == [p.read_bytes() for p in sorted(filtered.iterdir())]


def test_names_carry_number_and_labels(sample_manifest):
    for sample in sample_manifest["samples"]:
        labels = ",".join(sample["labels"])
        prefix = "Video" if sample["kind"] == "video" else "Photos"
        suffix = ".mp4" if sample["kind"] == "video" else ""
        assert Path(sample["filtered_path"]).name == f"{prefix}_{sample['sample_id']}_{labels}{suffix}"
        assert Path(sample["processed_path"]).name == f"{sample['sample_id']}_{labels}"
        assert sample["primary_label"] == sample["labels"][0]
    ids = [s["sample_id"] for s in sample_manifest["samples"]]
    assert ids == list(range(1, len(ids) + 1))


def test_every_video_decodes_with_manifest_frame_count_and_fps(sample_archive, sample_manifest):
    import av

    videos = [s for s in sample_manifest["samples"] if s["kind"] == "video"]
    assert videos
    width, height = sample_manifest["video"]["width"], sample_manifest["video"]["height"]
    for sample in videos:
        for path in (
            sample_archive / sample["filtered_path"],
            sample_archive / sample["raw_path"] / sample["raw_files"][0],
        ):
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                assert stream.codec_context.name == "h264"
                assert stream.average_rate == sample["fps"] == 30
                frames = list(container.decode(stream))
            assert len(frames) == sample["num_source_frames"], path
            assert (frames[0].width, frames[0].height) == (width, height)
            assert frames[0].format.name == "yuv420p"


def test_every_jpeg_opens_and_processed_frames_are_224_rgb(sample_archive, sample_manifest):
    for sample in sample_manifest["samples"]:
        processed_dir = sample_archive / sample["processed_path"]
        assert sorted(p.name for p in processed_dir.iterdir()) == sample["processed_frames"]
        for name in sample["processed_frames"]:
            with Image.open(processed_dir / name) as image:
                assert image.format == "JPEG"
                assert image.mode == "RGB"
                assert image.size == (FRAME_SIZE, FRAME_SIZE)
        if sample["kind"] == "video":
            assert len(sample["processed_frames"]) == math.ceil(sample["num_source_frames"] / FRAME_STRIDE)
        else:
            assert 3 <= sample["num_source_frames"] <= 6
            assert len(sample["processed_frames"]) == sample["num_source_frames"]
            images = sorted((sample_archive / sample["filtered_path"]).iterdir())
            assert len(images) == sample["num_source_frames"]
            for path in images:
                with Image.open(path) as image:
                    image.load()
                    assert image.format == "JPEG"
                    assert list(image.size) == sample["us_box"][2:]


def test_processed_frames_are_the_us_box_crop_of_every_tenth_frame(sample_archive, sample_manifest):
    import av

    sample = next(s for s in sample_manifest["samples"] if s["kind"] == "video")
    x0, y0, x1, y1 = sample["us_box"]
    with av.open(str(sample_archive / sample["filtered_path"])) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    for number, name in enumerate(sample["processed_frames"]):
        crop = Image.fromarray(decoded[number * FRAME_STRIDE][y0:y1, x0:x1]).resize((FRAME_SIZE, FRAME_SIZE))
        truth = np.asarray(Image.open(sample_archive / sample["processed_path"] / name), np.float32)
        # Only the video codec and JPEG separate the two.
        assert np.abs(np.asarray(crop, np.float32) - truth).mean() < 8, name


def test_noise_list_names_exactly_the_manifest_noise_frames(sample_archive, sample_manifest):
    text = (sample_archive / "processed" / NOISE_LIST_NAME).read_text(encoding="utf-8")
    listed: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("Subdirectory: "):
            current = line.removeprefix("Subdirectory: ")
            listed[current] = []
        elif line.strip():
            assert line.startswith("/") and Path(line).parent.name == current
            listed[current].append(Path(line).name)
    expected = {
        Path(s["processed_path"]).name: s["noise_frames"]
        for s in sample_manifest["samples"]
        if s["noise_frames"]
    }
    assert expected
    assert listed == expected


def test_noise_frames_follow_the_segment_schedule_and_stay_a_minority(sample_manifest):
    for sample in sample_manifest["samples"]:
        in_segment = {i for seg in sample["segments"] for i in range(seg["start_frame"], seg["stop_frame"])}
        expected = [
            name for k, name in enumerate(sample["processed_frames"]) if k * FRAME_STRIDE in in_segment
        ]
        assert sample["noise_frames"] == expected
        assert len(sample["noise_frames"]) < len(sample["processed_frames"]) / 2
        if sample["segments"]:
            assert 0.1 <= len(in_segment) / sample["num_source_frames"] <= 0.3 + 1e-9
        if sample["kind"] == "image_set":
            assert sample["segments"] == [] and sample["noise_frames"] == []


def test_all_labels_appear_long_tailed_with_multi_label_samples(sample_manifest):
    samples = sample_manifest["samples"]
    primaries = [s["primary_label"] for s in samples]
    assert set(primaries) == set(LABELS)
    counts = sorted((primaries.count(label) for label in LABELS), reverse=True)
    assert counts[0] >= 3 and counts[-1] == 1
    assert any(len(s["labels"]) == 2 and s["labels"][0] != s["labels"][1] for s in samples)
    assert all(set(s["labels"]) <= set(LABELS) for s in samples)
    assert all(s["kind"] == "video" for s in samples if "Vascular" in s["labels"])
    assert {"video", "image_set"} <= {s["kind"] for s in samples}


def test_us_box_lies_inside_the_frame(sample_manifest):
    width, height = sample_manifest["video"]["width"], sample_manifest["video"]["height"]
    boxes = []
    for sample in sample_manifest["samples"]:
        if sample["kind"] != "video":
            continue
        x0, y0, x1, y1 = sample["us_box"]
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
        boxes.append((x0, y0, x1, y1))
    assert len(set(boxes)) > 1


def test_comment_tables_read_with_openpyxl_including_indent_and_fill(sample_archive, sample_manifest):
    from openpyxl import load_workbook

    seen = {"reply": 0, "creator": 0, "liked": 0, "empty": 0}
    for sample in sample_manifest["samples"]:
        sheet = load_workbook(sample_archive / sample["raw_path"] / "comments.xlsx").active
        rows = list(sheet.iter_rows())
        assert [c.value for c in rows[0]] == ["comment", "likes", "liked_by_creator", "time"]
        comments = sample["comments"]
        assert len(rows) - 1 == len(comments) <= 8
        seen["empty"] += not comments
        for row, comment in zip(rows[1:], comments):
            cell = row[0]
            if comment["depth"]:
                seen["reply"] += 1
                assert cell.alignment.indent == 1
                assert cell.value == REPLY_PREFIX + comment["text"]
            else:
                assert not cell.alignment.indent
                assert cell.value == comment["text"]
            is_yellow = cell.fill.fill_type == "solid" and cell.fill.fgColor.rgb.endswith(CREATOR_FILL)
            assert is_yellow == comment["by_creator"]
            seen["creator"] += comment["by_creator"]
            assert row[2].value == ("是" if comment["liked_by_creator"] else "否")
            seen["liked"] += comment["liked_by_creator"]
            assert row[1].value == comment["likes"]
        assert all(c["depth"] in (0, 1) for c in comments)
        assert not comments or comments[0]["depth"] == 0  # a reply always follows its parent
    assert all(seen.values()), seen
    texts = "".join(c["text"] for s in sample_manifest["samples"] for c in s["comments"])
    assert any("\u4e00" <= ch <= "\u9fff" for ch in texts)  # Chinese
    assert any(ord(ch) >= 0x1F300 for ch in texts)  # emoji


def test_rename_table_links_raw_posts_to_filtered_entries(sample_archive, sample_manifest):
    from openpyxl import load_workbook

    sheet = load_workbook(sample_archive / "raw" / "rename.xlsx")["rename"]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0] == ["original_path", "encoded_path", "filtered_name"]
    expected = [
        [s["original_path"], s["raw_path"].removeprefix("raw/"), Path(s["filtered_path"]).stem]
        for s in sample_manifest["samples"]
    ]
    assert rows[1:] == expected
    assert any(any("\u4e00" <= ch <= "\u9fff" for ch in s["creator"]) for s in sample_manifest["samples"])


def test_zips_mirror_the_tier_folders_with_top_folder(sample_archive):
    for tier in ("raw", "filtered", "processed"):
        with zipfile.ZipFile(sample_archive / f"{tier}.zip") as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
            assert set(names) == _tier_files(sample_archive, tier)
            assert archive.testzip() is None
            for name in names[:50]:
                assert archive.read(name) == (sample_archive / name).read_bytes()


def test_vascular_pulsates_between_processed_frames_and_cyst_does_not(sample_archive, sample_manifest):
    def dark_area_variation(sample) -> float:
        """Relative spread over frames of the anechoic (near-black) area: the circle's size."""
        folder = sample_archive / sample["processed_path"]
        clean = [n for n in sample["processed_frames"] if n not in sample["noise_frames"]]
        areas = [(np.asarray(Image.open(folder / n).convert("L")) < 11).mean() for n in clean]
        return float(np.std(areas) / np.mean(areas))

    samples = sample_manifest["samples"]
    vascular = [s for s in samples if s["primary_label"] == "Vascular"]
    cyst = [s for s in samples if s["primary_label"] == "Cyst" and s["kind"] == "video"]
    assert vascular and cyst
    for sample in vascular:
        # Sampling every 10th frame at 30 fps must not alias the pulse to a standstill.
        assert abs(3 * sample["pulse_period_s"] - round(3 * sample["pulse_period_s"])) > 0.3
        assert dark_area_variation(sample) > 0.15, sample["processed_path"]
    for sample in cyst:
        assert dark_area_variation(sample) < 0.05, sample["processed_path"]


def test_bad_options_raise_clear_errors(tmp_path, sample_archive):
    with pytest.raises(SampleArchiveError, match="not empty"):
        make_sample_archive(sample_archive, seed=0)
    with pytest.raises(SampleArchiveError, match="even"):
        make_sample_archive(tmp_path / "odd", width=287)
    with pytest.raises(SampleArchiveError, match="unknown scale"):
        make_sample_archive(tmp_path / "scale", scale="huge")
    with pytest.raises(SampleArchiveError, match="manifest"):
        load_manifest(tmp_path)


def test_command_line_writes_an_archive(tmp_path, capsys):
    import importlib.util

    script = Path(__file__).resolve().parents[1] / "scripts" / "make_sample_archive.py"
    spec = importlib.util.spec_from_file_location("make_sample_archive_cli", script)
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    args = ["--samples", "2", "--seed", "3", "--width", "160", "--height", "288", "--no-zips", "--quiet"]
    assert cli.main(["--out", str(tmp_path / "cli"), *args]) == 0
    manifest = load_manifest(tmp_path / "cli")
    assert manifest["seed"] == 3 and len(manifest["samples"]) == 2
    assert (manifest["video"]["width"], manifest["video"]["height"]) == (160, 288)
    assert manifest["zips"] == [] and not list((tmp_path / "cli").glob("*.zip"))
    assert "2 samples" in capsys.readouterr().out
    assert cli.main(["--out", str(tmp_path / "cli"), "--samples", "2"]) == 2
