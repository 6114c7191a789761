"""Self-supervised pretraining of RViT on the unlabelled clips of an AHU dataset (thin command line over
`ahu_train.pretrain.run_pretraining`).

Examples:
    # pretrain on the training split of an archive (labels unused, validation and test held out); the defaults are
    # the measured recipe: a new conv-stem RViT, AdamW 1e-3, weight decay 0.05, cosine, 5 % warm-up, batch 16:
    ahu-pretrain --data_dir /data/ahu --output_dir outputs/rvit-pretrained --num_frames 8 --image_size 64 \\
        --config_overrides hidden_size=128,num_hidden_layers=2,num_attention_heads=4,intermediate_size=512 \\
        --pre_resize --max_steps 2000 --use_cpu
    # then fine-tune with the same split options (a new classification head on the pretrained encoder):
    ahu-train --model_name_or_path outputs/rvit-pretrained --data_dir /data/ahu --output_dir outputs/rvit-finetuned
    # from a Hub dataset, pushed to the Hub when done:
    ahu-pretrain --dataset_name user/ahu-ultrasound --output_dir rvit-ahu-pretrained --push_to_hub ...

`ahu-pretrain` once the package is installed; `python scripts/pretrain_rvit.py` in a checkout.
"""

from __future__ import annotations

import sys

from transformers import TrainingArguments

from ahu_train.model_card import publish_run
from ahu_train.pretrain import (
    PRETRAINING_TRAINING_DEFAULTS,
    PretrainDataArguments,
    PretrainModelArguments,
    run_pretraining,
)
from hf_loader.cli.command import hf_command_parser, run_command

PROG = "ahu-pretrain"


def parse_args(argv: list[str]) -> tuple[PretrainModelArguments, PretrainDataArguments, TrainingArguments]:
    """The three argument groups, with the pretraining recipe as defaults (`PRETRAINING_TRAINING_DEFAULTS`: AdamW
    1e-3, weight decay 0.05, cosine with 5 % warm-up, clipping 1.0, batch 16); a mistake exits with one line and
    status 2."""
    parser = hf_command_parser(
        (PretrainModelArguments, PretrainDataArguments, TrainingArguments), prog=PROG, description=__doc__
    )
    # Unknown options and bad values: one line with a suggestion, before the dataclasses.
    parser.parse_args(argv)
    parser.set_defaults(**PRETRAINING_TRAINING_DEFAULTS, remove_unused_columns=False)
    try:
        model_args, data_args, training_args, _ = parser.parse_args_into_dataclasses(args=argv)
    except ValueError as error:  # the dataclasses' own checks (__post_init__)
        parser.error(str(error))
    return model_args, data_args, training_args


def run(argv: list[str] | None = None) -> dict:
    """Pretrains (and pushes, when asked) as the command line says; returns the training metrics."""
    argv = sys.argv[1:] if argv is None else argv
    model_args, data_args, training_args = parse_args(argv)
    # The folder goes up once, after training, without checkpoints or run logs (`publish`).
    push_to_hub = training_args.push_to_hub
    training_args.push_to_hub = False
    result = run_pretraining(model_args, data_args, training_args)
    if result.trainer.is_world_process_zero():
        print(
            f"pretrained on {result.num_samples} samples of {', '.join(result.splits)}; model, processor and card "
            f"saved in {result.output_dir}"
        )
        if push_to_hub:
            repo_id, sha = publish_run(
                result.output_dir,
                training_args,
                commit_message="Upload RViT pretrained on AHU (self-supervised)",
            )
            print(f"pushed to {repo_id} (commit {sha})")
    return result.metrics


def main(argv: list[str] | None = None) -> int:
    """The console command: `run`, exit status 0; 2 for a user's error."""
    return run_command(run, argv, prog=PROG)


if __name__ == "__main__":
    sys.exit(main())
