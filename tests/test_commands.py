"""Every `ahu-*` command answers a user's mistake with one line and exit status 2, and speaks one vocabulary.

Most tests call each command's `main(argv)` in this process (fast); a few run the real scripts in a subprocess
for the exit status a shell sees.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
MISSING = "/nonexistent/ahu-folder-xyz"

# Console command -> "module:function", as in pyproject.toml [project.scripts].
ENTRY_POINTS = {
    "ahu-make-sample-archive": "hf_loader.cli.make_sample_archive:main",
    "ahu-scan": "hf_loader.cli.scan_archive:main",
    "ahu-preprocess": "hf_loader.cli.preprocess_archive:main",
    "ahu-export": "hf_loader.cli.export_dataset:main",
    "ahu-preview": "hf_loader.cli.preview_dataset:main",
    "ahu-train": "ahu_train.cli.train_rvit:main",
    "ahu-pretrain": "ahu_train.cli.pretrain_rvit:main",
    "ahu-evaluate": "ahu_train.cli.evaluate_rvit:main",
    "ahu-demo": "ahu_train.cli.demo:main",
    "ahu-convert-rvit": "modeling_rvit.convert_rvit_reference:main",
}


def _main(command: str):
    module, function = ENTRY_POINTS[command].split(":")
    return getattr(importlib.import_module(module), function)


def _argv(template: list[str], tmp_path: Path) -> list[str]:
    return [part.replace("TMP", str(tmp_path)) for part in template]


def _assert_one_line_error(status: int, err: str, command: str) -> str:
    # Progress bars (tqdm: "... 20 examples/s]") are not messages.
    lines = [line for line in err.splitlines() if line.strip() and not re.search(r"/s\]\s*$", line)]
    assert status == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{command}: error: "), lines[0]
    return lines[0]


def test_every_console_command_is_covered_here():
    text = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    scripts = text.split("[project.scripts]")[1].split("\n[")[0]
    declared = {
        name.strip(): target.strip().strip('"')
        for name, target in (line.split("=", 1) for line in scripts.splitlines() if "=" in line)
    }
    assert declared == ENTRY_POINTS


# Options each command needs besides the one under test (TMP is a fresh empty folder).
UNKNOWN_OPTION = {
    "ahu-make-sample-archive": ["--output_dir", "TMP/a"],
    "ahu-scan": ["TMP"],
    "ahu-preprocess": ["TMP", "TMP/out"],
    "ahu-export": ["--output_dir", "TMP/out"],
    "ahu-preview": ["--data_dir", "TMP", "--output_dir", "TMP/out"],
    "ahu-train": ["--output_dir", "TMP/out"],
    "ahu-pretrain": ["--output_dir", "TMP/out"],
    "ahu-evaluate": ["--model_name_or_path", "TMP", "--output_dir", "TMP/out"],
    "ahu-demo": [],
    "ahu-convert-rvit": ["--weights", "TMP/w.pth", "--config_json", "TMP/c.json", "--output_dir", "TMP/out"],
}


@pytest.mark.parametrize("command", sorted(ENTRY_POINTS))
def test_an_unknown_option_is_one_line_and_exit_2(command, tmp_path, capsys):
    status = _main(command)([*_argv(UNKNOWN_OPTION[command], tmp_path), "--no_such_option_here", "1"])
    line = _assert_one_line_error(status, capsys.readouterr().err, command)
    assert "unknown option --no_such_option_here" in line


MISSING_FOLDER = {
    "ahu-scan": [MISSING],
    "ahu-preprocess": [MISSING, "TMP/out"],
    "ahu-export": ["--data_dir", MISSING, "--output_dir", "TMP/out"],
    "ahu-preview": ["--data_dir", MISSING, "--output_dir", "TMP/out"],
    "ahu-train": ["--data_dir", MISSING, "--output_dir", "TMP/out"],
    "ahu-pretrain": ["--data_dir", MISSING, "--output_dir", "TMP/out"],
    "ahu-evaluate": ["--model_name_or_path", MISSING, "--output_dir", "TMP/out"],
    "ahu-convert-rvit": [
        "--weights",
        f"{MISSING}/w.pth",
        "--config_json",
        "TMP/c.json",
        "--output_dir",
        "TMP/o",
    ],
}


@pytest.mark.parametrize("command", sorted(MISSING_FOLDER))
def test_a_missing_folder_is_named_once_in_one_line(command, tmp_path, capsys):
    (tmp_path / "c.json").write_text("{}", encoding="utf-8")
    status = _main(command)(_argv(MISSING_FOLDER[command], tmp_path))
    line = _assert_one_line_error(status, capsys.readouterr().err, command)
    assert line.count(MISSING) == 1, line


BAD_CONFIG = {
    "ahu-make-sample-archive": (["--output_dir", "TMP/a", "--scale", "huge"], "huge"),
    "ahu-preprocess": (["TMP", "TMP/out", "--noise", "loud"], "loud"),
    "ahu-export": (["--data_dir", "TMP", "--output_dir", "TMP/out", "--config", "bogus"], "bogus"),
    "ahu-preview": (["--data_dir", "TMP", "--output_dir", "TMP/out", "--config", "bogus"], "bogus"),
    "ahu-train": (
        ["--data_dir", "TMP", "--output_dir", "TMP/out", "--dataset_config_name", "bogus"],
        "bogus",
    ),
    "ahu-pretrain": (
        ["--data_dir", "TMP", "--output_dir", "TMP/out", "--dataset_config_name", "bogus"],
        "bogus",
    ),
    "ahu-evaluate": (
        [
            "--model_name_or_path",
            "TMP/model",
            "--data_dir",
            "TMP",
            "--dataset_config_name",
            "bogus",
            "--output_dir",
            "TMP/out",
        ],
        "bogus",
    ),
    "ahu-convert-rvit": (
        ["--weights", "TMP/w.pth", "--config_json", "TMP/bad.json", "--output_dir", "TMP/o"],
        "bad",
    ),
    "ahu-demo": (["--num_samples", "many"], "many"),
}


@pytest.mark.parametrize("command", sorted(BAD_CONFIG))
def test_a_bad_config_name_or_value_is_one_line_naming_it(command, tmp_path, capsys):
    argv, named = BAD_CONFIG[command]
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}", encoding="utf-8")
    (tmp_path / "w.pth").write_bytes(b"")
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    status = _main(command)(_argv(argv, tmp_path))
    line = _assert_one_line_error(status, capsys.readouterr().err, command)
    assert named in line


def test_a_typo_gets_a_suggestion_and_abbreviations_are_refused(capsys):
    from ahu_train.cli.train_rvit import main

    line = _assert_one_line_error(
        main(["--output_dir", "x", "--lerning_rate", "1e-4"]), capsys.readouterr().err, "ahu-train"
    )
    assert "did you mean --learning_rate?" in line
    # argparse would take --max_step as an abbreviation of --max_steps.
    line = _assert_one_line_error(
        main(["--output_dir", "x", "--max_step", "3"]), capsys.readouterr().err, "ahu-train"
    )
    assert "unknown option --max_step" in line and "did you mean --max_steps?" in line


def test_dataclass_checks_of_ahu_train_are_one_line(capsys):
    from ahu_train.cli.train_rvit import main

    line = _assert_one_line_error(
        main(["--output_dir", "x", "--loss_type", "hinge"]), capsys.readouterr().err, "ahu-train"
    )
    assert "--loss_type 'hinge'" in line


def test_model_options_that_cannot_apply_are_one_line(sample_archive, tmp_path, capsys):
    from ahu_train.cli.train_rvit import main

    argv = [
        "--data_dir",
        str(sample_archive),
        "--cache_dir",
        str(tmp_path / "cache"),
        "--output_dir",
        str(tmp_path),
    ]
    line = _assert_one_line_error(
        main([*argv, "--config_overrides", "hidden_size"]), capsys.readouterr().err, "ahu-train"
    )
    assert "'hidden_size' is not key=value" in line


def test_debug_flag_shows_the_traceback_instead(tmp_path):
    from hf_loader.cli.scan_archive import main
    from hf_loader.errors import ArchiveNotFoundError

    with pytest.raises(ArchiveNotFoundError):
        main([MISSING, "--debug"])


def test_ahu_evaluate_takes_the_trainers_names_and_the_old_ones_with_a_note(tmp_path, capsys):
    from ahu_train.cli.evaluate_rvit import parse_args

    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    new = parse_args(
        ["--model_name_or_path", str(tmp_path), "--output_dir", "eval", "--dataloader_num_workers", "2",
         "--per_device_eval_batch_size", "4"]
    )  # fmt: skip
    assert capsys.readouterr().err == ""
    old = parse_args(["--model", str(tmp_path), "--out", "eval", "--num_workers", "2", "--batch_size", "4"])
    notes = capsys.readouterr().err.splitlines()
    assert vars(old) == vars(new)
    assert (new.model_name_or_path, new.output_dir) == (str(tmp_path), "eval")
    assert (new.dataloader_num_workers, new.per_device_eval_batch_size) == (2, 4)
    assert notes == [
        "ahu-evaluate: note: --model is deprecated; use --model_name_or_path",
        "ahu-evaluate: note: --out is deprecated; use --output_dir",
        "ahu-evaluate: note: --num_workers is deprecated; use --dataloader_num_workers",
        "ahu-evaluate: note: --batch_size is deprecated; use --per_device_eval_batch_size",
    ]


def test_every_command_takes_underscore_and_dash_spellings(tmp_path, capsys):
    from ahu_train.cli.evaluate_rvit import parse_args
    from ahu_train.cli.train_rvit import parse_args as parse_train_args

    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    dashed = parse_args(
        ["--model-name-or-path", str(tmp_path), "--output-dir=eval", "--per-device-eval-batch-size", "3"]
    )
    assert (dashed.model_name_or_path, dashed.output_dir, dashed.per_device_eval_batch_size) == (
        str(tmp_path),
        "eval",
        3,
    )
    _, data_args, training_args = parse_train_args(
        [
            "--output-dir",
            str(tmp_path / "o"),
            "--learning-rate",
            "3e-4",
            "--data_dir",
            "x",
            "--max-train-samples",
            "5",
        ]
    )
    assert (training_args.output_dir, training_args.learning_rate) == (str(tmp_path / "o"), 3e-4)
    assert data_args.max_train_samples == 5
    # Options defined with underscores elsewhere take dashes too, and the reverse (ahu-preprocess' old spelling).
    from hf_loader.cli.preprocess_archive import main as preprocess

    assert preprocess([MISSING, str(tmp_path / "out"), "--num-frames", "4", "--no-crop"]) == 2
    assert "unknown option" not in capsys.readouterr().err


@pytest.mark.parametrize("command", sorted(ENTRY_POINTS))
def test_help_opens_with_a_description_and_an_example(command, capsys):
    assert _main(command)(["--help"]) == 0
    text = capsys.readouterr().out
    usage, description = text.split("\n\n", 2)[:2]
    assert usage.startswith("usage: ") and len(usage.splitlines()) <= 3, usage
    assert description.strip()[0].isupper(), description
    assert "Example" in text.split("options:")[0], f"{command} --help has no example before its options"


def test_ahu_train_help_is_short_and_states_its_defaults_once(capsys):
    from ahu_train.cli.train_rvit import main

    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert len(text.splitlines()) < 300
    # The project's options come before the TrainingArguments ones, each with help text.
    options = text.split("\noptions:")[1]
    assert options.index("--model_family") < options.index("--data_dir") < options.index("--learning_rate")
    family = text.split("--model_family MODEL_FAMILY")[1].split("\n  --")[0]
    assert family.count("default") == 1, family
    assert "every other trainingarguments field" in " ".join(text.lower().split())


def test_make_sample_archive_help_states_the_real_numbers_per_scale(capsys):
    from hf_loader.cli.make_sample_archive import main
    from hf_loader.sample_archive import SCALES

    assert main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for name, spec in SCALES.items():
        assert f"{name}: {spec.num_samples} samples, {spec.width}x{spec.height}" in text


def test_project_loggers_speak_and_library_request_lines_do_not(capsys):
    import logging

    from hf_loader.cli.command import configure_logging

    configure_logging(verbose=False)
    logging.getLogger("hf_loader.builder").info("project message")
    logging.getLogger("httpx").info("HTTP Request: GET https://huggingface.co/api 200")
    err = capsys.readouterr().err
    assert "project message" in err and "HTTP Request" not in err
    assert logging.getLogger().level >= logging.WARNING


def test_resolve_layout_given_a_dataset_says_so_in_a_short_message():
    import datasets

    from ahu_train.data import TrainingDataError, resolve_layout

    rows = datasets.Dataset.from_dict({"frames": [[0] * 50] * 2000, "primary_label": [1] * 2000})
    with pytest.raises(TypeError) as raised:
        resolve_layout(rows)
    assert "column_names_of" in str(raised.value) and len(str(raised.value)) < 300
    columns = [f"column_{index}" for index in range(5000)]
    with pytest.raises(TrainingDataError) as raised:
        resolve_layout(columns)
    assert "and 4988 more" in str(raised.value) and len(str(raised.value)) < 1000


def _run_script(script: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})},
    )


def test_real_processes_exit_2_with_one_line_and_debug_env_restores_the_traceback(tmp_path):
    train = _run_script("train_rvit.py", "--output_dir", str(tmp_path), "--lerning_rate", "1e-4")
    assert _assert_one_line_error(train.returncode, train.stderr, "ahu-train").endswith(
        "(did you mean --learning_rate?) (see ahu-train --help)"
    )
    scan = _run_script("scan_archive.py", MISSING)
    _assert_one_line_error(scan.returncode, scan.stderr, "ahu-scan")
    debug = _run_script("scan_archive.py", MISSING, env={"AHU_DEBUG": "1"})
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "ArchiveNotFoundError" in debug.stderr


def test_export_offline_without_data_dir_says_once_what_to_do(tmp_path):
    # A Figshare API that refuses connections: the download fails as it does offline.
    result = _run_script(
        "export_dataset.py",
        "--output_dir",
        str(tmp_path / "out"),
        "--cache_dir",
        str(tmp_path / "cache"),
        env={"AHU_FIGSHARE_API_URL": "http://127.0.0.1:9/v2"},
    )
    line = _assert_one_line_error(result.returncode, result.stderr, "ahu-export")
    assert "--data_dir" in line and "data_dir=" not in line and "AHUUltrasound(" not in line
    assert line.count("Download") + line.count("download") == 2  # "cannot download", "download its files"
    assert json.dumps(line)  # one printable line


def test_a_push_names_the_resolved_repo_and_logs_no_http_requests(sample_archive, tmp_path):
    from tests.hub_emulator import EMULATOR_USER, run_hub_client, running_hub

    code = f"""
import sys
from hf_loader.cli.export_dataset import main
sys.exit(main(["--data_dir", {str(sample_archive)!r}, "--output_dir", {str(tmp_path / "out")!r},
               "--cache_dir", {str(tmp_path / "cache")!r}, "--push_to_hub", "ahu-mini"]))
"""
    with running_hub(tmp_path / "hub") as endpoint:
        result = run_hub_client(code, endpoint, tmp_path / "hf_home", timeout=300)
    assert f"to dataset repo {EMULATOR_USER}/ahu-mini (commit " in result.stdout
    assert "HTTP Request" not in result.stderr and "httpx" not in result.stderr
