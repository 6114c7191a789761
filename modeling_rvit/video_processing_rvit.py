"""Video processor class for RViT.

Turns a clip into the `pixel_values` that `RViTModel` reads, the way the AHU paper made its training input:
frame selection (every `frame_stride`-th source frame of a video, or `fps` frames per second), the
ultrasound-region crop or an image set's border cut resized to `processed_size` (224), noise-frame removal, a
contiguous window of `num_frames` frames (shorter clips padded by repeating their last frame, `frame_mask`
marking the real ones), then the base class's resize to `size` (112), rescale and normalize (mean = std = 0.5).

What a clip is decides its path, with no per-call option (`ultrasound_frames`, which holds the frame cleaning,
the one `hf_loader.preprocess` writes the processed tier with): a video gets all of it; a list of frames is
already sampled (no stride; on processed-tier frames the crop and noise removal change nothing); a dataset row
(or a batch of rows) gives its clip column: `frames` (the processed tier), `images` (an image set: the border
cut) or `video`. So one saved processor serves the `video-classification` pipeline on an mp4, `ahu-train` and a
plain `Trainer` script calling it on dataset rows.

This module is shipped as remote code next to a saved model: it imports only from transformers, torch, numpy,
scipy and Pillow (and torchcodec or PyAV to decode files) and this folder, never from this project's other
packages. A clip it cannot read raises `RViTInputError` (the model's), naming the clip or file and the fix.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping

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
    CLIP_KINDS,
    CLIP_WINDOWS,
    DEFAULT_NOISE_EPS,
    FRAME_SIZE,
    FRAME_STRIDE,
    FRAMES,
    GRAY_THRESHOLD,
    IMAGE_SET_CROP_FRACTION,
    VIDEO,
    NoiseSettings,
    clean_clip,
    clip_kind_options,
    clip_of_row,
    drop_noise,
    pad_to_length,
    rows_of,
    take_window,
    window_start,
)
from .video_decoding import cleaned_while_decoding, decode_and_sample_videos, decode_file, read_decoder

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
        Keep every `frame_stride`-th frame of a video (the paper's processed tier: 10). Ignored when `fps` is
        given, and for frames and image sets, which are already sampled.
    crop_mode (`str`, *optional*, defaults to `"region"`):
        How a video's (and a frame list's) frames are cropped: `"region"` to each frame's ultrasound region (the
        paper's videos); `"border"`: cut `crop_border_fraction` from every side (what image sets always get);
        `None`: no crop.
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
    - a video: a path to a video file (`str` or `pathlib.Path`), decoded with torchcodec, or PyAV when torchcodec
      is unavailable (only the kept frames are decoded); a torchcodec `VideoDecoder` (what a `datasets` `Video()`
      column gives); an array or tensor (T, H, W, C), (T, C, H, W) or (T, H, W) (grayscale), or a batch
      (B, T, ...);
    - a list of frames already sampled: `PIL.Image.Image` (any mode: "L", "RGB", "RGBA", ...) or arrays (H, W),
      (H, W, C) or (C, H, W);
    - a dataset row (a dict), a list of rows, or a batch of rows (column -> list, as `Dataset.with_transform`
      gives it): its `frames` (frames), else `images` (an image set), else `video`.
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
    Build the processor of a model with `RViTVideoProcessor.from_model_config(model.config)`.
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

    @classmethod
    def from_model_config(cls, config, **kwargs: Unpack[RViTVideoProcessorKwargs]) -> RViTVideoProcessor:
        """The processor that feeds a model of `config`: clips of `config.num_frames` frames of
        `config.image_size` px (an int, or (height, width)); `kwargs` set other options."""
        image_size = config.image_size
        height, width = image_size if isinstance(image_size, (list, tuple)) else (image_size, image_size)
        return cls(num_frames=config.num_frames, size={"height": int(height), "width": int(width)}, **kwargs)

    def save_pretrained(self, save_directory, push_to_hub: bool = False, **kwargs):
        changed = {
            name: getattr(self, name)
            for name in ("frame_stride", "crop_mode")
            if getattr(self, name) != getattr(type(self), name)
        }
        if changed:
            # The video-classification pipeline feeds an mp4 through these; frames and rows never need them.
            warnings.warn(
                f"saving an RViTVideoProcessor whose video path is not the paper's ({changed}): the "
                "video-classification pipeline will read an mp4 this way, not as RViT trained. Frames lists and "
                "dataset rows need no such option (they are never strided; processed frames are not cropped "
                "again): save a default processor, RViTVideoProcessor.from_model_config(model.config).",
                UserWarning,
                stacklevel=2,
            )
        return super().save_pretrained(save_directory, push_to_hub=push_to_hub, **kwargs)

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
        Preprocess one clip or a batch of clips (see the class docstring for the accepted forms); each clip
        takes the path of its kind (`ultrasound_frames.clip_kind_options`), options given here override it.

        Returns:
            `BatchFeature` with `pixel_values` (batch, num_frames, 3, height, width) and, when asked,
            `frame_mask` (batch, num_frames).
        """
        return_tensors = kwargs.pop("return_tensors", None)
        if kwargs.get("fps") is not None and "num_frames" not in kwargs:
            # Frames sampled at a rate form the clip: no fixed-length window unless one is asked for.
            kwargs["num_frames"] = None
        clips = _clips_and_kinds(videos)
        kinds = [kind for kind in CLIP_KINDS if any(clip_kind == kind for _, clip_kind in clips)]
        metadata = kwargs.pop("video_metadata", None)
        if metadata is not None and len(kinds) > 1:
            raise RViTInputError(
                "video_metadata is for a batch of videos; do not mix them with frames or rows"
            )
        frames, masks = [None] * len(clips), [None] * len(clips)
        for kind in kinds:
            positions = [index for index, (_, clip_kind) in enumerate(clips) if clip_kind == kind]
            options = {**clip_kind_options(kind), **kwargs}
            if options.get("crop_mode", self.crop_mode) is not None and self.processed_size is None:
                options.setdefault("processed_size", FRAME_SIZE)
            # One clip goes as it is: a list around a (T, H, W) array would read as one 4-channel frame.
            sources = [clips[index][0] for index in positions]
            sources = sources[0] if len(sources) == 1 else sources
            batch_frames, batch_masks = self._preprocess_clips(sources, metadata, **options)
            for index, clip, mask in zip(positions, batch_frames, batch_masks):
                frames[index], masks[index] = clip, mask
        if return_tensors is not None and len({len(clip) for clip in frames}) > 1:
            raise RViTInputError(
                f"clips of different lengths {sorted({len(clip) for clip in frames})} cannot be stacked into one "
                "tensor; use do_sample_frames=True with num_frames, or return_tensors=None"
            )
        data = {"pixel_values": frames}
        return_frame_mask = kwargs.get("return_frame_mask")
        if return_frame_mask or (return_frame_mask is None and self.return_frame_mask):
            data["frame_mask"] = masks
        return BatchFeature(data=data, tensor_type=return_tensors)

    def _preprocess_clips(self, sources, video_metadata, **kwargs) -> tuple[list, list]:
        """Clips of one kind → (their frames, each (T, 3, height, width), their frame masks (T,) int64)."""
        options = {
            name: kwargs[name] if kwargs.get(name) is not None else getattr(self, name)
            for name in ("do_sample_frames", "clip_window", "do_remove_noise")
        }
        num_frames = kwargs.get("num_frames", self.num_frames)
        batch = super().preprocess(sources, video_metadata=video_metadata, **kwargs)
        clips, noise_masks = batch["pixel_values_videos"], batch["noise_frames"]
        if options["do_sample_frames"]:
            if options["do_remove_noise"]:
                clips = [drop_noise(clip, noise) for clip, noise in zip(clips, noise_masks)]
            if num_frames is not None:
                clips = [take_window(clip, num_frames, options["clip_window"]) for clip in clips]
        lengths = [len(clip) for clip in clips]
        if options["do_sample_frames"] and num_frames is not None:
            clips = [pad_to_length(clip, num_frames) for clip in clips]
        masks = [(torch.arange(len(clip)) < length).to(torch.int64) for clip, length in zip(clips, lengths)]
        return clips, masks

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
        """The ultrasound frame cleaning (`ultrasound_frames.clean_clip`: crop, resize to `processed_size`, noise
        flags), then the base class's resize, rescale and normalize. Returns `pixel_values_videos` (every frame)
        and `noise_frames` ((T,) bool per clip), which `preprocess` uses to drop frames."""
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
            video, noise = clean_clip(
                video, crop_mode, crop_threshold, crop_border_fraction, processed_size,
                settings if do_remove_noise else None,
            )  # fmt: skip
            cleaned.append(video)
            noise_masks.append(noise)
        if kwargs.get("do_rescale") and any(_looks_rescaled(video) for video in cleaned):
            # Rescaling [0, 1] frames by 1/255 again would feed the model a nearly constant -1 clip.
            warnings.warn(
                "RViTVideoProcessor got floating-point frames already in [0, 1] and do_rescale=True; they "
                "will be divided by 255 again. Pass uint8 frames (0-255) or do_rescale=False.",
                UserWarning,
                stacklevel=5,
            )
        batch = super()._preprocess(cleaned, **kwargs)
        batch["noise_frames"] = noise_masks
        return batch

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


