"""`AHUUltrasound` on the sample archive: every config, from the folder and from the zips, agrees with
the manifest; streaming yields the same examples; split schemes; frames without a processed tier."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import zipfile

import numpy as np
import pytest
from archive_helpers import copy_samples
from PIL import Image

from hf_loader import LABELS, AHUUltrasound
from hf_loader.constants import ALL_LABELS_COLUMN, LABEL_COLUMN
from hf_loader.splits import assign_splits

CONFIGS = ("processed", "filtered", "raw", "full")


def _zips_only(sample_archive, tmp_path):
    folder = tmp_path / "zips"
    folder.mkdir()
    for name in ("raw.zip", "filtered.zip", "processed.zip"):
        shutil.copy2(sample_archive / name, folder / name)
    return folder


def _video_and_image_set(manifest) -> tuple[int, int]:
    """A video sample with noise frames and an image-set sample of the manifest."""
    video = next(s["sample_id"] for s in manifest["samples"] if s["kind"] == "video" and s["noise_frames"])
    image_set = next(s["sample_id"] for s in manifest["samples"] if s["kind"] == "image_set")
    return video, image_set


def _build(tmp_path, config_name, data_dir, **kwargs):
    builder = AHUUltrasound(
        config_name=config_name,
        data_dir=str(data_dir),
        cache_dir=str(tmp_path / "cache"),
        decode_video=False,
        **kwargs,
    )
    builder.download_and_prepare()
    return builder


def _rows(dataset_dict) -> dict[int, dict]:
    return {row["sample_id"]: row for split in dataset_dict.values() for row in split}


def _label_ids(names):
    return [LABELS.index(name) for name in names]


def _fingerprint(value):
    """Comparable form of a row value: images and videos become digests of their pixels / bytes."""
    if isinstance(value, Image.Image):
        return hashlib.md5(np.asarray(value.convert("RGB")).tobytes()).hexdigest()
    if isinstance(value, dict) and set(value) == {"bytes", "path"}:
        return hashlib.md5(value["bytes"] or b"").hexdigest()
    if isinstance(value, list):
        return [_fingerprint(item) for item in value]
    if isinstance(value, dict):
        return {key: _fingerprint(item) for key, item in value.items()}
    return value


def _check_against_manifest(config_name, rows, archive, manifest):
    samples = {sample["sample_id"]: sample for sample in manifest["samples"]}
    assert set(rows) == set(samples)
    for sample_id, row in rows.items():
        sample = samples[sample_id]
        assert row[ALL_LABELS_COLUMN] == _label_ids(sample["labels"])
        assert row[LABEL_COLUMN] == LABELS.index(sample["primary_label"])
        assert row["kind"] == sample["kind"]
        assert row["creator"] == sample["creator"]
        if config_name in ("processed", "full"):
            noise = [sample["processed_frames"].index(name) for name in sample["noise_frames"]]
            kept = [i for i in range(len(sample["processed_frames"])) if i not in noise]
            assert row["noise_frame_indices"] == noise
            assert row["frame_indices"] == kept
            assert len(row["frames"]) == len(kept)
            assert all(frame.size == (224, 224) for frame in row["frames"])
            expected = np.asarray(
                Image.open(archive / sample["processed_path"] / sample["processed_frames"][kept[0]])
            )
            assert np.array_equal(np.asarray(row["frames"][0]), expected)
        if config_name in ("filtered", "raw", "full"):
            if sample["kind"] == "video":
                assert row["num_frames"] == sample["num_source_frames"]
                assert row["fps"] == pytest.approx(sample["fps"])
                assert row["duration"] == pytest.approx(sample["num_source_frames"] / sample["fps"], abs=0.05)
            else:
                assert row["video"] is None
        if config_name == "filtered":
            if sample["kind"] == "video":
                assert row["video"]["bytes"] == (archive / sample["filtered_path"]).read_bytes()
                assert row["images"] is None
            else:
                assert len(row["images"]) == len(list((archive / sample["filtered_path"]).iterdir()))
        if config_name in ("raw", "full"):
            assert row["post_id"] == sample["raw_path"].removeprefix("raw/")
            assert row["original_path"] == sample["original_path"]
            assert len(row["comments"]) == len(sample["comments"])
            for got, want in zip(row["comments"], sample["comments"]):
                assert (got["text"], got["depth"], got["liked_by_creator"], got["by_creator"]) == (
                    want["text"],
                    want["depth"],
                    want["liked_by_creator"],
                    want["by_creator"],
                )
        if config_name == "full" and sample["kind"] == "video":
            assert row["video"]["bytes"] == (archive / sample["filtered_path"]).read_bytes()


@pytest.mark.parametrize("source", ["folder", "zips"])
@pytest.mark.parametrize("config_name", CONFIGS)
def test_config_agrees_with_manifest(config_name, source, sample_archive, sample_manifest, tmp_path):
    data_dir = sample_archive if source == "folder" else _zips_only(sample_archive, tmp_path)
    builder = _build(tmp_path, config_name, data_dir)
    dataset = builder.as_dataset()
    assert set(dataset) == {"train", "validation", "test"}
    # The folder holds every tier twice (folders and zips); each sample must still appear once.
    assert sum(split.num_rows for split in dataset.values()) == len(sample_manifest["samples"])
    _check_against_manifest(config_name, _rows(dataset), sample_archive, sample_manifest)
    assert len(builder.skipped) == 0


@pytest.mark.parametrize("config_name", CONFIGS)
def test_streaming_yields_the_same_examples_as_map_style(config_name, sample_archive, tmp_path):
    builder = _build(tmp_path, config_name, _zips_only(sample_archive, tmp_path))
    dataset = builder.as_dataset()
    streamed = builder.as_streaming_dataset()
    assert set(streamed) == set(dataset)
    for split in dataset:
        mapped_rows = [_fingerprint(row) for row in dataset[split]]
        streamed_rows = [_fingerprint(row) for row in streamed[split]]
        assert streamed_rows == mapped_rows


def test_split_membership_is_the_pure_split_function_of_the_names(sample_archive, sample_manifest, tmp_path):
    from hf_loader.splits import SampleRecord

    builder = _build(tmp_path, "processed", sample_archive, seed=5)
    dataset = builder.as_dataset()
    records = [
        SampleRecord(s["sample_id"], s["primary_label"], s["creator"]) for s in sample_manifest["samples"]
    ]
    expected = assign_splits(records, "stratified", seed=5)
    assert {split: sorted(dataset[split]["sample_id"]) for split in dataset} == expected


def test_paper_split_is_80_20_train_test(sample_archive, sample_manifest, tmp_path):
    dataset = _build(tmp_path, "processed", sample_archive, split_scheme="paper").as_dataset()
    num_samples = len(sample_manifest["samples"])
    assert set(dataset) == {"train", "test"}
    assert dataset["test"].num_rows == int(np.ceil(0.2 * num_samples))
    assert dataset["train"].num_rows + dataset["test"].num_rows == num_samples


def test_creator_split_keeps_each_creator_in_one_split(sample_archive, tmp_path):
    dataset = _build(tmp_path, "processed", sample_archive, split_scheme="creator").as_dataset()
    creators = {split: set(dataset[split]["creator"]) for split in dataset}
    assert None not in set().union(*creators.values())
    assert not (creators["train"] & creators["validation"]) and not (creators["train"] & creators["test"])
    assert not (creators["validation"] & creators["test"])


def test_drop_noise_false_keeps_every_frame(sample_archive, sample_manifest, tmp_path):
    rows = _rows(_build(tmp_path, "processed", sample_archive, drop_noise=False).as_dataset())
    for sample in sample_manifest["samples"]:
        row = rows[sample["sample_id"]]
        assert len(row["frames"]) == len(sample["processed_frames"])
        assert row["frame_indices"] == list(range(len(sample["processed_frames"])))
        assert len(row["noise_frame_indices"]) == len(sample["noise_frames"])


def test_processed_config_without_processed_tier_builds_frames_from_the_filtered_tier(
    sample_archive, sample_manifest, tmp_path
):
    samples = {s["sample_id"]: s for s in sample_manifest["samples"]}
    video, image_set = chosen = _video_and_image_set(sample_manifest)
    data_dir = copy_samples(sample_archive, tmp_path / "archive", chosen, tiers=("filtered",))
    rows = _rows(_build(tmp_path, "processed", data_dir, drop_noise=False).as_dataset())
    for sample_id in chosen:
        row, sample = rows[sample_id], samples[sample_id]
        assert len(row["frames"]) == len(sample["processed_frames"])
        assert all(frame.size == (224, 224) and frame.mode == "RGB" for frame in row["frames"])
    assert rows[video]["num_frames"] == samples[video]["num_source_frames"]
    assert rows[video]["fps"] == pytest.approx(samples[video]["fps"])
    assert rows[image_set]["num_frames"] == len(
        list((sample_archive / samples[image_set]["filtered_path"]).iterdir())
    )


def test_npy_frames_of_videos_are_converted_from_bgr_and_image_sets_kept_rgb(tmp_path):
    archive = tmp_path / "archive"
    for folder in ("processed/1_Cyst", "processed/2_Stone", "filtered/Photos_2_Stone"):
        (archive / folder).mkdir(parents=True)
    (archive / "filtered" / "Video_1_Cyst.mp4").write_bytes(
        b"names only: the processed config reads no video"
    )
    blue_first = np.zeros((4, 4, 3), np.uint8)
    blue_first[..., 0] = 255  # channel 0 is blue in BGR, red in RGB
    for folder in ("processed/1_Cyst", "processed/2_Stone"):
        np.save(archive / folder / "01.npy", blue_first)
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="JPEG")
    (archive / "filtered" / "Photos_2_Stone" / "01.jpg").write_bytes(buffer.getvalue())
    rows = _rows(_build(tmp_path, "processed", archive, split_scheme="paper").as_dataset())
    assert rows[1]["kind"] == "video" and rows[2]["kind"] == "image_set"
    assert tuple(np.asarray(rows[1]["frames"][0])[0, 0]) == (0, 0, 255)
    assert tuple(np.asarray(rows[2]["frames"][0])[0, 0]) == (255, 0, 0)


def test_videos_decode_with_torchcodec(sample_archive, sample_manifest, tmp_path):
    videos = [s["sample_id"] for s in sample_manifest["samples"] if s["kind"] == "video"][:2]
    data_dir = copy_samples(sample_archive, tmp_path / "archive", videos, tiers=("filtered",))
    builder = AHUUltrasound(
        config_name="filtered",
        data_dir=str(data_dir),
        cache_dir=str(tmp_path / "cache"),
        split_scheme="paper",
    )
    builder.download_and_prepare()
    samples = {s["sample_id"]: s for s in sample_manifest["samples"]}
    for row in builder.as_dataset()["train"]:
        decoder = row["video"]
        assert decoder.metadata.num_frames == samples[row["sample_id"]]["num_source_frames"]
        assert tuple(decoder[0].shape) == (
            3,
            sample_manifest["video"]["height"],
            sample_manifest["video"]["width"],
        )


def test_full_config_without_processed_tier_joins_preprocessed_frames_with_raw_posts(
    sample_archive, sample_manifest, tmp_path
):
    samples = {s["sample_id"]: s for s in sample_manifest["samples"]}
    video, image_set = chosen = _video_and_image_set(sample_manifest)
    data_dir = copy_samples(sample_archive, tmp_path / "archive", chosen, tiers=("filtered", "raw"))
    rows = _rows(_build(tmp_path, "full", data_dir, drop_noise=False).as_dataset())
    for sample_id in chosen:
        row, sample = rows[sample_id], samples[sample_id]
        assert len(row["frames"]) == len(sample["processed_frames"])
        assert row["creator"] == sample["creator"]
        assert len(row["comments"]) == len(sample["comments"])
        assert row["kind"] == sample["kind"]
    assert rows[video]["video"]["bytes"] == (sample_archive / samples[video]["filtered_path"]).read_bytes()
    assert rows[video]["images"] is None and rows[image_set]["video"] is None
    assert len(rows[image_set]["images"]) == len(
        list((sample_archive / samples[image_set]["filtered_path"]).iterdir())
    )


def test_full_config_warns_about_samples_missing_from_a_tier(
    sample_archive, sample_manifest, tmp_path, caplog
):
    video, image_set = _video_and_image_set(sample_manifest)
    data_dir = copy_samples(sample_archive, tmp_path / "archive", [video, image_set], tiers=("processed",))
    copy_samples(sample_archive, data_dir, [video], tiers=("filtered",))
    with caplog.at_level("WARNING", logger="hf_loader.builder"):
        rows = _rows(_build(tmp_path, "full", data_dir, split_scheme="paper").as_dataset())
    assert rows[image_set]["video"] is None and rows[image_set]["images"] is None
    assert rows[video]["video"] is not None
    assert all(row["comments"] is None and row["creator"] is None for row in rows.values())
    assert "1 samples have no filtered entry" in caplog.text
    assert "2 samples are not linked to a raw post" in caplog.text


@pytest.mark.parametrize("config_name", CONFIGS)
def test_label_features_use_the_one_label_list_in_paper_order(config_name):
    import hf_loader
    from hf_loader import constants
    from hf_loader.builder import features_for

    features = features_for(config_name)
    assert hf_loader.LABELS is constants.LABELS
    assert features[LABEL_COLUMN].names == list(constants.LABELS)
    assert features[ALL_LABELS_COLUMN].feature.names == list(constants.LABELS)
    assert features[LABEL_COLUMN].names[:3] == ["Tumor", "Cyst", "Inflammation"]
    # The names Trainer's default collator and run_image_classification.py read; no column is called `labels`,
    # Trainer's own target key.
    assert (LABEL_COLUMN, ALL_LABELS_COLUMN) == ("label", "all_labels") and "labels" not in features


def _rebuild(tmp_path, config_name, data_dir, **kwargs) -> dict[int | str, dict]:
    """Build again into the same cache; rows by sample id (raw: by post id)."""
    dataset = _build(tmp_path, config_name, data_dir, **kwargs).as_dataset()
    key = "post_id" if config_name == "raw" else "sample_id"
    return {row[key]: row for split in dataset.values() for row in split}


def test_an_unchanged_archive_is_served_from_the_cache(sample_archive, sample_manifest, tmp_path):
    data_dir = copy_samples(sample_archive, tmp_path / "archive", _video_and_image_set(sample_manifest))
    first = _build(tmp_path, "processed", data_dir, split_scheme="paper")
    second = AHUUltrasound(
        config_name="processed",
        data_dir=str(data_dir),
        cache_dir=str(tmp_path / "cache"),
        decode_video=False,
        split_scheme="paper",
    )
    assert second.cache_dir == first.cache_dir and os.path.isdir(second.cache_dir)


def test_a_comment_table_edited_in_place_is_not_served_stale(sample_archive, sample_manifest, tmp_path):
    video, image_set = chosen = _video_and_image_set(sample_manifest)
    samples = {s["sample_id"]: s for s in sample_manifest["samples"]}
    data_dir = copy_samples(sample_archive, tmp_path / "archive", chosen, tiers=("raw",))
    post = samples[video]["raw_path"].removeprefix("raw/")
    before = _rebuild(tmp_path, "raw", data_dir, split_scheme="paper")
    edited = data_dir / samples[video]["raw_path"] / "comments.xlsx"
    other = data_dir / samples[image_set]["raw_path"] / "comments.xlsx"
    shutil.copyfile(other, edited)  # rewritten in place, four levels below data_dir
    after = _rebuild(tmp_path, "raw", data_dir, split_scheme="paper")
    assert [c["text"] for c in after[post]["comments"]] == [
        c["text"] for c in after[samples[image_set]["raw_path"].removeprefix("raw/")]["comments"]
    ]
    assert after[post]["comments"] != before[post]["comments"]


def test_a_replaced_raw_video_is_not_served_stale(sample_archive, sample_manifest, tmp_path):
    videos = [s for s in sample_manifest["samples"] if s["kind"] == "video"][:2]
    data_dir = copy_samples(
        sample_archive, tmp_path / "archive", [s["sample_id"] for s in videos], tiers=("raw",)
    )
    first, second = (data_dir / s["raw_path"] / s["raw_files"][0] for s in videos)
    _rebuild(tmp_path, "raw", data_dir, split_scheme="paper")
    shutil.copyfile(second, first)
    after = _rebuild(tmp_path, "raw", data_dir, split_scheme="paper")
    assert after[videos[0]["raw_path"].removeprefix("raw/")]["video"]["bytes"] == second.read_bytes()


def test_a_changed_frame_one_folder_down_is_not_served_stale(sample_archive, sample_manifest, tmp_path):
    video, image_set = chosen = _video_and_image_set(sample_manifest)
    samples = {s["sample_id"]: s for s in sample_manifest["samples"]}
    data_dir = tmp_path / "data"
    copy_samples(sample_archive, data_dir / "AHU", chosen, tiers=("processed",))
    _rebuild(tmp_path, "processed", data_dir, split_scheme="paper", drop_noise=False)
    frame = data_dir / "AHU" / samples[video]["processed_path"] / "01.jpg"
    replacement = data_dir / "AHU" / samples[image_set]["processed_path"] / "01.jpg"
    shutil.copyfile(replacement, frame)
    after = _rebuild(tmp_path, "processed", data_dir, split_scheme="paper", drop_noise=False)
    assert np.array_equal(np.asarray(after[video]["frames"][0]), np.asarray(Image.open(replacement)))


def test_the_cache_key_follows_a_zip_member_crc_even_with_the_old_size_and_time(tmp_path):
    from hf_loader.archive_fingerprint import archive_fingerprint

    zip_path = tmp_path / "processed.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("1_Cyst/01.jpg", b"frame one")
    stat = zip_path.stat()
    before = archive_fingerprint(tmp_path)
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("1_Cyst/01.jpg", b"frame two")
    os.utime(zip_path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert zip_path.stat().st_size == stat.st_size
    assert archive_fingerprint(tmp_path) != before
    assert archive_fingerprint(zip_path) != archive_fingerprint(tmp_path)


def test_splits_are_cut_into_shards_that_num_proc_and_dataloader_workers_share(
    sample_archive, sample_manifest, tmp_path, monkeypatch
):
    import datasets
    from torch.utils.data import DataLoader

    from hf_loader.builder import MIN_SHARDS

    monkeypatch.setattr(datasets.config, "SAVE_ORIGINAL_SHARD_LENGTHS", True)
    one = _build(tmp_path, "processed", sample_archive)
    two = AHUUltrasound(
        config_name="processed",
        data_dir=str(sample_archive),
        cache_dir=str(tmp_path / "cache2"),
        decode_video=False,
    )
    two.download_and_prepare(num_proc=2)
    for split, info in one.info.splits.items():
        # Keys are datasets' `Key(shard, position)`: datasets counts each shard's examples, alike whether one
        # process or two jobs generated them.
        assert len(info.original_shard_lengths) == min(info.num_examples, MIN_SHARDS)
        assert sum(info.original_shard_lengths) == info.num_examples
        assert two.info.splits[split].original_shard_lengths == info.original_shard_lengths
        assert two.as_dataset(split)["sample_id"] == one.as_dataset(split)["sample_id"]

    stream = one.as_streaming_dataset("train")
    assert stream.num_shards == min(one.info.splits["train"].num_examples, MIN_SHARDS) > 1
    loader = DataLoader(stream.select_columns(["sample_id"]), batch_size=None, num_workers=2)
    assert sorted(int(row["sample_id"]) for row in loader) == sorted(one.as_dataset("train")["sample_id"])


def test_samples_skipped_in_num_proc_workers_are_reported(sample_archive, sample_manifest, tmp_path):
    data_dir = copy_samples(
        sample_archive,
        tmp_path / "archive",
        [s["sample_id"] for s in sample_manifest["samples"]],
        tiers=("processed",),
    )
    frame = max((data_dir / "processed").glob("*_*/02.jpg"))
    frame.write_bytes(frame.read_bytes()[:200])
    builder = AHUUltrasound(
        config_name="processed", data_dir=str(data_dir), cache_dir=str(tmp_path / "cache"), errors="skip"
    )
    builder.download_and_prepare(num_proc=2)
    assert builder.skipped.counts == {"corrupt media": 1}
    assert frame.parent.name in builder.skipped.entries[0][2]
    assert (
        sum(info.num_examples for info in builder.info.splits.values()) == len(sample_manifest["samples"]) - 1
    )
