"""Read a filtered image set (`Photos_<N>_<Labels>/`): crop 10 % from every side of each image and resize
it to 224x224 (the paper)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from modeling_rvit.ultrasound_frames import FRAME_SIZE, IMAGE_SET_CROP_FRACTION, border_box

from .errors import CorruptMediaError, EmptySampleError
from .naming import is_image_file, sort_frame_names


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


def image_set_paths(folder: Path) -> list[Path]:
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
        paths = image_set_paths(folder)
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
