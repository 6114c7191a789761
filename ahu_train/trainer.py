"""`Trainer` wiring for RViT on AHU: the loss hook, the StepLR schedule, balanced sampling, compute_metrics.

`AHUTrainer` is a `transformers.Trainer` whose `compute_loss` calls `ahu_train.losses` (so the paper's
rank-weighted loss, class weights and multi-label BCE are options, and `label_smoothing_factor` of
`TrainingArguments` is honoured), whose scheduler can be the paper's StepLR counted in epochs, and whose
train sampler can draw classes evenly. Its `push_to_hub` uploads the harness's model card
(`ahu_train.model_card`) instead of `Trainer`'s generated one, and no `training_args.bin` it writes holds
`hub_token`.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import WeightedRandomSampler
from transformers import EvalPrediction, Trainer
from transformers.modeling_outputs import ImageClassifierOutput

from hf_loader.constants import LABELS

from .losses import PAPER_RANK_WEIGHTS, compute_classification_loss
from .metrics import flatten_metrics, multi_label_metrics, single_label_metrics
from .models import ModelSetupError, model_forward_inputs


class _TokenLeftOutOfPickles(str):
    """A token that works as its string but pickles as None, so `torch.save(args)` writes no secret."""

    __slots__ = ()

    def __reduce__(self):
        return (type(None), ())

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


class _LocalPathPickledAsName(str):
    """A local folder that works as its path but pickles as its last component, so `training_args.bin` (which
    `Trainer.push_to_hub` uploads) names no folder of the machine it was written on."""

    __slots__ = ()

    def __reduce__(self):
        return (str, (os.path.basename(os.path.normpath(self)),))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


class AHUTrainer(Trainer):
    """`Trainer` with the AHU losses, an optional StepLR in epochs and optional class-balanced sampling.

    Args (besides `Trainer`'s):
        loss_type: one of `ahu_train.losses.LOSS_TYPES` (`cross_entropy`, `rank_weighted`, `paper_top3`,
            `multi_label`).
        class_weights: (num_labels,) weights of the true classes (or positive weights for multi-label).
        rank_weights: loss weights of the true label at rank 1, 2, 3 (the paper's 1.0 / 0.7 / 0.5).
        step_lr_epochs: when set, the learning rate is multiplied by `step_lr_gamma` every this many epochs
            (the paper: 10 epochs, gamma 0.8), in place of `lr_scheduler_type`.
        eval_data_collator: the collator of evaluation and prediction batches (no augmentation, centre
            window); `data_collator` then serves training only.
        sample_weights: (num_train_rows,) per-row draw weights (`ahu_train.losses.balanced_sample_weights`);
            a `WeightedRandomSampler` with replacement then replaces shuffling (single process only).
    """

    def __init__(
        self,
        *args,
        loss_type: str = "cross_entropy",
        class_weights: torch.Tensor | None = None,
        rank_weights: Sequence[float] = PAPER_RANK_WEIGHTS,
        step_lr_epochs: float | None = None,
        step_lr_gamma: float = 0.8,
        sample_weights: torch.Tensor | None = None,
        eval_data_collator: Callable | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.eval_data_collator = eval_data_collator
        self.loss_type = loss_type
        self.class_weights = class_weights
        self.rank_weights = tuple(rank_weights)
        self.step_lr_epochs = step_lr_epochs
        self.step_lr_gamma = step_lr_gamma
        self.sample_weights = sample_weights
        if sample_weights is not None and self.args.world_size > 1:
            raise ModelSetupError(
                "balanced sampling (sample_weights) is implemented for one process only; use class weights "
                "(class_weighting) with several processes"
            )

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        outputs = model(**model_forward_inputs(model, inputs))
        loss = compute_classification_loss(
            outputs.logits,
            labels,
            loss_type=self.loss_type,
            label_smoothing=self.args.label_smoothing_factor,
            class_weights=self.class_weights,
            rank_weights=self.rank_weights,
        )
        # Only loss and logits: the prediction loop would otherwise collect every output field as "logits".
        return (loss, ImageClassifierOutput(loss=loss, logits=outputs.logits)) if return_outputs else loss

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        # Writes `training_args.bin` of the run folder and of every checkpoint.
        with self._hub_token_left_out_of_pickles(), self._output_dir_pickled_as_name():
            super()._save(output_dir, state_dict=state_dict)

    def _push_from_checkpoint(self, checkpoint_folder: str) -> None:
        # Writes `training_args.bin` into the output folder and uploads it, with the token, while training.
        with self._hub_token_left_out_of_pickles(), self._output_dir_pickled_as_name():
            super()._push_from_checkpoint(checkpoint_folder)

    @contextlib.contextmanager
    def _hub_token_left_out_of_pickles(self) -> Iterator[None]:
        """`Trainer` pickles `self.args` into `training_args.bin`: meanwhile `hub_token` pickles as None.

        The token still authenticates the pushes made meanwhile (it equals the original string).
        """
        token = self.args.hub_token
        if not isinstance(token, str) or isinstance(token, _TokenLeftOutOfPickles):
            yield
            return
        self.args.hub_token = _TokenLeftOutOfPickles(token)
        try:
            yield
        finally:
            self.args.hub_token = token

    @contextlib.contextmanager
    def _output_dir_pickled_as_name(self) -> Iterator[None]:
        """Meanwhile `args.output_dir` pickles as its folder name (it still works as the full path)."""
        output_dir = self.args.output_dir
        if not isinstance(output_dir, str) or isinstance(output_dir, _LocalPathPickledAsName):
            yield
            return
        self.args.output_dir = _LocalPathPickledAsName(output_dir)
        try:
            yield
        finally:
            self.args.output_dir = output_dir

    def create_model_card(
        self,
        language: str | None = None,
        license: str | None = None,
        tags: str | list[str] | None = None,
        model_name: str | None = None,
        finetuned_from: str | None = None,
        tasks: str | list[str] | None = None,
        dataset_tags: str | list[str] | None = None,
        dataset: str | list[str] | None = None,
        dataset_args: str | list[str] | None = None,
    ) -> None:
        """The harness's card as `output_dir/README.md` (what `Trainer.push_to_hub` uploads), not `Trainer`'s.

        A card the harness wrote into the folder (by `run_training`, or with evaluation results by
        `ahu-evaluate --update_card`) is kept; otherwise one is written from the saved model and run files
        (`ahu_train.model_card.write_model_card`). Its usage snippet loads the pushed repo. `tags`,
        `language`, `license`, `dataset` (→ `datasets`) and `finetuned_from` (→ `base_model`) are added to
        its metadata; `tasks`, `dataset_tags` and `dataset_args` are not used (the card's task and
        model-index come from the run).
        """
        if not self.is_world_process_zero():
            return
        from .model_card import update_model_card

        update_model_card(
            self.args.output_dir,
            repo_id=self.hub_model_id,
            model_name=model_name,
            tags=[tags] if isinstance(tags, str) else tags,
            language=language,
            license=license,
            datasets=[dataset] if isinstance(dataset, str) else dataset,
            base_model=finetuned_from,
        )

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.step_lr_epochs is None:
            return super().create_scheduler(num_training_steps, optimizer)
        if self.lr_scheduler is None:
            steps_per_epoch = self._optimizer_steps_per_epoch(num_training_steps)
            step_size = max(1, round(self.step_lr_epochs * steps_per_epoch))
            self.lr_scheduler = torch.optim.lr_scheduler.StepLR(
                self.optimizer if optimizer is None else optimizer,
                step_size=step_size,
                gamma=self.step_lr_gamma,
            )
            self._created_lr_scheduler = True
        return self.lr_scheduler

    def _optimizer_steps_per_epoch(self, num_training_steps: int) -> float:
        """Optimizer steps per epoch; for an iterable dataset (no length), max_steps / num_train_epochs."""
        try:
            batches = len(self.get_train_dataloader())
        except TypeError:
            return num_training_steps / max(1.0, self.args.num_train_epochs)
        return max(1, math.ceil(batches / self.args.gradient_accumulation_steps))

    def get_eval_dataloader(self, eval_dataset=None):
        with self._collating_for_eval():
            return super().get_eval_dataloader(eval_dataset)

    def get_test_dataloader(self, test_dataset):
        with self._collating_for_eval():
            return super().get_test_dataloader(test_dataset)

    @contextlib.contextmanager
    def _collating_for_eval(self):
        """Swap in the evaluation collator while a dataloader is built (it keeps the collate_fn it got)."""
        if self.eval_data_collator is None:
            yield
            return
        train_collator, self.data_collator = self.data_collator, self.eval_data_collator
        try:
            yield
        finally:
            self.data_collator = train_collator

    def _get_train_sampler(self, train_dataset=None):
        if self.sample_weights is None:
            return super()._get_train_sampler(train_dataset)
        generator = torch.Generator().manual_seed(self.args.seed)
        return WeightedRandomSampler(
            self.sample_weights, num_samples=len(self.sample_weights), replacement=True, generator=generator
        )


def make_compute_metrics(
    multi_label: bool = False, label_names: Sequence[str] = LABELS
) -> Callable[[EvalPrediction], dict[str, float]]:
    """`compute_metrics` for `Trainer`: the metrics/ahu_metrics evaluate module on the eval logits.

    Single-label: top-1/3/5 accuracy, macro-F1, balanced accuracy, `recall_<Label>`; multi-label (sigmoid
    of the logits): mAP, macro/micro-F1, `ap_<Label>`.
    """

    def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
        logits = (
            prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        )
        logits = np.asarray(logits, dtype=np.float64)
        references = np.asarray(prediction.label_ids)
        if multi_label:
            probabilities = 1.0 / (1.0 + np.exp(-logits))
            results = multi_label_metrics(probabilities, references.astype(np.int64))
        else:
            results = single_label_metrics(logits, references.astype(np.int64))
        return flatten_metrics(results, label_names)

    return compute_metrics
