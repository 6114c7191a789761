"""Long videos decode in bounded memory, and streams that change frame size decode (issue 20, item 4).

The processor (and so the `video-classification` pipeline) and `preprocess_sample` decode a video frame by frame:
the noise detector's features are kept per frame, only the returned window (the processor) or the kept frames
beyond a small budget (preprocessing, in a temporary file) are held. Memory is measured as the peak resident
size of a fresh process, so the tests fail when it grows with the clip.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT

from modeling_rvit import RViTVideoProcessor

HEIGHT, WIDTH = 48, 64


def scan_frame(index: int) -> np.ndarray:
    """A 64x48 frame: a textured bright region (the ultrasound image) on black, changing slowly with `index`."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    texture = 100 + 40 * np.sin(index / 25 + xx / 6) * np.cos(yy / 5 - index / 40)
    inside = (yy >= 8) & (yy < HEIGHT - 6) & (xx >= 10) & (xx < WIDTH - 10)
    return np.repeat(np.where(inside, texture, 0).astype(np.uint8)[..., None], 3, axis=2)


def title_frame() -> np.ndarray:
    """A frame with no ultrasound: white with a dark band (what the noise detector removes)."""
    frame = np.full((HEIGHT, WIDTH, 3), 250, np.uint8)
    frame[HEIGHT // 3 : HEIGHT // 2] = 20
    return frame


def write_clip(path: Path, num_frames: int, title_frames: range = range(0)) -> Path:
    """A `num_frames`-frame 64x48 H.264 mp4 of `scan_frame`s, with `title_frame`s at `title_frames`."""
    import av

    title = title_frame()
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for index in range(num_frames):
            array = title if index in title_frames else scan_frame(index)
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_size_changing_clip(path: Path) -> Path:
    """An mp4 whose H.264 stream is 64x48 for 20 frames, then 80x60 for 20 (grey level 6 * i at frame i)."""
    import av

    time_base = Fraction(1, 10)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("h264", rate=10)
        stream.width, stream.height, stream.time_base = 64, 48, time_base
        for first, (width, height) in ((0, (64, 48)), (20, (80, 60))):
            encoder = av.CodecContext.create("libx264", "w")
            encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
            encoder.time_base, encoder.framerate = time_base, Fraction(10)
            encoder.options = {"preset": "ultrafast", "crf": "0"}
            packets = []
            for index in range(first, first + 20):
                frame = av.VideoFrame.from_ndarray(
                    np.full((height, width, 3), 6 * index, np.uint8), format="rgb24"
                )
                frame.pts, frame.time_base = index - first, time_base
                packets += encoder.encode(frame)
            packets += encoder.encode(None)
            for packet in packets:
                packet.pts += first
                packet.dts += first
                packet.stream, packet.time_base = stream, time_base
                container.mux(packet)
    return path


def decoded_frames(path: Path, backend: str) -> torch.Tensor:
    """Every frame of `path` as one (T, 3, H, W) uint8 tensor, decoded as the processor's backend decodes."""
    if backend == "torchcodec":
        from torchcodec.decoders import VideoDecoder

        decoder = VideoDecoder(str(path), seek_mode="exact")
        return decoder.get_frames_at(indices=list(range(decoder.metadata.num_frames))).data
    import av

    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)


@pytest.fixture(scope="module")
def clip_with_title_cards(tmp_path_factory) -> Path:
    # 120 frames; title cards at 0-14 and 75-89: with stride 3, 10 of the 40 kept frames are noise.
    path = tmp_path_factory.mktemp("clips") / "clip.mp4"
    title_frames = set(range(15)) | set(range(75, 90))
    return write_clip(path, 120, title_frames=title_frames)


