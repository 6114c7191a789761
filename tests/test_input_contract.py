"""One input contract from an mp4 to a prediction (issue 11).

A tiny RViT trained on the processed tier; its saved processor turns a raw mp4 into what training saw, so the
`video-classification` pipeline on each test video gives the scores `evaluate_rvit.py --dataset_config_name
filtered` writes for it, in this process and through a Hub push loaded as remote code where this project cannot
be imported. The run's data contract keeps evaluation off its training samples, and options that cannot apply are
errors, not silently ignored.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from child_process import HIDE_PROJECT
from conftest import REPO_ROOT

from hf_loader.constants import LABEL_COLUMN

TINY_MODEL = {
    "num_frames": 4,
    "image_size": 32,
    "config_overrides": "hidden_size=32,num_hidden_layers=1,num_attention_heads=2,intermediate_size=64",
}
# The largest difference allowed between the pipeline's scores and evaluate_rvit.py's (the bound).
SCORE_TOLERANCE = 2e-4


@pytest.fixture(scope="module")
def data_cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("hf_datasets_cache"))


def train_tiny(output_dir, sample_archive, data_cache, model_kwargs=None, do_train=False, **data_kwargs):
    """A few steps of `run_training` on the sample archive; returns the `TrainingRunResult`."""
    from transformers import TrainingArguments

    from ahu_train.train import DataArguments, ModelArguments, run_training

    args = TrainingArguments(
        output_dir=str(output_dir),
        max_steps=3,
        per_device_train_batch_size=4,
        per_device_eval_batch_size=8,
        learning_rate=1e-2,
        use_cpu=True,
        report_to="none",
        seed=0,
        save_strategy="no",
        disable_tqdm=True,
        remove_unused_columns=False,
        do_train=do_train,
    )
    model_args = ModelArguments(**{**TINY_MODEL, **(model_kwargs or {})})
    data_args = DataArguments(data_dir=str(sample_archive), cache_dir=data_cache, **data_kwargs)
    return run_training(model_args, data_args, args)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, sample_archive, data_cache) -> Path:
    """A tiny RViT trained on the processed tier (the default config), saved with its processor and contract."""
    output_dir = tmp_path_factory.mktemp("tiny")
    train_tiny(output_dir, sample_archive, data_cache)
    return output_dir


def evaluate_script(*argv: str) -> dict:
    """`ahu-evaluate` (scripts/evaluate_rvit.py) in this process; returns its results."""
    from ahu_train.cli.evaluate_rvit import run

    return run(list(argv))


def read_scores(csv_path: Path) -> dict[str, dict[str, float]]:
    """{sample_id: {label: score}} from an evaluation predictions CSV."""
    with open(csv_path, encoding="utf-8") as handle:
        return {
            row["sample_id"]: {
                key[6:]: float(value) for key, value in row.items() if key.startswith("score_")
            }
            for row in csv.DictReader(handle)
        }


@pytest.fixture(scope="module")
def filtered_scores(trained, sample_archive, data_cache, tmp_path_factory) -> dict[str, dict[str, float]]:
    """What `evaluate_rvit.py --dataset_config_name filtered` writes for each test sample (the video column
    decoded on the fly, through the saved processor, in two DataLoader workers)."""
    out = tmp_path_factory.mktemp("eval_filtered")
    evaluate_script(
        "--model", str(trained), "--data_dir", str(sample_archive), "--dataset_config_name", "filtered",
        "--cache_dir", data_cache, "--out", str(out), "--no_video_level", "--num_resamples", "0",
        "--num_workers", "2",
    )  # fmt: skip
    return read_scores(out / "test_clip_predictions.csv")


def _test_videos(sample_archive: Path, scores: dict) -> dict[str, Path]:
    videos = {}
    for path in (sample_archive / "filtered").glob("Video_*.mp4"):
        sample_id = path.name.split("_")[1]
        if sample_id in scores:
            videos[sample_id] = path
    return videos


def test_pipeline_on_each_test_mp4_gives_the_filtered_evaluation_scores(
    trained, sample_archive, filtered_scores
):
    from transformers import pipeline

    import modeling_rvit  # noqa: F401  (the Auto classes know RViT in this process)

    videos = _test_videos(sample_archive, filtered_scores)
    assert len(videos) >= 3
    classify = pipeline("video-classification", model=str(trained))
    differences = []
    for sample_id, video in sorted(videos.items()):
        predicted = {item["label"]: item["score"] for item in classify(str(video), top_k=13)}
        differences += [abs(predicted[label] - score) for label, score in filtered_scores[sample_id].items()]
    assert max(differences) <= SCORE_TOLERANCE


def test_saved_processor_describes_the_raw_video_path(trained):
    saved = json.loads((trained / "video_preprocessor_config.json").read_text())
    assert saved["frame_stride"] == 10
    assert (saved["crop_mode"], saved["processed_size"], saved["do_remove_noise"]) == ("region", 224, True)
    assert (saved["num_frames"], saved["size"]) == (4, {"height": 32, "width": 32})
    assert (trained / "ultrasound_frames.py").is_file()  # the crop and noise detector ship as remote code


def test_processed_tier_and_video_column_agree_on_most_predictions(
    trained, sample_archive, data_cache, tmp_path, filtered_scores
):
    """The same model on the processed tier: our frames differ from the archive's by resampling only."""
    evaluate_script(
        "--model", str(trained), "--cache_dir", data_cache, "--out", str(tmp_path), "--no_video_level",
        "--num_resamples", "0",
    )  # fmt: skip
    processed = read_scores(tmp_path / "test_clip_predictions.csv")
    assert set(processed) == set(filtered_scores)
    gaps = [
        max(abs(processed[sample][label] - score) for label, score in filtered_scores[sample].items())
        for sample in processed
    ]
    assert np.median(gaps) < 0.05


