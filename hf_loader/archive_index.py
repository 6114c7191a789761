"""Find the archive's tiers in folders and zips and index their entries; nothing is extracted.

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

A member whose path escapes its folder (`../`, an absolute path, a drive letter) is refused
(`UnsafeArchiveMemberError`) and never opened. Hidden files (`.DS_Store`, `__MACOSX/`, names starting
with `.` or `__`) are skipped, as `datasets.DownloadManager.iter_archive` skips them. Members are read by
`member_reader.MemberReader`; `archive_fingerprint.archive_fingerprint` is the builder's cache key;
`scan_report.scan_archive` summarises an index.

Processed frames may be `.jpg`/`.png` (the paper) or `.npy` (the paper's code): an `.npy` frame of a
video is BGR (OpenCV order, as the paper's To_NPY.py saved it) and is converted to RGB by the builder;
an `.npy` frame of an image set is already RGB.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re
import zipfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from .constants import COMMENTS_TABLE_NAME, NOISE_LIST_NAME, RENAME_TABLE_NAME, TIERS
from .errors import (
    AHUDataError,
    ArchiveNotFoundError,
    CorruptMediaError,
    DuplicateSampleError,
    EmptySampleError,
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
