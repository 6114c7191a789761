"""The paper's frame cleaning, shared by the preprocessing and the video processor: the ultrasound-region crop
and the noise-frame detector (its To_NPY.py and DBSCAN.py; `../shared/CONTEXT.md` §2).

- crop: grey levels above a threshold (the paper: > 1), holes filled, the bounding box of the largest
  8-connected region (the paper's largest external contour), found on a coarse grid and refined to the pixel;
- noise: each frame pooled 2x2 `pool_times` times (224 -> 14), min-max normalized, flattened; DBSCAN over a
  sample's frames; frames outside the most common cluster are noise, all of them when that is DBSCAN's -1.

The frame path of `RViTVideoProcessor` lives here too (`clean_clip`, `drop_noise`, the `num_frames` window),
with what decides it: the kind of clip (`clip_kind_options`) and, for a dataset row, the column it comes from
(`clip_of_row`), so the processor, the training harness (`ahu_train.data`) and a plain `Trainer` script read a
row the same way:
- `video` (a file, a decoder, an array): every `FRAME_STRIDE`-th frame, region crop, noise removal;
- `frames` (a list of frames already sampled, e.g. the processed tier's): no stride; the region crop and the
  noise removal still run and leave processed-tier frames as they are (a processed frame is its own region,
  its noise is gone), so the same path serves frames sampled from a raw video by hand;
- `image_set` (a row's `images`): no stride, the paper's border cut (`IMAGE_SET_CROP_FRACTION` per side).

`hf_loader.preprocess` (the processed tier) and `RViTVideoProcessor` (a raw video at inference) call these
functions, so a model sees the same frames in training and in the `video-classification` pipeline. This file
ships with a saved model as remote code: it needs only numpy and scipy (and torch for the functions that take
clips as tensors, imported when they run), and no other module of this project. The constants below are the one
definition of the paper's preprocessing parameters: `hf_loader` imports them from here (importing this module
imports neither transformers nor torch: `modeling_rvit` loads its classes on first use).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# The paper's preprocessing (To_NPY.py, DBSCAN.py).
FRAME_STRIDE = 10
FRAME_SIZE = 224
IMAGE_SET_CROP_FRACTION = 0.10
GRAY_THRESHOLD = 1
DBSCAN_EPS = 15.0
DBSCAN_POOL_TIMES = 4
# The noise filter's default eps on 0..1 features; chosen on the sample archive (BENCHMARKS.md).
DEFAULT_NOISE_EPS = 5.0

# The kinds of clip, each with its own frame path (see the module docstring).
VIDEO = "video"
FRAMES = "frames"
IMAGE_SET = "image_set"
CLIP_KINDS = (VIDEO, FRAMES, IMAGE_SET)
# The dataset columns that hold a clip, in order of preference, and the kind each holds (the builder's names:
# `frames` is the processed tier in every config, `images` an image set's images, `video` a video).
CLIP_COLUMNS: dict[str, str] = {"frames": FRAMES, "images": IMAGE_SET, "video": VIDEO}
CLIP_WINDOWS = ("center", "start", "random")

__all__ = [
    "CLIP_COLUMNS",
    "CLIP_KINDS",
    "CLIP_WINDOWS",
    "DBSCAN_EPS",
    "DBSCAN_POOL_TIMES",
    "DEFAULT_NOISE_EPS",
    "FRAMES",
    "FRAME_SIZE",
    "FRAME_STRIDE",
    "GRAY_THRESHOLD",
    "IMAGE_SET",
    "IMAGE_SET_CROP_FRACTION",
    "VIDEO",
    "NoiseSettings",
    "border_box",
    "chroma_aligned_box",
    "clean_clip",
    "clip_kind_options",
    "clip_of_row",
    "crop_and_resize",
    "dbscan",
    "detect_noise",
    "drop_noise",
    "find_region_box",
    "gray_levels",
    "noise_features",
    "noise_from_features",
    "pad_to_length",
    "rows_of",
    "take_window",
    "window_start",
]


@dataclass(frozen=True)
class NoiseSettings:
    """How noise frames are found (the paper's DBSCAN.py, with its parameters as fields).

    Attributes:
        eps: DBSCAN's neighbourhood radius, in units of the features (min-max normalized to 0..1, times
            `feature_scale`). The paper's value is 15 (`NoiseSettings.paper()`).
        min_samples_fraction: DBSCAN's `min_samples` is `max(1, int(num_frames * min_samples_fraction))`
            (the paper: `max(1, N // 2)`).
        pool_times: how many 2x2 average poolings shrink a frame before clustering (224 -> 14 with 4).
        feature_scale: the normalized features are multiplied by this (1.0: 0..1; 255.0: 0..255).
    """

    eps: float = DEFAULT_NOISE_EPS
    min_samples_fraction: float = 0.5
    pool_times: int = DBSCAN_POOL_TIMES
    feature_scale: float = 1.0

    @classmethod
    def paper(cls) -> NoiseSettings:
        """The paper's exact parameters: eps=15 on 0..1 features, min_samples=max(1, N // 2), 4 poolings."""
        return cls(eps=DBSCAN_EPS, min_samples_fraction=0.5, pool_times=DBSCAN_POOL_TIMES, feature_scale=1.0)