@pytest.mark.parametrize("backend", ["torchcodec", "pyav"])
@pytest.mark.parametrize("clip_window", ["center", "start", "random"])
def test_a_file_decoded_while_sampling_gives_the_clip_of_its_decoded_frames(
    clip_with_title_cards, backend, clip_window
):
    """Streaming changes nothing: the file gives what the same frames given as an array give (the array path
    crops every frame and runs the noise detector on all of them at once)."""
    processor = RViTVideoProcessor(
        decoder_backend=backend, frame_stride=3, num_frames=8, clip_window=clip_window
    )
    frames = decoded_frames(clip_with_title_cards, backend)
    torch.manual_seed(0)
    from_file = processor(str(clip_with_title_cards), return_tensors="pt")
    torch.manual_seed(0)
    from_array = processor(frames, return_tensors="pt")
    torch.testing.assert_close(from_file["pixel_values"], from_array["pixel_values"], rtol=0, atol=0)
    assert from_file["frame_mask"].tolist() == from_array["frame_mask"].tolist() == [[1] * 8]
    if clip_window == "start":
        # The title cards open the clip: noise removal must have dropped them before the window.
        with_noise = processor(str(clip_with_title_cards), do_remove_noise=False, return_tensors="pt")
        assert not torch.equal(with_noise["pixel_values"], from_file["pixel_values"])


def test_a_datasets_video_decoder_is_read_in_chunks_with_the_same_clip(clip_with_title_cards):
    import datasets

    decoder = datasets.Video().decode_example({"path": str(clip_with_title_cards), "bytes": None})
    processor = RViTVideoProcessor(decoder_backend="torchcodec", frame_stride=3, num_frames=8)
    from_decoder = processor(decoder, return_tensors="pt")
    from_file = processor(str(clip_with_title_cards), return_tensors="pt")
    assert torch.equal(from_decoder["pixel_values"], from_file["pixel_values"])


PEAK_CHILD = textwrap.dedent(
    """
    import json, sys

    def peak_mb():
        with open("/proc/self/status") as handle:
            return next(int(line.split()[1]) / 1024 for line in handle if line.startswith("VmHWM:"))

    target, short, long = sys.argv[1:4]
    if target == "processor":
        import torch
        torch.set_num_threads(1)
        from modeling_rvit import RViTVideoProcessor
        processor = RViTVideoProcessor(decoder_backend=sys.argv[4])
        run = lambda path: processor(path, return_tensors="pt")
    else:
        from hf_loader.preprocess import preprocess_sample
        run = preprocess_sample
    run(short)
    after_short = peak_mb()
    run(long)
    print(json.dumps({"after_short": after_short, "after_long": peak_mb()}))
    """
)


def peak_growth(target: str, short: Path, long: Path, *extra: str) -> float:
    """MB the process's peak resident memory grows by when it decodes `long` after `short`."""
    result = subprocess.run(
        [sys.executable, "-c", PEAK_CHILD, target, str(short), str(long), *extra],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
    )
    peaks = json.loads(result.stdout.strip().splitlines()[-1])
    return peaks["after_long"] - peaks["after_short"]


@pytest.fixture(scope="module")
def short_and_long_clips(tmp_path_factory) -> tuple[Path, Path]:
    """300 and 4,000 frames at 64x48 (named as filtered-tier videos, so `preprocess_sample` takes them)."""
    folder = tmp_path_factory.mktemp("lengths")
    return (
        write_clip(folder / "Video_1_Cyst.mp4", 300, title_frames=range(100, 130)),
        write_clip(folder / "Video_2_Cyst.mp4", 4000, title_frames=range(1900, 2000)),
    )


@pytest.mark.parametrize("backend", ["torchcodec", "pyav"])
def test_processor_memory_does_not_grow_with_the_clip(short_and_long_clips, backend):
    # Holding the 400 kept frames of the long clip would take 400 x 224 x 224 x 3 bytes = 60 MB as uint8 and
    # several times that as the float copies the resizing makes (about 860 MB of growth before this change).
    assert peak_growth("processor", *short_and_long_clips, backend) < 60


