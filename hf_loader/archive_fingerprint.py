"""`archive_fingerprint(path)`, the builder's cache key: every file's path, size and time at any depth, and
each zip's central directory, read without decompressing anything."""

from __future__ import annotations

import hashlib
import os
import posixpath
import struct
from collections.abc import Iterable


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
