"""A look at the data in a minute: a montage of frames per label, and a GIF of one clip per label.

Works on any config (a `frames` list of images, or a `video`), map-style or streaming:

    >>> from hf_loader.preview import montage, save_montage, save_label_gif
    >>> image = montage(dataset["train"], per_label=4)        # PIL.Image, one row per label  # doctest: +SKIP
    >>> save_label_gif(dataset["train"], "labels.gif")        # one animated tile per label   # doctest: +SKIP

Media columns are read undecoded (`decode=False`) and only the frames shown are decoded, with
Pillow for images and PyAV for videos (no torchcodec needed).
"""

from __future__ import annotations

import io
import math
import os
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, IterableDatasetDict, List, Video
from datasets import Image as ImageFeature
from datasets import Sequence as SequenceFeature
from PIL import Image, ImageDraw, ImageFont

from .constants import LABEL_COLUMN, LABELS
from .errors import AHUDataError, CorruptMediaError

BACKGROUND = (24, 24, 24)
EMPTY_CELL = (56, 56, 56)
TEXT = (235, 235, 235)


class PreviewError(AHUDataError):
    """A dataset that cannot be previewed (no label or media column, nothing to show)."""

    reason = "preview impossible"


def _first_split(dataset):
    if isinstance(dataset, (DatasetDict, IterableDatasetDict)):
        if not dataset:
            raise PreviewError("the DatasetDict has no split")
        return dataset["train"] if "train" in dataset else next(iter(dataset.values()))
    return dataset


def media_columns(features) -> list[str]:
    """Columns to show, in order of preference: `frames` (list of images), `video`, `images`, then
    any other image/video column. A row shows the first of them it has (a filtered video row has no
    `frames`, an image-set row no `video`)."""
    names = [name for name in ("frames", "video", "images", "image") if name in features]
    for name, feature in features.items():
        inner = getattr(feature, "feature", feature)
        if name not in names and isinstance(inner, (ImageFeature, Video)):
            names.append(name)
    if not names:
        raise PreviewError(f"no image or video column among {list(features)}")
    return names


def _undecoded(feature):
    """The same feature with decoding turned off, so rows carry bytes/paths, not decoded media."""
    if isinstance(feature, (ImageFeature, Video)):
        return type(feature)(decode=False)
    if isinstance(feature, (List, SequenceFeature)) and isinstance(feature.feature, ImageFeature):
        return List(ImageFeature(decode=False))
    return feature


def _label_names(features, label_column: str) -> list[str]:
    feature = features[label_column]
    feature = getattr(feature, "feature", feature)
    return list(feature.names) if isinstance(feature, ClassLabel) else list(LABELS)


def _label_name(value, names: Sequence[str]) -> str:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    if value is None:
        return "(none)"
    return names[value] if isinstance(value, (int, np.integer)) else str(value)


def pick_samples(
    dataset, per_label: int, label_column: str = LABEL_COLUMN, seed: int | None = 0, max_scan: int = 5000
) -> dict[str, list[dict]]:
    """Up to `per_label` rows per label name (media undecoded), in label-index order.

    A map-style dataset is grouped from its label column alone and rows are drawn with `seed`
    (None: the first rows); a streaming one is read in order until every label is filled or
    `max_scan` rows were seen.
    """
    dataset = _first_split(dataset)
    features = dataset.features
    if label_column not in features:
        raise PreviewError(f"no column {label_column!r} (columns: {list(features)}); pass label_column=")
    names = _label_names(features, label_column)
    picked: dict[str, list[dict]] = {name: [] for name in names}
    if isinstance(dataset, Dataset):
        groups: dict[str, list[int]] = {}
        for index, value in enumerate(dataset.select_columns([label_column])[label_column]):
            groups.setdefault(_label_name(value, names), []).append(index)
        rng = random.Random(seed)
        # Arrow rows carry media as stored ({bytes, path}); casting to decode=False would copy a list column.
        stored = dataset.with_format("arrow")
        for name, indices in groups.items():
            chosen = (
                indices[:per_label]
                if seed is None
                else sorted(rng.sample(indices, min(per_label, len(indices))))
            )
            picked.setdefault(name, []).extend(stored[index].to_pylist()[0] for index in chosen)
    else:
        for column in media_columns(features):
            dataset = dataset.cast_column(column, _undecoded(features[column]))
        for seen, row in enumerate(dataset):
            bucket = picked.setdefault(_label_name(row[label_column], names), [])
            if len(bucket) < per_label:
                bucket.append(row)
            if seen + 1 >= max_scan or all(len(rows) >= per_label for rows in picked.values()):
                break
    return picked


