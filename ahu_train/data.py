"""From the AHU dataset to clip tensors: loading, the on-the-fly collator with training augmentation,
several clips per video for video-level evaluation.

Rows are those of `hf_loader.builder.AHUUltrasound` (or its Parquet export / Hub copy): `sample_id`,
`frames` (list of PIL images, noise frames removed), `primary_label` (class index), `labels` (list of
class indices), ... The collator runs `RViTVideoProcessor` on each batch (map-style and streaming
datasets alike, so the frames are never materialized as tensors in the dataset).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hf_loader.constants import NUM_LABELS
from hf_loader.errors import AHUDataError

FRAME_MODES = ("clip", "single")


class TrainingDataError(AHUDataError):
    """A dataset row or source that training cannot use (missing column, no frames, bad source)."""

    reason = "unusable training data"


def load_ahu_dataset(
    data_dir: str | Path | None = None,
    dataset_name: str | None = None,
    config_name: str = "processed",
    split_scheme: str | None = None,
    streaming: bool = False,
    cache_dir: str | None = None,
    revision: str | None = None,
    **builder_kwargs,
):
    """Load the AHU dataset as a `DatasetDict` (or `IterableDatasetDict` when `streaming`).

    Exactly one source:
    - `data_dir`: a folder holding the archive (or its zips): prepared with `hf_loader.builder.AHUUltrasound`;
      a folder that is a Parquet export (has a README.md with `configs:`) is read with `load_dataset`.
    - `dataset_name`: a Hub repo id (or an exported folder), read with `datasets.load_dataset`.

    Args:
        config_name: builder config (`processed`, `filtered`, `raw`, `full`) or the export's config.
        split_scheme: builder split scheme (`stratified`, `paper`, `creator`); None keeps the builder default.
        streaming: an `IterableDatasetDict` (training then needs `max_steps`).
        **builder_kwargs: more `AHUUltrasoundConfig` options for an archive (`seed`, `fractions`, `errors`, ...).
    """
    import datasets

    if (data_dir is None) == (dataset_name is None):
        raise TrainingDataError(
            "give exactly one of data_dir (an archive folder) or dataset_name (a Hub repo "
            "or an exported folder)"
        )
    if data_dir is not None and (Path(data_dir) / "README.md").is_file():
        dataset_name, data_dir = str(data_dir), None
    if dataset_name is not None:
        kwargs = {"cache_dir": cache_dir, "revision": revision, "streaming": streaming}
        try:
            return datasets.load_dataset(dataset_name, config_name, **kwargs)
        except ValueError as error:
            if "BuilderConfig" not in str(error) and "config" not in str(error).lower():
                raise
            # An export with a single, default config.
            return datasets.load_dataset(dataset_name, **kwargs)
    if not Path(data_dir).exists():
        raise TrainingDataError(
            f"{data_dir}: no such folder (give the folder holding raw/, filtered/ or "
            "processed/, or their zips)",
            entry=str(data_dir),
        )
    from hf_loader.builder import AHUUltrasound

    builder_kwargs.update(config_name=config_name, data_dir=str(data_dir), cache_dir=cache_dir)
    if split_scheme is not None:
        builder_kwargs["split_scheme"] = split_scheme
    builder = AHUUltrasound(**builder_kwargs)
    if streaming:
        return builder.as_streaming_dataset()
    builder.download_and_prepare()
    return builder.as_dataset()


def clip_starts(num_frames_total: int, clip_length: int) -> list[int]:
    """Start indices of non-overlapping clips of `clip_length` covering a whole video.

    The last clip is aligned to the video's end (it overlaps its neighbour) so no clip is padded unless the
    video is shorter than one clip. Example: 10 frames, clips of 4 → [0, 4, 6].
    """
    if num_frames_total <= clip_length:
        return [0]
    starts = list(range(0, num_frames_total - clip_length + 1, clip_length))
    if starts[-1] + clip_length < num_frames_total:
        starts.append(num_frames_total - clip_length)
    return starts


@dataclass
class ClipAugmentation:
    """Training augmentation, the same random draw for every frame of a clip.

    Applied to normalized clips (T, 3, H, W). The ultrasound sector sits at a fixed place on screen
    and grey levels vary between machines, hence a mild crop, a flip and an intensity jitter only.

    Attributes:
        crop_scale: area fraction range of the random resized crop (1.0 disables it).
        flip_probability: probability of a horizontal flip.
        brightness: maximum additive shift, in normalized units (pixel values span 2.0 with mean=std=0.5).
        contrast: maximum relative contrast change (0.2 → factor in [0.8, 1.2]).
    """

    crop_scale: tuple[float, float] = (0.8, 1.0)
    flip_probability: float = 0.5
    brightness: float = 0.1
    contrast: float = 0.2

    def __call__(self, clip: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(T, 3, H, W) float → (T, 3, H, W) float; draws from `generator` (default: torch's global RNG)."""
        from torchvision.transforms.v2 import functional as TF

        def uniform(low: float, high: float) -> float:
            return low + (high - low) * float(torch.rand((), generator=generator))

        height, width = clip.shape[-2:]
        low, high = self.crop_scale
        if low < 1.0:
            area = uniform(low, high)
            crop_h = max(1, min(height, round(height * math.sqrt(area))))
            crop_w = max(1, min(width, round(width * math.sqrt(area))))
            top = int(torch.randint(0, height - crop_h + 1, (), generator=generator))
            left = int(torch.randint(0, width - crop_w + 1, (), generator=generator))
            clip = TF.resized_crop(clip, top, left, crop_h, crop_w, [height, width], antialias=True)
        if self.flip_probability and uniform(0.0, 1.0) < self.flip_probability:
            clip = clip.flip(-1)
        if self.contrast or self.brightness:
            factor = 1.0 + uniform(-self.contrast, self.contrast)
            shift = uniform(-self.brightness, self.brightness)
            mean = clip.mean()
            clip = (clip - mean) * factor + mean + shift
        return clip


