"""PyTorch RViT (recurrent video transformer, Yang et al., CVPR 2022) in the style of transformers' models.

RViT reads a clip one frame at a time. Every layer keeps a recurrent state of `num_patches + 1` tokens; at each
frame, a layer attends with queries, keys and values computed from both the frame's tokens and its own state, and
updates the state with the attention output. The clip representation is the class token of the last frame
concatenated with the first state token of every layer.

Shapes: B clips, T frames, S = num_patches + 1 tokens per frame, C = hidden_size, L = num_hidden_layers.
"""

from __future__ import annotations

import math
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils import ModelOutput, can_return_tuple, logging

from .configuration_rvit import RViTConfig
from .hub_card import ModelCardFromFolderMixin

logger = logging.get_logger(__name__)


class RViTInputError(ValueError):
    """Input that an RViT model cannot take (wrong shape, size, mask or state)."""


@dataclass
class RViTState:
    """
    What an RViT model carries from one call to the next when a clip is fed in chunks.

    Args:
        hidden (`torch.FloatTensor` of shape `(num_hidden_layers, batch_size, num_patches + 1, hidden_size)`):
            The recurrent state of every layer after the last frame seen.
        last_frame_output (`torch.FloatTensor` of shape `(batch_size, num_patches + 1, hidden_size)`):
            The last layer's frame tokens for the last valid frame seen (zeros before the first frame).
        num_frames_seen (`torch.LongTensor` of shape `(batch_size,)`):
            How many valid frames of each clip the state has absorbed.
    """

    hidden: torch.Tensor
    last_frame_output: torch.Tensor
    num_frames_seen: torch.Tensor

    def detach(self) -> RViTState:
        """The same state cut from the autograd graph (truncated back-propagation through time)."""
        return RViTState(self.hidden.detach(), self.last_frame_output.detach(), self.num_frames_seen)

    def to(self, *args, **kwargs) -> RViTState:
        """Moves the float tensors like `torch.Tensor.to`; the frame counter keeps its dtype."""
        hidden = self.hidden.to(*args, **kwargs)
        return RViTState(
            hidden, self.last_frame_output.to(*args, **kwargs), self.num_frames_seen.to(hidden.device)
        )


@dataclass
class RViTModelOutput(ModelOutput):
    """
    Output of [`RViTModel`].

    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch_size, num_patches + 1, hidden_size)`):
            The last layer's frame tokens for the last valid frame of each clip.
        pooler_output (`torch.FloatTensor` of shape `(batch_size, config.pooled_size)`):
            The clip representation that feeds the classification head (see `RViTConfig.pooling_type`).
        hidden_states (`tuple(torch.FloatTensor)`, *optional*, returned when `output_hidden_states=True`):
            `num_hidden_layers + 1` tensors of shape `(batch_size, num_frames, num_patches + 1, hidden_size)`: the
            frame tokens of every frame of this call, out of the patch embedding (before position embeddings),
            then out of each layer. Entries for masked frames are computed but meaningless.
        attentions (`tuple(torch.FloatTensor)`, *optional*, returned when `output_attentions=True`):
            `num_hidden_layers` tensors of shape `(batch_size, num_frames, num_heads, num_patches + 1,
            num_patches + 1)`: per frame, the softmax attention probabilities, or for the linear kind the
            unnormalized kernel scores `(elu(q) + 1) (elu(k) + 1)ᵀ`.
        state (`RViTState`, *optional*, returned when `return_state=True`):
            The recurrent state after this call; pass it as `past_state` to continue the clip.
    """

    last_hidden_state: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    state: RViTState | None = None


@dataclass
class RViTVideoClassifierOutput(ModelOutput):
    """
    Output of [`RViTForVideoClassification`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is given):
            Cross-entropy (single label), binary cross-entropy (multi-label) or MSE (regression) loss.
        logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`):
            Classification scores before softmax / sigmoid.
        pooler_output (`torch.FloatTensor` of shape `(batch_size, config.pooled_size)`):
            The clip representation the head read.
        hidden_states, attentions, state:
            As in [`RViTModelOutput`].
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    state: RViTState | None = None


class RViTPatchEmbeddings(nn.Module):
    """Turns frames `(num_frames_total, num_channels, height, width)` into patch tokens `(…, num_patches, C)`."""

    def __init__(self, config: RViTConfig):
        super().__init__()
        self.image_size = config.image_size
        self.num_channels = config.num_channels
        self.num_patches = config.num_patches
        self.projection = nn.Conv2d(
            config.num_channels, config.hidden_size, kernel_size=config.patch_size, stride=config.patch_size
        )

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.projection(frames).flatten(2).transpose(1, 2)


class RViTStemConvolution(nn.Conv2d):
    """A 3×3 stride-2 convolution of `RViTConvStem` (its own class so that `_init_weights` gives it He init)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(in_channels, out_channels, kernel_size=3, stride=2, padding=1, bias=False)