def _grid_step(height: int, width: int) -> int:
    # A coarse grid of ~64 samples on the short side finds the region in well under a millisecond.
    return max(1, min(height, width) // 64)


# 4-connected background (holes), 8-connected regions: as OpenCV's contours see them.
_CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)
_SQUARE = np.ones((3, 3), dtype=bool)


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """`mask` with its holes filled: background components that do not touch the border become foreground."""
    from scipy import ndimage

    background, count = ndimage.label(~mask, structure=_CROSS)
    outside = np.zeros(count + 1, dtype=bool)
    for edge in (background[0], background[-1], background[:, 0], background[:, -1]):
        outside[edge] = True
    outside[0] = False
    return ~outside[background]


def find_region_box(gray: np.ndarray, threshold: int) -> tuple[int, int, int, int] | None:
    """Bounding box of the largest bright region: the paper's largest external contour, without OpenCV.

    The mask `gray > threshold` is filled (holes belong to the region, as an external contour encloses
    them) and split into 8-connected components; the one with the largest filled area wins. It is found on
    a coarse grid and its edges are then refined to the pixel on the full-resolution mask.

    Args:
        gray: `(H, W)` uint8 grey levels (or a monotone transform of them, with `threshold` to match).
        threshold: pixels strictly above it are bright.

    Returns:
        `(x0, y0, x1, y1)` in pixels (x1, y1 exclusive), or None if no pixel is bright.
    """
    from scipy import ndimage

    height, width = gray.shape
    step = _grid_step(height, width)
    mask = gray[::step, ::step] > threshold
    if not mask.any():
        if step == 1 or not (gray > threshold).any():
            return None
        step, mask = 1, gray > threshold
    labels, count = ndimage.label(mask, structure=_SQUARE)
    objects = ndimage.find_objects(labels)
    sizes = np.bincount(labels.ravel())[1:]
    largest = int(sizes.argmax())
    box_areas = [(rows.stop - rows.start) * (cols.stop - cols.start) for rows, cols in objects]
    # A region's filled area lies between its pixel count and its box area: when the most populous region
    # outnumbers every other region's box, it is the largest filled region without filling anything.
    if count > 1 and sizes[largest] < max(area for index, area in enumerate(box_areas) if index != largest):
        labels, _ = ndimage.label(_fill_holes(mask), structure=_SQUARE)
        objects = ndimage.find_objects(labels)
        largest = int(np.bincount(labels.ravel())[1:].argmax())
    rows, cols = objects[largest]
    if step == 1:
        return cols.start, rows.start, cols.stop, rows.stop
    # Grid sample j is pixel j*step; the true edge lies between the last dark and first bright sample.
    top_lo, top_hi = max(0, (rows.start - 1) * step + 1), rows.start * step
    bottom_lo, bottom_hi = (rows.stop - 1) * step, min(height - 1, rows.stop * step - 1)
    left_lo, left_hi = max(0, (cols.start - 1) * step + 1), cols.start * step
    right_lo, right_hi = (cols.stop - 1) * step, min(width - 1, cols.stop * step - 1)
    x_lo, x_hi = left_lo, right_hi + 1
    y_lo, y_hi = top_lo, bottom_hi + 1
    top_rows = (gray[top_lo : top_hi + 1, x_lo:x_hi] > threshold).any(axis=1)
    bottom_rows = (gray[bottom_lo : bottom_hi + 1, x_lo:x_hi] > threshold).any(axis=1)
    left_cols = (gray[y_lo:y_hi, left_lo : left_hi + 1] > threshold).any(axis=0)
    right_cols = (gray[y_lo:y_hi, right_lo : right_hi + 1] > threshold).any(axis=0)
    y0 = top_lo + int(top_rows.argmax())
    y1 = bottom_lo + len(bottom_rows) - int(bottom_rows[::-1].argmax())
    x0 = left_lo + int(left_cols.argmax())
    x1 = right_lo + len(right_cols) - int(right_cols[::-1].argmax())
    return x0, y0, x1, y1


