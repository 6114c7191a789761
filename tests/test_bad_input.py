"""Bad input: strict mode raises an `AHUDataError` naming the entry and the fix; `errors="skip"` leaves
the entry out with a counted, logged report."""

from __future__ import annotations

import io
import logging
import os
import shutil
import zipfile

import pytest
from archive_helpers import copy_samples, zip_folder
from PIL import Image

from hf_loader import AHUUltrasound
from hf_loader.errors import (
    AHUDataError,
    CommentTableError,
    CorruptMediaError,
    DuplicateSampleError,
    EmptySampleError,
    SplitError,
    UnknownLabelError,
    UnsafeArchiveMemberError,
)

# Four samples of the sample archive: three videos and one image set (see `small_archive`).
NUM_SAMPLES = 4


def _chosen(manifest) -> list[int]:
    """Sample ids of three videos and one image set, sorted."""
    videos = [s["sample_id"] for s in manifest["samples"] if s["kind"] == "video"]
    image_sets = [s["sample_id"] for s in manifest["samples"] if s["kind"] == "image_set"]
    return sorted(videos[:3] + image_sets[:1])


def _builder(tmp_path, data_dir, config_name="processed", **kwargs):
    kwargs.setdefault("split_scheme", "paper")
    return AHUUltrasound(
        config_name=config_name,
        data_dir=str(data_dir),
        cache_dir=str(tmp_path / "cache"),
        decode_video=False,
        **kwargs,
    )


def _num_rows(builder) -> int:
    return sum(split.num_rows for split in builder.as_dataset().values())


def _expect_strict_error(tmp_path, data_dir, error_class, *fragments, config_name="processed", **kwargs):
    with pytest.raises(error_class) as caught:
        _builder(tmp_path, data_dir, config_name, **kwargs).download_and_prepare()
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    return caught.value


def _expect_skipped(tmp_path, data_dir, reason, num_rows, caplog, config_name="processed", **kwargs):
    builder = AHUUltrasound(
        config_name=config_name,
        data_dir=str(data_dir),
        cache_dir=str(tmp_path / "cache_skip"),
        decode_video=False,
        errors="skip",
        split_scheme=kwargs.pop("split_scheme", "paper"),
        **kwargs,
    )
    with caplog.at_level(logging.WARNING, logger="hf_loader.builder"):
        builder.download_and_prepare()
    assert builder.skipped.counts == {reason: 1}, str(builder.skipped)
    assert _num_rows(builder) == num_rows
    assert f"{reason}: 1" in caplog.text and "builder.skipped" in caplog.text
    return builder


@pytest.fixture
def small_archive(sample_archive, sample_manifest, tmp_path):
    return copy_samples(
        sample_archive, tmp_path / "archive", _chosen(sample_manifest), tiers=("raw", "filtered", "processed")
    )


def test_truncated_video_is_named_with_the_fix(small_archive, tmp_path, caplog):
    video = min((small_archive / "filtered").glob("Video_*.mp4"))
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    _expect_strict_error(
        tmp_path, small_archive, CorruptMediaError, video.name, "truncated", config_name="filtered"
    )
    _expect_skipped(tmp_path, small_archive, "corrupt media", NUM_SAMPLES - 1, caplog, config_name="filtered")


def test_truncated_frame_image_is_named_with_the_fix(small_archive, tmp_path, caplog):
    frame = min((small_archive / "processed").glob("*_*/02.jpg"))
    frame.write_bytes(frame.read_bytes()[:200])
    _expect_strict_error(
        tmp_path, small_archive, CorruptMediaError, "02.jpg", frame.parent.name, "replace it"
    )
    _expect_skipped(tmp_path, small_archive, "corrupt media", NUM_SAMPLES - 1, caplog)
    # Streaming reads lazily: the same error comes out of the iteration, unwrapped.
    streamed = _builder(tmp_path, small_archive).as_streaming_dataset()
    with pytest.raises(CorruptMediaError, match="02.jpg"):
        for split in streamed.values():
            list(split)


def test_empty_sample_folder(small_archive, tmp_path, caplog):
    (small_archive / "processed" / "99_Cyst").mkdir()
    _expect_strict_error(
        tmp_path, small_archive, EmptySampleError, "99_Cyst", "no frame", "remove the empty folder"
    )
    _expect_skipped(tmp_path, small_archive, "empty sample", NUM_SAMPLES, caplog)


def test_unknown_label(small_archive, tmp_path, caplog):
    source = min((small_archive / "processed").glob("*_*/"))
    number = source.name.split("_")[0]
    source.rename(source.parent / f"{number}_Cancer")
    _expect_strict_error(
        tmp_path, small_archive, UnknownLabelError, f"{number}_Cancer", "'Cancer'", "known labels are Tumor"
    )
    _expect_skipped(tmp_path, small_archive, "unknown label", NUM_SAMPLES - 1, caplog)


