"""Video processor class for RViT.

Turns a clip (a video file, a list of frames, or an array) into the `pixel_values` that `RViTModel` reads,
the way the AHU paper fed its RViT (its RViT-main/main.py): exactly `num_frames` frames (36), shorter clips
padded by repeating their last frame, longer ones cut to a contiguous window; every frame resized to 112×112,
rescaled by 1/255 and normalized with mean = std = 0.5, so pixel values lie in [-1, 1].

This module is shipped as remote code next to a saved model: it imports only from transformers, torch,
numpy and Pillow (and torchcodec or PyAV to decode files) and this folder, never from this project's other
packages. A clip it cannot read raises `RViTInputError` (the model's), naming the clip or file and the fix.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import torch
from PIL import Image
from transformers.image_processing_utils import BatchFeature
from transformers.image_utils import ChannelDimension, PILImageResampling
from transformers.processing_utils import Unpack, VideosKwargs
from transformers.utils import is_torchcodec_usable
from transformers.video_processing_utils import BaseVideoProcessor
from transformers.video_utils import VideoInput, VideoMetadata, load_video

from .modeling_rvit import RViTInputError

CLIP_WINDOWS = ("center", "start", "random")
DECODER_BACKENDS = ("torchcodec", "pyav")


class RViTVideoProcessorKwargs(VideosKwargs, total=False):
    """
    clip_window (`str`, *optional*, defaults to `"center"`):
        Which contiguous `num_frames` window to keep from a longer clip: `"center"` (evaluation),
        `"start"` (the first frames) or `"random"` (training augmentation; drawn with torch's global RNG,
        so `torch.manual_seed` makes it reproducible).
    frame_stride (`int`, *optional*, defaults to 1):
        Keep every `frame_stride`-th frame before windowing. The AHU paper's processed frames are every
        10th frame of the source video, so `frame_stride=10` matches them when classifying a raw video.
    return_frame_mask (`bool`, *optional*, defaults to `False`):
        Also return `frame_mask` (batch, num_frames), 1 for a real frame and 0 for a padded copy.
    decoder_backend (`str`, *optional*):
        `"torchcodec"` or `"pyav"` to decode video files; by default torchcodec when it loads, else PyAV.
    """

    clip_window: str | None
    frame_stride: int | None
    return_frame_mask: bool | None
    decoder_backend: str | None


class RViTVideoProcessor(BaseVideoProcessor):
    r"""
    Constructs an RViT video processor.

    Input: one clip or a batch of clips, each given as
    - a path to a video file (`str` or `pathlib.Path`), decoded with torchcodec, or PyAV when torchcodec is
      unavailable (only the kept frames are decoded);
    - a torchcodec `VideoDecoder`, which is what a `datasets` `Video()` column gives (only the kept frames are
      decoded);
    - a list of frames: `PIL.Image.Image` (any mode: "L", "RGB", "RGBA", ...) or arrays (H, W), (H, W, C) or
      (C, H, W);
    - an array or tensor (T, H, W, C), (T, C, H, W) or (T, H, W) (grayscale), or a batch (B, T, ...).
    Grayscale (1-channel) frames are repeated to 3 channels, an alpha channel is blended onto white.

    Output (`BatchFeature`):
    - `pixel_values`: (batch, num_frames, 3, height, width) float32, normalized (in [-1, 1] with the
      defaults). With `do_sample_frames=False` clips keep their length (a list if the lengths differ).
    - `frame_mask` (when `return_frame_mask=True`): (batch, num_frames) int64, 0 where a frame is a padded
      repeat of the last real frame.

    The `video-classification` pipeline calls the processor with `num_frames=model.config.num_frames` and
    `do_sample_frames=True`.
    """

    resample = PILImageResampling.BILINEAR
    image_mean = (0.5, 0.5, 0.5)
    image_std = (0.5, 0.5, 0.5)
    size = {"height": 112, "width": 112}
    default_to_square = True
    do_resize = True
    do_center_crop = False
    do_rescale = True
    rescale_factor = 1 / 255
    do_normalize = True
    do_convert_rgb = True
    do_sample_frames = True
    num_frames = 36
    clip_window = "center"
    frame_stride = 1
    return_frame_mask = False
    decoder_backend = None
    valid_kwargs = RViTVideoProcessorKwargs
    model_input_names = ["pixel_values"]

    def __init__(self, **kwargs: Unpack[RViTVideoProcessorKwargs]):
        super().__init__(**kwargs)
        self._check_options(self.clip_window, self.frame_stride, self.decoder_backend)

    @staticmethod
    def _check_options(clip_window, frame_stride, decoder_backend):
        if clip_window not in CLIP_WINDOWS:
            raise ValueError(f"clip_window={clip_window!r}: expected one of {CLIP_WINDOWS}.")
        if frame_stride is not None and (int(frame_stride) != frame_stride or frame_stride < 1):
            raise ValueError(f"frame_stride={frame_stride!r}: expected a positive integer.")
        if decoder_backend is not None and decoder_backend not in DECODER_BACKENDS:
            raise ValueError(
                f"decoder_backend={decoder_backend!r}: expected one of {DECODER_BACKENDS} or None."
            )

    def sample_frames(
        self,
        metadata: VideoMetadata,
        num_frames: int | None = None,
        clip_window: str | None = None,
        frame_stride: int | None = None,
        **kwargs,
    ) -> np.ndarray:
        """
        Indices of the frames to keep: every `frame_stride`-th frame, then a contiguous window of at most
        `num_frames` of those. A clip with fewer frames keeps them all; `preprocess` pads it afterwards
        (decoders drop repeated indices, so padding by index would not work).

        Args:
            metadata (`VideoMetadata`): needs `total_num_frames`.
            num_frames (`int`, *optional*): window length, defaults to `self.num_frames`; `None` keeps all.
            clip_window (`str`, *optional*): `"center"`, `"start"` or `"random"`.
            frame_stride (`int`, *optional*): keep every n-th frame first.

        Returns:
            `np.ndarray` of int64 frame indices, increasing.
        """
        if kwargs.get("fps") is not None:
            raise ValueError(
                "fps sampling is not supported by RViTVideoProcessor; use frame_stride and num_frames."
            )
        num_frames = num_frames if num_frames is not None else self.num_frames
        clip_window = clip_window if clip_window is not None else self.clip_window
        frame_stride = frame_stride if frame_stride is not None else self.frame_stride
        self._check_options(clip_window, frame_stride, None)
        total = int(metadata.total_num_frames or 0)
        if total <= 0:
            raise RViTInputError(
                "the video reports no frames (is the file truncated, or its frame count missing?); decode it "
                "yourself and pass the frames as an array"
            )
        candidates = np.arange(0, total, int(frame_stride), dtype=np.int64)
        if num_frames is None or len(candidates) <= num_frames:
            return candidates
        surplus = len(candidates) - num_frames
        if clip_window == "start":
            start = 0
        elif clip_window == "random":
            start = int(torch.randint(0, surplus + 1, ()).item())
        else:
            start = surplus // 2
        return candidates[start : start + num_frames]

    def preprocess(self, videos: VideoInput, **kwargs: Unpack[RViTVideoProcessorKwargs]) -> BatchFeature:
        """
        Preprocess one clip or a batch of clips (see the class docstring for the accepted forms).

        Returns:
            `BatchFeature` with `pixel_values` (batch, num_frames, 3, height, width) and, when asked,
            `frame_mask` (batch, num_frames).
        """
        return_tensors = kwargs.pop("return_tensors", None)
        return_frame_mask = kwargs.pop("return_frame_mask", None)
        return_frame_mask = self.return_frame_mask if return_frame_mask is None else return_frame_mask
        do_sample_frames = kwargs.get("do_sample_frames")
        do_sample_frames = self.do_sample_frames if do_sample_frames is None else do_sample_frames
        num_frames = kwargs.get("num_frames")
        num_frames = self.num_frames if num_frames is None else num_frames

        batch = super().preprocess(videos, **kwargs)
        clips = batch.pop("pixel_values_videos")
        lengths = [len(clip) for clip in clips]
        if do_sample_frames and num_frames is not None:
            clips = [self._pad_to_length(clip, num_frames) for clip in clips]
        padded_lengths = {len(clip) for clip in clips}
        if return_tensors is not None and len(padded_lengths) > 1:
            raise RViTInputError(
                f"clips of different lengths {sorted(padded_lengths)} cannot be stacked into one tensor; "
                "use do_sample_frames=True with num_frames, or return_tensors=None"
            )
        data = {"pixel_values": clips}
        if return_frame_mask:
            data["frame_mask"] = [
                (torch.arange(len(clip)) < length).to(torch.int64) for clip, length in zip(clips, lengths)
            ]
        data.update(batch)
        return BatchFeature(data=data, tensor_type=return_tensors)

    def _preprocess(self, videos: list[torch.Tensor], **kwargs) -> BatchFeature:
        if kwargs.get("do_rescale") and any(_looks_rescaled(video) for video in videos):
            # Rescaling [0, 1] frames by 1/255 again would feed the model a nearly constant -1 clip.
            warnings.warn(
                "RViTVideoProcessor got floating-point frames already in [0, 1] and do_rescale=True; they "
                "will be divided by 255 again. Pass uint8 frames (0-255) or do_rescale=False.",
                UserWarning,
                stacklevel=4,
            )
        return super()._preprocess(videos, **kwargs)

    @staticmethod
    def _pad_to_length(clip: torch.Tensor, num_frames: int) -> torch.Tensor:
        """(T, C, H, W) → (num_frames, C, H, W), repeating the last frame; T ≤ num_frames after sampling."""
        missing = num_frames - len(clip)
        if missing <= 0:
            return clip
        return torch.cat([clip, clip[-1:].expand(missing, *clip.shape[1:])], dim=0)

    def _decode_and_sample_videos(
        self,
        videos: VideoInput,
        video_metadata=None,
        do_sample_frames: bool | None = None,
        sample_indices_fn=None,
    ) -> tuple[list[torch.Tensor], list[VideoMetadata]]:
        """Decode files, keep the sampled frames of every clip; arrays come back as tensors, layout kept."""
        clips = _make_clip_list(videos)
        if video_metadata is None:
            metadata_list = [None] * len(clips)
        else:
            metadata_list = video_metadata if isinstance(video_metadata, (list, tuple)) else [video_metadata]
            if len(metadata_list) != len(clips):
                raise RViTInputError(
                    f"got {len(clips)} clips but {len(metadata_list)} video_metadata entries"
                )
        frames_out, metadata_out = [], []
        for index, (clip, metadata) in enumerate(zip(clips, metadata_list)):
            name = f"clip {index}"
            if isinstance(clip, (str, os.PathLike)):
                frames, metadata = self._decode_file(
                    os.fspath(clip), sample_indices_fn if do_sample_frames else None
                )
            elif _is_decoder(clip):
                frames, metadata = self._read_decoder(
                    clip, name, sample_indices_fn if do_sample_frames else None
                )
            else:
                frames = clip
                metadata = VideoMetadata(**dict(metadata)) if metadata is not None else VideoMetadata(0)
                metadata.total_num_frames = len(frames)
                if len(frames) == 0:
                    raise RViTInputError(f"{name}: the clip has no frames")
                if do_sample_frames:
                    indices = _sample_or_name(sample_indices_fn, metadata, name)
                    frames = frames[torch.as_tensor(indices, dtype=torch.long)]
                    metadata.frames_indices = indices
                else:
                    metadata.frames_indices = list(range(len(frames)))
            frames_out.append(frames)
            metadata_out.append(metadata)
        return frames_out, metadata_out

    @staticmethod
    def _read_decoder(decoder, name: str, sample_indices_fn) -> tuple[torch.Tensor, VideoMetadata]:
        """The kept frames of a torchcodec `VideoDecoder` → ((T, 3, H, W) uint8 tensor, metadata)."""
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
        indices = (
            np.arange(metadata.total_num_frames)
            if sample_indices_fn is None
            else _sample_or_name(sample_indices_fn, metadata, name)
        )
        try:
            frames = decoder.get_frames_at(indices=[int(index) for index in indices]).data
        except RuntimeError as error:
            raise RViTInputError(
                f"{name}: torchcodec could not decode the frames ({error}); is it corrupt?"
            ) from error
        metadata.frames_indices = indices
        return frames, metadata

    def _decode_file(self, path: str, sample_indices_fn) -> tuple[torch.Tensor, VideoMetadata]:
        """Decode the kept frames of a video file → ((T, H, W, 3) or (T, 3, H, W) uint8 tensor, metadata)."""
        if not os.path.isfile(path):
            raise RViTInputError(f"{path}: no such video file (check the path)")
        backend = self.decoder_backend
        if backend is None:
            backend = "torchcodec" if is_torchcodec_usable(decode="video") else "pyav"
        try:
            frames, metadata = load_video(path, backend=backend, sample_indices_fn=sample_indices_fn)
        except RViTInputError as error:
            raise RViTInputError(f"{path}: {error}") from None
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
        if len(frames) == 0:
            raise RViTInputError(f"{path}: no frame could be decoded (is the file truncated?)")
        frames = torch.from_numpy(frames) if isinstance(frames, np.ndarray) else frames
        return frames, metadata

    def _prepare_input_videos(
        self,
        videos: list[torch.Tensor],
        do_convert_rgb: bool | None = None,
        input_data_format: str | ChannelDimension | None = None,
        device: str | None = None,
    ) -> list[torch.Tensor]:
        """Each clip → (T, 3, H, W): channels first, grayscale repeated to 3 channels, alpha put on white."""
        prepared = []
        for index, video in enumerate(videos):
            if isinstance(video, np.ndarray):
                video = torch.from_numpy(np.ascontiguousarray(video))
            video = _to_channels_first(video, input_data_format, name=f"clip {index}")
            channels = video.shape[1]
            if channels == 1:
                # The patch embedding reads 3 channels (transformers#20580: VideoMAE crashed on grayscale).
                video = video.expand(-1, 3, -1, -1)
            elif channels == 4:
                video = self._blend_alpha(video)
            elif channels != 3:
                raise RViTInputError(f"clip {index}: frames have {channels} channels; expected 1, 3 or 4")
            if device is not None:
                video = video.to(device)
            prepared.append(video.contiguous())
        return prepared

    @staticmethod
    def _blend_alpha(video: torch.Tensor) -> torch.Tensor:
        """(T, 4, H, W) 0–255 → (T, 3, H, W) on a white background, dtype kept."""
        alpha = video[:, 3:].float() / 255.0
        rgb = video[:, :3].float() * alpha + 255.0 * (1 - alpha)
        return rgb.round().to(video.dtype) if not video.is_floating_point() else rgb.to(video.dtype)


def _looks_rescaled(video: torch.Tensor) -> bool:
    """Floating-point frames whose values all lie in [0, 1] (and not all 0), i.e. already rescaled."""
    if not video.is_floating_point() or video.numel() == 0:
        return False
    return bool(video.min() >= 0 and video.max() <= 1 and video.max() > 0)


def _sample_or_name(sample_indices_fn, metadata: VideoMetadata, name: str) -> np.ndarray:
    """`sample_indices_fn(metadata=...)`, its errors prefixed with the clip's name."""
    try:
        return sample_indices_fn(metadata=metadata)
    except RViTInputError as error:
        raise RViTInputError(f"{name}: {error}") from None


