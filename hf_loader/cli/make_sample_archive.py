"""Writes the synthetic sample archive (docs/archive_format.md) that tests and demos run on.

ahu-make-sample-archive --out /tmp/ahu [--seed 0] [--samples 26] [--scale bench]

`ahu-make-sample-archive` once the package is installed; `python scripts/make_sample_archive.py` in a checkout.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from hf_loader.errors import AHUDataError
from hf_loader.sample_archive import SCALES, load_manifest, make_sample_archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="folder to write (must be empty)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, byte-identical files")
    parser.add_argument("--samples", type=int, default=None, help="number of samples (default: per scale)")
    parser.add_argument(
        "--scale",
        choices=sorted(SCALES),
        default="default",
        help="default: 288x512 ~3 s videos; bench: 720x1280 ~6 s videos",
    )
    parser.add_argument("--width", type=int, default=None, help="override the frame width (even)")
    parser.add_argument("--height", type=int, default=None, help="override the frame height (even)")
    parser.add_argument("--no-zips", action="store_true", help="skip raw.zip, filtered.zip, processed.zip")
    parser.add_argument("--overwrite", action="store_true", help="replace an archive already in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    try:
        root = make_sample_archive(
            args.out,
            seed=args.seed,
            num_samples=args.samples,
            scale=args.scale,
            width=args.width,
            height=args.height,
            zips=not args.no_zips,
            overwrite=args.overwrite,
            progress=not args.quiet,
        )
    except AHUDataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - start
    manifest = load_manifest(root)
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    videos = sum(s["kind"] == "video" for s in manifest["samples"])
    print(
        f"{root}: {len(manifest['samples'])} samples ({videos} videos), "
        f"{size / 1e6:.1f} MB on disk (tiers + zips), {seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
