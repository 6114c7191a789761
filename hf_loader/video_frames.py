"""Decode a filtered video and keep the paper's frames (every 10th), cropped to the ultrasound region and
resized.

Every frame must be decoded, but only the kept ones are touched: the crop is found on the decoder's luma
plane (no colour conversion), and swscale resizes and converts only the cropped region to RGB, in one pass.
"""

from __future__ import annotations

import collections
import functools
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from modeling_rvit.ultrasound_frames import (
    FRAME_SIZE,
    FRAME_STRIDE,
    GRAY_THRESHOLD,
    NoiseSettings,
    chroma_aligned_box,
    find_region_box,
    gray_levels,
    noise_features,
)

from .errors import CorruptMediaError
from .video_io import open_video


@dataclass
class VideoFrames:
    """Frames kept from one video.

    Attributes:
        frames: `(T, size, size, 3)` uint8 RGB.
        source_indices: `(T,)` int, index of each kept frame among the decoded frames (0-based).
        crop_boxes: `(T, 4)` int, each frame's crop `(x0, y0, x1, y1)` in source pixels (x1, y1 exclusive).
        crop_box: the element-wise median of `crop_boxes`: the video's ultrasound region.
        fps: frames per second of the stream (average rate).
        num_source_frames: frames decoded from the file.
        duration: seconds (`num_source_frames / fps`).
        source_size: `(width, height)` of the source frames, in pixels.
        noise_features: `(T, D)` float32 `ultrasound_frames.noise_features` of the kept frames when asked for
            (`noise=`), else None.
    """

    frames: np.ndarray
    source_indices: np.ndarray
    crop_boxes: np.ndarray
    crop_box: tuple[int, int, int, int]
    fps: float
    num_source_frames: int
    duration: float
    source_size: tuple[int, int]
    noise_features: np.ndarray | None = None


# Kept frames held in memory before they go to a temporary file (about 110 frames of 224x224 RGB).
FRAMES_IN_MEMORY_BYTES = 16 << 20
# Kept frames waiting for the conversion thread: decoding never runs further ahead than this.
_MAX_PENDING = 8


class _FrameStore:
    """Equal-shaped uint8 frames appended one at a time; in memory up to `limit_bytes`, then in an anonymous
    temporary file (deleted when the last reference to it goes)."""

    def __init__(self, limit_bytes: int):
        self.limit_bytes = limit_bytes
        self.frames: list[np.ndarray] = []
        self.file = None
        self.count = 0
        self.shape: tuple[int, ...] | None = None

    def append(self, frame: np.ndarray) -> None:
        self.shape = frame.shape
        self.count += 1
        if self.file is None and self.count * frame.nbytes <= self.limit_bytes:
            self.frames.append(frame)
            return
        if self.file is None:
            # Closed by `array()`, which hands the data on as a memory map.
            self.file = tempfile.TemporaryFile(prefix="ahu-frames-")  # noqa: SIM115
            for held in self.frames:
                self.file.write(held.tobytes())
            self.frames = []
        self.file.write(np.ascontiguousarray(frame).tobytes())

    def array(self) -> np.ndarray:
        """`(T, *frame.shape)` uint8: an array, or a copy-on-write `np.memmap` of the temporary file."""
        if self.file is None:
            return np.stack(self.frames)
        self.file.flush()
        frames = np.memmap(self.file, dtype=np.uint8, mode="c", shape=(self.count, *self.shape))
        self.file.close()  # the map holds its own handle; the file is gone once the map is
        return frames


# Limited-range (MPEG, 16..235) luma to full range, to threshold luma as the paper thresholds grey levels.
_LUMA_TO_FULL = np.clip(np.round((np.arange(256) - 16) * 255 / 219), 0, 255).astype(np.uint8)
_IDENTITY = np.arange(256, dtype=np.uint8)
# Formats whose planes are read directly: name -> is the luma full range (0..255, not 16..235)?
_PLANAR_420 = {"yuv420p": False, "yuvj420p": True}


def _plane_array(frame, index: int) -> np.ndarray:
    """A zero-copy `(height, width)` uint8 view of one plane of a decoded frame."""
    plane = frame.planes[index]
    data = np.frombuffer(plane, np.uint8, count=plane.line_size * plane.height)
    return data.reshape(plane.height, plane.line_size)[:, : plane.width]