def chroma_aligned_box(box: tuple[int, int, int, int], width: int, height: int) -> tuple[int, int, int, int]:
    """`box` widened to even edges (within a `width` x `height` frame): the crop the processed tier applies,
    because 4:2:0 video (H.264's usual layout) stores one chroma sample per 2x2 pixels and is cropped there
    before its conversion to RGB."""
    x0, y0, x1, y1 = box
    return x0 - x0 % 2, y0 - y0 % 2, min(width, x1 + x1 % 2), min(height, y1 + y1 % 2)


def border_box(
    width: int, height: int, fraction: float = IMAGE_SET_CROP_FRACTION
) -> tuple[int, int, int, int]:
    """The crop of an image-set image: `fraction` of the width/height cut from every side (the paper: 0.10).

    Returns:
        `(x0, y0, x1, y1)` in pixels (x1, y1 exclusive).
    """
    return (
        round(width * fraction),
        round(height * fraction),
        round(width * (1 - fraction)),
        round(height * (1 - fraction)),
    )


def gray_levels(rgb: np.ndarray) -> np.ndarray:
    """`(..., H, W, 3)` uint8 RGB -> `(..., H, W)` uint8 grey levels, as Pillow's and OpenCV's conversion
    (ITU-R 601-2 luma: 0.299 R + 0.587 G + 0.114 B, rounded), which the paper thresholds for its crop."""
    rgb = np.asarray(rgb, dtype=np.uint32)
    return ((rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000) >> 16).astype(np.uint8)


