"""Saves a montage of frames per label (PNG) and an animated GIF of one clip per label.

Examples:
    ahu-preview --data_dir /path/to/archive --output_dir previews [--config processed]
    ahu-preview --dataset ahu_export --output_dir previews    # an exported folder or Hub repo

Writes OUT/montage_<config>_<split>.png and OUT/labels_<config>_<split>.gif.

`ahu-preview` once the package is installed; `python scripts/preview_dataset.py` in a checkout.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from hf_loader.cli.command import CommandError, CommandParser, one_line, run_command
from hf_loader.preview import save_label_gif, save_montage


def _load(args):
    """The split to show, from the archive (`--data_dir`) or an export / Hub repo (`--dataset`)."""
    cache_dir = None if args.cache_dir is None else str(args.cache_dir)
    if args.data_dir is not None:
        from hf_loader.builder import CONFIG_NAMES, AHUUltrasound

        if not args.data_dir.is_dir():
            raise CommandError(
                "no such folder; give the archive folder (raw/, filtered/, processed/ or their zips)",
                entry=str(args.data_dir),
            )
        if args.config not in CONFIG_NAMES:
            raise CommandError(
                f"--config {args.config!r}: an archive's configs are {', '.join(CONFIG_NAMES)}"
            )
        builder = AHUUltrasound(config_name=args.config, data_dir=str(args.data_dir), cache_dir=cache_dir)
        builder.download_and_prepare()
        return builder.as_dataset(split=args.split)
    import datasets

    try:
        names = datasets.get_dataset_config_names(args.dataset)
    except (OSError, ValueError) as error:
        raise CommandError(
            f"cannot read it as a dataset ({one_line(error, 200)})", entry=args.dataset
        ) from error
    if args.config not in names:
        raise CommandError(
            f"--config {args.config!r}: its configs are {', '.join(sorted(names))}", entry=args.dataset
        )
    from hf_loader.export import rename_legacy_label_columns

    dataset = datasets.load_dataset(
        args.dataset, args.config, split=args.split, streaming=args.streaming, cache_dir=cache_dir
    )
    return rename_legacy_label_columns(dataset, args.dataset)


def run(argv: list[str]) -> int:
    parser = CommandParser(prog="ahu-preview", description=__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data_dir", type=Path, help="archive folder, built with AHUUltrasound")
    source.add_argument("--dataset", help="an exported folder or Hub dataset repo, read with load_dataset")
    parser.add_argument("--output_dir", required=True, type=Path, help="folder for the PNG and the GIF")
    parser.add_renamed_option("--out", "--output_dir")
    parser.add_argument(
        "--config",
        default="processed",
        help="config to show: processed, filtered, raw or full, or an export's config (default: processed)",
    )
    parser.add_argument("--split", default="train", help="split to show (default: train)")
    parser.add_argument("--per_label", type=int, default=4, help="samples per label in the montage")
    parser.add_argument("--cell_size", type=int, default=96, help="montage cell size in pixels")
    parser.add_argument("--gif_frames", type=int, default=12, help="frames of the GIF")
    parser.add_argument(
        "--streaming", action="store_true", help="read --dataset without downloading it whole"
    )
    parser.add_argument("--seed", type=int, default=0, help="which samples are drawn")
    parser.add_argument("--cache_dir", type=Path, default=None, help="datasets cache for the build")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    dataset = _load(args)
    stem = f"{args.config}_{args.split}"
    png = save_montage(
        dataset,
        args.output_dir / f"montage_{stem}.png",
        per_label=args.per_label,
        cell_size=args.cell_size,
        seed=args.seed,
    )
    gif = save_label_gif(
        dataset, args.output_dir / f"labels_{stem}.gif", num_frames=args.gif_frames, seed=args.seed
    )
    print(f"wrote {png} and {gif} in {time.perf_counter() - start:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(run, argv, prog="ahu-preview")


if __name__ == "__main__":
    sys.exit(main())