def test_duplicate_sample_number_names_both_entries(small_archive, tmp_path, caplog):
    original = min((small_archive / "processed").glob("*_*/"))
    number = int(original.name.split("_")[0])
    shutil.copytree(original, original.parent / f"0{number}_Cyst")
    error = _expect_strict_error(
        tmp_path,
        small_archive,
        DuplicateSampleError,
        f"sample number {number}",
        f"0{number}_Cyst",
        original.name,
    )
    assert "renumber" in str(error)
    builder = AHUUltrasound(
        config_name="processed",
        data_dir=str(small_archive),
        cache_dir=str(tmp_path / "cache_skip"),
        errors="skip",
        split_scheme="paper",
    )
    builder.download_and_prepare()
    # Both entries are ambiguous, so both are left out.
    assert builder.skipped.counts == {"duplicate sample number": 2}
    assert _num_rows(builder) == NUM_SAMPLES - 1


def test_comment_table_that_does_not_parse(small_archive, tmp_path, caplog):
    table = min((small_archive / "raw").glob("*/*/comments.xlsx"))
    table.write_bytes(b"this is not a workbook")
    _expect_strict_error(
        tmp_path,
        small_archive,
        CommentTableError,
        "comments.xlsx",
        table.parent.name,
        "re-export",
        config_name="raw",
    )
    _expect_skipped(tmp_path, small_archive, "unparsable table", NUM_SAMPLES - 1, caplog, config_name="raw")


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "bad_member", ["processed/../../evil.jpg", "/tmp/evil_ahu_member.jpg", "processed/..\\..\\evil.jpg"]
)
def test_zip_member_escaping_its_folder_is_refused_and_never_read(bad_member, tmp_path, caplog):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with zipfile.ZipFile(data_dir / "processed.zip", "w") as archive:
        archive.writestr("processed/1_Cyst/01.jpg", _jpeg())
        archive.writestr("processed/2_Stone/01.jpg", _jpeg())
        archive.writestr(bad_member, _jpeg())
    _expect_strict_error(tmp_path, data_dir, UnsafeArchiveMemberError, bad_member, "escapes", "never read")
    builder = _expect_skipped(tmp_path, data_dir, "unsafe zip member", 2, caplog)
    assert len(builder.skipped) == 1
    assert not (tmp_path / "evil.jpg").exists() and not (tmp_path.parent / "evil.jpg").exists()
    assert not os.path.exists("/tmp/evil_ahu_member.jpg")


def test_truncated_zip_says_to_download_again(sample_archive, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    data = (sample_archive / "processed.zip").read_bytes()
    (data_dir / "processed.zip").write_bytes(data[: len(data) // 2])
    _expect_strict_error(
        tmp_path, data_dir, CorruptMediaError, "processed.zip", "not a readable zip", "Download it again"
    )


def test_creator_split_without_links_raises_split_error(small_archive, tmp_path):
    (small_archive / "raw" / "rename.xlsx").unlink()
    _expect_strict_error(
        tmp_path, small_archive, SplitError, "creator", "rename.xlsx", split_scheme="creator"
    )


def test_creator_split_skip_mode_leaves_unlinked_samples_out(sample_archive, sample_manifest, tmp_path):
    # Processed tier only: no sample is linked to a creator, so all are left out and counted.
    data_dir = copy_samples(
        sample_archive, tmp_path / "archive", _chosen(sample_manifest), tiers=("processed",)
    )
    builder = _builder(tmp_path, data_dir, errors="skip", split_scheme="creator")
    with pytest.raises(SplitError, match="at least 3 creators"):
        builder.download_and_prepare()
    assert builder.skipped.counts == {"split impossible": NUM_SAMPLES}


def test_folder_without_any_tier_says_what_to_pass(tmp_path):
    (tmp_path / "empty").mkdir()
    _expect_strict_error(
        tmp_path, tmp_path / "empty", AHUDataError, "no processed or filtered tier", "scan_archive.py"
    )


def test_missing_data_dir_is_named(tmp_path):
    _expect_strict_error(tmp_path, tmp_path / "nowhere", AHUDataError, "nowhere", "no such file or folder")


def test_invalid_options_are_refused(small_archive, tmp_path):
    with pytest.raises(ValueError, match="errors must be 'raise' or 'skip'"):
        _builder(tmp_path, small_archive, errors="ignore")
    with pytest.raises(SplitError, match="unknown split_scheme"):
        _builder(tmp_path, small_archive, split_scheme="random")


def test_zip_without_top_folder_builds_like_the_folder(sample_archive, sample_manifest, tmp_path):
    chosen = _chosen(sample_manifest)
    source = copy_samples(sample_archive, tmp_path / "src", chosen, tiers=("processed",))
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    zip_folder(source / "processed", data_dir / "processed.zip", top_folder=False)
    from_zip = _builder(tmp_path, data_dir)
    from_zip.download_and_prepare()
    assert sorted(row["sample_id"] for split in from_zip.as_dataset().values() for row in split) == chosen
