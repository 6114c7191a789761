"""Train RViT (or another video classifier, `--model_family`) on the AHU ultrasound database (thin command line over `ahu_train.train.run_training`).

Examples:
    # a new RViT from scratch with the default recipe (--preset scratch: conv stem, AdamW 1e-3, cosine, 5 % warm-up,
    # batch 16, class weights), 4 frames of 64 px:
    ahu-train --data_dir /data/ahu --output_dir outputs/rvit --num_frames 4 --image_size 64 --num_train_epochs 60
    # the paper's protocol (36 frames, 112 px, batch 32, AdamW 1e-4, StepLR 10 epochs x0.8, label smoothing 0.1,
    # the paper's 80/20 split) on an archive folder:
    ahu-train --preset paper --data_dir /data/ahu --output_dir outputs/rvit-paper \\
        --num_train_epochs 10 --use_cpu
    # a tiny model on the sample archive, the paper's rank-weighted top-3 loss, class weights:
    ahu-train --data_dir archive/ --output_dir outputs/tiny --num_frames 8 --image_size 32 \\
        --config_overrides hidden_size=32,num_hidden_layers=1,num_attention_heads=2,intermediate_size=64 \\
        --loss_type rank_weighted --class_weighting inverse_sqrt --max_steps 50 --eval_strategy epoch
    # from an exported folder or a Hub repo, streamed (needs --max_steps), several processes:
    torchrun --nproc_per_node 2 scripts/train_rvit.py --dataset_name user/ahu-ultrasound --streaming --max_steps 500 ...
    # (installed: torchrun --nproc_per_node 2 -m ahu_train.cli.train_rvit ...)
    # resume: --resume_from_checkpoint outputs/tiny/checkpoint-20 (or "last")
    # another model family through the same harness (ahu_train.models): videomae, timesformer, vivit, frame_pooling;
    # or any AutoModelForVideoClassification checkpoint (an image classifier with --model_family frame_pooling):
    ahu-train --model_family vivit --num_frames 8 --image_size 64 --data_dir archive/ --output_dir outputs/vivit \
        --config_overrides tubelet_size=[2,8,8],hidden_size=192,num_hidden_layers=3,num_attention_heads=4

`ahu-train` once the package is installed; `python scripts/train_rvit.py` in a checkout.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from transformers import HfArgumentParser, TrainingArguments

from ahu_train.model_card import publish
from ahu_train.train import DataArguments, ModelArguments, default_preset, preset_defaults, run_training


def parse_arguments(argv: list[str]) -> tuple[ModelArguments, DataArguments, TrainingArguments]:
    """The three argument groups of a command line, with its preset's defaults (flags given still win)."""
    parser = HfArgumentParser((ModelArguments, DataArguments, TrainingArguments))
    # A preset only changes defaults: flags given on the command line still win. A new RViT without one gets the
    # from-scratch recipe (ahu_train.train.NEW_RVIT_PRESET).
    known = parser.parse_known_args(argv)[0]
    preset = default_preset(known.preset, known.model_name_or_path, known.model_family, known.init_from_vit)
    defaults = preset_defaults(preset)
    if known.streaming:
        # Class weights are counted over a map-style training split; a streamed run trains without them unless asked.
        defaults.pop("class_weighting", None)
    parser.set_defaults(**defaults, preset=preset, remove_unused_columns=False)
    return parser.parse_args_into_dataclasses(args=argv)


def run(argv: list[str] | None = None) -> dict:
    """Trains (and pushes, when asked) as the command line says; returns the final metrics."""
    argv = sys.argv[1:] if argv is None else argv
    model_args, data_args, training_args = parse_arguments(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
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
            repo_id = training_args.hub_model_id or Path(result.output_dir).name
            sha = publish(
                result.output_dir,
                repo_id,
                token=training_args.hub_token,
                private=bool(training_args.hub_private_repo),
            )
            print(f"pushed to {repo_id} (commit {sha})")
    return result.metrics


def main(argv: list[str] | None = None) -> int:
    """The console command: `run`, exit status 0 (its result is printed, not returned)."""
    run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
