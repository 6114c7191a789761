"""Deterministic train/validation/test assignment of samples.

A pure function over small records (`SampleRecord`: key, primary label, creator), so the
split is decided from names alone, before any media is decoded, and gives the same answer on
every machine (NumPy's PCG64 and scikit-learn's `RandomState` are platform independent).

Schemes (`assign_splits(records, scheme=...)`):

- `"stratified"` (default): train/validation/test, by default 70/15/15, stratified on the primary
  label. Records are sorted by key, then each label's records are shuffled with
  `numpy.random.default_rng(seed)` and cut: a label with `n >= 3` records gets
  `max(1, round(n * validation))` validation and `max(1, round(n * test))` test records and the
  rest train; a label with fewer than 3 records (too small to stratify) goes wholly to train,
  so every split's labels are a subset of train's. A record without a label (`None`) is
  stratified as its own group.
- `"paper"`: the paper's split, train/test 80/20: `sklearn.model_selection.train_test_split(
  keys sorted by sample id, test_size=0.2, random_state=42)`, unstratified, as its code does.
  The seed is fixed at 42 (the paper's); `seed` is ignored.
- `"creator"`: creator-disjoint train/validation/test (no creator has samples in two splits),
  for estimating how a model does on an unseen hospital. Creators are shuffled with
  `numpy.random.default_rng(seed)` and, in that order, filled into test until it holds at least
  its share of records, then validation, then the rest go to train. Needs every record's creator
  and at least 3 creators, else `SplitError`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from .errors import SplitError

SPLIT_SCHEMES: tuple[str, ...] = ("stratified", "paper", "creator")
DEFAULT_SEED = 42
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.70, 0.15, 0.15)
PAPER_TEST_SIZE = 0.2
PAPER_RANDOM_STATE = 42
# A label with fewer records than this cannot give one to each of the three splits.
MIN_RECORDS_TO_STRATIFY = 3


@dataclass(frozen=True)
class SampleRecord:
    """What the split needs to know about one sample.

    Attributes:
        key: the sample's unique, sortable key (the sample number for filtered/processed samples).
        primary_label: the first label's name, or `None` when unknown.
        creator: the creator (hospital) the sample comes from, or `None` when the archive does not say.
    """

    key: Hashable
    primary_label: str | None = None
    creator: str | None = None


def split_names(scheme: str) -> tuple[str, ...]:
    """The splits a scheme produces: `("train", "test")` for `"paper"`, else train/validation/test."""
    _check_scheme(scheme)
    return ("train", "test") if scheme == "paper" else ("train", "validation", "test")


def assign_splits(
    records: Sequence[SampleRecord],
    scheme: str = "stratified",
    seed: int = DEFAULT_SEED,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
) -> dict[str, list]:
    """Assign every record to exactly one split.

    Args:
        records: one per sample; keys must be unique.
        scheme: `"stratified"`, `"paper"` or `"creator"` (see the module docstring).
        seed: seed of the shuffle (ignored by `"paper"`, which uses the paper's 42).
        fractions: (train, validation, test) shares, summing to 1; ignored by `"paper"`.

    Returns:
        `{split name: sorted list of keys}` for every split of `split_names(scheme)` (a split may be
        empty on a tiny archive).

    Raises:
        SplitError: duplicate keys, bad fractions, or a `"creator"` split the records cannot support.
    """
    _check_scheme(scheme)
    keys = [record.key for record in records]
    if len(set(keys)) != len(keys):
        duplicates = sorted({key for key in keys if keys.count(key) > 1}, key=_sort_key)
        raise SplitError(f"duplicate sample keys {duplicates[:10]}; every sample must appear once.")
    if scheme == "paper":
        return _paper_split(records)
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise SplitError(f"fractions must be three non-negative shares summing to 1, got {fractions}.")
    if scheme == "stratified":
        return _stratified_split(records, seed, fractions)
    return _creator_split(records, seed, fractions)


def _check_scheme(scheme: str) -> None:
    if scheme not in SPLIT_SCHEMES:
        raise SplitError(f"unknown split_scheme {scheme!r}; choose one of {', '.join(SPLIT_SCHEMES)}.")


def _sort_key(key):
    # Keys may mix ints (sample numbers) and strings (raw posts without a link): order ints first.
    return (0, key, "") if isinstance(key, int) else (1, 0, str(key))


def _sorted(records: Sequence[SampleRecord]) -> list[SampleRecord]:
    return sorted(records, key=lambda record: _sort_key(record.key))


def _result(assigned: dict[str, list], names: tuple[str, ...]) -> dict[str, list]:
    return {name: sorted(assigned.get(name, []), key=_sort_key) for name in names}


def _paper_split(records: Sequence[SampleRecord]) -> dict[str, list]:
    from sklearn.model_selection import train_test_split

    keys = [record.key for record in _sorted(records)]
    if len(keys) < 2:
        return _result({"train": keys}, ("train", "test"))
    train, test = train_test_split(keys, test_size=PAPER_TEST_SIZE, random_state=PAPER_RANDOM_STATE)
    return _result({"train": list(train), "test": list(test)}, ("train", "test"))


def _stratified_split(records, seed: int, fractions) -> dict[str, list]:
    _, validation_share, test_share = fractions
    by_label: dict[str | None, list] = defaultdict(list)
    for record in _sorted(records):
        by_label[record.primary_label].append(record.key)
    rng = np.random.default_rng(seed)
    assigned: dict[str, list] = defaultdict(list)
    # Labels in a fixed order so the generator's draws do not depend on dict insertion order.
    for label in sorted(by_label, key=lambda name: (name is None, name or "")):
        keys = by_label[label]
        order = [keys[index] for index in rng.permutation(len(keys))]
        if len(order) < MIN_RECORDS_TO_STRATIFY:
            assigned["train"].extend(order)
            continue
        num_validation = max(1, round(len(order) * validation_share)) if validation_share > 0 else 0
        num_test = max(1, round(len(order) * test_share)) if test_share > 0 else 0
        # Keep at least one training record per label.
        while num_validation + num_test > len(order) - 1:
            if num_validation >= num_test and num_validation > 0:
                num_validation -= 1
            else:
                num_test -= 1
        assigned["test"].extend(order[:num_test])
        assigned["validation"].extend(order[num_test : num_test + num_validation])
        assigned["train"].extend(order[num_test + num_validation :])
    return _result(assigned, ("train", "validation", "test"))


def _creator_split(records, seed: int, fractions) -> dict[str, list]:
    missing = [record.key for record in _sorted(records) if record.creator is None]
    if missing:
        raise SplitError(
            f"split_scheme='creator' needs every sample's creator, but {len(missing)} of {len(records)} samples "
            f"have none (e.g. {missing[:5]}). The archive links samples to creators through rename.xlsx's "
            "filtered_name column; without it use split_scheme='stratified' or 'paper', or errors='skip' to "
            "leave the unlinked samples out."
        )
    by_creator: dict[str, list] = defaultdict(list)
    for record in _sorted(records):
        by_creator[record.creator].append(record.key)
    if len(by_creator) < 3:
        raise SplitError(
            f"split_scheme='creator' needs at least 3 creators for train/validation/test, found "
            f"{len(by_creator)} ({', '.join(sorted(by_creator))})."
        )
    creators = sorted(by_creator)
    creators = [creators[index] for index in np.random.default_rng(seed).permutation(len(creators))]
    total = len(records)
    _, validation_share, test_share = fractions
    assigned: dict[str, list] = defaultdict(list)
    remaining = list(creators)
    for split, share in (("test", test_share), ("validation", validation_share)):
        # Always leave at least one creator for train and for the split still to fill.
        while remaining and len(assigned[split]) < share * total and len(remaining) > 1 + (split == "test"):
            assigned[split].extend(by_creator[remaining.pop(0)])
    for creator in remaining:
        assigned["train"].extend(by_creator[creator])
    return _result(assigned, ("train", "validation", "test"))


def creators_per_split(records: Sequence[SampleRecord], assignment: dict[str, list]) -> dict[str, set]:
    """`{split: set of creators}`, to check a split for creator leakage."""
    creator_of = {record.key: record.creator for record in records}
    return {split: {creator_of[key] for key in keys} for split, keys in assignment.items()}
