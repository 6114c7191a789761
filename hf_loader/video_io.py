"""Opening and measuring videos: the one place that opens a video with PyAV.

`open_video(source, location)` opens a path or bytes and checks there is a video stream;
`probe_video(data, location)` measures a video (frames, fps, duration) and checks it against what
the file really holds: an mp4 written with its index at the front ("faststart") and cut short still
announces every frame and its full duration, so the packets are counted (demuxing only, no decoding,
about a millisecond for a hundred frames) and the first frame is decoded.

Both raise `CorruptMediaError` (or its subclass `NoVideoStreamError`, `TruncatedVideoError`)
naming the file and the fix.
"""

from __future__ import annotations

import io
import os
from typing import NamedTuple

import numpy as np

from .errors import CorruptMediaError


class NoVideoStreamError(CorruptMediaError):
    """A file that opens as a media container but holds no video stream."""

    reason = "no video stream"


class TruncatedVideoError(CorruptMediaError):
    """A video whose file holds fewer frames than its header announces (cut short)."""

    reason = "truncated video"


class VideoInfo(NamedTuple):
    """What a video file holds.

    Attributes:
        num_frames: frames present in the file (complete packets), or None when it has none.
        fps: average frames per second from the header, or None.
        duration: seconds, from the header (checked: every announced frame is present), or None.
    """

    num_frames: int | None
    fps: float | None
    duration: float | None


def open_video(source: str | os.PathLike | bytes, location: str, thread_type: str | None = None):
    """Open a video for demuxing/decoding.

    Args:
        source: a path, or the file's bytes.
        location: how messages name the file (a path, or `zip::member`).
        thread_type: PyAV decoder threading (`"AUTO"`, `"FRAME"`, ...), None for the default.

    Returns:
        `(container, stream)`; close the container when done.

    Raises:
        CorruptMediaError: empty, missing or not a media file; NoVideoStreamError: no video stream.
    """
    import av

    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise CorruptMediaError(
                "the file is empty (0 bytes); download or extract it again.", entry=location
            )
        opened = io.BytesIO(source)
    else:
        if not os.path.isfile(source):
            raise CorruptMediaError("file not found; check the path.", entry=location)
        if os.path.getsize(source) == 0:
            raise CorruptMediaError(
                "the file is empty (0 bytes); download or extract it again.", entry=location
            )
        opened = os.fspath(source)
    try:
        container = av.open(opened)
    except av.error.FFmpegError as error:
        raise CorruptMediaError(
            f"cannot be opened as a video ({error.strerror or error}); the file is corrupt or truncated: "
            "download or extract it again.",
            entry=location,
        ) from None
    if not container.streams.video:
        container.close()
        raise NoVideoStreamError(
            "holds no video stream (audio only, or not a video; is the file truncated?); replace it with the "
            "original video.",
            entry=location,
        )
    stream = container.streams.video[0]
    if thread_type:
        stream.thread_type = thread_type
    return container, stream


def probe_video(data: bytes, location: str) -> VideoInfo:
    """Measure a video: the frames its file holds, their rate and the time they cover.

    Every packet is demuxed (not decoded); a packet cut by the end of the file is flagged corrupt by
    FFmpeg. The first frame is decoded, so a stream that cannot decode at all is refused too.

    Raises:
        TruncatedVideoError: fewer complete frames than the header announces, or a frame cut short.
        CorruptMediaError: the file does not open or its first frame does not decode.
    """
    import av

    container, stream = open_video(data, location)
    try:
        with container:
            fps = float(stream.average_rate) if stream.average_rate else None
            announced = stream.frames or None
            time_base = stream.time_base
            duration = None
            if stream.duration is not None and time_base is not None:
                duration = float(stream.duration * time_base)
            elif container.duration is not None:
                duration = container.duration / 1_000_000
            complete, cut = 0, 0
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue  # the demuxer's end-of-stream marker
                if packet.is_corrupt:
                    cut += 1
                    continue
                complete += 1
        if cut or (announced is not None and complete < announced):
            raise TruncatedVideoError(
                f"the file holds {complete} complete frames but its header announces {announced or complete + cut} "
                f"({cut} cut short); the file is truncated: download or extract it again.",
                entry=location,
            )
        container, stream = open_video(data, location)
        with container:
            next(container.decode(stream))
    except CorruptMediaError:
        raise
    except (av.error.FFmpegError, StopIteration, ValueError, EOFError) as error:
        raise CorruptMediaError(
            f"the video does not decode ({type(error).__name__}: {error}); the file is corrupt or truncated: "
            "replace it (download the archive again).",
            entry=location,
        ) from None
    return VideoInfo(complete or None, to_float32(fps), to_float32(duration))


def to_float32(value: float | None) -> float | None:
    # The dataset features store float32: round here so streamed rows equal the prepared ones.
    return None if value is None else float(np.float32(value))
