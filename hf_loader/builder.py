"""`AHUUltrasound`: the AHU ultrasound archive as a `datasets` builder.

datasets 5.2 has no loading scripts; use the class directly:

```python
>>> from hf_loader import AHUUltrasound
>>> builder = AHUUltrasound(config_name="processed", data_dir="path/to/archive")
>>> builder.download_and_prepare()
>>> ds = builder.as_dataset()                   # DatasetDict: train / validation / test
>>> stream = builder.as_streaming_dataset()     # same examples, read lazily
```

`data_dir` is a folder holding the tier folders (`raw/`, `filtered/`, `processed/`), the tier zips as
downloaded, or both (each sample is read once: a tier found as a folder is not read again from its
zip), or a single zip. Without `data_dir` the archive is downloaded from Figshare
(`hf_loader.figshare.download_archive`). Zips are read member by member through their central directory,
never extracted (`hf_loader.member_reader.MemberReader`: a damaged member costs only its own sample; members
too large or too compressed to be media are refused unread).

The cache key (`hash`, part of `builder.cache_dir`) follows the data: with `data_dir`, every file under it at
any depth (path, size, modification time) and each zip's central directory (member CRCs and sizes,
`hf_loader.archive_fingerprint.archive_fingerprint`, tens of milliseconds on a bench-scale archive, see
BENCHMARKS.md);
from Figshare, the article's version and each file's size and md5. An edited file is never served stale.

Configs (`config_name`):

- `processed` (default): the paper's training input, 224x224 RGB frames per sample, noise frames
  removed (`drop_noise=True`). Built from the processed tier; when the archive has none, frames are
  computed from the filtered tier with `hf_loader.preprocess.preprocess_sample`.
- `filtered`: the curated media: a `video` (mp4 bytes) for a video sample, `images` for an image set.
- `raw`: the creators' posts: the original video or images, the creator, the original file name and the
  post's comments. Posts that rename.xlsx links to a filtered entry carry its sample id and labels.
- `full`: one row per sample joining the tiers: processed frames, the filtered video or images, and the
  raw post's creator and comments (the link is rename.xlsx's `filtered_name` column).

Features (all configs: `sample_id`, `all_labels` (list of `ClassLabel` over `hf_loader.LABELS`, primary first),
`label` (`ClassLabel`, the primary label: the column Trainer's default collator reads), `kind` (`"video"` / `"image_set"`, None where the archive does not say),
`creator` (None where unknown), `num_frames` (frames of the source video, or images of an image set),
`fps` (frames per second) and `duration` (seconds), None where unknown):

- `frames` (`processed`, `full`): list of images, the processed tier: 224x224 RGB frames in time order,
  noise frames left out unless `drop_noise=False`; `frame_indices` / `noise_frame_indices`: 0-based
  positions, in the sample's processed frame sequence (file `01.jpg` is position 0; for a video, source
  frame `10 * position`), of the frames kept and of the frames judged noise (listed even when dropped).
- `images` (`filtered`, `raw`, `full`): an image set's images as the archive holds them.
  `frames` and `images` are distinct columns because the processor treats them differently (processed frames
  are ready, an image set gets the paper's border cut): `RViTVideoProcessor` given a row reads the right one.
- `video`: `datasets.Video(decode=decode_video)`, stored as bytes so a Parquet export embeds it.
- `comments`: list of `{text, depth, parent, likes, liked_by_creator, by_creator, time}` (see
  `hf_loader.comments.read_comment_table`).

Each split is cut into shards of consecutive entries (at least `MIN_SHARDS`, at most `MAX_ENTRIES_PER_SHARD`
entries each), passed to datasets as a list in `gen_kwargs`: `download_and_prepare(num_proc=N)` prepares
shards in N processes, `as_streaming_dataset()` has one shard per group (`num_shards`) and
`torch.utils.data.DataLoader(stream, num_workers=N)` workers share them; examples are keyed
`datasets.builder.Key(shard, position)`.

The `full` config reads its driving tier (processed, else filtered) in order, and the linked filtered entry and
comment table of each sample by random access (a zip's central directory), which local zips and seekable
remote files allow; samples lacking a part get None there and a warning gives their count.

Splits (`split_scheme`, see `hf_loader.splits`): `"stratified"` (default, train/validation/test 70/15/15
stratified on the primary label, `seed`), `"paper"` (the paper's 80/20 train/test split, random_state=42),
`"creator"` (creator-disjoint train/validation/test; needs rename.xlsx's links, else `SplitError`). The
split is decided in `_split_generators` from entry names alone, before any media is read, so
map-style and streaming datasets hold the same examples; entries left out while indexing (`errors="skip"`)
still take their place in it, so which samples failed never moves another sample between splits. A split
that gets no sample (a tiny archive) is left out with a warning.

Bad input: strict by default (`errors="raise"`): the first bad entry raises an `AHUDataError` naming
it and the fix. With `errors="skip"` bad entries are left out, a warning gives the counts per reason,
and `builder.skipped` (a `SkipReport`) lists them (also those skipped in `num_proc` worker processes), with
notes on what was done instead (e.g. frames computed from the filtered tier when processed.zip is unreadable).
A streaming dataset read by `DataLoader` worker processes reads its media in copies of the builder: what
they skip is in their warnings only, not in `builder.skipped` (read with `num_workers=0`, or prepare the
dataset, to have the whole report).
Videos are checked against what their file holds (`hf_loader.video_io.probe_video`): an mp4 cut short
raises `TruncatedVideoError` even when its header announces every frame.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import math
import os
import posixpath
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import datasets
import numpy as np
from datasets.builder import Key
from datasets.exceptions import DatasetGenerationError
from PIL import Image, UnidentifiedImageError

from .archive_fingerprint import archive_fingerprint
from .archive_index import Entry, index_archive, tier_of_file_name
from .comments import parse_link_target, read_comment_table, read_rename_table
from .constants import (
    ALL_LABELS_COLUMN,
    FIGSHARE_ARTICLE_ID,
    LABEL_COLUMN,
    LABELS,
    NOISE_LIST_NAME,
    PAPER_CITATION,
    RENAME_TABLE_NAME,
)
from .errors import AHUDataError, CorruptMediaError, DownloadError, NameParseError, SplitError
from .member_reader import MemberReader, iter_entry_files, read_entry_files
from .naming import parse_filtered_name, parse_frame_number, parse_processed_name
from .noise_list import parse_noise_list
from .splits import DEFAULT_FRACTIONS, DEFAULT_SEED, SPLIT_SCHEMES, SampleRecord, assign_splits, split_names
from .video_io import probe_video, to_float32

logger = logging.getLogger(__name__)

CONFIG_NAMES: tuple[str, ...] = ("processed", "filtered", "raw", "full")
ERROR_MODES: tuple[str, ...] = ("raise", "skip")
# Shards per split (`_shards`): at least enough for 8 DataLoader or `num_proc` workers, and small enough
# (a few hundred MB of frames) that the workers finish together.
MIN_SHARDS = 8
MAX_ENTRIES_PER_SHARD = 64

_DESCRIPTION = (
    "The AHU heterogeneous ultrasound database: 1,833 ultrasound videos and image sets posted by 31 "
    "hospital creators on Douyin, annotated with 13 labels (Scientific Data 12:148, 2025)."
)
_HOMEPAGE = "https://doi.org/10.6084/m9.figshare.26889334"
_LICENSE = "CC BY 4.0"


@dataclass
class AHUUltrasoundConfig(datasets.BuilderConfig):
    """Options of `AHUUltrasound`, passed as keyword arguments to the builder.

    Attributes:
        split_scheme: `"stratified"`, `"paper"` or `"creator"` (see `hf_loader.splits`).
        seed: seed of the stratified and creator splits (the paper split always uses 42).
        fractions: (train, validation, test) shares of the stratified and creator splits.
        drop_noise: leave the frames judged noise out of `frames` (their positions stay in
            `noise_frame_indices`).
        errors: `"raise"` (stop at the first bad entry) or `"skip"` (leave it out and count it).
        decode_video: whether the `video` feature decodes to a torchcodec `VideoDecoder` (needs torchcodec)
            or gives `{"path", "bytes"}`.
        figshare_api_url: Figshare API base URL used when `data_dir` is None (default: the public API).
    """

    split_scheme: str = "stratified"
    seed: int = DEFAULT_SEED
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
    drop_noise: bool = True
    errors: str = "raise"
    decode_video: bool = True
    figshare_api_url: str | None = None

    def validate(self) -> None:
        if self.name not in CONFIG_NAMES:
            raise ValueError(f"unknown config {self.name!r}; choose one of {', '.join(CONFIG_NAMES)}.")
        if self.split_scheme not in SPLIT_SCHEMES:
            raise SplitError(
                f"unknown split_scheme {self.split_scheme!r}; choose one of {', '.join(SPLIT_SCHEMES)}."
            )
        if self.errors not in ERROR_MODES:
            raise ValueError(f"errors must be 'raise' or 'skip', got {self.errors!r}.")


@dataclass
class SkipReport:
    """Entries left out in lenient mode (`errors="skip"`): `(reason, entry, message)` each."""

    entries: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, error: AHUDataError) -> None:
        self.entries.append((error.reason, error.entry or "", str(error)))

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(reason for reason, _, _ in self.entries))

    def __len__(self) -> int:
        return len(self.entries)

    def __str__(self) -> str:
        if not self.entries:
            return "\n".join(["nothing skipped", *self.notes])
        lines = [
            f"{len(self.entries)} skipped: "
            + ", ".join(f"{reason} {n}" for reason, n in sorted(self.counts.items()))
        ]
        shown = set()
        for reason, entry, message in self.entries:
            body = message.removeprefix(f"{entry}: ") if entry else message
            # One error that names several entries (a duplicate pair) leaves each out: its message once.
            key = (reason, body) if entry and entry in body else (reason, message)
            if key not in shown:
                shown.add(key)
                lines.append(f"  - [{reason}] {message}")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


@dataclass(frozen=True)
class _Link:
    """What rename.xlsx says about one sample's raw post."""

    post: str  # encoded path, `<creator>/<post code>`
    creator: str
    original_path: str
    sample_id: int | None
    labels: tuple[str, ...]
    kind: str | None


