"""transformers' own common tests (`ModelTesterMixin`, `ConfigTester`, `VideoProcessingTestMixin`), taken at test
time from the source distribution of the installed transformers version, so that RViT is tested the way a model
contributed to transformers is.

The sdist is fetched once with pip from the package registry (`pip download --no-binary :all:`) into a cache folder
(`$AHU_TEST_CACHE`, default `~/.cache/ahu-ultrasound`), and its three common-test modules are extracted into a
package `transformers_tests` there. Nothing of it enters this repository. The sdist lacks the folders those
modules import from (`tests/utils`, `tests/generation`, `tests/exporters`); `STAND_INS` replaces them with what a
non-generative video model's tests need from them.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import transformers

PACKAGE = "transformers_tests"
COMMON_MODULES = ("test_modeling_common", "test_configuration_common", "test_video_processing_common")

# Module path inside the package -> source of the stand-in.
STAND_INS = {
    "exporters/test_export.py": (
        '"""Stand-in: tests/exporters is not in the sdist; torch.export tests are not run."""\n\n\n'
        "class ExportTesterMixin:\n    pass\n"
    ),
    "generation/test_utils.py": (
        '"""Stand-in: tests/generation is not in the sdist; RViT does not generate."""\n\n\n'
        "class GenerationTesterMixin:\n    pass\n"
    ),
    # `ConfigTester.check_config_arguments_init` sets each of these `PreTrainedConfig` fields to a non-default value
    # and checks that the config keeps it.
    "utils/test_configuration_utils.py": (
        '"""Stand-in: tests/utils is not in the sdist; non-default values of the common config fields."""\n\n'
        "config_common_kwargs = {\n"
        '    "return_dict": False,\n'
        '    "output_hidden_states": True,\n'
        '    "output_attentions": True,\n'
        '    "dtype": "float16",\n'
        '    "chunk_size_feed_forward": 5,\n'
        '    "architectures": ["BertModel"],\n'
        '    "id2label": {0: "label"},\n'
        '    "label2id": {"label": "0"},\n'
        '    "problem_type": "regression",\n'
        "}\n"
    ),
}


def cache_dir() -> Path:
    """Where the sdist and the extracted package live, per transformers version."""
    root = Path(os.environ.get("AHU_TEST_CACHE", Path.home() / ".cache" / "ahu-ultrasound"))
    return root / f"transformers-{transformers.__version__}"


def download_sdist(destination: Path) -> Path:
    """The installed version's `transformers-<version>.tar.gz`, downloaded by pip into `destination` unless there."""
    version = transformers.__version__
    existing = sorted(destination.glob(f"transformers-{version}.tar.gz"))
    if existing:
        return existing[0]
    destination.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--quiet",
        f"transformers=={version}",
        "--dest",
        str(destination),
    ]
    completed = subprocess.run(command, check=False, capture_output=True, text=True)
    found = sorted(destination.glob(f"transformers-{version}.tar.gz"))
    if completed.returncode != 0 or not found:
        raise RuntimeError(
            f"Could not download the transformers {version} source distribution for its common tests "
            f"({' '.join(command)} exited with {completed.returncode}: {completed.stderr.strip()[-500:]}). "
            f"The package registry must be reachable, or put transformers-{version}.tar.gz in {destination}."
        )
    return found[0]


def extract_package(sdist: Path, package_dir: Path) -> None:
    """Writes the common-test modules of `sdist` and the stand-ins into `package_dir` (a Python package)."""
    staging = package_dir.with_name(package_dir.name + ".partial")
    staging.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdist) as archive:
        members = {
            Path(member.name).relative_to(Path(member.name).parts[0]).as_posix(): member for member in archive
        }
        for module in COMMON_MODULES:
            member = members.get(f"tests/{module}.py")
            if member is None:
                raise RuntimeError(f"{sdist.name} has no tests/{module}.py")
            (staging / f"{module}.py").write_bytes(archive.extractfile(member).read())
    (staging / "__init__.py").write_text("")
    for relative, source in STAND_INS.items():
        path = staging / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(source)
    # Rename last, so that an interrupted run leaves no half-written package behind.
    staging.rename(package_dir)


def import_common_module(name: str) -> ModuleType:
    """`transformers_tests.<name>` (one of `COMMON_MODULES`), fetching and extracting the sdist once."""
    root = cache_dir()
    package_dir = root / PACKAGE
    if not package_dir.is_dir():
        extract_package(download_sdist(root), package_dir)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module(f"{PACKAGE}.{name}")
