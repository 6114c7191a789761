"""The model card (README.md) of a trained model, written from its config and measured results; publishing.

`write_model_card(output_dir, results=...)` renders the card into the model folder; `publish(output_dir,
repo_id)` uploads weights, config, processor, remote code and card in one commit (`hf_loader.hub.push_folder`).

Every way the harness pushes keeps this card: `publish` (`ahu-train --push_to_hub`),
`AHUTrainer.push_to_hub` (`update_model_card`), and a plain `model.push_to_hub` of an RViT or frame-pooling
model loaded from the folder (`modeling_rvit.hub_card`). transformers' own classes (VideoMAE, TimeSformer,
ViViT) write transformers' card on a plain `model.push_to_hub` to a new repo: publish those with `publish` or
the trainer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from hf_loader.constants import DATASET_DOI, PAPER_CITATION, PAPER_DOI
from modeling_rvit.hub_card import MODEL_ID_LINE, card_with_repo_id

from .data_contract import contract_summary, read_data_contract
from .evaluation import HEADLINE_METRICS, metrics_table

# Files of a model folder that a Hub repo needs; checkpoints and run logs stay local.
PUBLISH_IGNORE = [
    "checkpoint-*",
    "checkpoint-*/**",
    "runs/**",
    "*.pt",
    "*.pth",
    "training_args.bin",
    "trainer_state.json",
    "*_results.json",
]

_CITATION = f"""```bibtex
{PAPER_CITATION}@inproceedings{{yang2022rvit,
  title     = {{Recurring the Transformer for Video Action Recognition}},
  author    = {{Yang, Jiewen and Dong, Xingbo and Liu, Liujun and Zhang, Chao and Shen, Jiajun and Yu, Dahai}},
  booktitle = {{CVPR}}, year = {{2022}}
}}
```"""


# The Hub's model-index metric of each headline metric: (evaluate metric type, display name).
HUB_METRICS = {
    "top1_accuracy": ("accuracy", "Top-1 accuracy"),
    "top3_accuracy": ("accuracy", "Top-3 accuracy"),
    "top5_accuracy": ("accuracy", "Top-5 accuracy"),
    "macro_f1": ("f1", "Macro-F1"),
}
DEFAULT_DATASET_TYPE = "ahu-ultrasound"


def _is_hub_id(name: str | None) -> bool:
    """Whether `name` reads as a Hub repo id ("user/name" or "name") rather than a local path."""
    return bool(name) and not Path(name).exists() and re.fullmatch(r"[\w.-]+(/[\w.-]+)?", name) is not None


def _eval_results(
    results: dict, dataset_name: str, dataset_id: str | None, dataset_config: str | None
) -> list:
    """One `EvalResult` per evaluated split/setting and headline metric, in the Hub's metric vocabulary."""
    from huggingface_hub import EvalResult

    evals = []
    for setting, values in results.items():
        split, _, level = setting.partition("/")
        for metric, (metric_type, display_name) in HUB_METRICS.items():
            if metric not in values:
                continue
            evals.append(
                EvalResult(
                    task_type="video-classification",
                    task_name="Video classification",
                    dataset_type=dataset_id or DEFAULT_DATASET_TYPE,
                    dataset_name=dataset_name,
                    dataset_config=dataset_config,
                    dataset_split=split,
                    metric_type=metric_type,
                    metric_name=f"{display_name} ({split}, {level or 'clip'} level)",
                    metric_value=round(float(values[metric]), 4),
                    metric_args={"average": "macro"} if metric_type == "f1" else {"k": int(metric[3])},
                )
            )
    return evals


def _architecture(config) -> str:
    """One line describing the model of `config`, whatever its family."""
    from .models import FramePoolingConfig, clip_shape_of

    num_frames, image_size = clip_shape_of(config)
    clip = f"{num_frames} frames per clip at {image_size}×{image_size} px"
    if isinstance(config, FramePoolingConfig):
        image = config.image_config
        return (
            f"per-frame {image.model_type} image classifier ({type(image).__name__}), frame logits averaged over "
            f"the clip's real frames; {clip}"
        )
    parts = [f"{config.model_type}"]
    for field_name, label in (
        ("num_hidden_layers", "layer(s)"),
        ("hidden_size", "hidden size"),
        ("num_attention_heads", "heads"),
        ("intermediate_size", "MLP"),
        ("patch_size", "patch"),
        ("tubelet_size", "tubelet"),
        ("attention_type", "attention"),
    ):
        value = getattr(config, field_name, None)
        if value is not None:
            parts.append(f"{label} {value}" if label != "layer(s)" else f"{value} {label}")
    return ", ".join(parts) + f"; {clip}"


