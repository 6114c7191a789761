"""From a dataset to clip tensors: loading, the column layout, the on-the-fly collator with training
augmentation, several clips per video for video-level evaluation.

Any column layout works (`ColumnLayout`, `resolve_layout`):
- the `processed` config (or its export): `frames`, the processed tier's 224x224 frames, noise removed;
- the `filtered` config: `video` (a datasets `Video`, decoded to a torchcodec `VideoDecoder`) for videos and
  `images` (the raw images) for image sets (an export made before `images` existed holds them in `frames`);
- any Hub-style dataset with a video column or a list-of-images column and a `label` (or list-valued
  `all_labels`/`labels`) target.

An export written before the label columns were renamed (`primary_label`, `labels`) is read with today's names
(`label`, `all_labels`), with a logged note (`hf_loader.export.rename_legacy_label_columns`).

The collator runs `RViTVideoProcessor` on each row, in the DataLoader's workers, and reads a row as the processor
does (`ultrasound_frames.clip_of_row`): a raw video or image set gets the paper's frame path (stride, crop, noise
removal), the one the saved processor applies to an mp4 in the `video-classification` pipeline; processed frames
skip the crop and the noise removal, which change nothing on them, and are only resized and normalized.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hf_loader.constants import ALL_LABELS_COLUMN, LABEL_COLUMN, NUM_LABELS
from hf_loader.errors import AHUDataError, quote_names
from modeling_rvit.ultrasound_frames import (
    FRAMES,
    IMAGE_SET,
    VIDEO,
    clip_kind_options,
    clip_of_row,
    window_start,
)

FRAME_MODES = ("clip", "single")
# The single-label target, and the multi-label targets in order of preference (a list of class indices; `labels`
# as other Hub datasets name it).
LABEL_COLUMNS = (LABEL_COLUMN,)
MULTI_LABEL_COLUMNS = (ALL_LABELS_COLUMN, "labels")
# Columns only the builder's processed frames carry: their `frames` are processed-tier frames.
PROCESSED_MARKER_COLUMNS = ("frame_indices", "noise_frame_indices")

# Processed-tier frames are already strided, cropped, 224 px and noise-free: the processor's crop and noise
# removal would leave them as they are (tests/test_processor_rows.py checks it), so the harness skips that work.
# Other clips take the processor's path for their kind (`ultrasound_frames.clip_kind_options`).
PROCESSED_FRAMES_OPTIONS = {
    "frame_stride": 1,
    "crop_mode": None,
    "processed_size": None,
    "do_remove_noise": False,
}


class TrainingDataError(AHUDataError):
    """A dataset row or source that training cannot use (missing column, no frames, bad source)."""

    reason = "unusable training data"


def load_ahu_dataset(
    data_dir: str | Path | None = None,
    dataset_name: str | None = None,
    config_name: str | None = None,
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
        config_name: builder config (`processed` by default, `filtered`, `raw`, `full`) or the export's config
            (its default one when None). An unknown name is an error listing the valid ones.
        split_scheme: builder split scheme (`stratified`, `paper`, `creator`); None keeps the builder default.
            An export has fixed splits: giving a scheme for one is an error.
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
        fixed = {"split_scheme": split_scheme, **builder_kwargs}
        given = sorted(name for name, value in fixed.items() if value is not None)
        if given:
            raise TrainingDataError(
                f"{dataset_name} is an exported or Hub dataset whose splits are fixed, so {', '.join(given)} "
                "cannot apply; drop it, or build the splits you want from the archive with --data_dir"
            )
        if config_name is not None:
            try:
                names = datasets.get_dataset_config_names(dataset_name, revision=revision)
            except (OSError, ValueError):  # the Hub's listing can fail offline; load_dataset then says why
                names = None
            if names is not None and config_name not in names:
                raise TrainingDataError(
                    f"{dataset_name} has no config {config_name!r}; its configs are {quote_names(sorted(names))}"
                )
        if (Path(dataset_name) / "README.md").is_file():
            from hf_loader.export import check_export_folder

            # A half-written export: "rerun the export", not datasets' own errors.
            check_export_folder(dataset_name)
        from hf_loader.export import rename_legacy_label_columns

        kwargs = {"cache_dir": cache_dir, "revision": revision, "streaming": streaming}
        return rename_legacy_label_columns(
            datasets.load_dataset(dataset_name, config_name, **kwargs), dataset_name
        )
    if not Path(data_dir).exists():
        raise TrainingDataError(
            "no such folder (give the folder holding raw/, filtered/ or processed/, or their zips)",
            entry=str(data_dir),
        )
    from hf_loader.builder import CONFIG_NAMES, AHUUltrasound

    config_name = config_name or "processed"
    if config_name not in CONFIG_NAMES:
        raise TrainingDataError(
            f"no config {config_name!r} in the AHU builder; its configs are {list(CONFIG_NAMES)}"
        )
    builder_kwargs.update(config_name=config_name, data_dir=str(data_dir), cache_dir=cache_dir)
    if split_scheme is not None:
        builder_kwargs["split_scheme"] = split_scheme
    builder = AHUUltrasound(**builder_kwargs)
    if streaming:
        return builder.as_streaming_dataset()
    builder.download_and_prepare()
    return builder.as_dataset()


def column_names_of(dataset) -> list[str]:
    """The columns of a map-style or streamed dataset (from its features when a stream does not list them)."""
    names = getattr(dataset, "column_names", None)
    if names is None and getattr(dataset, "features", None) is not None:
        names = list(dataset.features)
    if names is None:
        raise TrainingDataError(
            "the dataset does not declare its columns (features); cast it to known features"
        )
    return list(names)


@dataclass(frozen=True)
class ColumnLayout:
    """Which columns a dataset's clips and targets come from.

    Attributes:
        frames_column: a list of frames per row, or None. Its rows win over `images_column` and `video_column`
            where several are set.
        video_column: a video per row (a datasets `Video`: a torchcodec `VideoDecoder` once decoded), or None.
        frames_are_processed: the frames are processed-tier frames (strided, cropped, noise removed): the
            processor only resizes and normalizes them. False: they are an image set's raw images (an export of
            the `filtered` config made before its image sets moved to `images`).
        label_column: the single-label target, a class index (a list: its first entry, the primary label).
        labels_column: the multi-label target, a list of class indices, or None.
        images_column: an image set's images per row (the builder's `images`), or None.
    """

    frames_column: str | None
    video_column: str | None
    frames_are_processed: bool
    label_column: str | None
    labels_column: str | None
    images_column: str | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def resolve_layout(
    column_names: Sequence[str],
    video_column_name: str | None = None,
    frames_column_name: str | None = None,
    label_column_name: str | None = None,
    multi_label: bool = False,
    require_label: bool = True,
) -> ColumnLayout:
    """The `ColumnLayout` of a dataset with `column_names`, as `--video_column_name`, `--frames_column_name`
    and `--label_column_name` ask, else found: `frames` and/or `video`; `label`, else the first entry of
    `all_labels` or `labels` (single-label), or `all_labels`, else `labels` (multi-label).
    With `require_label=False` (self-supervised pretraining) a dataset without a target column gets
    `label_column=None`.

    Raises:
        TrainingDataError: a named column is missing, or no clip or target column is found; the message lists
            the dataset's columns.
    """
    if hasattr(column_names, "column_names") or isinstance(column_names, (str, bytes)):
        raise TypeError(
            f"resolve_layout takes a dataset's column names, not a {type(column_names).__name__}: pass "
            "column_names_of(dataset)"
        )
    columns = list(column_names)
    if not all(isinstance(name, str) for name in columns):
        kinds = sorted({type(name).__name__ for name in columns if not isinstance(name, str)})
        raise TypeError(f"resolve_layout takes column names (strings); got items of type {quote_names(kinds)}")
    listed = quote_names(columns)

    def require(name: str, what: str) -> str:
        if name not in columns:
            raise TrainingDataError(f"no {what} column {name!r}; the dataset's columns are {listed}")
        return name

    if video_column_name or frames_column_name:
        video_column = require(video_column_name, "video") if video_column_name else None
        frames_column = require(frames_column_name, "frames") if frames_column_name else None
    else:
        video_column = "video" if "video" in columns else None
        frames_column = "frames" if "frames" in columns else None
    images_column = (
        "images" if "images" in columns and not (video_column_name or frames_column_name) else None
    )
    if video_column is None and frames_column is None and images_column is None:
        raise TrainingDataError(
            f"no clip column: the dataset's columns are {listed}; name the video column with "
            "--video_column_name or the list-of-images column with --frames_column_name"
        )
    # `frames` are processed frames, except in an old export of the filtered config: videos beside image sets
    # in `frames`, with neither `images` nor the builder's processed-frame columns. `images` are image sets.
    frames_are_processed = frames_column not in (None, "images") and (
        "video" not in columns
        or "images" in columns
        or any(name in columns for name in PROCESSED_MARKER_COLUMNS)
    )
    if label_column_name:
        require(label_column_name, "label")
    if multi_label:
        labels_column = label_column_name or next(
            (name for name in MULTI_LABEL_COLUMNS if name in columns), None
        )
        if labels_column is None:
            raise TrainingDataError(
                f"multi-label training needs a list-of-labels column ({ALL_LABELS_COLUMN!r}); the dataset's "
                f"columns are {listed}; name it with --label_column_name"
            )
        label_column = next((name for name in LABEL_COLUMNS if name in columns), None)
        return ColumnLayout(
            frames_column, video_column, frames_are_processed, label_column, labels_column, images_column
        )
    label_column = label_column_name or next(
        (name for name in (*LABEL_COLUMNS, *MULTI_LABEL_COLUMNS) if name in columns), None
    )
    if label_column is None and require_label:
        raise TrainingDataError(
            f"no label column ({', '.join((*LABEL_COLUMNS, *MULTI_LABEL_COLUMNS))}); the dataset's columns are "
            f"{listed}; name it with --label_column_name"
        )
    labels_column = next((name for name in MULTI_LABEL_COLUMNS if name in columns), None)
    return ColumnLayout(
        frames_column, video_column, frames_are_processed, label_column, labels_column, images_column
    )


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
    """Batch of dataset rows → model inputs, running the video processor on the fly (in DataLoader workers).

    Args:
        processor: an `RViTVideoProcessor` (its size, mean, std and `num_frames` are used; a video is given
            its saved frame path: stride, crop, noise removal).
        layout: the dataset's `ColumnLayout` (default: the builder's `processed` config: `frames`,
            `label`, `all_labels`).
        training: random contiguous window and augmentation when True; centre window otherwise.
        augmentation: a `ClipAugmentation`, or None for no spatial augmentation.
        frame_mode: `"clip"` (the clip as it is) or `"single"`: one frame repeated over the clip (a control
            that cannot see motion; random frame when training, the middle one otherwise).
        multi_label: labels as (batch, num_labels) multi-hot floats from `layout.labels_column` instead of the
            primary label's index.
        label2id: maps label names to indices, for a dataset whose targets are strings.

    Returns (from `__call__`): {"pixel_values": (batch, num_frames, 3, H, W) float32,
        "frame_mask": (batch, num_frames) int64, "labels": (batch,) int64 or (batch, num_labels) float32}.
    """

    processor: Any
    layout: ColumnLayout = field(
        default_factory=lambda: ColumnLayout("frames", None, True, LABEL_COLUMN, ALL_LABELS_COLUMN)
    )
    training: bool = False
    augmentation: ClipAugmentation | None = field(default_factory=ClipAugmentation)
    frame_mode: str = "clip"
    multi_label: bool = False
    num_labels: int = NUM_LABELS
    label2id: dict[str, int] | None = None
    seed: int = 0
    epoch: int = 0

    def __post_init__(self):
        if self.frame_mode not in FRAME_MODES:
            raise ValueError(f"frame_mode={self.frame_mode!r}: choose one of {FRAME_MODES}")

    def __call__(self, rows: Sequence[dict]) -> dict[str, torch.Tensor]:
        generators = (
            [self._generator_of(row, index) for index, row in enumerate(rows)] if self.training else None
        )
        clips, masks = [], []
        for index, row in enumerate(rows):
            generator = generators[index] if generators else None
            frames, _ = self.frames_of(row, window=True, generator=generator)
            clip, mask = self.window(frames, generator)
            clips.append(clip)
            masks.append(mask)
        pixel_values, frame_mask = torch.stack(clips), torch.stack(masks)
        if self.frame_mode == "single":
            pixel_values, frame_mask = self._single_frame(pixel_values, frame_mask, generators)
        if self.training and self.augmentation is not None:
            pixel_values = torch.stack(
                [self.augmentation(clip, generator) for clip, generator in zip(pixel_values, generators)]
            )
        return {"pixel_values": pixel_values, "frame_mask": frame_mask, "labels": self.labels_of(rows)}

    def frames_of(
        self, row: dict, window: bool = False, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, int]:
        """The model frames of one row: ((T, 3, H, W) float32 normalized, index of the first one).

        Processed frames are cut to their window first when `window` (random from `generator`, else the
        centre one; no step of theirs depends on other frames, so this only saves work). A video or an image set
        goes whole through the processor's frame path, whose noise removal needs every frame; `window` then
        leaves it to `VideoClipCollator.window`.
        """
        source, options = self.source_of(row)
        offset = 0
        if options is PROCESSED_FRAMES_OPTIONS and window and self.processor.num_frames is not None:
            surplus = max(0, len(source) - self.processor.num_frames)
            offset = (
                int(torch.randint(0, surplus + 1, (), generator=generator))
                if generator
                else window_start(len(source), self.processor.num_frames, "center")
            )
            source = source[offset : offset + self.processor.num_frames]
        try:
            batch = self.processor(
                source, num_frames=None, return_tensors=None, return_frame_mask=False, **options
            )
        except Exception as error:
            raise TrainingDataError(
                f"the processor cannot read it ({error})", entry=self._name_of(row)
            ) from error
        return batch["pixel_values"][0], offset

    def source_of(self, row: dict) -> tuple[Any, dict]:
        """(the row's clip source: a list of frames or a video, the processor options for it), the column read
        as the processor reads a row (`ultrasound_frames.clip_of_row`)."""
        layout = self.layout
        columns = {
            layout.frames_column: FRAMES if layout.frames_are_processed else IMAGE_SET,
            layout.images_column: IMAGE_SET,
            layout.video_column: VIDEO,
        }
        columns.pop(None, None)
        missing = [name for name in columns if name not in row]
        if missing:
            raise TrainingDataError(
                f"row has no {missing[0]!r} column (columns: {sorted(row)}); keep it with "
                "remove_unused_columns=False in TrainingArguments (transformers#20827)",
                entry=self._name_of(row),
            )
        found = clip_of_row(row, columns)
        if found is not None:
            source, kind = found
            return source, PROCESSED_FRAMES_OPTIONS if kind == FRAMES else clip_kind_options(kind)
        frames = row[layout.frames_column] if layout.frames_column else None
        if layout.frames_column and frames is not None and layout.frames_are_processed:
            raise TrainingDataError(
                "has no frame left (all frames were noise?); filter such rows out first",
                entry=self._name_of(row),
            )
        sources = " or ".join(repr(name) for name in columns)
        raise TrainingDataError(
            f"has no clip in {sources}; filter such rows out, or name the clip column with --video_column_name "
            "/ --frames_column_name",
            entry=self._name_of(row),
        )

    def window(
        self, frames: torch.Tensor, generator: torch.Generator | None = None, start: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(T, 3, H, W) → ((num_frames, 3, H, W), (num_frames,) frame mask): the window at `start`, a random one
        drawn from `generator`, or the centre one (the processor's `clip_window="center"`); a shorter clip is
        padded by repeating its last frame, as the processor pads."""
        length = self.processor.num_frames
        if length is None:
            return frames, torch.ones(len(frames), dtype=torch.int64)
        if start is None:
            surplus = max(0, len(frames) - length)
            start = (
                int(torch.randint(0, surplus + 1, (), generator=generator))
                if generator
                else window_start(len(frames), length, "center")
            )
        clip = frames[start : start + length]
        real = len(clip)
        if real < length:
            clip = torch.cat([clip, clip[-1:].expand(length - real, *clip.shape[1:])])
        return clip, (torch.arange(length) < real).to(torch.int64)

    def labels_of(self, rows: Sequence[dict]) -> torch.Tensor:
        """(batch,) int64 class indices, or (batch, num_labels) float32 multi-hot with `multi_label`."""
        if self.multi_label:
            multi_hot = torch.zeros(len(rows), self.num_labels, dtype=torch.float32)
            for i, row in enumerate(rows):
                value = self._target(row, self.layout.labels_column)
                indices = value if isinstance(value, (list, tuple)) else [value]
                multi_hot[i, [self._index(row, item) for item in indices]] = 1.0
            return multi_hot
        return torch.tensor([self.label_of(row) for row in rows], dtype=torch.long)

    def label_of(self, row: dict) -> int:
        """The single-label target of a row (the first entry of a list: the primary label)."""
        value = self._target(row, self.layout.label_column)
        if isinstance(value, (list, tuple)):
            if not value:
                raise TrainingDataError(
                    f"has no label in {self.layout.label_column!r}", entry=self._name_of(row)
                )
            value = value[0]
        return self._index(row, value)

    def _target(self, row: dict, column: str | None):
        if column is None or column not in row:
            raise TrainingDataError(
                f"row has no label column {column!r} (columns: {sorted(row)}); name it with --label_column_name",
                entry=self._name_of(row),
            )
        if row[column] is None:
            raise TrainingDataError(f"has no label in {column!r}", entry=self._name_of(row))
        return row[column]

    def _index(self, row: dict, value) -> int:
        if isinstance(value, str):
            if not self.label2id or value not in self.label2id:
                raise TrainingDataError(
                    f"label {value!r} is not one of the model's labels {sorted(self.label2id or {})}",
                    entry=self._name_of(row),
                )
            return self.label2id[value]
        index = int(value)
        if not 0 <= index < self.num_labels:
            raise TrainingDataError(
                f"label index {index} is outside the model's {self.num_labels} labels",
                entry=self._name_of(row),
            )
        return index

    @staticmethod
    def _name_of(row: dict) -> str:
        return f"sample {row.get('sample_id', '?')}"

    def _generator_of(self, row: dict, index: int) -> torch.Generator:
        """A generator for one row, one epoch: seeded by (seed, epoch, sample_id)."""
        key = row.get("sample_id", index)
        key = int(key) if isinstance(key, (int, np.integer)) else zlib.crc32(str(key).encode())
        return torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) * 1_000_003 + key)

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
    rows: Iterable[dict], collator: VideoClipCollator, all_clips: bool = True
) -> Iterable[tuple[dict, int, torch.Tensor, torch.Tensor]]:
    """Yield (row, clip start, clip (num_frames, 3, H, W), frame mask (num_frames,)) for every clip of every row.

    With `all_clips=False` one centred clip per video (the paper's evaluation, the pipeline's clip); with True
    the non-overlapping clips of `clip_starts` covering the whole video. Each row's frames are made once.
    """
    clip_length = collator.processor.num_frames
    for row in rows:
        frames, offset = collator.frames_of(row, window=not all_clips)
        if not all_clips or len(frames) <= clip_length:
            yield (row, offset + window_start(len(frames), clip_length, "center"), *collator.window(frames))
            continue
        for start in clip_starts(len(frames), clip_length):
            yield (row, start, *collator.window(frames, start=start))


def label_names_of(dataset, layout: ColumnLayout) -> list[str] | None:
    """The class names of the dataset's target (its `ClassLabel`, or a list of them), or None if it has none."""
    features = getattr(dataset, "features", None) or {}
    feature = features.get(layout.label_column or layout.labels_column)
    feature = getattr(feature, "feature", feature)  # List(ClassLabel) → ClassLabel
    names = getattr(feature, "names", None)
    return list(names) if names else None


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