def _open_image(item) -> Image.Image:
    if isinstance(item, Image.Image):
        return item.convert("RGB")
    data, path = item.get("bytes"), item.get("path")
    try:
        image = Image.open(io.BytesIO(data) if data is not None else path)
        return image.convert("RGB")
    except (OSError, ValueError) as err:
        raise CorruptMediaError(
            f"cannot decode the image ({err})", entry=str(path or "embedded image")
        ) from err


def _video_frames(item, positions: Sequence[float]) -> list[Image.Image]:
    """Frames at `positions` (fractions 0..1 of the clip) of a video given as {bytes, path}."""
    import av

    data, path = item.get("bytes"), item.get("path")
    source = io.BytesIO(data) if data is not None else path
    entry = str(path or "embedded video")
    try:
        with av.open(source) as container:
            if not container.streams.video:
                raise CorruptMediaError("no video stream (is the file truncated?)", entry=entry)
            stream = container.streams.video[0]
            total = stream.frames or sum(1 for packet in container.demux(stream) if packet.size)
            if total == 0:
                raise CorruptMediaError("the video holds no frame", entry=entry)
            container.seek(0)
            wanted = sorted({min(total - 1, round(p * (total - 1))) for p in positions})
            frames: dict[int, Image.Image] = {}
            for index, frame in enumerate(container.decode(stream)):
                if index in wanted:
                    frames[index] = frame.to_image()
                if index >= wanted[-1]:
                    break
    except av.error.FFmpegError as err:
        raise CorruptMediaError(f"cannot decode the video ({err})", entry=entry) from err
    if not frames:
        raise CorruptMediaError("no frame could be decoded", entry=entry)
    last = frames[max(frames)]
    return [frames.get(min(total - 1, round(p * (total - 1))), last) for p in positions]


def _clean_frames(row: dict, frames: list) -> list:
    """The frames not judged noise, when the row says which (`frame_indices`, `noise_frame_indices`)."""
    positions, noise = row.get("frame_indices"), set(row.get("noise_frame_indices") or [])
    if not noise or not positions or len(positions) != len(frames):
        return frames
    clean = [frame for frame, position in zip(frames, positions) if position not in noise]
    return clean or frames


def sample_frames(row: dict, columns: Sequence[str], positions: Sequence[float]) -> list[Image.Image]:
    """RGB frames of one row at `positions` (fractions 0..1 of its frames or clip), from the first of
    `columns` the row has."""
    media = next((row[column] for column in columns if row.get(column)), None)
    if media is None:
        raise CorruptMediaError(
            f"the sample has no media in {list(columns)}", entry=str(row.get("sample_id", "sample"))
        )
    if isinstance(media, list):
        media = _clean_frames(row, media)
        return [_open_image(media[min(len(media) - 1, round(p * (len(media) - 1)))]) for p in positions]
    if isinstance(media, Image.Image):
        return [media.convert("RGB")]
    if (
        isinstance(media, dict)
        and media.get("bytes") is None
        and str(media.get("path", "")).lower().endswith((".jpg", ".jpeg", ".png", ".bmp"))
    ):
        return [_open_image(media)]
    return _video_frames(media, positions)


