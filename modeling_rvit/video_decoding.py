"""Decode a video while sampling it, in memory that does not grow with the video's length.

`RViTVideoProcessor` hands a video file or a torchcodec `VideoDecoder` (what a `datasets` `Video()` column gives)
to this module. Each selected frame (every `frame_stride`-th) is cropped and resized as soon as it is decoded
(`crop_mode`, `processed_size`), its noise features (one 588-value row) are kept and the frame is dropped. After
the last frame, the noise detector runs on those rows, the `num_frames` window is chosen among the frames that are
not noise, and only the window's frames are decoded again and returned. A 20,000-frame video thus holds at most a
chunk of decoded frames, the feature rows and the window, never the clip; the window is the same as the one the
processor takes from a clip given as an array (the same crop, features, DBSCAN and `window_start`).

A stream whose frame size changes midway decodes too: every frame is cropped and resized on its own (without a
`processed_size`, frames are resized to the first frame's size).

This file ships with a saved model as remote code: it imports only torch, numpy, transformers, PyAV or torchcodec
and the modules of this folder.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from transformers.video_utils import VideoMetadata, make_batched_metadata

from .modeling_rvit import RViTInputError
from .ultrasound_frames import (
    NoiseSettings,
    crop_and_resize,
    noise_features,
    noise_from_features,
    window_start,
)

# Decoded frames requested from torchcodec at once (bytes of RGB frames): a few frames of a 720p video.
_CHUNK_BYTES = 16 << 20
_MAX_CHUNK_FRAMES = 32

# Which clips of the batch being processed (per processor, per thread) were cropped, resized and rid of their
# noise frames while decoding: `RViTVideoProcessor._preprocess` leaves those as they are.
_cleaned = threading.local()


@dataclass(frozen=True)
class FramePlan:
    """What the processor does to a clip's frames, known before decoding, so that decoding can do it per frame.

    Attributes:
        clean: `(1, 3, H, W)` uint8 → `(1, 3, S, S)` uint8: the crop and resize (`None`: frames kept as decoded).
        noise: the noise detector's settings, or None when noise frames are not removed.
        num_frames: the window's length, or None to keep every selected frame.
        clip_window: `"center"`, `"start"` or `"random"`.
    """

    clean: Callable[[torch.Tensor], torch.Tensor] | None
    noise: NoiseSettings | None
    num_frames: int | None
    clip_window: str

    @classmethod
    def from_sampler(cls, sample_indices_fn) -> FramePlan:
        """The plan of the processor call that built `sample_indices_fn` (`BaseVideoProcessor.preprocess` passes
        `partial(self.sample_frames, **options)`: the same options `_preprocess` then receives)."""
        options = dict(getattr(sample_indices_fn, "keywords", None) or {})
        processor = getattr(getattr(sample_indices_fn, "func", None), "__self__", None)

        def option(name, default=None):
            return options[name] if name in options else getattr(processor, name, default)

        crop_mode, processed_size = option("crop_mode"), option("processed_size")
        clean = None
        if crop_mode is not None or processed_size is not None:
            crop_options = (
                crop_mode,
                option("crop_threshold"),
                option("crop_border_fraction"),
                processed_size,
            )

            def clean(frame: torch.Tensor) -> torch.Tensor:
                return crop_and_resize(frame, *crop_options)

        noise = None
        if option("do_remove_noise", False):
            noise = NoiseSettings(
                eps=option("noise_eps"),
                min_samples_fraction=option("noise_min_samples_fraction"),
                pool_times=option("noise_pool_times"),
                feature_scale=option("noise_feature_scale"),
            )
        clip_window = options.get("clip_window") or getattr(processor, "clip_window", "center")
        return cls(clean=clean, noise=noise, num_frames=option("num_frames"), clip_window=clip_window)


def decode_and_sample_videos(processor, clips: list, video_metadata, sample_indices_fn):
    """The processor's `_decode_and_sample_videos` on clips already listed by `_make_clip_list`.

    Files (`processor._decode_file`) and decoders (`processor._read_decoder`) are decoded while sampling; arrays
    are indexed with `sample_indices_fn` (their metadata, one entry per clip, gives their `fps`). Without a
    `sample_indices_fn` (`do_sample_frames=False`) every frame is kept.

    Returns:
        `(frames, metadata)`: one tensor (or array) and one `VideoMetadata` per clip.
    """
    if video_metadata is None:
        metadata_list = [None] * len(clips)
    else:
        # One entry per clip: a VideoMetadata or dict, a list of them, or a nested list (flattened).
        try:
            metadata_list = make_batched_metadata(clips, video_metadata=video_metadata)
        except ValueError as error:
            raise RViTInputError(str(error)) from None
    frames_out, metadata_out, cleaned = [], [], []
    for index, (clip, metadata) in enumerate(zip(clips, metadata_list)):
        name = f"clip {index}"
        # A file or decoder sampled by the processor comes back cropped, resized and windowed (`_decode`).
        cleaned.append(
            sample_indices_fn is not None and (isinstance(clip, (str, os.PathLike)) or is_video_decoder(clip))
        )
        if isinstance(clip, (str, os.PathLike)):
            frames, metadata = processor._decode_file(os.fspath(clip), sample_indices_fn)
        elif is_video_decoder(clip):
            frames, metadata = processor._read_decoder(clip, name, sample_indices_fn)
        else:
            frames = clip
            metadata = VideoMetadata(**dict(metadata)) if metadata is not None else VideoMetadata(0)
            metadata.total_num_frames = len(frames)
            if len(frames) == 0:
                raise RViTInputError(f"{name}: the clip has no frames")
            if sample_indices_fn is not None:
                indices = _sample_or_name(sample_indices_fn, metadata, name)
                frames = frames[torch.as_tensor(indices, dtype=torch.long)]
                metadata.frames_indices = indices
            else:
                metadata.frames_indices = list(range(len(frames)))
        frames_out.append(frames)
        metadata_out.append(metadata)
    _cleaned.state = (id(processor), cleaned)
    return frames_out, metadata_out


def cleaned_while_decoding(processor, count: int) -> list[bool]:
    """For each of the `count` clips `processor` is preprocessing: whether decoding already cropped, resized and
    removed the noise frames of it (read once; `[False] * count` when this call decoded nothing)."""
    owner, flags = getattr(_cleaned, "state", (None, []))
    _cleaned.state = (None, [])
    if owner != id(processor) or len(flags) != count:
        return [False] * count
    return flags


def decode_file(path: str, backend: str, sample_indices_fn) -> tuple[torch.Tensor, VideoMetadata]:
    """The processor's frames of a video file, decoded with `backend` (`"torchcodec"` or `"pyav"`).

    Returns:
        `((T, 3, H, W) uint8 tensor, metadata)`; with a `sample_indices_fn` the frames are the processor's window,
        already cropped and resized (see the module docstring), else every frame of the file.
    """
    if not os.path.isfile(path):
        raise RViTInputError(f"{path}: no such video file (check the path)")
    try:
        if backend == "torchcodec":
            from torchcodec.decoders import VideoDecoder

            # The options of transformers' `load_video(backend="torchcodec")`, so the same frames come out.
            decoder = VideoDecoder(path, seek_mode="exact", num_ffmpeg_threads=0, device="cpu")
            source = _TorchcodecSource(decoder, _decoder_metadata(decoder))
        else:
            source = _PyAVSource(path)
        frames, metadata = _decode(source, path, sample_indices_fn)
    except RViTInputError as error:
        message = str(error)
        raise RViTInputError(message if message.startswith(path) else f"{path}: {message}") from None
    except (ImportError, RuntimeError) as error:
        if isinstance(error, ImportError) or backend != "torchcodec":
            raise RViTInputError(
                f"{path}: cannot decode with {backend} ({error}); install PyAV (`pip install av`) or a "
                "torchcodec matching your torch, or pass decoder_backend='pyav'"
            ) from error
        raise RViTInputError(
            f"{path}: torchcodec could not decode the video ({error}); is it corrupt?"
        ) from error
    except Exception as error:  # PyAV raises its own FFmpeg error classes
        raise RViTInputError(
            f"{path}: could not decode the video with {backend} ({error}); is it corrupt?"
        ) from error
    return frames, metadata


def read_decoder(decoder, name: str, sample_indices_fn) -> tuple[torch.Tensor, VideoMetadata]:
    """The processor's frames of a torchcodec `VideoDecoder` (see `decode_file`) → ((T, 3, H, W) uint8, metadata)."""
    source = decoder.metadata
    total = source.num_frames if source.num_frames is not None else len(decoder)
    metadata = VideoMetadata(
        total_num_frames=int(total or 0),
        fps=source.average_fps,
        duration=source.duration_seconds,
        video_backend="torchcodec",
        height=source.height,
        width=source.width,
    )
    if metadata.total_num_frames <= 0:
        raise RViTInputError(
            f"{name}: the video decoder reports no frames (is the video empty or truncated?)"
        )
    try:
        return _decode(_TorchcodecSource(decoder, metadata), name, sample_indices_fn)
    except RuntimeError as error:
        raise RViTInputError(
            f"{name}: torchcodec could not decode the frames ({error}); is it corrupt?"
        ) from error


