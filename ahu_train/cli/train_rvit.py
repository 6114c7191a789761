"""Train RViT, or another video classifier (`--model_family`), on the AHU ultrasound database with transformers'
`Trainer` (a thin command line over `ahu_train.train.run_training`). Saves the model, its video processor, a model
card and the run's data contract in --output_dir.

Examples:
    # a new RViT from scratch with the default recipe (--preset scratch: conv stem, AdamW 1e-3, cosine, 5 % warm-up,
    # batch 16, class weights), 4 frames of 64 px, on a sample archive (make one: ahu-make-sample-archive --output_dir archive):
    ahu-train --data_dir archive --output_dir outputs/rvit --num_frames 4 --image_size 64 --pre_resize --num_train_epochs 30
    # a tiny model, 50 steps:
    ahu-train --data_dir archive --output_dir outputs/tiny --num_frames 8 --image_size 32 \\
        --config_overrides hidden_size=32,num_hidden_layers=1,num_attention_heads=2,intermediate_size=64 \\
        --max_steps 50 --use_cpu
    # the paper's protocol (36 frames, 112 px, batch 32, AdamW 1e-4, StepLR, label smoothing, its 80/20 split):
    ahu-train --preset paper --data_dir /data/ahu --output_dir outputs/rvit-paper --num_train_epochs 10

More examples (streaming, several processes, other model families): docs/training.md. Options take `_` or `-`
(--output_dir, --output-dir).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from transformers import TrainingArguments

from ahu_train.model_card import publish_run
from ahu_train.train import DataArguments, ModelArguments, default_preset, preset_defaults, run_training
from hf_loader.cli.command import hf_command_parser, model_path_problem, run_command

PROG = "ahu-train"
# The TrainingArguments that --help lists; every other field is accepted too, and named in a note.
CURATED_TRAINING_OPTIONS = (
    "output_dir",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "per_device_eval_batch_size",
    "gradient_accumulation_steps",
    "learning_rate",
    "weight_decay",
    "lr_scheduler_type",
    "warmup_steps",
    "eval_strategy",
    "save_strategy",
    "logging_steps",
    "seed",
    "use_cpu",
    "bf16",
    "torch_compile",
    "dataloader_num_workers",
    "resume_from_checkpoint",
    "push_to_hub",
    "hub_model_id",
    "hub_token",
    "hub_private_repo",
    "report_to",
)
# Where this project uses a TrainingArguments option its own way, --help says so.
TRAINING_HELP = {
    "output_dir": "Folder for the model, processor, model card, data contract and checkpoints "
    "(default: trainer_output).",
    "push_to_hub": "Upload the finished folder once, after training, without checkpoints (default: off).",
    "hub_model_id": "Repo to push to; a bare name goes to the token owner (default: the output folder's name).",
    "hub_private_repo": "Create the pushed repo private (default: the Hub's default, public).",
    "hub_token": "Hub token for the push (default: HF_TOKEN or the saved login); never written to a file.",
    "resume_from_checkpoint": "A checkpoint folder to resume from, or 'last' for the newest in --output_dir.",
    "use_cpu": "Train on the CPU even when an accelerator is present (default: off).",
    "bf16": "bfloat16 mixed precision (default: off).",
    "torch_compile": "Compile the model with torch.compile (default: off).",
    "dataloader_num_workers": "DataLoader workers that decode and process the clips (default: 0, this process).",
    "weight_decay": "AdamW weight decay (default: 0.0).",
    "warmup_steps": "Linear warm-up steps, or a fraction of all steps below 1 (default: 0).",
}
TRAINING_NOTE = (
    "transformers.TrainingArguments, the options this project uses most. Every other TrainingArguments field "
    "is accepted as well, as --<field> (e.g. --fp16, --save_total_limit 2, --gradient_checkpointing); see "
    "https://huggingface.co/docs/transformers/main_classes/trainer#transformers.TrainingArguments. Its --debug "
    "is --trainer_debug here."
)


def build_parser():
    """`ahu-train`'s parser: the model and data options of `ahu_train.train`, then the curated TrainingArguments."""
    parser = hf_command_parser(
        (ModelArguments, DataArguments, TrainingArguments),
        prog=PROG,
        description=__doc__,
        usage=f"{PROG} (--data_dir DIR | --dataset_name NAME) --output_dir DIR [options]",
    )
    groups = {
        ModelArguments: parser.add_argument_group("model"),
        DataArguments: parser.add_argument_group("data"),
        TrainingArguments: parser.add_argument_group("training", TRAINING_NOTE),
    }
    owner = {field.name: dtype for dtype in groups for field in dataclasses.fields(dtype)}
    general = parser._action_groups[1]  # argparse's "options" group, where HfArgumentParser put every field
    for action in list(general._group_actions):
        dtype = owner.get(action.dest)
        if dtype is None:
            continue
        general._group_actions.remove(action)
        groups[dtype]._group_actions.append(action)
        if dtype is TrainingArguments:
            action.help = TRAINING_HELP.get(action.dest, action.help)
            if action.dest not in CURATED_TRAINING_OPTIONS:
                action.help = argparse.SUPPRESS
        elif action.option_strings == ["--no_augment"]:
            action.help = "Same as --augment false."
    # The "output" group (--debug, --verbose) last.
    parser._action_groups.append(parser._action_groups.pop(2))
    return parser


