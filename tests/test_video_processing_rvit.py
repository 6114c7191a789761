"""RViTVideoProcessor: the AHU paper's clip input (36 frames, 112 px, mean = std = 0.5) from any clip form."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from modeling_rvit import RViTInputError, RViTVideoProcessor


def level_clip(
    num_frames: int, height: int = 24, width: int = 32, channels: int = 3, start: int = 0
) -> np.ndarray:
    """(T, H, W, C) uint8 clip whose frame i is grey level `start + 2 * i` (so frames can be told apart)."""
    levels = (start + 2 * np.arange(num_frames)).astype(np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (num_frames, height, width, channels)).copy()


def frame_levels(pixel_values: torch.Tensor) -> list[int]:
    """Undo the normalization of (T, 3, H, W) → the grey level of every frame, rounded."""
    levels = (pixel_values.mean(dim=(1, 2, 3)) * 0.5 + 0.5) * 255
    return [round(value) for value in levels.tolist()]


def write_mp4(path: Path, num_frames: int, height: int = 48, width: int = 64, fps: int = 10) -> Path:
    """A tiny H.264 video whose frame i is uniformly grey at level 8 * i (i < 32), written with PyAV."""
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "0", "preset": "ultrafast"}
        for index in range(num_frames):
            array = np.full((height, width, 3), (8 * index) % 256, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


# Frames that already are processed-tier frames: no stride, crop or noise removal (what training passes).
PROCESSED_FRAMES = {"frame_stride": 1, "crop_mode": None, "processed_size": None, "do_remove_noise": False}


@pytest.fixture(scope="module")
def processor() -> RViTVideoProcessor:
    return RViTVideoProcessor(**PROCESSED_FRAMES)


def test_defaults_are_the_papers_training_input(processor):
    # RViT-main/main.py: 36 frames of 112 px, normalized with mean = std = 0.5 (training reads these defaults).
    assert processor.num_frames == 36
    assert (processor.size.height, processor.size.width) == (112, 112)
    assert tuple(processor.image_mean) == tuple(processor.image_std) == (0.5, 0.5, 0.5)
    assert processor.model_input_names == ["pixel_values"]


def test_output_is_pixel_values_of_the_papers_shape(processor):
    batch = processor(level_clip(40, height=60, width=80), return_tensors="pt", return_frame_mask=False)
    assert set(batch.keys()) == {"pixel_values"}
    assert batch["pixel_values"].shape == (1, 36, 3, 112, 112)
    assert batch["pixel_values"].dtype == torch.float32


def test_rescale_and_normalize_map_0_255_to_minus_1_1(processor):
    clip = np.zeros((3, 16, 16, 3), dtype=np.uint8)
    clip[1], clip[2] = 255, 51
    pixel_values = processor(clip, num_frames=3, return_tensors="pt")["pixel_values"][0]
    assert torch.allclose(pixel_values[0], torch.full_like(pixel_values[0], -1.0))
    assert torch.allclose(pixel_values[1], torch.full_like(pixel_values[1], 1.0))
    assert torch.allclose(pixel_values[2], torch.full_like(pixel_values[2], 51 / 255 * 2 - 1), atol=1e-6)


def test_short_clip_is_padded_by_repeating_its_last_frame(processor):
    batch = processor(level_clip(5, start=10), return_tensors="pt", return_frame_mask=True)
    assert frame_levels(batch["pixel_values"][0]) == [10, 12, 14, 16, 18] + [18] * 31
    assert batch["frame_mask"].tolist() == [[1] * 5 + [0] * 31]


def test_long_clip_keeps_the_centre_window(processor):
    levels = frame_levels(processor(level_clip(100), return_tensors="pt")["pixel_values"][0])
    assert levels == [2 * index for index in range(32, 68)]


def test_long_clip_start_window(processor):
    levels = frame_levels(
        processor(level_clip(50), clip_window="start", return_tensors="pt")["pixel_values"][0]
    )
    assert levels == [2 * index for index in range(36)]


def test_random_window_is_contiguous_varies_and_follows_the_torch_seed():
    processor = RViTVideoProcessor(clip_window="random", num_frames=4, **PROCESSED_FRAMES)
    clip = level_clip(60)
    starts = []
    for seed in range(8):
        torch.manual_seed(seed)
        levels = frame_levels(processor(clip, return_tensors="pt")["pixel_values"][0])
        start = levels[0] // 2
        assert levels == [2 * index for index in range(start, start + 4)]
        starts.append(start)
    torch.manual_seed(3)
    assert frame_levels(processor(clip, return_tensors="pt")["pixel_values"][0])[0] // 2 == starts[3]
    assert len(set(starts)) > 1


def test_frame_stride_keeps_every_nth_frame_before_windowing():
    processor = RViTVideoProcessor(
        num_frames=4, clip_window="start", **{**PROCESSED_FRAMES, "frame_stride": 10}
    )
    levels = frame_levels(processor(level_clip(100), return_tensors="pt")["pixel_values"][0])
    assert levels == [0, 20, 40, 60]


def test_batch_of_clips_with_different_lengths_and_sizes(processor):
    batch = processor(
        [level_clip(3, height=20), level_clip(70, width=50)], return_tensors="pt", return_frame_mask=True
    )
    assert batch["pixel_values"].shape == (2, 36, 3, 112, 112)
    assert batch["frame_mask"].sum(dim=1).tolist() == [3, 36]


@pytest.mark.parametrize(
    "make_clip",
    [
        pytest.param(lambda clip: clip[..., 0], id="array (T, H, W)"),
        pytest.param(lambda clip: clip[..., :1], id="array (T, H, W, 1)"),
        pytest.param(
            lambda clip: torch.from_numpy(clip[..., :1]).permute(0, 3, 1, 2), id="tensor (T, 1, H, W)"
        ),
        pytest.param(
            lambda clip: [Image.fromarray(frame[..., 0], mode="L") for frame in clip], id="PIL mode L"
        ),
    ],
)
def test_grayscale_clips_are_repeated_to_three_channels(processor, make_clip):
    pixel_values = processor(make_clip(level_clip(4, start=100)), num_frames=4, return_tensors="pt")[
        "pixel_values"
    ]
    assert pixel_values.shape == (1, 4, 3, 112, 112)
    assert torch.equal(pixel_values[0, :, 0], pixel_values[0, :, 2])
    assert frame_levels(pixel_values[0]) == [100, 102, 104, 106]


def test_channels_first_tensor_channels_last_array_and_pil_frames_agree(processor):
    rng = np.random.default_rng(0)
    clip = rng.integers(0, 256, size=(6, 40, 56, 3), dtype=np.uint8)
    from_array = processor(clip, return_tensors="pt")["pixel_values"]
    from_tensor = processor(torch.from_numpy(clip).permute(0, 3, 1, 2), return_tensors="pt")["pixel_values"]
    from_pil = processor([Image.fromarray(frame) for frame in clip], return_tensors="pt")["pixel_values"]
    assert torch.equal(from_array, from_tensor)
    assert torch.equal(from_array, from_pil)


def test_rgba_frames_are_blended_onto_white(processor):
    clip = np.zeros((2, 16, 16, 4), dtype=np.uint8)
    clip[..., 3] = 0  # fully transparent black → white
    pixel_values = processor(clip, num_frames=2, return_tensors="pt")["pixel_values"]
    assert torch.allclose(pixel_values, torch.ones_like(pixel_values))


@pytest.mark.parametrize("backend", ["torchcodec", "pyav"])
def test_video_file_is_decoded_windowed_and_padded(tmp_path, backend):
    video = write_mp4(tmp_path / "clip.mp4", num_frames=30)
    processor = RViTVideoProcessor(decoder_backend=backend, **PROCESSED_FRAMES)
    long_clip = processor(str(video), num_frames=10, return_tensors="pt")["pixel_values"][0]
    assert [round(level / 8) for level in frame_levels(long_clip)] == list(range(10, 20))
    padded = processor(video, num_frames=40, return_tensors="pt", return_frame_mask=True)
    assert padded["pixel_values"].shape == (1, 40, 3, 112, 112)
    assert padded["frame_mask"].sum().item() == 30
    assert torch.equal(padded["pixel_values"][0, 29], padded["pixel_values"][0, 39])


def test_torchcodec_and_pyav_decode_the_same_frames(tmp_path):
    video = write_mp4(tmp_path / "clip.mp4", num_frames=12)
    by_torchcodec = RViTVideoProcessor(decoder_backend="torchcodec", **PROCESSED_FRAMES)(
        str(video), return_tensors="pt"
    )
    by_pyav = RViTVideoProcessor(decoder_backend="pyav", **PROCESSED_FRAMES)(str(video), return_tensors="pt")
    assert torch.allclose(by_torchcodec["pixel_values"], by_pyav["pixel_values"], atol=2 / 255 * 2)


def test_missing_video_file_names_the_path(processor, tmp_path):
    with pytest.raises(RViTInputError, match="missing.mp4: no such video file"):
        processor(str(tmp_path / "missing.mp4"))


def test_corrupt_video_file_names_the_path(processor, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50)
    with pytest.raises(RViTInputError, match="broken.mp4"):
        processor(str(broken))


def test_frames_with_two_channels_are_refused(processor):
    with pytest.raises(RViTInputError, match="cannot tell the channel axis"):
        processor(np.zeros((4, 2, 16, 16), dtype=np.uint8))
    with pytest.raises(RViTInputError, match="2 channels"):
        processor(np.zeros((4, 2, 16, 16), dtype=np.uint8), input_data_format="channels_first")


def test_frames_of_different_sizes_are_refused(processor):
    with pytest.raises(RViTInputError, match="different shapes"):
        processor([np.zeros((16, 16, 3), np.uint8), np.zeros((20, 16, 3), np.uint8)])


def test_unknown_clip_window_is_refused():
    with pytest.raises(ValueError, match="clip_window='middle'"):
        RViTVideoProcessor(clip_window="middle")


def test_save_and_load_round_trip(tmp_path):
    processor = RViTVideoProcessor(
        num_frames=16, clip_window="random", frame_stride=10, return_frame_mask=True
    )
    processor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "video_preprocessor_config.json").read_text())
    assert saved["video_processor_type"] == "RViTVideoProcessor"
    assert (saved["num_frames"], saved["clip_window"], saved["frame_stride"]) == (16, "random", 10)
    reloaded = RViTVideoProcessor.from_pretrained(tmp_path)
    assert reloaded.to_dict() == processor.to_dict()
    clip = level_clip(8)
    torch.manual_seed(0)
    expected = processor(clip, return_tensors="pt")
    torch.manual_seed(0)
    actual = reloaded(clip, return_tensors="pt")
    assert torch.equal(expected["pixel_values"], actual["pixel_values"])
    assert torch.equal(expected["frame_mask"], actual["frame_mask"])


def test_auto_video_processor_loads_our_class(tmp_path):
    from transformers import AutoVideoProcessor

    from modeling_rvit import RViTConfig

    RViTConfig().save_pretrained(tmp_path)
    RViTVideoProcessor(num_frames=8).save_pretrained(tmp_path)
    loaded = AutoVideoProcessor.from_pretrained(tmp_path)
    assert type(loaded).__name__ == "RViTVideoProcessor"
    assert isinstance(loaded, RViTVideoProcessor)
    assert loaded.num_frames == 8


def test_without_frame_sampling_clips_keep_their_length(processor):
    batch = processor([level_clip(10), level_clip(40)], do_sample_frames=False)
    assert [tuple(clip.shape) for clip in batch["pixel_values"]] == [(10, 3, 112, 112), (40, 3, 112, 112)]
    with pytest.raises(RViTInputError, match="different lengths"):
        processor([level_clip(10), level_clip(40)], do_sample_frames=False, return_tensors="pt")


def test_fps_sampling_takes_frames_at_the_rate_and_keeps_their_number(processor):
    metadata = {"total_num_frames": 40, "fps": 10.0, "duration": 4.0}
    clip = processor(level_clip(40), fps=2, video_metadata=metadata, return_tensors="pt")
    assert frame_levels(clip["pixel_values"][0]) == [2 * index for index in range(0, 40, 5)]
    assert clip["frame_mask"].tolist() == [[1] * 8]
    windowed = processor(level_clip(40), fps=2, num_frames=4, video_metadata=metadata, return_tensors="pt")
    assert frame_levels(windowed["pixel_values"][0]) == [20, 30, 40, 50]
    with pytest.raises(ValueError, match="no original FPS"):
        processor(level_clip(40), fps=2)


def test_nested_video_metadata_gives_each_clip_its_own_rate(processor):
    clips = [level_clip(20), level_clip(40)]
    nested = [[{"total_num_frames": 20, "fps": 10.0}], [{"total_num_frames": 40, "fps": 20.0}]]
    batch = processor(clips, fps=5, video_metadata=nested, return_tensors=None)
    assert [frame_levels(clip) for clip in batch["pixel_values"]] == [
        [2 * index for index in range(0, 20, 2)],
        [2 * index for index in range(0, 40, 4)],
    ]
    with pytest.raises(RViTInputError, match="2 videos but 1"):
        processor(clips, fps=5, video_metadata=[nested[0][0]])


def test_datasets_video_decoder_gives_the_same_clip_as_the_file(tmp_path):
    import datasets

    video = write_mp4(tmp_path / "clip.mp4", num_frames=20)
    decoder = datasets.Video().decode_example({"path": str(video), "bytes": None})
    processor = RViTVideoProcessor(num_frames=8, decoder_backend="torchcodec", **PROCESSED_FRAMES)
    from_decoder = processor(decoder, return_tensors="pt", return_frame_mask=True)
    from_file = processor(str(video), return_tensors="pt")
    assert torch.equal(from_decoder["pixel_values"], from_file["pixel_values"])
    assert [round(level / 8) for level in frame_levels(from_decoder["pixel_values"][0])] == list(range(6, 14))
    batch = processor([decoder, level_clip(3)], return_tensors="pt", return_frame_mask=True)
    assert batch["frame_mask"].sum(dim=1).tolist() == [8, 3]


def test_frames_already_in_0_1_warn_before_a_second_rescale(processor):
    clip = level_clip(4).astype(np.float32) / 255
    with pytest.warns(UserWarning, match="already in \\[0, 1\\]"):
        processor(clip, num_frames=4)
    pixel_values = processor(clip, num_frames=4, do_rescale=False, return_tensors="pt")["pixel_values"]
    assert frame_levels(pixel_values[0]) == [0, 2, 4, 6]


def test_defaults_are_the_papers_raw_video_path():
    from hf_loader.preprocess import PreprocessOptions

    processor, options = RViTVideoProcessor(), PreprocessOptions()
    assert (processor.frame_stride, processor.processed_size) == (options.stride, options.size)
    assert (processor.crop_mode, processor.crop_threshold) == ("region", options.gray_threshold)
    assert processor.crop_border_fraction == options.crop_fraction
    assert processor.do_remove_noise and processor.return_frame_mask
    assert (
        processor.noise_eps,
        processor.noise_min_samples_fraction,
        processor.noise_pool_times,
        processor.noise_feature_scale,
    ) == tuple(vars(options.noise).values())


def _raw_frames(processor: RViTVideoProcessor, video, **kwargs) -> np.ndarray:
    """The processor's frames before its final resize: (T, 224, 224, 3), values 0-255."""
    clip = processor(
        video, num_frames=None, do_resize=False, do_rescale=False, do_normalize=False, **kwargs
    )["pixel_values"][0]
    return clip.permute(0, 2, 3, 1).numpy()


