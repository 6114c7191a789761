"""Find the archive's tiers in folders and zips, index their entries, and read them safely.

The archive may come as a folder holding the tier folders (`raw/`, `filtered/`, `processed/`),
as the tier zips as downloaded (`raw.zip`, ...), or both. `index_archive(paths)` walks every
folder, lists every zip (central directory only: nothing is extracted) and recognises each tier:

1. by a path component named after the tier (`processed/12_Cyst/01.jpg`, `AHU/raw/...`);
2. else, inside a zip whose name names one tier (`processed.zip`, `AHU_filtered (1).zip`), as that
   tier with no top folder;
3. else by content: `Video_<N>_*.mp4` and `Photos_<N>_*/` are filtered, `<N>_*/<frames>` and
   `noise_files.txt` are processed, `rename.xlsx` and `<creator>/<post>/comments.xlsx` are raw.

A tier found as a folder is read from that folder only; its zips are then ignored (listed as
`shadowed`), so a folder holding both the extracted tiers and their zips counts each sample once.

Zip members are never extracted. A member whose path escapes its folder (`../`, an absolute
path, a drive letter) is refused (`UnsafeArchiveMemberError`) and never opened. Hidden files
(`.DS_Store`, `__MACOSX/`, names starting with `.` or `__`) are skipped, as
`datasets.DownloadManager.iter_archive` skips them. `MemberReader` reads one member at a time (a bad
CRC fails that member alone) and refuses, unread, a member larger than `MAX_MEMBER_BYTES` or a zip
member inflating more than `MAX_COMPRESSION_RATIO`-fold. `archive_fingerprint(path)` is the builder's
cache key: every file's path, size and time at any depth, and each zip's central directory.

Processed frames may be `.jpg`/`.png` (the paper) or `.npy` (the paper's code): an `.npy` frame of a
video is BGR (OpenCV order, as the paper's To_NPY.py saved it) and is converted to RGB by the builder;
an `.npy` frame of an image set is already RGB.

`scan_archive(path)` reports what was recognised per tier, counts, the label histogram and every
entry that could not be used with the reason (`scripts/scan_archive.py` prints it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import posixpath
import re
import struct
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .constants import COMMENTS_TABLE_NAME, LABELS, NOISE_LIST_NAME, RENAME_TABLE_NAME, TIERS
from .errors import (
    AHUDataError,
    ArchiveNotFoundError,
    CorruptMediaError,
    DuplicateSampleError,
    EmptySampleError,
    NameParseError,
    UnsafeArchiveMemberError,
)
from .naming import (
    EntryName,
    is_frame_file,
    is_image_file,
    is_video_file,
    looks_like_filtered_name,
    looks_like_processed_name,
    parse_filtered_name,
    parse_processed_name,
    sort_frame_names,
)

_COMMENT_TABLE_NAMES = {
    COMMENTS_TABLE_NAME.lower(),
    "comments.csv",
    "comment.xlsx",
    "comment.csv",
    "评论.xlsx",
}
_TABLE_EXTENSIONS = (".xlsx", ".csv")
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class Source:
    """A place holding archive files: a folder or a zip file.

    Attributes:
        path: the folder or zip path (local path; a zip may also be an fsspec URL).
        is_zip: True for a zip file.
    """

    path: str
    is_zip: bool

    def location(self, member: str) -> str:
        """A human-readable address of a member: `zip::member` or the file path."""
        return f"{self.path}::{member}" if self.is_zip else os.path.join(self.path, *member.split("/"))


@dataclass(frozen=True)
class Entry:
    """One sample entry of a tier (or one raw post).

    Attributes:
        tier: `"raw"`, `"filtered"` or `"processed"`.
        name: the entry's name: `Video_12_Cyst.mp4`, `Photos_3_Stone`, `12_Cyst` or, for a raw post,
            `<creator>/<post code>`.
        source: where its files are.
        media: member paths of its media in order (one video, or frames/images sorted by number).
        table: member path of a raw post's comment table, or None.
        sample_id: the sample number (None for a raw post: see the rename table).
        labels: label names, primary first (empty for a raw post).
        kind: `"video"`, `"image_set"` or None when the name does not say (processed tier).
        path: the entry's own path in its source (the video file or the folder), for messages.
    """

    tier: str
    name: str
    source: Source
    media: tuple[str, ...]
    table: str | None = None
    sample_id: int | None = None
    labels: tuple[str, ...] = ()
    kind: str | None = None
    path: str = ""

    @property
    def members(self) -> tuple[str, ...]:
        return self.media + ((self.table,) if self.table else ())

    @property
    def location(self) -> str:
        return self.source.location(self.path or self.name)

    @property
    def creator(self) -> str | None:
        """A raw post's creator folder (the first component of its name)."""
        return self.name.split("/")[0] if self.tier == "raw" and "/" in self.name else None


