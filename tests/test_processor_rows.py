"""One saved RViTVideoProcessor does the right thing for every dataset row, and travels with its model (issue 19).

Each test here is one of the issue's silent cases: processed frames strided again, image sets losing their
images and their crop, a processor set up for processed frames breaking mp4 inference, a processor that does
not fit its model. Rows come from the sample archive's `processed` and `filtered` configs.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modeling_rvit import RViTConfig, RViTForVideoClassification, RViTVideoProcessor

# The processor's frames before its final resize: (T, 224, 224, 3), values 0-255, every real frame.
BEFORE_RESIZE = {"num_frames": None, "do_resize": False, "do_rescale": False, "do_normalize": False}


@pytest.fixture(scope="module")
def rows(sample_archive, tmp_path_factory) -> dict[str, dict[int, dict]]:
    """{config: {sample_id: row}} for the `processed` and `filtered` configs, every split."""
    from ahu_train.data import load_ahu_dataset

    cache = str(tmp_path_factory.mktemp("hf_datasets_cache"))
    return {
        config: {
            row["sample_id"]: row
            for split in load_ahu_dataset(
                data_dir=sample_archive, config_name=config, cache_dir=cache
            ).values()
            for row in split
        }
        for config in ("processed", "filtered")
    }


def _frames(processor, clip, **kwargs) -> np.ndarray:
    pixel_values = processor(clip, **BEFORE_RESIZE, **kwargs)["pixel_values"][0]
    return pixel_values.permute(0, 2, 3, 1).numpy().astype(np.float32)


def _tier(row) -> np.ndarray:
    return np.stack([np.asarray(frame.convert("RGB")) for frame in row["frames"]]).astype(np.float32)


def _an_image_set(rows) -> int:
    return next(sample for sample, row in rows["filtered"].items() if row["kind"] == "image_set")


def test_processed_frames_are_not_strided_again(rows):
    processor = RViTVideoProcessor()
    row = max(rows["processed"].values(), key=lambda row: len(row["frames"]))
    assert len(row["frames"]) >= 8
    batch = processor(row["frames"], return_tensors="pt")
    assert batch["frame_mask"].sum().item() == len(row["frames"])


def test_the_frame_path_leaves_processed_frames_as_they_are(rows):
    # A list of frames still gets the region crop and the noise removal (it may be frames sampled from a raw
    # video); on processed-tier frames both change nothing, so only the final resize remains.
    processor = RViTVideoProcessor()
    for row in rows["processed"].values():
        assert np.array_equal(_frames(processor, row["frames"]), _tier(row)), row["sample_id"]
    row = rows["processed"][_an_image_set(rows)]
    cleaned = processor(row["frames"], return_tensors="pt")
    resized_only = processor(
        row["frames"], crop_mode=None, processed_size=None, do_remove_noise=False, return_tensors="pt"
    )
    assert torch.equal(cleaned["pixel_values"], resized_only["pixel_values"])


def test_an_image_set_row_keeps_every_image_and_gets_the_image_set_crop(rows):
    processor = RViTVideoProcessor()
    sample = _an_image_set(rows)
    row = rows["filtered"][sample]
    assert row["video"] is None and len(row["images"]) >= 4
    frames = _frames(processor, row)
    tier = _tier(rows["processed"][sample])  # what the model trained this image set on
    assert frames.shape == tier.shape
    # The same 10 % border cut; Pillow's bicubic resize (the tier) against torch's antialiased bilinear.
    assert np.abs(frames - tier).mean() < 2.5
    # A bare list of the same images is read as frames of a video: the region crop, further from the tier.
    region_cropped = _frames(processor, row["images"])
    assert np.abs(region_cropped - tier).mean() > np.abs(frames - tier).mean()


def test_a_batch_of_rows_gives_each_row_its_own_path(rows):
    processor = RViTVideoProcessor(num_frames=12, size={"height": 32, "width": 32})
    image_set = rows["filtered"][_an_image_set(rows)]
    video = next(row for row in rows["filtered"].values() if row["kind"] == "video")
    batch = {name: [image_set[name], video[name]] for name in image_set}  # what with_transform passes
    together = processor(batch, return_tensors="pt")
    one_by_one = [processor(row, return_tensors="pt") for row in (image_set, video)]
    assert together["frame_mask"][0].sum().item() == len(image_set["images"])
    for index, single in enumerate(one_by_one):
        assert torch.equal(together["pixel_values"][index], single["pixel_values"][0])
        assert torch.equal(together["frame_mask"][index], single["frame_mask"][0])
    as_list = processor([image_set, video], return_tensors="pt")  # what a collate_fn gets
    assert torch.equal(as_list["pixel_values"], together["pixel_values"])


def test_one_default_processor_serves_processed_rows_and_an_mp4(rows, sample_archive, tmp_path):
    from ahu_train.data import VideoClipCollator, resolve_layout

    RViTVideoProcessor().save_pretrained(tmp_path)
    processor = RViTVideoProcessor.from_pretrained(tmp_path)
    sample, row = next((sample, row) for sample, row in rows["filtered"].items() if row["kind"] == "video")
    processed = rows["processed"][sample]
    assert processor(processed, return_tensors="pt")["frame_mask"].sum().item() == len(processed["frames"])
    mp4 = next((sample_archive / "filtered").glob(f"Video_{sample}_*.mp4"))
    from_file = processor(
        str(mp4), num_frames=processor.num_frames, do_sample_frames=True, return_tensors="pt"
    )
    harness = VideoClipCollator(processor, resolve_layout(list(row)), augmentation=None)([row])
    assert torch.equal(from_file["pixel_values"], harness["pixel_values"])
    cropped = _frames(processor, str(mp4))
    assert cropped.shape[1:] == (224, 224, 3) and len(cropped) < 12  # strided by 10, cropped to the region


def test_saving_a_processor_set_up_for_processed_frames_warns(tmp_path):
    # The options processed frames once needed make the pipeline read an mp4 unstrided and uncropped.
    processor = RViTVideoProcessor(frame_stride=1, crop_mode=None, processed_size=None, do_remove_noise=False)
    with pytest.warns(UserWarning, match="video path is not the paper's"):
        processor.save_pretrained(tmp_path)


def test_from_model_config_gives_the_models_clip_shape():
    config = RViTConfig(num_frames=6, image_size=48, patch_size=16, hidden_size=32, num_attention_heads=2)
    processor = RViTVideoProcessor.from_model_config(config)
    assert (processor.num_frames, processor.size.height, processor.size.width) == (6, 48, 48)
    clip = np.random.default_rng(0).integers(0, 255, (30, 64, 64, 3), dtype=np.uint8)
    assert processor(clip, return_tensors="pt")["pixel_values"].shape == (1, 6, 3, 48, 48)


def test_a_clip_of_another_length_than_the_model_takes_warns():
    config = RViTConfig(
        num_frames=6, image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64,
    )  # fmt: skip
    model = RViTForVideoClassification(config).eval()
    processor = RViTVideoProcessor(num_frames=4, size={"height": 32, "width": 32}, do_remove_noise=False)
    clip = processor(np.zeros((20, 40, 40, 3), np.uint8), return_tensors="pt")
    with pytest.warns(UserWarning, match="clips of 4 frames but was configured .*num_frames=6"):
        model(**clip)


def test_a_saved_processor_that_does_not_fit_its_model_is_refused(tmp_path):
    from ahu_train.models import load_pretrained_model

    config = RViTConfig(
        num_frames=6, image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64,
    )  # fmt: skip
    RViTForVideoClassification(config).save_pretrained(tmp_path)
    RViTVideoProcessor().save_pretrained(tmp_path)  # 36 frames of 112 px
    with pytest.raises(ValueError, match="36 frames of 112x112 px but the model takes 6 frames of 32x32"):
        load_pretrained_model(str(tmp_path))
    RViTVideoProcessor.from_model_config(config).save_pretrained(tmp_path)
    _, processor = load_pretrained_model(str(tmp_path))
    assert processor.num_frames == 6


def test_an_old_filtered_export_still_reads_image_sets_from_frames(rows):
    from ahu_train.data import VideoClipCollator, resolve_layout

    processor = RViTVideoProcessor(num_frames=8, size={"height": 32, "width": 32})
    row = rows["filtered"][_an_image_set(rows)]
    old = {("frames" if name == "images" else name): value for name, value in row.items()}
    layout = resolve_layout(list(old))
    assert layout.frames_column == "frames" and not layout.frames_are_processed
    collated = VideoClipCollator(processor, layout, augmentation=None)([old])
    assert torch.equal(collated["pixel_values"], processor(row, return_tensors="pt")["pixel_values"])