def test_raw_mp4_becomes_the_processed_tier_frames(sample_archive):
    from hf_loader.preprocess import preprocess_sample

    videos = sorted((sample_archive / "filtered").glob("Video_*.mp4"))[:2]
    processor = RViTVideoProcessor()
    for video in videos:
        sample = preprocess_sample(video)
        assert sample.noise.any(), f"{video.name}: pick a sample with noise frames"
        expected = sample.frames[~sample.noise].astype(np.float32)
        frames = _raw_frames(processor, str(video))
        assert frames.shape == expected.shape, video.name
        # The same crop boxes and noise flags; resampling (swscale vs torch) differs by about one grey level.
        assert np.abs(frames - expected).mean() < 2.5, video.name


def test_noise_frames_are_removed_before_the_window():
    from modeling_rvit.ultrasound_frames import detect_noise

    rng = np.random.default_rng(0)
    scan = np.zeros((12, 224, 224, 3), np.uint8)
    scan[:, 32:192, 24:200] = 100 + rng.integers(0, 30, size=(12, 160, 176, 1), dtype=np.uint8)
    title_cards = np.full((3, 224, 224, 3), 255, np.uint8)
    title_cards[:, 80:140] = 0
    clip = np.concatenate([scan[:6], title_cards, scan[6:]])
    processor = RViTVideoProcessor(frame_stride=1, crop_mode=None)
    noise = detect_noise(clip)
    assert noise.tolist() == [False] * 6 + [True] * 3 + [False] * 6
    batch = processor(clip, num_frames=16, return_tensors="pt")
    assert batch["frame_mask"].sum().item() == 12
    kept = processor(clip[~noise], num_frames=16, do_remove_noise=False, return_tensors="pt")
    torch.testing.assert_close(batch["pixel_values"], kept["pixel_values"])


