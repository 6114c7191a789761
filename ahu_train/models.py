"""The model families the training harness builds: RViT, transformers' video classifiers, and a per-frame image
classifier whose frame scores are averaged over time.

Every family takes the same input, `pixel_values` (batch, num_frames, 3, height, width) from the same video
processor (`RViTVideoProcessor`: resize, mean = std = 0.5, clips padded by repeating their last frame), so runs
of different families see the same clips. Only RViT and `FramePoolingForVideoClassification` also take
`frame_mask`; `model_forward_inputs` leaves it out for the others (their padded frames are copies of the last
real frame, as the AHU paper pads).

| family | model | config of a new model |
|---|---|---|
| `rvit` | `RViTForVideoClassification` | `RViTConfig` preset + overrides |
| `videomae` | `VideoMAEForVideoClassification` | `VideoMAEConfig` |
| `timesformer` | `TimesformerForVideoClassification` | `TimesformerConfig` |
| `vivit` | `VivitForVideoClassification` | `VivitConfig` |
| `frame_pooling` | `FramePoolingForVideoClassification` over any `AutoModelForImageClassification` | `FramePoolingConfig(image_config=...)` (default: a ResNet) |

A saved model of any family reloads with `AutoModelForVideoClassification.from_pretrained(folder)` once
`modeling_rvit` and this module are imported (both register their classes with the Auto classes).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForImageClassification,
    AutoModelForVideoClassification,
    PreTrainedConfig,
    PreTrainedModel,
)
from transformers.configuration_utils import SubConfigSpec
from transformers.modeling_outputs import ImageClassifierOutput

from hf_loader.constants import LABELS
from hf_loader.errors import AHUDataError
from modeling_rvit.hub_card import ModelCardFromFolderMixin


class ModelSetupError(AHUDataError, ValueError):
    """A model choice that cannot work with the data or the other options (a checkpoint of another family, a saved
    model whose shape or labels the options contradict); the commands report it in one line. A `ValueError` too."""

    reason = "unusable model options"


MODEL_FAMILIES = ("rvit", "videomae", "timesformer", "vivit", "frame_pooling")

# `model_type` of each family's config (a checkpoint's family is read from its config).
FAMILY_OF_MODEL_TYPE = {
    "rvit": "rvit",
    "videomae": "videomae",
    "timesformer": "timesformer",
    "vivit": "vivit",
    "ahu_frame_pooling": "frame_pooling",
}


class FramePoolingConfig(PreTrainedConfig):
    r"""
    A per-frame image classifier whose frame logits are averaged over the clip's real frames (the temporal
    mean pooling of TSN-style baselines): it sees each frame alone, so it cannot use motion.

    image_config (`dict` or `PreTrainedConfig`, *optional*):
        Config of the `AutoModelForImageClassification` applied to every frame (default: a small ResNet). Its
        `num_labels` is set to this config's.
    num_frames (`int`, *optional*, defaults to 8):
        Frames per clip the processor gives (the model itself takes any number).
    image_size (`int`, *optional*, defaults to 112):
        Frame side in pixels.
    """

    model_type = "ahu_frame_pooling"
    sub_configs_defaults: ClassVar[dict[str, SubConfigSpec]] = {
        "image_config": SubConfigSpec(
            config_class=AutoConfig,
            model_type="resnet",
            init_kwargs={"embedding_size": 32, "hidden_sizes": [32, 64, 128, 256], "depths": [1, 1, 1, 1]},
        )
    }

    image_config: dict | PreTrainedConfig | None = None
    num_frames: int = 8
    image_size: int = 112

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        # The frame classifier's head has this model's labels.
        self.image_config.num_labels = self.num_labels
        self.image_config.id2label = dict(self.id2label)
        self.image_config.label2id = dict(self.label2id)


class FramePoolingForVideoClassification(ModelCardFromFolderMixin, PreTrainedModel):
    """`AutoModelForImageClassification` on every frame, logits averaged over the real frames of each clip.

    Inputs: `pixel_values` (batch, num_frames, 3, height, width); `frame_mask` (batch, num_frames), 1 for a real
    frame, 0 for padding (default: all real); `labels` (batch,) class indices.
    """

    config_class = FramePoolingConfig
    main_input_name = "pixel_values"
    base_model_prefix = "frame_model"
    supports_gradient_checkpointing = True

    def __init__(self, config: FramePoolingConfig):
        super().__init__(config)
        self.frame_model = AutoModelForImageClassification.from_config(config.image_config)
        self.post_init()

    def _init_weights(self, module):
        # The frame model initializes its own modules when it is built.
        pass

    @classmethod
    def from_image_pretrained(cls, name_or_path: str, num_frames: int, **config_kwargs):
        """A model whose frame classifier starts from an image-classification checkpoint (new label head)."""
        image_config = AutoConfig.from_pretrained(name_or_path)
        config = FramePoolingConfig(
            image_config=image_config.to_dict(), num_frames=num_frames, **config_kwargs
        )
        model = cls(config)
        pretrained = AutoModelForImageClassification.from_pretrained(
            name_or_path, config=config.image_config, ignore_mismatched_sizes=True
        )
        model.frame_model.load_state_dict(pretrained.state_dict())
        return model

    def forward(
        self,
        pixel_values: torch.Tensor,
        frame_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs,
    ) -> ImageClassifierOutput:
        batch, num_frames = pixel_values.shape[:2]
        frame_logits = self.frame_model(pixel_values=pixel_values.flatten(0, 1)).logits
        frame_logits = frame_logits.view(batch, num_frames, -1)
        if frame_mask is None:
            logits = frame_logits.mean(1)
        else:
            weights = frame_mask.to(frame_logits.dtype).unsqueeze(-1)
            logits = (frame_logits * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits, labels)
        return ImageClassifierOutput(loss=loss, logits=logits)


AutoConfig.register(FramePoolingConfig.model_type, FramePoolingConfig, exist_ok=True)
AutoModelForVideoClassification.register(
    FramePoolingConfig, FramePoolingForVideoClassification, exist_ok=True
)


def _label_kwargs(multi_label: bool, label_names: Sequence[str] | None = None) -> dict[str, Any]:
    label_names = list(label_names or LABELS)
    kwargs: dict[str, Any] = {
        "num_labels": len(label_names),
        "id2label": dict(enumerate(label_names)),
        "label2id": {name: index for index, name in enumerate(label_names)},
    }
    if multi_label:
        kwargs["problem_type"] = "multi_label_classification"
    return kwargs


def new_video_model(
    family: str,
    num_frames: int,
    image_size: int,
    overrides: dict[str, Any] | None = None,
    multi_label: bool = False,
    label_names: Sequence[str] | None = None,
) -> PreTrainedModel:
    """A new, randomly initialized model of a non-RViT family for clips of `num_frames` × `image_size` px.

    Args:
        family: one of `videomae`, `timesformer`, `vivit`, `frame_pooling`.
        overrides: fields of the family's config (e.g. {"hidden_size": 128, "num_hidden_layers": 2}); for
            `frame_pooling`, fields of the frame classifier's config, plus `model_type` to choose it
            (default `resnet`).
        label_names: class names in index order (default: the 13 AHU labels).
    """
    from transformers import TimesformerConfig, VideoMAEConfig, VivitConfig

    overrides = dict(overrides or {})
    labels = _label_kwargs(multi_label, label_names)
    if family == "videomae":
        config = VideoMAEConfig(
            image_size=image_size, num_frames=num_frames, use_mean_pooling=True, **labels, **overrides
        )
    elif family == "timesformer":
        config = TimesformerConfig(image_size=image_size, num_frames=num_frames, **labels, **overrides)
    elif family == "vivit":
        # ViViT's tubelets default to 2 frames x 16 x 16 pixels.
        config = VivitConfig(image_size=image_size, num_frames=num_frames, **labels, **overrides)
    elif family == "frame_pooling":
        model_type = overrides.pop("model_type", "resnet")
        image_config = AutoConfig.for_model(model_type, **overrides).to_dict()
        if "image_size" in image_config:
            image_config["image_size"] = image_size
        config = FramePoolingConfig(
            image_config=image_config, num_frames=num_frames, image_size=image_size, **labels
        )
    else:
        raise ModelSetupError(
            f"model family {family!r}: choose one of {MODEL_FAMILIES} (rvit is built by ahu_train.train)"
        )
    return AutoModelForVideoClassification.from_config(config)


def family_of(config: PreTrainedConfig) -> str:
    """The harness's family name of a model config (ValueError for a model type it does not know)."""
    family = FAMILY_OF_MODEL_TYPE.get(config.model_type)
    if family is None:
        raise ModelSetupError(
            f"model type {config.model_type!r} is not one the harness knows ({sorted(FAMILY_OF_MODEL_TYPE)})"
        )
    return family


