"""`scan_archive(path)`: what was recognised per tier, counts, the label histogram and every entry that could
not be used with the reason (`scripts/scan_archive.py` prints it). Decodes no media."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from .archive_index import ArchiveIndex, index_archive
from .constants import LABELS, RENAME_TABLE_NAME, TIERS
from .errors import AHUDataError, NameParseError
from .member_reader import MemberReader


@dataclass
class TierSummary:
    """Counts of one tier in a `ScanReport`."""

    tier: str
    sources: list[str]
    num_entries: int
    kinds: dict[str, int]
    primary_labels: dict[str, int]
    all_labels: dict[str, int]
    metadata: list[str]


@dataclass
class ScanReport:
    """What `scan_archive` found.

    Attributes:
        paths: what was scanned.
        tiers: `{tier: TierSummary}` for every tier found.
        problems: `(entry, reason, message)` for every entry that could not be used.
        ignored: files that belong to no entry.
        shadowed: zips not read because their tier was found as a folder.
        linked: samples that rename.xlsx links to a raw post (None when there is no raw tier).
    """

    paths: tuple[str, ...]
    tiers: dict[str, TierSummary]
    problems: list[tuple[str, str, str]]
    ignored: list[str]
    shadowed: list[str]
    linked: int | None = None

    @property
    def problem_counts(self) -> dict[str, int]:
        return dict(Counter(reason for _, reason, _ in self.problems))

    def __str__(self) -> str:
        lines = [f"Scanned: {', '.join(self.paths)}"]
        if not self.tiers:
            lines.append("No tier recognised (expected raw/, filtered/, processed/ folders or zips).")
        for tier in TIERS:
            summary = self.tiers.get(tier)
            if summary is None:
                lines.append(f"\n[{tier}] not found")
                continue
            lines.append(f"\n[{tier}] {summary.num_entries} entries from {', '.join(summary.sources)}")
            if summary.kinds:
                lines.append(
                    "  kinds: "
                    + ", ".join(f"{kind} {count}" for kind, count in sorted(summary.kinds.items()))
                )
            if summary.metadata:
                lines.append("  tables: " + ", ".join(summary.metadata))
            if summary.primary_labels:
                lines.append("  primary label histogram:")
                width = max(len(label) for label in LABELS)
                for label in LABELS:
                    count = summary.primary_labels.get(label, 0)
                    if count:
                        lines.append(
                            f"    {label:<{width}} {count:6d} (any position: {summary.all_labels.get(label, 0)})"
                        )
        if self.linked is not None:
            lines.append(f"\nrename.xlsx links {self.linked} samples to raw posts (creators).")
        if self.shadowed:
            lines.append("\nNot read (tier already found as a folder): " + "; ".join(self.shadowed))
        lines.append(f"\nUnusable entries: {len(self.problems)}")
        for reason, count in sorted(self.problem_counts.items()):
            lines.append(f"  {reason}: {count}")
        for _, reason, message in self.problems:
            lines.append(f"  - [{reason}] {message}")
        if self.ignored:
            lines.append(f"\nIgnored files (not part of any entry): {len(self.ignored)}")
            lines.extend(f"  - {path}" for path in self.ignored[:50])
            if len(self.ignored) > 50:
                lines.append(f"  ... and {len(self.ignored) - 50} more")
        return "\n".join(lines)


def count_links(index: ArchiveIndex) -> int | None:
    """How many rename.xlsx rows link a parseable filtered name to a raw post (None without rename.xlsx)."""
    from .comments import parse_link_target, read_rename_table

    raw = index.tier("raw")
    if raw is None or RENAME_TABLE_NAME not in raw.metadata:
        return None
    source, member = raw.metadata[RENAME_TABLE_NAME]
    with MemberReader() as reader:
        rows = read_rename_table(reader.read(source, member), entry=source.location(member))
    linked = 0
    for row in rows:
        if row.filtered_name:
            try:
                parse_link_target(row.filtered_name)
                linked += 1
            except NameParseError:
                pass
    return linked


def scan_archive(path: str | os.PathLike | Iterable[str | os.PathLike]) -> ScanReport:
    """Index `path` (a folder and/or zips) and summarise it per tier; decodes no media.

    Returns:
        `ScanReport`; `print(report)` gives the human-readable summary.
    """
    index = index_archive(path)
    problems = [(problem.entry, problem.reason, problem.message) for problem in index.problems]
    tiers = {}
    # Processed names do not say video or image set: take it from the filtered entry of the same number.
    filtered_kinds = (
        {e.sample_id: e.kind for e in index.tiers["filtered"].entries} if "filtered" in index.tiers else {}
    )
    for tier, tier_index in index.tiers.items():
        kinds = Counter(
            entry.kind or filtered_kinds.get(entry.sample_id) or "unknown" for entry in tier_index.entries
        )
        primary = Counter(entry.labels[0] for entry in tier_index.entries if entry.labels)
        every = Counter(label for entry in tier_index.entries for label in entry.labels)
        tiers[tier] = TierSummary(
            tier=tier,
            sources=[source.path for source in tier_index.sources],
            num_entries=len(tier_index.entries),
            kinds=dict(kinds),
            primary_labels=dict(primary),
            all_labels=dict(every),
            metadata=sorted(tier_index.metadata),
        )
    linked = None
    try:
        linked = count_links(index)
    except AHUDataError as error:
        problems.append((error.entry or RENAME_TABLE_NAME, error.reason, str(error)))
    return ScanReport(
        paths=index.paths,
        tiers=tiers,
        problems=problems,
        ignored=index.ignored,
        shadowed=index.shadowed,
        linked=linked,
    )
