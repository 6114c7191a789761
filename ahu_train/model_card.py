"""The model card (README.md) of a trained RViT, written from its config and measured results; publishing.

`write_model_card(output_dir, results=...)` renders the card into the model folder; `publish(output_dir,
repo_id)` uploads weights, config, processor, remote code and card in one commit (`hf_loader.hub.push_folder`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from hf_loader.constants import DATASET_DOI, PAPER_DOI

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
@article{{yang2025ahu,
  title   = {{An annotated heterogeneous ultrasound database}},
  journal = {{Scientific Data}}, volume = {{12}}, pages = {{148}}, year = {{2025}},
  doi     = {{{PAPER_DOI}}}
}}
@inproceedings{{yang2022rvit,
  title     = {{Recurring the Transformer for Video Action Recognition}},
  author    = {{Yang, Jiewen and Dong, Xingbo and Liu, Liujun and Zhang, Chao and Shen, Jiajun and Yu, Dahai}},
  booktitle = {{CVPR}}, year = {{2022}}
}}
```"""


def _yaml_list(values: Sequence[str], indent: int = 0) -> str:
    pad = " " * indent
    return "\n".join(f"{pad}- {value}" for value in values)


def _model_index(model_name: str, dataset_name: str, results: dict) -> str:
    """The `model-index` YAML block: one entry per evaluated split/setting (headline metrics only)."""
    entries = []
    dataset_type = dataset_name.lower().replace(" ", "-")
    for setting, values in results.items():
        metric_lines = "\n".join(
            f"          - type: {metric}\n            name: {metric.replace('_', ' ')} ({setting})\n"
            f"            value: {float(values[metric]):.4f}"
            for metric in HEADLINE_METRICS
            if metric in values
        )
        split = setting.split("/")[0]
        entries.append(
            "      - task:\n          type: video-classification\n          name: Video classification\n"
            f"        dataset:\n          name: {dataset_name}\n          type: {dataset_type}\n"
            f"          split: {split}\n        metrics:\n{metric_lines}"
        )
    if not entries:
        return ""
    return f"model-index:\n  - name: {model_name}\n    results:\n" + "\n".join(entries) + "\n"


def render_model_card(
    config,
    results: dict | None = None,
    model_name: str = "rvit-ahu",
    dataset_name: str = "AHU ultrasound",
    training_summary: dict | None = None,
    notes: str = "",
) -> str:
    """The card's Markdown text (with YAML metadata) for a model of `config` and its measured `results`.

    Args:
        config: the model's `RViTConfig`.
        results: {"<split>/<clip|video>": {metric: value, "n": count, "ci": {metric: (v, lo, hi)}}}, as
            returned by `ahu_train.evaluation.evaluate_model`; None when not evaluated.
        training_summary: key facts of the run (data source, split scheme, epochs, steps, loss, ...).
        notes: free text appended under "Limitations".
    """
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
    architecture = (
        f"{config.num_hidden_layers} layer(s), hidden size {config.hidden_size}, {config.num_attention_heads} heads, "
        f"MLP {config.intermediate_size}, patch {config.patch_size}, {config.image_size}×{config.image_size} px, "
        f"{config.num_frames} frames per clip, {config.attention_type} attention"
    )
    metadata = (
        "---\n"
        "library_name: transformers\n"
        "pipeline_tag: video-classification\n"
        "license: mit\n"
        "tags:\n"
        + _yaml_list(["video-classification", "ultrasound", "medical", "rvit", "custom_code"], 2)
        + "\n"
        "metrics:\n"
        + _yaml_list(["accuracy", "f1"], 2)
        + "\n"
        + _model_index(model_name, dataset_name, results)
        + "---\n"
    )
    return f"""{metadata}
# {model_name}

RViT (recurrent video transformer) classifying ultrasound clips into the 13 labels of the AHU heterogeneous
ultrasound database (Scientific Data 12:148, 2025, doi:{PAPER_DOI}; data doi:{DATASET_DOI}).

Architecture: {architecture}. Labels, in the paper's index order: {", ".join(label_names)}.

## How to use

```python
from transformers import AutoModelForVideoClassification, AutoVideoProcessor

model = AutoModelForVideoClassification.from_pretrained(REPO_ID, trust_remote_code=True)
processor = AutoVideoProcessor.from_pretrained(REPO_ID, trust_remote_code=True)
inputs = processor(frames_or_video_path, return_tensors="pt")  # {config.num_frames} frames, {config.image_size} px
label = model.config.id2label[model(**inputs).logits.argmax(-1).item()]
```

`trust_remote_code=True` loads the RViT code shipped in this repository; with the `modeling_rvit` package
imported it is not needed.

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
) -> Path:
    """Render the card of the model saved in `output_dir` into `output_dir/README.md`.

    Reads `config.json`, and `ahu_run.json` / `all_results.json` (written by `run_training`) when present.
    `trust_remote_code`: allow a folder whose `auto_map` names code other than RViT's, and run that code.
    """
    output_dir = Path(output_dir)
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
    all_results_path = output_dir / "all_results.json"
    if all_results_path.is_file():
        logged = json.loads(all_results_path.read_text(encoding="utf-8"))
        for key in ("epoch", "train_loss", "train_runtime", "eval_top1_accuracy", "eval_top3_accuracy"):
            if key in logged:
                summary[key] = f"{logged[key]:.4g}" if isinstance(logged[key], float) else logged[key]
    text = render_model_card(config, results, model_name or output_dir.name, dataset_name, summary, notes)
    path = output_dir / "README.md"
    path.write_text(text, encoding="utf-8")
    return path


def publish(
    output_dir: str | Path,
    repo_id: str,
    token: str | None = None,
    private: bool = False,
    commit_message: str = "Upload RViT trained on AHU",
    endpoint: str | None = None,
) -> str:
    """Upload a saved model folder (weights, config, processor, remote code, card, evaluation files).

    Checkpoints and trainer state are left out (`PUBLISH_IGNORE`). Returns the commit sha.
    """
    from hf_loader.hub import push_folder

    return push_folder(
        output_dir,
        repo_id,
        token=token,
        private=private,
        commit_message=commit_message,
        ignore_patterns=PUBLISH_IGNORE,
        endpoint=endpoint,
    )
