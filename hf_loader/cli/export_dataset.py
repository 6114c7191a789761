"""Builds AHU configs and exports them as Parquet shards + dataset card, in the Hub's layout.

Examples:
    ahu-export --data_dir /path/to/archive --output_dir ahu_export --config processed --config filtered
    ahu-export --data_dir /path/to/archive --output_dir ahu_export --push_to_hub me/ahu
    ahu-export --data_dir /path/to/archive --output_dir ahu_export --overwrite   # replace another archive's export

Without --data_dir the archive is downloaded from Figshare. The folder then loads with
`datasets.load_dataset("ahu_export", "processed")`, offline or streaming.

`ahu-export` once the package is installed; `python scripts/export_dataset.py` in a checkout.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from hf_loader.cli.command import CommandError, CommandParser, one_line, run_command
from hf_loader.errors import DownloadError
from hf_loader.export import DEFAULT_MAX_SHARD_SIZE, DEFAULT_MIN_SHARDS, export_dataset, push_export
from hf_loader.figshare import ARTICLE_PAGE, MANUAL_DOWNLOAD_HINT_START
from hf_loader.hub import full_repo_id


def run(argv: list[str]) -> int:
    parser = CommandParser(prog="ahu-export", description=__doc__)
    parser.add_argument(
        "--data_dir", type=Path, default=None, help="archive folder (default: download from Figshare)"
    )
    parser.add_argument(
        "--output_dir", required=True, type=Path, help="export folder (other configs in it are kept)"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an export of another archive (or a half-written one) in --output_dir instead of refusing it",
    )
    parser.add_renamed_option("--out", "--output_dir")
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
    parser.add_argument(
        "--split_scheme",
        default="stratified",
        choices=["stratified", "paper", "creator"],
        help="stratified 70/15/15 on the primary label, the paper's 80/20, or creator-disjoint",
    )
    parser.add_argument(
        "--cache_dir", type=Path, default=None, help="datasets cache for the build (default: datasets' own)"
    )
    parser.add_argument(
        "--errors",
        default="raise",
        choices=["raise", "skip"],
        help="stop at the first bad entry, or skip bad entries and report them",
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
    for index, config_name in enumerate(configs):
        start = time.perf_counter()
        try:
            readme = export_dataset(
                args.data_dir,
                args.output_dir,
                config_name,
                max_shard_size=args.max_shard_size,
                min_shards=args.min_shards,
                # Only the first config replaces the folder; the next ones join it (same archive).
                overwrite=args.overwrite and index == 0,
                **builder_kwargs,
            )
        except DownloadError as error:
            if args.data_dir is not None:
                raise
            # The library's message tells a Python caller what to do; this one tells the command's user.
            reason = one_line(error.message.split(MANUAL_DOWNLOAD_HINT_START)[0], 200).rstrip(" .")
            raise CommandError(
                f"cannot download the archive from Figshare ({reason}); download its files by hand from "
                f"{ARTICLE_PAGE}, put them in one folder and pass it with --data_dir"
            ) from error
        print(f"{config_name}: exported to {args.output_dir} in {time.perf_counter() - start:.1f} s")
    if args.push_to_hub:
        commit = push_export(args.output_dir, args.push_to_hub, token=args.token, private=args.private)
        repo_id = full_repo_id(args.push_to_hub, token=args.token)
        print(f"pushed {args.output_dir} to dataset repo {repo_id} (commit {commit})")
    shards = sorted(args.output_dir.glob("data/*/*.parquet"))
    size = sum(shard.stat().st_size for shard in shards)
    print(f"{readme}: {len(shards)} Parquet shards, {size / 1e6:.1f} MB")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(run, argv, prog="ahu-export")


if __name__ == "__main__":
    sys.exit(main())