def _keep_indices(num_source_frames: int, num_frames: int) -> np.ndarray:
    """`num_frames` indices spread evenly over `[0, num_source_frames)`, first and last included."""
    if num_source_frames <= 0:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.round(np.linspace(0, num_source_frames - 1, num_frames)).astype(np.int64))


def _yuv420_crop_to_rgb(frame, box, size: int, reformatters: dict) -> np.ndarray:
    """Copy the `box` region of a 4:2:0 frame's planes into a small frame, then let swscale resize it and
    convert it to RGB in one pass (the same conversion as PyAV's `to_ndarray(format="rgb24")`)."""
    import av

    x0, y0, x1, y1 = chroma_aligned_box(box, frame.width, frame.height)
    cropped = av.VideoFrame(x1 - x0, y1 - y0, frame.format.name)
    for index, (top, left) in enumerate(((y0, x0), (y0 // 2, x0 // 2), (y0 // 2, x0 // 2))):
        target = _plane_array(cropped, index)
        height, width = target.shape
        target[...] = _plane_array(frame, index)[top : top + height, left : left + width]
    # swscale rebuilds its filters (~2 ms) whenever the input size changes: keep one context per crop size.
    reformatter = reformatters.get((cropped.width, cropped.height))
    if reformatter is None:
        reformatter = reformatters[cropped.width, cropped.height] = av.video.reformatter.VideoReformatter()
    return reformatter.reformat(cropped, size, size, "rgb24", interpolation="AREA").to_ndarray()


@functools.lru_cache(maxsize=64)
def _luma_threshold(gray_threshold: int, full_range: bool) -> int:
    """The luma level above which a pixel's grey level (full range) exceeds `gray_threshold`."""
    lut = _IDENTITY if full_range else _LUMA_TO_FULL
    return int(np.nonzero(lut <= gray_threshold)[0].max())


def _process_video_frame(
    frame, size: int, crop: bool, gray_threshold: int, reformatters: dict
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """One kept frame -> (`(size, size, 3)` uint8 RGB, crop box in source pixels)."""
    width, height = frame.width, frame.height
    full_range = _PLANAR_420.get(frame.format.name)
    if full_range is not None:
        box = None
        if crop:
            box = find_region_box(_plane_array(frame, 0), _luma_threshold(gray_threshold, full_range))
        box = box or (0, 0, width, height)
        return _yuv420_crop_to_rgb(frame, box, size, reformatters), box
    # Any other pixel format: convert the whole frame (slower, but rare).
    rgb = frame.to_ndarray(format="rgb24")
    box = None
    if crop:
        box = find_region_box(gray_levels(rgb), gray_threshold)
    box = box or (0, 0, width, height)
    x0, y0, x1, y1 = box
    image = Image.fromarray(np.ascontiguousarray(rgb[y0:y1, x0:x1]))
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR)), box


def extract_video_frames(
    path: str | os.PathLike,
    stride: int = FRAME_STRIDE,
    num_frames: int | None = None,
    size: int = FRAME_SIZE,
    crop: bool = True,
    gray_threshold: int = GRAY_THRESHOLD,
    thread_type: str | None = None,
    noise: NoiseSettings | None = None,
    memory_limit_bytes: int | None = None,
) -> VideoFrames:
    """Decode a video and keep every `stride`-th frame (or `num_frames` evenly spread), cropped and resized.

    Every frame is decoded (H.264 needs it), but only kept frames are converted: the crop box is found on the
    luma plane (grey level > `gray_threshold`, largest filled region) and only the cropped region is resized
    and converted to RGB.

    Args:
        path: the video file.
        stride: keep decoded frames 0, stride, 2*stride, ... (ignored when `num_frames` is given).
        num_frames: keep this many frames evenly spread over the video (first and last included).
        size: output side in pixels.
        crop: crop each kept frame to its ultrasound region (the paper); False keeps the whole frame.
        gray_threshold: see `PreprocessOptions`.
        thread_type: PyAV decoder threading, see `PreprocessOptions`.
        noise: also compute each kept frame's noise-detector features with these settings.
        memory_limit_bytes: kept frames held in memory before they go to a temporary file (default
            `FRAMES_IN_MEMORY_BYTES`).

    Returns:
        `VideoFrames` with `frames` of shape `(T, size, size, 3)`, uint8 RGB (a memory map beyond the limit).

    Raises:
        CorruptMediaError: the file is empty, cannot be opened, or decoding fails / yields no frame.
        NoVideoStreamError: the file holds no video stream.
    """
    import av

    path = Path(path)
    memory_limit_bytes = FRAMES_IN_MEMORY_BYTES if memory_limit_bytes is None else memory_limit_bytes
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    keep: np.ndarray | None = None
    if num_frames is not None:
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        container, stream = open_video(path, str(path), thread_type)
        try:
            # Demuxing (no decoding) counts the frames when the header does not.
            total = stream.frames or sum(1 for packet in container.demux(stream) if packet.size > 0)
        except av.error.FFmpegError as err:
            raise CorruptMediaError(
                f"cannot be read to the end ({err.strerror or err}); the file is corrupt or truncated: download "
                "or extract it again.",
                entry=str(path),
            ) from err
        finally:
            container.close()
        keep = _keep_indices(total, num_frames)
    container, stream = open_video(path, str(path), thread_type)
    reformatters: dict[tuple[int, int], object] = {}
    fps = float(stream.average_rate or stream.guessed_rate or 0) or None
    declared = stream.frames
    store = _FrameStore(memory_limit_bytes)
    features: list[np.ndarray] = []
    boxes: list[tuple[int, int, int, int]] = []
    indices: list[int] = []
    index = -1
    keep_set = None if keep is None else set(keep.tolist())
    source_size = (stream.codec_context.width, stream.codec_context.height)

    def take(future) -> None:
        rgb, box = future.result()
        store.append(rgb)
        boxes.append(box)
        if noise is not None:
            features.append(noise_features(rgb[None], noise)[0])

    # Kept frames are cropped and converted on a second thread while the decoder (which releases the GIL)
    # goes on with the next ones; one worker keeps the order and the cached reformatters single-threaded.
    pending: collections.deque = collections.deque()
    try:
        with ThreadPoolExecutor(max_workers=1) as worker:
            for index, frame in enumerate(container.decode(stream)):
                if keep_set is None:
                    if index % stride:
                        continue
                elif index not in keep_set:
                    continue
                pending.append(
                    worker.submit(_process_video_frame, frame, size, crop, gray_threshold, reformatters)
                )
                indices.append(index)
                source_size = (frame.width, frame.height)
                if len(pending) > _MAX_PENDING:
                    take(pending.popleft())
            while pending:
                take(pending.popleft())
    except av.error.FFmpegError as err:
        raise CorruptMediaError(
            f"decoding failed after {index + 1} frames ({err.strerror or err}); the file is corrupt or "
            "truncated: download or extract it again.",
            entry=str(path),
        ) from err
    finally:
        container.close()
    num_source_frames = index + 1
    if num_source_frames == 0:
        raise CorruptMediaError(
            "no frame could be decoded (zero-length or truncated video); download or extract it again.",
            entry=str(path),
        )
    # Edit lists may hide a few frames the header counts; a truncated file loses many more.
    if declared and num_source_frames < declared * 0.98 - 2:
        raise CorruptMediaError(
            f"only {num_source_frames} of the {declared} frames its header announces could be decoded "
            "(truncated file); download or extract it again.",
            entry=str(path),
        )
    if not store.count:
        raise CorruptMediaError(
            f"none of the requested frames lies among the {num_source_frames} decoded ones (the header's frame "
            "count is wrong?); pass `stride` instead of `num_frames`.",
            entry=str(path),
        )
    boxes_array = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    crop_box = tuple(int(v) for v in np.median(boxes_array, axis=0).round())
    return VideoFrames(
        frames=store.array(),
        source_indices=np.asarray(indices, dtype=np.int64),
        crop_boxes=boxes_array,
        crop_box=crop_box,
        fps=fps,
        num_source_frames=num_source_frames,
        duration=num_source_frames / fps if fps else None,
        source_size=source_size,
        noise_features=np.stack(features) if noise is not None else None,
    )
