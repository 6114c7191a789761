"""Self-supervised pretraining: `RViTForPreTraining` (masked-patch reconstruction, or contrastive learning on two
views of each clip), `ahu-pretrain` on a tiny archive, and the checkpoint starting a classifier with a new head,
locally and from the Hub emulator."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import REPO_ROOT
from safetensors.torch import load_file

from modeling_rvit import RViTConfig, RViTForPreTraining, RViTForVideoClassification
from modeling_rvit.configuration_rvit import RViTConfigError
from modeling_rvit.modeling_rvit import RViTInputError, patchify

TINY = {
    "image_size": 32,
    "patch_size": 8,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "num_frames": 4,
    "decoder_hidden_size": 32,
    "decoder_num_attention_heads": 2,
    "decoder_intermediate_size": 64,
}
TINY_FLAGS = [
    "--num_frames",
    "4",
    "--image_size",
    "32",
    "--config_overrides",
    (
        "hidden_size=32,num_hidden_layers=2,num_attention_heads=2,intermediate_size=64,"
        "decoder_hidden_size=32,decoder_num_attention_heads=2,decoder_intermediate_size=64"
    ),
]


def clips(batch_size: int = 2, num_frames: int = 4, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch_size, num_frames, 3, 32, 32, generator=generator) * 2 - 1


def test_tube_masking_masks_the_same_patches_in_every_frame_and_frame_masking_does_not():
    torch.manual_seed(0)
    tube = RViTForPreTraining(RViTConfig(**TINY, mask_ratio=0.75)).random_masking(3, 4)
    assert tube.shape == (3, 4, 16) and tube.dtype == torch.bool
    assert tube.sum(-1).eq(12).all()
    assert all(torch.equal(clip[0], frame) for clip in tube for frame in clip)
    per_frame = RViTForPreTraining(RViTConfig(**TINY, mask_type="frame")).random_masking(3, 4)
    assert per_frame.sum(-1).eq(12).all()
    assert any(not torch.equal(clip[0], frame) for clip in per_frame for frame in clip)


def test_loss_is_the_error_on_masked_patches_of_valid_frames_only():
    torch.manual_seed(0)
    model = RViTForPreTraining(RViTConfig(**TINY)).eval()
    pixel_values = clips()
    bool_masked_pos = torch.zeros(2, 16, dtype=torch.bool)
    bool_masked_pos[:, :5] = True
    frame_mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    outputs = model(pixel_values, bool_masked_pos=bool_masked_pos, frame_mask=frame_mask)
    assert outputs.logits.shape == (2, 4, 16, 8 * 8 * 3)
    assert torch.equal(outputs.bool_masked_pos, bool_masked_pos[:, None].expand(-1, 4, -1))
    target = patchify(pixel_values, 8)
    target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True).sqrt() + 1e-6)
    errors = (outputs.logits - target).pow(2).mean(-1)
    scored = outputs.bool_masked_pos & frame_mask.bool()[:, :, None]
    assert outputs.loss.item() == pytest.approx(errors[scored].mean().item(), rel=1e-5)
    # The padded frames' reconstruction is not scored: changing their pixels leaves the loss unchanged.
    changed = pixel_values.clone()
    changed[0, 2:] = 0.3
    assert model(
        changed, bool_masked_pos=bool_masked_pos, frame_mask=frame_mask
    ).loss.item() == pytest.approx(outputs.loss.item(), rel=1e-6)


def test_patchify_follows_the_patch_embedding_order():
    pixel_values = clips(1, 1)
    patches = patchify(pixel_values, 8)
    # Patch 5 is row 1, column 1 of the 4x4 grid; its first pixel is channel values at (8, 8).
    assert torch.equal(patches[0, 0, 5, :3], pixel_values[0, 0, :, 8, 8])
    assert torch.equal(patches[0, 0, 5].view(8, 8, 3).permute(2, 0, 1), pixel_values[0, 0, :, 8:16, 8:16])


def test_bad_masks_and_ratios_are_refused_with_the_expected_shape():
    model = RViTForPreTraining(RViTConfig(**TINY))
    with pytest.raises(
        RViTInputError, match=r"bool_masked_pos must have shape \(batch, num_patches\) = \(2, 16\)"
    ):
        model(clips(), bool_masked_pos=torch.zeros(2, 15, dtype=torch.bool))
    with pytest.raises(RViTConfigError, match="mask_ratio=1.0"):
        RViTConfig(**TINY, mask_ratio=1.0)
    with pytest.raises(RViTConfigError, match="mask_type='random'"):
        RViTConfig(**TINY, mask_type="random")


def test_reconstruction_of_a_fixed_batch_is_learned():
    torch.manual_seed(0)
    model = RViTForPreTraining(RViTConfig(**TINY))
    pixel_values = clips(4)
    bool_masked_pos = model.random_masking(4, 4)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(80):
        loss = model(pixel_values, bool_masked_pos=bool_masked_pos).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.85 * losses[0]


def contrastive_model(**overrides) -> RViTForPreTraining:
    torch.manual_seed(0)
    return RViTForPreTraining(RViTConfig(**TINY, pretraining_objective="contrastive", **overrides))


def test_contrastive_loss_is_infonce_between_each_view_and_its_pair():
    model = contrastive_model(contrastive_temperature=0.5).eval()
    first, second = clips(3, seed=1), clips(3, seed=2)
    frame_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0]])
    outputs = model(first, frame_mask=frame_mask, paired_pixel_values=second)

    # By hand: each view alone through the encoder, projected, normalized; the positive of view i is its pair.
    views = [
        model.rvit(clip[None], frame_mask=mask[None]).pooler_output for clip, mask in zip(first, frame_mask)
    ]
    views += [model.rvit(clip[None]).pooler_output for clip in second]
    embeddings = torch.nn.functional.normalize(model.projection(torch.cat(views)), dim=-1)
    similarities = embeddings @ embeddings.T / 0.5
    torch.testing.assert_close(
        outputs.logits[~torch.eye(6, dtype=torch.bool)], similarities[~torch.eye(6, dtype=torch.bool)]
    )
    assert torch.isinf(outputs.logits.diagonal()).all()
    expected = -torch.stack(
        [
            similarities[i, (i + 3) % 6]
            - torch.logsumexp(similarities[i].masked_fill(torch.eye(6, dtype=torch.bool)[i], -torch.inf), 0)
            for i in range(6)
        ]
    ).mean()
    torch.testing.assert_close(outputs.loss, expected)
    assert outputs.bool_masked_pos is None


def test_contrastive_pretraining_learns_to_match_the_views_of_a_fixed_batch():
    model = contrastive_model()
    pixel_values = clips(6, seed=3)
    noisy = pixel_values + 0.3 * clips(6, seed=4)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        outputs = model(pixel_values, paired_pixel_values=noisy)
        optimizer.zero_grad()
        outputs.loss.backward()
        optimizer.step()
        losses.append(outputs.loss.item())
    assert losses[-1] < 0.5 * losses[0]
    # Each view now finds its own pair among the other 11.
    assert torch.equal(outputs.logits.argmax(-1), torch.arange(12).roll(6))


def test_the_contrastive_model_has_no_decoder_and_asks_for_its_second_view():
    model = contrastive_model()
    names = {name.split(".")[0] for name, _ in model.named_parameters()}
    assert names == {"rvit", "projection"}
    with pytest.raises(RViTInputError, match="needs paired_pixel_values"):
        model(clips(2))
    with pytest.raises(RViTInputError, match="the shape of pixel_values"):
        model(clips(2), paired_pixel_values=clips(3))
    with pytest.raises(
        RViTInputError, match="paired_pixel_values is for pretraining_objective='contrastive'"
    ):
        RViTForPreTraining(RViTConfig(**TINY))(clips(2), paired_pixel_values=clips(2))
    with pytest.raises(RViTConfigError, match="pretraining_objective='simclr'"):
        RViTConfig(**TINY, pretraining_objective="simclr")
    with pytest.raises(RViTConfigError, match="contrastive_temperature=0"):
        RViTConfig(**TINY, contrastive_temperature=0)


def test_a_contrastive_checkpoint_starts_a_classifier_with_its_encoder(tmp_path):
    model = contrastive_model()
    model.save_pretrained(tmp_path)
    classifier = RViTForVideoClassification.from_pretrained(tmp_path)
    for key, value in classifier.rvit.state_dict().items():
        torch.testing.assert_close(value, model.rvit.state_dict()[key], rtol=0, atol=0, msg=key)
    assert classifier(clips(1)).logits.shape == (1, 13)


def test_the_paired_collator_gives_two_views_that_differ_and_repeat_per_seed():
    import numpy as np
    from PIL import Image

    from ahu_train.data import ClipAugmentation, resolve_layout
    from ahu_train.models import video_processor_for
    from ahu_train.pretrain import PairedClipCollator, UnlabelledClipCollator

    generator = np.random.default_rng(0)
    rows = [
        {
            "sample_id": index,
            "frames": [Image.fromarray(generator.integers(0, 255, (32, 32, 3), np.uint8)) for _ in range(10)],
        }
        for index in range(3)
    ]
    processor, layout = video_processor_for(4, 32), resolve_layout(list(rows[0]), require_label=False)
    options = {"processor": processor, "layout": layout, "training": True, "augmentation": ClipAugmentation()}
    batch = PairedClipCollator(**options)(rows)
    assert set(batch) == {"pixel_values", "frame_mask", "paired_pixel_values", "paired_frame_mask"}
    assert batch["paired_pixel_values"].shape == batch["pixel_values"].shape
    # The first view is the plain collator's clip; the second another draw, the same on every call.
    torch.testing.assert_close(batch["pixel_values"], UnlabelledClipCollator(**options)(rows)["pixel_values"])
    assert not torch.allclose(batch["pixel_values"], batch["paired_pixel_values"])
    torch.testing.assert_close(
        batch["paired_pixel_values"], PairedClipCollator(**options)(rows)["paired_pixel_values"]
    )


def test_auto_model_for_pretraining_builds_rvit():
    from transformers import AutoModelForPreTraining

    model = AutoModelForPreTraining.from_config(RViTConfig(**TINY))
    assert type(model) is RViTForPreTraining


# ---------------------------------------------------------------------------------------------------------------
# ahu-pretrain on the default sample archive.


def pretrain_flags(output_dir: Path, sample_archive: Path, data_cache: str, *extra: str) -> list[str]:
    return [
        "--data_dir",
        str(sample_archive),
        "--cache_dir",
        data_cache,
        "--output_dir",
        str(output_dir),
        *TINY_FLAGS,
        "--per_device_train_batch_size",
        "4",
        "--learning_rate",
        "3e-3",
        "--logging_steps",
        "1",
        "--use_cpu",
        "--report_to",
        "none",
        "--save_strategy",
        "no",
        "--disable_tqdm",
        "true",
        "--pre_resize",
        "--seed",
        "0",
        *extra,
    ]


@pytest.fixture(scope="module")
def data_cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("hf_datasets_cache"))


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, sample_archive, data_cache) -> Path:
    """`ahu-pretrain` for 40 steps on the sample archive's training split (the command's `run`, in process)."""
    from ahu_train.cli.pretrain_rvit import run

    output_dir = tmp_path_factory.mktemp("pretrain") / "rvit-pretrained"
    run(pretrain_flags(output_dir, sample_archive, data_cache, "--max_steps", "40"))
    return output_dir


@pytest.mark.slow  # 40 pretraining steps of a tiny RViT (~30 s on a loaded machine)
def test_pretraining_loss_falls_on_a_tiny_archive(pretrained):
    state = json.loads((pretrained / "trainer_state.json").read_text())
    losses = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    assert len(losses) == 40
    assert sum(losses[-5:]) / 5 < 0.95 * sum(losses[:5]) / 5


@pytest.mark.slow
def test_the_test_and_validation_splits_are_held_out(pretrained, sample_archive, data_cache):
    from ahu_train.data import load_ahu_dataset
    from ahu_train.pretrain import pretraining_splits

    record = json.loads((pretrained / "pretraining_data.json").read_text())
    dataset = load_ahu_dataset(data_dir=sample_archive, cache_dir=data_cache)
    assert record["splits"] == ["train"]
    assert sorted(record["sample_ids"]) == sorted(dataset["train"]["sample_id"])
    assert not set(record["sample_ids"]) & set(dataset["test"]["sample_id"])
    assert "The test split's clips were not used." in (pretrained / "README.md").read_text()
    assert pretraining_splits(["train", "validation", "test"], False, True) == ["train", "test"]
    assert pretraining_splits(["train", "validation", "test"], True, False) == ["train", "validation"]


def test_a_dataset_with_only_held_out_splits_is_refused():
    from ahu_train.data import TrainingDataError
    from ahu_train.pretrain import pretraining_splits

    with pytest.raises(TrainingDataError, match="add --include_validation or --include_test"):
        pretraining_splits(["test"], False, False)


def test_ahu_pretrain_defaults_are_the_measured_recipe_and_options_win():
    from ahu_train.cli.pretrain_rvit import parse_args

    model_args, _, training_args = parse_args(["--data_dir", "archive", "--output_dir", "x"])
    assert model_args.config_preset == "scratch"  # the conv-stem RViT that ahu-train starts a new model from
    assert training_args.learning_rate == 1e-3 and training_args.weight_decay == 0.05
    assert training_args.lr_scheduler_type == "cosine" and training_args.warmup_steps == 0.05
    assert training_args.per_device_train_batch_size == 16 and training_args.max_grad_norm == 1.0
    model_args, _, training_args = parse_args(
        ["--data_dir", "archive", "--output_dir", "x", "--learning_rate", "3e-4", "--config_preset", "ahu"]
    )
    assert training_args.learning_rate == 3e-4 and model_args.config_preset == "ahu"


@pytest.mark.slow  # 10 contrastive steps of the tiny model
def test_ahu_pretrain_contrastive_writes_a_portable_checkpoint_that_starts_a_classifier(
    sample_archive, data_cache, tmp_path
):
    from ahu_train.cli.pretrain_rvit import run

    output_dir = tmp_path / "rvit-contrastive"
    run(
        pretrain_flags(
            output_dir, sample_archive, data_cache, "--objective", "contrastive", "--max_steps", "10"
        )
    )
    saved = load_file(output_dir / "model.safetensors")
    assert any(key.startswith("projection.") for key in saved)
    assert not any(key.startswith(("decoder.", "mask_token")) for key in saved)
    assert json.loads((output_dir / "config.json").read_text())["pretraining_objective"] == "contrastive"
    losses = [
        entry["loss"]
        for entry in json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
        if "loss" in entry
    ]
    assert len(losses) == 10 and all(0 < loss < 10 for loss in losses)
    card = (output_dir / "README.md").read_text()
    assert "contrastive learning on two views of each clip" in card and "InfoNCE" in card
    # Pushed, both ways of fine-tuning it name the Hub repo.
    from modeling_rvit.hub_card import card_with_repo_id

    pushed = card_with_repo_id(card, "user/rvit-ssl")
    assert (
        "ahu-train --model_name_or_path user/rvit-ssl " in pushed and 'model_id = "user/rvit-ssl"' in pushed
    )
    assert "rvit-contrastive" not in pushed.split("# rvit-contrastive", 1)[1]
    # The card and the data record name no folder of this machine (the checkpoint is meant to be pushed).
    for name in ("README.md", "pretraining_data.json", "config.json"):
        assert str(tmp_path) not in (output_dir / name).read_text(), name
    assert (
        json.loads((output_dir / "pretraining_data.json").read_text())["data_dir"]
        == Path(sample_archive).name
    )
    classifier = RViTForVideoClassification.from_pretrained(output_dir)
    torch.testing.assert_close(
        classifier.rvit.embeddings.position_embeddings,
        saved["rvit.embeddings.position_embeddings"],
        rtol=0,
        atol=0,
    )


@pytest.mark.slow
def test_pretrained_checkpoint_starts_a_classifier_with_the_encoder_and_a_new_head(pretrained):
    saved = load_file(pretrained / "model.safetensors")
    assert not any(key.startswith("classifier.") for key in saved)
    config = json.loads((pretrained / "config.json").read_text())
    assert config["architectures"] == ["RViTForPreTraining"]
    assert config["auto_map"]["AutoModelForPreTraining"] == "modeling_rvit.RViTForPreTraining"
    assert config["auto_map"]["AutoModelForVideoClassification"] == "modeling_rvit.RViTForVideoClassification"

    classifier = RViTForVideoClassification.from_pretrained(pretrained)
    encoder = {key.removeprefix("rvit."): value for key, value in saved.items() if key.startswith("rvit.")}
    assert encoder.keys() == classifier.rvit.state_dict().keys()
    for key, value in classifier.rvit.state_dict().items():
        torch.testing.assert_close(value, encoder[key], rtol=0, atol=0, msg=key)
    assert classifier.config.num_labels == 13
    outputs = classifier(clips(1))
    assert outputs.logits.shape == (1, 13) and torch.isfinite(outputs.logits).all()


@pytest.mark.slow  # two fine-tuning steps of the tiny model
def test_ahu_train_fine_tunes_the_pretrained_checkpoint_without_do_train(
    pretrained, sample_archive, data_cache, tmp_path
):
    from ahu_train.cli.train_rvit import run

    output_dir = tmp_path / "finetuned"
    run(
        [
            "--model_name_or_path",
            str(pretrained),
            "--data_dir",
            str(sample_archive),
            "--cache_dir",
            data_cache,
            "--output_dir",
            str(output_dir),
            "--max_steps",
            "2",
            "--per_device_train_batch_size",
            "4",
            "--use_cpu",
            "--report_to",
            "none",
            "--save_strategy",
            "no",
            "--disable_tqdm",
            "true",
        ]
    )
    state = json.loads((output_dir / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    config = json.loads((output_dir / "config.json").read_text())
    assert config["architectures"] == ["RViTForVideoClassification"]
    finetuned = load_file(output_dir / "model.safetensors")
    assert any(key.startswith("classifier.") for key in finetuned)


PULL_CHILD = textwrap.dedent(
    """
    import importlib.util, json, sys

    repo_root, repo_id, out = sys.argv[1:4]
    sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
    sys.path[:] = [
        p for p in sys.path
        if "__editable__" not in p and (not p.startswith(repo_root) or p.startswith(sys.prefix))
    ]
    assert importlib.util.find_spec("modeling_rvit") is None, "modeling_rvit is importable in the child"

    from safetensors.torch import save_file
    from transformers import AutoModelForPreTraining, AutoModelForVideoClassification

    classifier = AutoModelForVideoClassification.from_pretrained(repo_id, trust_remote_code=True)
    pretraining = AutoModelForPreTraining.from_pretrained(repo_id, trust_remote_code=True)
    save_file({k: v.contiguous() for k, v in classifier.state_dict().items()}, out)
    print(json.dumps({
        "classifier": type(classifier).__name__,
        "classifier_module": type(classifier).__module__,
        "pretraining": type(pretraining).__name__,
    }))
    """
)


@pytest.mark.slow  # a pretraining process and a pulling process against the Hub emulator
def test_push_to_hub_then_remote_code_classifier_holds_the_pretrained_encoder(
    tmp_path, sample_archive, data_cache
):
    from tests.hub_emulator import EMULATOR_USER, hub_env, running_hub

    repo_id = f"{EMULATOR_USER}/rvit-ahu-pretrained-tiny"
    output_dir = tmp_path / "run"
    with running_hub(tmp_path / "hub") as endpoint:
        push = subprocess.run(
            [
                sys.executable,
                str(REPO_ROOT / "scripts" / "pretrain_rvit.py"),
                *pretrain_flags(
                    output_dir,
                    sample_archive,
                    data_cache,
                    "--max_steps",
                    "2",
                    "--push_to_hub",
                    "--hub_model_id",
                    repo_id,
                ),
            ],
            check=False,
            env=hub_env(endpoint, tmp_path / "hf_home_push"),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert push.returncode == 0, push.stderr[-4000:]
        assert f"pushed to {repo_id}" in push.stdout
        workdir = tmp_path / "child"
        workdir.mkdir()
        child_env = {
            **hub_env(endpoint, tmp_path / "hf_home_pull"),
            "HF_MODULES_CACHE": str(workdir / "modules"),
        }
        child_env.pop("PYTHONPATH", None)
        pulled_weights = workdir / "classifier.safetensors"
        pull = subprocess.run(
            [sys.executable, "-I", "-c", PULL_CHILD, str(REPO_ROOT), repo_id, str(pulled_weights)],
            check=False,
            cwd=workdir,
            env=child_env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert pull.returncode == 0, pull.stderr[-4000:]
    pulled = json.loads(pull.stdout.strip().splitlines()[-1])
    assert (
        pulled["classifier"] == "RViTForVideoClassification" and pulled["pretraining"] == "RViTForPreTraining"
    )
    assert pulled["classifier_module"].startswith("transformers_modules.")
    classifier = load_file(pulled_weights)
    saved = load_file(output_dir / "model.safetensors")
    encoder_keys = [key for key in saved if key.startswith("rvit.")]
    assert encoder_keys and sorted(encoder_keys) == sorted(
        key for key in classifier if key.startswith("rvit.")
    )
    for key in encoder_keys:
        torch.testing.assert_close(classifier[key], saved[key], rtol=0, atol=0, msg=key)
    assert any(key.startswith("classifier.") for key in classifier)