def test_preprocess_sample_memory_does_not_grow_with_the_clip(short_and_long_clips):
    # The long clip's 400 kept frames are 60 MB; beyond 16 MB they go to a temporary file (about 120 MB of
    # growth before this change: every frame held twice, the (N, N) distances, the pending decoder frames).
    assert peak_growth("preprocess_sample", *short_and_long_clips) < 40


def test_frames_beyond_the_memory_budget_are_the_same_frames(short_and_long_clips):
    from hf_loader.video_frames import extract_video_frames
    from modeling_rvit.ultrasound_frames import NoiseSettings, detect_noise, noise_from_features

    short, _ = short_and_long_clips
    in_memory = extract_video_frames(short, noise=NoiseSettings())
    spilled = extract_video_frames(short, noise=NoiseSettings(), memory_limit_bytes=0)
    assert isinstance(spilled.frames, np.memmap) and not isinstance(in_memory.frames, np.memmap)
    assert np.array_equal(in_memory.frames, spilled.frames)
    assert np.array_equal(in_memory.noise_features, spilled.noise_features)
    noise = noise_from_features(spilled.noise_features)
    assert noise.any() and np.array_equal(noise, detect_noise(in_memory.frames))


def test_noise_from_many_feature_rows_matches_the_whole_distance_matrix():
    from modeling_rvit.ultrasound_frames import NoiseSettings, dbscan, noise_from_features

    rng = np.random.default_rng(3)
    centres = rng.uniform(0, 1, (2, 48))
    features = np.concatenate(
        [centres[0] + rng.normal(0, 0.05, (700, 48)), centres[1] + rng.normal(0, 0.3, (300, 48))]
    )
    settings = NoiseSettings(eps=1.0)
    distances = np.sqrt(((features[:, None] - features[None]) ** 2).sum(-1))
    labels = dbscan(distances, settings.eps, len(features) // 2)
    values, counts = np.unique(labels, return_counts=True)
    expected = labels != values[np.argmax(counts)]
    assert 0 < expected.sum() < len(features)
    assert np.array_equal(noise_from_features(features, settings), expected)


@pytest.mark.parametrize("backend", ["torchcodec", "pyav"])
def test_a_stream_that_changes_size_midway_decodes(tmp_path, backend):
    video = write_size_changing_clip(tmp_path / "resized.mp4")
    processor = RViTVideoProcessor(
        decoder_backend=backend, frame_stride=4, num_frames=10, do_remove_noise=False
    )
    batch = processor(str(video), return_tensors="pt")
    levels = [
        round(float(level)) for level in (batch["pixel_values"][0].mean(dim=(1, 2, 3)) * 0.5 + 0.5) * 255
    ]
    # Frames 0, 4, ..., 36 of both sizes, each cropped and resized on its own.
    assert [round(level / 6) for level in levels] == list(range(0, 40, 4))
    assert batch["frame_mask"].tolist() == [[1] * 10]


def test_a_stream_that_changes_size_midway_goes_through_the_pipeline(tmp_path):
    from transformers import pipeline

    from modeling_rvit import RViTConfig, RViTForVideoClassification

    video = write_size_changing_clip(tmp_path / "resized.mp4")
    config = RViTConfig(
        num_frames=4,
        image_size=32,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        id2label={0: "Cyst", 1: "Stone"},
        label2id={"Cyst": 0, "Stone": 1},
    )
    folder = tmp_path / "model"
    RViTForVideoClassification(config).save_pretrained(folder)
    RViTVideoProcessor(num_frames=4, size={"height": 32, "width": 32}).save_pretrained(folder)
    predictions = pipeline("video-classification", model=str(folder))(str(video), top_k=2)
    assert sorted(prediction["label"] for prediction in predictions) == ["Cyst", "Stone"]
    assert abs(sum(prediction["score"] for prediction in predictions) - 1) < 1e-5
