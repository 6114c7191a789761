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
from hf_loader.constants import ALL_LABELS_COLUMN
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


def _kept_ids(builder) -> list[int]:
    return sorted(row["sample_id"] for split in builder.as_dataset().values() for row in split)


def _lenient(tmp_path, data_dir, config_name="processed", **kwargs):
    builder = _builder(tmp_path, data_dir, config_name, errors="skip", **kwargs)
    builder.download_and_prepare()
    return builder


def _flip_member_byte(zip_path, member: str) -> None:
    """Corrupt one byte in the middle of a stored member's data: the zip stays readable, the member's CRC fails."""
    with zipfile.ZipFile(zip_path) as archive:
        info = archive.getinfo(member)
    assert info.compress_type == zipfile.ZIP_STORED
    data = bytearray(zip_path.read_bytes())
    name_length, extra_length = (
        int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little"),
        (int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")),
    )
    middle = info.header_offset + 30 + name_length + extra_length + info.compress_size // 2
    data[middle] ^= 0xFF
    zip_path.write_bytes(bytes(data))


@pytest.mark.parametrize("tier", ["processed", "filtered"])
def test_bad_crc_member_costs_only_its_own_sample(small_archive, sample_manifest, tmp_path, caplog, tier):
    """A member failing its CRC in the middle of the zip: the samples after it in zip order are still read, and
    the message names that sample, not the first one."""
    data_dir = tmp_path / "zips"
    data_dir.mkdir()
    zip_path = zip_folder(small_archive / tier, data_dir / f"{tier}.zip")
    chosen = _chosen(sample_manifest)
    path_of = {
        sample_id: samples_by_id_of(sample_manifest)[sample_id][f"{tier}_path"] for sample_id in chosen
    }
    with zipfile.ZipFile(zip_path) as archive:
        names = [name for name in archive.namelist() if not name.endswith("/")]
    zip_order = sorted(
        chosen, key=lambda s: min(i for i, name in enumerate(names) if name.startswith(path_of[s]))
    )
    bad_id = zip_order[1]  # one sample before it in the zip, two after
    member = min(name for name in names if name.startswith(path_of[bad_id]))
    _flip_member_byte(zip_path, member)

    with pytest.raises(CorruptMediaError) as caught:
        _builder(tmp_path, data_dir, tier).download_and_prepare()
    assert member in str(caught.value) and "Bad CRC" in str(caught.value)

    with caplog.at_level(logging.WARNING, logger="hf_loader.builder"):
        builder = _lenient(tmp_path, data_dir, tier)
    assert _kept_ids(builder) == [sample_id for sample_id in chosen if sample_id != bad_id]
    assert builder.skipped.counts == {"corrupt media": 1}
    ((_, entry, message),) = builder.skipped.entries
    assert member in entry and member in message
    assert not any(path_of[s] in message for s in chosen if s != bad_id)


def samples_by_id_of(manifest) -> dict[int, dict]:
    return {sample["sample_id"]: sample for sample in manifest["samples"]}


def test_half_cut_processed_zip_in_lenient_mode_says_frames_come_from_the_filtered_tier(
    small_archive, tmp_path, caplog
):
    data_dir = tmp_path / "data"
    shutil.copytree(small_archive / "filtered", data_dir / "filtered")
    zip_path = zip_folder(small_archive / "processed", tmp_path / "processed.zip")
    data = zip_path.read_bytes()
    (data_dir / "processed.zip").write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.WARNING, logger="hf_loader.builder"):
        builder = _lenient(tmp_path, data_dir)
    assert builder.skipped.counts == {"corrupt media": 1}
    assert "processed.zip" in builder.skipped.entries[0][1]
    (note,) = builder.skipped.notes
    assert "processed.zip" in note and "computed from the filtered tier" in note
    assert note in caplog.text and note in str(builder.skipped)
    assert _num_rows(builder) == NUM_SAMPLES