def is_video_decoder(item) -> bool:
    """A torchcodec `VideoDecoder` (duck-typed, so that torchcodec need not be importable)."""
    return hasattr(item, "get_frames_at") and hasattr(item, "metadata")


def _decode(source, name: str, sample_indices_fn) -> tuple[torch.Tensor, VideoMetadata]:
    """Select, clean and window the frames of `source` in one streaming pass plus, when noise frames are
    removed before a window, a second pass over the window's frames only."""
    metadata = source.metadata
    if sample_indices_fn is None:
        frames, indices = _collect(source, None, _FrameCleaner(None, name))
        metadata.frames_indices = indices
        return frames, metadata
    candidates = np.asarray(_sample_or_name(sample_indices_fn, metadata, name), dtype=np.int64)
    plan = FramePlan.from_sampler(sample_indices_fn)
    cleaner = _FrameCleaner(plan.clean, name)
    if plan.noise is not None and len(candidates):
        features = [
            noise_features(cleaner(index, frame).permute(0, 2, 3, 1).numpy(), plan.noise)
            for index, frame in source.frames(candidates)
        ]
        noise = noise_from_features(np.concatenate(features), plan.noise)
        # As the processor's `drop_noise`: a clip that is all noise (or has none) keeps every frame.
        if noise.any() and not noise.all():
            candidates = candidates[~noise]
    if plan.num_frames is not None and len(candidates) > plan.num_frames:
        start = window_start(len(candidates), plan.num_frames, plan.clip_window)
        candidates = candidates[start : start + plan.num_frames]
    frames, indices = _collect(source, candidates, cleaner)
    metadata.frames_indices = indices
    return frames, metadata