@dataclass(frozen=True)
class Problem:
    """An entry that cannot be used, with the error to raise in strict mode.

    Attributes:
        tier: the entry's tier (None for a whole zip that cannot be read).
        entry: where it is, for messages.
        error: what strict mode raises.
        name: the entry's name in its tier (`12_Cyst`, `Video_3_Stone.mp4`, `<creator>/<post>`), when it is a
            sample or post: the split still counts it, so skipping it moves no other sample.
    """

    tier: str | None
    entry: str
    error: AHUDataError
    name: str | None = None

    @property
    def reason(self) -> str:
        return self.error.reason

    @property
    def message(self) -> str:
        return str(self.error)


@dataclass
class TierIndex:
    """What was found of one tier.

    Attributes:
        tier: the tier's name.
        sources: where its entries were read from.
        entries: the usable entries, sorted by sample number (raw posts by name).
        metadata: `{file name: (source, member)}` of the tier's tables (`noise_files.txt`, `rename.xlsx`).
    """

    tier: str
    sources: list[Source] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    metadata: dict[str, tuple[Source, str]] = field(default_factory=dict)

    def by_sample_id(self) -> dict[int, Entry]:
        return {entry.sample_id: entry for entry in self.entries if entry.sample_id is not None}

    def by_name(self) -> dict[str, Entry]:
        return {entry.name: entry for entry in self.entries}


@dataclass
class ArchiveIndex:
    """Every tier found under the given paths, plus what could not be used.

    Attributes:
        tiers: `{tier: TierIndex}` for the tiers found.
        problems: entries that cannot be used (bad names, unknown labels, duplicates, empty
            folders, unsafe zip members), each with the error strict mode raises.
        ignored: files that belong to no entry (e.g. `manifest.json`, a stray README), not errors.
        shadowed: zips whose tiers were already found as folders and which were therefore not read.
    """

    paths: tuple[str, ...]
    tiers: dict[str, TierIndex] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    shadowed: list[str] = field(default_factory=list)

    def tier(self, name: str) -> TierIndex | None:
        found = self.tiers.get(name)
        return found if found is not None and (found.entries or found.metadata) else None


def is_unsafe_member(name: str) -> bool:
    """True for a zip member path that would escape its folder: absolute, drive letter, or a `..` part."""
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or _DRIVE.match(normalised):
        return True
    return ".." in normalised.split("/")


def _is_hidden(path: str) -> bool:
    return any(part.startswith((".", "__")) for part in path.split("/") if part)


def _zip_display_name(info: zipfile.ZipInfo) -> str:
    """A member's name as its creator meant it: zips made on Chinese Windows store GBK without the UTF-8 flag."""
    name = info.filename
    if info.flag_bits & 0x800 or name.isascii():
        return name
    try:
        return name.encode("cp437").decode("gbk")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return name


def open_zip(path: str) -> zipfile.ZipFile:
    """Open a zip for random access (local path or, through fsspec, a seekable URL)."""
    if "://" in path:
        from datasets.utils.file_utils import xopen

        return zipfile.ZipFile(xopen(path, "rb"))
    return zipfile.ZipFile(path)


@dataclass
class _Listing:
    files: list[str]  # display names (posix, relative)
    dirs: set[str]
    raw_names: dict[str, str]  # display name -> name to open


def _list_folder(root: str, zips: list[str]) -> _Listing:
    files, dirs = [], set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(name for name in dirnames if not name.startswith((".", "__")))
        relative_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        relative_dir = "" if relative_dir == "." else relative_dir
        if relative_dir:
            dirs.add(relative_dir)
        for filename in sorted(filenames):
            if filename.startswith((".", "__")):
                continue
            if filename.lower().endswith(".zip"):
                zips.append(os.path.join(dirpath, filename))
                continue
            files.append(posixpath.join(relative_dir, filename) if relative_dir else filename)
    return _Listing(files=files, dirs=dirs, raw_names={name: name for name in files})