@dataclass
class _Plan:
    """Everything `_generate_examples` needs for one split but its entries (small: names, no media)."""

    config_name: str
    split: str
    drop_noise: bool
    preprocess: bool  # build frames from filtered entries (no processed tier)
    noise: dict[int, set[int]]
    links_by_sample: dict[int, _Link]
    links_by_post: dict[str, _Link]
    kinds: dict[int, str]
    filtered_by_sample: dict[int, Entry]
    posts: dict[str, Entry]


def _label_features() -> dict[str, Any]:
    return {
        "sample_id": datasets.Value("int32"),
        ALL_LABELS_COLUMN: datasets.List(datasets.ClassLabel(names=list(LABELS))),
        LABEL_COLUMN: datasets.ClassLabel(names=list(LABELS)),
        "kind": datasets.Value("string"),
        "creator": datasets.Value("string"),
    }


def _media_features() -> dict[str, Any]:
    return {
        "num_frames": datasets.Value("int32"),
        "fps": datasets.Value("float32"),
        "duration": datasets.Value("float32"),
    }


def _comment_features() -> datasets.List:
    return datasets.List(
        {
            "text": datasets.Value("string"),
            "depth": datasets.Value("int32"),
            "parent": datasets.Value("int32"),
            "likes": datasets.Value("int32"),
            "liked_by_creator": datasets.Value("bool"),
            "by_creator": datasets.Value("bool"),
            "time": datasets.Value("string"),
        }
    )


