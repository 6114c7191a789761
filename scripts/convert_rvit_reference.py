#!/usr/bin/env python
"""Converts a reference RViT checkpoint (Jiewen-Yang/RViT) to a folder RViTForVideoClassification loads.

    python scripts/convert_rvit_reference.py --weights W.safetensors --config-json J.json --out DIR

W: .safetensors, a .pth state dict, or a TorchScript archive. J: the reference hyper-parameters (image_size,
patch_size, depth, heads, mlp_dim, num_labels, num_frames, attention, optional hidden_size).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modeling_rvit.convert_rvit_reference import RViTConversionError, convert_rvit_reference


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True, type=Path, help="reference checkpoint")
    parser.add_argument("--config-json", required=True, type=Path, help="reference hyper-parameters (JSON)")
    parser.add_argument("--out", required=True, type=Path, help="folder to write")
    parser.add_argument("--num-frames", type=int, default=None, help="default clip length for the processor")
    args = parser.parse_args(argv)

    overrides = {"num_frames": args.num_frames} if args.num_frames else {}
    try:
        output_dir = convert_rvit_reference(args.weights, args.config_json, args.out, **overrides)
    except RViTConversionError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{output_dir}: RViTForVideoClassification written (config.json, model.safetensors, model code)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