def _collect(source, indices, cleaner: _FrameCleaner) -> tuple[torch.Tensor, list[int]]:
    """The frames at `indices` (all when None), each cleaned as decoded → ((T, 3, H, W) uint8, their indices)."""
    frames, kept = [], []
    for index, frame in source.frames(indices):
        frames.append(cleaner(index, frame))
        kept.append(int(index))
    if not frames:
        raise RViTInputError(f"{cleaner.name}: no frame could be decoded (is the file truncated?)")
    return torch.cat(frames), kept


class _FrameCleaner:
    """The plan's crop and resize of one decoded frame; without one, frames whose size differs from the first
    frame's (a stream that changes size midway) are resized to it, with a warning."""

    def __init__(self, clean, name: str):
        self.clean = clean
        self.name = name
        self.size = None
        self.warned = False

    def __call__(self, index: int, frame: torch.Tensor) -> torch.Tensor:
        if self.clean is not None:
            return self.clean(frame)
        if self.size is None:
            self.size = frame.shape[-2:]
        elif frame.shape[-2:] != self.size:
            if not self.warned:
                warnings.warn(
                    f"{self.name}: the stream changes frame size from {self.size[1]}x{self.size[0]} to "
                    f"{frame.shape[-1]}x{frame.shape[-2]} at frame {index}; such frames are resized to the first "
                    "frame's size (pass processed_size to crop and resize every frame instead)",
                    UserWarning,
                    stacklevel=2,
                )
                self.warned = True
            resized = torch.nn.functional.interpolate(
                frame.float(), size=tuple(self.size), mode="bilinear", antialias=True, align_corners=False
            )
            return resized.round().clamp(0, 255).to(torch.uint8)
        return frame