def features_for(config_name: str, decode_video: bool = True) -> datasets.Features:
    """The features of a config (see the module docstring)."""
    frames = {
        "frames": datasets.List(datasets.Image()),
        "frame_indices": datasets.List(datasets.Value("int32")),
        "noise_frame_indices": datasets.List(datasets.Value("int32")),
    }
    video = datasets.Video(decode=decode_video)
    post = {"post_id": datasets.Value("string"), "original_path": datasets.Value("string")}
    if config_name == "processed":
        return datasets.Features({**_label_features(), **frames, **_media_features()})
    if config_name == "filtered":
        return datasets.Features(
            {
                **_label_features(),
                "video": video,
                "images": datasets.List(datasets.Image()),
                **_media_features(),
            }
        )
    if config_name == "raw":
        return datasets.Features(
            {
                **_label_features(),
                **post,
                "video": video,
                "images": datasets.List(datasets.Image()),
                "comments": _comment_features(),
                **_media_features(),
            }
        )
    if config_name == "full":
        return datasets.Features(
            {
                **_label_features(),
                **frames,
                "video": video,
                "images": datasets.List(datasets.Image()),
                **post,
                "comments": _comment_features(),
                **_media_features(),
            }
        )
    raise ValueError(f"unknown config {config_name!r}; choose one of {', '.join(CONFIG_NAMES)}.")


def _figshare_fingerprint(cache_dir: str | None, api_url: str | None) -> str | None:
    """The cache key of a build from Figshare: the article's version and its files' ids, sizes and md5s, asked
    from the API (else from the listing cached by the last download); None when neither is available (the
    download then says why)."""
    from .figshare import fetch_listing, listing_fingerprint

    downloads = (
        os.path.join(os.path.expanduser(cache_dir), datasets.config.DOWNLOADED_DATASETS_DIR)
        if cache_dir
        else str(datasets.config.DOWNLOADED_DATASETS_PATH)
    )
    try:
        version, files = fetch_listing(
            FIGSHARE_ARTICLE_ID, api_url, Path(downloads) / "figshare" / str(FIGSHARE_ARTICLE_ID), retries=1
        )
    except DownloadError as error:
        # Debug only: the download tries again and, if it fails too, its error carries this message once.
        logger.debug("AHU: the Figshare listing cannot be read (%s); the download will try again.", error)
        return None
    return listing_fingerprint(version, files)


