"""Parse the names of archive entries into sample numbers and labels.

The AHU archive encodes everything a split needs in its names:

- filtered tier: `Video_<N>_<Labels>.mp4` (a video) or `Photos_<N>_<Labels>/` (a folder of images);
- processed tier: `<N>_<Labels>/` (a folder of frames);
- `<Labels>` is the last `_`-separated field, labels separated by commas, the first is the primary label.

Parsing is tolerant of what the real archive may do differently from the paper's description:
zero-padded numbers (`Video_0012_Cyst.mp4`), spaces after commas (`Cyst, Stone`), full-width
commas (`Cyst，Stone`), the letter case of labels and prefixes (`video_12_cyst.MP4`), and frame
files named `1.jpg`, `01.png` or `001.npy`. A label outside the 13 of
`hf_loader.constants.LABELS` is an error (`UnknownLabelError`), never silently dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .constants import LABELS
from .errors import NameParseError, UnknownLabelError

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".flv", ".wmv")
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp")
# The paper's code (To_NPY.py) stores processed frames as .npy arrays.
ARRAY_EXTENSIONS: tuple[str, ...] = (".npy",)
FRAME_EXTENSIONS: tuple[str, ...] = IMAGE_EXTENSIONS + ARRAY_EXTENSIONS

_LABEL_BY_LOWER: dict[str, str] = {name.lower(): name for name in LABELS}
_LABEL_SEPARATORS = re.compile(r"[,，、;]")
_FILTERED_NAME = re.compile(r"^(?P<prefix>video|photos?)_+0*(?P<number>\d+)_+(?P<labels>.+)$", re.IGNORECASE)
_PROCESSED_NAME = re.compile(r"^0*(?P<number>\d+)_+(?P<labels>.+)$")
_FRAME_NAME = re.compile(r"^(?:.*?[_\- ])?0*(?P<number>\d+)$")


@dataclass(frozen=True)
class EntryName:
    """What an entry's name says about its sample.

    Attributes:
        name: the entry's name as found (file or folder name, no parent path).
        tier: `"filtered"` or `"processed"`.
        sample_id: the sample number `<N>` (an int, zero padding removed).
        labels: the canonical label names, primary first, duplicates removed.
        kind: `"video"`, `"image_set"`, or `None` where the name does not say (processed tier).
    """

    name: str
    tier: str
    sample_id: int
    labels: tuple[str, ...]
    kind: str | None

    @property
    def primary_label(self) -> str:
        return self.labels[0]


def _shown_extension(name: str) -> str:
    stem, dot, extension = name.rpartition(".")
    return (
        f"'.{extension}'" if dot and stem and " " not in extension and len(extension) <= 5 else "no extension"
    )


def strip_extension(name: str) -> tuple[str, str]:
    """`"Video_1_Cyst.mp4"` → `("Video_1_Cyst", ".mp4")`; the extension is lower-cased, `""` if none known.

    Only known media extensions are stripped, since a label field never holds a dot.
    """
    stem, dot, extension = name.rpartition(".")
    if dot and ("." + extension.lower()) in VIDEO_EXTENSIONS + FRAME_EXTENSIONS:
        return stem, "." + extension.lower()
    return name, ""


def parse_labels(field: str, entry: str | None = None) -> tuple[str, ...]:
    """Parse a `<Labels>` field (`"Cyst,Stone"`, `"cyst, stone"`) into canonical label names.

    Raises:
        UnknownLabelError: a label is not one of `hf_loader.constants.LABELS`.
        NameParseError: the field holds no label.
    """
    labels: list[str] = []
    for token in _LABEL_SEPARATORS.split(field):
        token = token.strip()
        if not token:
            continue
        canonical = _LABEL_BY_LOWER.get(token.lower())
        if canonical is None:
            raise UnknownLabelError(
                f"unknown label {token!r}; known labels are {', '.join(LABELS)}. Rename the entry with one of "
                "them, or pass errors='skip' to leave it out.",
                entry=entry or field,
            )
        if canonical not in labels:
            labels.append(canonical)
    if not labels:
        raise NameParseError(
            "no label in the name (expected `..._<N>_<Label>[,<Label>...]`).", entry=entry or field
        )
    return tuple(labels)


def parse_filtered_name(name: str, require_extension: bool = True) -> EntryName:
    """Parse a filtered-tier entry: `Video_<N>_<Labels>.<video ext>` or a folder `Photos_<N>_<Labels>`.

    Args:
        name: the file or folder name, without parent path.
        require_extension: when False, `Video_<N>_<Labels>` without an extension is accepted too (as
            rename.xlsx's `filtered_name` column writes it).

    Raises:
        NameParseError / UnknownLabelError: the name does not follow the pattern.
    """
    stem, extension = strip_extension(name)
    match = _FILTERED_NAME.match(stem.strip())
    if match is None:
        raise NameParseError(
            "not a filtered-tier name (expected `Video_<N>_<Labels>.mp4` or a folder `Photos_<N>_<Labels>`); "
            "rename it or move it out of the archive.",
            entry=name,
        )
    is_video = match["prefix"].lower() == "video"
    if is_video and extension not in VIDEO_EXTENSIONS and (require_extension or extension):
        raise NameParseError(
            f"expected a `Video_` entry to be a video file ({', '.join(VIDEO_EXTENSIONS)}), got "
            f"{_shown_extension(name)}; rename it or move it out of the archive.",
            entry=name,
        )
    if not is_video and extension:
        raise NameParseError("expected a `Photos_` entry to be a folder of images, not a file.", entry=name)
    return EntryName(
        name=name,
        tier="filtered",
        sample_id=int(match["number"]),
        labels=parse_labels(match["labels"], entry=name),
        kind="video" if is_video else "image_set",
    )


def parse_processed_name(name: str) -> EntryName:
    """Parse a processed-tier folder name `<N>_<Labels>` (e.g. `12_Cyst,Stone`, `0012_cyst, stone`).

    Raises:
        NameParseError / UnknownLabelError: the name does not follow the pattern.
    """
    match = _PROCESSED_NAME.match(name.strip())
    if match is None:
        raise NameParseError(
            "not a processed-tier folder name (expected `<N>_<Labels>`, e.g. `12_Cyst,Stone`); rename it "
            "or move it out of the archive.",
            entry=name,
        )
    return EntryName(
        name=name,
        tier="processed",
        sample_id=int(match["number"]),
        labels=parse_labels(match["labels"], entry=name),
        kind=None,
    )


def looks_like_filtered_name(name: str) -> bool:
    """True if `name` starts like a filtered entry (`Video_<N>_` / `Photos_<N>_`), whatever its labels."""
    return _FILTERED_NAME.match(strip_extension(name)[0].strip()) is not None


def looks_like_processed_name(name: str) -> bool:
    """True if `name` starts like a processed folder (`<N>_`), whatever its labels."""
    return _PROCESSED_NAME.match(name.strip()) is not None


def parse_frame_number(name: str) -> int:
    """The number of a frame file: `"01.jpg"` → 1, `"7.png"` → 7, `"frame_003.npy"` → 3.

    Raises:
        NameParseError: the name is not a frame file with a number.
    """
    stem, extension = strip_extension(name)
    match = _FRAME_NAME.match(stem)
    if extension not in FRAME_EXTENSIONS or match is None:
        raise NameParseError(
            f"not a numbered frame file (expected e.g. `01.jpg`; extensions {', '.join(FRAME_EXTENSIONS)}).",
            entry=name,
        )
    return int(match["number"])


def is_frame_file(name: str) -> bool:
    return strip_extension(name)[1] in FRAME_EXTENSIONS


def is_video_file(name: str) -> bool:
    return strip_extension(name)[1] in VIDEO_EXTENSIONS


def is_image_file(name: str) -> bool:
    return strip_extension(name)[1] in IMAGE_EXTENSIONS


def sort_frame_names(names) -> list[str]:
    """Sort frame file names by their number (`2.jpg` before `10.jpg`), names without a number last."""

    def order(name: str):
        try:
            return (0, parse_frame_number(name), name)
        except NameParseError:
            return (1, 0, name)

    return sorted(names, key=order)