def _make_clip_list(videos) -> list:
    """Normalize any accepted input to a list of clips: paths, or tensors with frames on dim 0."""
    if isinstance(videos, (str, os.PathLike)) or _is_decoder(videos):
        return [videos]
    if isinstance(videos, Image.Image):
        return [_frames_to_tensor([videos], "clip 0")]
    if isinstance(videos, (np.ndarray, torch.Tensor)):
        tensor = torch.from_numpy(np.ascontiguousarray(videos)) if isinstance(videos, np.ndarray) else videos
        if tensor.ndim == 5:
            return list(tensor)
        if tensor.ndim in (3, 4):
            return [tensor]
        raise RViTInputError(
            f"an array of shape {tuple(tensor.shape)}: expected (T, H, W, C), (T, C, H, W), (T, H, W) or a "
            "batch (B, T, ...) of those"
        )
    if isinstance(videos, (list, tuple)):
        if len(videos) == 0:
            raise RViTInputError("no clip given (an empty list)")
        if all(_is_frame(item) for item in videos):
            return [_frames_to_tensor(videos, "clip 0")]
        clips = []
        for index, item in enumerate(videos):
            if isinstance(item, (str, os.PathLike)) or _is_decoder(item):
                clips.append(item)
            elif isinstance(item, (list, tuple)) and item and all(_is_frame(frame) for frame in item):
                clips.append(_frames_to_tensor(item, f"clip {index}"))
            elif isinstance(item, (np.ndarray, torch.Tensor)) and item.ndim in (3, 4):
                clips.extend(_make_clip_list(item))
            else:
                raise RViTInputError(
                    f"clip {index}: unsupported input {type(item).__name__}; give a video path, a list of "
                    "frames (PIL images or arrays) or an array (T, H, W, C) / (T, C, H, W)"
                )
        return clips
    raise RViTInputError(
        f"unsupported input {type(videos).__name__}; give a video path, a list of frames or an array "
        "(T, H, W, C)"
    )


