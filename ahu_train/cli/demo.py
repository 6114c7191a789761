"""The whole path on a generated sample archive, about three minutes on 2 CPU cores: generate -> export ->
load_dataset -> train -> evaluate against the majority class (table with bootstrap CIs, PNGs) -> save -> reload
(Auto classes) -> predict a video.

Example:
    ahu-demo --out outputs/demo

`ahu-demo` once the package is installed; `python scripts/demo.py` in a checkout.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ahu_train.demo import DEMO_EPOCHS, DEMO_NUM_SAMPLES


def run(argv=None) -> dict:
    """Runs the demo as the command line says; returns `run_demo`'s summary."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="outputs/demo", help="Output folder.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--num_samples", type=int, default=DEMO_NUM_SAMPLES, help="Samples of the generated archive."
    )
    parser.add_argument("--epochs", type=float, default=DEMO_EPOCHS, help="Training epochs.")
    parser.add_argument("--num_resamples", type=int, default=500, help="Bootstrap resamples of the CIs.")
    args = parser.parse_args(argv)
    from ahu_train.demo import run_demo

    return run_demo(
        args.out,
        seed=args.seed,
        num_samples=args.num_samples,
        num_train_epochs=args.epochs,
        num_resamples=args.num_resamples,
    )


def main(argv: list[str] | None = None) -> int:
    """The console command: `run`, exit status 0 (its result is printed, not returned)."""
    run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