class AHUUltrasound(datasets.GeneratorBasedBuilder):
    """The AHU ultrasound database (see the module docstring for configs, features and splits).

    Args:
        config_name: `"processed"` (default), `"filtered"`, `"raw"` or `"full"`.
        data_dir: folder (tier folders and/or zips) or zip; None downloads from Figshare.
        cache_dir: where `datasets` writes the prepared Arrow files.
        **config_kwargs: `AHUUltrasoundConfig` fields (`split_scheme`, `seed`, `drop_noise`, `errors`, ...).

    Attributes:
        skipped: `SkipReport` of the entries left out with `errors="skip"` (empty in strict mode).
    """

    # 1.1.0: the label columns renamed (`label`, `all_labels`), so an older cached build is not reused.
    VERSION = datasets.Version("1.1.0")
    BUILDER_CONFIG_CLASS = AHUUltrasoundConfig
    BUILDER_CONFIGS: ClassVar[list[AHUUltrasoundConfig]] = [
        AHUUltrasoundConfig(
            name="processed", version=VERSION, description="224x224 frames per sample, noise removed."
        ),
        AHUUltrasoundConfig(name="filtered", version=VERSION, description="Curated videos and image sets."),
        AHUUltrasoundConfig(name="raw", version=VERSION, description="Creators' posts with their comments."),
        AHUUltrasoundConfig(name="full", version=VERSION, description="All tiers joined per sample."),
    ]
    DEFAULT_CONFIG_NAME = "processed"
    # Rows hold many images or a whole video: flush to disk often to keep memory small.
    DEFAULT_WRITER_BATCH_SIZE = 16

    def __init__(self, *args, dataset_name: str | None = None, hash: str | None = None, **kwargs):
        data_dir = kwargs.get("data_dir")
        if data_dir is not None and "://" not in str(data_dir):
            kwargs["data_dir"] = data_dir = os.path.abspath(os.fspath(data_dir))
        if hash is None and data_dir:
            hash = archive_fingerprint(data_dir)
        elif hash is None:
            hash = _figshare_fingerprint(kwargs.get("cache_dir"), kwargs.get("figshare_api_url"))
        super().__init__(*args, dataset_name=dataset_name or "ahu_ultrasound", hash=hash, **kwargs)
        self.config.validate()
        self.skipped = SkipReport()
        self._skip_log_dir: str | None = None

    def download_and_prepare(self, *args, **kwargs):
        """`datasets.DatasetBuilder.download_and_prepare`, raising our `AHUDataError` itself rather than
        datasets' generic `DatasetGenerationError` wrapped around it."""
        num_proc = kwargs.get("num_proc") or 1
        with tempfile.TemporaryDirectory(prefix="ahu-skipped-") as skip_log_dir:
            # Worker processes (`num_proc > 1`) write what they skipped here; it is merged into `self.skipped`.
            self._skip_log_dir = skip_log_dir if num_proc > 1 else None
            try:
                return super().download_and_prepare(*args, **kwargs)
            except DatasetGenerationError as error:
                if isinstance(error.__cause__, AHUDataError):
                    raise error.__cause__ from None
                raise
            finally:
                self._skip_log_dir = None
                for log in sorted(os.listdir(skip_log_dir)):
                    with open(os.path.join(skip_log_dir, log)) as file:
                        self.skipped.entries.extend(tuple(item) for item in json.load(file))

    def as_dataset(self, split=None, *args, **kwargs):
        """`datasets.DatasetBuilder.as_dataset`; with `split=None`, splits left empty by `errors="skip"`
        are left out of the `DatasetDict` (datasets cannot read back an empty split)."""
        if split is None and self.info.splits:
            split = {name: name for name, info in self.info.splits.items() if info.num_examples}
            empty = sorted(set(self.info.splits) - set(split))
            if empty:
                logger.warning(
                    "AHU %s: split(s) %s hold no example and are left out.",
                    self.config.name,
                    ", ".join(empty),
                )
        return super().as_dataset(split, *args, **kwargs)

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description=_DESCRIPTION,
            features=features_for(self.config.name, self.config.decode_video),
            homepage=_HOMEPAGE,
            license=_LICENSE,
            citation=PAPER_CITATION,
        )

    def _fail(self, error: AHUDataError) -> None:
        """Raise in strict mode; count in lenient mode."""
        if self.config.errors == "raise":
            raise error
        self.skipped.add(error)

    def _archive_paths(self, dl_manager) -> list[str]:
        if self.config.data_dir:
            return [self.config.data_dir]
        # No data_dir: fetch the tier zips from Figshare (md5-checked, cached between runs).
        from .figshare import download_archive

        return [
            os.fspath(path) for path in download_archive(dl_manager, api_url=self.config.figshare_api_url)
        ]

    def _split_generators(self, dl_manager):
        self.skipped = SkipReport()
        config = self.config
        index = index_archive(self._archive_paths(dl_manager))
        # Unreadable zips and unsafe members first: they may be why a tier is missing.
        for problem in index.problems:
            if problem.tier is None:
                self._fail(problem.error)
        processed, filtered, raw = index.tier("processed"), index.tier("filtered"), index.tier("raw")
        preprocess = config.name in ("processed", "full") and processed is None
        driver = {"processed": processed, "filtered": filtered, "raw": raw, "full": processed}[config.name]
        if preprocess:
            driver = filtered
        if driver is None:
            needed = "processed or filtered" if config.name in ("processed", "full") else config.name
            raise AHUDataError(
                f"no {needed} tier found under {', '.join(index.paths)} (found: {', '.join(index.tiers) or 'nothing'}). "
                "Pass the folder holding the tier folders or zips; `python scripts/scan_archive.py PATH` shows "
                "what is recognised.",
            )
        used_tiers = {driver.tier} | ({"filtered", "raw"} if config.name == "full" else set())
        for problem in index.problems:
            if problem.tier in used_tiers:
                self._fail(problem.error)
        if preprocess and config.errors == "skip":
            self._warn_about_lost_processed_tier(index)

        links = self._read_links(
            raw, required=config.name in ("raw", "full") or config.split_scheme == "creator"
        )
        links_by_sample = {link.sample_id: link for link in links if link.sample_id is not None}
        links_by_post = {link.post: link for link in links}
        noise = self._read_noise(processed) if processed is not None else {}

        records, entry_of = [], {}
        for entry in driver.entries:
            if entry.tier == "raw":
                record = self._record(entry.name, entry.tier, links_by_post, links_by_sample, set(entry_of))
            else:
                link = links_by_sample.get(entry.sample_id)
                record = SampleRecord(entry.sample_id, entry.labels[0], link.creator if link else None)
            if config.split_scheme == "creator" and record.creator is None and config.errors == "skip":
                self._fail(
                    SplitError(
                        "no creator link in rename.xlsx; left out of the creator split.", entry=entry.location
                    )
                )
                continue
            records.append(record)
            entry_of[record.key] = entry
        # Entries skipped while indexing keep their place in the split, so that which other samples
        # failed never moves a sample from one split to another.
        for problem in index.problems:
            if problem.tier != driver.tier or problem.name is None:
                continue
            record = self._record(problem.name, problem.tier, links_by_post, links_by_sample, set(entry_of))
            known = record.key is None or record.key in entry_of or any(r.key == record.key for r in records)
            if not known and (config.split_scheme != "creator" or record.creator is not None):
                records.append(record)
        assignment = assign_splits(records, config.split_scheme, seed=config.seed, fractions=config.fractions)
        if self.skipped:
            logger.warning("AHU %s: %s", config.name, self._counts_line())

        filtered_by_sample = filtered.by_sample_id() if filtered is not None else {}
        if config.name == "full":
            self._warn_about_unjoined(driver, filtered_by_sample, links_by_sample)
        plans = []
        for split in split_names(config.split_scheme):
            entries = [entry_of[key] for key in assignment[split] if key in entry_of]
            if not entries:
                # datasets cannot read back an empty split; a tiny archive simply lacks it.
                logger.warning(
                    "AHU %s: split %r is empty (%d samples in all) and is left out.",
                    config.name,
                    split,
                    len(entry_of),
                )
                continue
            plan = _Plan(
                config_name=config.name,
                split=split,
                drop_noise=config.drop_noise,
                preprocess=preprocess,
                noise=noise,
                links_by_sample=links_by_sample,
                links_by_post=links_by_post,
                kinds={sample_id: entry.kind for sample_id, entry in filtered_by_sample.items()},
                filtered_by_sample=filtered_by_sample if config.name == "full" else {},
                posts=raw.by_name() if raw is not None and config.name == "full" else {},
            )
            # A list of shards: datasets gives them to `num_proc` workers, to a streaming dataset's
            # DataLoader workers, and keys each example by its shard (`datasets.builder.Key`).
            plans.append(
                datasets.SplitGenerator(name=split, gen_kwargs={"plan": plan, "shards": _shards(entries)})
            )
        return plans

    @staticmethod
    def _record(name: str, tier: str, links_by_post: dict, links_by_sample: dict, taken: set) -> SampleRecord:
        """What the split needs of the entry called `name` (key None when its name does not parse)."""
        if tier == "raw":
            link = links_by_post.get(name)
            key = link.sample_id if link is not None and link.sample_id is not None else name
            if key in taken:  # two posts linked to one sample: keep both, keyed by post
                key = name
            return SampleRecord(key, link.labels[0] if link and link.labels else None, name.split("/")[0])
        try:
            parsed = (parse_filtered_name if tier == "filtered" else parse_processed_name)(name)
        except (NameParseError, ValueError):
            return SampleRecord(None)
        link = links_by_sample.get(parsed.sample_id)
        return SampleRecord(parsed.sample_id, parsed.labels[0], link.creator if link else None)

    def _warn_about_lost_processed_tier(self, index) -> None:
        """Lenient mode on an archive whose processed zip cannot be read: frames are then computed from the
        filtered tier, which must never happen unsaid."""
        lost = [
            problem.entry
            for problem in index.problems
            if problem.tier is None and tier_of_file_name(problem.entry) == "processed"
        ]
        if lost:
            note = (
                f"{', '.join(lost)} cannot be read, so every sample's frames are computed from the filtered tier "
                "instead (slower; same method as the paper, not the authors' files). Download it again to use "
                "the processed tier."
            )
            self.skipped.notes.append(note)
            logger.warning("AHU %s: %s", self.config.name, note)

    def _warn_about_unjoined(self, driver, filtered_by_sample: dict, links_by_sample: dict) -> None:
        """The `full` config joins tiers by sample number: say how many samples lack a part, and which labels disagree."""
        ids = [entry.sample_id for entry in driver.entries]
        no_filtered = [sample_id for sample_id in ids if sample_id not in filtered_by_sample]
        no_post = [sample_id for sample_id in ids if sample_id not in links_by_sample]
        if no_filtered:
            logger.warning(
                "AHU full: %d samples have no filtered entry (video/images None), e.g. %s",
                len(no_filtered),
                no_filtered[:5],
            )
        if no_post:
            logger.warning(
                "AHU full: %d samples are not linked to a raw post by rename.xlsx (creator/comments None), e.g. %s",
                len(no_post),
                no_post[:5],
            )
        disagreeing = [
            entry.name
            for entry in driver.entries
            if entry.sample_id in filtered_by_sample
            and filtered_by_sample[entry.sample_id].labels != entry.labels
        ]
        if disagreeing:
            logger.warning(
                "AHU full: %d samples have other labels in the filtered tier than in %s (the latter are used), e.g. %s",
                len(disagreeing),
                driver.tier,
                disagreeing[:5],
            )

    def _counts_line(self, entries: list[tuple[str, str, str]] | None = None) -> str:
        """Counts per reason of `entries` (default: every entry skipped so far)."""
        entries = self.skipped.entries if entries is None else entries
        counts = Counter(reason for reason, _, _ in entries)
        return (
            f"skipped {len(entries)} entries ("
            + ", ".join(f"{reason}: {count}" for reason, count in sorted(counts.items()))
            + "); see builder.skipped"
        )

    def _read_links(self, raw, required: bool) -> list[_Link]:
        """rename.xlsx's rows as links post → sample (an empty list without a raw tier or table)."""
        if raw is None:
            return []
        if RENAME_TABLE_NAME not in raw.metadata:
            if self.config.name in ("raw", "full"):
                logger.warning(
                    "AHU %s: the raw tier has no %s, so no post is linked to its filtered sample: every raw row "
                    "has sample_id None, %s [] and %s None (unknown, not 'no finding'), and full "
                    "rows have no creator or comments. Put rename.xlsx back into raw/ to link them.",
                    self.config.name,
                    RENAME_TABLE_NAME,
                    ALL_LABELS_COLUMN,
                    LABEL_COLUMN,
                )
            return []
        source, member = raw.metadata[RENAME_TABLE_NAME]
        try:
            with MemberReader() as reader:
                rows = read_rename_table(reader.read(source, member), entry=source.location(member))
        except AHUDataError as error:
            if required:
                self._fail(error)
            return []
        if rows and self.config.name in ("raw", "full") and all(row.filtered_name is None for row in rows):
            note = (
                f"{source.location(member)} links no post to a filtered sample (it has no filtered_name column, or "
                "the column is empty): every raw row has sample_id None, labels [] and primary_label None (unknown, "
                "not 'no finding'), and full rows have no creator or comments. Add a filtered_name column naming "
                "each post's filtered entry (e.g. Video_12_Cyst.mp4) to link them."
            )
            self.skipped.notes.append(note)
            logger.warning("AHU %s: %s", self.config.name, note)
        links = []
        for row in rows:
            parsed = None
            if row.filtered_name:
                try:
                    parsed = parse_link_target(row.filtered_name)
                except NameParseError as error:
                    if required:
                        self._fail(
                            error.relocated(
                                f"{source.location(member)} (filtered_name {row.filtered_name!r})"
                            )
                        )
            links.append(
                _Link(
                    post=row.encoded_path,
                    creator=row.creator,
                    original_path=row.original_path,
                    sample_id=parsed.sample_id if parsed else None,
                    labels=parsed.labels if parsed else (),
                    kind=parsed.kind if parsed else None,
                )
            )
        return links

    def _read_noise(self, processed) -> dict[int, set[int]]:
        if NOISE_LIST_NAME not in processed.metadata:
            logger.warning("AHU: the processed tier has no %s: no frame is marked as noise.", NOISE_LIST_NAME)
            return {}
        source, member = processed.metadata[NOISE_LIST_NAME]
        try:
            with MemberReader() as reader:
                data = reader.read(source, member)
        except AHUDataError as error:
            self._fail(error)
            return {}
        return parse_noise_list(data.decode("utf-8", errors="replace"))

    def _generate_examples(self, plan: _Plan, shards: list[tuple[Entry, ...]]):
        """Yield `(Key(shard, position), example)` for the given shards' entries; holds one entry at a time.

        `shards` is the part of the split's shard list this call got (all of it, or one `num_proc` job's or one
        DataLoader worker's share); `Key.original_shard_id` counts within it, as datasets expects.
        """
        skipped_before = len(self.skipped)
        with MemberReader() as reader:
            for shard_index, entries in enumerate(shards):
                for position, (entry, files) in enumerate(iter_entry_files(entries, reader)):
                    if isinstance(files, AHUDataError):
                        self._fail(files)
                        continue
                    try:
                        example = _build_example(plan, entry, files, reader)
                    except AHUDataError as error:
                        self._fail(error)
                        continue
                    yield Key(shard_index, position), example
        if len(self.skipped) > skipped_before:
            # This split's own count: the entries skipped by earlier splits are theirs.
            logger.warning(
                "AHU %s/%s: %s",
                plan.config_name,
                plan.split,
                self._counts_line(self.skipped.entries[skipped_before:]),
            )
            if self._skip_log_dir is not None:
                # A `num_proc` worker: hand the skipped entries back to the parent process.
                with tempfile.NamedTemporaryFile(
                    "w", dir=self._skip_log_dir, suffix=".json", delete=False
                ) as log:
                    json.dump(self.skipped.entries[skipped_before:], log)