PIPELINE_CHILD = HIDE_PROJECT + textwrap.dedent(
    """
    import json, sys

    repo_root, repo_id, videos = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    hide_project(repo_root)

    from transformers import pipeline

    classify = pipeline("video-classification", model=repo_id, trust_remote_code=True)
    scores = {sample: {p["label"]: p["score"] for p in classify(path, top_k=13)} for sample, path in videos.items()}
    print(json.dumps({"processor_module": type(classify.video_processor).__module__, "scores": scores}))
    """
)


@pytest.mark.slow  # a pushing and a pulling process against the Hub emulator
def test_pipeline_from_the_hub_as_remote_code_gives_the_same_scores(
    trained, sample_archive, filtered_scores, tmp_path
):
    from tests.hub_emulator import EMULATOR_USER, hub_env, running_hub

    repo_id = f"{EMULATOR_USER}/rvit-input-contract"
    videos = {sample: str(path) for sample, path in _test_videos(sample_archive, filtered_scores).items()}
    with running_hub(tmp_path / "hub") as endpoint:
        push = subprocess.run(
            [sys.executable, "-c", "import sys; from ahu_train.model_card import publish; publish(*sys.argv[1:3])",
             str(trained), repo_id],
            env=hub_env(endpoint, tmp_path / "hf_home_push"), capture_output=True, text=True, timeout=300,
            check=False,
        )  # fmt: skip
        assert push.returncode == 0, push.stderr[-4000:]
        workdir = tmp_path / "child"
        workdir.mkdir()
        env = {**hub_env(endpoint, tmp_path / "hf_home_pull"), "HF_MODULES_CACHE": str(workdir / "modules")}
        env.pop("PYTHONPATH", None)
        pull = subprocess.run(
            [sys.executable, "-I", "-c", PIPELINE_CHILD, str(REPO_ROOT), repo_id, json.dumps(videos)],
            cwd=workdir, env=env, capture_output=True, text=True, timeout=400, check=False,
        )  # fmt: skip
    assert pull.returncode == 0, pull.stderr[-4000:]
    result = json.loads(pull.stdout.strip().splitlines()[-1])
    assert result["processor_module"].startswith("transformers_modules.")
    differences = [
        abs(result["scores"][sample][label] - score)
        for sample in videos
        for label, score in filtered_scores[sample].items()
    ]
    assert max(differences) <= SCORE_TOLERANCE


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory, sample_archive, data_cache) -> Path:
    output_dir = tmp_path_factory.mktemp("paper")
    train_tiny(output_dir, sample_archive, data_cache, split_scheme="paper")
    return output_dir


def test_paper_split_run_is_evaluated_on_its_own_test_split(paper_run, tmp_path):
    contract = json.loads((paper_run / "data_contract.json").read_text())
    assert contract["split"]["scheme"] == "paper"
    train_ids = set(map(str, contract["sample_ids"]["train"]))
    evaluate_script("--model", str(paper_run), "--out", str(tmp_path), "--num_resamples", "0")
    scored = set(read_scores(tmp_path / "test_clip_predictions.csv"))
    assert scored == set(map(str, contract["sample_ids"]["test"]))
    assert not scored & train_ids