def parse_args(argv: list[str]) -> tuple[ModelArguments, DataArguments, TrainingArguments]:
    """The three argument groups; a mistake (unknown option, bad value, contradicting options) exits with one
    line and status 2."""
    parser = build_parser()
    # Unknown options and bad values are reported here, with a suggestion, before the dataclasses see them.
    namespace = parser.parse_args(argv)
    # A preset only changes defaults: flags given on the command line still win. A new RViT without one gets the
    # from-scratch recipe (ahu_train.train.NEW_RVIT_PRESET).
    preset = default_preset(
        namespace.preset, namespace.model_name_or_path, namespace.model_family, namespace.init_from_vit
    )
    defaults = preset_defaults(preset)
    if namespace.streaming:
        # Class weights are counted over a map-style training split; a streamed run trains without them unless asked.
        defaults.pop("class_weighting", None)
    try:
        parser.set_defaults(**defaults, preset=preset, remove_unused_columns=False)
        model_args, data_args, training_args, _ = parser.parse_args_into_dataclasses(args=argv)
    except (
        ValueError
    ) as error:  # the dataclasses' own checks (__post_init__): contradicting or unusable values
        parser.error(str(error))
    for option in ("model_name_or_path", "init_from_vit"):
        problem = model_path_problem(getattr(model_args, option))
        if problem:
            parser.error(f"--{option} {getattr(model_args, option)}: {problem}")
    return model_args, data_args, training_args


def run(argv: list[str] | None = None) -> dict:
    """Trains (and pushes, when asked) as the command line says; returns the final metrics."""
    argv = sys.argv[1:] if argv is None else argv
    model_args, data_args, training_args = parse_args(argv)
    # Trainer must not push on its own: the folder goes up once, after training, without checkpoints or run
    # logs (`publish`). AHUTrainer writes no hub_token into training_args.bin.
    push_to_hub = training_args.push_to_hub
    training_args.push_to_hub = False
    result = run_training(model_args, data_args, training_args)
    if result.trainer.is_world_process_zero():
        card = Path(result.output_dir) / "README.md"
        if card.is_file():
            print(f"model, processor and card saved in {result.output_dir} ({card.name})")
        if push_to_hub:
            repo_id, sha = publish_run(result.output_dir, training_args)
            print(f"pushed to {repo_id} (commit {sha})")
    return result.metrics


def main(argv: list[str] | None = None) -> int:
    """The console command: `run`, exit status 0 (its result is printed, not returned); 2 for a user's error."""
    return run_command(run, argv, prog=PROG)


if __name__ == "__main__":
    sys.exit(main())