def _is_decoder(item) -> bool:
    """A torchcodec `VideoDecoder` (duck-typed, so that torchcodec need not be importable)."""
    return hasattr(item, "get_frames_at") and hasattr(item, "metadata")


def _is_frame(item) -> bool:
    """A single frame: a PIL image, or an array (H, W) / (H, W, C) / (C, H, W)."""
    if isinstance(item, Image.Image):
        return True
    return (
        isinstance(item, (np.ndarray, torch.Tensor))
        and item.ndim == 2
        or (isinstance(item, (np.ndarray, torch.Tensor)) and item.ndim == 3 and _looks_like_frame(item.shape))
    )


def _looks_like_frame(shape) -> bool:
    """Whether a 3-D shape is one frame, channels first or last, rather than a grayscale clip (T, H, W)."""
    return shape[-1] in (1, 3, 4) or shape[0] in (1, 3, 4)


def _frames_to_tensor(frames, name: str) -> torch.Tensor:
    """A list of frames → (T, H, W, C) or (T, C, H, W) tensor, PIL frames as (T, H, W, C) uint8."""
    arrays = []
    for frame in frames:
        if isinstance(frame, Image.Image):
            if frame.mode not in ("L", "RGB", "RGBA"):
                frame = frame.convert("RGBA" if "A" in frame.getbands() else "RGB")
            array = np.array(frame)
            arrays.append(torch.from_numpy(array[..., None] if array.ndim == 2 else array))
        else:
            tensor = torch.from_numpy(np.ascontiguousarray(frame)) if isinstance(frame, np.ndarray) else frame
            arrays.append(tensor[..., None] if tensor.ndim == 2 else tensor)
    shapes = {tuple(array.shape) for array in arrays}
    if len(shapes) > 1:
        raise RViTInputError(
            f"{name}: frames of different shapes {sorted(shapes)}; resize them to one size first"
        )
    return torch.stack(arrays)


def _to_channels_first(video: torch.Tensor, input_data_format, name: str) -> torch.Tensor:
    """(T, H, W), (T, H, W, C) or (T, C, H, W) → (T, C, H, W)."""
    if video.ndim == 3:
        return video[:, None]
    if video.ndim != 4:
        raise RViTInputError(f"{name}: a clip of shape {tuple(video.shape)}; expected 3 or 4 dimensions")
    if input_data_format is not None:
        layout = ChannelDimension(input_data_format)
    elif video.shape[1] in (1, 3, 4) and video.shape[-1] not in (1, 3, 4):
        layout = ChannelDimension.FIRST
    elif video.shape[-1] in (1, 3, 4):
        layout = ChannelDimension.LAST
    else:
        raise RViTInputError(
            f"{name}: cannot tell the channel axis of shape {tuple(video.shape)}; pass input_data_format="
            "'channels_first' or 'channels_last'"
        )
    return video.permute(0, 3, 1, 2) if layout == ChannelDimension.LAST else video


__all__ = ["RViTVideoProcessor"]
