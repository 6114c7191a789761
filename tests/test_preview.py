"""Preview: a montage of frames per label and a GIF of one clip per label, from frames or videos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from datasets import ClassLabel, Dataset, Features, Value
from PIL import Image

from hf_loader.builder import AHUUltrasound
from hf_loader.constants import LABEL_COLUMN, LABELS
from hf_loader.preview import (
    EMPTY_CELL,
    PreviewError,
    label_clip_frames,
    montage,
    sample_frames,
    save_label_gif,
    save_montage,
)

CELL, LABEL_WIDTH, GAP = 48, 100, 2


def build(archive: Path, config_name: str, cache_dir: Path):
    builder = AHUUltrasound(config_name=config_name, data_dir=str(archive), cache_dir=str(cache_dir))
    builder.download_and_prepare()
    return builder.as_dataset(split="train")


@pytest.fixture(scope="module")
def processed(sample_archive, tmp_path_factory):
    return build(sample_archive, "processed", tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def filtered(sample_archive, tmp_path_factory):
    return build(sample_archive, "filtered", tmp_path_factory.mktemp("cache"))


def cell(image: Image.Image, row: int, column: int) -> np.ndarray:
    left, top = LABEL_WIDTH + column * (CELL + GAP), row * (CELL + GAP)
    return np.asarray(image)[top : top + CELL, left : left + CELL]


def is_empty(pixels: np.ndarray) -> bool:
    return bool((pixels == np.array(EMPTY_CELL, dtype=np.uint8)).all())


def draw(dataset, per_label=3, **kwargs):
    return montage(dataset, per_label=per_label, cell_size=CELL, label_width=LABEL_WIDTH, gap=GAP, **kwargs)


def test_montage_has_one_row_per_label_and_the_documented_size(processed):
    image = draw(processed)
    assert image.mode == "RGB"
    assert image.size == (LABEL_WIDTH + 3 * (CELL + GAP), len(LABELS) * (CELL + GAP))


def test_montage_fills_cells_only_where_samples_exist(processed):
    counts = {
        index: sum(1 for value in processed[LABEL_COLUMN] if value == index) for index in range(len(LABELS))
    }
    image = draw(processed, per_label=3)
    for index, count in counts.items():
        for column in range(3):
            assert is_empty(cell(image, index, column)) == (column >= count), (LABELS[index], column, count)


def test_montage_cell_shows_the_samples_frame(processed):
    only_first = processed.filter(
        lambda value: value == processed[0][LABEL_COLUMN], input_columns=LABEL_COLUMN
    )
    only_first = only_first.select([0])
    image = draw(only_first, per_label=1, show_empty=False)
    assert image.size == (LABEL_WIDTH + CELL + GAP, CELL + GAP)
    frames = only_first[0]["frames"]
    expected = np.asarray(
        frames[len(frames) // 2].convert("RGB").resize((CELL, CELL), Image.Resampling.BILINEAR)
    )
    difference = np.abs(cell(image, 0, 0).astype(int) - expected.astype(int)).mean()
    assert difference < 8  # same frame, up to resampling


def test_montage_decodes_videos_of_the_filtered_config(filtered):
    assert any(row["video"] is not None for row in filtered.select_columns(["video"]))
    image = draw(filtered, per_label=1)
    labels = {value for value in filtered[LABEL_COLUMN]}
    for index in range(len(LABELS)):
        assert is_empty(cell(image, index, 0)) == (index not in labels)


def test_streaming_and_map_style_give_the_same_montage(processed):
    first_rows = draw(processed, seed=None)
    streamed = draw(processed.to_iterable_dataset(), seed=None)
    assert np.array_equal(np.asarray(first_rows), np.asarray(streamed))


def test_save_montage_writes_a_png(processed, tmp_path):
    path = save_montage(
        processed,
        tmp_path / "sub" / "montage.png",
        per_label=2,
        cell_size=CELL,
        label_width=LABEL_WIDTH,
        gap=GAP,
    )
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (LABEL_WIDTH + 2 * (CELL + GAP), len(LABELS) * (CELL + GAP))


def test_gif_animates_one_clip_per_label(filtered, tmp_path):
    path = save_label_gif(filtered, tmp_path / "labels.gif", num_frames=6, cell_size=64, columns=4)
    present = len({value for value in filtered[LABEL_COLUMN]})
    rows = -(-present // 4)
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == 6 and gif.info.get("loop") == 0
        assert gif.size == (4 * 64, rows * (64 + 14))
        first = np.asarray(gif.convert("RGB"))
        gif.seek(5)
        last = np.asarray(gif.convert("RGB"))
    assert not np.array_equal(first, last)  # the videos move


def test_video_frames_follow_the_requested_positions(filtered):
    row = next(
        row
        for row in filtered.cast_column("video", filtered.features["video"].__class__(decode=False))
        if row["video"] is not None
    )
    start, _middle, end = sample_frames(row, ["frames", "video"], [0.0, 0.5, 1.0])
    assert start.size == end.size and start.mode == "RGB"
    assert not np.array_equal(np.asarray(start), np.asarray(end))


def test_noise_frames_are_not_shown():
    clean, noise = Image.new("RGB", (4, 4), (200, 0, 0)), Image.new("RGB", (4, 4), (0, 0, 0))
    row = {"frames": [noise, clean, noise], "frame_indices": [0, 1, 2], "noise_frame_indices": [0, 2]}
    assert [frame.getpixel((0, 0)) for frame in sample_frames(row, ["frames"], [0.0, 1.0])] == [
        (200, 0, 0)
    ] * 2


def test_label_clip_frames_without_media_column_is_refused():
    features = Features({LABEL_COLUMN: ClassLabel(names=list(LABELS)), "sample_id": Value("int32")})
    dataset = Dataset.from_dict({LABEL_COLUMN: [0], "sample_id": [1]}, features=features)
    with pytest.raises(PreviewError, match="no image or video column"):
        label_clip_frames(dataset)


def test_unknown_label_column_is_refused(processed):
    with pytest.raises(PreviewError, match="label_column"):
        montage(processed, label_column="diagnosis")


def test_preview_script_writes_png_and_gif(sample_archive, tmp_path):
    from hf_loader.cli.preview_dataset import main

    code = main(
        [
            "--data_dir",
            str(sample_archive),
            "--out",
            str(tmp_path),
            "--config",
            "processed",
            "--per_label",
            "2",
            "--gif_frames",
            "4",
            "--cache_dir",
            str(tmp_path / "cache"),
        ]
    )
    assert code == 0
    assert (tmp_path / "montage_processed_train.png").is_file()
    with Image.open(tmp_path / "labels_processed_train.gif") as gif:
        assert gif.n_frames == 4


def test_preview_of_an_exported_folder_streamed(processed, tmp_path):
    import datasets

    from hf_loader.export import export_dataset_dict

    export_dataset_dict(datasets.DatasetDict({"train": processed}), tmp_path, "processed")
    streamed = datasets.load_dataset(str(tmp_path), split="train", streaming=True)
    assert np.array_equal(np.asarray(draw(streamed, seed=None)), np.asarray(draw(processed, seed=None)))
