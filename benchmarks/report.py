"""What every benchmark script writes beside its numbers: the machine, and its own section of BENCHMARKS.md."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path


def cpu_model() -> str:
    """The processor's model name as lscpu prints it (platform's guess where lscpu is missing)."""
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines():
            if line.strip().startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown CPU"


def write_section(markdown_file: Path, title: str, section: str) -> None:
    """Replace the section headed `title` (a `## ` line) in `markdown_file`, or append it; others stay as they were."""
    text = markdown_file.read_text(encoding="utf-8") if markdown_file.exists() else "# Benchmarks\n"
    section = section.rstrip("\n") + "\n"
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == title), None)
    if start is None:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        rest = "".join(lines[end:])
        text = "".join(lines[:start]) + section + ("\n" + rest if rest else "")
    markdown_file.write_text(text, encoding="utf-8")
