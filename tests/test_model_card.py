"""`write_model_card` reads a model folder's config without running code from that folder unless asked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ahu_train.model_card import write_model_card
from modeling_rvit import RViTConfig, RViTForVideoClassification

REPO_ROOT = Path(__file__).resolve().parents[1]
WRITE_CARD = "import sys; from ahu_train.model_card import write_model_card; write_model_card(sys.argv[1], model_name='rvit-test')"


def _marker_writing_code(marker: Path) -> str:
    """Python that leaves `marker` behind when it is executed."""
    return f"\nfrom pathlib import Path as _Path\n_Path({str(marker)!r}).write_text('executed')\n"


def test_a_foreign_auto_map_is_refused_without_running_its_code(tmp_path):
    folder = tmp_path / "foreign"
    folder.mkdir()
    marker = tmp_path / "executed.txt"
    (folder / "configuration_foreign.py").write_text(
        _marker_writing_code(marker)
        + "from transformers import PretrainedConfig\n\n"
        + "class ForeignConfig(PretrainedConfig):\n    model_type = 'foreign'\n",
        encoding="utf-8",
    )
    (folder / "config.json").write_text(
        json.dumps(
            {"model_type": "foreign", "auto_map": {"AutoConfig": "configuration_foreign.ForeignConfig"}}
        ),
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"configuration_foreign\.ForeignConfig.*--trust_remote_code"):
        write_model_card(folder)
    assert not marker.exists()
    assert not (folder / "README.md").exists()


def test_an_rvit_folder_is_read_with_this_packages_classes_not_its_copied_code(tmp_path):
    folder = tmp_path / "rvit"
    config = RViTConfig(
        image_size=16,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=4,
        intermediate_size=64,
        num_frames=4,
    )
    RViTForVideoClassification(config).save_pretrained(folder)
    copied = folder / "configuration_rvit.py"
    assert copied.is_file() and "AutoConfig" in json.loads((folder / "config.json").read_text())["auto_map"]
    marker = tmp_path / "executed.txt"
    copied.write_text(copied.read_text(encoding="utf-8") + _marker_writing_code(marker), encoding="utf-8")

    # In a fresh interpreter, where nothing has registered RViT yet (the case that ran the folder's code).
    written = subprocess.run(
        [
            sys.executable,
            "-c",
            WRITE_CARD,
            str(folder),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        timeout=300,
        check=False,
    )
    assert written.returncode == 0, written.stderr[-3000:]
    assert not marker.exists()
    assert "rvit-test" in (folder / "README.md").read_text(encoding="utf-8")
