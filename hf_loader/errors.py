"""Project exceptions.

Every error raised for bad input is an `AHUDataError` subclass whose message names the entry
(file, sample or zip member) and the fix, so a user never has to read a library traceback to
know what is wrong. Catch `AHUDataError` to handle all of them.

Each subclass carries a short `reason` string: the lenient mode of the builder
(`errors="skip"`) counts skipped entries per `reason`.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_QUOTED_NAMES = 12


def quote_names(names: Iterable[object], limit: int = MAX_QUOTED_NAMES) -> str:
    """`['a', 'b', 'c']` for an error message; past `limit` names, `['a', …, 'l', … and N more]`, so that a
    message stays a line even when a caller passes a whole dataset."""
    names = list(names)
    quoted = ", ".join(repr(str(name)[:80]) for name in names[:limit])
    return f"[{quoted}{f' … and {len(names) - limit} more' if len(names) > limit else ''}]"


class AHUDataError(Exception):
    """Base class of every bad-input error of this project.

    Args:
        message: what is wrong and how to fix it.
        entry: the file, zip member or sample the error is about (optional).
    """

    reason = "bad input"

    def __init__(self, message: str, entry: str | None = None):
        self.entry = entry
        self.message = message
        super().__init__(f"{entry}: {message}" if entry else message)

    def relocated(self, entry: str) -> AHUDataError:
        """The same error about `entry` (e.g. a full path instead of a bare name)."""
        error = type(self)(self.message, entry=entry)
        error.__cause__ = self.__cause__
        return error


class NameParseError(AHUDataError):
    """An entry's name does not follow `Video_<N>_<Labels>`, `Photos_<N>_<Labels>` or `<N>_<Labels>`."""

    reason = "unparsable name"


class UnknownLabelError(NameParseError):
    """A name carries a label that is not one of the 13 of `hf_loader.constants.LABELS`."""

    reason = "unknown label"


class DuplicateSampleError(AHUDataError):
    """Two entries of one tier carry the same sample number."""

    reason = "duplicate sample number"


class EmptySampleError(AHUDataError):
    """A sample folder holds no frame or image."""

    reason = "empty sample"


class CorruptMediaError(AHUDataError):
    """A video or image that cannot be decoded (corrupt or truncated file)."""

    reason = "corrupt media"


class CommentTableError(AHUDataError):
    """A comment table (or rename.xlsx) that does not parse."""

    reason = "unparsable table"


class UnsafeArchiveMemberError(AHUDataError):
    """A zip member whose path escapes its folder (`../` or absolute); it is never read or written."""

    reason = "unsafe zip member"


class ArchiveNotFoundError(AHUDataError):
    """No tier (raw, filtered, processed) could be found where the data was looked for."""

    reason = "archive not found"


class SplitError(AHUDataError):
    """A split scheme that the archive cannot support (e.g. `creator` without creator links)."""

    reason = "split impossible"


class DownloadError(AHUDataError):
    """A download failed or was interrupted (raised by `hf_loader.figshare`)."""

    reason = "download failed"


class ChecksumError(DownloadError):
    """A downloaded file's md5 differs from the one the server announced."""

    reason = "md5 mismatch"


class OutOfSpaceError(AHUDataError):
    """The disk filled up while writing (an export, a processed tier); nothing half-written is left to trust.

    Never a bad entry: lenient modes stop on it too.
    """

    reason = "disk full"
