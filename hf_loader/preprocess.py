"""Turn the filtered tier (videos and image sets) into the processed tier: the paper's frame pipeline.

The paper (To_NPY.py, DBSCAN.py; `../shared/CONTEXT.md` §2) does, per sample:

- videos: keep every 10th decoded frame (indices 0, 10, 20, ...), grey-scale it, threshold at > 1, crop
  to the bounding box of the largest external contour (the ultrasound region), resize to 224x224;
- image sets: crop 10 % from every side, resize to 224x224;
- noise frames: pool each frame 2x2 four times (224 -> 14), min-max normalize it, flatten it, run
  DBSCAN(eps=15, min_samples=max(1, N // 2)) over the sample's frames; frames outside the most common
  cluster are noise, and every frame is noise when the most common label is DBSCAN's noise (-1).

This module does the same, in RGB (the paper's video frames were BGR), and faster: every frame must be
decoded, but only the kept ones are touched: the crop is found on the decoder's luma plane (no colour
conversion; connected components with scipy on a coarse grid, edges refined to the pixel), and swscale
resizes and converts only the cropped region to RGB, in one pass. Regions thinner than the coarse grid
step (`min(H, W) // 64` pixels) can be missed, which an ultrasound image never is. A sample in memory:

```python
>>> from hf_loader.preprocess import preprocess_sample
>>> sample = preprocess_sample("filtered/Video_12_Cyst.mp4")
>>> sample.frames.shape, sample.noise.sum()        # (T, 224, 224, 3) uint8 RGB, noise mask (T,)
```

A whole tier on disk (resumable, parallel over samples): `preprocess_tier(filtered_dir, out_dir)`, or
`python scripts/preprocess_archive.py filtered/ processed/`.

Noise settings: the paper's `eps=15` is on min-max normalized features (0..1, 14*14*3 = 588 values), whose
Euclidean distances cannot exceed sqrt(588) ~ 24, so it puts almost every frame in one cluster and flags
next to nothing. `NoiseSettings.paper()` keeps it exactly; the default `NoiseSettings()` uses eps=5, which
separates the no-ultrasound segments of the sample archives (precision and recall 1.00 on seeds 0 and 1,
where eps=15 recalls 0.02 and 0.00; see BENCHMARKS.md, "Preprocessing", for the eps sweep).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import multiprocessing
import multiprocessing.connection
import os
import shutil
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from modeling_rvit.ultrasound_frames import (
    DEFAULT_NOISE_EPS,
    NoiseSettings,
    border_box,
    chroma_aligned_box,
    dbscan,
    detect_noise,
    find_region_box,
    gray_levels,
    noise_features,
)

from .constants import FRAME_SIZE, FRAME_STRIDE, GRAY_THRESHOLD, IMAGE_SET_CROP_FRACTION, NOISE_LIST_NAME
from .errors import AHUDataError, CorruptMediaError, DuplicateSampleError, EmptySampleError
from .naming import EntryName, is_image_file, is_video_file, parse_filtered_name, sort_frame_names
from .noise_list import write_noise_list

JPEG_QUALITY = 95
# Where preprocess_tier keeps its per-sample done-markers and temporary folders, inside out_dir.
STATE_DIR_NAME = ".preprocess"

__all__ = [
    "DEFAULT_NOISE_EPS",
    "ImageSetFrames",
    "NoVideoStreamError",
    "NoiseSettings",
    "PreprocessOptions",
    "ProcessedSample",
    "TierReport",
    "VideoFrames",
    "dbscan",
    "detect_noise",
    "extract_video_frames",
    "find_filtered_entries",
    "find_region_box",
    "frame_file_name",
    "noise_features",
    "preprocess_sample",
    "preprocess_tier",
    "process_image_set",
    "processed_folder_name",
]


class NoVideoStreamError(CorruptMediaError):
    """A video file that holds no video stream (e.g. audio only)."""

    reason = "no video stream"


@dataclass(frozen=True)
class PreprocessOptions:
    """What `preprocess_sample` / `preprocess_tier` do; the defaults are the paper's pipeline.

    Attributes:
        stride: keep decoded frames 0, stride, 2*stride, ... (the paper: 10). Ignored when `num_frames` is set.
        num_frames: keep this many frames spread evenly over the video instead of every `stride`-th one.
        size: side of the square output frames, in pixels (the paper: 224).
        crop: crop videos to the ultrasound region and image sets by `crop_fraction` (the paper: yes).
        crop_fraction: fraction cut from every side of an image-set image (the paper: 0.10).
        gray_threshold: grey level (0..255) above which a pixel belongs to a region (the paper: > 1).
        noise: noise-filter settings, or None to mark no frame as noise.
        thread_type: PyAV decoder threading (`None`: FFmpeg's default, `"AUTO"`, `"FRAME"`, `"SLICE"`).
        jpeg_quality: quality of the JPEG frames `preprocess_tier` writes.
    """

    stride: int = FRAME_STRIDE
    num_frames: int | None = None
    size: int = FRAME_SIZE
    crop: bool = True
    crop_fraction: float = IMAGE_SET_CROP_FRACTION
    gray_threshold: int = GRAY_THRESHOLD
    noise: NoiseSettings | None = field(default_factory=NoiseSettings)
    thread_type: str | None = None
    jpeg_quality: int = JPEG_QUALITY

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


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
    """

    frames: np.ndarray
    source_indices: np.ndarray
    crop_boxes: np.ndarray
    crop_box: tuple[int, int, int, int]
    fps: float
    num_source_frames: int
    duration: float
    source_size: tuple[int, int]


@dataclass
class ImageSetFrames:
    """The images of one image set, cropped and resized.

    Attributes:
        frames: `(T, size, size, 3)` uint8 RGB, in the order of `source_paths`.
        source_paths: the image files, sorted by number.
        crop_boxes: `(T, 4)` int, each image's crop `(x0, y0, x1, y1)` in its own pixels.
        skipped: unreadable images left out (only with `skip_unreadable=True`).
    """

    frames: np.ndarray
    source_paths: list[Path]
    crop_boxes: np.ndarray
    skipped: list[Path] = field(default_factory=list)


@dataclass
class ProcessedSample:
    """One sample of the processed tier, in memory.

    Attributes:
        name: the processed folder name `<N>_<Labels>` (e.g. `12_Cyst,Stone`).
        sample_id: `<N>`.
        labels: label names, primary first.
        kind: `"video"` or `"image_set"`.
        frames: `(T, size, size, 3)` uint8 RGB.
        noise: `(T,)` bool, True for frames judged noise.
        frame_names: `01.jpg`, `02.jpg`, ... (the processed tier's file names).
        source_path: the filtered entry (video file or image folder).
        source_indices: `(T,)` index of each frame in the video, or of each image in the set.
        crop_boxes: `(T, 4)` crop of each frame in source pixels.
        crop_box: the video's ultrasound region (median of `crop_boxes`); None for image sets.
        fps, num_source_frames, duration: the video's (None for image sets, except `num_source_frames`).
    """

    name: str
    sample_id: int
    labels: tuple[str, ...]
    kind: str
    frames: np.ndarray
    noise: np.ndarray
    frame_names: list[str]
    source_path: Path
    source_indices: np.ndarray
    crop_boxes: np.ndarray
    crop_box: tuple[int, int, int, int] | None
    fps: float | None
    num_source_frames: int
    duration: float | None

    @property
    def noise_frames(self) -> list[str]:
        return [name for name, is_noise in zip(self.frame_names, self.noise) if is_noise]

    def metadata(self) -> dict:
        """JSON-serializable description (everything but the pixels)."""
        return {
            "name": self.name,
            "sample_id": self.sample_id,
            "labels": list(self.labels),
            "kind": self.kind,
            "source": self.source_path.name,
            "frame_names": list(self.frame_names),
            "noise_frames": self.noise_frames,
            "source_indices": [int(i) for i in self.source_indices],
            "crop_boxes": [[int(v) for v in box] for box in self.crop_boxes],
            "crop_box": None if self.crop_box is None else [int(v) for v in self.crop_box],
            "fps": self.fps,
            "num_source_frames": self.num_source_frames,
            "duration": self.duration,
        }


def frame_file_name(index: int) -> str:
    """Processed frame file name of the `index`-th kept frame (0-based): `01.jpg`, ..., `99.jpg`, `100.jpg`."""
    return f"{index + 1:02d}.jpg"


# Video decoding.

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


def _open_video(path: Path, thread_type: str | None):
    import av

    if not path.is_file():
        raise CorruptMediaError("file not found; check the path.", entry=str(path))
    if path.stat().st_size == 0:
        raise CorruptMediaError("the file is empty (0 bytes); download or extract it again.", entry=str(path))
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as err:
        raise CorruptMediaError(
            f"cannot be opened as a video ({err.strerror or err}); the file is corrupt or truncated: "
            "download or extract it again.",
            entry=str(path),
        ) from err
    if not container.streams.video:
        container.close()
        raise NoVideoStreamError(
            "holds no video stream (audio only, or not a video); replace it with the original video.",
            entry=str(path),
        )
    stream = container.streams.video[0]
    if thread_type:
        stream.thread_type = thread_type
    return container, stream


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
    frame, options: PreprocessOptions, reformatters: dict
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """One kept frame -> (`(size, size, 3)` uint8 RGB, crop box in source pixels)."""
    width, height = frame.width, frame.height
    full_range = _PLANAR_420.get(frame.format.name)
    if full_range is not None:
        box = None
        if options.crop:
            box = find_region_box(_plane_array(frame, 0), _luma_threshold(options.gray_threshold, full_range))
        box = box or (0, 0, width, height)
        return _yuv420_crop_to_rgb(frame, box, options.size, reformatters), box
    # Any other pixel format: convert the whole frame (slower, but rare).
    rgb = frame.to_ndarray(format="rgb24")
    box = None
    if options.crop:
        box = find_region_box(gray_levels(rgb), options.gray_threshold)
    box = box or (0, 0, width, height)
    x0, y0, x1, y1 = box
    image = Image.fromarray(np.ascontiguousarray(rgb[y0:y1, x0:x1]))
    return np.asarray(image.resize((options.size, options.size), Image.Resampling.BILINEAR)), box


def extract_video_frames(
    path: str | os.PathLike,
    stride: int = FRAME_STRIDE,
    num_frames: int | None = None,
    size: int = FRAME_SIZE,
    crop: bool = True,
    gray_threshold: int = GRAY_THRESHOLD,
    thread_type: str | None = None,
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

    Returns:
        `VideoFrames` with `frames` of shape `(T, size, size, 3)`, uint8 RGB.

    Raises:
        CorruptMediaError: the file is empty, cannot be opened, or decoding fails / yields no frame.
        NoVideoStreamError: the file holds no video stream.
    """
    import av

    path = Path(path)
    options = PreprocessOptions(
        stride=stride, num_frames=num_frames, size=size, crop=crop, gray_threshold=gray_threshold, noise=None
    )
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    keep: np.ndarray | None = None
    if num_frames is not None:
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        container, stream = _open_video(path, thread_type)
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
    container, stream = _open_video(path, thread_type)
    reformatters: dict[tuple[int, int], object] = {}
    fps = float(stream.average_rate or stream.guessed_rate or 0) or None
    declared = stream.frames
    frames: list[np.ndarray] = []
    boxes: list[tuple[int, int, int, int]] = []
    indices: list[int] = []
    index = -1
    keep_set = None if keep is None else set(keep.tolist())
    source_size = (stream.codec_context.width, stream.codec_context.height)
    # Kept frames are cropped and converted on a second thread while the decoder (which releases the GIL)
    # goes on with the next ones; one worker keeps the order and the cached reformatters single-threaded.
    pending = []
    try:
        with ThreadPoolExecutor(max_workers=1) as worker:
            for index, frame in enumerate(container.decode(stream)):
                if keep_set is None:
                    if index % stride:
                        continue
                elif index not in keep_set:
                    continue
                pending.append(worker.submit(_process_video_frame, frame, options, reformatters))
                indices.append(index)
                source_size = (frame.width, frame.height)
            for future in pending:
                rgb, box = future.result()
                frames.append(rgb)
                boxes.append(box)
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
    if not frames:
        raise CorruptMediaError(
            f"none of the requested frames lies among the {num_source_frames} decoded ones (the header's frame "
            "count is wrong?); pass `stride` instead of `num_frames`.",
            entry=str(path),
        )
    boxes_array = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    crop_box = tuple(int(v) for v in np.median(boxes_array, axis=0).round())
    return VideoFrames(
        frames=np.stack(frames),
        source_indices=np.asarray(indices, dtype=np.int64),
        crop_boxes=boxes_array,
        crop_box=crop_box,
        fps=fps,
        num_source_frames=num_source_frames,
        duration=num_source_frames / fps if fps else None,
        source_size=source_size,
    )


# Image sets.


def _image_paths(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise EmptySampleError("is not a folder of images; check the path.", entry=str(folder))
    names = [entry.name for entry in folder.iterdir() if entry.is_file() and is_image_file(entry.name)]
    return [folder / name for name in sort_frame_names(names)]


def process_image_set(
    paths: Sequence[str | os.PathLike] | str | os.PathLike,
    size: int = FRAME_SIZE,
    crop_fraction: float = IMAGE_SET_CROP_FRACTION,
    skip_unreadable: bool = False,
) -> ImageSetFrames:
    """Crop `crop_fraction` from every side of each image and resize it to `size` x `size` (the paper).

    Args:
        paths: the image files, or the image-set folder (its images are sorted by number).
        size: output side in pixels.
        crop_fraction: fraction of the width/height cut from each side (0 keeps the whole image).
        skip_unreadable: leave out images that cannot be decoded (listed in `skipped`) instead of raising.

    Returns:
        `ImageSetFrames` with `frames` of shape `(T, size, size, 3)`, uint8 RGB.

    Raises:
        EmptySampleError: no readable image.
        CorruptMediaError: an image cannot be decoded (unless `skip_unreadable`).
    """
    if isinstance(paths, (str, os.PathLike)):
        folder = Path(paths)
        paths = _image_paths(folder)
        where = str(folder)
    else:
        paths = [Path(p) for p in paths]
        where = str(paths[0].parent) if paths else "image set"
    frames, boxes, kept, skipped = [], [], [], []
    for path in paths:
        try:
            with Image.open(path) as image:
                image = image.convert("RGB")
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            if skip_unreadable:
                skipped.append(path)
                continue
            raise CorruptMediaError(
                f"cannot be read as an image ({err}); replace or remove it.", entry=str(path)
            ) from err
        width, height = image.size
        box = border_box(width, height, crop_fraction)
        # Pillow's default resampling for resize (bicubic), as the paper's To_NPY.py used.
        frames.append(np.asarray(image.crop(box).resize((size, size), Image.Resampling.BICUBIC)))
        boxes.append(box)
        kept.append(path)
    if not frames:
        detail = f"none of its {len(paths)} images can be read" if paths else "it holds no image file"
        raise EmptySampleError(
            f"{detail} (.jpg, .jpeg, .png, .bmp); add the images or remove the image set.", entry=where
        )
    return ImageSetFrames(
        frames=np.stack(frames),
        source_paths=kept,
        crop_boxes=np.asarray(boxes, dtype=np.int64),
        skipped=skipped,
    )


# Samples and tiers.


def preprocess_sample(path: str | os.PathLike, options: PreprocessOptions | None = None) -> ProcessedSample:
    """Process one filtered entry (a `Video_<N>_<Labels>.mp4` or a `Photos_<N>_<Labels>/` folder) in memory.

    Returns:
        `ProcessedSample`: frames `(T, size, size, 3)` uint8 RGB, noise mask `(T,)`, metadata. This is what
        the dataset builder writes into its `frames` feature when an archive has no processed tier.

    Raises:
        AHUDataError subclasses: bad name (`NameParseError`), bad media (`CorruptMediaError`,
        `NoVideoStreamError`, `EmptySampleError`); each names the entry and the fix.
    """
    options = options or PreprocessOptions()
    path = Path(path)
    entry = parse_filtered_name(path.name)
    if entry.kind == "video":
        video = extract_video_frames(
            path,
            stride=options.stride,
            num_frames=options.num_frames,
            size=options.size,
            crop=options.crop,
            gray_threshold=options.gray_threshold,
            thread_type=options.thread_type,
        )
        frames, source_indices, crop_boxes = video.frames, video.source_indices, video.crop_boxes
        crop_box, fps, num_source, duration = (
            video.crop_box,
            video.fps,
            video.num_source_frames,
            video.duration,
        )
    else:
        images = process_image_set(
            path, size=options.size, crop_fraction=options.crop_fraction if options.crop else 0.0
        )
        frames, crop_boxes = images.frames, images.crop_boxes
        source_indices = np.arange(len(frames), dtype=np.int64)
        crop_box, fps, num_source, duration = None, None, len(images.source_paths), None
    noise = detect_noise(frames, options.noise) if options.noise is not None else np.zeros(len(frames), bool)
    return ProcessedSample(
        name=processed_folder_name(entry),
        sample_id=entry.sample_id,
        labels=entry.labels,
        kind=entry.kind,
        frames=frames,
        noise=noise,
        frame_names=[frame_file_name(i) for i in range(len(frames))],
        source_path=path,
        source_indices=source_indices,
        crop_boxes=crop_boxes,
        crop_box=crop_box,
        fps=fps,
        num_source_frames=num_source,
        duration=duration,
    )


def processed_folder_name(entry: EntryName) -> str:
    """The processed-tier folder of a filtered entry: `<N>_<Labels>` (`Video_0012_Cyst.mp4` -> `12_Cyst`)."""
    return f"{entry.sample_id}_{','.join(entry.labels)}"


def find_filtered_entries(filtered_dir: str | os.PathLike) -> list[Path]:
    """The filtered tier's entries (`Video_*` files and `Photos_*` folders), sorted by sample number.

    Other files (zips, manifests, hidden files) are ignored.
    """
    filtered_dir = Path(filtered_dir)
    if not filtered_dir.is_dir():
        raise EmptySampleError("is not a folder; pass the filtered tier's folder.", entry=str(filtered_dir))
    entries = []
    for entry in filtered_dir.iterdir():
        if entry.name.startswith("."):
            continue
        lower = entry.name.lower()
        if (entry.is_file() and lower.startswith("video_") and is_video_file(entry.name)) or (
            entry.is_dir() and lower.startswith("photo")
        ):
            entries.append(entry)

    def order(entry: Path):
        try:
            return (0, parse_filtered_name(entry.name).sample_id, entry.name)
        except AHUDataError:
            return (1, 0, entry.name)

    return sorted(entries, key=order)


@dataclass
class TierReport:
    """What `preprocess_tier` did.

    Attributes:
        out_dir: the processed tier written.
        processed: names of samples processed in this run.
        skipped_done: names of samples already finished by an earlier run (resumed).
        failed: `reason -> [(entry, message), ...]` for entries left out (lenient mode only).
        num_frames: frames in the tier (all finished samples).
        num_noise_frames: noise frames in the tier.
        num_source_frames: source frames decoded in this run.
        seconds: wall time of this run.
        noise_list: path of `noise_files.txt`.
    """

    out_dir: Path
    processed: list[str] = field(default_factory=list)
    skipped_done: list[str] = field(default_factory=list)
    failed: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    num_frames: int = 0
    num_noise_frames: int = 0
    num_source_frames: int = 0
    seconds: float = 0.0
    noise_list: Path | None = None

    @property
    def num_failed(self) -> int:
        return sum(len(items) for items in self.failed.values())

    def summary(self) -> str:
        lines = [
            (
                f"processed {len(self.processed)} samples, {len(self.skipped_done)} already done, "
                f"{self.num_failed} skipped as bad input; {self.num_frames} frames "
                f"({self.num_noise_frames} noise) in {self.out_dir}"
            ),
            f"decoded {self.num_source_frames} source frames in {self.seconds:.1f} s",
        ]
        for reason, items in sorted(self.failed.items()):
            lines.append(f"skipped ({reason}): {len(items)}")
            lines.extend(f"  {message}" for _, message in items)
        return "\n".join(lines)


def _write_json_atomic(path: Path, payload: dict) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(payload, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(temporary, path)


def _marker_path(out_dir: Path, entry: Path) -> Path:
    return out_dir / STATE_DIR_NAME / f"{entry.name}.json"


def _source_fingerprint(entry: Path) -> list[list]:
    """`[name, size in bytes, mtime in ns]` of the file (video) or of each image (image set) a sample is made of.

    Kept in the done-marker: a source replaced or edited after a run no longer matches, so a rerun redoes it.
    """
    paths = _image_paths(entry) if entry.is_dir() else [entry]
    return [[path.name, stat.st_size, stat.st_mtime_ns] for path in paths for stat in (path.stat(),)]


def _exit_with_parent() -> None:
    """Worker initializer: end this process as soon as the parent process is gone.

    A parent killed with SIGKILL cannot shut its pool down; its workers would go on with the queued samples,
    then wait forever, holding the parent's stdout. `parent_process().sentinel` becomes ready when it dies.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _process_entry(entry: Path, out_dir: Path, options: PreprocessOptions) -> dict:
    """Worker: process one entry and write its folder; the done-marker is written last, atomically."""
    # Taken before reading, so that a source changed while it is processed is redone by the next run.
    source = _source_fingerprint(entry)
    sample = preprocess_sample(entry, options)
    state_dir = out_dir / STATE_DIR_NAME
    temporary = state_dir / f"tmp-{sample.name}"
    if temporary.exists():
        shutil.rmtree(temporary)
    temporary.mkdir(parents=True)
    for name, frame in zip(sample.frame_names, sample.frames):
        # Fixed quality and subsampling, no optimizer passes: the same frame gives the same bytes.
        Image.fromarray(frame).save(
            temporary / name, format="JPEG", quality=options.jpeg_quality, subsampling=0
        )
    final = out_dir / sample.name
    if final.exists():
        shutil.rmtree(final)
    os.replace(temporary, final)
    payload = {"options": options.to_dict(), "source_files": source, **sample.metadata()}
    _write_json_atomic(_marker_path(out_dir, entry), payload)
    return payload


def _read_marker(out_dir: Path, entry: Path, options: PreprocessOptions) -> dict | None:
    marker = _marker_path(out_dir, entry)
    if not marker.is_file():
        return None
    try:
        payload = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    # A marker from other options, of another version of the source, or whose folder is gone, means the sample
    # must be redone.
    if payload.get("options") != json.loads(json.dumps(options.to_dict())):
        return None
    try:
        if payload.get("source_files") != _source_fingerprint(entry):
            return None
    except (OSError, AHUDataError):
        return None
    folder = out_dir / payload.get("name", "")
    if not all((folder / name).is_file() for name in payload.get("frame_names", [None])):
        return None
    return payload


def _entries_by_folder(entries: Sequence[Path]) -> dict[str, list[Path]]:
    """Entries grouped by the processed folder they write (entries with unparsable names fail later, alone)."""
    groups: dict[str, list[Path]] = {}
    for entry in entries:
        try:
            folder = processed_folder_name(parse_filtered_name(entry.name))
        except AHUDataError:
            folder = f"unparsable:{entry.name}"
        groups.setdefault(folder, []).append(entry)
    return groups


def _forget(out_dir: Path, entry: Path) -> None:
    """Remove what an earlier run wrote for `entry`: its done-marker and the folder the marker names."""
    marker = _marker_path(out_dir, entry)
    try:
        name = json.loads(marker.read_text(encoding="utf-8")).get("name")
    except (OSError, ValueError):
        return
    if name and (out_dir / name).is_dir():
        shutil.rmtree(out_dir / name)
    marker.unlink()


def preprocess_tier(
    filtered_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    options: PreprocessOptions | None = None,
    num_workers: int = 2,
    lenient: bool = False,
    progress: bool = True,
) -> TierReport:
    """Write the processed tier (`<N>_<Labels>/01.jpg ...` + `noise_files.txt`) from a filtered tier.

    Samples run in `num_workers` processes (1: in this process), which exit when this process dies. A rerun
    skips samples whose done-marker (`out_dir/.preprocess/<entry>.json`, written after the frame folder is
    atomically renamed into place) matches the options and the source's files (names, sizes, mtimes), so an
    interrupted run resumes and a changed source is redone. Same input and options give byte-identical output.
    Two entries that map to one folder (`Video_5_Nodule.mp4`, `Video_05_Nodule.mp4`) are an error naming both;
    `lenient` leaves both out.

    Args:
        filtered_dir: folder of `Video_<N>_<Labels>.mp4` files and `Photos_<N>_<Labels>/` folders.
        out_dir: the processed tier to write (created if needed).
        options: `PreprocessOptions()` (the paper's pipeline, tuned noise filter) by default.
        num_workers: processes over samples.
        lenient: skip bad entries and count them in the report, instead of raising the first error.
        progress: show a tqdm progress bar.

    Returns:
        `TierReport` (print `report.summary()`).

    Raises:
        AHUDataError subclasses: the first bad entry, unless `lenient`.
    """
    from tqdm.auto import tqdm

    options = options or PreprocessOptions()
    out_dir = Path(out_dir)
    (out_dir / STATE_DIR_NAME).mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    report = TierReport(out_dir=out_dir)
    entries = find_filtered_entries(filtered_dir)
    if not entries:
        raise EmptySampleError(
            "holds no `Video_<N>_<Labels>.mp4` file or `Photos_<N>_<Labels>/` folder; pass the filtered tier.",
            entry=str(filtered_dir),
        )

    def record_failure(entry: Path, err: AHUDataError) -> None:
        if not lenient:
            raise err
        report.failed.setdefault(err.reason, []).append((entry.name, str(err)))

    for colliding in _entries_by_folder(entries).values():
        if len(colliding) < 2:
            continue
        # Neither is the sample: the folder and markers of an earlier run are dropped, and both are left out.
        error = DuplicateSampleError(
            f"{' and '.join(entry.name for entry in colliding)} both map to the processed folder "
            f"{processed_folder_name(parse_filtered_name(colliding[0].name))}/; rename or remove all but one.",
            entry=str(Path(filtered_dir) / colliding[0].name),
        )
        for entry in colliding:
            record_failure(entry, error)
            _forget(out_dir, entry)
        entries = [entry for entry in entries if entry not in colliding]
    done: dict[str, dict] = {}
    todo: list[Path] = []
    for entry in entries:
        payload = _read_marker(out_dir, entry, options)
        if payload is None:
            todo.append(entry)
        else:
            done[entry.name] = payload
            report.skipped_done.append(payload["name"])

    bar = tqdm(total=len(todo), desc="preprocess", unit="sample", disable=not progress)
    try:
        if num_workers <= 1:
            for entry in todo:
                try:
                    done[entry.name] = _process_entry(entry, out_dir, options)
                    report.processed.append(done[entry.name]["name"])
                    report.num_source_frames += done[entry.name]["num_source_frames"]
                except AHUDataError as err:
                    record_failure(entry, err)
                bar.update()
        else:
            # "spawn": a forked worker can deadlock on OpenMP/decoder threads the parent already started.
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(
                max_workers=num_workers, mp_context=context, initializer=_exit_with_parent
            ) as pool:
                futures = {pool.submit(_process_entry, entry, out_dir, options): entry for entry in todo}
                try:
                    for future in as_completed(futures):
                        entry = futures[future]
                        try:
                            done[entry.name] = future.result()
                            report.processed.append(done[entry.name]["name"])
                            report.num_source_frames += done[entry.name]["num_source_frames"]
                        except AHUDataError as err:
                            record_failure(entry, err)
                        bar.update()
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
    finally:
        bar.close()
    finished = [done[entry.name] for entry in entries if entry.name in done]
    report.num_frames = sum(len(sample["frame_names"]) for sample in finished)
    report.num_noise_frames = sum(len(sample["noise_frames"]) for sample in finished)
    report.noise_list = write_noise_list(
        out_dir / NOISE_LIST_NAME,
        ((sample["name"], sample["noise_frames"]) for sample in finished),
        prefix=out_dir.resolve().as_posix(),
    )
    order = {
        done[entry.name]["name"]: position for position, entry in enumerate(entries) if entry.name in done
    }
    report.processed.sort(key=order.__getitem__)
    report.seconds = time.perf_counter() - start
    return report
