"""Builds AHU configs and exports them as Parquet shards + dataset card, in the Hub's layout.

    ahu-export --data_dir /path/to/archive --out ahu_export [--config processed]
        [--config filtered ...] [--overwrite] [--max_shard_size 500MB] [--min_shards 8] [--split_scheme stratified] [--push_to_hub me/ahu]

Without --data_dir the archive is downloaded from Figshare. The folder then loads with
`datasets.load_dataset("ahu_export", "processed")`, offline or streaming.

`ahu-export` once the package is installed; `python scripts/export_dataset.py` in a checkout.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from hf_loader.errors import AHUDataError
from hf_loader.export import DEFAULT_MAX_SHARD_SIZE, DEFAULT_MIN_SHARDS, export_dataset, push_export


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data_dir", type=Path, default=None, help="archive folder (default: download from Figshare)"
    )
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        help="export folder, replaced in one step (other configs of the same archive in it are kept)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an export of another archive (or a half-written one) in --out instead of refusing it",
    )
    parser.add_argument(
        "--config",
        action="append",
        dest="configs",
        default=None,
        choices=["processed", "filtered", "raw", "full"],
        help="config to export; repeat for several (default: processed)",
    )
    parser.add_argument("--max_shard_size", default=DEFAULT_MAX_SHARD_SIZE, help="largest shard, e.g. 500MB")
    parser.add_argument(
        "--min_shards",
        type=int,
        default=DEFAULT_MIN_SHARDS,
        help="Parquet shards per split at least (fewer only for a split with fewer rows): as many streaming "
        "DataLoader workers can share a split",
    )
    parser.add_argument("--split_scheme", default="stratified", choices=["stratified", "paper", "creator"])
    parser.add_argument("--cache_dir", type=Path, default=None, help="datasets cache for the build")
    parser.add_argument(
        "--errors", default="raise", choices=["raise", "skip"], help="skip bad entries instead of stopping"
    )
    parser.add_argument(
        "--push_to_hub", metavar="REPO_ID", default=None, help="upload the folder to this dataset repo"
    )
    parser.add_argument("--private", action="store_true", help="create the Hub repo private")
    parser.add_argument("--token", default=None, help="Hub token (default: HF_TOKEN or the saved login)")
    args = parser.parse_args(argv)

    configs = args.configs or ["processed"]
    builder_kwargs = {"split_scheme": args.split_scheme, "errors": args.errors}
    if args.cache_dir is not None:
        builder_kwargs["cache_dir"] = str(args.cache_dir)
    try:
        for index, config_name in enumerate(configs):
            start = time.perf_counter()
            readme = export_dataset(
                args.data_dir,
                args.out,
                config_name,
                max_shard_size=args.max_shard_size,
                min_shards=args.min_shards,
                # Only the first config replaces the folder; the next ones join it (same archive).
                overwrite=args.overwrite and index == 0,
                **builder_kwargs,
            )
            print(f"{config_name}: exported to {args.out} in {time.perf_counter() - start:.1f} s")
        if args.push_to_hub:
            commit = push_export(args.out, args.push_to_hub, token=args.token, private=args.private)
            print(f"pushed {args.out} to dataset repo {args.push_to_hub} (commit {commit})")
    except AHUDataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    shards = sorted(args.out.glob("data/*/*.parquet"))
    size = sum(shard.stat().st_size for shard in shards)
    print(f"{readme}: {len(shards)} Parquet shards, {size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
