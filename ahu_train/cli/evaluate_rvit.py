"""Evaluate a trained RViT (or any model family of `ahu_train.models`) on AHU splits: metrics table (bootstrap
95 % CIs), confusion-matrix and per-class PNGs, predictions CSVs, at clip level (one centred clip per video, the
paper) and video level (all clips of a video, scores aggregated). Thin command line over
`ahu_train.evaluation.run_evaluation`; without --data_dir or --dataset_name it evaluates the held-out split of
the data the model was trained on (its data_contract.json).

Examples:
    ahu-evaluate --model_name_or_path outputs/tiny --output_dir outputs/tiny/eval    # the run's held-out split
    ahu-evaluate --model_name_or_path outputs/tiny --data_dir archive/ --dataset_config_name filtered \\
        --splits validation test --output_dir outputs/tiny/eval_mp4 --update_card

`ahu-evaluate` once the package is installed; `python scripts/evaluate_rvit.py` in a checkout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hf_loader.cli.command import CommandParser, model_path_problem, run_command


def parse_args(argv=None) -> argparse.Namespace:
    from ahu_train.evaluation import AGGREGATIONS

    parser = CommandParser(prog="ahu-evaluate", description=__doc__)
    parser.add_argument("--model_name_or_path", required=True, help="Saved model folder or Hub repo id.")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--data_dir",
        help="Archive folder (AHU builder) or exported Parquet folder; default: the data the model was trained on "
        "(its data_contract.json).",
    )
    source.add_argument("--dataset_name", help="Hub dataset repo id or exported folder.")
    parser.add_argument(
        "--dataset_config_name",
        default=None,
        help="processed, filtered (the videos), raw or full, or the export's config (default: the run's, else "
        "processed).",
    )
    parser.add_argument(
        "--dataset_revision", default=None, help="Hub dataset revision (branch, tag, sha; default: main)."
    )
    parser.add_argument(
        "--split_scheme",
        default=None,
        help="stratified, paper or creator (an archive only; default: the run's, else stratified).",
    )
    parser.add_argument(
        "--splits",
        nargs="+",
        default=None,
        help="Splits to evaluate (default: test, else the run's eval split).",
    )
    parser.add_argument(
        "--video_column_name", default=None, help="Column with a video per row (default: 'video' if present)."
    )
    parser.add_argument(
        "--frames_column_name",
        default=None,
        help="Column with a list of frames per row (default: 'frames' if present).",
    )
    parser.add_argument(
        "--label_column_name",
        default=None,
        help="Target column (default: the run's, else label, else the first of all_labels or labels).",
    )
    parser.add_argument(
        "--allow_train_overlap",
        action="store_true",
        help="Score a split even when it shares samples with the model's training split.",
    )
    parser.add_argument(
        "--allow_contract_mismatch",
        action="store_true",
        help="Score the run's own split even when its sample ids (or the data's fingerprint) differ from the "
        "model's data_contract.json.",
    )
    parser.add_argument("--output_dir", required=True, help="Folder for the tables, PNGs and CSVs.")
    parser.add_argument(
        "--no_video_level", action="store_true", help="Skip the all-clips video-level setting."
    )
    parser.add_argument(
        "--aggregation",
        default="mean_probability",
        choices=AGGREGATIONS,
        help="How the clips' scores of a video are combined at video level.",
    )
    parser.add_argument("--num_resamples", type=int, default=1000, help="Bootstrap replicates (0: no CIs).")
    parser.add_argument("--per_device_eval_batch_size", type=int, default=8, help="Clips per forward pass.")
    parser.add_argument(
        "--dataloader_num_workers",
        type=int,
        default=0,
        help="DataLoader workers that decode and process the clips (default: 0, this process).",
    )
    parser.add_argument(
        "--frame_mode",
        default="clip",
        choices=["clip", "single"],
        help="clip, or single: one frame repeated over the clip (a no-motion control).",
    )
    parser.add_argument("--cache_dir", default=None, help="datasets cache (default: datasets' own).")
    parser.add_argument("--trust_remote_code", action="store_true", help="Allow the model repo's own code.")
    for old, new in (
        ("--model", "--model_name_or_path"),
        ("--out", "--output_dir"),
        ("--batch_size", "--per_device_eval_batch_size"),
        ("--num_workers", "--dataloader_num_workers"),
    ):
        parser.add_renamed_option(old, new)
    parser.add_argument(
        "--update_card", action="store_true", help="Rewrite the model folder's README.md with these results."
    )
    parser.add_argument("--seed", type=int, default=0, help="Seed of the bootstrap.")
    args = parser.parse_args(argv)
    problem = model_path_problem(args.model_name_or_path)
    if problem:
        parser.error(f"--model_name_or_path {args.model_name_or_path}: {problem}")
    if args.update_card and not Path(args.model_name_or_path).is_dir():
        parser.error("--update_card needs --model_name_or_path to be a local folder")
    return args


def run(argv=None) -> dict:
    """Evaluates as the command line says; returns `evaluate_model`'s results per split."""
    args = parse_args(argv)
    from ahu_train.evaluation import run_evaluation
    from ahu_train.model_card import write_model_card

    results = run_evaluation(
        args.model_name_or_path,
        args.output_dir,
        data_dir=args.data_dir,
        dataset_name=args.dataset_name,
        dataset_config_name=args.dataset_config_name,
        dataset_revision=args.dataset_revision,
        split_scheme=args.split_scheme,
        splits=args.splits,
        video_column_name=args.video_column_name,
        frames_column_name=args.frames_column_name,
        label_column_name=args.label_column_name,
        allow_train_overlap=args.allow_train_overlap,
        allow_contract_mismatch=args.allow_contract_mismatch,
        trust_remote_code=args.trust_remote_code,
        cache_dir=args.cache_dir,
        video_level=not args.no_video_level,
        aggregation=args.aggregation,
        num_resamples=args.num_resamples,
        batch_size=args.per_device_eval_batch_size,
        num_workers=args.dataloader_num_workers,
        frame_mode=args.frame_mode,
        seed=args.seed,
    )
    out = Path(args.output_dir)
    print((out / "metrics.md").read_text(encoding="utf-8"))
    for name, result in results.items():
        print(f"{name}: {', '.join(Path(path).name for path in result['files'].values())}")
    if args.update_card:
        card = write_model_card(
            args.model_name_or_path, results=results, trust_remote_code=args.trust_remote_code
        )
        print(f"model card updated: {card}")
    return results


def main(argv: list[str] | None = None) -> int:
    """The console command: `run`, exit status 0 (its result is printed, not returned); 2 for a user's error."""
    return run_command(run, argv, prog="ahu-evaluate")


if __name__ == "__main__":
    sys.exit(main())