def render_model_card(
    config,
    results: dict | None = None,
    model_name: str = "rvit-ahu",
    dataset_name: str = "AHU ultrasound",
    training_summary: dict | None = None,
    notes: str = "",
    model_id: str | None = None,
    dataset_id: str | None = None,
    dataset_config: str | None = None,
    base_model: str | None = None,
) -> str:
    """The card's Markdown text (with YAML metadata) for a model of `config` and its measured `results`.

    Args:
        config: the model's config (RViT or any family of `ahu_train.models`).
        results: {"<split>/<clip|video>": {metric: value, "n": count, "ci": {metric: (v, lo, hi)}}}, as
            returned by `ahu_train.evaluation.evaluate_model`; None when not evaluated.
        training_summary: key facts of the run (data source, split scheme, epochs, steps, loss, ...).
        notes: free text appended under "Limitations".
        model_id: what the usage snippet loads (a Hub repo id, or the local folder); default `model_name`.
        dataset_id: the Hub dataset repo trained on (YAML `datasets` and the model-index dataset type).
        dataset_config: its config name (e.g. `processed`).
        base_model: the Hub checkpoint training started from (YAML `base_model`).
    """
    from huggingface_hub import ModelCardData

    results = results or {}
    label_names = [config.id2label[i] for i in range(config.num_labels)]
    table = ""
    if results:
        rows = {
            name: {
                "n": value.get("n", ""),
                **{m: value.get("ci", {}).get(m, value.get(m)) for m in HEADLINE_METRICS},
            }
            for name, value in results.items()
        }
        table = metrics_table(rows)
    summary_lines = "\n".join(f"- **{key}**: {value}" for key, value in (training_summary or {}).items())
    is_rvit = config.model_type == "rvit"
    tags = ["video-classification", "ultrasound", "medical", config.model_type]
    if is_rvit:
        tags.append("custom_code")
    card_data = ModelCardData(
        library_name="transformers",
        pipeline_tag="video-classification",
        license="mit",
        tags=tags,
        datasets=[dataset_id] if dataset_id else None,
        base_model=base_model,
        metrics=["accuracy", "f1"],
        model_name=model_name,
        eval_results=_eval_results(results, dataset_name, dataset_id, dataset_config) or None,
    )
    remote_code = ", trust_remote_code=True" if is_rvit else ""
    remote_note = (
        "`trust_remote_code=True` loads the RViT code shipped in this repository; with the `modeling_rvit` "
        "package imported it is not needed."
        if is_rvit
        else "Import `ahu_train.models` (and `modeling_rvit`, for the video processor) before loading."
    )
    from .models import FramePoolingConfig

    if is_rvit or isinstance(config, FramePoolingConfig):
        publish_note = (
            "Publishing a copy: `model.push_to_hub(repo_id)` of this model, loaded from a folder holding "
            "this card, uploads this card with it."
        )
    else:
        family = type(config).__name__.removesuffix("Config")
        publish_note = (
            "Publishing a copy: `ahu_train.model_card.publish(folder, repo_id)` or the training harness's "
            "`AHUTrainer.push_to_hub()` upload this card with the model; a plain "
            f"`model.push_to_hub(repo_id)` of transformers' `{family}` classes writes transformers' "
            "generic card to a new repo."
        )
    num_frames = getattr(config, "num_frames", "?")
    image_size = getattr(config, "image_size", "?")
    return f"""---
{card_data.to_yaml()}
---

# {model_name}

A video classifier of ultrasound clips into the 13 labels of the AHU heterogeneous ultrasound database
(Scientific Data 12:148, 2025, doi:{PAPER_DOI}; data doi:{DATASET_DOI}).

Architecture: {_architecture(config)}. Labels, in the paper's index order: {", ".join(label_names)}.

## How to use

```python
from transformers import AutoModelForVideoClassification, AutoVideoProcessor

model_id = "{model_id or model_name}"
model = AutoModelForVideoClassification.from_pretrained(model_id{remote_code})
processor = AutoVideoProcessor.from_pretrained(model_id{remote_code})
inputs = processor(frames_or_video_path, return_tensors="pt")  # {num_frames} frames, {image_size} px
label = model.config.id2label[model(**inputs).logits.argmax(-1).item()]
```

{remote_note}

{publish_note}

## Training

{summary_lines or "Not recorded."}

## Results

Clip level: one centred clip per video (the paper's protocol); video level: every clip of a video, scores
averaged. Values are point estimates with 95 % bootstrap confidence intervals (resampling videos).

{table or "Not evaluated."}

## Limitations

Not a medical device: never use it for diagnosis. The AHU videos are social-media recordings from 31 creators;
accuracy on other devices or hospitals is unknown, and the long tail leaves rare labels with few examples.
{notes}

## Citation

{_CITATION}
"""


