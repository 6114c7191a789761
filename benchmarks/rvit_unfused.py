"""A direct, unfused implementation of the RViT reference equations, the baseline of `benchmarks/bench_rvit.py`.

Written from /work/shared/reference/rvit/README.md ("What the reference computes"), one line per equation:
every frame is patch-embedded on its own, each layer has two separate query/key/value projections
(`to_qkv` for the frame tokens, `to_qkv_h` for the state), attention is written out as matmul → softmax →
matmul, and frames and layers are plain Python loops. Its modules carry the reference's key names, so the
reference state dict loads into it unchanged (`load_reference_state_dict`).

It is a measuring stick, not a model to train: no config, no `PreTrainedModel`.

`reference_dropout` (default 0, off) puts in the reference code's dropout, each an `nn.Dropout` called where
the reference calls it (its model/RViT.py; CONTEXT.md §8): at every frame on the position embeddings (its
`emb_dropout`), at every frame and layer on the frame tokens plus position embeddings (the encoder's `dropout_rate`),
on the attention output on its way into the frame tokens (the block's `attention_dropout_rate`; the state takes it
undropped) and twice in the MLP (the block's `dropout_rate`); then on the pooled features (`emb_dropout`) and twice
in the head's MLP. The reference's model factories and block defaults set all of them to 0.1.
"""

from __future__ import annotations

import torch
from torch import nn


class UnfusedAttention(nn.Module):
    """Attention of a frame's tokens `x` and the layer's state `h`: q, k, v = to_qkv(x) + to_qkv_h(h)."""

    def __init__(self, hidden_size: int, num_heads: int, attention_type: str = "softmax"):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.attention_type = attention_type
        self.to_qkv = nn.Linear(hidden_size, 3 * hidden_size)
        self.to_qkv_h = nn.Linear(hidden_size, 3 * hidden_size)
        self.to_out = nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.Dropout(0.0))

    def forward(self, x_normed: torch.Tensor, h_normed: torch.Tensor) -> torch.Tensor:
        """(B, N+1, C), (B, N+1, C) → (B, N+1, C)."""
        batch, tokens, _ = x_normed.shape
        qkv = self.to_qkv(x_normed) + self.to_qkv_h(h_normed)
        q, k, v = (
            part.reshape(batch, tokens, self.num_heads, self.head_dim).transpose(1, 2)
            for part in qkv.chunk(3, dim=-1)
        )
        if self.attention_type == "linear":
            q, k = nn.functional.elu(q) + 1, nn.functional.elu(k) + 1
            out = (q @ k.transpose(-2, -1)) @ v
        else:
            attn = (q @ k.transpose(-2, -1)) * self.head_dim**-0.5
            out = attn.softmax(dim=-1) @ v
        out = out.transpose(1, 2).reshape(batch, tokens, self.num_heads * self.head_dim)
        return self.to_out(out)