def _fit(image: Image.Image, size: int) -> Image.Image:
    """`image` scaled to fit a `size`x`size` square, centred on the background colour."""
    image = image.copy()
    image.thumbnail((size, size), Image.Resampling.BILINEAR)
    cell = Image.new("RGB", (size, size), BACKGROUND)
    cell.paste(image, ((size - image.width) // 2, (size - image.height) // 2))
    return cell


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one fixed-size bitmap font
        return ImageFont.load_default()


def montage(
    dataset,
    per_label: int = 4,
    *,
    label_column: str = LABEL_COLUMN,
    cell_size: int = 96,
    label_width: int = 140,
    gap: int = 2,
    frame_position: float = 0.5,
    seed: int | None = 0,
    show_empty: bool = True,
) -> Image.Image:
    """A grid of sample frames: one row per label (its name as row title), `per_label` samples per row.

    Each cell is the frame at `frame_position` (fraction of the sample's frames or clip) of one
    sample whose `label_column` is that label, scaled into a `cell_size` square; missing samples
    are grey cells.

    Returns:
        An RGB `PIL.Image` of `(label_width + per_label * (cell_size + gap))` x
        `(rows * (cell_size + gap))` pixels, rows = 13 labels (or only the labels present when
        `show_empty=False`).
    """
    if per_label < 1:
        raise PreviewError(f"per_label must be at least 1, got {per_label}")
    split = _first_split(dataset)
    columns = media_columns(split.features)
    picked = pick_samples(split, per_label, label_column=label_column, seed=seed)
    rows = [(name, samples) for name, samples in picked.items() if samples or show_empty]
    if not any(samples for _, samples in rows):
        raise PreviewError("the dataset has no row to show")
    step = cell_size + gap
    canvas = Image.new("RGB", (label_width + per_label * step, len(rows) * step), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font = _font(max(10, cell_size // 7))
    for row_index, (name, samples) in enumerate(rows):
        top = row_index * step
        draw.text((6, top + cell_size // 2), f"{name}", fill=TEXT, font=font, anchor="lm")
        for column_index in range(per_label):
            left = label_width + column_index * step
            if column_index < len(samples):
                (frame,) = sample_frames(samples[column_index], columns, [frame_position])
                canvas.paste(_fit(frame, cell_size), (left, top))
            else:
                draw.rectangle([left, top, left + cell_size - 1, top + cell_size - 1], fill=EMPTY_CELL)
    return canvas


def save_montage(dataset, path: str | os.PathLike, **kwargs) -> Path:
    """Saves `montage(dataset, **kwargs)` as a PNG and returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    montage(dataset, **kwargs).save(path, format="PNG")
    return path


def label_clip_frames(
    dataset,
    num_frames: int = 12,
    *,
    label_column: str = LABEL_COLUMN,
    cell_size: int = 128,
    columns: int = 5,
    seed: int | None = 0,
) -> list[Image.Image]:
    """Frames of an animation with one tile per label present: tile t shows one clip of that label.

    Each clip is sampled at `num_frames` evenly spaced positions (an image set steps through its images).

    Returns:
        `num_frames` RGB images of `columns * cell_size` x `rows * (cell_size + caption)` pixels.
    """
    split = _first_split(dataset)
    media = media_columns(split.features)
    picked = {name: rows[0] for name, rows in pick_samples(split, 1, label_column, seed=seed).items() if rows}
    if not picked:
        raise PreviewError("the dataset has no row to show")
    positions = [index / max(1, num_frames - 1) for index in range(num_frames)]
    clips = {
        name: [_fit(frame, cell_size) for frame in sample_frames(row, media, positions)]
        for name, row in picked.items()
    }
    caption = max(14, cell_size // 8)
    columns = min(columns, len(clips))
    rows = math.ceil(len(clips) / columns)
    font = _font(caption - 4)
    frames = []
    for index in range(num_frames):
        canvas = Image.new("RGB", (columns * cell_size, rows * (cell_size + caption)), BACKGROUND)
        draw = ImageDraw.Draw(canvas)
        for tile, (name, clip) in enumerate(clips.items()):
            left, top = (tile % columns) * cell_size, (tile // columns) * (cell_size + caption)
            draw.text((left + cell_size // 2, top + caption // 2), name, fill=TEXT, font=font, anchor="mm")
            canvas.paste(clip[index], (left, top + caption))
        frames.append(canvas)
    return frames


def save_label_gif(dataset, path: str | os.PathLike, *, frame_duration_ms: int = 150, **kwargs) -> Path:
    """Saves `label_clip_frames(dataset, **kwargs)` as a looping animated GIF and returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = label_clip_frames(dataset, **kwargs)
    frames[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=frame_duration_ms,
        loop=0,
        optimize=False,
    )
    return path
