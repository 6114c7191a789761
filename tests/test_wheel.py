"""The wheel is the product: built from the checkout, installed away from it, it runs every command.

One test builds the wheel (`pip wheel`, no network), installs it without its dependencies into a fresh
virtual environment in a temporary folder, and runs the console commands there with the temporary folder as
the working directory and no PYTHONPATH, so the checkout cannot be imported. The heavy dependencies (torch
alone is 5.8 GB and 70 s to install) are not installed again: a `.pth` file in the new environment puts the
site-packages of the interpreter running the tests after its own, as plain path entries (their `.pth` files,
among them this checkout's editable install, are not run). That the wheel's declared dependencies are what
the commands run against is checked from the installed wheel's own metadata.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

COMMANDS = {
    "ahu-make-sample-archive",
    "ahu-scan",
    "ahu-preprocess",
    "ahu-export",
    "ahu-preview",
    "ahu-train",
    "ahu-pretrain",
    "ahu-evaluate",
    "ahu-demo",
    "ahu-convert-rvit",
}

# Run by the new environment's interpreter: where the packages come from, and whether every dependency the
# wheel declares is installed at a version it allows.
INSPECT_INSTALL = """
import json, sys
from importlib.metadata import PackageNotFoundError, distribution, version
from packaging.requirements import Requirement
import ahu_train, hf_loader, modeling_rvit

dist = distribution("ahu-ultrasound")
problems = []
for line in dist.requires or []:
    requirement = Requirement(line)
    if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
        continue
    try:
        installed = version(requirement.name)
    except PackageNotFoundError:
        problems.append(f"{requirement}: not installed")
        continue
    if not requirement.specifier.contains(installed, prereleases=True):
        problems.append(f"{requirement}: {installed} is installed")
import re
import evaluate
from ahu_train.metrics import ahu_metrics_path

