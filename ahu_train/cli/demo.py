"""The whole path on a generated sample archive, in a few minutes on 2 CPU cores: generate -> export ->
load_dataset -> train a small RViT from scratch -> evaluate against constant predictions (table with bootstrap
CIs, PNGs) -> save -> reload (Auto classes) -> predict a video.

Examples:
    ahu-demo --output_dir outputs/demo
    ahu-demo --output_dir outputs/demo-resnet --model_family frame_pooling  # a per-frame ResNet baseline instead

`ahu-demo` once the package is installed; `python scripts/demo.py` in a checkout.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ahu_train.demo import DEMO_MODEL_FAMILY, DEMO_MODELS, DEMO_NUM_SAMPLES
from hf_loader.cli.command import CommandParser, run_command


def run(argv=None) -> dict:
    """Runs the demo as the command line says; returns `run_demo`'s summary."""
    parser = CommandParser(prog="ahu-demo", description=__doc__)
    parser.add_argument("--output_dir", default="outputs/demo", help="output folder")
    parser.add_renamed_option("--out", "--output_dir")
    parser.add_argument("--seed", type=int, default=0, help="seed of the archive, the split and the training")
    parser.add_argument(
        "--num_samples", type=int, default=DEMO_NUM_SAMPLES, help="samples of the generated archive"
    )
    parser.add_argument(
        "--model_family",
        default=DEMO_MODEL_FAMILY,
        choices=sorted(DEMO_MODELS),
        help=f"rvit (the demo: RViT from scratch) or frame_pooling (a per-frame ResNet baseline); default: "
        f"{DEMO_MODEL_FAMILY}",
    )
    parser.add_argument(
        "--epochs", type=float, default=None, help="training epochs (default: the model family's, 30 for rvit)"
    )
    parser.add_argument("--num_resamples", type=int, default=500, help="bootstrap resamples of the CIs")
    args = parser.parse_args(argv)
    from ahu_train.demo import run_demo

    return run_demo(
        args.output_dir,
        seed=args.seed,
        num_samples=args.num_samples,
        num_train_epochs=args.epochs,
        num_resamples=args.num_resamples,
        model_family=args.model_family,
    )


def main(argv: list[str] | None = None) -> int:
    """The console command: `run`, exit status 0 (its result is printed, not returned); 2 for a user's error."""
    return run_command(run, argv, prog="ahu-demo")


if __name__ == "__main__":
    sys.exit(main())