def _looks_rescaled(video: torch.Tensor) -> bool:
    """Floating-point frames whose values all lie in [0, 1] (and not all 0), i.e. already rescaled."""
    if not video.is_floating_point() or video.numel() == 0:
        return False
    return bool(video.min() >= 0 and video.max() <= 1 and video.max() > 0)


def _clips_and_kinds(videos) -> list[tuple]:
    """Any accepted input -> [(clip source, kind)], one per clip, `kind` one of `ultrasound_frames.CLIP_KINDS`:
    a list of frames is `frames`, a dataset row gives its clip column's kind, anything else is a video."""
    if isinstance(videos, Mapping):
        return [_clip_of_row(row) for row in rows_of(videos)]
    if isinstance(videos, Image.Image):
        return [([videos], FRAMES)]
    if isinstance(videos, (np.ndarray, torch.Tensor)) and videos.ndim == 5:
        return [(clip, VIDEO) for clip in videos]
    if not isinstance(videos, (list, tuple)):
        return [(videos, VIDEO)]
    if not videos:
        raise RViTInputError("no clip given (an empty list)")
    if all(_is_frame(item) for item in videos):
        return [(list(videos), FRAMES)]
    clips = []
    for item in videos:
        if isinstance(item, Mapping):
            clips.append(_clip_of_row(item))
        elif isinstance(item, (list, tuple)) and item and all(_is_frame(frame) for frame in item):
            clips.append((list(item), FRAMES))
        else:
            clips.append((item, VIDEO))
    return clips


def _clip_of_row(row: Mapping) -> tuple:
    """(clip source, kind) of a dataset row; an undecoded `Video(decode=False)` value is read from its path."""
    found = clip_of_row(row)
    name = f"sample {row.get('sample_id', '?')}"
    if found is None:
        raise RViTInputError(
            f"{name}: the row holds no clip (columns {sorted(row)}); a row gives its frames in `frames` (the "
            "processed tier), `images` (an image set) or `video`; filter out rows without one"
        )
    source, kind = found
    if kind == VIDEO and isinstance(source, Mapping):
        if not (source.get("path") and os.path.isfile(source["path"])):
            raise RViTInputError(
                f"{name}: the video is undecoded bytes; load the column with datasets.Video() (decode=True)"
            )
        source = source["path"]
    return source, kind


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