metadata = dist.metadata
metric = evaluate.load(ahu_metrics_path(), "single_label")
print(json.dumps({
    "license_expression": metadata.get("License-Expression"),
    "description_links": re.findall(r"\\]\\(([^)\\s]+)\\)", metadata.get_payload() or ""),
    "metric_features": sorted(metric.features),
    "modules": [m.__file__ for m in (hf_loader, ahu_train, modeling_rvit)],
    "distribution": str(dist.locate_file("")),
    "files": [str(f) for f in dist.files],
    "commands": sorted(ep.name for ep in dist.entry_points if ep.group == "console_scripts"),
    "problems": problems,
    "sys_path": sys.path,
}))
"""


def _run(command: list, cwd: Path, env: dict, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _host_site_packages() -> list[str]:
    """The site-packages folders of the interpreter running the tests (a venv's, and the system's it shares)."""
    return [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages") and Path(p).is_dir()]


@pytest.fixture(scope="module")
def installed_wheel() -> Iterator[dict]:
    """Builds the wheel, installs it into a fresh venv; yields the paths and the environment to run it in."""
    # Not tmp_path_factory: another pytest session of the same user prunes older basetemp folders, and this
    # environment must live for minutes.
    with tempfile.TemporaryDirectory(prefix="ahu-wheel-") as temporary:
        yield _build_and_install(Path(temporary))


def _build_and_install(root: Path) -> dict:
    source = root / "source"
    # A copy of the checkout, so that the build's build/ and *.egg-info stay out of it.
    shutil.copytree(
        REPO_ROOT,
        source,
        symlinks=True,
        ignore=shutil.ignore_patterns(".*", "outputs", "build", "*.egg-info", "__pycache__"),
    )
    dist = root / "dist"
    built = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(dist),
            str(source),
        ],
        cwd=root,
        env=os.environ.copy(),
        timeout=300,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = dist.glob("ahu_ultrasound-*.whl")

    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (purelib / "_host_dependencies.pth").write_text("\n".join(_host_site_packages()) + "\n", encoding="utf-8")
    # --force-reinstall: the host's site-packages, seen through the .pth, may hold this project (editable) at
    # the same version, which pip would otherwise take as already installed. It never uninstalls that one.
    installed = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "--force-reinstall",
            str(wheel),
        ],
        cwd=root,
        env=os.environ.copy(),
        timeout=300,
    )
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]

    work = root / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env.update(
        HF_HOME=str(root / "hf_home"),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
    )
    return {"wheel": wheel, "venv": venv, "python": python, "purelib": purelib, "work": work, "env": env}


@pytest.mark.slow  # builds and installs the wheel, then runs every command in fresh processes (about a minute)
def test_wheel_installed_outside_the_checkout_has_its_files_commands_and_dependencies(installed_wheel):
    work, env, purelib = installed_wheel["work"], installed_wheel["env"], installed_wheel["purelib"]
    inspected = _run([str(installed_wheel["python"]), "-c", INSPECT_INSTALL], cwd=work, env=env, timeout=300)
    assert inspected.returncode == 0, inspected.stderr[-3000:]
    report = json.loads(inspected.stdout.strip().splitlines()[-1])

    for module in report["modules"]:
        assert Path(module).is_relative_to(purelib), f"{module} is imported from outside the installed wheel"
    assert not any(Path(p).resolve() == REPO_ROOT for p in report["sys_path"] if p)
    assert Path(report["distribution"]).resolve() == purelib.resolve()
    # The files the code reads, as copies (not links back into the checkout).
    assert "hf_loader/dataset_card.md" in report["files"]
    assert "ahu_train/ahu_metrics/ahu_metrics.py" in report["files"]
    assert not (purelib / "hf_loader" / "dataset_card.md").is_symlink()
    assert (purelib / "hf_loader" / "dataset_card.md").read_bytes() == (
        REPO_ROOT / "dataset_card.md"
    ).read_bytes()
    assert report["problems"] == []
    assert set(report["commands"]) == COMMANDS
    # The licence ships; the long description links only public addresses (no file of the repository).
    assert any(Path(name).name == "LICENSE" for name in report["files"] if ".dist-info" in name)
    assert report["license_expression"] == "MIT"
    assert report["description_links"] and all(
        link.startswith("https://") for link in report["description_links"]
    ), report["description_links"]
    # The metric loads from the installed package, from any working directory.
    assert report["metric_features"] == ["predictions", "references"]

    def help_of(command: str) -> subprocess.CompletedProcess:
        return _run(
            [str(installed_wheel["venv"] / "bin" / command), "--help"], cwd=work, env=env, timeout=300
        )

    with ThreadPoolExecutor(max_workers=3) as pool:
        answers = dict(zip(sorted(COMMANDS), pool.map(help_of, sorted(COMMANDS))))
    for command, answer in answers.items():
        assert answer.returncode == 0, f"{command} --help: {answer.stderr[-2000:]}"
        assert answer.stdout.startswith("usage: "), f"{command} --help printed {answer.stdout[:200]!r}"


@pytest.mark.slow  # the demo at its fastest settings (one epoch) and an export, from the installed wheel
def test_installed_wheel_runs_the_demo_and_exports_a_dataset_with_its_card(installed_wheel):
    work, env, bin_dir = installed_wheel["work"], installed_wheel["env"], installed_wheel["venv"] / "bin"
    demo = _run(
        [
            str(bin_dir / "ahu-demo"),
            "--output_dir",
            "demo",
            "--num_samples",
            "26",
            "--epochs",
            "1",
            "--num_resamples",
            "20",
        ],
        cwd=work,
        env=env,
        timeout=900,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    summary = json.loads((work / "demo" / "demo_summary.json").read_text())
    assert len(summary["prediction"]["top3"]) == 3
    # The evaluation ran the ahu_metrics evaluate module shipped in the wheel.
    assert 0.0 <= summary["test"]["test/clip"]["top1_accuracy"] <= 1.0
    assert (work / "demo" / "dataset" / "README.md").is_file()

    export = _run(
        [
            str(bin_dir / "ahu-export"),
            "--data_dir",
            "demo/archive",
            "--output_dir",
            "export",
            "--cache_dir",
            "cache",
        ],
        cwd=work,
        env=env,
        timeout=600,
    )
    assert export.returncode == 0, export.stdout[-3000:] + export.stderr[-3000:]
    card = (work / "export" / "README.md").read_text(encoding="utf-8")
    # The card is rendered from the template the wheel ships: its title (the demo's archive is generated, so the
    # synthetic one), with the counts filled in.
    assert "# AHU ultrasound: generated sample archive (synthetic, not the AHU database)" in card
    assert "{{" not in card
    shards = sorted((work / "export" / "data").rglob("*.parquet"))
    assert shards, f"no Parquet shards in {work / 'export'}: {export.stdout[-2000:]}"
    loaded = _run(
        [
            str(installed_wheel["python"]),
            "-c",
            "import datasets, sys; d = datasets.load_dataset('export'); print(sum(map(len, d.values())))",
        ],
        cwd=work,
        env=env,
        timeout=300,
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert int(loaded.stdout.strip().splitlines()[-1]) == sum(summary["splits"].values())


def test_no_code_outside_the_tests_edits_sys_path():
    # The commands and the benchmarks import the installed packages (`python -m benchmarks.<name>` from a checkout).
    pattern = re.compile(r"sys\.path\s*(\.\s*(insert|append|extend)\b|\[[^\]]*\]\s*=|\+=)")
    folders = ("hf_loader", "modeling_rvit", "ahu_train", "scripts", "benchmarks", "metrics")
    offenders = [
        f"{path.relative_to(REPO_ROOT)}:{number}"
        for folder in folders
        for path in sorted((REPO_ROOT / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