def clip_shape_of(config: PreTrainedConfig) -> tuple[int, int]:
    """(num_frames, image_size) a model of `config` takes: what its video processor must produce."""
    image_size = config.image_size
    if isinstance(image_size, (list, tuple)):
        image_size = image_size[0]
    return int(config.num_frames), int(image_size)


def accepts_frame_mask(model: nn.Module) -> bool:
    """Whether `model.forward` takes a `frame_mask` argument (RViT and the frame-pooling model do)."""
    model = getattr(model, "module", model)  # DDP / compiled wrappers
    model = getattr(model, "_orig_mod", model)
    return "frame_mask" in inspect.signature(model.forward).parameters


def model_forward_inputs(model: nn.Module, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`inputs` without `frame_mask` when `model` does not take one."""
    if "frame_mask" in inputs and not accepts_frame_mask(model):
        return {key: value for key, value in inputs.items() if key != "frame_mask"}
    return inputs


def video_processor_for(num_frames: int, image_size: int):
    """The harness's video processor for clips of `num_frames` × `image_size` px, whatever the model family.

    `RViTVideoProcessor` with its default normalization, the AHU training's (mean = std = 0.5), so every family
    is compared on the same pixels.
    """
    from modeling_rvit.video_processing_rvit import RViTVideoProcessor

    return RViTVideoProcessor(num_frames=num_frames, size={"height": image_size, "width": image_size})


class ModelLoadError(AHUDataError):
    """A saved model that cannot be loaded: a truncated weights file, or a Hub id that offline mode cannot fetch."""

    reason = "model cannot be loaded"


def safetensors_problem(path: str | Path) -> str | None:
    """Why a `.safetensors` file cannot be whole (cut short, or a header that does not parse), or None.

    Reads the 8-byte header length and the JSON header only; compares the end of the last tensor's bytes
    (`data_offsets`) with the file's size.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as file:
        head = file.read(8)
        if len(head) < 8:
            return f"holds {size} bytes, fewer than a safetensors header"
        header_size = int.from_bytes(head, "little")
        if 8 + header_size > size:
            return f"holds {size} bytes, but its header alone announces {8 + header_size}"
        try:
            header = json.loads(file.read(header_size))
        except ValueError:
            return "its header is not valid JSON"
    ends = [entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__"]
    expected = 8 + header_size + max(ends, default=0)
    if expected > size:
        return f"holds {size} bytes, but its header announces {expected}"
    return None


def check_model_source(name_or_path: str | Path) -> None:
    """Refuses, with the file or id and the fix, a model that `from_pretrained` would fail on with a bare error.

    Raises:
        ModelLoadError: a `*.safetensors` file of a local folder is truncated or corrupt (safetensors alone
            says "incomplete metadata", naming no file); or offline mode is on (`HF_HUB_OFFLINE=1`) and a Hub
            id is not in the local cache (transformers alone reports a generic connection error).
    """
    from huggingface_hub import constants, try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    folder = Path(name_or_path)
    if folder.is_dir():
        for path in sorted(folder.glob("*.safetensors")):
            problem = safetensors_problem(path)
            if problem is not None:
                raise ModelLoadError(
                    f"{problem}: the weights are truncated or corrupt (an interrupted download, copy or save); "
                    "download or save the model again",
                    entry=str(path),
                )
        return
    if not constants.is_offline_mode():
        return
    try:
        cached = try_to_load_from_cache(str(name_or_path), "config.json")
    except HFValidationError:  # not a repo id either: from_pretrained says so
        return
    if not isinstance(cached, str):
        raise ModelLoadError(
            "is neither a local folder nor in the Hub cache, and offline mode is on (HF_HUB_OFFLINE=1), so it "
            "cannot be downloaded; unset HF_HUB_OFFLINE to download it, or give the path of a saved model folder",
            entry=str(name_or_path),
        )


def load_pretrained_model(
    name_or_path: str,
    family: str | None = None,
    trust_remote_code: bool = False,
    num_frames: int | None = None,
    image_size: int | None = None,
    multi_label: bool = False,
    label_names: Sequence[str] | None = None,
):
    """A saved model (folder or Hub repo) to fine-tune or evaluate, with its video processor.

    A video checkpoint (any `AutoModelForVideoClassification`) with another number of classes than
    `label_names`, when given (to fine-tune), e.g. a Kinetics-400 model, loads with a new head for them. With `family="frame_pooling"`, an image-classification checkpoint (e.g. a ResNet or
    ViT) becomes the frame classifier of a new `FramePoolingForVideoClassification`. The processor is the one
    saved with the model when it is the harness's (`RViTVideoProcessor`), else `video_processor_for` the
    model's clip shape, so a foreign checkpoint sees the same pixels as the harness's own runs.

    Args:
        num_frames, image_size: clip shape for an image checkpoint (frame pooling), or for a video checkpoint
            whose config does not fix one; default: the config's.
    """
    from transformers import AutoVideoProcessor

    from modeling_rvit.configuration_rvit import RViTConfig
    from modeling_rvit.video_processing_rvit import RViTVideoProcessor

    check_model_source(name_or_path)
    config = AutoConfig.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
    if family == "frame_pooling" and config.model_type != FramePoolingConfig.model_type:
        model = FramePoolingForVideoClassification.from_image_pretrained(
            name_or_path,
            num_frames=num_frames or RViTConfig.num_frames,
            image_size=image_size or RViTConfig.image_size,
            **_label_kwargs(multi_label, label_names),
        )
        return model, video_processor_for(*clip_shape_of(model.config))
    if family is not None and family_of(config) != family:
        raise ModelSetupError(
            f"{name_or_path}: a {config.model_type!r} checkpoint is not of model family {family!r}; "
            "leave --model_family out to take the checkpoint's own"
        )
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if label_names is not None and config.num_labels != len(label_names):
        kwargs.update(_label_kwargs(multi_label, label_names), ignore_mismatched_sizes=True)
    model = AutoModelForVideoClassification.from_pretrained(name_or_path, **kwargs)
    try:
        processor = AutoVideoProcessor.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError):
        processor = None
    if not isinstance(processor, RViTVideoProcessor):
        processor = video_processor_for(*clip_shape_of(model.config))
    check_processor_fits(processor, model.config, name_or_path)
    return model, processor


def check_processor_fits(processor, config: PreTrainedConfig, name: str = "the model") -> None:
    """Raise ValueError when `processor` makes clips of another shape than a model of `config` takes."""
    num_frames, image_size = clip_shape_of(config)
    given = (processor.num_frames, processor.size.height, processor.size.width)
    if given != (num_frames, image_size, image_size):
        raise ValueError(
            f"{name}: its video processor makes clips of {given[0]} frames of {given[1]}x{given[2]} px but the "
            f"model takes {num_frames} frames of {image_size}x{image_size} px; save the processor the model needs, "
            "RViTVideoProcessor.from_model_config(model.config).save_pretrained(folder)"
        )