def noise_features(
    frames: np.ndarray | Sequence[np.ndarray], settings: NoiseSettings | None = None
) -> np.ndarray:
    """The paper's clustering features: 2x2 average pooling `pool_times` times, min-max per frame, flatten.

    Args:
        frames: `(T, H, W, C)` (or `(T, H, W)`) uint8 frames, values 0..255.

    Returns:
        `(T, (H / 2**pool_times) * (W / 2**pool_times) * C)` float32, each row in `0..feature_scale`.
    """
    settings = settings or NoiseSettings()
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[..., None]
    count, height, width, channels = frames.shape
    block = 2**settings.pool_times
    if frames.dtype == np.uint8 and height % block == 0 and width % block == 0 and block <= 256:
        # Repeated 2x2 means of equal blocks are the block means: sum rows, then columns, in integers.
        rows = frames.reshape(count * height // block, block, width * channels).sum(axis=1, dtype=np.uint16)
        blocks = rows.reshape(-1, width // block, block, channels).sum(axis=2, dtype=np.uint32)
        pooled = (
            blocks.reshape(count, height // block, width // block, channels).astype(np.float32) / block**2
        )
    else:
        pooled = frames.astype(np.float32)
        for _ in range(settings.pool_times):
            # Like torch's avg_pool2d(kernel_size=2): an odd last row/column is dropped.
            t, h, w, c = pooled.shape
            pooled = (
                pooled[:, : h // 2 * 2, : w // 2 * 2].reshape(t, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))
            )
    flat = pooled.reshape(len(pooled), -1)
    low = flat.min(axis=1, keepdims=True)
    high = flat.max(axis=1, keepdims=True)
    return ((flat - low) / (high - low + 1e-8) * settings.feature_scale).astype(np.float32)


def dbscan(distances: np.ndarray, eps: float, min_samples: int) -> np.ndarray:
    """DBSCAN over a precomputed distance matrix, as `sklearn.cluster.DBSCAN(metric="precomputed")` labels it.

    Written here so that workers need not import scikit-learn. Neighbourhoods include the point itself and points
    at distance <= eps; clusters grow depth-first from core points in index order, as scikit-learn's
    `dbscan_inner` does.

    Args:
        distances: `(N, N)` symmetric distances.
        eps: neighbourhood radius.
        min_samples: neighbours (self included) that make a point a core point.

    Returns:
        `(N,)` int labels, `-1` for noise, clusters numbered from 0 in order of discovery.
    """
    neighbours = np.packbits(np.asarray(distances) <= eps, axis=1)
    return _expand_clusters(neighbours, len(distances), min_samples)


# Number of bits set in each byte value (numpy < 2 has no bitwise_count).
_BITS_SET = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(axis=1).astype(np.uint8)


def _expand_clusters(neighbours: np.ndarray, count: int, min_samples: int) -> np.ndarray:
    """DBSCAN's labelling from `(N, ceil(N / 8))` bit-packed neighbourhoods (row i: the points within eps of
    point i). A point is queued at most once, so the work list stays below N (which points a cluster takes does
    not depend on the order it grows in)."""
    is_core = _BITS_SET[neighbours].sum(axis=1, dtype=np.int64) >= min_samples
    labels = np.full(count, -1, dtype=np.int64)
    queued = np.zeros(count, dtype=bool)
    cluster = 0
    for start in range(count):
        if labels[start] != -1 or not is_core[start]:
            continue
        stack = [start]
        queued[start] = True
        while stack:
            point = stack.pop()
            labels[point] = cluster
            if is_core[point]:
                reached = np.unpackbits(neighbours[point], count=count).astype(bool)
                fresh = np.flatnonzero(reached & ~queued)
                queued[fresh] = True
                stack.extend(fresh.tolist())
        cluster += 1
    return labels


# Distances computed at once when clustering many frames (float64: 2 MB per temporary).
_DISTANCE_BLOCK_VALUES = 1 << 18


def _neighbourhoods(features: np.ndarray, eps: float) -> np.ndarray:
    """`(N, ceil(N / 8))` bit-packed `distance <= eps` between the rows of `features` `(N, D)` float64.

    Up to 512 frames the `(N, N)` distances are computed at once; beyond, in blocks of rows, so memory grows by
    N / 8 bytes per frame instead of 8 N (the arithmetic is the same, element by element)."""
    count = len(features)
    squared = (features**2).sum(axis=1)
    rows_per_block = max(1, _DISTANCE_BLOCK_VALUES // count)
    packed = np.empty((count, (count + 7) // 8), dtype=np.uint8)
    for first in range(0, count, rows_per_block):
        rows = slice(first, min(count, first + rows_per_block))
        products = 2.0 * features[rows] @ features.T
        distances = squared[rows, None] + squared[None, :]
        distances -= products
        del products
        np.maximum(distances, 0.0, out=distances)
        np.sqrt(distances, out=distances)
        distances[np.arange(rows.stop - rows.start), np.arange(rows.start, rows.stop)] = 0.0
        packed[rows] = np.packbits(distances <= eps, axis=1)
    return packed


def detect_noise(
    frames: np.ndarray | Sequence[np.ndarray], settings: NoiseSettings | None = None
) -> np.ndarray:
    """Mark a sample's noise frames: those outside the most common DBSCAN cluster of `noise_features`.

    Args:
        frames: `(T, H, W, C)` uint8 frames of ONE sample.
        settings: `NoiseSettings()` (default, tuned) or `NoiseSettings.paper()`.

    Returns:
        `(T,)` bool, True for noise. If DBSCAN's most common label is noise (-1), every frame is noise.
    """
    settings = settings or NoiseSettings()
    if len(frames) == 0:
        return np.zeros(0, dtype=bool)
    return noise_from_features(noise_features(frames, settings), settings)


def noise_from_features(features: np.ndarray, settings: NoiseSettings | None = None) -> np.ndarray:
    """`detect_noise` on features already computed (one `noise_features` row per frame, `(T, D)`), so that a
    long video's frames need not be held: only these rows (588 values per frame with the defaults).

    Returns:
        `(T,)` bool, True for noise.
    """
    settings = settings or NoiseSettings()
    if len(features) == 0:
        return np.zeros(0, dtype=bool)
    features = np.asarray(features).astype(np.float64)
    min_samples = max(1, int(len(features) * settings.min_samples_fraction))
    labels = _expand_clusters(_neighbourhoods(features, settings.eps), len(features), min_samples)
    values, counts = np.unique(labels, return_counts=True)
    # np.unique sorts, so ties go to the smallest label, as in the paper's argmax over np.unique.
    most_common = values[int(np.argmax(counts))]
    if most_common == -1:
        return np.ones(len(features), dtype=bool)
    return labels != most_common


def clip_kind_options(kind: str) -> dict[str, Any]:
    """The processor options a clip of `kind` needs beyond the processor's own (which describe a raw video).

    Frames and image sets are already sampled, so no stride; an image set gets the paper's border cut instead of
    the region crop."""
    if kind == VIDEO:
        return {}
    if kind == FRAMES:
        return {"frame_stride": 1}
    if kind == IMAGE_SET:
        return {"frame_stride": 1, "crop_mode": "border"}
    raise ValueError(f"unknown clip kind {kind!r}; expected one of {CLIP_KINDS}")


def clip_of_row(row: Mapping, columns: Mapping[str, str] = CLIP_COLUMNS) -> tuple[Any, str] | None:
    """(the clip of a dataset row, its kind): the first of `columns` (column name -> kind) that holds one.

    A `frames` or `images` list counts when it is not empty; a `video` when it is not None. Returns None when the
    row holds no clip (e.g. an image-set row's `video`, or a processed row whose frames were all noise)."""
    for column, kind in columns.items():
        value = row.get(column)
        if value is None:
            continue
        if kind == VIDEO or len(value) > 0:
            return (value if kind == VIDEO else list(value)), kind
    return None


def rows_of(batch: Mapping) -> list[dict]:
    """A row, or a batch of rows as `Dataset.with_transform` / `map(batched=True)` give them (column -> list of
    values), -> a list of rows. A mapping is a batch when a clip column holds a list of clips (a row's `video` is
    never a list; a row's `frames`/`images` hold frames, a batch's hold lists of frames)."""
    columns = [column for column in CLIP_COLUMNS if column in batch]
    is_batch = any(
        isinstance(batch[column], (list, tuple))
        and (
            CLIP_COLUMNS[column] == VIDEO
            or any(item is None or isinstance(item, (list, tuple)) for item in batch[column])
        )
        for column in columns
    )
    if not is_batch:
        return [dict(batch)]
    sizes = {len(values) for values in batch.values() if isinstance(values, (list, tuple))}
    if len(sizes) != 1:
        raise ValueError(f"a batch of rows whose columns have different lengths {sorted(sizes)}")
    (size,) = sizes
    return [{name: values[index] for name, values in batch.items()} for index in range(size)]


def window_start(length: int, num_frames: int, clip_window: str) -> int:
    """First index of the `num_frames` window of a `length`-frame clip (0 when the clip is not longer).

    `clip_window`: `"center"`, `"start"`, or `"random"` (drawn with torch's global RNG)."""
    surplus = length - num_frames
    if surplus <= 0 or clip_window == "start":
        return 0
    if clip_window == "random":
        import torch

        return int(torch.randint(0, surplus + 1, ()).item())
    return surplus // 2


def take_window(clip, num_frames: int, clip_window: str):
    """(T, ...) -> (min(T, num_frames), ...): the clip's `num_frames` window (see `window_start`)."""
    start = window_start(len(clip), num_frames, clip_window)
    return clip[start : start + num_frames]


def pad_to_length(clip, num_frames: int):
    """(T, C, H, W) tensor -> (num_frames, C, H, W), repeating the last frame; T <= num_frames."""
    import torch

    missing = num_frames - len(clip)
    if missing <= 0:
        return clip
    return torch.cat([clip, clip[-1:].expand(missing, *clip.shape[1:])], dim=0)


def drop_noise(clip, noise: np.ndarray):
    """(T, ...) tensor -> the clip without its noise frames ((T,) bool); all of it when every frame is noise
    (nothing else to classify)."""
    import torch

    if noise.all() or not noise.any():
        return clip
    return clip[torch.from_numpy(~noise)]


def uint8_frames_last(video) -> np.ndarray:
    """(T, 3, H, W) tensor -> (T, H, W, 3) uint8 numpy, the value domain (0-255) of the crop and noise detector."""
    import torch

    if video.dtype != torch.uint8:
        video = video.float().round().clamp(0, 255).to(torch.uint8)
    return video.permute(0, 2, 3, 1).contiguous().cpu().numpy()


def crop_and_resize(
    video,
    crop_mode: str | None,
    crop_threshold: int = GRAY_THRESHOLD,
    crop_border_fraction: float = IMAGE_SET_CROP_FRACTION,
    processed_size: int | None = FRAME_SIZE,
):
    """(T, 3, H, W) tensor -> (T, 3, processed_size, processed_size): each frame cropped (`"region"`: its
    ultrasound region, found on its grey levels and widened to even edges as `hf_loader.preprocess` crops 4:2:0
    video; `"border"`: a fixed cut from every side) and resized with antialiased bilinear interpolation; uint8
    frames stay uint8 (rounded), like the processed tier's.

    The clip comes back unchanged when there is nothing to do: no crop and no `processed_size`, or frames
    already `processed_size` square whose region is the whole frame (processed-tier frames)."""
    import torch

    height, width = video.shape[-2:]
    square = (height, width) == (processed_size, processed_size)
    if crop_mode is None and (processed_size is None or square):
        return video
    full_frame = (0, 0, width, height)
    if crop_mode == "region":
        boxes = [
            chroma_aligned_box(
                find_region_box(gray_levels(frame), crop_threshold) or full_frame, width, height
            )
            for frame in uint8_frames_last(video)
        ]
        if square and all(box == full_frame for box in boxes):
            return video
    elif crop_mode == "border":
        boxes = [border_box(width, height, crop_border_fraction)] * len(video)
    else:
        boxes = [full_frame] * len(video)
    frames = []
    for frame, (x0, y0, x1, y1) in zip(video, boxes):
        region = frame[None, :, y0:y1, x0:x1].float()
        resized = torch.nn.functional.interpolate(
            region,
            size=(processed_size, processed_size),
            mode="bilinear",
            antialias=True,
            align_corners=False,
        )
        frames.append(resized[0])
    resized = torch.stack(frames)
    return (
        resized.round().clamp(0, 255).to(torch.uint8)
        if video.dtype == torch.uint8
        else resized.to(video.dtype)
    )


def clean_clip(
    video,
    crop_mode: str | None,
    crop_threshold: int = GRAY_THRESHOLD,
    crop_border_fraction: float = IMAGE_SET_CROP_FRACTION,
    processed_size: int | None = FRAME_SIZE,
    noise: NoiseSettings | None = None,
):
    """The paper's frame cleaning of one clip: (T, 3, H, W) tensor, values 0-255 -> (the cropped clip
    (T, 3, processed_size, processed_size), its noise frames (T,) bool, all False when `noise` is None)."""
    video = crop_and_resize(video, crop_mode, crop_threshold, crop_border_fraction, processed_size)
    if noise is None:
        return video, np.zeros(len(video), dtype=bool)
    return video, detect_noise(uint8_frames_last(video), noise)
