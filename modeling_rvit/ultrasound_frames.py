"""The paper's frame cleaning, shared by the preprocessing and the video processor: the ultrasound-region crop
and the noise-frame detector (its To_NPY.py and DBSCAN.py; `../shared/CONTEXT.md` §2).

- crop: grey levels above a threshold (the paper: > 1), holes filled, the bounding box of the largest
  8-connected region (the paper's largest external contour), found on a coarse grid and refined to the pixel;
- noise: each frame pooled 2x2 `pool_times` times (224 -> 14), min-max normalized, flattened; DBSCAN over a
  sample's frames; frames outside the most common cluster are noise, all of them when that is DBSCAN's -1.

`hf_loader.preprocess` (the processed tier) and `RViTVideoProcessor` (a raw video at inference) call these
functions, so a model sees the same frames in training and in the `video-classification` pipeline. This file
ships with a saved model as remote code: it needs only numpy and scipy, and no other module of this project.
The constants below are the one definition of the paper's preprocessing parameters: `hf_loader` imports them
from here (importing this module imports neither transformers nor torch: `modeling_rvit` loads its classes on
first use).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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

__all__ = [
    "DBSCAN_EPS",
    "DBSCAN_POOL_TIMES",
    "DEFAULT_NOISE_EPS",
    "FRAME_SIZE",
    "FRAME_STRIDE",
    "GRAY_THRESHOLD",
    "IMAGE_SET_CROP_FRACTION",
    "NoiseSettings",
    "border_box",
    "chroma_aligned_box",
    "dbscan",
    "detect_noise",
    "find_region_box",
    "gray_levels",
    "noise_features",
    "noise_from_features",
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