def _shards(entries: list[Entry]) -> list[tuple[Entry, ...]]:
    """Cut a split's entries, in order, into `MIN_SHARDS` shards, more when a split is large (at most
    `MAX_ENTRIES_PER_SHARD` each), never more than there are entries."""
    num_shards = min(len(entries), max(MIN_SHARDS, math.ceil(len(entries) / MAX_ENTRIES_PER_SHARD)))
    bounds = np.linspace(0, len(entries), num_shards + 1).round().astype(int)
    return [tuple(entries[start:stop]) for start, stop in itertools.pairwise(bounds)]


def _build_example(plan: _Plan, entry: Entry, files: dict[str, bytes], reader: MemberReader) -> dict:
    if plan.config_name == "raw":
        return _raw_example(plan, entry, files)
    link = plan.links_by_sample.get(entry.sample_id)
    example = {
        "sample_id": entry.sample_id,
        ALL_LABELS_COLUMN: list(entry.labels),
        LABEL_COLUMN: entry.labels[0],
        "kind": entry.kind or plan.kinds.get(entry.sample_id),
        "creator": link.creator if link else None,
        "num_frames": None,
        "fps": None,
        "duration": None,
    }
    if plan.config_name == "filtered":
        example.update(_filtered_media(entry, files))
        return example
    if plan.preprocess:
        example.update(_preprocessed_frames(entry, files, plan.drop_noise))
    else:
        example.update(
            _processed_frames(
                entry, files, example["kind"], plan.noise.get(entry.sample_id, set()), plan.drop_noise
            )
        )
        if example["kind"] == "image_set":
            example["num_frames"] = len(entry.media)
    if plan.config_name == "processed":
        return example
    # full: join the filtered media and the raw post.
    filtered = entry if plan.preprocess else plan.filtered_by_sample.get(entry.sample_id)
    example.update({"video": None, "images": None, "post_id": None, "original_path": None, "comments": None})
    if filtered is not None:
        filtered_files = files if filtered is entry else read_entry_files(filtered, reader)
        media = _filtered_media(filtered, filtered_files)
        example.update({key: media[key] for key in ("video", "num_frames", "fps", "duration")})
        example["images"] = media["images"]
        example["kind"] = filtered.kind
    if link is not None:
        example.update({"post_id": link.post, "original_path": link.original_path or None})
        post = plan.posts.get(link.post)
        if post is not None and post.table:
            example["comments"] = read_comment_table(
                reader.read(post.source, post.table), entry=post.source.location(post.table)
            )
    return example


