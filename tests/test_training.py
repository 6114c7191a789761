"""ahu_train losses, data collation and training runs (tiny model, default sample archive)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from child_process import HIDE_PROJECT
from conftest import REPO_ROOT

from ahu_train.losses import (
    balanced_sample_weights,
    class_weights_from_counts,
    compute_classification_loss,
    paper_top3_loss,
    rank_weighted_cross_entropy,
    rank_weights_of_labels,
)
from hf_loader.constants import ALL_LABELS_COLUMN, LABEL_COLUMN


def test_rank_weights_follow_true_label_rank_among_top3():
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0]]).repeat(4, 1)
    weights = rank_weights_of_labels(logits, torch.tensor([0, 1, 2, 3]))
    assert weights.tolist() == pytest.approx([1.0, 0.7, 0.5, 1.0])  # rank 4 is outside the top 3


def test_rank_weighted_cross_entropy_scales_each_sample():
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0]]).repeat(3, 1)
    labels = torch.tensor([0, 1, 2])
    plain = F.cross_entropy(logits, labels, reduction="none")
    expected = (plain * torch.tensor([1.0, 0.7, 0.5])).mean()
    assert rank_weighted_cross_entropy(logits, labels).item() == pytest.approx(expected.item())
    class_weights = torch.tensor([2.0, 1.0, 1.0, 1.0])
    weighted = rank_weighted_cross_entropy(logits, labels, class_weights=class_weights)
    expected = (plain * torch.tensor([2.0, 0.7, 0.5])).mean()
    assert weighted.item() == pytest.approx(expected.item())


def test_paper_top3_loss_ignores_samples_outside_top3_when_one_is_inside():
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0], [4.0, 3.0, 2.0, 1.0]], requires_grad=True)
    loss = paper_top3_loss(logits, torch.tensor([1, 3]))
    log_probs = F.log_softmax(logits, -1)
    assert loss.item() == pytest.approx((-(0.7 * log_probs[0, 1]) / 2).item())
    loss.backward()
    assert torch.all(logits.grad[1] == 0)  # the upstream quirk: no gradient for the miss
    none_inside = paper_top3_loss(torch.tensor([[4.0, 3.0, 2.0, 1.0]]), torch.tensor([3]))
    assert none_inside.item() == pytest.approx(
        F.cross_entropy(torch.tensor([[4.0, 3.0, 2.0, 1.0]]), torch.tensor([3])).item()
    )


def test_loss_dispatch_label_smoothing_and_multi_label():
    logits = torch.randn(5, 13, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 3, 9, 12, 1])
    smoothed = compute_classification_loss(logits, labels, "cross_entropy", label_smoothing=0.1)
    assert smoothed.item() == pytest.approx(F.cross_entropy(logits, labels, label_smoothing=0.1).item())
    multi_hot = F.one_hot(labels, 13).float()
    multi = compute_classification_loss(logits, multi_hot, "multi_label")
    assert multi.item() == pytest.approx(F.binary_cross_entropy_with_logits(logits, multi_hot).item())
    with pytest.raises(ValueError, match="unknown loss_type 'focal'"):
        compute_classification_loss(logits, labels, "focal")


def test_class_weights_favour_rare_classes_and_zero_absent_ones():
    weights = class_weights_from_counts([100, 25, 0, 4], power=0.5)
    assert weights[2] == 0
    assert weights[3] > weights[1] > weights[0]
    assert weights[[0, 1, 3]].mean().item() == pytest.approx(1.0)
    sample_weights = balanced_sample_weights([0, 0, 0, 1])
    assert sample_weights[:3].sum().item() == pytest.approx(sample_weights[3].item())


# ---------------------------------------------------------------------------------------------------------------
# Training runs on the default sample archive with a tiny RViT (hidden 32, 1 layer, 4 frames, 32 px).


TINY_MODEL = {
    "num_frames": 4,
    "image_size": 32,
    "config_overrides": "hidden_size=32,num_hidden_layers=1,num_attention_heads=2,intermediate_size=64",
}
TINY_FLAGS = [
    "--num_frames",
    "4",
    "--image_size",
    "32",
    "--config_overrides",
    TINY_MODEL["config_overrides"],
]


@pytest.fixture(scope="module")
def data_cache(tmp_path_factory) -> str:
    """One `datasets` cache for the module, so the archive is prepared once."""
    return str(tmp_path_factory.mktemp("hf_datasets_cache"))


@pytest.fixture(scope="module")
def ahu_dataset(sample_archive, data_cache):
    from ahu_train.data import load_ahu_dataset

    return load_ahu_dataset(data_dir=sample_archive, cache_dir=data_cache)


def tiny_run(output_dir, sample_archive, data_cache, **training_kwargs):
    """`run_training` of the tiny model; returns the `TrainingRunResult`."""
    from transformers import TrainingArguments

    from ahu_train.train import DataArguments, ModelArguments, run_training

    model_kwargs = {
        key: training_kwargs.pop(key)
        for key in ("loss_type", "class_weighting", "step_lr_epochs")
        if key in training_kwargs
    }
    data_kwargs = {
        key: training_kwargs.pop(key)
        for key in ("frame_mode", "multi_label", "streaming", "augment")
        if key in training_kwargs
    }
    callbacks = training_kwargs.pop("callbacks", None)
    defaults = {
        "per_device_train_batch_size": 4,
        "per_device_eval_batch_size": 8,
        "learning_rate": 1e-3,
        "use_cpu": True,
        "report_to": "none",
        "seed": 0,
        "logging_steps": 1,
        "save_strategy": "no",
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }
    args = TrainingArguments(output_dir=str(output_dir), **{**defaults, **training_kwargs})
    model_args = ModelArguments(**TINY_MODEL, **model_kwargs)
    data_args = DataArguments(data_dir=str(sample_archive), cache_dir=data_cache, **data_kwargs)
    return run_training(model_args, data_args, args, callbacks=callbacks)


def test_collator_makes_normalized_clips_with_frame_mask(ahu_dataset):
    from ahu_train.data import VideoClipCollator
    from ahu_train.train import ModelArguments, build_model_and_processor

    _, processor = build_model_and_processor(ModelArguments(**TINY_MODEL))
    rows = [ahu_dataset["train"][i] for i in range(3)]
    batch = VideoClipCollator(processor, training=False)(rows)
    assert batch["pixel_values"].shape == (3, 4, 3, 32, 32)
    assert batch["pixel_values"].min() >= -1.0 and batch["pixel_values"].max() <= 1.0
    assert batch["frame_mask"].shape == (3, 4)
    assert batch["labels"].tolist() == [row[LABEL_COLUMN] for row in rows]
    training = VideoClipCollator(processor, training=True, seed=0)
    augmented = training(rows)["pixel_values"]
    assert augmented.shape == batch["pixel_values"].shape and not torch.equal(
        augmented, batch["pixel_values"]
    )
    # Training randomness is a function of (seed, epoch, sample_id): reproducible, and new every epoch.
    assert torch.equal(training(rows)["pixel_values"], augmented)
    training.epoch = 1
    assert not torch.equal(training(rows)["pixel_values"], augmented)
    multi = VideoClipCollator(processor, multi_label=True)(rows)["labels"]
    assert multi.shape == (3, 13)
    assert all(
        multi[i, row[ALL_LABELS_COLUMN]].sum() == len(row[ALL_LABELS_COLUMN]) for i, row in enumerate(rows)
    )


def test_single_frame_mode_repeats_one_frame(ahu_dataset):
    from ahu_train.data import VideoClipCollator
    from ahu_train.train import ModelArguments, build_model_and_processor

    _, processor = build_model_and_processor(ModelArguments(**TINY_MODEL))
    rows = [ahu_dataset["train"][i] for i in range(2)]
    clips = VideoClipCollator(processor, frame_mode="single")(rows)["pixel_values"]
    for clip in clips:
        assert all(torch.equal(frame, clip[0]) for frame in clip)


def test_missing_frames_column_names_the_sample_and_the_fix(ahu_dataset):
    from ahu_train.data import TrainingDataError, VideoClipCollator
    from ahu_train.train import ModelArguments, build_model_and_processor

    _, processor = build_model_and_processor(ModelArguments(**TINY_MODEL))
    row = {"sample_id": 17, LABEL_COLUMN: 0}
    with pytest.raises(TrainingDataError, match=r"sample 17: .*remove_unused_columns=False"):
        VideoClipCollator(processor)([row])


def test_clip_starts_cover_the_whole_video():
    from PIL import Image

    from ahu_train.data import VideoClipCollator, clip_starts, iter_video_clips
    from modeling_rvit import RViTVideoProcessor

    assert clip_starts(10, 4) == [0, 4, 6]
    assert clip_starts(8, 4) == [0, 4]
    assert clip_starts(3, 4) == [0]
    # Frame i is grey level 20 * i, so each clip's frames can be read back from its pixels.
    frames = [Image.new("RGB", (8, 8), (20 * i,) * 3) for i in range(10)]
    collator = VideoClipCollator(RViTVideoProcessor(num_frames=4, size={"height": 8, "width": 8}))

    def levels(clip):
        return [round(((frame.mean() * 0.5 + 0.5) * 255).item() / 20) for frame in clip]

    clips = list(iter_video_clips([{"frames": frames, "sample_id": 1, LABEL_COLUMN: 0}], collator))
    assert [start for _, start, _, _ in clips] == [0, 4, 6]
    assert [levels(clip) for _, _, clip, _ in clips] == [[0, 1, 2, 3], [4, 5, 6, 7], [6, 7, 8, 9]]
    centred = list(iter_video_clips([{"frames": frames, "sample_id": 1}], collator, all_clips=False))
    assert [(levels(clip), start, mask.tolist()) for _, start, clip, mask in centred] == [
        ([3, 4, 5, 6], 3, [1, 1, 1, 1])
    ]
    short = list(iter_video_clips([{"frames": frames[:2], "sample_id": 2}], collator))
    assert [(levels(clip), mask.tolist()) for _, _, clip, mask in short] == [([0, 1, 1, 1], [1, 1, 0, 0])]


def test_training_run_saves_model_processor_metrics_and_reloads(tmp_path, sample_archive, data_cache):
    from transformers import AutoModelForVideoClassification, AutoVideoProcessor

    result = tiny_run(tmp_path / "run", sample_archive, data_cache, max_steps=4)
    assert {
        "eval_top1_accuracy",
        "eval_top3_accuracy",
        "eval_top5_accuracy",
        "eval_macro_f1",
        "test_top3_accuracy",
        "train_loss",
    } <= set(result.metrics)
    for name in (
        "model.safetensors",
        "config.json",
        "video_preprocessor_config.json",
        "modeling_rvit.py",
        "video_processing_rvit.py",
        "all_results.json",
        "ahu_run.json",
    ):
        assert (tmp_path / "run" / name).is_file(), name
    model = AutoModelForVideoClassification.from_pretrained(tmp_path / "run").eval()
    processor = AutoVideoProcessor.from_pretrained(tmp_path / "run")
    assert processor.num_frames == 4 and processor.size.height == 32
    clip = torch.zeros(1, 4, 3, 32, 32)
    trained = result.trainer.model.eval()
    torch.testing.assert_close(model(pixel_values=clip).logits, trained(pixel_values=clip).logits)


def test_hub_token_of_run_training_is_in_no_training_args_bin(tmp_path, sample_archive, data_cache):
    """`run_training` with `TrainingArguments(hub_token=...)`: no training_args.bin holds the token."""
    secret = "hf_PythonCallerTokenNotToBeWritten0123"
    result = tiny_run(
        tmp_path / "run",
        sample_archive,
        data_cache,
        max_steps=2,
        per_device_train_batch_size=2,
        save_strategy="steps",
        save_steps=1,
        hub_token=secret,
    )
    written = sorted((tmp_path / "run").rglob("training_args.bin"))
    assert [path.parent.name for path in written] == ["checkpoint-1", "checkpoint-2", "run"]
    for path in written:
        assert secret.encode() not in path.read_bytes(), path
        # transformers' own pickle of TrainingArguments (a test-only load of a file this test just wrote).
        saved = torch.load(path, weights_only=False)
        assert saved.hub_token is None and saved.max_steps == 2, path
    # The caller's arguments keep the token, for pushes.
    assert result.trainer.args.hub_token == secret and type(result.trainer.args.hub_token) is str
    files = [path for path in (tmp_path / "run").rglob("*") if path.is_file()]
    assert [path for path in files if secret.encode() in path.read_bytes()] == []


def test_torch_compile_run_trains_the_compiled_model_and_saves_plain_weights(
    tmp_path, sample_archive, data_cache
):
    from transformers import AutoModelForVideoClassification

    result = tiny_run(tmp_path / "run", sample_archive, data_cache, max_steps=3, torch_compile=True)
    assert isinstance(result.trainer.model_wrapped, torch._dynamo.eval_frame.OptimizedModule)
    losses = [entry["loss"] for entry in result.trainer.state.log_history if "loss" in entry]
    assert len(losses) == 3 and all(np.isfinite(losses))
    model, info = AutoModelForVideoClassification.from_pretrained(tmp_path / "run", output_loading_info=True)
    assert not any(info.values()), info  # no "_orig_mod." keys, nothing missing
    clip = torch.zeros(1, 4, 3, 32, 32)
    torch.testing.assert_close(
        model.eval()(pixel_values=clip).logits, result.trainer.model.eval()(pixel_values=clip).logits
    )


def test_loss_decreases_when_training_longer(tmp_path, sample_archive, data_cache):
    result = tiny_run(
        tmp_path / "run", sample_archive, data_cache, max_steps=12, learning_rate=3e-3, augment=False
    )
    losses = [entry["loss"] for entry in result.trainer.state.log_history if "loss" in entry]
    assert len(losses) == 12
    assert np.mean(losses[-3:]) < np.mean(losses[:3])


def test_paper_rank_weighted_loss_class_weights_and_step_lr(tmp_path, sample_archive, data_cache):
    result = tiny_run(
        tmp_path / "run",
        sample_archive,
        data_cache,
        max_steps=4,
        loss_type="rank_weighted",
        class_weighting="inverse_sqrt",
        step_lr_epochs=0.25,
    )
    trainer = result.trainer
    assert trainer.loss_type == "rank_weighted"
    assert trainer.class_weights is not None and trainer.class_weights.shape == (13,)
    scheduler = trainer.lr_scheduler
    assert isinstance(scheduler, torch.optim.lr_scheduler.StepLR)
    # 20 training rows, batch 4 -> 5 steps per epoch; a quarter epoch rounds to 1 step.
    assert scheduler.step_size == 1
    learning_rates = [
        entry["learning_rate"] for entry in trainer.state.log_history if "learning_rate" in entry
    ]
    assert learning_rates[1] == pytest.approx(learning_rates[0] * 0.8)


def test_multi_label_training_reports_map(tmp_path, sample_archive, data_cache):
    result = tiny_run(tmp_path / "run", sample_archive, data_cache, max_steps=2, multi_label=True)
    assert "eval_mAP" in result.metrics and "eval_micro_f1" in result.metrics
    assert result.trainer.model.config.problem_type == "multi_label_classification"


def test_streaming_training_needs_max_steps_and_runs(tmp_path, sample_archive, data_cache):
    from ahu_train.data import TrainingDataError

    with pytest.raises(TrainingDataError, match="give --max_steps"):
        tiny_run(tmp_path / "a", sample_archive, data_cache, num_train_epochs=1, streaming=True)
    result = tiny_run(tmp_path / "b", sample_archive, data_cache, max_steps=2, streaming=True)
    assert result.trainer.state.global_step == 2


def _weights(model) -> dict:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def test_resumed_run_ends_like_an_uninterrupted_one(tmp_path, sample_archive, data_cache):
    from transformers import TrainerCallback

    class StopAfter(TrainerCallback):
        def __init__(self, step):
            self.step = step

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step >= self.step:
                control.should_training_stop = True
            return control

    common = {"max_steps": 6, "save_strategy": "steps", "save_steps": 3, "learning_rate": 3e-3}
    full = tiny_run(tmp_path / "full", sample_archive, data_cache, **common)
    interrupted = tiny_run(
        tmp_path / "resumed", sample_archive, data_cache, callbacks=[StopAfter(3)], **common
    )
    assert interrupted.trainer.state.global_step == 3
    assert (tmp_path / "resumed" / "checkpoint-3").is_dir()
    resumed = tiny_run(
        tmp_path / "resumed",
        sample_archive,
        data_cache,
        resume_from_checkpoint=str(tmp_path / "resumed" / "checkpoint-3"),
        **common,
    )
    assert resumed.trainer.state.global_step == 6
    full_weights, resumed_weights = _weights(full.trainer.model), _weights(resumed.trainer.model)
    assert any(
        not torch.equal(resumed_weights[name], tensor)
        for name, tensor in _weights(interrupted.trainer.model).items()
    )  # steps 4-6 did change it
    for name in full_weights:
        torch.testing.assert_close(resumed_weights[name], full_weights[name], rtol=0, atol=1e-6, msg=name)
    for key in ("eval_loss", "eval_top1_accuracy", "eval_top3_accuracy", "test_loss"):
        assert resumed.metrics[key] == pytest.approx(full.metrics[key], abs=1e-6), key


def test_preset_paper_sets_the_protocol_and_flags_still_win():
    from transformers import HfArgumentParser, TrainingArguments

    from ahu_train.train import DataArguments, ModelArguments, preset_defaults

    def parse(argv):
        parser = HfArgumentParser((ModelArguments, DataArguments, TrainingArguments))
        parser.set_defaults(**preset_defaults("paper"))
        return parser.parse_args_into_dataclasses(args=argv)

    model_args, data_args, training_args = parse(["--output_dir", "x", "--preset", "paper"])
    assert (model_args.num_frames, model_args.image_size) == (36, 112)
    assert (model_args.step_lr_epochs, model_args.step_lr_gamma) == (10.0, 0.8)
    assert data_args.split_scheme == "paper"
    assert training_args.per_device_train_batch_size == 32
    assert training_args.learning_rate == 1e-4 and training_args.weight_decay == 0.0
    assert (training_args.adam_beta1, training_args.adam_beta2) == (0.9, 0.999)
    assert training_args.label_smoothing_factor == 0.1
    _, _, overridden = parse(["--output_dir", "x", "--preset", "paper", "--learning_rate", "3e-4"])
    assert overridden.learning_rate == 3e-4
    with pytest.raises(ValueError, match="choose one of"):
        preset_defaults("imagenet")


def test_compute_metrics_uses_the_evaluate_module():
    from transformers import EvalPrediction

    from ahu_train.trainer import make_compute_metrics

    logits = np.array([[5.0, 1.0, 0.0], [0.0, 1.0, 5.0], [1.0, 5.0, 0.0], [5.0, 0.0, 1.0]])
    metrics = make_compute_metrics(label_names=["Tumor", "Cyst", "Stone"])(
        EvalPrediction(predictions=logits, label_ids=np.array([0, 2, 1, 2]))
    )
    assert metrics["top1_accuracy"] == pytest.approx(0.75)
    assert metrics["top3_accuracy"] == pytest.approx(1.0)
    assert metrics["recall_Stone"] == pytest.approx(0.5)
    assert all(isinstance(value, float) for value in metrics.values())


def _train_script(output_dir, sample_archive, data_cache, *extra) -> list[str]:
    return [
        str(REPO_ROOT / "scripts" / "train_rvit.py"),
        "--data_dir",
        str(sample_archive),
        "--cache_dir",
        data_cache,
        "--output_dir",
        str(output_dir),
        *TINY_FLAGS,
        "--use_cpu",
        "--disable_tqdm",
        "true",
        "--logging_steps",
        "1",
        *extra,
    ]


@pytest.mark.slow  # two fresh Python processes import torch, transformers and datasets (~40 s on a loaded machine)
def test_two_process_ddp_run_with_torchrun(tmp_path, sample_archive, data_cache, ahu_dataset):
    import socket

    with socket.socket() as probe:  # a free port for the rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(port),
        *_train_script(
            tmp_path / "ddp",
            sample_archive,
            data_cache,
            "--max_steps",
            "2",
            "--per_device_train_batch_size",
            "2",
            "--ddp_backend",
            "gloo",
        ),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    completed = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=400)
    assert completed.returncode == 0, completed.stderr[-4000:]
    run_info = json.loads((tmp_path / "ddp" / "ahu_run.json").read_text())
    assert run_info["world_size"] == 2
    state = json.loads((tmp_path / "ddp" / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    # 2 steps x 2 processes x 2 clips per process, as a fraction of an epoch: both processes did train.
    assert state["epoch"] == pytest.approx(2 * 2 * 2 / ahu_dataset["train"].num_rows)
    assert (tmp_path / "ddp" / "model.safetensors").is_file()


PULL_CHILD = HIDE_PROJECT + textwrap.dedent(
    """
    import json, sys

    repo_root, repo_id = sys.argv[1:3]
    hide_project(repo_root)

    import torch
    from huggingface_hub import hf_hub_download
    from transformers import AutoModelForVideoClassification, AutoVideoProcessor

    model = AutoModelForVideoClassification.from_pretrained(repo_id, trust_remote_code=True).eval()
    processor = AutoVideoProcessor.from_pretrained(repo_id, trust_remote_code=True)
    clip = torch.linspace(-1, 1, 4 * 3 * 32 * 32).reshape(1, 4, 3, 32, 32)
    with torch.no_grad():
        logits = model(pixel_values=clip).logits
    card = open(hf_hub_download(repo_id, "README.md"), encoding="utf-8").read()
    print(json.dumps({"model_module": type(model).__module__, "processor_class": type(processor).__name__,
                      "num_frames": processor.num_frames, "logits": logits.tolist(), "card": card}))
    """
)


@pytest.mark.slow  # a training process and a pulling process against the Hub emulator (~60 s on a loaded machine)
def test_push_to_hub_then_pull_with_remote_code_gives_the_trained_model(tmp_path, sample_archive, data_cache):
    from transformers import AutoModelForVideoClassification

    import modeling_rvit  # noqa: F401  (the Auto classes know RViT in this process)
    from tests.hub_emulator import EMULATOR_USER, hub_env, running_hub

    repo_id = f"{EMULATOR_USER}/rvit-ahu-tiny"
    with running_hub(tmp_path / "hub") as endpoint:
        env = hub_env(endpoint, tmp_path / "hf_home_push")
        push = subprocess.run(
            [
                sys.executable,
                *_train_script(
                    tmp_path / "run",
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
            env=env,
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
        pull = subprocess.run(
            [sys.executable, "-I", "-c", PULL_CHILD, str(REPO_ROOT), repo_id],
            check=False,
            cwd=workdir,
            env=child_env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert pull.returncode == 0, pull.stderr[-4000:]
    pulled = json.loads(pull.stdout.strip().splitlines()[-1])
    assert pulled["model_module"].startswith("transformers_modules.")
    assert pulled["processor_class"] == "RViTVideoProcessor" and pulled["num_frames"] == 4
    assert "pipeline_tag: video-classification" in pulled["card"] and "## Training" in pulled["card"]
    local = AutoModelForVideoClassification.from_pretrained(tmp_path / "run").eval()
    clip = torch.linspace(-1, 1, 4 * 3 * 32 * 32).reshape(1, 4, 3, 32, 32)
    with torch.no_grad():
        expected = local(pixel_values=clip).logits
    torch.testing.assert_close(torch.tensor(pulled["logits"]), expected, rtol=0, atol=1e-5)


def test_load_ahu_dataset_needs_exactly_one_source(tmp_path):
    from ahu_train.data import TrainingDataError, load_ahu_dataset

    with pytest.raises(TrainingDataError, match="exactly one of data_dir"):
        load_ahu_dataset()
    with pytest.raises(TrainingDataError, match="exactly one of data_dir"):
        load_ahu_dataset(data_dir=tmp_path, dataset_name="user/ahu")
    with pytest.raises(TrainingDataError, match="no such folder"):
        load_ahu_dataset(data_dir=tmp_path / "missing")


def test_resize_frames_caches_frames_at_model_size(ahu_dataset):
    from ahu_train.data import resize_frames

    small = resize_frames(ahu_dataset["validation"].select(range(2)), 32)
    for original, resized in zip(ahu_dataset["validation"].select(range(2)), small):
        assert len(resized["frames"]) == len(original["frames"])
        assert {frame.size for frame in resized["frames"]} == {(32, 32)}
        assert resized[LABEL_COLUMN] == original[LABEL_COLUMN]


def test_training_benchmark_trains_both_modes_and_summarizes(sample_archive, tmp_path):
    """benchmarks/train_rvit_benchmark.py end to end at toy size: clip and single-frame runs, test metrics."""
    from benchmarks import train_rvit_benchmark as bench

    summary = bench.main(
        [
            "--out",
            str(tmp_path),
            "--archive",
            str(sample_archive),
            "--epochs",
            "1",
            "--image_size",
            "16",
            "--threads",
            str(torch.get_num_threads()),  # leave the test process's setting as it is
            "--num_resamples",
            "5",
            "--batch_size",
            "8",
        ]
    )
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["splits"] == summary["splits"] and set(written["runs"]) == set(summary["runs"])
    assert sum(summary["splits"].values()) == len(
        json.loads((sample_archive / "manifest.json").read_text())["samples"]
    )
    assert set(summary["runs"]) == {"clip", "single"}
    for run in summary["runs"].values():
        low, high = run["test/clip"]["top1_accuracy"][1:]
        assert 0.0 <= low <= high <= 1.0
        assert run["test/clip"]["n"] == summary["splits"]["test"]
        assert (tmp_path / "clip" / "eval").is_dir()


def _predictions_csv(path, rows):
    """rows: (sample_id, true_label, predicted_label, score_Vascular, score_Cyst)."""
    import csv

    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["sample_id", "true_label", "predicted_label", "score_Vascular", "score_Cyst", "score_Tumor"]
        )
        for sample_id, true, predicted, vascular, cyst in rows:
            writer.writerow([sample_id, true, predicted, vascular, cyst, 0.0])
    return path


def test_frame_mode_comparison_is_paired_and_flags_mismatched_runs(tmp_path):
    from benchmarks.compare_frame_modes import compare

    truth = ["Vascular"] * 4 + ["Cyst"] * 6 + ["Tumor"]
    # The clip run finds 2 of 4 vessels and ranks every vessel above every cyst; the control calls all cysts.
    clip = [
        (
            i,
            t,
            "Vascular" if i < 2 else ("Tumor" if t == "Tumor" else "Cyst"),
            0.9 - 0.1 * i if t == "Vascular" else 0.1,
            0.5,
        )
        for i, t in enumerate(truth)
    ]
    single = [(i, t, "Tumor" if t == "Tumor" else "Cyst", 0.2, 0.8) for i, t in enumerate(truth)]
    result = compare(
        _predictions_csv(tmp_path / "clip.csv", clip), _predictions_csv(tmp_path / "single.csv", single), 200
    )
    assert (result["videos"], result["Vascular"], result["Cyst"]) == (10, 4, 6)
    assert result["recall"] == {"clip": 0.5, "single": 0.0}
    assert result["auc"] == {"clip": 1.0, "single": 0.5}
    low, high = result["recall_difference"]["ci95"]
    assert result["recall_difference"]["value"] == 0.5 and 0.0 <= low <= 0.5 <= high <= 1.0
    with pytest.raises(ValueError, match="different samples"):
        compare(tmp_path / "clip.csv", _predictions_csv(tmp_path / "short.csv", single[:-1]))
