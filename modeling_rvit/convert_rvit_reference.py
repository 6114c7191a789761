"""Convert a reference RViT checkpoint (GitHub Jiewen-Yang/RViT, model/RViT.py) to an `RViTForVideoClassification`.

The reference names and splits its weights differently; this module maps them, once, at conversion time:

| reference                                               | this port                                            |
|---------------------------------------------------------|------------------------------------------------------|
| `embedding.*`                                           | `rvit.embeddings.patch_embeddings.projection.*`      |
| `_cls` (1, 1, C), `pos_embedding` (1, S, C)             | `rvit.embeddings.cls_token`, `…position_embeddings`  |
| `_seq` (L, 1, 1, C)                                     | `rvit.encoder.state_tokens` (L, C)                   |
| `transformer.layers.{l}.0.layer_norm_input.*`           | `rvit.encoder.layer.{l}.frame_layernorm.*`           |
| `….layer_norm_hidden.*`, `….layer_norm_out.*`           | `….state_layernorm.*`, `….layernorm_after.*`         |
| `….attention.to_qkv.*` + `….attention.to_qkv_h.*`       | `….attention.qkv.*` (weights side by side, biases summed) |
| `….attention.to_out.0.*`                                | `….attention.o_proj.*`                               |
| `….mlp.net.0.*`, `….mlp.net.3.*`                        | `….mlp.fc1.*`, `….mlp.fc2.*`                         |
| `fc.mlp.net.0.*`, `fc.mlp.net.3.*`, `fc.class_.*`       | `classifier.fc1.*`, `classifier.fc2.*`, `classifier.out_proj.*` |
| `fc.0.*`, `fc.1.*` (LayerNorm + Linear head)            | `classifier.layernorm.*`, `classifier.out_proj.*`    |

`….attention.reattn_*` are used by neither attention kernel and are dropped.
"""

from __future__ import annotations

import json
import re
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from huggingface_hub.errors import StrictDataclassError

from .configuration_rvit import RViTConfig

UNUSED_KEY_PATTERN = re.compile(
    r"^transformer\.layers\.\d+\.0\.attention\.reattn_(weights|norm\.\d+\.(weight|bias))$"
)
# Prefixes that wrappers (DataParallel, torch.compile) put in front of every key.
WRAPPER_PREFIXES = ("module.", "_orig_mod.")

_LAYER_RENAMES = {
    "layer_norm_input": "frame_layernorm",
    "layer_norm_hidden": "state_layernorm",
    "layer_norm_out": "layernorm_after",
    "attention.to_out.0": "attention.o_proj",
    "mlp.net.0": "mlp.fc1",
    "mlp.net.3": "mlp.fc2",
}
_TOP_RENAMES = {
    "embedding.weight": "rvit.embeddings.patch_embeddings.projection.weight",
    "embedding.bias": "rvit.embeddings.patch_embeddings.projection.bias",
    "_cls": "rvit.embeddings.cls_token",
    "pos_embedding": "rvit.embeddings.position_embeddings",
    "fc.mlp.net.0.weight": "classifier.fc1.weight",
    "fc.mlp.net.0.bias": "classifier.fc1.bias",
    "fc.mlp.net.3.weight": "classifier.fc2.weight",
    "fc.mlp.net.3.bias": "classifier.fc2.bias",
    "fc.class_.weight": "classifier.out_proj.weight",
    "fc.class_.bias": "classifier.out_proj.bias",
    "fc.0.weight": "classifier.layernorm.weight",
    "fc.0.bias": "classifier.layernorm.bias",
    "fc.1.weight": "classifier.out_proj.weight",
    "fc.1.bias": "classifier.out_proj.bias",
}
_LAYER_KEY = re.compile(r"^transformer\.layers\.(\d+)\.0\.(.+)\.(weight|bias)$")


class RViTConversionError(ValueError):
    """A reference checkpoint or configuration that cannot be converted as it is."""