def _raw_example(plan: _Plan, entry: Entry, files: dict[str, bytes]) -> dict:
    link = plan.links_by_post.get(entry.name)
    labels = list(link.labels) if link else []
    example = {
        "sample_id": link.sample_id if link else None,
        ALL_LABELS_COLUMN: labels,
        LABEL_COLUMN: labels[0] if labels else None,
        "kind": entry.kind,
        "creator": entry.creator,
        "post_id": entry.name,
        "original_path": (link.original_path or None) if link else None,
        "comments": read_comment_table(files[entry.table], entry=entry.source.location(entry.table))
        if entry.table
        else None,
    }
    example.update(_filtered_media(entry, files))
    return example


def _filtered_media(entry: Entry, files: dict[str, bytes]) -> dict:
    """`video` + metadata for a video entry, `images` for an image set."""
    if entry.kind == "video":
        member = entry.media[0]
        data = files[member]
        num_frames, fps, duration = probe_video(data, entry.source.location(member))
        return {
            "video": {"bytes": data, "path": None},
            "images": None,
            "num_frames": num_frames,
            "fps": fps,
            "duration": duration,
        }
    images = [_image_value(files[member], entry.source.location(member)) for member in entry.media]
    return {"video": None, "images": images, "num_frames": len(images), "fps": None, "duration": None}