def test_evaluating_a_paper_run_on_the_stratified_split_is_refused(
    paper_run, sample_archive, data_cache, tmp_path
):
    from ahu_train.data_contract import TrainOverlapError

    argv = ["--model", str(paper_run), "--data_dir", str(sample_archive), "--cache_dir", data_cache,
            "--out", str(tmp_path), "--num_resamples", "0", "--no_video_level"]  # fmt: skip
    with pytest.raises(
        TrainOverlapError, match=r"split 'test' .* shares \d+ samples .*--allow_train_overlap"
    ):
        evaluate_script(*argv)
    results = evaluate_script(*argv, "--allow_train_overlap")
    assert results["test/clip"]["n"] > 0


def test_model_card_states_the_split_the_run_used(paper_run):
    from ahu_train.model_card import write_model_card

    card = write_model_card(paper_run).read_text()
    assert "paper (seed 42)" in card
    contract = json.loads((paper_run / "data_contract.json").read_text())
    assert f"train {len(contract['sample_ids']['train'])}, test {len(contract['sample_ids']['test'])}" in card


def test_training_from_the_video_column_in_dataloader_workers(tmp_path, sample_archive, data_cache):
    from transformers import TrainingArguments

    from ahu_train.train import DataArguments, ModelArguments, run_training

    args = TrainingArguments(
        output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=4, per_device_eval_batch_size=8,
        use_cpu=True, report_to="none", save_strategy="no", disable_tqdm=True, dataloader_num_workers=2,
    )  # fmt: skip
    data_args = DataArguments(
        data_dir=str(sample_archive), cache_dir=data_cache, dataset_config_name="filtered", max_eval_samples=8
    )
    result = run_training(ModelArguments(**TINY_MODEL), data_args, args)
    assert result.trainer.state.global_step == 2
    assert np.isfinite(result.metrics["eval_loss"])
    contract = json.loads((tmp_path / "data_contract.json").read_text())
    assert contract["dataset"]["config"] == "filtered"
    assert contract["columns"]["video_column"] == "video"
    assert not contract["columns"]["frames_are_processed"]  # the filtered config's frames are raw image sets


def test_collator_reads_a_label_column_and_a_video_column(sample_archive, data_cache):
    """A Hub-style video dataset: `video` and a single-label `label` column, no `sample_id`."""
    from ahu_train.data import VideoClipCollator, load_ahu_dataset, resolve_layout
    from modeling_rvit import RViTVideoProcessor

    filtered = load_ahu_dataset(data_dir=sample_archive, config_name="filtered", cache_dir=data_cache)["test"]
    videos = filtered.filter(lambda kind: kind == "video", input_columns="kind").select(range(2))
    hub_style = videos.select_columns(["video", LABEL_COLUMN])
    layout = resolve_layout(hub_style.column_names)
    assert (layout.video_column, layout.frames_column, layout.label_column) == ("video", None, "label")
    collator = VideoClipCollator(
        RViTVideoProcessor(num_frames=4, size={"height": 32, "width": 32}), layout=layout
    )
    batch = collator([hub_style[0], hub_style[1]])
    assert batch["pixel_values"].shape == (2, 4, 3, 32, 32)
    assert batch["labels"].tolist() == videos[LABEL_COLUMN]
    single = VideoClipCollator(collator.processor, layout=layout, frame_mode="single")([hub_style[0]])
    assert all(torch.equal(frame, single["pixel_values"][0, 0]) for frame in single["pixel_values"][0])


def test_a_missing_label_column_lists_the_columns():
    from ahu_train.data import TrainingDataError, resolve_layout

    with pytest.raises(
        TrainingDataError, match=r"no label column .*\['video', 'caption'\].*--label_column_name"
    ):
        resolve_layout(["video", "caption"])
    with pytest.raises(TrainingDataError, match=r"no video column 'clip'; the dataset's columns are"):
        resolve_layout(["video", "label"], video_column_name="clip")


def test_unknown_config_names_list_the_valid_ones(sample_archive, data_cache):
    from ahu_train.data import TrainingDataError, load_ahu_dataset

    with pytest.raises(
        TrainingDataError, match=r"no config 'proccessed'.*'processed', 'filtered', 'raw', 'full'"
    ):
        load_ahu_dataset(data_dir=sample_archive, config_name="proccessed", cache_dir=data_cache)


@pytest.fixture(scope="module")
def export(sample_archive, data_cache, tmp_path_factory) -> Path:
    from ahu_train.data import load_ahu_dataset
    from hf_loader.export import export_dataset_dict

    out = tmp_path_factory.mktemp("export")
    export_dataset_dict(load_ahu_dataset(data_dir=sample_archive, cache_dir=data_cache), out, "processed")
    return out


