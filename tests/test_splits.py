"""Split assignment: every sample in exactly one split, deterministic, stratified / paper / creator."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from hf_loader.constants import LABELS
from hf_loader.errors import SplitError
from hf_loader.splits import SampleRecord, assign_splits, creators_per_split, split_names


def _long_tailed_records(num_samples: int = 300, seed: int = 1) -> list[SampleRecord]:
    rng = np.random.default_rng(seed)
    weights = np.array([0.5**index for index in range(len(LABELS))])
    labels = rng.choice(len(LABELS), size=num_samples, p=weights / weights.sum())
    creators = rng.integers(0, 12, size=num_samples)
    # Sample numbers are not contiguous and come in no particular order.
    keys = rng.permutation(np.arange(1, 2 * num_samples, 2))[:num_samples]
    return [
        SampleRecord(int(k), LABELS[int(l)], f"creator{int(c)}") for k, l, c in zip(keys, labels, creators)
    ]


@pytest.mark.parametrize("scheme", ["stratified", "paper", "creator"])
def test_every_sample_is_in_exactly_one_split(scheme):
    records = _long_tailed_records()
    assignment = assign_splits(records, scheme)
    assert set(assignment) == set(split_names(scheme))
    placed = [key for keys in assignment.values() for key in keys]
    assert len(placed) == len(set(placed)) == len(records)
    assert set(placed) == {record.key for record in records}


@pytest.mark.parametrize("scheme", ["stratified", "paper", "creator"])
def test_same_seed_gives_same_split_whatever_the_input_order(scheme):
    records = _long_tailed_records()
    first = assign_splits(records, scheme, seed=7)
    second = assign_splits(list(reversed(records)), scheme, seed=7)
    assert first == second


@pytest.mark.parametrize("scheme", ["stratified", "creator"])
def test_another_seed_gives_another_split(scheme):
    records = _long_tailed_records()
    assert assign_splits(records, scheme, seed=1) != assign_splits(records, scheme, seed=2)


def test_stratified_split_keeps_label_proportions_and_puts_tiny_classes_in_train():
    records = _long_tailed_records(600)
    assignment = assign_splits(records, "stratified", seed=0)
    label_of = {record.key: record.primary_label for record in records}
    totals = Counter(label_of.values())
    sizes = {split: len(keys) for split, keys in assignment.items()}
    assert abs(sizes["train"] / len(records) - 0.70) < 0.05
    assert abs(sizes["test"] / len(records) - 0.15) < 0.05
    for label, total in totals.items():
        per_split = {split: sum(label_of[key] == label for key in keys) for split, keys in assignment.items()}
        if total >= 3:
            assert min(per_split.values()) >= 1, (label, per_split)
        else:
            assert per_split["train"] == total, (label, per_split)


def test_paper_split_is_sklearn_train_test_split_over_sorted_sample_ids():
    records = _long_tailed_records()
    assignment = assign_splits(records, "paper", seed=123)
    train, test = train_test_split(sorted(r.key for r in records), test_size=0.2, random_state=42)
    assert assignment == {"train": sorted(train), "test": sorted(test)}
    assert len(assignment["test"]) == 60


def test_creator_split_never_shares_a_creator_between_splits():
    records = _long_tailed_records()
    assignment = assign_splits(records, "creator", seed=3)
    creators = creators_per_split(records, assignment)
    assert not (creators["train"] & creators["validation"])
    assert not (creators["train"] & creators["test"])
    assert not (creators["validation"] & creators["test"])
    assert all(assignment[split] for split in ("train", "validation", "test"))


def test_creator_split_without_creators_raises_with_the_fix():
    records = [SampleRecord(1, "Cyst", "a"), SampleRecord(2, "Cyst", None), SampleRecord(3, "Stone", "b")]
    with pytest.raises(SplitError, match="rename.xlsx's filtered_name column"):
        assign_splits(records, "creator")


def test_creator_split_with_fewer_than_three_creators_raises():
    records = [SampleRecord(key, "Cyst", "a" if key % 2 else "b") for key in range(10)]
    with pytest.raises(SplitError, match="at least 3 creators"):
        assign_splits(records, "creator")


def test_duplicate_keys_and_unknown_scheme_are_refused():
    with pytest.raises(SplitError, match="duplicate"):
        assign_splits([SampleRecord(1, "Cyst"), SampleRecord(1, "Stone")])
    with pytest.raises(SplitError, match="unknown split_scheme"):
        assign_splits([SampleRecord(1, "Cyst")], "random")


def test_records_without_label_or_with_string_keys_are_split_too():
    records = [SampleRecord(key, None) for key in range(20)] + [
        SampleRecord(f"post/{i}", None) for i in range(5)
    ]
    assignment = assign_splits(records, "stratified")
    assert sum(len(keys) for keys in assignment.values()) == 25