@dataclass
class VideoClipCollator:
    """Batch of dataset rows → model inputs, running the video processor on the fly.

    Args:
        processor: an `RViTVideoProcessor` (its size, mean, std and `num_frames` are used).
        training: random contiguous window and augmentation when True; centre window otherwise.
        augmentation: a `ClipAugmentation`, or None for no spatial augmentation.
        frame_mode: `"clip"` (the clip as it is) or `"single"`: one frame repeated over the clip (a control
            that cannot see motion; random frame when training, the middle one otherwise).
        multi_label: labels as (batch, num_labels) multi-hot floats from `labels_column` instead of the
            primary label's index.
        frames_column, label_column, labels_column: column names of the rows.

    Returns (from `__call__`): {"pixel_values": (batch, num_frames, 3, H, W) float32,
        "frame_mask": (batch, num_frames) int64, "labels": (batch,) int64 or (batch, num_labels) float32}.
    """

    processor: Any
    training: bool = False
    augmentation: ClipAugmentation | None = field(default_factory=ClipAugmentation)
    frame_mode: str = "clip"
    multi_label: bool = False
    num_labels: int = NUM_LABELS
    frames_column: str = "frames"
    label_column: str = "primary_label"
    labels_column: str = "labels"
    seed: int = 0
    epoch: int = 0

    def __post_init__(self):
        if self.frame_mode not in FRAME_MODES:
            raise ValueError(f"frame_mode={self.frame_mode!r}: choose one of {FRAME_MODES}")

    def __call__(self, rows: Sequence[dict]) -> dict[str, torch.Tensor]:
        generators = (
            [self._generator_of(row, index) for index, row in enumerate(rows)] if self.training else None
        )
        clips = [self._frames_of(row) for row in rows]
        if self.training:
            clips = [self._random_window(clip, generator) for clip, generator in zip(clips, generators)]
        batch = self.processor(
            videos=clips, return_tensors="pt", return_frame_mask=True, clip_window="center"
        )
        pixel_values, frame_mask = batch["pixel_values"], batch["frame_mask"]
        if self.frame_mode == "single":
            pixel_values, frame_mask = self._single_frame(pixel_values, frame_mask, generators)
        if self.training and self.augmentation is not None:
            pixel_values = torch.stack(
                [self.augmentation(clip, generator) for clip, generator in zip(pixel_values, generators)]
            )
        return {"pixel_values": pixel_values, "frame_mask": frame_mask, "labels": self._labels_of(rows)}

    def _generator_of(self, row: dict, index: int) -> torch.Generator:
        """A generator for one row, one epoch: seeded by (seed, epoch, sample_id)."""
        key = row.get("sample_id", index)
        key = int(key) if isinstance(key, (int, np.integer)) else zlib.crc32(str(key).encode())
        return torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) * 1_000_003 + key)

    def _random_window(self, frames: list, generator: torch.Generator) -> list:
        """A random contiguous window of `num_frames` frames (the whole clip when shorter)."""
        length = self.processor.num_frames
        if length is None or len(frames) <= length:
            return frames
        start = int(torch.randint(0, len(frames) - length + 1, (), generator=generator))
        return frames[start : start + length]

    def _frames_of(self, row: dict) -> list:
        if self.frames_column not in row:
            raise TrainingDataError(
                f"row has no {self.frames_column!r} column (columns: {sorted(row)}); use the 'processed' config, "
                "and remove_unused_columns=False in TrainingArguments (transformers#20827)",
                entry=f"sample {row.get('sample_id', '?')}",
            )
        frames = row[self.frames_column]
        if frames is None or len(frames) == 0:
            raise TrainingDataError(
                "has no frame left (all frames were noise?); filter such rows out first",
                entry=f"sample {row.get('sample_id', '?')}",
            )
        return list(frames)

    def _labels_of(self, rows: Sequence[dict]) -> torch.Tensor:
        if self.multi_label:
            multi_hot = torch.zeros(len(rows), self.num_labels, dtype=torch.float32)
            for i, row in enumerate(rows):
                multi_hot[i, list(row[self.labels_column])] = 1.0
            return multi_hot
        return torch.tensor([int(row[self.label_column]) for row in rows], dtype=torch.long)

    def _single_frame(self, pixel_values: torch.Tensor, frame_mask: torch.Tensor, generators=None):
        """Repeat one real frame of each clip over all `num_frames` positions."""
        batch, num_frames = frame_mask.shape
        picked = []
        for i in range(batch):
            real = int(frame_mask[i].sum().clamp(min=1))
            index = int(torch.randint(0, real, (), generator=generators[i])) if generators else real // 2
            picked.append(pixel_values[i, index].expand(num_frames, *pixel_values.shape[2:]))
        return torch.stack(picked), torch.ones_like(frame_mask)