def _image_value(data: bytes, location: str) -> dict:
    """Check that an image decodes fully; keep its original bytes (no re-encoding)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        # Pillow's "cannot identify image file <BytesIO ...>" names an in-memory buffer, not the file.
        detail = (
            "no known image format in its bytes" if isinstance(error, UnidentifiedImageError) else str(error)
        )
        raise CorruptMediaError(
            f"the image does not decode ({detail}); the file is corrupt or truncated: replace it.",
            entry=location,
        ) from None
    return {"bytes": data, "path": None}


def _npy_frame(data: bytes, location: str, kind: str | None) -> Image.Image:
    """An `.npy` frame as an RGB image: video frames are BGR (the paper's OpenCV order), image sets RGB."""
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise CorruptMediaError(
            f"not a readable .npy array ({error}); replace the file.", entry=location
        ) from None
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise CorruptMediaError(
            f"an .npy frame must be (H, W) or (H, W, 3), got shape {array.shape}.", entry=location
        )
    if array.dtype != np.uint8:
        scale = 255.0 if array.size and float(np.nanmax(array)) <= 1.0 else 1.0
        array = np.clip(np.nan_to_num(array.astype(np.float32) * scale), 0, 255).astype(np.uint8)
    if array.ndim == 3:
        array = array[..., :3]
        if kind != "image_set":
            array = array[..., ::-1]
    return Image.fromarray(np.ascontiguousarray(array))


def _processed_frames(
    entry: Entry, files: dict[str, bytes], kind: str | None, noise_numbers: set[int], drop_noise: bool
) -> dict:
    numbers, frames = [], []
    for member in entry.media:
        location = entry.source.location(member)
        name = posixpath.basename(member)
        numbers.append(parse_frame_number(name))
        if name.lower().endswith(".npy"):
            frames.append(_npy_frame(files[member], location, kind))
        else:
            frames.append(_image_value(files[member], location))
    noise_positions = [position for position, number in enumerate(numbers) if number in noise_numbers]
    return _select_frames(frames, noise_positions, drop_noise)


def _select_frames(frames: list, noise_positions: list[int], drop_noise: bool) -> dict:
    noise = set(noise_positions)
    keep = [position for position in range(len(frames)) if not (drop_noise and position in noise)]
    return {
        "frames": [frames[position] for position in keep],
        "frame_indices": keep,
        "noise_frame_indices": sorted(noise),
    }


def _preprocessed_frames(entry: Entry, files: dict[str, bytes], drop_noise: bool) -> dict:
    """Frames computed from a filtered entry with `hf_loader.preprocess` (archive without a processed tier)."""
    from .preprocess import preprocess_sample

    with tempfile.TemporaryDirectory(prefix="ahu-") as folder:
        if entry.kind == "video":
            path = os.path.join(folder, posixpath.basename(entry.name))
            with open(path, "wb") as file:
                file.write(files[entry.media[0]])
        else:
            path = os.path.join(folder, posixpath.basename(entry.name))
            os.makedirs(path)
            for member in entry.media:
                with open(os.path.join(path, posixpath.basename(member)), "wb") as file:
                    file.write(files[member])
        try:
            sample = preprocess_sample(path)
        except AHUDataError as error:
            raise error.relocated(entry.location) from None
    frames = [Image.fromarray(frame) for frame in sample.frames]
    selected = _select_frames(frames, [int(i) for i in np.flatnonzero(sample.noise)], drop_noise)
    selected.update(
        {
            "num_frames": int(sample.num_source_frames) if sample.num_source_frames is not None else None,
            "fps": to_float32(sample.fps) if sample.fps else None,
            "duration": to_float32(sample.duration) if sample.duration else None,
        }
    )
    return selected
