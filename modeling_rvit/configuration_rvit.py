"""RViT model configuration."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from .ahu_labels import AHU_LABELS

ATTENTION_TYPES = ("softmax", "linear")
HEAD_TYPES = ("mlp", "layernorm_linear")
PATCH_EMBEDDING_TYPES = ("patchify", "conv_stem")
POOLING_TYPES = ("cls_and_states", "cls")
MASK_TYPES = ("tube", "frame")
PRETRAINING_OBJECTIVES = ("masked_reconstruction", "contrastive")
DROPOUT_FIELDS = (
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "layer_input_dropout_prob",
    "embedding_dropout_prob",
    "classifier_dropout_prob",
)


class RViTConfigError(ValueError):
    """An RViT configuration whose fields do not fit together."""


@strict
class RViTConfig(PreTrainedConfig):
    r"""
    Configuration of an RViT (recurrent video transformer, Yang et al., CVPR 2022) model. The defaults are the
    AHU paper's model: 112×112 input, patch 8, hidden size 192, 2 layers, 8 heads, MLP 768, 36 frames, 13 labels,
    without dropout; `RViTConfig.from_preset("ahu")` adds the reference's dropout (0.1 wherever it has one), with
    which the paper trained. Dropout acts in training mode only.
    Without `id2label`, and with `num_labels` unset or 13, the labels are the 13 AHU labels in the paper's order
    (`AHU_LABELS`); other label counts get the usual `LABEL_i` names.

    image_size (`int`, *optional*, defaults to 112):
        Height and width of every frame, in pixels.
    patch_size (`int`, *optional*, defaults to 8):
        Height and width of one patch, in pixels. A frame gives `(image_size // patch_size) ** 2` patch tokens.
    patch_embedding_type (`str`, *optional*, defaults to `"patchify"`):
        `"patchify"`: one `patch_size`-strided convolution (the reference). `"conv_stem"`: not in the reference; a
        convolutional stem (Xiao et al., "Early convolutions help transformers see better", NeurIPS 2021):
        `log2(patch_size)` 3×3 stride-2 convolutions with BatchNorm and ReLU, then a 1×1 projection to
        `hidden_size`, giving the same patch grid. Trained from scratch on small data it tolerates learning rates at
        which the patchify model collapses to the majority class (BENCHMARKS.md, "## RViT from scratch: the
        recipe"). Needs a power-of-two `patch_size`.
    num_channels (`int`, *optional*, defaults to 3):
        Number of input channels per frame.
    hidden_size (`int`, *optional*, defaults to 192):
        Width of the tokens and of the recurrent state. Independent of `patch_size` (the reference tied it to
        `3 * patch_size ** 2`).
    num_hidden_layers (`int`, *optional*, defaults to 2):
        Number of recurrent transformer layers. Each keeps its own state of `num_patches + 1` tokens.
    num_attention_heads (`int`, *optional*, defaults to 8):
        Number of attention heads; must divide `hidden_size`.
    intermediate_size (`int`, *optional*, defaults to 768):
        Width of the MLP inside each layer.
    hidden_act (`str`, *optional*, defaults to `"gelu"`):
        Activation of the layer MLPs and of the `"mlp"` classification head.
    attention_type (`str`, *optional*, defaults to `"softmax"`):
        `"softmax"`: scaled dot-product attention (through transformers' attention interface, eager or sdpa).
        `"linear"`: the reference's kernel attention `(elu(q) + 1) (elu(k) + 1)ᵀ v`, without scaling or
        normalization, as in the released Jester model.
    num_frames (`int`, *optional*, defaults to 36):
        Default clip length for the video processor and the pipeline. The model itself takes any number of frames.
    head_type (`str`, *optional*, defaults to `"mlp"`):
        `"mlp"`: the reference's head, `Linear(D, r·D)`, activation, `Linear(r·D, D)`, then `Linear(D, num_labels)`.
        `"layernorm_linear"`: `LayerNorm(D)` then `Linear(D, num_labels)`, as in the released Jester checkpoint.
    head_mlp_ratio (`int`, *optional*, defaults to 4):
        Expansion `r` of the `"mlp"` head.
    pooling_type (`str`, *optional*, defaults to `"cls_and_states"`):
        Input of the head. `"cls_and_states"`: the class token of the last valid frame concatenated with the first
        state token of every layer, `D = hidden_size * (num_hidden_layers + 1)` (the reference). `"cls"`: the class
        token of the last valid frame only, `D = hidden_size`.
    hidden_dropout_prob (`float`, *optional*, defaults to 0.0):
        Dropout on the attention output where it joins the frame tokens (the state takes it undropped, as in the
        reference) and inside the layer MLPs, after the activation and after the second linear layer. The reference
        hard-codes 0.1 for both (its blocks' `attention_dropout_rate` and `dropout_rate`).
    attention_probs_dropout_prob (`float`, *optional*, defaults to 0.0):
        Dropout on the softmax attention probabilities (the reference has none).
    layer_input_dropout_prob (`float`, *optional*, defaults to 0.0):
        Dropout on the frame tokens plus position embeddings at the input of every layer (the reference encoder's
        `dropout_rate`, 0.1 in its model factories).
    embedding_dropout_prob (`float`, *optional*, defaults to 0.0):
        The reference's `emb_dropout` (0.1 in its model factories): dropout on the position embeddings, one mask
        per frame shared by the clips of a batch, the layers and the state, and on the pooled clip representation
        before the classification head.
    classifier_dropout_prob (`float`, *optional*, defaults to 0.0):
        Dropout inside the `"mlp"` classification head, after the activation and after its second linear layer
        (the reference hard-codes 0.1).
    layer_norm_eps (`float`, *optional*, defaults to 1e-5):
        Epsilon of every LayerNorm (the reference used PyTorch's default).
    initializer_range (`float`, *optional*, defaults to 0.02):
        Standard deviation of the (truncated) normal initialization of weights and learned tokens.
    qkv_bias (`bool`, *optional*, defaults to `True`):
        Whether the fused query/key/value projection has a bias.
    frames_per_chunk (`int`, *optional*):
        How many frames go through a layer together. Within a chunk, everything that does not depend on the
        recurrent state (LayerNorms, the frame half of the query/key/value projection, the MLP) runs as one batched
        matmul over the chunk's frames; only the state's projection and the attention run frame by frame. The
        result does not depend on it. `None` (default): 8 on the CPU, where larger chunks fall out of the caches,
        and the whole clip on other devices, where fewer, larger kernels are faster.
    pretraining_objective (`str`, *optional*, defaults to `"masked_reconstruction"`):
        [`RViTForPreTraining`] only: `"masked_reconstruction"` (VideoMAE's objective: masked patches rebuilt by a
        light decoder from each frame's tokens) or `"contrastive"` (SimCLR's objective on whole clips: two views of
        each clip, another window and augmentation each, are pulled together and pushed away from the batch's
        other clips; it trains the pooled representation the classification head reads).
    mask_ratio (`float`, *optional*, defaults to 0.75):
        [`RViTForPreTraining`] only: share of each frame's patches it masks when no `bool_masked_pos` is given.
    mask_type (`str`, *optional*, defaults to `"tube"`):
        [`RViTForPreTraining`] only: `"tube"` masks the same patches in every frame of a clip (VideoMAE's tube
        masking, so the state cannot copy a masked patch from an earlier frame); `"frame"` draws each frame's mask
        anew (the state can carry what an earlier frame showed).
    decoder_hidden_size (`int`, *optional*, defaults to 64):
        [`RViTForPreTraining`] only: width of the light decoder that reconstructs the masked patches.
    decoder_num_hidden_layers (`int`, *optional*, defaults to 1):
        [`RViTForPreTraining`] only: transformer layers of the decoder, over each frame's tokens (0: a linear
        decoder).
    decoder_num_attention_heads (`int`, *optional*, defaults to 4):
        [`RViTForPreTraining`] only: attention heads of the decoder layers.
    decoder_intermediate_size (`int`, *optional*, defaults to 256):
        [`RViTForPreTraining`] only: MLP width of the decoder layers.
    norm_pix_loss (`bool`, *optional*, defaults to `True`):
        [`RViTForPreTraining`] only: reconstruct each patch normalized by its own mean and standard deviation
        (as VideoMAE) instead of its raw pixel values.
    contrastive_projection_size (`int`, *optional*, defaults to 128):
        [`RViTForPreTraining`], contrastive objective only: width of the projection head's output (the head, an
        MLP on the pooled representation, is dropped when a classifier is fine-tuned from the checkpoint).
    contrastive_temperature (`float`, *optional*, defaults to 0.2):
        [`RViTForPreTraining`], contrastive objective only: temperature of the softmax over cosine similarities.

    Example:

    ```python
    >>> from modeling_rvit import RViTConfig, RViTForVideoClassification

    >>> config = RViTConfig()  # the AHU paper's model, 13 labels
    >>> model = RViTForVideoClassification(config)
    >>> config = RViTConfig.from_preset("small", num_labels=27)
    ```"""

    model_type = "rvit"
    # Trainer's prediction loop collects every other output field as "logits".
    keys_to_ignore_at_inference: ClassVar[list[str]] = ["pooler_output", "state"]

    image_size: int = 112
    patch_size: int = 8
    patch_embedding_type: Literal["patchify", "conv_stem"] = "patchify"
    num_channels: int = 3
    hidden_size: int = 192
    num_hidden_layers: int = 2
    num_attention_heads: int = 8
    intermediate_size: int = 768
    hidden_act: str = "gelu"
    attention_type: Literal["softmax", "linear"] = "softmax"
    num_frames: int = 36
    head_type: Literal["mlp", "layernorm_linear"] = "mlp"
    head_mlp_ratio: int = 4
    pooling_type: Literal["cls_and_states", "cls"] = "cls_and_states"
    hidden_dropout_prob: float | int = 0.0
    attention_probs_dropout_prob: float | int = 0.0
    layer_input_dropout_prob: float | int = 0.0
    embedding_dropout_prob: float | int = 0.0
    classifier_dropout_prob: float | int = 0.0
    layer_norm_eps: float = 1e-5
    initializer_range: float = 0.02
    qkv_bias: bool = True
    frames_per_chunk: int | None = None
    pretraining_objective: Literal["masked_reconstruction", "contrastive"] = "masked_reconstruction"
    mask_ratio: float | int = 0.75
    mask_type: Literal["tube", "frame"] = "tube"
    decoder_hidden_size: int = 64
    decoder_num_hidden_layers: int = 1
    decoder_num_attention_heads: int = 4
    decoder_intermediate_size: int = 256
    norm_pix_loss: bool = True
    contrastive_projection_size: int = 128
    contrastive_temperature: float | int = 0.2

    # Named configurations; `from_preset(name, **overrides)` builds one.
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # The AHU paper's model (about 3.85 M parameters with 13 labels), with the reference code's dropout, which
        # the paper trained with (its training script loads the reference model in train mode).
        "ahu": {
            "hidden_dropout_prob": 0.1,
            "layer_input_dropout_prob": 0.1,
            "embedding_dropout_prob": 0.1,
            "classifier_dropout_prob": 0.1,
        },
        # The paper's model with a convolutional stem instead of the patchify embedding: the model `ahu-train` starts
        # a new RViT from (its "scratch" recipe), which does not collapse to the majority class when trained from
        # scratch on small data (BENCHMARKS.md, "## RViT from scratch: the recipe").
        "scratch": {
            "patch_embedding_type": "conv_stem",
            "hidden_dropout_prob": 0.1,
            "layer_input_dropout_prob": 0.1,
            "embedding_dropout_prob": 0.1,
            "classifier_dropout_prob": 0.1,
        },
        # The reference's released Jester model: linear attention and a LayerNorm + Linear head, 27 gestures.
        "jester": {"attention_type": "linear", "head_type": "layernorm_linear", "num_labels": 27},
        # ViT-S/16 and ViT-B/16 frame encoders (so `from_vit_pretrained` can start from those checkpoints). With
        # 12 layers the pooled width is 13·C, where the reference's 4× MLP head alone would hold 26·(13·C)² weights,
        # so these use the released checkpoint's LayerNorm + Linear head.
        "small": {
            "image_size": 224,
            "patch_size": 16,
            "hidden_size": 384,
            "num_hidden_layers": 12,
            "num_attention_heads": 6,
            "intermediate_size": 1536,
            "layer_norm_eps": 1e-6,
            "head_type": "layernorm_linear",
        },
        "base": {
            "image_size": 224,
            "patch_size": 16,
            "hidden_size": 768,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "intermediate_size": 3072,
            "layer_norm_eps": 1e-6,
            "head_type": "layernorm_linear",
        },
    }

    def __post_init__(self, **kwargs):
        # The default model is the AHU paper's: 13 labels with their names, unless the caller says otherwise.
        if self.id2label is None and kwargs.get("num_labels") in (None, len(AHU_LABELS)):
            self.id2label = dict(enumerate(AHU_LABELS))
            self.label2id = {name: index for index, name in self.id2label.items()}
        # Checked here first so that a bad value raises `RViTConfigError` (a `ValueError`) itself: `@strict` runs the
        # `validate_*` methods again in `super().__post_init__` and would wrap it in its own exception class.
        self.validate_rvit_architecture()
        self.validate_rvit_pretraining()
        super().__post_init__(**kwargs)

    @property
    def num_patches(self) -> int:
        """Patch tokens per frame, `(image_size // patch_size) ** 2`."""
        return (self.image_size // self.patch_size) ** 2

    @property
    def pooled_size(self) -> int:
        """Width `D` of the pooled features that feed the classification head."""
        if self.pooling_type == "cls":
            return self.hidden_size
        return self.hidden_size * (self.num_hidden_layers + 1)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> RViTConfig:
        """Builds the named configuration (`"ahu"`, `"scratch"`, `"jester"`, `"small"`, `"base"`), `overrides` taking
        precedence."""
        if name not in cls.presets:
            raise RViTConfigError(f"Unknown RViT preset {name!r}; choose one of {sorted(cls.presets)}.")
        return cls(**{**cls.presets[name], **overrides})

    def validate_rvit_architecture(self):
        """Part of `@strict` validation: the shapes and choices fit together."""
        if self.attention_type not in ATTENTION_TYPES:
            raise RViTConfigError(f"attention_type={self.attention_type!r}: choose one of {ATTENTION_TYPES}.")
        if self.head_type not in HEAD_TYPES:
            raise RViTConfigError(f"head_type={self.head_type!r}: choose one of {HEAD_TYPES}.")
        if self.patch_embedding_type not in PATCH_EMBEDDING_TYPES:
            raise RViTConfigError(
                f"patch_embedding_type={self.patch_embedding_type!r}: choose one of {PATCH_EMBEDDING_TYPES}."
            )
        if self.patch_embedding_type == "conv_stem" and (
            self.patch_size < 2 or self.patch_size & (self.patch_size - 1)
        ):
            raise RViTConfigError(
                f"patch_embedding_type='conv_stem' needs a power-of-two patch_size >= 2, got {self.patch_size}."
            )
        if self.pooling_type not in POOLING_TYPES:
            raise RViTConfigError(f"pooling_type={self.pooling_type!r}: choose one of {POOLING_TYPES}.")
        if self.image_size % self.patch_size != 0:
            raise RViTConfigError(
                f"image_size={self.image_size} is not a multiple of patch_size={self.patch_size}."
            )
        if self.frames_per_chunk is not None and self.frames_per_chunk < 1:
            raise RViTConfigError(f"frames_per_chunk={self.frames_per_chunk}: use a positive number or None.")
        if self.hidden_size % self.num_attention_heads != 0:
            raise RViTConfigError(
                f"hidden_size={self.hidden_size} is not a multiple of num_attention_heads={self.num_attention_heads}."
            )
        for name in DROPOUT_FIELDS:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise RViTConfigError(f"{name}={getattr(self, name)} is not a probability in [0, 1].")

    def validate_rvit_pretraining(self):
        """Part of `@strict` validation: the fields of `RViTForPreTraining` fit together."""
        if self.pretraining_objective not in PRETRAINING_OBJECTIVES:
            raise RViTConfigError(
                f"pretraining_objective={self.pretraining_objective!r}: choose one of {PRETRAINING_OBJECTIVES}."
            )
        if not self.contrastive_temperature > 0.0:
            raise RViTConfigError(
                f"contrastive_temperature={self.contrastive_temperature}: use a positive temperature (e.g. 0.2)."
            )
        if self.contrastive_projection_size < 1:
            raise RViTConfigError(
                f"contrastive_projection_size={self.contrastive_projection_size}: use a positive width."
            )
        if not 0.0 < self.mask_ratio < 1.0:
            raise RViTConfigError(
                f"mask_ratio={self.mask_ratio}: use a share in (0, 1) of each frame's patches."
            )
        if self.mask_type not in MASK_TYPES:
            raise RViTConfigError(f"mask_type={self.mask_type!r}: choose one of {MASK_TYPES}.")
        if (
            self.decoder_num_hidden_layers
            and self.decoder_hidden_size % self.decoder_num_attention_heads != 0
        ):
            raise RViTConfigError(
                f"decoder_hidden_size={self.decoder_hidden_size} is not a multiple of "
                f"decoder_num_attention_heads={self.decoder_num_attention_heads}."
            )


__all__ = ["AHU_LABELS", "RViTConfig", "RViTConfigError"]
