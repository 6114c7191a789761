"""One harness for many models: each family of `ahu_train.models` trains and evaluates through `run_training` and
`evaluate_model` on the same splits, processor settings and metrics (tiny configs, default sample archive)."""

from __future__ import annotations

import json

import pytest
import torch

from ahu_train.train import DataArguments, ModelArguments, run_training

# Tiny configs of each family: 4 frames at 32 px, a few thousand parameters.
TINY_FAMILIES = {
    "rvit": "patch_size=8,hidden_size=32,num_hidden_layers=1,num_attention_heads=2,intermediate_size=64",
    "videomae": "patch_size=16,tubelet_size=2,hidden_size=32,num_hidden_layers=1,num_attention_heads=2,"
    "intermediate_size=64",
    "timesformer": "patch_size=16,hidden_size=32,num_hidden_layers=1,num_attention_heads=2,intermediate_size=64",
    "vivit": "tubelet_size=[2,16,16],hidden_size=32,num_hidden_layers=1,num_attention_heads=2,intermediate_size=64",
    "frame_pooling": "embedding_size=8,hidden_sizes=[8,16],depths=[1,1]",
}


@pytest.fixture(scope="module")
def data_cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("hf_datasets_cache"))


def train_two_steps(output_dir, sample_archive, data_cache, **model_kwargs):
    from transformers import TrainingArguments

    args = TrainingArguments(
        output_dir=str(output_dir),
        max_steps=2,
        per_device_train_batch_size=2,
        per_device_eval_batch_size=8,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        seed=0,
    )
    model_args = ModelArguments(num_frames=4, image_size=32, **model_kwargs)
    data_args = DataArguments(data_dir=str(sample_archive), cache_dir=data_cache)
    return run_training(model_args, data_args, args)


@pytest.mark.parametrize("family", list(TINY_FAMILIES))
def test_each_family_trains_two_steps_and_evaluates_through_the_harness(
    family, tmp_path, sample_archive, data_cache
):
    from transformers import AutoModelForVideoClassification, AutoVideoProcessor

    import modeling_rvit  # noqa: F401  (registers RViT and the video processor)
    from ahu_train.evaluation import evaluate_model
    from ahu_train.models import family_of

    result = train_two_steps(
        tmp_path / "run",
        sample_archive,
        data_cache,
        model_family=family,
        config_overrides=TINY_FAMILIES[family],
    )
    model = result.trainer.model
    assert family_of(model.config) == family
    assert json.loads((tmp_path / "run" / "trainer_state.json").read_text())["global_step"] == 2
    assert {"eval_top1_accuracy", "eval_macro_f1", "test_top3_accuracy", "train_loss"} <= set(result.metrics)

    # The same processor settings for every family: 4 frames, 32 px, mean = std = 0.5.
    processor = result.processor
    assert type(processor).__name__ == "RViTVideoProcessor"
    assert processor.num_frames == 4 and processor.size.height == processor.size.width == 32
    assert list(processor.image_mean) == list(processor.image_std) == [0.5, 0.5, 0.5]

    results = evaluate_model(
        model, processor, {"test": result.dataset["test"]}, tmp_path / "eval", num_resamples=20
    )
    clip = results["test/clip"]
    assert clip["n"] == result.dataset["test"].num_rows
    top1, low, high = clip["ci"]["top1_accuracy"]
    assert low <= top1 <= high
    assert (tmp_path / "eval" / "test_clip_confusion.png").is_file()

    reloaded = AutoModelForVideoClassification.from_pretrained(tmp_path / "run").eval()
    assert AutoVideoProcessor.from_pretrained(tmp_path / "run").num_frames == 4
    clip_tensor = torch.linspace(-1, 1, 4 * 3 * 32 * 32).reshape(1, 4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(
            reloaded(pixel_values=clip_tensor).logits, model.eval()(pixel_values=clip_tensor).logits
        )


def test_frame_pooling_averages_frame_logits_over_real_frames_only():
    from ahu_train.models import new_video_model

    model = new_video_model(
        "frame_pooling", 3, 32, {"embedding_size": 8, "hidden_sizes": [8], "depths": [1]}
    ).eval()
    clip = torch.randn(1, 3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        frame_logits = model.frame_model(pixel_values=clip[0]).logits
        masked = model(pixel_values=clip, frame_mask=torch.tensor([[1, 1, 0]])).logits[0]
    torch.testing.assert_close(masked, frame_logits[:2].mean(0))


def test_image_checkpoint_becomes_the_frame_classifier_of_a_new_video_model(tmp_path):
    from transformers import ResNetConfig, ResNetForImageClassification

    from ahu_train.models import load_pretrained_model

    image_model = ResNetForImageClassification(
        ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], num_labels=5)
    )
    image_model.save_pretrained(tmp_path / "resnet")
    model, processor = load_pretrained_model(
        str(tmp_path / "resnet"), "frame_pooling", num_frames=3, image_size=32
    )
    assert model.config.num_labels == 13 and model.frame_model.config.num_labels == 13
    stem = "resnet.embedder.embedder.convolution.weight"
    torch.testing.assert_close(model.frame_model.state_dict()[stem], image_model.state_dict()[stem])
    assert processor.num_frames == 3 and processor.size.height == 32


def test_checkpoint_of_another_family_is_refused_with_the_fix(tmp_path):
    from ahu_train.models import load_pretrained_model, new_video_model

    new_video_model(
        "timesformer",
        4,
        32,
        {
            "hidden_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 64,
            "patch_size": 16,
        },
    ).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="not of model family 'vivit'; leave --model_family out"):
        load_pretrained_model(str(tmp_path), "vivit")
    model, processor = load_pretrained_model(str(tmp_path))
    assert type(model).__name__ == "TimesformerForVideoClassification" and processor.num_frames == 4


def test_unknown_family_names_the_choices():
    with pytest.raises(ValueError, match="--model_family 'x3d': choose one of"):
        ModelArguments(model_family="x3d")
