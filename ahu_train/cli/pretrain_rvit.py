"""Self-supervised pretraining of RViT on the unlabelled clips of an AHU dataset (thin command line over
`ahu_train.pretrain.run_pretraining`).

Examples:
    # pretrain on the training split of an archive (labels unused, validation and test held out):
    ahu-pretrain --data_dir /data/ahu --output_dir outputs/rvit-pretrained --num_frames 8 --image_size 64 \\
        --config_overrides patch_size=8,hidden_size=128,num_hidden_layers=2,num_attention_heads=4,intermediate_size=512 \\
        --pre_resize --max_steps 2000 --learning_rate 1e-3 --per_device_train_batch_size 16 --use_cpu
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
from ahu_train.pretrain import PretrainDataArguments, PretrainModelArguments, run_pretraining
from hf_loader.cli.command import hf_command_parser, run_command

PROG = "ahu-pretrain"


def run(argv: list[str] | None = None) -> dict:
    """Pretrains (and pushes, when asked) as the command line says; returns the training metrics."""
    argv = sys.argv[1:] if argv is None else argv
    parser = hf_command_parser(
        (PretrainModelArguments, PretrainDataArguments, TrainingArguments), prog=PROG, description=__doc__
    )
    parser.parse_args(argv)  # unknown options and bad values: one line with a suggestion, before the dataclasses
    parser.set_defaults(remove_unused_columns=False)
    try:
        model_args, data_args, training_args, _ = parser.parse_args_into_dataclasses(args=argv)
    except ValueError as error:  # the dataclasses' own checks (__post_init__)
        parser.error(str(error))
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