def test_a_zip_bomb_member_is_refused_unread_and_costs_only_its_sample(
    small_archive, sample_manifest, tmp_path, caplog
):
    from hf_loader.member_reader import OversizedMemberError

    chosen = _chosen(sample_manifest)
    bomb_id = chosen[0]
    bomb_folder = samples_by_id_of(sample_manifest)[bomb_id]["processed_path"].removeprefix("processed/")
    data_dir = tmp_path / "zips"
    data_dir.mkdir()
    with zipfile.ZipFile(data_dir / "processed.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((small_archive / "processed").rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(small_archive / "processed").as_posix())
        # 64 MiB of zeros deflate to ~64 KiB: a ratio no frame has.
        archive.writestr(f"{bomb_folder}/99.jpg", bytes(64 << 20))
    _expect_strict_error(
        tmp_path, data_dir, OversizedMemberError, f"{bomb_folder}/99.jpg", "zip bomb", "not read"
    )
    with caplog.at_level(logging.WARNING, logger="hf_loader.builder"):
        builder = _lenient(tmp_path, data_dir)
    assert _kept_ids(builder) == [sample_id for sample_id in chosen if sample_id != bomb_id]
    assert builder.skipped.counts == {"oversized member": 1}
    assert f"{bomb_folder}/99.jpg" in builder.skipped.entries[0][2]


def _faststart(data: bytes, path) -> None:
    """Rewrite an mp4 with its index (moov) before the frames, as web video is published."""
    import av

    with (
        av.open(io.BytesIO(data)) as source,
        av.open(str(path), "w", format="mp4", options={"movflags": "faststart"}) as target,
    ):
        stream = source.streams.video[0]
        out = target.add_stream_from_template(stream)
        for packet in source.demux(stream):
            if packet.dts is not None:
                packet.stream = out
                target.mux(packet)


@pytest.mark.parametrize("config_name", ["filtered", "full"])
def test_half_cut_faststart_video_is_not_taken_for_whole(
    small_archive, sample_manifest, tmp_path, caplog, config_name
):
    """Its header still announces every frame: the frames in the file are counted."""
    from hf_loader.video_io import TruncatedVideoError

    video = min((small_archive / "filtered").glob("Video_*.mp4"))
    _faststart(video.read_bytes(), video)
    data = video.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")
    video.write_bytes(data[: len(data) // 2])
    error = _expect_strict_error(
        tmp_path,
        small_archive,
        TruncatedVideoError,
        video.name,
        "complete frames",
        "header announces",
        config_name=config_name,
    )
    assert error.reason == "truncated video"
    with caplog.at_level(logging.WARNING, logger="hf_loader.builder"):
        builder = _lenient(tmp_path, small_archive, config_name)
    bad_id = int(video.name.split("_")[1])
    assert _kept_ids(builder) == [sample_id for sample_id in _chosen(sample_manifest) if sample_id != bad_id]
    assert builder.skipped.counts == {"truncated video": 1}
    assert video.name in builder.skipped.entries[0][2] and "truncated video: 1" in caplog.text


def test_whole_faststart_video_builds_with_its_measured_frames(small_archive, sample_manifest, tmp_path):
    video = min((small_archive / "filtered").glob("Video_*.mp4"))
    _faststart(video.read_bytes(), video)
    builder = _builder(tmp_path, small_archive, "filtered")
    builder.download_and_prepare()
    sample_id = int(video.name.split("_")[1])
    row = next(
        row for split in builder.as_dataset().values() for row in split if row["sample_id"] == sample_id
    )
    assert row["num_frames"] == samples_by_id_of(sample_manifest)[sample_id]["num_source_frames"]


def test_raw_without_rename_table_warns_that_posts_carry_no_labels(small_archive, tmp_path, caplog):
    (small_archive / "raw" / "rename.xlsx").unlink()
    with caplog.at_level(logging.WARNING, logger="hf_loader.builder"):
        builder = _builder(tmp_path, small_archive, "raw")
        builder.download_and_prepare()
    assert "rename.xlsx" in caplog.text and ALL_LABELS_COLUMN in caplog.text and "sample_id" in caplog.text
    rows = [row for split in builder.as_dataset().values() for row in split]
    assert len(rows) == NUM_SAMPLES and all(
        row[ALL_LABELS_COLUMN] == [] and row["sample_id"] is None for row in rows
    )


def test_a_sample_skipped_while_indexing_moves_no_other_sample_between_splits(
    sample_archive, sample_manifest, tmp_path
):
    """The Inflammation image set emptied: the other Inflammation samples keep the splits they had with it."""
    image_set = next(
        s
        for s in sample_manifest["samples"]
        if s["kind"] == "image_set" and s["primary_label"] == "Inflammation"
    )
    ids = [s["sample_id"] for s in sample_manifest["samples"]]
    whole = copy_samples(sample_archive, tmp_path / "whole", ids, tiers=("filtered",))
    broken = copy_samples(sample_archive, tmp_path / "broken", ids, tiers=("filtered",))
    for image in (broken / image_set["filtered_path"]).iterdir():
        image.unlink()

    def split_of(data_dir, cache):
        builder = AHUUltrasound(
            config_name="filtered",
            data_dir=str(data_dir),
            cache_dir=str(tmp_path / cache),
            decode_video=False,
            errors="skip",
        )
        builder.download_and_prepare()
        return builder, {
            row["sample_id"]: name for name, split in builder.as_dataset().items() for row in split
        }

    _, before = split_of(whole, "cache_whole")
    builder, after = split_of(broken, "cache_broken")
    assert builder.skipped.counts == {"empty sample": 1}
    assert image_set["filtered_path"].removeprefix("filtered/") in builder.skipped.entries[0][2]
    del before[image_set["sample_id"]]
    assert after == before
