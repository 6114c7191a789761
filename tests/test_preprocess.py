"""The paper's frame pipeline (hf_loader.preprocess, video_frames, image_sets, processed_tier): frames, crop,
noise filter, tier writing, bad input."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from hf_loader.constants import NOISE_LIST_NAME
from hf_loader.errors import CorruptMediaError, EmptySampleError
from hf_loader.image_sets import process_image_set
from hf_loader.noise_list import read_noise_list
from hf_loader.preprocess import PreprocessOptions, preprocess_sample
from hf_loader.processed_tier import preprocess_tier
from hf_loader.video_frames import extract_video_frames
from hf_loader.video_io import NoVideoStreamError
from modeling_rvit.ultrasound_frames import (
    DBSCAN_EPS,
    DBSCAN_POOL_TIMES,
    FRAME_SIZE,
    NoiseSettings,
    dbscan,
    detect_noise,
    find_region_box,
    noise_features,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


def write_video(path: Path, frames: list[np.ndarray], fps: int = 30, faststart: bool = False) -> Path:
    """Encode `(H, W, 3)` uint8 RGB frames as H.264 yuv420p (index at the front with `faststart`)."""
    height, width = frames[0].shape[:2]
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), mode="w", format="mp4", options=options) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast", "crf": "18"}
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def boxed_frames(num_frames: int, width=96, height=160, box=(16, 40, 80, 120), color=(220, 40, 30)):
    """Black frames with one coloured rectangle `box` (x0, y0, x1, y1) and a small caption below it."""
    frames = []
    x0, y0, x1, y1 = box
    for index in range(num_frames):
        rgb = np.zeros((height, width, 3), np.uint8)
        rgb[y0:y1, x0:x1] = color
        rgb[y0 + 8 : y0 + 16, x0 + 8 : x0 + 8 + index % 32] = 255  # something that moves
        rgb[y1 + 12 : y1 + 18, x0 : x0 + 20] = 255  # a caption outside the region, not touching it
        frames.append(rgb)
    return frames


def iou(a, b) -> float:
    inter_w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


@pytest.fixture(scope="module")
def archive_samples(sample_archive, sample_manifest):
    """Every sample of the sample archive processed in memory (noise filter off), by sample_id."""
    options = PreprocessOptions(noise=None)
    return {
        sample["sample_id"]: preprocess_sample(sample_archive / sample["filtered_path"], options)
        for sample in sample_manifest["samples"]
    }


def noise_scores(archive_samples, sample_manifest, settings: NoiseSettings) -> tuple[float, float]:
    true_positive = false_positive = false_negative = 0
    for sample in sample_manifest["samples"]:
        processed = archive_samples[sample["sample_id"]]
        noise = detect_noise(processed.frames, settings)
        found = {name for name, is_noise in zip(processed.frame_names, noise) if is_noise}
        truth = set(sample["noise_frames"])
        true_positive += len(found & truth)
        false_positive += len(found - truth)
        false_negative += len(truth - found)
    precision = true_positive / max(1, true_positive + false_positive)
    recall = true_positive / max(1, true_positive + false_negative)
    return precision, recall


# On the sample archive, against the manifest's truth.


def test_regenerated_tier_has_the_archives_samples_and_frame_counts(sample_archive, tmp_path):
    report = preprocess_tier(
        sample_archive / "filtered", tmp_path / "processed", num_workers=2, progress=False
    )
    ours = {
        p.name: sorted(f.name for f in p.glob("*.jpg"))
        for p in (tmp_path / "processed").iterdir()
        if p.is_dir() and not p.name.startswith(".")
    }
    theirs = {
        p.name: sorted(f.name for f in p.glob("*.jpg"))
        for p in (sample_archive / "processed").iterdir()
        if p.is_dir()
    }
    assert ours == theirs
    assert report.num_frames == sum(len(names) for names in theirs.values())
    with Image.open(next((tmp_path / "processed").glob("*/01.jpg"))) as image:
        assert image.size == (FRAME_SIZE, FRAME_SIZE) and image.mode == "RGB"
    noise = read_noise_list(tmp_path / "processed" / NOISE_LIST_NAME)
    assert set(noise) <= set(theirs)
    assert report.num_noise_frames == sum(len(names) for names in noise.values())


def test_default_noise_filter_finds_manifest_noise_with_precision_and_recall_above_0_9(
    archive_samples, sample_manifest
):
    assert any(sample["noise_frames"] for sample in sample_manifest["samples"])
    precision, recall = noise_scores(archive_samples, sample_manifest, NoiseSettings())
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)


def test_paper_noise_settings_are_the_papers_parameters(archive_samples, sample_manifest):
    paper = NoiseSettings.paper()
    assert (paper.eps, paper.min_samples_fraction, paper.pool_times, paper.feature_scale) == (
        DBSCAN_EPS,
        0.5,
        DBSCAN_POOL_TIMES,
        1.0,
    )
    # eps=15 on 0..1 features (at most sqrt(588) ~ 24 apart) joins noise segments to the ultrasound frames.
    _, paper_recall = noise_scores(archive_samples, sample_manifest, paper)
    _, default_recall = noise_scores(archive_samples, sample_manifest, NoiseSettings())
    assert paper_recall < default_recall


def test_crop_box_matches_the_ultrasound_region(archive_samples, sample_manifest):
    overlaps = [
        iou(archive_samples[sample["sample_id"]].crop_box, sample["us_box"])
        for sample in sample_manifest["samples"]
        if sample["kind"] == "video"
    ]
    assert overlaps and float(np.median(overlaps)) >= 0.9, overlaps


def test_kept_frames_are_the_archives_processed_frames(archive_samples, sample_manifest):
    for sample in sample_manifest["samples"]:
        processed = archive_samples[sample["sample_id"]]
        assert processed.frame_names == sample["processed_frames"]
        if sample["kind"] == "video":
            assert processed.num_source_frames == sample["num_source_frames"]
            assert list(processed.source_indices) == list(range(0, sample["num_source_frames"], 10))


def test_frames_are_close_to_the_archives_processed_frames(archive_samples, sample_archive, sample_manifest):
    sample = next(s for s in sample_manifest["samples"] if s["kind"] == "video" and not s["noise_frames"])
    processed = archive_samples[sample["sample_id"]]
    with Image.open(sample_archive / sample["processed_path"] / "01.jpg") as image:
        reference = np.asarray(image.convert("RGB"), dtype=np.float32)
    assert np.abs(processed.frames[0].astype(np.float32) - reference).mean() < 12


# Video frames.


def test_video_frames_are_rgb_cropped_and_resized(tmp_path):
    box = (16, 40, 80, 120)
    path = write_video(tmp_path / "Video_1_Cyst.mp4", boxed_frames(25, box=box, color=(220, 40, 30)))
    video = extract_video_frames(path, size=64)
    assert video.frames.shape == (3, 64, 64, 3) and video.frames.dtype == np.uint8
    assert list(video.source_indices) == [0, 10, 20]
    assert video.num_source_frames == 25 and video.fps == 30 and video.source_size == (96, 160)
    assert iou(video.crop_box, box) > 0.9
    red, green, blue = video.frames[0, 50:60, 5:60].reshape(-1, 3).mean(axis=0)
    assert red > 180 and blue < 70 and green < 80  # RGB, not the paper's BGR


def test_cropped_conversion_matches_pyavs_own_rgb_conversion(tmp_path):
    rng = np.random.default_rng(0)
    smooth = np.kron(rng.integers(30, 230, (10, 6, 3), dtype=np.uint8), np.ones((16, 16, 1), np.uint8))
    path = write_video(tmp_path / "Video_2_Cyst.mp4", [smooth] * 3)
    ours = extract_video_frames(path, size=96, crop=False).frames[0].astype(np.int16)
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        reference = frame.to_ndarray(width=96, height=96, format="rgb24", interpolation="AREA")
    difference = ours - reference
    # Equal away from colour edges (chroma upsampling differs there); no colour cast anywhere.
    assert np.median(np.abs(difference)) <= 1 and np.abs(difference).mean() < 3
    assert np.abs(difference.reshape(-1, 3).mean(axis=0)).max() < 1
    pillow = np.asarray(
        Image.fromarray(frame.to_ndarray(format="rgb24")).resize((96, 96), Image.Resampling.BILINEAR)
    )
    assert np.median(np.abs(ours - pillow)) <= 2


def test_num_frames_spreads_frames_over_the_video(tmp_path):
    path = write_video(tmp_path / "Video_3_Cyst.mp4", boxed_frames(31))
    video = extract_video_frames(path, num_frames=4, size=32)
    assert list(video.source_indices) == [0, 10, 20, 30]
    assert video.frames.shape == (4, 32, 32, 3)


def test_crop_off_keeps_the_whole_frame(tmp_path):
    path = write_video(tmp_path / "Video_4_Cyst.mp4", boxed_frames(5))
    video = extract_video_frames(path, crop=False, size=48)
    assert video.crop_box == (0, 0, 96, 160)


def test_region_box_encloses_holes_and_ignores_smaller_regions():
    gray = np.zeros((400, 300), np.uint8)
    gray[100:300, 50:250] = 120
    gray[150:250, 100:200] = 0  # a dark cyst inside the region
    gray[350:360, 20:280] = 200  # a caption, smaller than the region
    assert find_region_box(gray, 1) == (50, 100, 250, 300)
    assert find_region_box(np.zeros((50, 50), np.uint8), 1) is None


def test_region_box_ranks_regions_by_filled_area_like_external_contours():
    gray = np.zeros((400, 300), np.uint8)
    gray[20:380, 20:280] = 90  # a screen outline enclosing a large dark area...
    gray[28:372, 28:272] = 0
    gray[150:250, 100:200] = 200  # ...around a solid block with more pixels than the outline's own
    assert find_region_box(gray, 1) == (20, 20, 280, 380)


# Image sets.


def test_image_set_is_cropped_by_ten_percent_and_resized(tmp_path):
    folder = tmp_path / "Photos_5_Stone"
    folder.mkdir()
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 255, (100, 150, 3), dtype=np.uint8) for _ in range(2)]
    for index, rgb in enumerate(images):
        Image.fromarray(rgb).save(folder / f"{index + 1:02d}.png")
    result = process_image_set(folder, size=32)
    expected = np.asarray(
        Image.fromarray(images[1]).crop((15, 10, 135, 90)).resize((32, 32), Image.Resampling.BICUBIC)
    )
    assert result.frames.shape == (2, 32, 32, 3)
    assert np.array_equal(result.frames[1], expected)
    assert [p.name for p in result.source_paths] == ["01.png", "02.png"]


# Noise filter.


def test_noise_features_pool_four_times_and_normalize():
    frames = np.random.default_rng(2).integers(0, 255, (3, 224, 224, 3), dtype=np.uint8)
    features = noise_features(frames)
    assert features.shape == (3, 14 * 14 * 3)
    assert np.allclose(features.min(axis=1), 0) and np.allclose(features.max(axis=1), 1, atol=1e-6)


def scene_and_title_frames(num_scene: int = 8, num_title: int = 2) -> np.ndarray:
    """`num_scene` jittered copies of one random scene, then `num_title` half-white title cards."""
    rng = np.random.default_rng(3)
    scene = rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)
    frames = [
        np.clip(scene.astype(int) + rng.integers(-3, 4, scene.shape), 0, 255).astype(np.uint8)
        for _ in range(num_scene)
    ]
    title = np.zeros_like(scene)
    title[:, :112] = 255
    return np.stack(frames + [title] * num_title)


def test_frames_outside_the_main_cluster_are_noise():
    assert detect_noise(scene_and_title_frames()).tolist() == [False] * 8 + [True, True]


def test_every_frame_is_noise_when_no_cluster_is_the_majority():
    frames = np.random.default_rng(4).integers(0, 255, (6, 224, 224, 3), dtype=np.uint8)
    assert detect_noise(frames, NoiseSettings(eps=0.5)).all()


def test_paper_eps_joins_clearly_different_frames_into_one_cluster():
    # 0..1 features of 588 values lie at most sqrt(588) ~ 24 apart: eps=15 reaches the title cards.
    assert not detect_noise(scene_and_title_frames(), NoiseSettings.paper()).any()


# Bad input.


def test_empty_video_file_is_a_clear_error(tmp_path):
    path = tmp_path / "Video_6_Cyst.mp4"
    path.write_bytes(b"")
    with pytest.raises(CorruptMediaError, match=r"Video_6_Cyst\.mp4.*empty.*download"):
        extract_video_frames(path)


def test_file_without_video_stream_is_a_clear_error(tmp_path):
    path = tmp_path / "Video_7_Cyst.mp4"
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with pytest.raises(NoVideoStreamError, match=r"Video_7_Cyst\.mp4.*no video stream"):
        extract_video_frames(path)


def test_truncated_video_is_a_clear_error(tmp_path):
    path = write_video(tmp_path / "Video_8_Cyst.mp4", boxed_frames(30))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CorruptMediaError, match=r"Video_8_Cyst\.mp4.*(corrupt|truncated)"):
        extract_video_frames(path)


def test_video_truncated_after_its_index_is_a_clear_error(tmp_path):
    path = write_video(tmp_path / "Video_12_Cyst.mp4", boxed_frames(60), faststart=True)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CorruptMediaError, match=r"Video_12_Cyst\.mp4.*(decod|truncated)"):
        extract_video_frames(path)


def test_undecodable_video_is_a_clear_error(tmp_path):
    path = tmp_path / "Video_9_Cyst.mp4"
    path.write_bytes(np.random.default_rng(6).integers(0, 255, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(CorruptMediaError, match=r"Video_9_Cyst\.mp4.*(corrupt|truncated)"):
        extract_video_frames(path)


def test_image_set_without_readable_image_is_a_clear_error(tmp_path):
    empty = tmp_path / "Photos_10_Cyst"
    empty.mkdir()
    with pytest.raises(EmptySampleError, match=r"Photos_10_Cyst.*no image"):
        process_image_set(empty)
    broken = tmp_path / "Photos_11_Cyst"
    broken.mkdir()
    (broken / "01.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(CorruptMediaError, match=r"01\.jpg.*cannot be read"):
        process_image_set(broken)
    with pytest.raises(EmptySampleError, match=r"Photos_11_Cyst.*none of its 1 images"):
        process_image_set(broken, skip_unreadable=True)


# Writing a tier.


@pytest.fixture
def small_filtered(tmp_path, sample_archive, sample_manifest) -> Path:
    """Two videos and an image set of the sample archive, copied into a fresh filtered folder."""
    folder = tmp_path / "filtered"
    folder.mkdir()
    videos = [s for s in sample_manifest["samples"] if s["kind"] == "video"][:2]
    image_sets = [s for s in sample_manifest["samples"] if s["kind"] == "image_set"][:1]
    for sample in videos + image_sets:
        source = sample_archive / sample["filtered_path"]
        (shutil.copytree if source.is_dir() else shutil.copyfile)(source, folder / source.name)
    return folder


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*.jpg"))
        if ".preprocess" not in path.parts
    }


def test_rerun_resumes_and_skips_finished_samples(small_filtered, tmp_path):
    out = tmp_path / "processed"
    first = preprocess_tier(small_filtered, out, num_workers=1, progress=False)
    assert len(first.processed) == 3 and not first.skipped_done
    before = {path: path.stat().st_mtime_ns for path in out.rglob("*.jpg")}
    second = preprocess_tier(small_filtered, out, num_workers=1, progress=False)
    assert not second.processed and len(second.skipped_done) == 3
    assert {path: path.stat().st_mtime_ns for path in out.rglob("*.jpg")} == before
    # An interrupted run: one sample's marker missing and a half-written temporary folder left behind.
    marker = next((out / ".preprocess").glob("Video_*.json"))
    marker.unlink()
    (out / ".preprocess" / "tmp-partial").mkdir()
    third = preprocess_tier(small_filtered, out, num_workers=1, progress=False)
    assert len(third.processed) == 1 and len(third.skipped_done) == 2
    assert third.num_frames == first.num_frames


def test_same_input_gives_byte_identical_output(small_filtered, tmp_path):
    preprocess_tier(small_filtered, tmp_path / "a", num_workers=1, progress=False)
    preprocess_tier(small_filtered, tmp_path / "b", num_workers=2, progress=False)
    digest_a, digest_b = tree_digest(tmp_path / "a"), tree_digest(tmp_path / "b")
    assert digest_a and digest_a == digest_b
    assert read_noise_list(tmp_path / "a" / NOISE_LIST_NAME) == read_noise_list(
        tmp_path / "b" / NOISE_LIST_NAME
    )


def test_noise_list_has_the_archive_format(small_filtered, tmp_path):
    options = PreprocessOptions(noise=NoiseSettings(eps=0.01))  # every frame becomes noise
    preprocess_tier(small_filtered, tmp_path / "out", options, num_workers=1, progress=False)
    text = (tmp_path / "out" / NOISE_LIST_NAME).read_text(encoding="utf-8")
    blocks = text.strip().split("\n\n")
    assert len(blocks) == 3
    first_line, first_path = blocks[0].splitlines()[:2]
    assert first_line.startswith("Subdirectory: ")
    folder = first_line.split(": ", 1)[1]
    assert Path(first_path).is_absolute() and Path(first_path).parent.name == folder
    assert Path(first_path).is_file()


def test_strict_mode_stops_at_a_bad_entry_and_lenient_mode_reports_it(small_filtered, tmp_path):
    (small_filtered / "Video_99_Cyst.mp4").write_bytes(b"")
    (small_filtered / "Photos_98_Stone").mkdir()
    # Strict: the first bad entry in sample order (98 before 99) stops the run.
    with pytest.raises(EmptySampleError, match="Photos_98_Stone"):
        preprocess_tier(small_filtered, tmp_path / "strict", num_workers=1, progress=False)
    report = preprocess_tier(
        small_filtered, tmp_path / "lenient", num_workers=2, lenient=True, progress=False
    )
    assert report.num_failed == 2 and len(report.processed) == 3
    assert set(report.failed) == {"corrupt media", "empty sample"}
    summary = report.summary()
    assert (
        "2 skipped as bad input" in summary
        and "Video_99_Cyst.mp4" in summary
        and "Photos_98_Stone" in summary
    )


def test_command_line_writes_the_tier_and_prints_a_summary(small_filtered, tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "preprocess_archive", REPO_ROOT / "scripts" / "preprocess_archive.py"
    )
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    out = tmp_path / "out"
    assert cli.main([str(small_filtered), str(out), "--workers", "1", "--quiet", "--noise", "paper"]) == 0
    assert "processed 3 samples" in capsys.readouterr().out
    marker = json.loads(next((out / ".preprocess").glob("*.json")).read_text(encoding="utf-8"))
    assert marker["options"]["noise"]["eps"] == DBSCAN_EPS
    assert cli.main([str(tmp_path / "missing"), str(out), "--quiet"]) == 2


def test_dbscan_labels_like_scikit_learn():
    from sklearn.cluster import DBSCAN

    rng = np.random.default_rng(7)
    for _ in range(50):
        centres = rng.normal(0, 4, (3, 5))
        points = np.concatenate([rng.normal(centre, 1, (int(rng.integers(1, 15)), 5)) for centre in centres])
        distances = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1))
        eps, min_samples = float(rng.uniform(0.5, 4)), int(rng.integers(1, 8))
        expected = DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit_predict(distances)
        assert np.array_equal(dbscan(distances, eps, min_samples), expected)


def test_preprocessing_imports_neither_transformers_nor_torch():
    # The paper's constants and frame cleaning live in modeling_rvit/ultrasound_frames.py; importing it must not
    # load the model package's classes (transformers, torch): preprocessing workers start in a fraction of a second.
    code = (
        "import sys\n"
        "import hf_loader, hf_loader.preprocess, hf_loader.processed_tier, modeling_rvit.ultrasound_frames\n"
        "import modeling_rvit.ahu_labels\n"
        "print(sorted(name for name in ('transformers', 'torch', 'modeling_rvit.modeling_rvit') if name in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True
    )
    assert result.stdout.strip() == "[]"