def _sample_or_name(sample_indices_fn, metadata: VideoMetadata, name: str) -> np.ndarray:
    """`sample_indices_fn(metadata=...)`, its errors prefixed with the clip's name."""
    try:
        return sample_indices_fn(metadata=metadata)
    except RViTInputError as error:
        raise RViTInputError(f"{name}: {error}") from None


def _decoder_metadata(decoder) -> VideoMetadata:
    """Metadata of a torchcodec decoder, as transformers' `load_video(backend="torchcodec")` reports it."""
    source = decoder.metadata
    return VideoMetadata(
        total_num_frames=source.num_frames,
        fps=source.average_fps,
        duration=source.duration_seconds,
        video_backend="torchcodec",
        height=source.height,
        width=source.width,
    )


class _TorchcodecSource:
    """Frames of a torchcodec `VideoDecoder`, asked for a few at a time."""

    def __init__(self, decoder, metadata: VideoMetadata):
        self.decoder = decoder
        self.metadata = metadata
        frame_bytes = max(1, int(metadata.height or 1) * int(metadata.width or 1) * 3)
        self.chunk = max(1, min(_MAX_CHUNK_FRAMES, _CHUNK_BYTES // frame_bytes))
        self.one_at_a_time = False

    def frames(self, indices) -> Iterator[tuple[int, torch.Tensor]]:
        """`(index, (1, 3, H, W) uint8)` for each of `indices` (all frames when None), in order."""
        if indices is None:
            indices = np.arange(self.metadata.total_num_frames or len(self.decoder))
        indices = [int(index) for index in indices]
        for first in range(0, len(indices), self.chunk):
            chunk = indices[first : first + self.chunk]
            for index, frame in zip(chunk, self._decode(chunk)):
                yield index, frame[None]

    def _decode(self, chunk: list[int]):
        if not self.one_at_a_time:
            try:
                return self.decoder.get_frames_at(indices=chunk).data
            except RuntimeError as error:
                # A batch is one preallocated tensor of the stream's first size: a stream that changes size
                # midway has to be read one frame at a time.
                if "pre-allocated" not in str(error):
                    raise
                self.one_at_a_time = True
        return [self.decoder.get_frame_at(index).data for index in chunk]


class _PyAVSource:
    """Frames of a video file decoded with PyAV, in one forward pass per request."""

    def __init__(self, path: str):
        import av

        self.path = path
        with av.open(path) as container:
            stream = container.streams.video[0]
            total = stream.frames
            if not total:
                # Demuxing (no decoding) counts the frames when the header does not.
                total = sum(1 for packet in container.demux(stream) if packet.size > 0)
            fps = float(stream.average_rate) if stream.average_rate else None
            # The metadata transformers' `load_video(backend="pyav")` reports.
            self.metadata = VideoMetadata(
                total_num_frames=int(total),
                fps=fps,
                duration=float(total / fps) if fps else 0.0,
                video_backend="pyav",
                height=stream.height,
                width=stream.width,
            )

    def frames(self, indices) -> Iterator[tuple[int, torch.Tensor]]:
        """`(index, (1, 3, H, W) uint8)` for each of `indices` (all frames when None), in order."""
        import av

        wanted = None if indices is None else {int(index) for index in indices}
        last = None if indices is None else max(wanted, default=-1)
        with av.open(self.path) as container:
            for index, frame in enumerate(container.decode(video=0)):
                if last is not None and index > last:
                    break
                if wanted is None or index in wanted:
                    rgb = torch.from_numpy(frame.to_ndarray(format="rgb24"))
                    yield index, rgb.permute(2, 0, 1).contiguous()[None]