def _list_zip(path: str, problems: list[Problem]) -> _Listing:
    try:
        with open_zip(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        tier = tier_of_file_name(path)
        lost = f" Its {tier} tier is left out." if tier else ""
        problems.append(
            Problem(
                None,
                path,
                CorruptMediaError(
                    f"not a readable zip ({error}); is the download incomplete? Download it again.{lost}",
                    entry=path,
                ),
            )
        )
        return _Listing([], set(), {})
    files, dirs, raw_names = [], set(), {}
    for info in infos:
        if is_unsafe_member(info.filename):
            problems.append(
                Problem(
                    None,
                    f"{path}::{info.filename}",
                    UnsafeArchiveMemberError(
                        "member path escapes the archive's folder (absolute or `..`); it was refused and never "
                        "read. Re-create the zip with relative paths.",
                        entry=f"{path}::{info.filename}",
                    ),
                )
            )
            continue
        name = _zip_display_name(info).replace("\\", "/").strip("/")
        if not name or _is_hidden(name):
            continue
        parent = posixpath.dirname(name)
        while parent:
            dirs.add(parent)
            parent = posixpath.dirname(parent)
        if info.is_dir():
            dirs.add(name)
            continue
        files.append(name)
        raw_names[name] = info.filename
    return _Listing(files=files, dirs=dirs, raw_names=raw_names)


def tier_of_file_name(name: str) -> str | None:
    """The tier a file's name names as a whole word (`processed.zip`, `AHU_raw (1).zip`), if exactly one.

    Whole words only: `unprocessed.zip` and `raw_filtered_notes.zip` name no single tier.
    """
    tokens = set(re.split(r"[^a-z]+", posixpath.basename(name.replace("\\", "/")).lower()))
    named = [tier for tier in TIERS if tier in tokens]
    return named[0] if len(named) == 1 else None


def _locate(path: str, comment_dirs: set[str], hint: str | None) -> tuple[str, str] | None:
    """`(tier, path inside the tier)` of a file, or None when it belongs to no tier."""
    parts = path.split("/")
    for position, part in enumerate(parts[:-1]):
        if part.lower() in TIERS:
            return part.lower(), "/".join(parts[position + 1 :])
    if hint is not None:
        return hint, path
    name = parts[-1]
    parent = parts[-2] if len(parts) > 1 else ""
    if name.lower() == NOISE_LIST_NAME:
        return "processed", name
    if name.lower() == RENAME_TABLE_NAME:
        return "raw", name
    if is_video_file(name) and looks_like_filtered_name(name):
        return "filtered", name
    if parent and looks_like_filtered_name(parent):
        return "filtered", "/".join(parts[-2:])
    if parent and looks_like_processed_name(parent) and is_frame_file(name):
        return "processed", "/".join(parts[-2:])
    if posixpath.dirname(path) in comment_dirs:
        return "raw", "/".join(parts[-3:])
    return None


@dataclass
class _TierFiles:
    """Files of one tier in one source, with their paths inside the tier."""

    source: Source
    files: list[tuple[str, str]] = field(default_factory=list)  # (path inside tier, member)
    dirs: dict[str, str] = field(default_factory=dict)  # folders: path inside tier -> path in source


def _collect(source: Source, listing: _Listing, ignored: list[str]) -> dict[str, _TierFiles]:
    hint = tier_of_file_name(source.path) if source.is_zip else None
    comment_dirs = {
        posixpath.dirname(name)
        for name in listing.files
        if posixpath.basename(name).lower() in _COMMENT_TABLE_NAMES
    }
    found: dict[str, _TierFiles] = {}
    prefix_of: dict[str, str] = {}
    for name in listing.files:
        located = _locate(name, comment_dirs, hint)
        if located is None:
            ignored.append(source.location(listing.raw_names[name]))
            continue
        tier, inner = located
        tier_files = found.setdefault(tier, _TierFiles(source))
        tier_files.files.append((inner, listing.raw_names[name]))
        prefix_of.setdefault(tier, name[: len(name) - len(inner)])
    # Every folder inside a tier is kept, so that an empty sample folder is seen (zips list no empty folder
    # as a file).
    for directory in listing.dirs:
        for tier, prefix in prefix_of.items():
            if directory.startswith(prefix) and directory != prefix.rstrip("/"):
                found[tier].dirs[directory[len(prefix) :]] = directory
    return found


def _parse_name(tier: str, name: str) -> EntryName:
    return parse_filtered_name(name) if tier == "filtered" else parse_processed_name(name)


def _looks_like_sample_folder(tier: str, name: str) -> bool:
    return looks_like_filtered_name(name) if tier == "filtered" else looks_like_processed_name(name)


def _entries_of(tier: str, tier_files: _TierFiles, index: ArchiveIndex) -> tuple[list[Entry], dict]:
    """Group a tier's files into entries; bad entries go to `index.problems`.

    An entry is recognised by its own name wherever it sits in the tier (so label subfolders such as
    `filtered/Tumor/Video_1_Tumor.mp4` work); a file directly under the tier root or in a folder just
    under it is an entry whatever its name, so a badly named entry is reported rather than ignored.
    """
    source = tier_files.source
    groups: dict[str, tuple[str, str, list[tuple[str, str]]]] = {}  # key -> (name, path, files)
    metadata: dict[str, tuple[Source, str]] = {}
    for inner, member in tier_files.files:
        parts = inner.split("/")
        base, parent = parts[-1], (parts[-2] if len(parts) > 1 else None)
        if tier == "processed" and base.lower() == NOISE_LIST_NAME:
            metadata.setdefault(NOISE_LIST_NAME, (source, member))
        elif tier == "raw" and base.lower() == RENAME_TABLE_NAME:
            metadata.setdefault(RENAME_TABLE_NAME, (source, member))
        elif (
            tier == "filtered" and is_video_file(base) and (len(parts) == 1 or looks_like_filtered_name(base))
        ):
            groups[inner] = (base, member, [(base, member)])
        elif (
            tier in ("filtered", "processed")
            and parent is not None
            and (len(parts) == 2 or _looks_like_sample_folder(tier, parent))
        ):
            key = "/".join(parts[:-1])
            groups.setdefault(key, (parent, posixpath.dirname(member), []))[2].append((base, member))
        elif tier == "raw" and len(parts) >= 3:
            key = "/".join(parts[-3:-1])
            groups.setdefault(key, (key, posixpath.dirname(member), []))[2].append((base, member))
        else:
            index.ignored.append(source.location(member))
    for inner, path in tier_files.dirs.items():
        parts = inner.split("/")
        if tier == "raw":
            is_entry = len(parts) == 2
        else:
            is_entry = len(parts) == 1 or _looks_like_sample_folder(tier, parts[-1])
        if is_entry and inner not in groups and not any(key.startswith(inner + "/") for key in groups):
            groups[inner] = (inner if tier == "raw" else parts[-1], path, [])

    entries = []
    for key in sorted(groups):
        name, path, files = groups[key]
        location = source.location(path)
        try:
            if tier == "raw":
                entry = _raw_entry(name, files, source, index)
            else:
                entry = _sample_entry(tier, name, files, source, index)
        except AHUDataError as error:
            index.problems.append(Problem(tier, location, error.relocated(location), name))
            continue
        entries.append(dataclasses.replace(entry, path=path))
    return entries, metadata


def _sample_entry(tier: str, name: str, files, source: Source, index: ArchiveIndex) -> Entry:
    parsed = _parse_name(tier, name)
    if parsed.kind == "video":
        return Entry(tier, name, source, (files[0][1],), None, parsed.sample_id, parsed.labels, "video")
    frames = {}
    for file_name, member in files:
        if is_image_file(file_name) if tier == "filtered" else is_frame_file(file_name):
            frames[file_name] = member
        else:
            index.ignored.append(source.location(member))
    if not frames:
        what = "image" if tier == "filtered" else "frame"
        raise EmptySampleError(
            f"the sample folder holds no {what} file; remove the empty folder or restore its {what}s "
            "(or pass errors='skip').",
            entry=name,
        )
    ordered = tuple(frames[file_name] for file_name in sort_frame_names(frames))
    return Entry(tier, name, source, ordered, None, parsed.sample_id, parsed.labels, parsed.kind)


def _raw_entry(name: str, files, source: Source, index: ArchiveIndex) -> Entry:
    videos = sorted(member for file_name, member in files if is_video_file(file_name))
    images = [member for file_name, member in files if is_image_file(file_name)]
    tables = sorted(
        member
        for file_name, member in files
        if file_name.lower() in _COMMENT_TABLE_NAMES or file_name.lower().endswith(_TABLE_EXTENSIONS)
    )
    used = set(videos[:1]) | set(images if not videos else ()) | set(tables[:1])
    index.ignored.extend(source.location(member) for _, member in files if member not in used)
    if not videos and not images:
        raise EmptySampleError(
            "the post folder holds no video or image; remove the empty folder or restore its media "
            "(or pass errors='skip').",
            entry=name,
        )
    if videos:
        media, kind = (videos[0],), "video"
    else:
        by_name = {posixpath.basename(member): member for member in images}
        media, kind = tuple(by_name[file_name] for file_name in sort_frame_names(by_name)), "image_set"
    return Entry("raw", name, source, media, tables[0] if tables else None, None, (), kind)


def _drop_duplicates(tier: str, entries: list[Entry], index: ArchiveIndex) -> list[Entry]:
    if tier == "raw":
        return entries
    by_id: dict[int, list[Entry]] = defaultdict(list)
    for entry in entries:
        by_id[entry.sample_id].append(entry)
    kept = []
    for sample_id in sorted(by_id):
        group = by_id[sample_id]
        if len(group) == 1:
            kept.append(group[0])
            continue
        names = ", ".join(entry.location for entry in group)
        for entry in group:
            index.problems.append(
                Problem(
                    tier,
                    entry.location,
                    DuplicateSampleError(
                        f"sample number {sample_id} is used by {len(group)} {tier} entries ({names}); "
                        "each sample number must be unique. Remove or renumber the duplicates (or pass "
                        "errors='skip' to leave all of them out).",
                        entry=entry.location,
                    ),
                    entry.name,
                )
            )
    return kept


def index_archive(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> ArchiveIndex:
    """Find and index every tier under `paths` (folders and/or zip files); decodes no media.

    Args:
        paths: a folder (holding tier folders, tier zips, or both), a zip, or several of these.

    Returns:
        `ArchiveIndex`. Bad entries are listed in `.problems` (never raised here).

    Raises:
        ArchiveNotFoundError: a path does not exist.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = tuple(os.fspath(path) for path in paths)
    index = ArchiveIndex(paths=paths)
    folder_sources: list[tuple[Source, _Listing]] = []
    zip_paths: list[str] = []
    for path in paths:
        if "://" not in path and os.path.isdir(path):
            folder_sources.append((Source(path, False), _list_folder(path, zip_paths)))
        elif "://" in path or os.path.isfile(path):
            zip_paths.append(path)
        else:
            raise ArchiveNotFoundError(
                "no such file or folder; pass the folder holding the tiers (raw/, filtered/, processed/ or "
                "their zips), or leave data_dir unset to download from Figshare.",
                entry=path,
            )
    zip_sources = []
    for zip_path in zip_paths:
        listing = _list_zip(zip_path, index.problems)
        zip_sources.append((Source(zip_path, True), listing))

    collected: dict[str, list[_TierFiles]] = defaultdict(list)
    from_folder: set[str] = set()
    for source, listing in folder_sources:
        for tier, tier_files in _collect(source, listing, index.ignored).items():
            collected[tier].append(tier_files)
            from_folder.add(tier)
    for source, listing in zip_sources:
        shadowed = []
        for tier, tier_files in _collect(source, listing, index.ignored).items():
            if tier in from_folder:
                shadowed.append(tier)
            else:
                collected[tier].append(tier_files)
        if shadowed:
            index.shadowed.append(f"{source.path} ({', '.join(sorted(shadowed))}: already found as a folder)")

    for tier in TIERS:
        if tier not in collected:
            continue
        tier_index = TierIndex(tier)
        entries = []
        for tier_files in collected[tier]:
            found, metadata = _entries_of(tier, tier_files, index)
            entries.extend(found)
            for name, located in metadata.items():
                tier_index.metadata.setdefault(name, located)
            tier_index.sources.append(tier_files.source)
        entries = _drop_duplicates(tier, entries, index)
        tier_index.entries = sorted(
            entries, key=lambda e: (e.sample_id if e.sample_id is not None else -1, e.name)
        )
        index.tiers[tier] = tier_index
    return index


# Members are read whole into memory (a frame, a video, a table): refuse what cannot be one. Real media
# compress at most ~10:1 in a zip; a zip bomb ~1000:1. Small members (an all-black .npy frame) may compress
# far better and cost nothing, so the ratio is only checked above RATIO_CHECKED_ABOVE bytes.
MAX_MEMBER_BYTES = 2 << 30
MAX_COMPRESSION_RATIO = 100
RATIO_CHECKED_ABOVE = 1 << 20


class OversizedMemberError(AHUDataError):
    """A file or zip member too large (or too compressed) to be one sample's media: never read."""

    reason = "oversized member"


class MemberReader:
    """Random-access reads of members from folders and zips (zips kept open until `close()`).

    Each read is independent: a member with a bad CRC or a cut-off body fails alone, naming itself, and
    the next read goes on. Sizes are checked before reading (`MAX_MEMBER_BYTES`, and
    `MAX_COMPRESSION_RATIO` for a zip member), so memory holds at most one capped member at a time.
    """

    def __init__(
        self, max_member_bytes: int = MAX_MEMBER_BYTES, max_compression_ratio: float = MAX_COMPRESSION_RATIO
    ):
        self.max_member_bytes = max_member_bytes
        self.max_compression_ratio = max_compression_ratio
        self._zips: dict[str, zipfile.ZipFile] = {}

    def read(self, source: Source, member: str) -> bytes:
        """The bytes of `member` of `source`.

        Raises:
            UnsafeArchiveMemberError: the path escapes its folder.
            OversizedMemberError: larger than `max_member_bytes`, or (zip) compressed more than
                `max_compression_ratio` times.
            CorruptMediaError: missing, unreadable or failing its CRC.
        """
        location = source.location(member)
        if is_unsafe_member(member):
            raise UnsafeArchiveMemberError("refused: the path escapes its folder.", entry=location)
        try:
            if not source.is_zip:
                path = os.path.join(source.path, *member.split("/"))
                self._check_size(os.path.getsize(path), None, location)
                with open(path, "rb") as file:
                    return file.read()
            if source.path not in self._zips:
                self._zips[source.path] = open_zip(source.path)
            archive = self._zips[source.path]
            info = archive.getinfo(member)
            self._check_size(info.file_size, info.compress_size, location)
            # zipfile stops at the size the central directory announces, so a lying header cannot exceed it.
            with archive.open(info) as file:
                return file.read()
        except (OSError, zipfile.BadZipFile, EOFError, KeyError) as error:
            raise CorruptMediaError(
                f"cannot be read ({type(error).__name__}: {error}); the archive may be truncated or damaged: "
                "download it again.",
                entry=location,
            ) from None

    def _check_size(self, size: int, compressed_size: int | None, location: str) -> None:
        if size > self.max_member_bytes:
            raise OversizedMemberError(
                f"{size / 2**20:.0f} MiB is more than the {self.max_member_bytes / 2**20:.0f} MiB a member may hold; "
                "it was not read. Remove it from the archive, or raise archive.MAX_MEMBER_BYTES if it is real.",
                entry=location,
            )
        if (
            compressed_size is not None
            and size > RATIO_CHECKED_ABOVE
            and size > self.max_compression_ratio * max(compressed_size, 1)
        ):
            raise OversizedMemberError(
                f"expands {size / max(compressed_size, 1):.0f}-fold ({compressed_size} bytes to {size}), more than "
                f"the {self.max_compression_ratio:.0f}-fold any real media file does (a zip bomb?); it was not read. "
                "Remove it from the archive.",
                entry=location,
            )

    def close(self) -> None:
        for archive in self._zips.values():
            archive.close()
        self._zips.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_entry_files(entry: Entry, reader: MemberReader) -> dict[str, bytes]:
    """`{member: bytes}` of an entry's members, read one at a time; the first bad member raises, naming itself."""
    return {member: reader.read(entry.source, member) for member in entry.members}


def iter_entry_files(
    entries: Iterable[Entry], reader: MemberReader | None = None
) -> Iterator[tuple[Entry, dict[str, bytes] | AHUDataError]]:
    """Yield `(entry, {member: bytes})` for every entry, in the given order, one entry in memory at a time.

    Zips are read by random access through their central directory (local files, or seekable fsspec
    URLs), so a damaged member costs only its own entry: the error is yielded in place of the files
    (`(entry, error)`), the caller decides to raise or skip, and reading goes on with the next entry.
    """
    own_reader = reader is None
    reader = reader or MemberReader()
    try:
        for entry in entries:
            try:
                yield entry, read_entry_files(entry, reader)
            except AHUDataError as error:
                yield entry, error
    finally:
        if own_reader:
            reader.close()


def _zip_directory_digest(path: str) -> str:
    """A digest of a zip's central directory (every member's name, CRC, sizes, offset): read from the
    file's tail, a few hundred KiB for ten thousand members."""
    with open(path, "rb") as file:
        file.seek(0, os.SEEK_END)
        size = file.tell()
        tail_size = min(size, (1 << 16) + 22)
        file.seek(size - tail_size)
        tail = file.read()
        end = tail.rfind(b"PK\x05\x06")
        digest = hashlib.blake2b(digest_size=16)
        if end < 0 or end + 22 > len(tail):
            digest.update(tail)  # not a zip (the reader will say so): its tail still changes with it
            return digest.hexdigest()
        directory_size, directory_offset = struct.unpack("<II", tail[end + 12 : end + 20])
        if directory_offset == 0xFFFFFFFF or directory_offset + directory_size > size:
            digest.update(tail)  # zip64 or damaged: the tail (end records) still moves with the directory
            return digest.hexdigest()
        file.seek(directory_offset)
        digest.update(file.read(directory_size))
        return digest.hexdigest()


def _walk_records(root: str, relative: str, records: list) -> None:
    """Append `(relative path, size, mtime_ns[, zip directory digest])` of every file under `root/relative`,
    and `(relative folder,)` of every folder (an empty sample folder is an entry too), in sorted order."""
    records.append((relative,))
    with os.scandir(os.path.join(root, relative)) as scan:
        found = sorted(
            (entry for entry in scan if not entry.name.startswith((".", "__"))), key=lambda e: e.name
        )
    for entry in found:
        name = posixpath.join(relative, entry.name) if relative else entry.name
        if entry.is_dir(follow_symlinks=False):  # as os.walk, which lists the archive, does
            _walk_records(root, name, records)
            continue
        stat = entry.stat()  # follows links, as the reader does
        record = (name, stat.st_size, stat.st_mtime_ns)
        if entry.name.lower().endswith(".zip"):
            record += (_zip_directory_digest(entry.path),)
        records.append(record)


def archive_fingerprint(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> str | None:
    """A key that changes whenever a byte the builder may read changes, cheap enough for every call.

    Covers every file under the folders at any depth (relative path, size, modification time in ns; hidden
    files are skipped as the reader skips them) and, for each zip, its central directory (each member's
    name, CRC-32 and sizes), so a zip rewritten with its old time still changes the key. URLs give None.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    records = []
    for path in (os.fspath(path) for path in paths):
        if "://" in path or not os.path.exists(path):
            return None
        if os.path.isfile(path):
            stat = os.stat(path)
            records.append((path, stat.st_size, stat.st_mtime_ns, _zip_directory_digest(path)))
            continue
        _walk_records(path, "", records)
    digest = hashlib.blake2b(repr(records).encode("utf-8", "surrogateescape"), digest_size=16)
    return digest.hexdigest()


@dataclass
class TierSummary:
    """Counts of one tier in a `ScanReport`."""

    tier: str
    sources: list[str]
    num_entries: int
    kinds: dict[str, int]
    primary_labels: dict[str, int]
    all_labels: dict[str, int]
    metadata: list[str]


@dataclass
class ScanReport:
    """What `scan_archive` found.

    Attributes:
        paths: what was scanned.
        tiers: `{tier: TierSummary}` for every tier found.
        problems: `(entry, reason, message)` for every entry that could not be used.
        ignored: files that belong to no entry.
        shadowed: zips not read because their tier was found as a folder.
        linked: samples that rename.xlsx links to a raw post (None when there is no raw tier).
    """

    paths: tuple[str, ...]
    tiers: dict[str, TierSummary]
    problems: list[tuple[str, str, str]]
    ignored: list[str]
    shadowed: list[str]
    linked: int | None = None

    @property
    def problem_counts(self) -> dict[str, int]:
        return dict(Counter(reason for _, reason, _ in self.problems))

    def __str__(self) -> str:
        lines = [f"Scanned: {', '.join(self.paths)}"]
        if not self.tiers:
            lines.append("No tier recognised (expected raw/, filtered/, processed/ folders or zips).")
        for tier in TIERS:
            summary = self.tiers.get(tier)
            if summary is None:
                lines.append(f"\n[{tier}] not found")
                continue
            lines.append(f"\n[{tier}] {summary.num_entries} entries from {', '.join(summary.sources)}")
            if summary.kinds:
                lines.append(
                    "  kinds: "
                    + ", ".join(f"{kind} {count}" for kind, count in sorted(summary.kinds.items()))
                )
            if summary.metadata:
                lines.append("  tables: " + ", ".join(summary.metadata))
            if summary.primary_labels:
                lines.append("  primary label histogram:")
                width = max(len(label) for label in LABELS)
                for label in LABELS:
                    count = summary.primary_labels.get(label, 0)
                    if count:
                        lines.append(
                            f"    {label:<{width}} {count:6d} (any position: {summary.all_labels.get(label, 0)})"
                        )
        if self.linked is not None:
            lines.append(f"\nrename.xlsx links {self.linked} samples to raw posts (creators).")
        if self.shadowed:
            lines.append("\nNot read (tier already found as a folder): " + "; ".join(self.shadowed))
        lines.append(f"\nUnusable entries: {len(self.problems)}")
        for reason, count in sorted(self.problem_counts.items()):
            lines.append(f"  {reason}: {count}")
        for _, reason, message in self.problems:
            lines.append(f"  - [{reason}] {message}")
        if self.ignored:
            lines.append(f"\nIgnored files (not part of any entry): {len(self.ignored)}")
            lines.extend(f"  - {path}" for path in self.ignored[:50])
            if len(self.ignored) > 50:
                lines.append(f"  ... and {len(self.ignored) - 50} more")
        return "\n".join(lines)


def parse_link_target(filtered_name: str) -> EntryName:
    """The filtered entry a rename.xlsx row's `filtered_name` names: `Video_<N>_<Labels>` (extension optional)
    or `Photos_<N>_<Labels>`; folders before it, which some rows carry, are ignored.

    Raises:
        NameParseError: the name does not follow the pattern.
    """
    return parse_filtered_name(posixpath.basename(filtered_name.replace("\\", "/")), require_extension=False)


def count_links(index: ArchiveIndex) -> int | None:
    """How many rename.xlsx rows link a parseable filtered name to a raw post (None without rename.xlsx)."""
    from .comments import read_rename_table

    raw = index.tier("raw")
    if raw is None or RENAME_TABLE_NAME not in raw.metadata:
        return None
    source, member = raw.metadata[RENAME_TABLE_NAME]
    with MemberReader() as reader:
        rows = read_rename_table(reader.read(source, member), entry=source.location(member))
    linked = 0
    for row in rows:
        if row.filtered_name:
            try:
                parse_link_target(row.filtered_name)
                linked += 1
            except NameParseError:
                pass
    return linked


def scan_archive(path: str | os.PathLike | Iterable[str | os.PathLike]) -> ScanReport:
    """Index `path` (a folder and/or zips) and summarise it per tier; decodes no media.

    Returns:
        `ScanReport`; `print(report)` gives the human-readable summary.
    """
    index = index_archive(path)
    problems = [(problem.entry, problem.reason, problem.message) for problem in index.problems]
    tiers = {}
    # Processed names do not say video or image set: take it from the filtered entry of the same number.
    filtered_kinds = (
        {e.sample_id: e.kind for e in index.tiers["filtered"].entries} if "filtered" in index.tiers else {}
    )
    for tier, tier_index in index.tiers.items():
        kinds = Counter(
            entry.kind or filtered_kinds.get(entry.sample_id) or "unknown" for entry in tier_index.entries
        )
        primary = Counter(entry.labels[0] for entry in tier_index.entries if entry.labels)
        every = Counter(label for entry in tier_index.entries for label in entry.labels)
        tiers[tier] = TierSummary(
            tier=tier,
            sources=[source.path for source in tier_index.sources],
            num_entries=len(tier_index.entries),
            kinds=dict(kinds),
            primary_labels=dict(primary),
            all_labels=dict(every),
            metadata=sorted(tier_index.metadata),
        )
    linked = None
    try:
        linked = count_links(index)
    except AHUDataError as error:
        problems.append((error.entry or RENAME_TABLE_NAME, error.reason, str(error)))
    return ScanReport(
        paths=index.paths,
        tiers=tiers,
        problems=problems,
        ignored=index.ignored,
        shadowed=index.shadowed,
        linked=linked,
    )
