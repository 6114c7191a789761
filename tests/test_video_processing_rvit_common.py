"""RViTVideoProcessor under transformers' own common video-processor tests (`VideoProcessingTestMixin` from the
installed transformers version's source distribution, see tests/transformers_common_tests.py), with a tester as
transformers' video models have (e.g. ViViT's)."""

from __future__ import annotations

import unittest

from transformers_common_tests import import_common_module

from modeling_rvit import RViTVideoProcessor

video_processing_common = import_common_module("test_video_processing_common")
VideoProcessingTestMixin = video_processing_common.VideoProcessingTestMixin
prepare_video_inputs = video_processing_common.prepare_video_inputs


class RViTVideoProcessingTester:
    def __init__(
        self,
        parent,
        batch_size=3,
        num_frames=8,
        num_channels=3,
        min_resolution=30,
        max_resolution=60,
        size=None,
        image_mean=(0.5, 0.5, 0.5),
        image_std=(0.5, 0.5, 0.5),
    ):
        self.parent = parent
        self.batch_size = batch_size
        self.num_frames = num_frames
        self.num_channels = num_channels
        self.min_resolution = min_resolution
        self.max_resolution = max_resolution
        self.size = size if size is not None else {"height": 18, "width": 18}
        self.image_mean = list(image_mean)
        self.image_std = list(image_std)

    def prepare_video_processor_dict(self):
        return {
            "do_resize": True,
            "size": self.size,
            "do_normalize": True,
            "image_mean": self.image_mean,
            "image_std": self.image_std,
            "num_frames": self.num_frames,
            # The noise detector (DBSCAN per clip) has its own tests in test_video_processing_rvit.py; off here, it
            # keeps these tests fast.
            "do_remove_noise": False,
        }

    def expected_output_video_shape(self, videos):
        # Every clip comes out as a window of `num_frames` frames (padded by repeating its last frame).
        return self.num_frames, self.num_channels, self.size["height"], self.size["width"]

    def prepare_video_inputs(self, equal_resolution=False, return_tensors="pil"):
        return prepare_video_inputs(
            batch_size=self.batch_size,
            num_frames=self.num_frames,
            num_channels=self.num_channels,
            min_resolution=self.min_resolution,
            max_resolution=self.max_resolution,
            equal_resolution=equal_resolution,
            return_tensors=return_tensors,
        )


class RViTVideoProcessingTest(VideoProcessingTestMixin, unittest.TestCase):
    fast_video_processing_class = RViTVideoProcessor
    input_name = "pixel_values"

    def setUp(self):
        super().setUp()
        self.video_processor_tester = RViTVideoProcessingTester(self)

    @property
    def video_processor_dict(self):
        return self.video_processor_tester.prepare_video_processor_dict()

    def test_video_processor_from_dict_with_kwargs(self):
        # RViT resizes to a fixed height and width and does not crop: `size` is the one dict a kwarg can replace.
        video_processor = self.fast_video_processing_class.from_dict(self.video_processor_dict)
        self.assertEqual(video_processor.size, {"height": 18, "width": 18})
        video_processor = self.fast_video_processing_class.from_dict(self.video_processor_dict, size=42)
        self.assertEqual(video_processor.size, {"height": 42, "width": 42})

    @unittest.skip(
        reason="RViT pads a clip shorter than num_frames by repeating its last frame (the AHU paper's protocol) "
        "where this test expects an error; test_sampling_pads_short_clips covers sampling instead"
    )
    def test_call_sample_frames(self):
        pass

    def test_sampling_pads_short_clips(self):
        from transformers.video_utils import VideoMetadata

        processor = self.fast_video_processing_class(**self.video_processor_dict)
        videos = self.video_processor_tester.prepare_video_inputs(return_tensors="torch")  # 8 frames each
        unsampled = processor(videos, return_tensors="pt", do_sample_frames=False, num_frames=3)
        self.assertEqual(unsampled[self.input_name].shape[1], 8)
        self.assertEqual(processor(videos, return_tensors="pt", num_frames=3)[self.input_name].shape[1], 3)
        for metadata in (
            {"duration": 2.0, "total_num_frames": 8, "fps": 4},
            VideoMetadata(duration=2.0, total_num_frames=8, fps=4),
        ):
            nested = [[metadata]] * len(videos)
            by_fps = processor(videos, return_tensors="pt", fps=3, video_metadata=nested)[self.input_name]
            self.assertEqual(by_fps.shape[1], 6)
        padded = processor(videos, return_tensors="pt", num_frames=10, return_frame_mask=True)
        self.assertEqual(padded[self.input_name].shape[1], 10)
        self.assertTrue(bool((padded["frame_mask"][:, -1] == 0).all()))
