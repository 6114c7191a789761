"""The README and the docs/ pages stay readable: no paragraph over 120 words, no dead relative link; the package's
long description links only public addresses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
MAX_WORDS = 120
PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
# Pages other sessions write; linked from the README before they land.
PLANNED_PAGES = {"docs/plain_trainer.md", "docs/pretraining.md"}
LINK = re.compile(r"\]\(([^)\s]+)\)")


def paragraphs(text: str) -> list[str]:
    """The prose paragraphs of a Markdown page: blank-line separated blocks outside code fences, one per list
    item; headings, tables and HTML comments are not prose."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)
    found = []
    for block in re.split(r"\n\s*\n", text):
        lines = [
            line for line in block.splitlines() if line.strip() and not line.lstrip().startswith(("#", "|"))
        ]
        item: list[str] = []
        for line in lines:
            if re.match(r"\s*([-*]|\d+\.)\s", line) and item:
                found.append(" ".join(item))
                item = []
            item.append(line.strip())
        if item:
            found.append(" ".join(item))
    return found


def test_paragraph_splitting_counts_list_items_apart_and_skips_code():
    text = "One two.\nThree.\n\n```\nfour five six\n```\n\n- a b\n- c\n\n| x | y |\n"
    assert paragraphs(text) == ["One two. Three.", "- a b", "- c"]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO_ROOT)))
def test_no_paragraph_passes_120_words(page):
    long = [
        f"{len(paragraph.split())} words: {paragraph[:80]}..."
        for paragraph in paragraphs(page.read_text(encoding="utf-8"))
        if len(paragraph.split()) > MAX_WORDS
    ]
    assert long == [], f"{page.name}: split these paragraphs"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO_ROOT)))
def test_relative_links_point_at_files_of_the_repository(page):
    dead = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        if not path.exists() and str(path.relative_to(REPO_ROOT)) not in PLANNED_PAGES:
            dead.append(target)
    assert dead == []


def _pyproject_value(key: str) -> str:
    """A `[project]` value of pyproject.toml, as written (tomllib is Python 3.11+; the project supports 3.10)."""
    text = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    return re.search(rf"^{re.escape(key)} = (.+)$", text, flags=re.MULTILINE).group(1)


def test_long_description_of_the_package_links_only_public_addresses():
    readme = re.search(r'file = "([^"]+)"', _pyproject_value("readme")).group(1)
    description = (REPO_ROOT / readme).read_text(encoding="utf-8")
    targets = LINK.findall(description)
    assert targets and all(target.startswith("https://") for target in targets), targets
    assert "github.com/..." not in description and "ahu_metrics_path()" in description


def test_the_licence_is_at_the_root_and_declared():
    assert _pyproject_value("license") == '"MIT"' and _pyproject_value("license-files") == '["LICENSE"]'
    assert (REPO_ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
