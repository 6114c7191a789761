"""The dataset card states the split scheme and shares that its export used, beside the counts it holds."""

from __future__ import annotations

import re

import yaml

from hf_loader.export import export_dataset, export_dataset_dict


def _body(readme) -> str:
    return readme.read_text(encoding="utf-8").split("\n---\n", 1)[1]


def _front_matter(readme) -> dict:
    return yaml.safe_load(readme.read_text(encoding="utf-8").split("---\n")[1])


def test_card_states_the_scheme_and_shares_asked_and_obtained(sample_archive, tmp_path):
    readme = export_dataset(
        sample_archive,
        tmp_path / "out",
        "processed",
        fractions=(0.6, 0.1, 0.3),
        seed=7,
        cache_dir=str(tmp_path / "build"),
    )
    body = _body(readme)
    line = next(line for line in body.splitlines() if line.startswith("- `processed`: scheme"))
    assert "scheme `stratified`, seed 7: train / validation / test 60 / 10 / 30 % asked" in line
    counts = dict(re.findall(r"(\w+) (\d+) \(", line.split("obtained")[1]))
    statistics = re.search(r"(\d+) samples: train (\d+), validation (\d+), test (\d+)", body).groups()
    assert [int(counts[split]) for split in ("train", "validation", "test")] == [
        int(n) for n in statistics[1:]
    ]
    # The old text claimed 70 / 15 / 15 whatever the export used.
    assert "70 / 15 / 15, stratified" not in body
    assert _front_matter(readme)["ahu_splits"]["processed"] == {
        "scheme": "stratified",
        "seed": 7,
        "fractions": [0.6, 0.1, 0.3],
    }


def test_paper_scheme_and_splits_made_elsewhere_are_stated_too(sample_archive, tmp_path):
    readme = export_dataset(
        sample_archive, tmp_path / "out", "processed", split_scheme="paper", cache_dir=str(tmp_path / "build")
    )
    from datasets import load_dataset

    export_dataset_dict(load_dataset(str(tmp_path / "out")), tmp_path / "out", "copy")
    body = _body(readme)
    assert "- `processed`: scheme `paper`: train / test 80 / 20 %" in body
    assert "- `copy`: splits as exported (not made by the AHU builder)" in body