def _load_config(output_dir: Path, trust_remote_code: bool):
    """The folder's config, read with this package's RViT classes; the folder's own code only if trusted.

    Raises:
        ValueError: `config.json`'s `auto_map` names classes other than RViT's and `trust_remote_code` is off.
    """
    from transformers import AutoConfig

    import modeling_rvit  # registers RViT, so an RViT folder's config needs none of its code

    config_path = output_dir / "config.json"
    auto_map = (
        json.loads(config_path.read_text(encoding="utf-8")).get("auto_map", {})
        if config_path.is_file()
        else {}
    )
    shipped = {
        f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__name__}"
        for cls in (
            modeling_rvit.RViTConfig,
            modeling_rvit.RViTModel,
            modeling_rvit.RViTForVideoClassification,
            modeling_rvit.RViTForPreTraining,
        )
    }
    foreign = sorted({str(reference) for reference in auto_map.values()} - shipped)
    if foreign and not trust_remote_code:
        raise ValueError(
            f"{config_path}: its auto_map names code this package does not ship ({', '.join(foreign)}); "
            "pass trust_remote_code=True (--trust_remote_code) only if you trust the code in that folder."
        )
    return AutoConfig.from_pretrained(output_dir, trust_remote_code=trust_remote_code)


def write_model_card(
    output_dir: str | Path,
    results: dict | None = None,
    model_name: str | None = None,
    dataset_name: str = "AHU ultrasound",
    notes: str = "",
    trust_remote_code: bool = False,
    repo_id: str | None = None,
    dataset_id: str | None = None,
) -> Path:
    """Render the card of the model saved in `output_dir` into `output_dir/README.md`.

    Reads `config.json`, and `ahu_run.json` / `data_contract.json` / `all_results.json` (written by
    `run_training`) when present: the run's `--dataset_name`, when it is a Hub id, becomes the card's `datasets`
    (unless `dataset_id` is given), and its `--model_name_or_path`, when it is a Hub id, the card's `base_model`.

    Args:
        trust_remote_code: allow a folder whose `auto_map` names code other than RViT's, and run that code.
        repo_id: the Hub repo the usage snippet loads; default: the folder (`publish` fills in the repo id).
    """
    from . import models  # noqa: F401  (registers the frame-pooling model's config)

    output_dir = Path(output_dir)
    base_model = dataset_config = None
    config = _load_config(output_dir, trust_remote_code)
    summary: dict[str, str] = {}
    run_info_path = output_dir / "ahu_run.json"
    if run_info_path.is_file():
        run_info = json.loads(run_info_path.read_text(encoding="utf-8"))
        data_args, model_args = run_info.get("data_args", {}), run_info.get("model_args", {})
        summary["data"] = data_args.get("data_dir") or data_args.get("dataset_name") or "?"
        summary["config"] = data_args.get("dataset_config_name", "?")
        summary["split scheme"] = data_args.get("split_scheme") or "builder default"
        summary["preset"] = data_args.get("preset") or "none"
        summary["loss"] = "multi_label" if data_args.get("multi_label") else model_args.get("loss_type", "?")
        summary["class weighting"] = model_args.get("class_weighting", "none")
        summary["frame mode"] = data_args.get("frame_mode", "clip")
        dataset_config = data_args.get("dataset_config_name")
        if dataset_id is None and _is_hub_id(data_args.get("dataset_name")):
            dataset_id = data_args["dataset_name"]
        start = model_args.get("model_name_or_path")
        if start:
            summary["started from"] = start
            base_model = start if _is_hub_id(start) else None
    contract = read_data_contract(output_dir)
    if contract is not None:
        # What the run really used (the export's own splits, the resolved config, the sample counts).
        summary.update(contract_summary(contract))
    all_results_path = output_dir / "all_results.json"
    if all_results_path.is_file():
        logged = json.loads(all_results_path.read_text(encoding="utf-8"))
        for key in ("epoch", "train_loss", "train_runtime", "eval_top1_accuracy", "eval_top3_accuracy"):
            if key in logged:
                summary[key] = f"{logged[key]:.4g}" if isinstance(logged[key], float) else logged[key]
    text = render_model_card(
        config,
        results,
        model_name or output_dir.name,
        dataset_name,
        summary,
        notes,
        model_id=repo_id or str(output_dir),
        dataset_id=dataset_id,
        dataset_config=dataset_config,
        base_model=base_model,
    )
    path = output_dir / "README.md"
    path.write_text(text, encoding="utf-8")
    return path