def iter_video_clips(
    rows: Iterable[dict], clip_length: int, all_clips: bool = True, frames_column: str = "frames"
) -> Iterable[tuple[dict, int]]:
    """Yield (row with `frames` cut to one clip, clip start) for every clip of every row.

    With `all_clips=False` one centred clip per video (the paper's evaluation); with True the
    non-overlapping clips of `clip_starts` covering the whole video.
    """
    for row in rows:
        frames = list(row[frames_column])
        if not all_clips or len(frames) <= clip_length:
            start = max(0, (len(frames) - clip_length) // 2)
            yield {**row, frames_column: frames[start : start + clip_length]}, start
            continue
        for start in clip_starts(len(frames), clip_length):
            yield {**row, frames_column: frames[start : start + clip_length]}, start


def label_counts(dataset, num_labels: int = NUM_LABELS, label_column: str = "primary_label") -> np.ndarray:
    """(num_labels,) number of rows per primary label of a map-style dataset (reads one column only)."""
    return np.bincount(np.asarray(dataset[label_column], dtype=np.int64), minlength=num_labels)


def epoch_seed_callback(collator: VideoClipCollator):
    """A `TrainerCallback` that sets `collator.epoch` at the start of every epoch."""
    from transformers import TrainerCallback

    class _EpochSeed(TrainerCallback):
        def on_epoch_begin(self, args, state, control, **kwargs):
            # state.epoch is fractional after a mid-epoch resume (e.g. 0.6): the epoch under way is its floor.
            collator.epoch = math.floor((state.epoch or 0.0) + 1e-6)

    return _EpochSeed()


def resize_frames(dataset, size: int, frames_column: str = "frames", num_proc: int | None = None):
    """A copy of a map-style dataset whose frames are resized once to (size, size) RGB.

    A cache for CPU training: the processor then resizes nothing, and every epoch decodes small images.
    The result is what the processor would feed the model up to the resampling filter (PIL bilinear here).
    """
    from PIL import Image

    def shrink(row):
        row[frames_column] = [
            frame.convert("RGB").resize((size, size), Image.BILINEAR) for frame in row[frames_column]
        ]
        return row

    return dataset.map(shrink, num_proc=num_proc, desc=f"resizing frames to {size}x{size}")
