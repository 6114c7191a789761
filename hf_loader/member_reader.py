"""Read an indexed entry's members from folders and zips, safely, one member at a time.

Zip members are never extracted. A member whose path escapes its folder is refused
(`UnsafeArchiveMemberError`) and never opened. `MemberReader` reads one member at a time (a bad CRC fails
that member alone) and refuses, unread, a member larger than `MAX_MEMBER_BYTES` or a zip member inflating
more than `MAX_COMPRESSION_RATIO`-fold.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable, Iterator

from .archive_index import Entry, Source, is_unsafe_member, open_zip
from .errors import AHUDataError, CorruptMediaError, UnsafeArchiveMemberError

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
                "it was not read. Remove it from the archive, or raise member_reader.MAX_MEMBER_BYTES if it is real.",
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
