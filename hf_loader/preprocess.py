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

Videos are decoded by `hf_loader.video_frames`, image sets read by `hf_loader.image_sets`. A whole tier on
disk (resumable, parallel over samples): `hf_loader.processed_tier.preprocess_tier(filtered_dir, out_dir)`,
or `python scripts/preprocess_archive.py filtered/ processed/`.

Noise settings: the paper's `eps=15` is on min-max normalized features (0..1, 14*14*3 = 588 values), whose
Euclidean distances cannot exceed sqrt(588) ~ 24, so it puts almost every frame in one cluster and flags
next to nothing. `NoiseSettings.paper()` keeps it exactly; the default `NoiseSettings()` uses eps=5, which
separates the no-ultrasound segments of the sample archives (precision and recall 1.00 on seeds 0 and 1,
where eps=15 recalls 0.02 and 0.00; see BENCHMARKS.md, "Preprocessing", for the eps sweep).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from modeling_rvit.ultrasound_frames import (
    FRAME_SIZE,
    FRAME_STRIDE,
    GRAY_THRESHOLD,
    IMAGE_SET_CROP_FRACTION,
    NoiseSettings,
    detect_noise,
    noise_from_features,
)

from .image_sets import process_image_set
from .naming import EntryName, parse_filtered_name
from .video_frames import extract_video_frames

JPEG_QUALITY = 95


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
            noise=options.noise,
        )
        frames, source_indices, crop_boxes = video.frames, video.source_indices, video.crop_boxes
        noise = (
            noise_from_features(video.noise_features, options.noise) if options.noise is not None else None
        )
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
        noise = detect_noise(frames, options.noise) if options.noise is not None else None
    if noise is None:
        noise = np.zeros(len(frames), bool)
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
