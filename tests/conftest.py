"""Shared fixtures. Tests run offline: nothing here may reach the network.

Tests that need the Hub emulator start it themselves and run the client in a subprocess
with HF_ENDPOINT / HF_TOKEN / HF_HUB_DISABLE_XET / HF_HOME set before import.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def sample_archive(tmp_path_factory) -> Path:
    """The default sample archive (seed 0), generated once per test session."""
    from hf_loader.sample_archive import make_sample_archive

    return make_sample_archive(tmp_path_factory.mktemp("ahu") / "archive", seed=0)


@pytest.fixture(scope="session")
def other_archive(tmp_path_factory) -> Path:
    """A second, smaller generated archive (seed 1, no zips): archive B beside the session's archive A."""
    from hf_loader.sample_archive import make_sample_archive

    return make_sample_archive(
        tmp_path_factory.mktemp("other") / "archive_b", seed=1, num_samples=26, width=96, height=128, zips=False
    )


@pytest.fixture(scope="session")
def sample_manifest(sample_archive) -> dict:
    from hf_loader.sample_archive import load_manifest

    return load_manifest(sample_archive)