def test_region_crop_cuts_the_phone_frame_down_to_the_ultrasound_image():
    frame = np.zeros((1, 128, 72, 3), np.uint8)
    frame[0, 40:90, 10:60] = 200  # the ultrasound image
    frame[0, 40:90, 30] = 90  # structure inside it
    processor = RViTVideoProcessor(frame_stride=1, do_remove_noise=False, processed_size=50)
    crop = _raw_frames(processor, frame)
    assert crop.shape == (1, 50, 50, 3)
    assert crop.min() > 80  # no black phone-frame border is left


def test_border_crop_of_image_sets_matches_preprocess(tmp_path):
    from hf_loader.image_sets import process_image_set

    rng = np.random.default_rng(1)
    paths = []
    for index in range(3):
        image = np.kron(rng.integers(0, 255, size=(10, 12, 3)), np.ones((30, 30, 1))).astype(np.uint8)
        paths.append(tmp_path / f"{index + 1}.jpg")
        Image.fromarray(image).save(paths[-1], quality=95)
    expected = process_image_set(paths).frames.astype(np.float32)
    processor = RViTVideoProcessor(frame_stride=1, crop_mode="border", do_remove_noise=False)
    frames = _raw_frames(processor, [Image.open(path) for path in paths])
    assert frames.shape == expected.shape
    assert np.abs(frames - expected).mean() < 4  # bicubic (Pillow) against antialiased bilinear (torch)


def test_without_frame_sampling_no_frame_is_dropped_or_strided():
    clip = np.concatenate([level_clip(6, height=32, width=32), np.full((2, 32, 32, 3), 255, np.uint8)])
    batch = RViTVideoProcessor(crop_mode=None)(clip, do_sample_frames=False, return_tensors="pt")
    assert batch["pixel_values"].shape[1] == 8


def test_crop_needs_a_processed_size():
    with pytest.raises(ValueError, match="needs processed_size"):
        RViTVideoProcessor(crop_mode="region", processed_size=None)