def load_reference_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """
    Reads a reference checkpoint: `.safetensors`, a `torch.save`d state dict (read with `weights_only=True`), or a
    TorchScript archive such as the released `final.pth` (its `state_dict()` is extracted). Wrapper prefixes
    (`module.`, `_orig_mod.`) are stripped.
    """
    path = Path(path)
    if not path.is_file():
        raise RViTConversionError(f"{path}: no such checkpoint file.")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state_dict = load_file(str(path))
    else:
        state_dict = _load_torch_checkpoint(path)
    return {_strip_wrapper_prefix(key): tensor for key, tensor in state_dict.items()}


def _is_torchscript_archive(path: Path) -> bool:
    """TorchScript archives are zips with a `code/` folder (plain `torch.save` zips have none)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name for name in archive.namelist())


def _load_torch_checkpoint(path: Path) -> Mapping[str, torch.Tensor]:
    if _is_torchscript_archive(path):
        # torch.jit.load rebuilds the module from its TorchScript code, without unpickling Python objects.
        try:
            return dict(torch.jit.load(str(path), map_location="cpu").state_dict())
        except Exception as error:
            raise RViTConversionError(f"{path}: unreadable TorchScript archive ({error}).") from error
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise RViTConversionError(
            f"{path}: not a state dict that torch.load(weights_only=True) reads ({error})."
        ) from error
    # Training scripts often save {"state_dict": ..., "epoch": ...} or {"model": ...}.
    for container_key in ("state_dict", "model_state_dict", "model"):
        if isinstance(loaded, Mapping) and isinstance(loaded.get(container_key), Mapping):
            loaded = loaded[container_key]
    if not isinstance(loaded, Mapping) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise RViTConversionError(f"{path}: holds {type(loaded).__name__}, not a state dict of tensors.")
    return loaded


def _strip_wrapper_prefix(key: str) -> str:
    for prefix in WRAPPER_PREFIXES:
        while key.startswith(prefix):
            key = key[len(prefix) :]
    return key


def config_from_reference(reference_config: Mapping, **overrides) -> RViTConfig:
    """
    Builds an `RViTConfig` from the reference's hyper-parameter names: `image_size`, `patch_size`, `depth`,
    `heads`, `mlp_dim`, `num_labels`, `num_frames`, `attention` (`"softmax"` | `"linear"`), and optionally
    `hidden_size` (the reference's `3 * patch_size ** 2` when absent). `overrides` are `RViTConfig` fields.
    """
    required = ("image_size", "patch_size", "depth", "heads", "mlp_dim", "num_labels")
    missing = [name for name in required if name not in reference_config]
    if missing:
        raise RViTConversionError(
            f"The reference configuration lacks {missing}; it needs {list(required)} "
            f"(and optionally num_frames, attention, hidden_size)."
        )
    attention = reference_config.get("attention", "softmax")
    if attention not in ("softmax", "linear"):
        raise RViTConversionError(f"Reference attention {attention!r} is not 'softmax' or 'linear'.")
    patch_size = int(reference_config["patch_size"])
    fields = {
        "image_size": int(reference_config["image_size"]),
        "patch_size": patch_size,
        "hidden_size": int(reference_config.get("hidden_size") or 3 * patch_size**2),
        "num_hidden_layers": int(reference_config["depth"]),
        "num_attention_heads": int(reference_config["heads"]),
        "intermediate_size": int(reference_config["mlp_dim"]),
        "num_labels": int(reference_config["num_labels"]),
        "attention_type": attention,
    }
    if reference_config.get("num_frames"):
        fields["num_frames"] = int(reference_config["num_frames"])
    fields.update(overrides)
    try:
        return RViTConfig(**fields)
    except StrictDataclassError as error:
        raise RViTConversionError(
            f"The reference configuration gives an invalid RViTConfig: {error}"
        ) from error


def infer_head(state_dict: Mapping[str, torch.Tensor], config: RViTConfig) -> dict[str, str]:
    """`head_type` and `pooling_type` that fit the reference head's keys and shapes (`{}` if nothing to infer)."""
    if "fc.0.weight" in state_dict and "fc.1.weight" in state_dict:
        pooled_size = state_dict["fc.0.weight"].shape[0]
        pooling = "cls" if pooled_size == config.hidden_size else "cls_and_states"
        return {"head_type": "layernorm_linear", "pooling_type": pooling}
    if "fc.class_.weight" in state_dict:
        pooled_size = state_dict["fc.class_.weight"].shape[1]
        pooling = "cls" if pooled_size == config.hidden_size else "cls_and_states"
        return {"head_type": "mlp", "pooling_type": pooling}
    return {}


def convert_reference_state_dict(
    state_dict: Mapping[str, torch.Tensor], config: RViTConfig
) -> dict[str, torch.Tensor]:
    """
    Maps a reference state dict to `RViTForVideoClassification` names (see the module docstring), fusing
    `to_qkv`/`to_qkv_h` into one projection. Raises `RViTConversionError` listing every key it does not know.
    """
    converted: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    qkv_parts: dict[int, dict[str, torch.Tensor]] = {}
    for key, tensor in state_dict.items():
        key = _strip_wrapper_prefix(key)
        if UNUSED_KEY_PATTERN.match(key):
            continue
        if key in _TOP_RENAMES:
            converted[_TOP_RENAMES[key]] = tensor
            continue
        if key == "_seq":
            converted["rvit.encoder.state_tokens"] = tensor.reshape(tensor.shape[0], -1)
            continue
        match = _LAYER_KEY.match(key)
        if match is None:
            unknown.append(key)
            continue
        layer_index, module_name, param = int(match.group(1)), match.group(2), match.group(3)
        if module_name in ("attention.to_qkv", "attention.to_qkv_h"):
            qkv_parts.setdefault(layer_index, {})[f"{module_name.split('.')[-1]}.{param}"] = tensor
        elif module_name in _LAYER_RENAMES:
            converted[f"rvit.encoder.layer.{layer_index}.{_LAYER_RENAMES[module_name]}.{param}"] = tensor
        else:
            unknown.append(key)
    if unknown:
        raise RViTConversionError(
            f"{len(unknown)} reference key(s) this converter does not know: {sorted(unknown)}. "
            "Is this a checkpoint of Jiewen-Yang/RViT's model/RViT.py?"
        )

    for layer_index, parts in sorted(qkv_parts.items()):
        needed = {"to_qkv.weight", "to_qkv_h.weight"}
        if parts.get("to_qkv.bias") is not None or parts.get("to_qkv_h.bias") is not None:
            needed |= {"to_qkv.bias", "to_qkv_h.bias"}
        missing = sorted(needed - parts.keys())
        if missing:
            raise RViTConversionError(
                f"Layer {layer_index}: the fused projection needs both to_qkv and to_qkv_h; missing "
                f"{[f'transformer.layers.{layer_index}.0.attention.{name}' for name in missing]}."
            )
        prefix = f"rvit.encoder.layer.{layer_index}.attention.qkv"
        # [q | k | v] = W_qkv LN_in(x̃) + W_qkv_h LN_hid(h̃) = [W_qkv  W_qkv_h] [LN_in(x̃) ; LN_hid(h̃)].
        converted[f"{prefix}.weight"] = torch.cat((parts["to_qkv.weight"], parts["to_qkv_h.weight"]), dim=1)
        if "to_qkv.bias" in parts:
            converted[f"{prefix}.bias"] = parts["to_qkv.bias"] + parts["to_qkv_h.bias"]
    return converted


def load_converted_model(state_dict: Mapping[str, torch.Tensor], config: RViTConfig):
    """An `RViTForVideoClassification` holding the converted weights; checks every key and shape first."""
    from .modeling_rvit import RViTForVideoClassification

    converted = convert_reference_state_dict(state_dict, config)
    model = RViTForVideoClassification(config)
    expected = model.state_dict()
    missing = sorted(expected.keys() - converted.keys())
    unexpected = sorted(converted.keys() - expected.keys())
    mismatched = sorted(
        f"{name}: checkpoint {tuple(converted[name].shape)} vs model {tuple(expected[name].shape)}"
        for name in expected.keys() & converted.keys()
        if converted[name].shape != expected[name].shape
    )
    if missing or unexpected or mismatched:
        raise RViTConversionError(
            "The reference checkpoint does not fit the configuration. "
            f"Missing in the checkpoint: {missing}. Not in the model: {unexpected}. Shape mismatches: {mismatched}. "
            "Check depth/heads/mlp_dim/hidden_size/num_labels in the reference configuration."
        )
    model.load_state_dict(converted, strict=True)
    return model.eval()


def convert_rvit_reference(
    weights_path: str | Path,
    config_json: str | Path | Mapping,
    output_dir: str | Path,
    **config_overrides,
) -> Path:
    """
    Converts a reference checkpoint and writes a folder that `RViTForVideoClassification.from_pretrained` (or
    `AutoModelForVideoClassification` with `trust_remote_code=True`) loads.

    Args:
        weights_path: `.safetensors`, `.pth`/`.pt` state dict, or TorchScript archive.
        config_json: the reference hyper-parameters (a JSON file path or a mapping), see `config_from_reference`.
        output_dir: where to write `config.json`, `model.safetensors` and the model code.
        config_overrides: `RViTConfig` fields to set (e.g. `id2label`); `head_type` and `pooling_type` are
            inferred from the checkpoint's head unless given.

    Returns:
        The output folder.
    """
    if not isinstance(config_json, Mapping):
        config_path = Path(config_json)
        if not config_path.is_file():
            raise RViTConversionError(f"{config_path}: no such reference configuration file.")
        try:
            config_json = json.loads(config_path.read_text())
        except json.JSONDecodeError as error:
            raise RViTConversionError(f"{config_path}: not valid JSON ({error}).") from error
    state_dict = load_reference_state_dict(weights_path)
    config = config_from_reference(config_json, **config_overrides)
    head_fields = {k: v for k, v in infer_head(state_dict, config).items() if k not in config_overrides}
    if head_fields:
        config = config_from_reference(config_json, **head_fields, **config_overrides)
    model = load_converted_model(state_dict, config)
    output_dir = Path(output_dir)
    model.save_pretrained(output_dir)
    return output_dir


CONVERT_DESCRIPTION = """Converts a reference RViT checkpoint (Jiewen-Yang/RViT) to a folder RViTForVideoClassification loads.

Example:
    ahu-convert-rvit --weights final.pth --config_json rvit.json --output_dir rvit-converted

WEIGHTS: .safetensors, a .pth state dict (read with weights_only=True), or a TorchScript archive. CONFIG_JSON:
the reference hyper-parameters (image_size, patch_size, depth, heads, mlp_dim, num_labels, num_frames,
attention, optional hidden_size).
"""


def run(argv: list[str]) -> int:
    """`ahu-convert-rvit` without its error handling (see `main`)."""
    from hf_loader.cli.command import CommandParser

    parser = CommandParser(prog="ahu-convert-rvit", description=CONVERT_DESCRIPTION)
    parser.add_argument("--weights", required=True, type=Path, help="reference checkpoint")
    parser.add_argument("--config_json", required=True, type=Path, help="reference hyper-parameters (JSON)")
    parser.add_argument("--output_dir", required=True, type=Path, help="folder to write")
    parser.add_renamed_option("--out", "--output_dir")
    parser.add_argument(
        "--num_frames",
        type=int,
        default=None,
        help="default clip length of the processor (default: the JSON's)",
    )
    args = parser.parse_args(argv)

    overrides = {"num_frames": args.num_frames} if args.num_frames else {}
    output_dir = convert_rvit_reference(args.weights, args.config_json, args.output_dir, **overrides)
    print(f"{output_dir}: RViTForVideoClassification written (config.json, model.safetensors, model code)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The console command `ahu-convert-rvit`: one-line errors, exit status 2 for a user's mistake."""
    from hf_loader.cli.command import run_command

    return run_command(run, argv, prog="ahu-convert-rvit")


__all__ = [
    "RViTConversionError",
    "config_from_reference",
    "convert_reference_state_dict",
    "convert_rvit_reference",
    "infer_head",
    "load_converted_model",
    "load_reference_state_dict",
    "main",
]


if __name__ == "__main__":
    sys.exit(main())
