"""Turns the filtered tier (videos, image sets) into the processed tier (224x224 frames + noise_files.txt).

Example:
    ahu-preprocess path/to/archive/filtered processed_out [--workers 2] [--noise default|paper|off]

The work is done by `hf_loader.processed_tier.preprocess_tier`; a rerun resumes where a run stopped.

`ahu-preprocess` once the package is installed; `python scripts/preprocess_archive.py` in a checkout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hf_loader.cli.command import CommandParser, run_command
from hf_loader.preprocess import PreprocessOptions
from hf_loader.processed_tier import preprocess_tier
from modeling_rvit.ultrasound_frames import FRAME_SIZE, FRAME_STRIDE, NoiseSettings


def build_options(args: argparse.Namespace) -> PreprocessOptions:
    if args.noise == "off":
        noise = None
    else:
        noise = NoiseSettings.paper() if args.noise == "paper" else NoiseSettings()
        overrides = {
            key: value
            for key, value in (("eps", args.eps), ("min_samples_fraction", args.min_samples_fraction))
            if value is not None
        }
        noise = NoiseSettings(**{**noise.__dict__, **overrides})
    return PreprocessOptions(
        stride=args.stride,
        num_frames=args.num_frames,
        size=args.size,
        crop=not args.no_crop,
        noise=noise,
        thread_type=args.thread_type,
    )


def run(argv: list[str]) -> int:
    parser = CommandParser(prog="ahu-preprocess", description=__doc__)
    parser.add_argument(
        "filtered_dir", type=Path, help="folder of Video_<N>_<Labels>.mp4 and Photos_<N>_<Labels>/"
    )
    parser.add_argument("out_dir", type=Path, help="processed tier to write (created; a rerun resumes)")
    parser.add_argument("--workers", type=int, default=2, help="processes over samples (1: this process)")
    parser.add_argument(
        "--stride",
        type=int,
        default=FRAME_STRIDE,
        help=f"keep every k-th frame (default and paper: {FRAME_STRIDE})",
    )
    parser.add_argument(
        "--num_frames",
        type=int,
        default=None,
        help="keep this many evenly spaced frames per video instead of --stride",
    )
    parser.add_argument(
        "--size",
        type=int,
        default=FRAME_SIZE,
        help=f"output side in pixels (default and paper: {FRAME_SIZE})",
    )
    parser.add_argument(
        "--no_crop", action="store_true", help="keep whole frames (no ultrasound-region crop)"
    )
    parser.add_argument(
        "--noise",
        choices=("default", "paper", "off"),
        default="default",
        help="noise filter: tuned default, the paper's exact DBSCAN parameters, or none (default: default)",
    )
    parser.add_argument(
        "--eps",
        type=float,
        default=None,
        help="override DBSCAN's eps (features on 0..1; default: the --noise setting's)",
    )
    parser.add_argument(
        "--min_samples_fraction",
        type=float,
        default=None,
        help="override DBSCAN's min_samples as a fraction of a sample's frames (paper: 0.5)",
    )
    parser.add_argument(
        "--thread_type",
        choices=("AUTO", "FRAME", "SLICE"),
        default=None,
        help="PyAV decoder threading (default: FFmpeg's)",
    )
    parser.add_argument("--lenient", action="store_true", help="skip bad entries and report them")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    report = preprocess_tier(
        args.filtered_dir,
        args.out_dir,
        build_options(args),
        num_workers=args.workers,
        lenient=args.lenient,
        progress=not args.quiet,
    )
    print(report.summary())
    return 1 if report.num_failed else 0


def main(argv: list[str] | None = None) -> int:
    return run_command(run, argv, prog="ahu-preprocess")


if __name__ == "__main__":
    sys.exit(main())
