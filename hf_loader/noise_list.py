"""The processed tier's noise list, `noise_files.txt` (`constants.NOISE_LIST_NAME`): its one reader and one writer.

The archive's format: for each sample with noise frames, a line `Subdirectory: <N>_<Labels>`, then one path per
noise frame ending in `<N>_<Labels>/<frame file>`; blocks are separated by a blank line. The archive's paths are
absolute paths on the authors' machine, so a frame is matched by its folder and file name only, never by the
path's prefix (`/home/x/processed/12_Cyst/03.jpg` is frame `03.jpg` of folder `12_Cyst`, sample 12).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from .errors import NameParseError
from .naming import parse_frame_number, parse_processed_name

__all__ = ["parse_noise_list", "read_noise_list", "write_noise_list"]


def _listed_frames(text: str) -> Iterator[tuple[str, str | None]]:
    """`(folder, frame file)` per listed frame, and `(folder, None)` per `Subdirectory:` line.

    A path's own folder wins over the block's `Subdirectory:` when it is a processed folder name.
    """
    current: str | None = None
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.lower().startswith("subdirectory"):
            current = line.split(":", 1)[-1].strip().replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
            yield current, None
            continue
        parts = line.replace("\\", "/").rstrip("/").split("/")
        folder = current
        if len(parts) >= 2:
            try:
                parse_processed_name(parts[-2])
                folder = parts[-2]
            except NameParseError:
                pass
        if folder is not None:
            yield folder, parts[-1]


def read_noise_list(path: str | os.PathLike) -> dict[str, list[str]]:
    """`{folder name: [noise frame file names]}` of a `noise_files.txt`, folders in the file's order."""
    noise: dict[str, list[str]] = {}
    for folder, frame in _listed_frames(Path(path).read_text(encoding="utf-8")):
        names = noise.setdefault(folder, [])
        if frame is not None:
            names.append(frame)
    return noise


def parse_noise_list(text: str) -> dict[int, set[int]]:
    """`{sample number: {noise frame numbers}}` of a `noise_files.txt`'s text; unparsable names are left out."""
    noise: dict[int, set[int]] = {}
    for folder, frame in _listed_frames(text):
        if frame is None:
            continue
        try:
            sample_id, frame_number = parse_processed_name(folder).sample_id, parse_frame_number(frame)
        except NameParseError:
            continue
        noise.setdefault(sample_id, set()).add(frame_number)
    return noise


def write_noise_list(
    path: str | os.PathLike, noise_frames: Iterable[tuple[str, Sequence[str]]], prefix: str
) -> Path:
    """Write `noise_files.txt` at `path` (atomically): a block per folder that has noise frames.

    Args:
        path: the file to write.
        noise_frames: `(folder name, [noise frame file names])` per sample, in the order to write them.
        prefix: the folder the paths start with (the processed tier's absolute path, as the archive has it).

    Raises:
        ValueError: a folder given twice (one processed folder holds one sample).
    """
    path = Path(path)
    blocks, seen = [], set()
    for folder, frames in noise_frames:
        if folder in seen:
            raise ValueError(f"{folder}: given twice; one processed folder holds one sample.")
        seen.add(folder)
        if frames:
            blocks.append(
                "\n".join([f"Subdirectory: {folder}", *(f"{prefix}/{folder}/{name}" for name in frames)])
            )
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text("\n\n".join(blocks) + "\n" if blocks else "", encoding="utf-8")
    os.replace(temporary, path)
    return path