def test_an_export_refuses_a_split_scheme_and_unknown_configs(export, tmp_path):
    from ahu_train.data import TrainingDataError, load_ahu_dataset

    with pytest.raises(TrainingDataError, match=r"splits are fixed, so split_scheme cannot apply"):
        load_ahu_dataset(dataset_name=str(export), split_scheme="paper", cache_dir=str(tmp_path))
    with pytest.raises(TrainingDataError, match=r"no config 'proccessed'; its configs are \['processed'\]"):
        load_ahu_dataset(dataset_name=str(export), config_name="proccessed", cache_dir=str(tmp_path))


def test_a_run_on_an_export_records_its_fixed_splits(export, tmp_path, data_cache):
    from transformers import TrainingArguments

    from ahu_train.model_card import write_model_card
    from ahu_train.train import DataArguments, ModelArguments, run_training

    args = TrainingArguments(
        output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=4, use_cpu=True, report_to="none",
        save_strategy="no", disable_tqdm=True,
    )  # fmt: skip
    run_training(
        ModelArguments(**TINY_MODEL), DataArguments(dataset_name=str(export), max_eval_samples=4), args
    )
    contract = json.loads((tmp_path / "data_contract.json").read_text())
    assert contract["split"]["scheme"] == "fixed"
    assert contract["dataset"]["config"] == "processed"
    assert "the dataset's own splits" in write_model_card(tmp_path).read_text()


def test_pre_resize_of_a_video_dataset_is_an_error(tmp_path, sample_archive, data_cache):
    from ahu_train.data import TrainingDataError

    with pytest.raises(TrainingDataError, match=r"--pre_resize caches processed frames.*'video'"):
        train_tiny(tmp_path, sample_archive, data_cache, dataset_config_name="filtered", pre_resize=True)


def test_a_saved_model_cannot_be_reshaped_by_flags(trained, tmp_path, sample_archive, data_cache):
    with pytest.raises(ValueError, match=r"num_frames=8 \(the model has 4\).*drop these options"):
        train_tiny(
            tmp_path, sample_archive, data_cache,
            model_kwargs={"model_name_or_path": str(trained), "num_frames": 8, "config_overrides": None,
                          "image_size": None},
        )  # fmt: skip


def test_fine_tuning_a_saved_model_continues_from_its_weights(trained, tmp_path, sample_archive, data_cache):
    from safetensors.torch import load_file

    model_kwargs = {"model_name_or_path": str(trained), "num_frames": None, "image_size": None,
                    "config_overrides": None}  # fmt: skip
    result = train_tiny(tmp_path, sample_archive, data_cache, model_kwargs=model_kwargs, do_train=True)
    before = load_file(trained / "model.safetensors")
    after = result.trainer.model.state_dict()
    assert result.trainer.state.global_step == 3
    assert set(before) <= set(after)
    # Three steps move the weights a little from the saved ones, not to a fresh initialization.
    change = max((after[key].float() - value.float()).abs().max().item() for key, value in before.items())
    assert 0 < change < 0.1


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory) -> Path:
    from transformers import ViTConfig, ViTModel

    torch.manual_seed(0)
    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=64)  # fmt: skip
    folder = tmp_path_factory.mktemp("vit")
    ViTModel(config, add_pooling_layer=False).save_pretrained(folder)
    return folder


def test_init_from_vit_starts_the_frame_encoder_from_the_checkpoint(
    tiny_vit, tmp_path, sample_archive, data_cache
):
    from transformers import ViTModel

    from ahu_train.train import ModelArguments, build_model_and_processor

    model, processor = build_model_and_processor(
        ModelArguments(init_from_vit=str(tiny_vit), num_frames=4, image_size=32)
    )
    vit = ViTModel.from_pretrained(tiny_vit, add_pooling_layer=False)
    torch.testing.assert_close(
        model.rvit.embeddings.patch_embeddings.projection.weight,
        vit.embeddings.patch_embeddings.projection.weight,
    )
    assert (model.config.hidden_size, processor.num_frames) == (32, 4)
    assert model.config.num_labels == 13


def test_init_from_vit_with_a_shape_that_does_not_fit_says_so(tiny_vit):
    from ahu_train.train import ModelArguments, build_model_and_processor

    with pytest.raises(ValueError, match=rf"--init_from_vit {tiny_vit}: .*hidden_size=48.*hidden_size=32"):
        build_model_and_processor(
            ModelArguments(init_from_vit=str(tiny_vit), config_overrides="hidden_size=48")
        )
