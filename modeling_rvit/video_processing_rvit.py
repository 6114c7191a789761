"""Video processor class for RViT.

Turns a clip into the `pixel_values` that `RViTModel` reads, the way the AHU paper made its training input:

1. frame selection: every `frame_stride`-th source frame (the paper's processed tier keeps every 10th), or
   `fps` frames per second when a caller passes `fps`;
2. the ultrasound-region crop (`crop_mode="region"`: the largest region brighter than `crop_threshold`, per
   frame) or, for image sets, a border cut (`crop_mode="border"`), resized to `processed_size` (224), the
   processed tier's frames;
3. noise-frame removal (`do_remove_noise`) with the detector the preprocessing uses;
4. a contiguous window of `num_frames` frames (36), shorter clips padded by repeating their last frame, with
   `frame_mask` marking the real frames;
5. resize to `size` (112), rescale by 1/255, normalize with mean = std = 0.5 (pixel values in [-1, 1]).

Steps 2 and 3 call `ultrasound_frames`, the code `hf_loader.preprocess` writes the processed tier with, so a raw
mp4 given to the `video-classification` pipeline becomes what a model trained on the processed tier saw. Frames
that already are processed-tier frames skip them: `frame_stride=1, crop_mode=None, processed_size=None,
do_remove_noise=False` (what `ahu_train.data` passes for the `processed` config).

This module is shipped as remote code next to a saved model: it imports only from transformers, torch, numpy,
scipy and Pillow (and torchcodec or PyAV to decode files) and this folder, never from this project's other
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
from transformers.video_utils import (
    VideoInput,
    VideoMetadata,
    default_sample_indices_fn,
)

from .configuration_rvit import RViTConfig
from .modeling_rvit import RViTInputError
from .ultrasound_frames import (
    DEFAULT_NOISE_EPS,
    FRAME_SIZE,
    FRAME_STRIDE,
    GRAY_THRESHOLD,
    IMAGE_SET_CROP_FRACTION,
    NoiseSettings,
    border_box,
    chroma_aligned_box,
    detect_noise,
    find_region_box,
    gray_levels,
)
from .video_decoding import cleaned_while_decoding, decode_and_sample_videos, decode_file, read_decoder

CLIP_WINDOWS = ("center", "start", "random")
CROP_MODES = ("region", "border")
DECODER_BACKENDS = ("torchcodec", "pyav")


class RViTVideoProcessorKwargs(VideosKwargs, total=False):
    """
    clip_window (`str`, *optional*, defaults to `"center"`):
        Which contiguous `num_frames` window to keep from a longer clip: `"center"` (evaluation),
        `"start"` (the first frames) or `"random"` (training augmentation; drawn with torch's global RNG,
        so `torch.manual_seed` makes it reproducible). `num_frames=None` keeps every frame (no window, no
        padding); so does passing `fps` without `num_frames`.
    frame_stride (`int`, *optional*, defaults to 10):
        Keep every `frame_stride`-th source frame (the paper's processed tier: 10). Ignored when `fps` is given.
    crop_mode (`str`, *optional*, defaults to `"region"`):
        `"region"`: crop each frame to its ultrasound region (the paper's videos); `"border"`: cut
        `crop_border_fraction` from every side (the paper's image sets); `None`: no crop.
    crop_threshold (`int`, *optional*, defaults to 1):
        Grey level (0-255) above which a pixel belongs to a region (the paper: > 1).
    crop_border_fraction (`float`, *optional*, defaults to 0.1):
        Fraction of the width and height cut from each side with `crop_mode="border"`.
    processed_size (`int`, *optional*, defaults to 224):
        Side of the square frames a crop is resized to before noise detection (the processed tier's frames);
        `None` keeps the frames as they are (only without a crop).
    do_remove_noise (`bool`, *optional*, defaults to `True`):
        Drop the frames the paper's DBSCAN detector calls noise (all frames are kept when it calls every
        frame noise).
    noise_eps, noise_min_samples_fraction, noise_pool_times, noise_feature_scale:
        The detector's settings (`ultrasound_frames.NoiseSettings`; defaults: 5.0, 0.5, 4, 1.0).
    return_frame_mask (`bool`, *optional*, defaults to `True`):
        Also return `frame_mask` (batch, num_frames), 1 for a real frame and 0 for a padded copy.
    decoder_backend (`str`, *optional*):
        `"torchcodec"` or `"pyav"` to decode video files; by default torchcodec when it loads, else PyAV.
    """

    clip_window: str | None
    frame_stride: int | None
    crop_mode: str | None
    crop_threshold: int | None
    crop_border_fraction: float | None
    processed_size: int | None
    do_remove_noise: bool | None
    noise_eps: float | None
    noise_min_samples_fraction: float | None
    noise_pool_times: int | None
    noise_feature_scale: float | None
    return_frame_mask: bool | None
    decoder_backend: str | None


class RViTVideoProcessor(BaseVideoProcessor):
    r"""
    Constructs an RViT video processor (see the module docstring for its steps).

    Input: one clip or a batch of clips, each given as
    - a path to a video file (`str` or `pathlib.Path`), decoded with torchcodec, or PyAV when torchcodec is
      unavailable (only the kept frames are decoded);
    - a torchcodec `VideoDecoder`, which is what a `datasets` `Video()` column gives (only the kept frames are
      decoded);
    - a list of frames: `PIL.Image.Image` (any mode: "L", "RGB", "RGBA", ...) or arrays (H, W), (H, W, C) or
      (C, H, W);
    - an array or tensor (T, H, W, C), (T, C, H, W) or (T, H, W) (grayscale), or a batch (B, T, ...).
    Grayscale (1-channel) frames are repeated to 3 channels, an alpha channel is blended onto white.
    `video_metadata` (a `VideoMetadata`, a dict, a list or a nested list of them, one per clip) gives arrays
    their `fps` for `fps` sampling.

    Output (`BatchFeature`):
    - `pixel_values`: (batch, num_frames, 3, height, width) float32, normalized (in [-1, 1] with the
      defaults). Without a window (`do_sample_frames=False`, `num_frames=None`) clips keep their length (a list
      if the lengths differ).
    - `frame_mask` (when `return_frame_mask=True`): (batch, num_frames) int64, 0 where a frame is a padded
      repeat of the last real frame.

    `do_sample_frames=False` selects no frames at all: no stride, no noise removal, no window (the crop and the
    resizing still apply). The `video-classification` pipeline calls the processor with
    `num_frames=model.config.num_frames` and `do_sample_frames=True`, and passes `frame_mask` to the model.
    """

    resample = PILImageResampling.BILINEAR
    # The paper's training input (RViT-main/main.py): the clip shape is RViTConfig's default; training reads these.
    image_mean = (0.5, 0.5, 0.5)
    image_std = (0.5, 0.5, 0.5)
    size = {"height": RViTConfig.image_size, "width": RViTConfig.image_size}
    default_to_square = True
    do_resize = True
    do_center_crop = False
    do_rescale = True
    rescale_factor = 1 / 255
    do_normalize = True
    do_convert_rgb = True
    do_sample_frames = True
    num_frames = RViTConfig.num_frames
    clip_window = "center"
    frame_stride = FRAME_STRIDE
    crop_mode = "region"
    crop_threshold = GRAY_THRESHOLD
    crop_border_fraction = IMAGE_SET_CROP_FRACTION
    processed_size = FRAME_SIZE
    do_remove_noise = True
    noise_eps = DEFAULT_NOISE_EPS
    noise_min_samples_fraction = NoiseSettings.min_samples_fraction
    noise_pool_times = NoiseSettings.pool_times
    noise_feature_scale = NoiseSettings.feature_scale
    return_frame_mask = True
    decoder_backend = None
    valid_kwargs = RViTVideoProcessorKwargs
    model_input_names = ["pixel_values"]

    def __init__(self, **kwargs: Unpack[RViTVideoProcessorKwargs]):
        super().__init__(**kwargs)
        self._check_options(
            self.clip_window, self.frame_stride, self.decoder_backend, self.crop_mode, self.processed_size
        )

    @staticmethod
    def _check_options(clip_window, frame_stride, decoder_backend=None, crop_mode=None, processed_size=None):
        if clip_window not in CLIP_WINDOWS:
            raise ValueError(f"clip_window={clip_window!r}: expected one of {CLIP_WINDOWS}.")
        if frame_stride is not None and (int(frame_stride) != frame_stride or frame_stride < 1):
            raise ValueError(f"frame_stride={frame_stride!r}: expected a positive integer.")
        if decoder_backend is not None and decoder_backend not in DECODER_BACKENDS:
            raise ValueError(
                f"decoder_backend={decoder_backend!r}: expected one of {DECODER_BACKENDS} or None."
            )
        if crop_mode is not None and crop_mode not in CROP_MODES:
            raise ValueError(f"crop_mode={crop_mode!r}: expected one of {CROP_MODES} or None.")
        if crop_mode is not None and processed_size is None:
            raise ValueError(
                f"crop_mode={crop_mode!r} needs processed_size (the side crops are resized to, e.g. 224)."
            )

    def sample_frames(
        self,
        metadata: VideoMetadata,
        num_frames: int | None = None,
        fps: float | None = None,
        frame_stride: int | None = None,
        clip_window: str | None = None,
        do_remove_noise: bool | None = None,
        **kwargs,
    ) -> np.ndarray:
        """
        Indices of the source frames to decode: `fps` frames per second when `fps` is given (the base class's
        uniform sampling, which needs `metadata.fps`), else every `frame_stride`-th frame. Without noise
        removal the `num_frames` window is taken here already, so that only its frames are decoded; with it,
        `preprocess` takes the window after the noise frames are gone.

        Args:
            metadata (`VideoMetadata`): needs `total_num_frames` (and `fps` for `fps` sampling).
            num_frames (`int`, *optional*): window length; `None` keeps every selected frame.
            fps (`int` or `float`, *optional*): frames per second to sample.
            frame_stride (`int`, *optional*): keep every n-th frame, defaults to `self.frame_stride`.
            clip_window (`str`, *optional*): `"center"`, `"start"` or `"random"`.
            do_remove_noise (`bool`, *optional*): whether noise frames will be removed after decoding.

        Returns:
            `np.ndarray` of int64 frame indices, increasing.
        """
        frame_stride = frame_stride if frame_stride is not None else self.frame_stride
        clip_window = clip_window if clip_window is not None else self.clip_window
        do_remove_noise = self.do_remove_noise if do_remove_noise is None else do_remove_noise
        self._check_options(clip_window, frame_stride)
        total = int(metadata.total_num_frames or 0)
        if total <= 0:
            raise RViTInputError(
                "the video reports no frames (is the file truncated, or its frame count missing?); decode it "
                "yourself and pass the frames as an array"
            )
        fps = fps if fps is not None else self.fps
        if fps is not None:
            candidates = np.asarray(default_sample_indices_fn(metadata, fps=fps), dtype=np.int64)
        else:
            candidates = np.arange(0, total, int(frame_stride), dtype=np.int64)
        if do_remove_noise or num_frames is None or clip_window == "random":
            return candidates
        start = window_start(len(candidates), num_frames, clip_window)
        return candidates[start : start + num_frames]

    def preprocess(self, videos: VideoInput, **kwargs: Unpack[RViTVideoProcessorKwargs]) -> BatchFeature:
        """
        Preprocess one clip or a batch of clips (see the class docstring for the accepted forms).

        Returns:
            `BatchFeature` with `pixel_values` (batch, num_frames, 3, height, width) and, when asked,
            `frame_mask` (batch, num_frames).
        """
        return_tensors = kwargs.pop("return_tensors", None)
        if kwargs.get("fps") is not None and "num_frames" not in kwargs:
            # Frames sampled at a rate form the clip: no fixed-length window unless one is asked for.
            kwargs["num_frames"] = None
        options = {
            name: kwargs[name] if kwargs.get(name) is not None else getattr(self, name)
            for name in ("return_frame_mask", "do_sample_frames", "clip_window", "do_remove_noise")
        }
        num_frames = kwargs.get("num_frames", self.num_frames)
        batch = super().preprocess(videos, **kwargs)
        clips = batch.pop("pixel_values_videos")
        noise_masks = batch.pop("noise_frames")
        if options["do_sample_frames"]:
            if options["do_remove_noise"]:
                clips = [_drop_noise(clip, noise) for clip, noise in zip(clips, noise_masks)]
            if num_frames is not None:
                clips = [_take_window(clip, num_frames, options["clip_window"]) for clip in clips]
        lengths = [len(clip) for clip in clips]
        if options["do_sample_frames"] and num_frames is not None:
            clips = [self._pad_to_length(clip, num_frames) for clip in clips]
        padded_lengths = {len(clip) for clip in clips}
        if return_tensors is not None and len(padded_lengths) > 1:
            raise RViTInputError(
                f"clips of different lengths {sorted(padded_lengths)} cannot be stacked into one tensor; "
                "use do_sample_frames=True with num_frames, or return_tensors=None"
            )
        data = {"pixel_values": clips}
        if options["return_frame_mask"]:
            data["frame_mask"] = [
                (torch.arange(len(clip)) < length).to(torch.int64) for clip, length in zip(clips, lengths)
            ]
        data.update(batch)
        return BatchFeature(data=data, tensor_type=return_tensors)

    def _preprocess(
        self,
        videos: list[torch.Tensor],
        crop_mode: str | None = None,
        crop_threshold: int = GRAY_THRESHOLD,
        crop_border_fraction: float = IMAGE_SET_CROP_FRACTION,
        processed_size: int | None = None,
        do_remove_noise: bool = False,
        noise_eps: float = DEFAULT_NOISE_EPS,
        noise_min_samples_fraction: float = 0.5,
        noise_pool_times: int = 4,
        noise_feature_scale: float = 1.0,
        **kwargs,
    ) -> BatchFeature:
        """Crop and resize to `processed_size`, flag noise frames, then the base class's resize, rescale and
        normalize. Returns `pixel_values_videos` (every frame) and `noise_frames` ((T,) bool per clip), which
        `preprocess` uses to drop frames."""
        self._check_options(self.clip_window, None, None, crop_mode, processed_size)
        settings = NoiseSettings(
            eps=noise_eps,
            min_samples_fraction=noise_min_samples_fraction,
            pool_times=noise_pool_times,
            feature_scale=noise_feature_scale,
        )
        cleaned, noise_masks = [], []
        for video, decoded_clean in zip(videos, cleaned_while_decoding(self, len(videos))):
            if decoded_clean:  # cropped, resized and rid of its noise frames while decoding (video_decoding)
                cleaned.append(video)
                noise_masks.append(np.zeros(len(video), dtype=bool))
                continue
            video = _crop_and_resize(video, crop_mode, crop_threshold, crop_border_fraction, processed_size)
            noise_masks.append(
                detect_noise(_uint8_frames_last(video), settings)
                if do_remove_noise
                else np.zeros(len(video), dtype=bool)
            )
            cleaned.append(video)
        if kwargs.get("do_rescale") and any(_looks_rescaled(video) for video in cleaned):
            # Rescaling [0, 1] frames by 1/255 again would feed the model a nearly constant -1 clip.
            warnings.warn(
                "RViTVideoProcessor got floating-point frames already in [0, 1] and do_rescale=True; they "
                "will be divided by 255 again. Pass uint8 frames (0-255) or do_rescale=False.",
                UserWarning,
                stacklevel=4,
            )
        batch = super()._preprocess(cleaned, **kwargs)
        batch["noise_frames"] = noise_masks
        return batch

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
        """Decode files and decoders while sampling them, in bounded memory (`video_decoding`); arrays come back
        as tensors, layout kept."""
        return decode_and_sample_videos(
            self, _make_clip_list(videos), video_metadata, sample_indices_fn if do_sample_frames else None
        )

    @staticmethod
    def _read_decoder(decoder, name: str, sample_indices_fn) -> tuple[torch.Tensor, VideoMetadata]:
        """The kept frames of a torchcodec `VideoDecoder` → ((T, 3, H, W) uint8 tensor, metadata)."""
        return read_decoder(decoder, name, sample_indices_fn)

    def _decode_file(self, path: str, sample_indices_fn) -> tuple[torch.Tensor, VideoMetadata]:
        """Decode the kept frames of a video file → ((T, 3, H, W) uint8 tensor, metadata)."""
        backend = self.decoder_backend
        if backend is None:
            backend = "torchcodec" if is_torchcodec_usable(decode="video") else "pyav"
        return decode_file(path, backend, sample_indices_fn)

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


def window_start(length: int, num_frames: int, clip_window: str) -> int:
    """First index of the `num_frames` window of a `length`-frame clip (0 when the clip is not longer)."""
    surplus = length - num_frames
    if surplus <= 0:
        return 0
    if clip_window == "start":
        return 0
    if clip_window == "random":
        return int(torch.randint(0, surplus + 1, ()).item())
    return surplus // 2


def _take_window(clip: torch.Tensor, num_frames: int, clip_window: str) -> torch.Tensor:
    start = window_start(len(clip), num_frames, clip_window)
    return clip[start : start + num_frames]


def _drop_noise(clip: torch.Tensor, noise: np.ndarray) -> torch.Tensor:
    """The clip without its noise frames; all of it when every frame is noise (nothing else to classify)."""
    if noise.all() or not noise.any():
        return clip
    return clip[torch.from_numpy(~noise)]


def _crop_and_resize(
    video: torch.Tensor,
    crop_mode: str | None,
    crop_threshold: int,
    crop_border_fraction: float,
    processed_size: int | None,
) -> torch.Tensor:
    """(T, 3, H, W) → (T, 3, processed_size, processed_size): each frame cropped (`"region"`: its ultrasound
    region, found on its grey levels and widened to even edges as `hf_loader.preprocess` crops 4:2:0 video;
    `"border"`: a fixed cut from every side)
    and resized with antialiased bilinear interpolation; uint8 frames stay uint8 (rounded), like the processed
    tier's. No crop and no `processed_size`: the clip unchanged."""
    height, width = video.shape[-2:]
    if crop_mode is None and (processed_size is None or (height, width) == (processed_size, processed_size)):
        return video
    if crop_mode == "region":
        grey = _uint8_frames_last(video)
        full_frame = (0, 0, width, height)
        boxes = [
            chroma_aligned_box(
                find_region_box(gray_levels(frame), crop_threshold) or full_frame, width, height
            )
            for frame in grey
        ]
    elif crop_mode == "border":
        boxes = [border_box(width, height, crop_border_fraction)] * len(video)
    else:
        boxes = [(0, 0, width, height)] * len(video)
    frames = []
    for frame, (x0, y0, x1, y1) in zip(video, boxes):
        region = frame[None, :, y0:y1, x0:x1].float()
        frames.append(
            torch.nn.functional.interpolate(
                region,
                size=(processed_size, processed_size),
                mode="bilinear",
                antialias=True,
                align_corners=False,
            )[0]
        )
    resized = torch.stack(frames)
    return (
        resized.round().clamp(0, 255).to(torch.uint8)
        if video.dtype == torch.uint8
        else resized.to(video.dtype)
    )


def _uint8_frames_last(video: torch.Tensor) -> np.ndarray:
    """(T, 3, H, W) → (T, H, W, 3) uint8 numpy, the value domain (0-255) of the crop and noise detector."""
    if video.dtype != torch.uint8:
        video = video.float().round().clamp(0, 255).to(torch.uint8)
    return video.permute(0, 2, 3, 1).contiguous().cpu().numpy()


def _looks_rescaled(video: torch.Tensor) -> bool:
    """Floating-point frames whose values all lie in [0, 1] (and not all 0), i.e. already rescaled."""
    if not video.is_floating_point() or video.numel() == 0:
        return False
    return bool(video.min() >= 0 and video.max() <= 1 and video.max() > 0)


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