def is_harness_card(text: str) -> bool:
    """Whether a README's text is a card that `write_model_card` wrote (its usage snippet names the model)."""
    return MODEL_ID_LINE.search(text) is not None


def update_model_card(
    output_dir: str | Path,
    repo_id: str | None = None,
    model_name: str | None = None,
    tags: list[str] | None = None,
    language: str | list[str] | None = None,
    license: str | None = None,
    datasets: list[str] | None = None,
    base_model: str | None = None,
) -> Path:
    """Make `output_dir/README.md` the harness's card for a push to `repo_id` (as `AHUTrainer.push_to_hub`).

    A card written by `write_model_card` (possibly with evaluation results) is kept; any other README (e.g.
    `Trainer`'s generated card) is replaced by a new one (`write_model_card(output_dir, model_name=...)`). The
    usage snippet then loads `repo_id` (when given), and the given metadata is added: `tags` to the card's,
    `language`, `license`, `datasets`, `base_model` replacing its fields.
    """
    from huggingface_hub import ModelCard

    path = Path(output_dir) / "README.md"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if not is_harness_card(text):
        write_model_card(output_dir, model_name=model_name)
        text = path.read_text(encoding="utf-8")
    if repo_id:
        text = card_with_repo_id(text, repo_id)
    if tags or language or license or datasets or base_model:
        card = ModelCard(text)
        card.data.tags = list(dict.fromkeys([*(card.data.tags or []), *(tags or [])]))
        for field_name, value in (
            ("language", language),
            ("license", license),
            ("datasets", datasets),
            ("base_model", base_model),
        ):
            if value:
                setattr(card.data, field_name, value)
        text = str(card)
    path.write_text(text, encoding="utf-8")
    return path


def _full_repo_id(repo_id: str, token: str | None, private: bool, endpoint: str | None) -> str:
    """`repo_id` with its namespace: a bare name is created (if needed) in the token owner's namespace."""
    if "/" in repo_id:
        return repo_id
    from huggingface_hub import HfApi

    try:
        return (
            HfApi(endpoint=endpoint, token=token).create_repo(repo_id, private=private, exist_ok=True).repo_id
        )
    except Exception:  # noqa: BLE001  (push_folder tries again and reports the failure with its fix)
        return repo_id


def publish(
    output_dir: str | Path,
    repo_id: str,
    token: str | None = None,
    private: bool = False,
    commit_message: str = "Upload RViT trained on AHU",
    endpoint: str | None = None,
) -> str:
    """Upload a saved model folder (weights, config, processor, remote code, card, evaluation files).

    Checkpoints and trainer state are left out (`PUBLISH_IGNORE`). The folder's card is updated first to load
    the repo (`"name"` alone becomes the token owner's `"user/name"`) in its usage snippet; a folder without a
    README gets the harness's card (`write_model_card`). Returns the commit sha.
    """
    from hf_loader.hub import push_folder

    card = Path(output_dir) / "README.md"
    if not card.is_file():
        write_model_card(output_dir, model_name=repo_id.rsplit("/", 1)[-1])
    repo_id = _full_repo_id(repo_id, token, private, endpoint)
    card.write_text(card_with_repo_id(card.read_text(encoding="utf-8"), repo_id), encoding="utf-8")

    return push_folder(
        output_dir,
        repo_id,
        token=token,
        private=private,
        commit_message=commit_message,
        ignore_patterns=PUBLISH_IGNORE,
        endpoint=endpoint,
    )
