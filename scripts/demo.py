#!/usr/bin/env python
"""The whole path on the bundled sample archive, in a few minutes on 2 CPU cores:
prepare -> load_dataset -> train -> evaluate (table, PNGs) -> save -> reload (Auto classes) -> predict a video.

Example:
    python scripts/demo.py --out outputs/demo
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="outputs/demo", help="Output folder.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--num_samples", type=int, default=None, help="Samples of the sample archive (default 26)."
    )
    parser.add_argument("--epochs", type=float, default=100, help="Training epochs.")
    args = parser.parse_args(argv)
    from ahu_train.demo import run_demo

    return run_demo(args.out, seed=args.seed, num_samples=args.num_samples, num_train_epochs=args.epochs)


if __name__ == "__main__":
    main()
