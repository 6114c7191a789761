"""Writes the synthetic sample archive (docs/archive_format.md) that tests and demos run on.

Example:
    ahu-make-sample-archive --output_dir /tmp/ahu [--seed 0] [--samples 26] [--scale bench]

`ahu-make-sample-archive` once the package is installed; `python scripts/make_sample_archive.py` in a checkout.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from hf_loader.cli.command import CommandParser, run_command
from hf_loader.sample_archive import SCALES, load_manifest, make_sample_archive


def _scale_help() -> str:
    return "; ".join(
        f"{name}: {spec.num_samples} samples, {spec.width}x{spec.height}, {spec.seconds[0]:g}-{spec.seconds[1]:g} s "
        "videos"
        for name, spec in sorted(SCALES.items())
    )


def run(argv: list[str]) -> int:
    parser = CommandParser(prog="ahu-make-sample-archive", description=__doc__)
    parser.add_argument("--output_dir", required=True, type=Path, help="folder to write (must be empty)")
    parser.add_renamed_option("--out", "--output_dir")
    parser.add_argument("--seed", type=int, default=0, help="same seed, byte-identical files")
    parser.add_argument(
        "--samples",
        type=int,
        default=None,
        help=f"number of samples (default: the scale's, {SCALES['default'].num_samples} for the default scale)",
    )
    parser.add_argument(
        "--scale", choices=sorted(SCALES), default="default", help=f"{_scale_help()} (default: default)"
    )
    parser.add_argument(
        "--width", type=int, default=None, help="override the frame width (even; default: the scale's)"
    )
    parser.add_argument(
        "--height", type=int, default=None, help="override the frame height (even; default: the scale's)"
    )
    parser.add_argument("--no_zips", action="store_true", help="skip raw.zip, filtered.zip, processed.zip")
    parser.add_argument("--overwrite", action="store_true", help="replace an archive already in --output_dir")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    root = make_sample_archive(
        args.output_dir,
        seed=args.seed,
        num_samples=args.samples,
        scale=args.scale,
        width=args.width,
        height=args.height,
        zips=not args.no_zips,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    seconds = time.perf_counter() - start
    manifest = load_manifest(root)
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    videos = sum(s["kind"] == "video" for s in manifest["samples"])
    print(
        f"{root}: {len(manifest['samples'])} samples ({videos} videos), "
        f"{size / 1e6:.1f} MB on disk (tiers + zips), {seconds:.1f} s"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(run, argv, prog="ahu-make-sample-archive")


if __name__ == "__main__":
    sys.exit(main())