class RViTConvStem(nn.Module):
    """
    `patch_embedding_type="conv_stem"`: frames `(N, num_channels, H, W)` → patch tokens `(N, num_patches, C)` through
    `log2(patch_size)` 3×3 stride-2 convolutions (BatchNorm, ReLU; the widths double up to `C`), then a 1×1
    projection, on the same `(H / patch_size)²` grid as the patchify embedding.
    """

    def __init__(self, config: RViTConfig):
        super().__init__()
        self.image_size = config.image_size
        self.num_channels = config.num_channels
        self.num_patches = config.num_patches
        num_convs = config.patch_size.bit_length() - 1
        widths = [max(1, config.hidden_size >> (num_convs - 1 - index)) for index in range(num_convs)]
        layers: list[nn.Module] = []
        in_channels = config.num_channels
        for width in widths:
            layers += [
                RViTStemConvolution(in_channels, width),
                nn.BatchNorm2d(width),
                nn.ReLU(),
            ]
            in_channels = width
        self.convolutions = nn.Sequential(*layers)
        self.projection = nn.Conv2d(in_channels, config.hidden_size, kernel_size=1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.projection(self.convolutions(frames)).flatten(2).transpose(1, 2)


class RViTEmbeddings(nn.Module):
    """
    Frame tokens for every frame at once: patch tokens with the class token prepended. The position embeddings are
    kept apart because RViT adds them again in every layer, to the frame tokens and to the state.
    """

    def __init__(self, config: RViTConfig):
        super().__init__()
        if config.patch_embedding_type == "conv_stem":
            self.patch_embeddings = RViTConvStem(config)
        else:
            self.patch_embeddings = RViTPatchEmbeddings(config)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        self.position_embeddings = nn.Parameter(torch.zeros(1, config.num_patches + 1, config.hidden_size))

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """`(B, T, channels, H, W)` -> frame tokens `(B, T, S, C)`, one convolution over all `B·T` frames."""
        batch_size, num_frames = pixel_values.shape[:2]
        frames = pixel_values.flatten(0, 1).to(dtype=self.patch_embeddings.projection.weight.dtype)
        patch_tokens = self.patch_embeddings(frames)
        patch_tokens = patch_tokens.unflatten(0, (batch_size, num_frames))
        cls_tokens = self.cls_token.expand(batch_size, num_frames, 1, -1)
        return torch.cat((cls_tokens, patch_tokens), dim=2)


def dropout_mask(shape: tuple[int, ...], p: float, like: torch.Tensor) -> torch.Tensor:
    """
    A dropout mask of `shape` for tensors like `like` (its dtype and device): each element independently 0 with
    probability `p`, else `1 / (1 - p)`, the scaling of `nn.functional.dropout`. Multiply it in.

    On the CPU, each element's keep/drop decision uses 16 random bits: one 64-bit draw of torch's generator serves
    four elements, where `bernoulli_` spends a draw of 64 bits on each (it costs ~8 ns an element there, more than
    the matmuls it sits between; BENCHMARKS.md, "## RViT"). The keep probability is then `1 - p` rounded to a
    multiple of 2⁻¹⁶ (0.899994 for p = 0.1). Elsewhere the mask comes from `bernoulli_`.
    """
    keep_probability = 1.0 - p
    if like.device.type != "cpu":
        mask = torch.empty(shape, dtype=like.dtype, device=like.device).bernoulli_(keep_probability)
        return mask.div_(keep_probability)
    numel = math.prod(shape)
    # `random_(-2⁶³, None)` is the generator's full 64-bit range, taken as drawn; with an upper bound it would
    # reduce every draw modulo 2⁶⁴ - 1 (a 64-bit division per word; that draw took 1.16x as long, BENCHMARKS.md).
    words = torch.empty((numel + 3) // 4, dtype=torch.int64).random_(-(2**63), None)
    lanes = words.view(torch.int16)[:numel].view(shape).to(torch.float32)
    # A lane is uniform on [-2¹⁵, 2¹⁵); it keeps its element when below `threshold`: `threshold - lane` is an integer,
    # >= 1 then and <= 0 otherwise, so clamping it to [0, 1] gives exactly 1 or 0.
    threshold = round(keep_probability * 2**16) - 2**15
    mask = lanes.neg_().add_(threshold).clamp_(0.0, 1.0).mul_(1.0 / keep_probability)
    return mask.to(like.dtype)


class RViTDropout(nn.Module):
    """`nn.Dropout` with masks from `dropout_mask`; `mask(shape, like)` gives one to fuse into another op."""

    def __init__(self, p: float):
        super().__init__()
        self.p = float(p)

    def mask(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor | None:
        """A mask for `shape`, or None when nothing is dropped (eval mode or p = 0)."""
        if not self.training or self.p == 0.0:
            return None
        if self.p == 1.0:
            return like.new_zeros(shape)
        return dropout_mask(shape, self.p, like)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        mask = self.mask(hidden_states.shape, hidden_states)
        return hidden_states if mask is None else hidden_states * mask

    def add(self, residual: torch.Tensor, hidden_states: torch.Tensor) -> torch.Tensor:
        """`residual + dropout(hidden_states)` in one op."""
        mask = self.mask(hidden_states.shape, hidden_states)
        return residual + hidden_states if mask is None else torch.addcmul(residual, hidden_states, mask)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """
    Softmax attention. `query`, `key`, `value`: `(B, heads, S, head_dim)`; returns `(B, S, heads, head_dim)`.

    The scale goes on the `(S, head_dim)` queries rather than on the `(S, S)` scores, and the softmax runs in the
    scores' own dtype: PyTorch's softmax kernels accumulate bf16/fp16 in float32 already, so an explicit float32
    round trip only adds two copies of the scores per frame (BENCHMARKS.md, "## RViT", bf16 rows).
    """
    scores = torch.matmul(query * scaling, key.transpose(-1, -2))
    if attention_mask is not None:
        scores = scores + attention_mask
    probs = nn.functional.softmax(scores, dim=-1)
    probs = nn.functional.dropout(probs, p=dropout, training=module.training)
    return torch.matmul(probs, value).transpose(1, 2).contiguous(), probs


def linear_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    output_attentions: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """
    The reference's kernel attention: `(elu(q) + 1) (elu(k) + 1)ᵀ v`, no scaling and no normalization.
    Computed as `q' (k'ᵀ v)`, which costs `S·d²` instead of `S²·d`; with `output_attentions`, as `(q' k'ᵀ) v`, so
    that the returned scores are the ones the output is computed from. Shapes as in `eager_attention_forward`.
    """
    query = nn.functional.elu(query) + 1.0
    key = nn.functional.elu(key) + 1.0
    if output_attentions:
        scores = torch.matmul(query, key.transpose(-1, -2))
        output = torch.matmul(scores, value)
    else:
        scores = None
        output = torch.matmul(query, torch.matmul(key.transpose(-1, -2), value))
    return output.transpose(1, 2).contiguous(), scores


class RViTAttention(nn.Module):
    """
    Attention of the frame tokens and the state together. Queries, keys and values are
    `W [LN_in(x̃) ; LN_hid(h̃)] + b = W_x LN_in(x̃) + W_h LN_hid(h̃) + b`: the reference's two projections
    `to_qkv(LN_in(x̃)) + to_qkv_h(LN_hid(h̃))` kept as one `qkv` layer (`W = [W_x  W_h]`, `b = b_qkv + b_qkv_h`).
    The frame half does not depend on the state, so `project_frames` computes it for all frames in one matmul.
    """

    def __init__(self, config: RViTConfig):
        super().__init__()
        self.config = config
        self.attention_type = config.attention_type
        self.hidden_size = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.scaling = self.head_dim**-0.5
        self.attention_dropout = config.attention_probs_dropout_prob
        self.is_causal = False
        self.qkv = nn.Linear(2 * config.hidden_size, 3 * config.hidden_size, bias=config.qkv_bias)
        self.o_proj = nn.Linear(config.hidden_size, config.hidden_size)

    def project_frames(self, normed_frames: torch.Tensor) -> torch.Tensor:
        """`W_x LN_in(x̃) + b` for frame tokens of any leading shape `(…, S, C)` → `(…, S, 3C)`."""
        return nn.functional.linear(normed_frames, self.qkv.weight[:, : self.hidden_size], self.qkv.bias)

    def state_weight(self) -> torch.Tensor:
        """`W_hᵀ` `(C, 3C)`, to take once per call: in the autocast dtype when autocast is on, so the frame loop
        does not cast it again at every frame (autocast caches the casts of parameters, not of their slices)."""
        weight = self.qkv.weight[:, self.hidden_size :].t()
        device_type = weight.device.type
        if torch.is_autocast_enabled(device_type):
            weight = weight.to(torch.get_autocast_dtype(device_type))
        return weight

    def forward(
        self,
        frame_projections: torch.Tensor,
        normed_state: torch.Tensor,
        state_weight: torch.Tensor,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """
        `frame_projections`: `(B, S, 3C)` from `project_frames`; `normed_state`: `(B, S, C)`, `LN_hid(h̃)`;
        `state_weight`: from `state_weight()`. Returns `(B, S, C)`, before dropout (the state takes it as it is),
        and the attention map (with `output_attentions`: the softmax kind then runs eager attention).
        """
        batch_size, seq_len = normed_state.shape[:2]
        qkv = torch.addmm(
            frame_projections.reshape(-1, 3 * self.hidden_size),
            normed_state.reshape(-1, self.hidden_size),
            state_weight,
        )
        qkv = qkv.view(batch_size, seq_len, 3, self.num_heads, self.head_dim)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)

        if self.attention_type == "linear":
            attn_output, attn_weights = linear_attention_forward(self, query, key, value, output_attentions)
        else:
            implementation = self.config._attn_implementation
            if output_attentions:
                implementation = "eager"
            elif implementation == "sdpa" and query.device.type == "cpu" and query.dtype != torch.float32:
                # PyTorch's CPU SDPA kernel is slower than matmul → softmax → matmul in bf16/fp16, most of all
                # in the backward pass (BENCHMARKS.md, "## RViT"); the two compute the same.
                implementation = "eager"
            attention_interface: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
                implementation, eager_attention_forward
            )
            attn_output, attn_weights = attention_interface(
                self,
                query,
                key,
                value,
                None,
                dropout=self.attention_dropout if self.training else 0.0,
                scaling=self.scaling,
            )
        return self.o_proj(attn_output.reshape(batch_size, seq_len, -1)), attn_weights


class RViTMLP(nn.Module):
    def __init__(self, config: RViTConfig):
        super().__init__()
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.activation_fn = ACT2FN[config.hidden_act]
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)
        self.dropout = RViTDropout(config.hidden_dropout_prob)

    def forward(self, residual: torch.Tensor, normed: torch.Tensor) -> torch.Tensor:
        """`residual + MLP(normed)`, with dropout after the activation and after `fc2` (as the reference)."""
        return self.dropout.add(residual, self.fc2(self.dropout(self.activation_fn(self.fc1(normed)))))


class RViTLayer(GradientCheckpointingLayer):
    """
    One recurrent layer over the frames of a chunk. With P the position embeddings, at frame t:
    `x̃ = drop(x_t + P)`, `h̃ = h + P`, `A = Attention(W_x LN_in(x̃) + W_h LN_hid(h̃) + b)`,
    `x'_t = x̃ + drop(A) + MLP(LN_out(x̃ + drop(A)))`, `h ← h̃ + A` (the state takes `A` without dropout, as in the
    reference).

    Only `W_h LN_hid(h̃)`, the attention and its output projection depend on the state. Everything else is computed
    for all the chunk's frames at once, outside the frame loop: the input dropout, `LN_in` and `W_x` before it, the
    attention output's dropout, the residual, `LN_out` and the MLP after it. Layer by layer is the same computation
    as frame by frame, reordered; each dropout draws one mask for the whole chunk, which is the same as one
    independent mask per frame.

    With `last_frame_only` (the encoder's last layer, when no per-frame hidden states are asked for), the part after
    the attention runs for one frame per clip, the chunk's last valid one: nothing reads the last layer's other
    frame tokens (the state takes `A`, the output is the last frame's tokens), so this leaves every output and
    gradient as it was and skips most of the last layer's forward MLP (the backward pass never visited those frames:
    autograd only follows what the loss reads).
    """

    def __init__(self, config: RViTConfig):
        super().__init__()
        self.input_dropout = RViTDropout(config.layer_input_dropout_prob)
        self.frame_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.state_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = RViTAttention(config)
        self.attention_output_dropout = RViTDropout(config.hidden_dropout_prob)
        self.layernorm_after = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = RViTMLP(config)

    def forward(
        self,
        frame_tokens: torch.Tensor,
        state: torch.Tensor,
        position_embeddings: torch.Tensor,
        frame_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
        last_frame_only: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """
        `frame_tokens`: `(B, T, S, C)`; `state`: `(B, S, C)`; `position_embeddings`: `(1, S, C)`, or `(T, S, C)`
        when embedding dropout gives each frame its own; `frame_mask`: `(B, T)` bool, frames where it is False leave
        the state untouched. Returns the new frame tokens `(B, T, S, C)` (with `last_frame_only`: `(B, 1, S, C)`,
        those of each clip's last valid frame, see `_last_valid_index`), the state after the last frame `(B, S, C)`
        and the attention maps `(B, T, heads, S, S)` (or `None`).
        """
        num_frames = frame_tokens.shape[1]
        frame_tokens = self.input_dropout(frame_tokens + position_embeddings)
        # Frame-major `(T, B, S, 3C)`, so that each frame's slice is contiguous. unbind, not indexing: each
        # index's backward would zero-fill a full gradient.
        per_frame_projections = self.attention.project_frames(
            self.frame_layernorm(frame_tokens).transpose(0, 1)
        ).unbind(0)
        per_frame_positions = position_embeddings.expand(num_frames, -1, -1).unbind(0)
        per_frame_valid = frame_mask.unbind(1) if frame_mask is not None else [None] * num_frames
        state_weight = self.attention.state_weight()
        attn_outputs, attn_maps = [], []
        for projections, position, valid in zip(
            per_frame_projections, per_frame_positions, per_frame_valid, strict=True
        ):
            state_tilde = state + position
            attn_output, attn_weights = self.attention(
                projections, self.state_layernorm(state_tilde), state_weight, output_attentions
            )
            new_state = state_tilde + attn_output
            state = new_state if valid is None else torch.where(valid[:, None, None], new_state, state)
            attn_outputs.append(attn_output)
            attn_maps.append(attn_weights)
        if last_frame_only:
            if frame_mask is None:
                frame_tokens, attn_outputs = frame_tokens[:, -1:], attn_outputs[-1][:, None]
            else:
                clips = torch.arange(frame_tokens.shape[0], device=frame_tokens.device)
                last = _last_valid_index(frame_mask)
                frame_tokens = frame_tokens[clips, last][:, None]
                attn_outputs = torch.stack(attn_outputs, dim=1)[clips, last][:, None]
        else:
            attn_outputs = torch.stack(attn_outputs, dim=1)
        frame_tokens = self.attention_output_dropout.add(frame_tokens, attn_outputs)
        frame_tokens = self.mlp(frame_tokens, self.layernorm_after(frame_tokens))
        attentions = None
        if output_attentions:
            attentions = torch.stack(attn_maps, dim=1)
            _retain_frame_gradients(attentions, attn_maps)
        return frame_tokens, state, attentions


def _retain_frame_gradients(stacked: torch.Tensor, per_frame: list[torch.Tensor]) -> None:
    """
    Makes `retain_grad()` work on `stacked` `(B, T, …)`, the stack of per-frame tensors `per_frame` made after the
    frame loop, which no later computation reads (each frame's attention map was used before the next frame's
    existed): once `stacked.retain_grad()` was called, the gradient that reaches each frame's tensor in the backward
    pass is added to `stacked.grad` at that frame. Gradient-based attribution on the returned attention maps thus
    works as with any transformers model.
    """
    if not stacked.requires_grad:
        return
    stacked_ref = weakref.ref(stacked)  # the hooks must not keep the returned tensor alive

    def hook_for(frame_index: int):
        def hook(grad: torch.Tensor) -> None:
            target = stacked_ref()
            if target is None or not target.retains_grad:
                return
            if target.grad is None:
                target.grad = torch.zeros_like(target)
            target.grad[:, frame_index] += grad

        return hook

    for frame_index, tensor in enumerate(per_frame):
        tensor.register_hook(hook_for(frame_index))


# On the CPU, chunks of 4-9 frames train fastest; whole 36-frame clips train ~15 % slower (their batched activations
# no longer fit in the caches). BENCHMARKS.md, "## RViT", has the measurement.
CPU_FRAMES_PER_CHUNK = 8


class RViTEncoder(nn.Module):
    """The layers, and the learned first token of each layer's initial state (the other tokens start at zero)."""

    def __init__(self, config: RViTConfig):
        super().__init__()
        self.config = config
        self.state_tokens = nn.Parameter(torch.zeros(config.num_hidden_layers, config.hidden_size))
        self.position_dropout = RViTDropout(config.embedding_dropout_prob)
        self.layer = nn.ModuleList([RViTLayer(config) for _ in range(config.num_hidden_layers)])

    def initial_hidden(self, batch_size: int, device=None, dtype=None) -> torch.Tensor:
        """The state before the first frame, `(L, B, S, C)`, differentiable in `state_tokens`."""
        num_layers, hidden_size = self.state_tokens.shape
        device = device if device is not None else self.state_tokens.device
        dtype = dtype if dtype is not None else self.state_tokens.dtype
        first = self.state_tokens.to(device=device, dtype=dtype)[:, None, None, :]
        rest = torch.zeros(
            num_layers, batch_size, self.config.num_patches, hidden_size, device=device, dtype=dtype
        )
        return torch.cat((first.expand(-1, batch_size, -1, -1), rest), dim=2)

    def forward(
        self,
        frame_tokens: torch.Tensor,
        position_embeddings: torch.Tensor,
        state: RViTState,
        frame_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> tuple[RViTState, tuple | None, tuple | None]:
        """
        Runs the recurrence over the frames of `frame_tokens` `(B, T, S, C)`, starting from `state`: chunk by chunk
        of `frames_per_chunk` frames, and within a chunk layer by layer. `frame_mask` `(B, T)`, bool: frames where
        it is False leave the state and the output untouched.

        With `output_hidden_states` or `output_attentions`, the whole call is one chunk, so that each returned
        per-layer tensor is the one the next layer reads (part of the autograd graph: `retain_grad()` on it gets
        the gradient); the result does not depend on the chunking.
        """
        if output_hidden_states or output_attentions:
            chunk_size = max(1, frame_tokens.shape[1])
        else:
            chunk_size = self.frames_per_chunk(frame_tokens)
        hidden = list(state.hidden.unbind(0))
        last_frame_output = state.last_frame_output
        all_hidden_states = (frame_tokens,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        token_chunks = frame_tokens.split(chunk_size, dim=1)
        mask_chunks = (
            frame_mask.split(chunk_size, dim=1) if frame_mask is not None else [None] * len(token_chunks)
        )
        last_index = len(self.layer) - 1
        for tokens, chunk_mask in zip(token_chunks, mask_chunks, strict=True):
            # The reference drops out the position embeddings once per frame; that frame's layers and state share it.
            position_mask = self.position_dropout.mask(
                (tokens.shape[1], *position_embeddings.shape[1:]), position_embeddings
            )
            positions = position_embeddings if position_mask is None else position_embeddings * position_mask
            for index, layer in enumerate(self.layer):
                # Past the last layer only the last valid frame's tokens are read (see `RViTLayer`).
                last_frame_only = index == last_index and not output_hidden_states
                tokens, hidden[index], attn_maps = layer(
                    tokens, hidden[index], positions, chunk_mask, output_attentions, last_frame_only
                )
                if output_hidden_states:
                    all_hidden_states += (tokens,)
                if output_attentions:
                    all_attentions += (attn_maps,)
            last_frame_output = _last_valid_frame(tokens, chunk_mask, last_frame_output, last_frame_only)

        if frame_mask is None:
            num_frames_seen = state.num_frames_seen + frame_tokens.shape[1]
        else:
            num_frames_seen = state.num_frames_seen + frame_mask.sum(dim=1)
        new_state = RViTState(torch.stack(hidden), last_frame_output, num_frames_seen)
        return new_state, all_hidden_states, all_attentions

    def frames_per_chunk(self, frame_tokens: torch.Tensor) -> int:
        """`config.frames_per_chunk`, or by device when it is None: 8 on the CPU, the whole call elsewhere."""
        if self.config.frames_per_chunk is not None:
            return self.config.frames_per_chunk
        return CPU_FRAMES_PER_CHUNK if frame_tokens.device.type == "cpu" else max(1, frame_tokens.shape[1])


def _last_valid_index(frame_mask: torch.Tensor) -> torch.Tensor:
    """`(B,)`: the index of each clip's last True frame in `frame_mask` `(B, T)` (0 for a clip without one)."""
    positions = torch.arange(1, frame_mask.shape[1] + 1, device=frame_mask.device)
    return (frame_mask * positions).argmax(dim=1)


def _last_valid_frame(
    tokens: torch.Tensor, frame_mask: torch.Tensor | None, previous: torch.Tensor, selected: bool = False
) -> torch.Tensor:
    """The tokens `(B, S, C)` of each clip's last valid frame in `tokens` `(B, T, S, C)`; `previous` for a clip
    without one. `selected`: `tokens` `(B, 1, S, C)` already holds that frame (`RViTLayer`'s `last_frame_only`)."""
    if frame_mask is None:
        return tokens[:, -1]
    if selected:
        chosen = tokens[:, 0]
    else:
        chosen = tokens[torch.arange(tokens.shape[0], device=tokens.device), _last_valid_index(frame_mask)]
    return torch.where(frame_mask.any(dim=1)[:, None, None], chosen, previous)


def _resize_position_embeddings(position_embeddings: torch.Tensor, num_patches: int) -> torch.Tensor:
    """`(1, 1 + n, C)` -> `(1, 1 + num_patches, C)`: the patch grid resized bicubically, the class position kept."""
    if position_embeddings.shape[1] == num_patches + 1:
        return position_embeddings
    class_position, patch_positions = position_embeddings[:, :1], position_embeddings[:, 1:]
    old_side, new_side = round(patch_positions.shape[1] ** 0.5), round(num_patches**0.5)
    grid = patch_positions.reshape(1, old_side, old_side, -1).permute(0, 3, 1, 2)
    grid = nn.functional.interpolate(grid, size=(new_side, new_side), mode="bicubic", align_corners=False)
    return torch.cat((class_position, grid.permute(0, 2, 3, 1).reshape(1, num_patches, -1)), dim=1)


class RViTPreTrainedModel(ModelCardFromFolderMixin, PreTrainedModel):
    config: RViTConfig
    config_class = RViTConfig
    base_model_prefix = "rvit"
    main_input_name = "pixel_values"
    input_modalities = ("video",)
    supports_gradient_checkpointing = True
    _no_split_modules: ClassVar[list[str]] = ["RViTEmbeddings", "RViTLayer"]
    _supports_sdpa = True
    # Checked with torch.compile(model, fullgraph=True), frame_mask included: the frame loop has no data-dependent
    # branch (masked frames are selected with torch.where).
    _can_compile_fullgraph = True

    def _init_weights(self, module):
        """Linear/conv: normal(0, initializer_range), LayerNorm/BatchNorm: (1, 0), learned tokens: truncated normal;
        the 3×3 convolutions of a conv stem: He normal (fan-out, ReLU), as Xiao et al."""
        if isinstance(module, RViTStemConvolution):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            return
        super()._init_weights(module)
        std = self.config.initializer_range
        if isinstance(module, RViTEmbeddings):
            init.trunc_normal_(module.cls_token, std=std)
            init.trunc_normal_(module.position_embeddings, std=std)
        elif isinstance(module, RViTEncoder):
            init.trunc_normal_(module.state_tokens, std=std)

    @classmethod
    def from_vit_pretrained(
        cls,
        vit,
        state_projection_init: str = "zeros",
        **config_overrides,
    ):
        """
        An RViT whose frame encoder starts from a transformers ViT checkpoint (e.g. ImageNet-pretrained).

        Copied from the ViT: the patch embedding, class token, position embeddings (bicubic-resized when
        `image_size` or `patch_size` is overridden), and per layer the LayerNorms (`layernorm_before` serves both
        `frame_layernorm` and `state_layernorm`), the query/key/value projections (the frame half of the fused
        projection), the output projection and the MLP. The state tokens and the head keep their fresh
        initialization; ViT's final LayerNorm and pooler have no counterpart and are not used.

        Args:
            vit (`str`, `os.PathLike` or `ViTModel`/`ViTForImageClassification`): a checkpoint folder or Hub id
                (loaded with `ViTModel.from_pretrained`), or a loaded model.
            state_projection_init (`str`, *optional*, defaults to `"zeros"`): the state half of the fused projection:
                `"zeros"` (at the start, attention reads only the frame, as the ViT did) or `"copy"` (the same
                weights as the frame half).
            config_overrides: `RViTConfig` fields (e.g. `num_labels`, `attention_type`, `image_size`).
        """
        from transformers import ViTModel

        if state_projection_init not in ("zeros", "copy"):
            raise ValueError(f"state_projection_init={state_projection_init!r}: choose 'zeros' or 'copy'.")
        if not isinstance(vit, nn.Module):
            vit = ViTModel.from_pretrained(vit, add_pooling_layer=False)
        vit = getattr(vit, "vit", vit)
        vit_config = vit.config
        fields = {
            name: getattr(vit_config, name)
            for name in (
                "image_size",
                "patch_size",
                "num_channels",
                "hidden_size",
                "num_hidden_layers",
                "num_attention_heads",
                "intermediate_size",
                "hidden_act",
                "layer_norm_eps",
                "qkv_bias",
                "initializer_range",
            )
        }
        for name in ("image_size", "patch_size"):
            if not isinstance(fields[name], int):
                if len(set(fields[name])) != 1:
                    raise ValueError(
                        f"The ViT's {name}={fields[name]} is not square; RViT needs square frames."
                    )
                fields[name] = int(fields[name][0])
        fields.update(config_overrides)
        if fields.get("patch_embedding_type", "patchify") != "patchify":
            raise ValueError(
                "from_vit_pretrained copies the ViT's patchify embedding; leave patch_embedding_type at 'patchify'."
            )
        model = cls(cls.config_class(**fields))
        rvit = getattr(model, cls.base_model_prefix, model)
        rvit_config = rvit.config
        if rvit_config.hidden_size != vit_config.hidden_size or rvit_config.num_hidden_layers > len(
            vit.layers
        ):
            raise ValueError(
                f"hidden_size={rvit_config.hidden_size}, num_hidden_layers={rvit_config.num_hidden_layers} do not "
                f"fit the ViT's hidden_size={vit_config.hidden_size} and {len(vit.layers)} layers."
            )

        with torch.no_grad():
            vit_embeddings, embeddings = vit.embeddings, rvit.embeddings
            vit_projection = vit_embeddings.patch_embeddings.projection
            projection = embeddings.patch_embeddings.projection
            if vit_projection.weight.shape != projection.weight.shape:
                raise ValueError(
                    f"The ViT's patch embedding {tuple(vit_projection.weight.shape)} does not fit "
                    f"{tuple(projection.weight.shape)}; keep the ViT's patch_size and num_channels."
                )
            projection.weight.copy_(vit_projection.weight)
            projection.bias.copy_(vit_projection.bias)
            embeddings.cls_token.copy_(vit_embeddings.cls_token)
            embeddings.position_embeddings.copy_(
                _resize_position_embeddings(vit_embeddings.position_embeddings, rvit_config.num_patches)
            )
            for vit_layer, layer in zip(vit.layers, rvit.encoder.layer):
                layer.frame_layernorm.load_state_dict(vit_layer.layernorm_before.state_dict())
                layer.state_layernorm.load_state_dict(vit_layer.layernorm_before.state_dict())
                layer.layernorm_after.load_state_dict(vit_layer.layernorm_after.state_dict())
                vit_attention = vit_layer.attention
                projections = (vit_attention.q_proj, vit_attention.k_proj, vit_attention.v_proj)
                frame_weight = torch.cat([projection.weight for projection in projections])
                state_weight = (
                    frame_weight if state_projection_init == "copy" else torch.zeros_like(frame_weight)
                )
                layer.attention.qkv.weight.copy_(torch.cat((frame_weight, state_weight), dim=1))
                if layer.attention.qkv.bias is not None:
                    biases = [
                        p.bias if p.bias is not None else p.weight.new_zeros(p.out_features)
                        for p in projections
                    ]
                    layer.attention.qkv.bias.copy_(torch.cat(biases))
                layer.attention.o_proj.load_state_dict(vit_attention.o_proj.state_dict())
                layer.mlp.fc1.load_state_dict(vit_layer.mlp.fc1.state_dict())
                layer.mlp.fc2.load_state_dict(vit_layer.mlp.fc2.state_dict())
        return model

    def _check_pixel_values(self, pixel_values: torch.Tensor) -> None:
        config = self.config
        if pixel_values is None:
            raise RViTInputError(
                "pixel_values is required: a float tensor (batch, frames, channels, height, width)."
            )
        if pixel_values.ndim != 5:
            hint = (
                " For one clip, add the batch dimension: pixel_values[None]."
                if pixel_values.ndim == 4
                else ""
            )
            raise RViTInputError(
                f"pixel_values must be 5-D (batch, frames, channels, height, width), got shape "
                f"{tuple(pixel_values.shape)}.{hint}"
            )
        channels, height, width = pixel_values.shape[2:]
        if channels != config.num_channels or height != config.image_size or width != config.image_size:
            raise RViTInputError(
                f"pixel_values frames are {channels}×{height}×{width} (channels×height×width) but this model takes "
                f"{config.num_channels}×{config.image_size}×{config.image_size}; resize the frames (the video "
                f"processor does) or use a config with image_size={height}."
            )
        if pixel_values.shape[1] == 0:
            raise RViTInputError("pixel_values holds no frames (frames dimension is 0).")


class RViTModel(RViTPreTrainedModel):
    """
    The bare RViT encoder: frames in, the recurrent state and the pooled clip representation out.

    Feed a whole clip at once, or one frame / chunk at a time carrying the state:

    ```python
    >>> state = model.init_state(batch_size=1)
    >>> for chunk in clip.split(4, dim=1):  # (1, T, 3, H, W) in chunks of 4 frames
    ...     outputs = model(chunk, past_state=state, return_state=True)
    ...     state = outputs.state
    >>> outputs.pooler_output  # the same as model(clip).pooler_output
    ```
    """

    def __init__(self, config: RViTConfig):
        super().__init__(config)
        self.config = config
        self.embeddings = RViTEmbeddings(config)
        self.encoder = RViTEncoder(config)
        self.post_init()

    def get_input_embeddings(self) -> RViTPatchEmbeddings | RViTConvStem:
        return self.embeddings.patch_embeddings

    def init_state(self, batch_size: int, device=None, dtype=None) -> RViTState:
        """The state before the first frame of `batch_size` clips (on the model's device and dtype by default)."""
        hidden = self.encoder.initial_hidden(batch_size, device=device, dtype=dtype)
        return RViTState(
            hidden=hidden,
            last_frame_output=torch.zeros_like(hidden[0]),
            num_frames_seen=torch.zeros(batch_size, dtype=torch.long, device=hidden.device),
        )

    def pool(self, state: RViTState) -> torch.Tensor:
        """The clip representation `(B, config.pooled_size)` from a state."""
        if self.config.pooling_type == "cls":
            return state.last_frame_output[:, 0]
        return torch.cat((state.last_frame_output[:, 0], *state.hidden[:, :, 0].unbind(0)), dim=-1)

    def _check_frame_mask(
        self, pixel_values: torch.Tensor, frame_mask: torch.Tensor | None
    ) -> torch.Tensor | None:
        if frame_mask is None:
            return None
        if tuple(frame_mask.shape) != tuple(pixel_values.shape[:2]):
            raise RViTInputError(
                f"frame_mask must have shape (batch, frames) = {tuple(pixel_values.shape[:2])}, "
                f"got {tuple(frame_mask.shape)}."
            )
        return frame_mask.to(device=pixel_values.device, dtype=torch.bool)

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        frame_mask: torch.Tensor | None = None,
        past_state: RViTState | None = None,
        return_state: bool = False,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        **kwargs,
    ) -> RViTModelOutput:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch_size, num_frames, num_channels, height, width)`):
                Normalized frames; any number of frames.
            frame_mask (`torch.Tensor` of shape `(batch_size, num_frames)`, *optional*):
                1/True for real frames, 0/False for padding. A masked frame leaves the state and the output as
                they were, so a clip padded at the end gives exactly the result of the clip alone.
            past_state (`RViTState`, *optional*):
                The state returned by the previous call (`return_state=True`) or `init_state`; the clip continues
                from it. Without it the clip starts fresh.
            return_state (`bool`, *optional*, defaults to `False`):
                Whether to return the state after this call in `state`.
            output_attentions (`bool`, *optional*):
                Return per-frame attention maps (softmax kind with SDPA: the call falls back to eager attention).
            output_hidden_states (`bool`, *optional*):
                Return the per-frame frame tokens of every layer (memory grows with the number of frames).
        """
        output_attentions = (
            output_attentions if output_attentions is not None else self.config.output_attentions
        )
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        self._check_pixel_values(pixel_values)
        if (
            output_attentions
            and self.config.attention_type == "softmax"
            and self.config._attn_implementation not in (None, "eager")
        ):
            logger.warning_once(
                f"output_attentions=True: {self.config._attn_implementation!r} attention returns no attention maps, "
                "so this call uses eager attention (the same result, slower). Load the model with "
                "attn_implementation='eager' to silence this."
            )
        batch_size = pixel_values.shape[0]
        frame_mask = self._check_frame_mask(pixel_values, frame_mask)
        if past_state is not None and past_state.hidden.shape[1] != batch_size:
            raise RViTInputError(
                f"past_state holds {past_state.hidden.shape[1]} clips but pixel_values holds {batch_size}."
            )

        frame_tokens = self.embeddings(pixel_values)
        if past_state is None:
            past_state = self.init_state(batch_size, device=frame_tokens.device, dtype=frame_tokens.dtype)
        state, all_hidden_states, all_attentions = self.encoder(
            frame_tokens,
            self.embeddings.position_embeddings,
            past_state,
            frame_mask=frame_mask,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
        )
        return RViTModelOutput(
            last_hidden_state=state.last_frame_output,
            pooler_output=self.pool(state),
            hidden_states=all_hidden_states,
            attentions=all_attentions,
            state=state if return_state else None,
        )

    def step(self, pixel_values: torch.Tensor, state: RViTState, **kwargs) -> RViTModelOutput:
        """One online step: feeds `pixel_values` `(B, T_chunk, …)` after `state`; the output's `state` goes on."""
        return self(pixel_values, past_state=state, return_state=True, **kwargs)


class RViTClassificationHead(nn.Module):
    """
    `"mlp"`: `out_proj(fc2(act(fc1(pooled))))` (the reference's head, no residual).
    `"layernorm_linear"`: `out_proj(layernorm(pooled))` (the released Jester checkpoint's head).
    Dropout: `embedding_dropout_prob` on `pooled`, `classifier_dropout_prob` after `act` and after `fc2`.
    """

    def __init__(self, config: RViTConfig):
        super().__init__()
        self.head_type = config.head_type
        pooled_size = config.pooled_size
        if config.head_type == "mlp":
            self.fc1 = nn.Linear(pooled_size, config.head_mlp_ratio * pooled_size)
            self.activation_fn = ACT2FN[config.hidden_act]
            self.fc2 = nn.Linear(config.head_mlp_ratio * pooled_size, pooled_size)
        else:
            self.layernorm = nn.LayerNorm(pooled_size, eps=config.layer_norm_eps)
        self.pooled_dropout = nn.Dropout(config.embedding_dropout_prob)
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        self.out_proj = nn.Linear(pooled_size, config.num_labels)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        pooled = self.pooled_dropout(pooled)
        if self.head_type == "mlp":
            hidden = self.dropout(self.activation_fn(self.fc1(pooled)))
            hidden = self.dropout(self.fc2(hidden))
        else:
            hidden = self.layernorm(pooled)
        return self.out_proj(hidden)


class RViTForVideoClassification(RViTPreTrainedModel):
    """RViT with a classification head on the pooled clip representation."""

    def __init__(self, config: RViTConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.rvit = RViTModel(config)
        self.classifier = RViTClassificationHead(config)
        self.post_init()

    def init_state(self, batch_size: int, device=None, dtype=None) -> RViTState:
        """See [`RViTModel.init_state`]."""
        return self.rvit.init_state(batch_size, device=device, dtype=dtype)

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        frame_mask: torch.Tensor | None = None,
        past_state: RViTState | None = None,
        return_state: bool = False,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        **kwargs,
    ) -> RViTVideoClassifierOutput:
        r"""
        Args:
            labels (`torch.Tensor`, *optional*):
                `(batch_size,)` class indices (single-label cross-entropy), `(batch_size, num_labels)` floats in
                {0, 1} (multi-label BCE, `config.problem_type="multi_label_classification"` or inferred from a float
                dtype), or floats with `num_labels == 1` (regression).
            Other arguments: as in [`RViTModel.forward`]; with `past_state` the logits classify the clip so far.
        """
        frames = (
            pixel_values.shape[1]
            if isinstance(pixel_values, torch.Tensor) and pixel_values.ndim == 5
            else None
        )
        if (
            past_state is None
            and frames is not None
            and frames != self.config.num_frames
            and not torch.compiler.is_compiling()  # a warning would break the compiled graph
        ):
            # RViT reads any length, so a processor built for another model would otherwise pass unnoticed.
            warnings.warn(
                f"RViTForVideoClassification got clips of {frames} frames but was configured (and trained) for "
                f"config.num_frames={self.config.num_frames}; build its processor with "
                "RViTVideoProcessor.from_model_config(model.config), or feed longer clips in chunks with past_state",
                UserWarning,
                stacklevel=3,
            )
        outputs = self.rvit(
            pixel_values,
            frame_mask=frame_mask,
            past_state=past_state,
            return_state=return_state,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
        )
        logits = self.classifier(outputs.pooler_output)
        loss = None
        if labels is not None:
            loss = self.loss_function(labels, logits, self.config, **kwargs)
        return RViTVideoClassifierOutput(
            loss=loss,
            logits=logits,
            pooler_output=outputs.pooler_output,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            state=outputs.state,
        )

    def step(self, pixel_values: torch.Tensor, state: RViTState, **kwargs) -> RViTVideoClassifierOutput:
        """One online step: feeds `pixel_values` `(B, T_chunk, …)` after `state`; the output's `state` goes on."""
        return self(pixel_values, past_state=state, return_state=True, **kwargs)


@dataclass
class RViTForPreTrainingOutput(ModelOutput):
    """
    Output of [`RViTForPreTraining`].

    Args:
        loss (`torch.FloatTensor` of shape `()`):
            Masked reconstruction: mean squared error of the reconstruction over the masked patches of the valid
            frames (per-patch normalized targets with `config.norm_pix_loss`). Contrastive: the InfoNCE loss of the
            `2 · batch_size` views.
        logits (`torch.FloatTensor`):
            Masked reconstruction, `(batch_size, num_frames, num_patches, patch_size ** 2 * num_channels)`: the
            reconstruction of every patch of every frame (the loss reads the masked ones); a patch's pixels in
            (row, column, channel) order. Contrastive, `(2 · batch_size, 2 · batch_size)`: the views' cosine
            similarities over the temperature (first the `pixel_values` views, then the paired ones; the diagonal
            is `-inf`).
        bool_masked_pos (`torch.BoolTensor` of shape `(batch_size, num_frames, num_patches)`):
            Masked reconstruction only: the patches that were masked (given, or drawn from `config.mask_ratio` and
            `config.mask_type`).
        hidden_states, attentions:
            As in [`RViTModelOutput`], for the masked input (contrastive: for both views, in `logits`' order).
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    bool_masked_pos: torch.BoolTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


class RViTDecoderLayer(nn.Module):
    """A pre-norm transformer layer of the pretraining decoder over one frame's tokens `(N, S, decoder_hidden_size)`."""

    def __init__(self, config: RViTConfig):
        super().__init__()
        hidden_size = config.decoder_hidden_size
        self.num_heads = config.decoder_num_attention_heads
        self.layernorm_before = nn.LayerNorm(hidden_size, eps=config.layer_norm_eps)
        self.qkv = nn.Linear(hidden_size, 3 * hidden_size, bias=config.qkv_bias)
        self.o_proj = nn.Linear(hidden_size, hidden_size)
        self.layernorm_after = nn.LayerNorm(hidden_size, eps=config.layer_norm_eps)
        self.fc1 = nn.Linear(hidden_size, config.decoder_intermediate_size)
        self.activation_fn = ACT2FN[config.hidden_act]
        self.fc2 = nn.Linear(config.decoder_intermediate_size, hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        batch_size, seq_len = hidden_states.shape[:2]
        qkv = self.qkv(self.layernorm_before(hidden_states))
        query, key, value = (
            qkv.view(batch_size, seq_len, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        )
        attn_output = nn.functional.scaled_dot_product_attention(query, key, value)
        hidden_states = hidden_states + self.o_proj(
            attn_output.transpose(1, 2).reshape(batch_size, seq_len, -1)
        )
        return hidden_states + self.fc2(self.activation_fn(self.fc1(self.layernorm_after(hidden_states))))


class RViTPreTrainingDecoder(nn.Module):
    """
    The light decoder of masked-patch pretraining: the encoder's last-layer tokens of each frame `(B, T, S, C)` →
    a projection to `decoder_hidden_size`, `decoder_num_hidden_layers` transformer layers over the frame's tokens,
    a LayerNorm and a linear map to the pixels of each patch `(B, T, S, patch_size² · num_channels)`.
    """

    def __init__(self, config: RViTConfig):
        super().__init__()
        self.encoder_to_decoder = nn.Linear(config.hidden_size, config.decoder_hidden_size)
        self.layers = nn.ModuleList(
            [RViTDecoderLayer(config) for _ in range(config.decoder_num_hidden_layers)]
        )
        self.norm = nn.LayerNorm(config.decoder_hidden_size, eps=config.layer_norm_eps)
        self.head = nn.Linear(config.decoder_hidden_size, config.patch_size**2 * config.num_channels)

    def forward(self, frame_tokens: torch.Tensor) -> torch.Tensor:
        hidden_states = self.encoder_to_decoder(frame_tokens.flatten(0, 1))
        for layer in self.layers:
            hidden_states = layer(hidden_states)
        return self.head(self.norm(hidden_states)).unflatten(0, frame_tokens.shape[:2])


def patchify(pixel_values: torch.Tensor, patch_size: int) -> torch.Tensor:
    """`(B, T, channels, H, W)` → `(B, T, num_patches, patch_size² · channels)`, patches in the order of the patch
    embedding's tokens (row by row), each patch's pixels in (row, column, channel) order."""
    batch_size, num_frames, channels, height, width = pixel_values.shape
    patches = pixel_values.reshape(
        batch_size, num_frames, channels, height // patch_size, patch_size, width // patch_size, patch_size
    )
    patches = patches.permute(0, 1, 3, 5, 4, 6, 2)
    return patches.reshape(batch_size, num_frames, -1, patch_size * patch_size * channels)


class RViTProjectionHead(nn.Module):
    """The contrastive objective's projection: `fc2(act(fc1(pooled)))`, pooled width -> hidden -> projection."""

    def __init__(self, config: RViTConfig):
        super().__init__()
        self.fc1 = nn.Linear(config.pooled_size, config.pooled_size)
        self.activation_fn = ACT2FN[config.hidden_act]
        self.fc2 = nn.Linear(config.pooled_size, config.contrastive_projection_size)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.activation_fn(self.fc1(pooled)))


class RViTForPreTraining(RViTPreTrainedModel):
    """
    RViT with masked-patch reconstruction for self-supervised pretraining on unlabelled clips, in the manner of
    transformers' `VideoMAEForPreTraining`: masked patches enter the encoder as a learned mask token (RViT pairs
    each frame token with the state token at the same position, so masked tokens cannot simply be dropped), a light
    decoder reconstructs every frame's patches from the encoder's last-layer tokens of that frame, and the loss is the
    mean squared error on the masked patches (of per-patch normalized pixels with `config.norm_pix_loss`).

    With `config.pretraining_objective="contrastive"` it learns instead by SimCLR's objective on whole clips: the
    collator gives two views of every clip (`pixel_values` and `paired_pixel_values`: another window, crop, flip and
    intensity each); both go through the encoder, a projection head maps their pooled representations (what the
    classification head reads) onto the unit sphere, and the InfoNCE loss pulls each view towards its pair and away
    from the batch's other clips. It has no mask token and no decoder.

    The encoder (`rvit`) is the one [`RViTForVideoClassification`] has: `RViTForVideoClassification.from_pretrained`
    on a saved pretraining checkpoint loads it and starts a new classification head.

    ```python
    >>> model = RViTForPreTraining(RViTConfig.from_preset("ahu"))
    >>> outputs = model(pixel_values)  # masks 75 % of each frame's patches, the same in every frame
    >>> outputs.loss.backward()
    ```
    """

    def __init__(self, config: RViTConfig):
        super().__init__(config)
        self.rvit = RViTModel(config)
        if config.pretraining_objective == "contrastive":
            self.projection = RViTProjectionHead(config)
        else:
            self.mask_token = nn.Parameter(torch.zeros(1, 1, 1, config.hidden_size))
            self.decoder = RViTPreTrainingDecoder(config)
        self.post_init()

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, RViTForPreTraining) and hasattr(module, "mask_token"):
            init.trunc_normal_(module.mask_token, std=self.config.initializer_range)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """`PreTrainedModel.save_pretrained`; a registered class also writes the classifier's and the encoder's
        classes into `auto_map`, so that the checkpoint starts them with `trust_remote_code=True` as well."""
        if self._auto_class is not None:
            module = type(self).__module__.rsplit(".", 1)[-1]
            auto_map = dict(getattr(self.config, "auto_map", None) or {})
            auto_map.setdefault("AutoModel", f"{module}.{RViTModel.__name__}")
            auto_map.setdefault(
                "AutoModelForVideoClassification", f"{module}.{RViTForVideoClassification.__name__}"
            )
            self.config.auto_map = auto_map
        return super().save_pretrained(save_directory, *args, **kwargs)

    def random_masking(
        self, batch_size: int, num_frames: int, device=None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """
        A mask `(batch_size, num_frames, num_patches)` bool: `round(mask_ratio · num_patches)` patches of each frame,
        chosen at random per clip (`mask_type="tube"`, the same patches in every frame) or per frame (`"frame"`).
        """
        num_patches = self.config.num_patches
        num_masked = min(num_patches - 1, max(1, round(self.config.mask_ratio * num_patches)))
        num_draws = num_frames if self.config.mask_type == "frame" else 1
        noise = torch.rand(batch_size, num_draws, num_patches, generator=generator, device=device)
        masked = noise.argsort(dim=-1)[..., :num_masked]
        mask = torch.zeros(batch_size, num_draws, num_patches, dtype=torch.bool, device=device)
        mask.scatter_(-1, masked, True)
        return mask.expand(-1, num_frames, -1)

    def _check_bool_masked_pos(
        self, bool_masked_pos: torch.Tensor, pixel_values: torch.Tensor
    ) -> torch.Tensor:
        batch_size, num_frames = pixel_values.shape[:2]
        num_patches = self.config.num_patches
        if tuple(bool_masked_pos.shape) == (batch_size, num_patches):
            bool_masked_pos = bool_masked_pos[:, None].expand(-1, num_frames, -1)
        elif tuple(bool_masked_pos.shape) != (batch_size, num_frames, num_patches):
            raise RViTInputError(
                f"bool_masked_pos must have shape (batch, num_patches) = {(batch_size, num_patches)} (the same "
                f"patches in every frame) or (batch, frames, num_patches) = {(batch_size, num_frames, num_patches)}, "
                f"got {tuple(bool_masked_pos.shape)}."
            )
        return bool_masked_pos.to(device=pixel_values.device, dtype=torch.bool)

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        bool_masked_pos: torch.Tensor | None = None,
        frame_mask: torch.Tensor | None = None,
        paired_pixel_values: torch.Tensor | None = None,
        paired_frame_mask: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        **kwargs,
    ) -> RViTForPreTrainingOutput:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch_size, num_frames, num_channels, height, width)`):
                Normalized frames.
            paired_pixel_values (`torch.FloatTensor`, the shape of `pixel_values`):
                Contrastive objective only (and needed there): a second view of each clip of `pixel_values`, e.g.
                another window with another augmentation (`ahu_train.pretrain.PairedClipCollator` makes them).
            paired_frame_mask (`torch.Tensor` of shape `(batch_size, num_frames)`, *optional*):
                Contrastive objective only: `frame_mask` of `paired_pixel_values`.
            bool_masked_pos (`torch.BoolTensor` of shape `(batch_size, num_patches)` or `(batch_size, num_frames,
                num_patches)`, *optional*):
                True for the patches to mask and reconstruct (a 2-D mask holds for every frame). Default: drawn by
                `random_masking` (`config.mask_ratio`, `config.mask_type`).
            frame_mask (`torch.Tensor` of shape `(batch_size, num_frames)`, *optional*):
                1/True for real frames, 0/False for padding: padded frames leave the state as it was and are left
                out of the loss.
            output_attentions, output_hidden_states: as in [`RViTModel.forward`].
        """
        rvit = self.rvit
        rvit._check_pixel_values(pixel_values)
        output_attentions = (
            output_attentions if output_attentions is not None else self.config.output_attentions
        )
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        if self.config.pretraining_objective == "contrastive":
            return self._contrastive_forward(
                pixel_values,
                frame_mask,
                paired_pixel_values,
                paired_frame_mask,
                output_attentions,
                output_hidden_states,
            )
        if paired_pixel_values is not None:
            raise RViTInputError(
                "paired_pixel_values is for pretraining_objective='contrastive'; this model reconstructs masked "
                "patches (give pixel_values alone)."
            )
        batch_size, num_frames = pixel_values.shape[:2]
        frame_mask = rvit._check_frame_mask(pixel_values, frame_mask)
        if bool_masked_pos is None:
            bool_masked_pos = self.random_masking(batch_size, num_frames, device=pixel_values.device)
        bool_masked_pos = self._check_bool_masked_pos(bool_masked_pos, pixel_values)

        frame_tokens = rvit.embeddings(pixel_values)
        patch_tokens = torch.where(
            bool_masked_pos[..., None], self.mask_token.to(frame_tokens.dtype), frame_tokens[:, :, 1:]
        )
        frame_tokens = torch.cat((frame_tokens[:, :, :1], patch_tokens), dim=2)
        state = rvit.init_state(batch_size, device=frame_tokens.device, dtype=frame_tokens.dtype)
        # Every frame's last-layer tokens are reconstructed, so the encoder returns them all (hidden states).
        _, all_hidden_states, all_attentions = rvit.encoder(
            frame_tokens,
            rvit.embeddings.position_embeddings,
            state,
            frame_mask=frame_mask,
            output_attentions=output_attentions,
            output_hidden_states=True,
        )
        reconstruction = self.decoder(all_hidden_states[-1])[:, :, 1:]

        target = patchify(pixel_values.to(reconstruction.dtype), self.config.patch_size)
        if self.config.norm_pix_loss:
            target = (target - target.mean(dim=-1, keepdim=True)) / (
                target.var(dim=-1, unbiased=True, keepdim=True).sqrt() + 1e-6
            )
        scored = bool_masked_pos if frame_mask is None else bool_masked_pos & frame_mask[:, :, None]
        patch_errors = (reconstruction - target).pow(2).mean(dim=-1)
        loss = (patch_errors * scored).sum() / scored.sum().clamp(min=1)
        return RViTForPreTrainingOutput(
            loss=loss,
            logits=reconstruction,
            bool_masked_pos=bool_masked_pos,
            hidden_states=all_hidden_states if output_hidden_states else None,
            attentions=all_attentions,
        )

    def _contrastive_forward(
        self,
        pixel_values: torch.Tensor,
        frame_mask: torch.Tensor | None,
        paired_pixel_values: torch.Tensor | None,
        paired_frame_mask: torch.Tensor | None,
        output_attentions: bool,
        output_hidden_states: bool,
    ) -> RViTForPreTrainingOutput:
        """SimCLR's InfoNCE loss over the `2B` views: each view's positive is its pair, its negatives the others."""
        rvit = self.rvit
        if paired_pixel_values is None:
            raise RViTInputError(
                "pretraining_objective='contrastive' needs paired_pixel_values, a second view of every clip "
                "(ahu_train.pretrain.PairedClipCollator makes them)."
            )
        rvit._check_pixel_values(paired_pixel_values)
        if tuple(paired_pixel_values.shape) != tuple(pixel_values.shape):
            raise RViTInputError(
                f"paired_pixel_values must have the shape of pixel_values {tuple(pixel_values.shape)}, "
                f"got {tuple(paired_pixel_values.shape)}."
            )
        frame_mask = rvit._check_frame_mask(pixel_values, frame_mask)
        paired_frame_mask = rvit._check_frame_mask(paired_pixel_values, paired_frame_mask)
        if frame_mask is None and paired_frame_mask is None:
            views_mask = None
        else:
            ones = torch.ones(pixel_values.shape[:2], dtype=torch.bool, device=pixel_values.device)
            views_mask = torch.cat(
                (
                    ones if frame_mask is None else frame_mask,
                    ones if paired_frame_mask is None else paired_frame_mask,
                )
            )
        outputs = rvit(
            torch.cat((pixel_values, paired_pixel_values)),
            frame_mask=views_mask,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
        )
        embeddings = nn.functional.normalize(self.projection(outputs.pooler_output).float(), dim=-1)
        logits = embeddings @ embeddings.T / self.config.contrastive_temperature
        num_views = logits.shape[0]
        logits = logits.masked_fill(
            torch.eye(num_views, dtype=torch.bool, device=logits.device), float("-inf")
        )
        batch_size = num_views // 2
        positives = torch.arange(num_views, device=logits.device).roll(batch_size)
        loss = nn.functional.cross_entropy(logits, positives)
        return RViTForPreTrainingOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


__all__ = [
    "RViTForPreTraining",
    "RViTForPreTrainingOutput",
    "RViTForVideoClassification",
    "RViTInputError",
    "RViTModel",
    "RViTModelOutput",
    "RViTPreTrainedModel",
    "RViTState",
    "RViTVideoClassifierOutput",
]
