"""A model's own card on the Hub: `push_to_hub` uploads the card of the folder the model was loaded from.

transformers' `PushToHubMixin.push_to_hub` saves the model to a temporary folder and then writes `README.md` there
from `create_and_tag_model_card`: the card already on the Hub, or a generated boilerplate card for a new repo.
A model trained here has a better card beside its weights (`ahu_train.model_card.write_model_card`), so
`ModelCardFromFolderMixin.push_to_hub` writes that one instead, in the same single commit, with its usage snippet
pointed at the repo.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

# The card's usage snippet names the model in one line of this form (a local folder before the push).
MODEL_ID_LINE = re.compile(r'^model_id = ".*"$', flags=re.MULTILINE)


# A pretraining checkpoint's card also fine-tunes it from the command line.
FINE_TUNE_COMMAND = re.compile(r"^(ahu-train --model_name_or_path )\S+", flags=re.MULTILINE)


def card_with_repo_id(card_text: str, repo_id: str) -> str:
    """`card_text` with its usage snippet's `model_id = "..."` line (and `ahu-train --model_name_or_path ...`
    command, where it has one) loading `repo_id`."""
    text = MODEL_ID_LINE.sub(f'model_id = "{repo_id}"', card_text, count=1)
    return FINE_TUNE_COMMAND.sub(lambda match: match.group(1) + repo_id, text)


class ModelCardFromFolderMixin:
    """For a `PreTrainedModel`: `push_to_hub` keeps the card of the folder the model was loaded from."""

    def folder_card(self) -> Path | None:
        """`README.md` of the local folder this model was loaded from (`name_or_path`), if it has one."""
        folder = getattr(self, "name_or_path", "") or ""
        card = Path(folder) / "README.md" if folder else None
        return card if card is not None and card.is_file() else None

    def push_to_hub(
        self,
        repo_id: str,
        *,
        commit_message: str | None = None,
        commit_description: str | None = None,
        private: bool | None = None,
        token: bool | str | None = None,
        revision: str | None = None,
        create_pr: bool = False,
        max_shard_size: int | str | None = "50GB",
        tags: list[str] | None = None,
    ):
        """transformers' `push_to_hub`, with this model's own card as `README.md` when its folder has one.

        Without a folder card (a model built in memory) it is transformers' `push_to_hub` unchanged.
        """
        card = self.folder_card()
        if card is None:
            return super().push_to_hub(
                repo_id,
                commit_message=commit_message,
                commit_description=commit_description,
                private=private,
                token=token,
                revision=revision,
                create_pr=create_pr,
                max_shard_size=max_shard_size,
                **({"tags": tags} if tags else {}),
            )
        from huggingface_hub import ModelCard
        from transformers.utils.hub import hf_api

        repo_id = hf_api().create_repo(repo_id, private=private, token=token, exist_ok=True).repo_id
        model_card = ModelCard(card_with_repo_id(card.read_text(encoding="utf-8"), repo_id))
        card_tags = list(model_card.data.tags or [])
        card_tags += [
            tag for tag in dict.fromkeys([*(self.model_tags or []), *(tags or [])]) if tag not in card_tags
        ]
        model_card.data.tags = card_tags
        with tempfile.TemporaryDirectory() as work_dir:
            self.save_pretrained(work_dir, max_shard_size=max_shard_size)
            model_card.save(os.path.join(work_dir, "README.md"))
            return self._upload_modified_files(
                work_dir,
                repo_id,
                files_timestamps={},
                commit_message=commit_message,
                token=token,
                create_pr=create_pr,
                revision=revision,
                commit_description=commit_description,
            )