class UnfusedMLP(nn.Module):
    """Linear → GELU → Dropout → Linear → Dropout, indices 0 and 3 as in the reference's `net`."""

    def __init__(self, dim: int, hidden_dim: int, dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class UnfusedLayer(nn.Module):
    def __init__(
        self, hidden_size: int, num_heads: int, mlp_dim: int, attention_type: str, dropout: float = 0.0
    ):
        super().__init__()
        self.input_dropout = nn.Dropout(dropout)
        self.layer_norm_input = nn.LayerNorm(hidden_size)
        self.layer_norm_hidden = nn.LayerNorm(hidden_size)
        self.layer_norm_out = nn.LayerNorm(hidden_size)
        self.attention = UnfusedAttention(hidden_size, num_heads, attention_type)
        self.attention_dropout = nn.Dropout(dropout)
        self.mlp = UnfusedMLP(hidden_size, mlp_dim, dropout)

    def forward(
        self, x: torch.Tensor, h: torch.Tensor, pos: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One frame through one layer: (x, h[l]) → (new x, new h[l]), all (B, N+1, C)."""
        x = self.input_dropout(x + pos)
        h = h + pos
        attn = self.attention(self.layer_norm_input(x), self.layer_norm_hidden(h))
        x = x + self.attention_dropout(attn)
        x = x + self.mlp(self.layer_norm_out(x))
        return x, h + attn


class UnfusedTransformer(nn.Module):
    def __init__(
        self,
        depth: int,
        hidden_size: int,
        num_heads: int,
        mlp_dim: int,
        attention_type: str,
        dropout: float = 0.0,
    ):
        super().__init__()
        # `layers.{l}.0` as in the reference.
        self.layers = nn.ModuleList(
            [
                nn.ModuleList([UnfusedLayer(hidden_size, num_heads, mlp_dim, attention_type, dropout)])
                for _ in range(depth)
            ]
        )


class UnfusedHead(nn.Module):
    def __init__(self, pooled_size: int, num_labels: int, ratio: int = 4, dropout: float = 0.0):
        super().__init__()
        self.pooled_dropout = nn.Dropout(dropout)
        self.mlp = UnfusedMLP(pooled_size, ratio * pooled_size, dropout)
        self.class_ = nn.Linear(pooled_size, num_labels)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.class_(self.mlp(self.pooled_dropout(pooled)))


class UnfusedRViT(nn.Module):
    """RViT computed equation by equation. Input (B, T, 3, H, W) normalized; output logits (B, num_labels)."""

    def __init__(
        self,
        image_size: int = 112,
        patch_size: int = 8,
        hidden_size: int = 192,
        depth: int = 2,
        heads: int = 8,
        mlp_dim: int = 768,
        num_labels: int = 13,
        attention_type: str = "softmax",
        reference_dropout: float = 0.0,
    ):
        super().__init__()
        num_patches = (image_size // patch_size) ** 2
        self.hidden_size = hidden_size
        self.embedding = nn.Conv2d(3, hidden_size, patch_size, stride=patch_size)
        self._cls = nn.Parameter(torch.randn(1, 1, hidden_size) * 0.02)
        self._seq = nn.Parameter(torch.randn(depth, 1, 1, hidden_size) * 0.02)
        self.pos_embedding = nn.Parameter(torch.randn(1, num_patches + 1, hidden_size) * 0.02)
        self.position_dropout = nn.Dropout(reference_dropout)
        self.transformer = UnfusedTransformer(
            depth, hidden_size, heads, mlp_dim, attention_type, reference_dropout
        )
        self.fc = UnfusedHead(hidden_size * (depth + 1), num_labels, dropout=reference_dropout)

    def initial_state(self, batch: int) -> list[torch.Tensor]:
        """h[l] = [_seq[l]; zeros(N, C)] for every layer, each (B, N+1, C)."""
        num_tokens = self.pos_embedding.shape[1]
        zeros = self.pos_embedding.new_zeros(batch, num_tokens - 1, self.hidden_size)
        return [torch.cat([seq.expand(batch, 1, -1), zeros], dim=1) for seq in self._seq]

    def step(self, frame: torch.Tensor, state: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """One frame (B, 3, H, W) through every layer → (x of the last layer (B, N+1, C), new state)."""
        batch = frame.shape[0]
        x = self.embedding(frame).flatten(2).transpose(1, 2)
        x = torch.cat([self._cls.expand(batch, 1, -1), x], dim=1)
        new_state = []
        pos = self.position_dropout(self.pos_embedding)  # one mask per frame, for every layer and the state
        for (layer,), h in zip(self.transformer.layers, state):
            x, h = layer(x, h, pos)
            new_state.append(h)
        return x, new_state

    def pooled_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) → (B, C·(L+1)): the last frame's class token, each layer's first state token."""
        state = self.initial_state(pixel_values.shape[0])
        for t in range(pixel_values.shape[1]):
            x, state = self.step(pixel_values[:, t], state)
        return torch.cat([x[:, 0]] + [h[:, 0] for h in state], dim=-1)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pooled_features(pixel_values))


def load_reference_state_dict(model: UnfusedRViT, state_dict: dict[str, torch.Tensor]) -> None:
    """Load a reference state dict; `reattn_*` (used by neither kernel) is dropped, the rest must match."""
    kept = {key: value for key, value in state_dict.items() if ".reattn_" not in key}
    model.load_state_dict(kept, strict=True)


def unfused_from_reference_case(case_dir, name: str) -> tuple[UnfusedRViT, dict[str, torch.Tensor]]:
    """The model of a reference case (`ahu_softmax`, `jester_linear`) with its weights, and its io tensors."""
    import json
    from pathlib import Path

    from safetensors.torch import load_file

    case_dir = Path(case_dir)
    meta = json.loads((case_dir / f"{name}.json").read_text())
    model = UnfusedRViT(
        image_size=meta["image_size"],
        patch_size=meta["patch_size"],
        hidden_size=meta["hidden_size"],
        depth=meta["depth"],
        heads=meta["heads"],
        mlp_dim=meta["mlp_dim"],
        num_labels=meta["num_labels"],
        attention_type=meta["attention"],
    )
    load_reference_state_dict(model, load_file(case_dir / f"{name}.weights.safetensors"))
    return model.eval(), load_file(case_dir / f"{name}.io.safetensors")
