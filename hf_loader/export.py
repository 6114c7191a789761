"""Exports a built AHU config as Parquet shards plus a dataset card, in the Hub's layout.

The folder this writes loads in one line, offline, with the same features (ClassLabel names
included) map-style and streaming, and pushes to a Hub dataset repo as it is:

    OUT/
      README.md                              the card: YAML `configs:` + `dataset_info:`, statistics
      label_distribution_<config>.png        primary labels per split, linked from the card
      data/<config>/<split>-00000-of-0000N.parquet

    >>> from hf_loader.export import export_dataset, push_export
    >>> export_dataset("path/to/archive", "ahu_export", config_name="processed")   # doctest: +SKIP
    >>> datasets.load_dataset("ahu_export", "processed")                            # doctest: +SKIP
    >>> push_export("ahu_export", "me/ahu-ultrasound")                              # doctest: +SKIP

Media (frames, videos) are embedded as bytes in the rows: `Dataset.to_parquet` would keep the
builder's local paths, which mean nothing on another machine (huggingface/datasets#7493).

A folder holds one archive's export, whole: each export is written into a fresh folder beside OUT that
replaces OUT in one step, so a reader never sees shards of two archives or of a run cut short; the card
records the archive (`ahu_export_source`: folder name and fingerprint) and an export of another archive into
OUT is refused unless `overwrite=True`. `check_export_folder(OUT)` names what is wrong with a half-written or
hand-mixed folder.
"""

from __future__ import annotations

import ctypes
import errno
import importlib.resources
import logging
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import ClassLabel, Dataset, DatasetDict, DatasetInfo, Features, List
from datasets import Sequence as SequenceFeature
from datasets.info import DatasetInfosDict
from datasets.splits import SplitDict, SplitInfo
from datasets.table import embed_table_storage
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard, DatasetCardData
from tqdm.auto import tqdm

from .constants import (
    ALL_LABELS_COLUMN,
    DATASET_DOI,
    FIGSHARE_ARTICLE_ID,
    LABEL_COLUMN,
    LABELS,
    LEGACY_LABEL_COLUMNS,
    PAPER_CITATION,
    PAPER_DOI,
)
from .errors import AHUDataError, OutOfSpaceError
from .splits import DEFAULT_FRACTIONS, DEFAULT_SEED

logger = logging.getLogger(__name__)

# The top-level dataset_card.md, shipped in the package (hf_loader/dataset_card.md links to it).
CARD_TEMPLATE = importlib.resources.files("hf_loader") / "dataset_card.md"
DATA_DIR = "data"
DEFAULT_MAX_SHARD_SIZE = "500MB"
# Shards per split at least (fewer only when a split has fewer rows): a streaming reader's DataLoader
# workers each take whole shards, so this many workers can share every split.
DEFAULT_MIN_SHARDS = 8
ROW_GROUP_BYTES = "64MB"
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
# YAML key of a card whose rows come from a generated sample archive (its seed, scale and size).
SAMPLE_ARCHIVE_KEY = "ahu_sample_archive"
# Card YAML key: per config, the split scheme, seed and shares the builder used (the card's "Splits" states them).
SPLITS_KEY = "ahu_splits"
# YAML key naming the archive every config of the folder was built from (folder name + fingerprint, or Figshare).
SOURCE_KEY = "ahu_export_source"
# What an export writes into its folder; anything else there (.git, a user's files) is carried over untouched.
_EXPORT_ENTRY = re.compile(r"README\.md|label_distribution_[\w.-]+\.png|data")
_STAGING_INFIX = ".ahu-export-"
# errno values of a full disk or an exhausted quota.
_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


class ExportError(AHUDataError):
    """An export that cannot be written as asked (bad output folder, unknown config, empty dataset)."""

    reason = "export failed"


def parse_size(size: int | str) -> int:
    """Bytes in `size`: an int, or a string such as `"500MB"`, `"2GB"`, `"100KiB"`."""
    if isinstance(size, int):
        return size
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B)?\s*", str(size), flags=re.IGNORECASE)
    if not match:
        raise ExportError(f"cannot read {size!r} as a size; write e.g. 500MB or 2GB", entry="max_shard_size")
    number, unit = float(match.group(1)), (match.group(2) or "B").upper()
    powers = {
        "B": 1,
        "KB": 10**3,
        "MB": 10**6,
        "GB": 10**9,
        "TB": 10**12,
        "KIB": 2**10,
        "MIB": 2**20,
        "GIB": 2**30,
        "TIB": 2**40,
    }
    return int(number * powers[unit])


def build_dataset(
    data_dir: str | os.PathLike | None, config_name: str = "processed", **builder_kwargs
) -> DatasetDict:
    """Builds one config of `AHUUltrasound` from an archive folder (None: download from Figshare)."""
    from .builder import AHUUltrasound

    builder = AHUUltrasound(
        config_name=config_name, data_dir=None if data_dir is None else str(data_dir), **builder_kwargs
    )
    builder.download_and_prepare()
    return builder.as_dataset()


def _parquet_writer_options(features: Features, schema: pa.Schema) -> dict:
    """`datasets`' own per-column Parquet options (no compression of media bytes), when available."""
    try:
        from datasets import config
        from datasets.arrow_writer import get_parquet_column_options

        options = get_parquet_column_options(features, schema)
        options["use_content_defined_chunking"] = config.DEFAULT_CDC_OPTIONS
        options["write_page_index"] = True
        return options
    except (ImportError, AttributeError, TypeError):  # internals moved: plain Parquet still loads
        return {}


def _read_batch_size(features: Features) -> int:
    """Rows read and embedded at once: few when rows carry media (a video is megabytes)."""
    from datasets.features.features import require_decoding

    has_media = any(require_decoding(feature, ignore_decode_attribute=True) for feature in features.values())
    return 8 if has_media else 1000


def write_split_shards(
    dataset: Dataset,
    folder: str | os.PathLike,
    split: str,
    max_shard_size: int | str = DEFAULT_MAX_SHARD_SIZE,
    row_group_size: int | str = ROW_GROUP_BYTES,
    min_shards: int = DEFAULT_MIN_SHARDS,
) -> tuple[list[Path], SplitInfo]:
    """Writes one split as `<split>-0000i-of-0000N.parquet` shards with the media bytes in the rows.

    Rows are read a few at a time, their media embedded (`embed_table_storage`) and appended to
    the current shard; a new shard starts once the current one holds `max_shard_size` bytes of
    (uncompressed) rows or its share of the rows for `min_shards` shards of equal rows, so a split has
    at least `min(min_shards, rows)` shards. Row groups hold about `row_group_size` bytes so
    a streaming reader fetches little more than it needs. Memory stays at one read batch.

    Returns:
        The shard paths, and a `SplitInfo` whose `num_bytes` is the rows' in-memory size with
        media embedded.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shard_limit = parse_size(max_shard_size)
    group_limit = parse_size(row_group_size)
    if min_shards < 1:
        raise ExportError(f"min_shards must be at least 1, got {min_shards}", entry="min_shards")
    # Row counts at which a shard ends at the latest: `min_shards` shards of (nearly) equal rows.
    num_shards = max(1, min(min_shards, len(dataset)))
    row_bounds = [(index * len(dataset)) // num_shards for index in range(1, num_shards + 1)]
    features = dataset.features
    schema = features.arrow_schema
    options = _parquet_writer_options(features, schema)
    parts: list[Path] = []
    writer: pq.ParquetWriter | None = None
    shard_bytes = total_bytes = written = 0
    shard_end = 0
    progress = tqdm(total=len(dataset), desc=f"Writing {split} shards", unit=" samples")
    try:
        for batch in dataset.with_format("arrow").iter(batch_size=_read_batch_size(features)):
            table = embed_table_storage(batch).cast(schema)
            row_bytes = max(1, table.nbytes // max(1, table.num_rows))
            start = 0
            while start < table.num_rows:
                if writer is None or shard_bytes >= shard_limit or written >= shard_end:
                    if writer is not None:
                        writer.close()
                    parts.append(folder / f".{split}-part{len(parts):05d}.parquet")
                    writer = pq.ParquetWriter(parts[-1], schema=schema, **options)
                    shard_bytes = 0
                    shard_end = next(bound for bound in row_bounds if bound > written)
                budget = min(shard_limit - shard_bytes, group_limit)
                count = max(1, min(table.num_rows - start, -(-budget // row_bytes), shard_end - written))
                writer.write_table(table.slice(start, count))
                shard_bytes += count * row_bytes
                written += count
                start += count
            total_bytes += table.nbytes
            progress.update(table.num_rows)
    finally:
        progress.close()
        if writer is not None:
            writer.close()
    if not parts:  # an empty split still gets one (empty) shard so every split loads
        parts.append(folder / f".{split}-part00000.parquet")
        pq.ParquetWriter(parts[-1], schema=schema, **options).close()
    shards = []
    for index, part in enumerate(parts):
        shard = folder / f"{split}-{index:05d}-of-{len(parts):05d}.parquet"
        part.replace(shard)
        shards.append(shard)
    return shards, SplitInfo(name=split, num_bytes=total_bytes, num_examples=len(dataset))


def _label_columns(features: Features) -> tuple[str | None, str | None]:
    """(single-label column, multi-label column): the ClassLabel and the list of ClassLabel."""
    single = LABEL_COLUMN if isinstance(features.get(LABEL_COLUMN), ClassLabel) else None
    multi = None
    for name, feature in features.items():
        inner = getattr(feature, "feature", None)
        if isinstance(feature, (List, SequenceFeature)) and isinstance(inner, ClassLabel):
            multi = name
            break
    if single is None:
        single = next((name for name, feature in features.items() if isinstance(feature, ClassLabel)), None)
    return single, multi


def rename_legacy_label_columns(dataset, source: str):
    """`dataset` with today's label column names if it is an export written before issue #19 renamed them.

    Such an export has `primary_label` and `labels` (`LEGACY_LABEL_COLUMNS`); they are renamed to `label` and
    `all_labels` with one logged note that says how to re-export. Any other dataset comes back as it is.

    Args:
        dataset: a `Dataset`, `IterableDataset` or a dict of them (`DatasetDict`, `IterableDatasetDict`).
        source: the folder or Hub id the rows came from, named in the note.
    """
    first = next(iter(dataset.values()), None) if isinstance(dataset, dict) else dataset
    columns = getattr(first, "column_names", None) or list(getattr(first, "features", None) or {})
    mapping = {old: new for old, new in LEGACY_LABEL_COLUMNS.items() if old in columns and new not in columns}
    if "primary_label" not in mapping:
        return dataset
    renamed = ", ".join(f"`{old}` as `{new}`" for old, new in mapping.items())
    logger.warning(
        "%s: an export from before the label columns were renamed; reading %s. Re-export it to store today's "
        "names: ahu-export --data_dir ARCHIVE --output_dir FOLDER (then push FOLDER again if it is on the Hub).",
        source,
        renamed,
    )
    return dataset.rename_columns(mapping)


def _config_shards(out_dir: Path, config_name: str) -> dict[str, list[Path]]:
    shards: dict[str, list[Path]] = {}
    for path in sorted((out_dir / DATA_DIR / config_name).glob("*-*-of-*.parquet")):
        split = path.name.rsplit("-", 3)[0]
        shards.setdefault(split, []).append(path)
    return shards


def config_statistics(out_dir: str | os.PathLike, config_name: str, info: DatasetInfo) -> dict:
    """Counts read back from an export's Parquet files (only the small label/kind/creator columns).

    Returns:
        dict with `splits` (split -> rows), `label_names`, `primary` (label -> split -> count),
        `any` (label -> split -> count, for multi-label columns), `kind` (kind -> split -> count),
        `creators` (number of distinct creators, or None).
    """
    out_dir = Path(out_dir)
    features = info.features
    single, multi = _label_columns(features)
    label_feature = features[single] if single else (features[multi].feature if multi else None)
    label_names = list(label_feature.names) if label_feature is not None else list(LABELS)
    wanted = [column for column in (single, multi, "kind", "creator") if column and column in features]
    stats = {"splits": {}, "label_names": label_names, "primary": {}, "any": {}, "kind": {}, "creators": None}
    creators: set = set()
    shards_by_split = _config_shards(out_dir, config_name)
    order = [split for split in (info.splits or {}) if split in shards_by_split]
    order += [split for split in shards_by_split if split not in order]
    for split in order:
        shards = shards_by_split[split]
        table = pa.concat_tables([pq.read_table(shard, columns=wanted) for shard in shards])
        stats["splits"][split] = table.num_rows
        columns = table.to_pydict()
        if single:
            for index, count in Counter(columns[single]).items():
                name = label_names[index] if index is not None and index >= 0 else "(none)"
                stats["primary"].setdefault(name, {})[split] = count
        if multi:
            for row in columns[multi]:
                for index in set(row or []):
                    stats["any"].setdefault(label_names[index], Counter())[split] += 1
        if "kind" in columns:
            for kind, count in Counter(columns["kind"]).items():
                stats["kind"].setdefault(str(kind), {})[split] = count
        if "creator" in columns:
            creators.update(creator for creator in columns["creator"] if creator)
    stats["creators"] = len(creators) if "creator" in wanted else None
    return stats


def plot_label_distribution(stats: dict, path: str | os.PathLike, title: str = "") -> Path:
    """Saves a horizontal bar chart of primary labels per split (1200x700 px PNG, 100 dpi)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = stats["label_names"]
    splits = list(stats["splits"])
    figure, axes = plt.subplots(figsize=(12, 7), dpi=100)
    left = [0] * len(names)
    for split in splits:
        counts = [stats["primary"].get(name, {}).get(split, 0) for name in names]
        axes.barh(names, counts, left=left, label=f"{split} ({stats['splits'][split]})")
        left = [a + b for a, b in zip(left, counts)]
    axes.invert_yaxis()  # label index 0 on top, as in the card's table
    axes.set_xlabel("samples (primary label)")
    axes.set_title(title or "Primary label per split")
    axes.legend(loc="lower right")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _size_category(num_rows: int) -> str:
    for bound, name in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
    ):
        if num_rows < bound:
            return name
    return "n>1M"


def _markdown_table(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _statistics_section(config_name: str, stats: dict, info: DatasetInfo, image_name: str) -> str:
    splits = list(stats["splits"])
    total = sum(stats["splits"].values())
    lines = [f"#### Config `{config_name}`", ""]
    lines.append(
        f"{total} samples: "
        + ", ".join(f"{split} {count}" for split, count in stats["splits"].items())
        + f"; {info.dataset_size or 0:,} bytes of rows, {info.download_size or 0:,} bytes of Parquet."
    )
    if stats["kind"]:
        kinds = {kind: sum(per_split.values()) for kind, per_split in stats["kind"].items()}
        lines.append("Kinds: " + ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items())) + ".")
    if stats["creators"] is not None:
        lines.append(f"Distinct creators: {stats['creators']}.")
    lines.append("")
    header = ["index", "label", *splits, "total"]
    if stats["any"]:
        header.append("carried (any position)")
    rows = []
    for index, name in enumerate(stats["label_names"]):
        counts = [stats["primary"].get(name, {}).get(split, 0) for split in splits]
        row = [index, name, *counts, sum(counts)]
        if stats["any"]:
            row.append(sum(stats["any"].get(name, {}).values()))
        rows.append(row)
    if "(none)" in stats["primary"]:  # raw posts that rename.xlsx links to no filtered sample
        counts = [stats["primary"]["(none)"].get(split, 0) for split in splits]
        rows.append(["-", "(no label)", *counts, sum(counts), *([0] if stats["any"] else [])])
    lines.append("Primary label per split:")
    lines.append("")
    lines.append(_markdown_table(header, rows))
    lines.append("")
    lines.append(f"![Primary label distribution of config {config_name}]({image_name})")
    return "\n".join(lines)


def split_settings(
    split_scheme: str = "stratified",
    seed: int = DEFAULT_SEED,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    **_,
) -> dict:
    """The split settings that `AHUUltrasound(**builder_kwargs)` uses, for the card: `split_settings(**kwargs)`."""
    return {"scheme": split_scheme, "seed": int(seed), "fractions": [float(share) for share in fractions]}


def _split_statement(config_name: str, settings: dict | None, stats: dict) -> str:
    """One line of the card's "Splits": the scheme and shares asked, and the counts and shares obtained."""
    counts = stats["splits"]
    total = sum(counts.values()) or 1
    got = " / ".join(f"{split} {count} ({100 * count / total:.1f} %)" for split, count in counts.items())
    if settings is None:
        return f"- `{config_name}`: splits as exported (not made by the AHU builder): {got}."
    if settings["scheme"] == "paper":
        asked = "scheme `paper`: train / test 80 / 20 %, random_state 42"
    else:
        shares = " / ".join(f"{100 * share:g}" for share in settings["fractions"])
        asked = f"scheme `{settings['scheme']}`, seed {settings['seed']}: train / validation / test {shares} % asked"
    return f"- `{config_name}`: {asked}; obtained {got}."


def _render(template: str, values: dict[str, str]) -> str:
    def substitute(match: re.Match) -> str:
        key = match.group(1)
        if key not in values:
            raise ExportError(
                f"the card template uses an unknown placeholder {{{{ {key} }}}}", entry="dataset_card.md"
            )
        return values[key]

    return _PLACEHOLDER.sub(substitute, template)


def sample_archive_origin(data_dir: str | os.PathLike | None) -> dict | None:
    """What the card says about an archive generated by `hf_loader.sample_archive`, or None for any other.

    The generator writes `manifest.json` (seed, scale, samples) beside the tiers; the real archive has none.

    Returns:
        {"seed", "scale", "num_samples"} of the generated archive, or None.
    """
    from .sample_archive import MANIFEST_NAME

    manifest_path = None if data_dir is None else Path(data_dir) / MANIFEST_NAME
    if manifest_path is None or not manifest_path.is_file():
        return None
    import json

    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    return {
        "seed": manifest.get("seed"),
        "scale": manifest.get("scale"),
        "num_samples": len(manifest.get("samples", [])),
    }


def _card_sample_archive(readme: Path) -> dict | None:
    """The `ahu_sample_archive` entry of an export card's YAML (None when absent or unreadable)."""
    try:
        value = DatasetCard(readme.read_text(encoding="utf-8")).data.get(SAMPLE_ARCHIVE_KEY)
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def dataset_source(
    data_dir: str | os.PathLike | None = None, dataset_name: str | None = None, revision: str | None = None
) -> dict:
    """Where rows come from, said without any local path, for a model folder that may be published.

    A local folder (an archive, or an export) is named by its folder name and `archive_fingerprint` (every
    file's relative path, size and time); a Hub dataset by its repo id and revision (the keys of the data
    contract's source record). Whether the rows are the generated sample archive comes from the archive's
    `manifest.json` or from the export card's `ahu_sample_archive` entry (`write_dataset_card`), so it survives
    an export and a push.

    Returns:
        {"archive": folder name, "fingerprint"} or {"hub": repo id, "revision"}, each with "sample_archive":
        `sample_archive_origin`'s {"seed", "scale", "num_samples"}, or None for other data.
    """
    from .archive_fingerprint import archive_fingerprint

    local = data_dir or (dataset_name if dataset_name and Path(dataset_name).exists() else None)
    if local is not None:
        folder = Path(local).resolve()
        origin = sample_archive_origin(folder)
        if origin is None and (folder / "README.md").is_file():
            origin = _card_sample_archive(folder / "README.md")
        return {"archive": folder.name, "fingerprint": archive_fingerprint(folder), "sample_archive": origin}
    origin = None
    if dataset_name:
        try:
            from huggingface_hub import hf_hub_download

            readme = hf_hub_download(dataset_name, "README.md", repo_type="dataset", revision=revision)
            origin = _card_sample_archive(Path(readme))
        except Exception:  # noqa: BLE001  (offline, or no card: the run is still described by id and revision)
            origin = None
    return {"hub": dataset_name, "revision": revision or "main", "sample_archive": origin}


def _provenance_values(sample_archive: dict | None, num_samples: int) -> dict[str, str]:
    """The card's title and opening, for the real database or for a generated sample archive."""
    if sample_archive is None:
        return {
            "title": "AHU Heterogeneous Ultrasound Database",
            "sample_archive_notice": "",
            "contents": f"This repository holds {num_samples} ultrasound samples of the AHU database, converted to "
            "Parquet for the Hugging Face `datasets` library.",
        }
    return {
        "title": "AHU ultrasound: generated sample archive (synthetic, not the AHU database)",
        "sample_archive_notice": (
            "> **Synthetic data.** Every sample here was generated by `hf_loader.sample_archive` "
            f"(seed {sample_archive['seed']}, scale `{sample_archive['scale']}`): rendered imitations of "
            "phone-recorded ultrasound videos and image sets, with labels, creators and comments drawn by the "
            "generator. No patient, sonographer or hospital is behind them. Use them to test code; numbers "
            "measured on them say nothing about real ultrasound. They are MIT-licensed, as the generator's code "
            "is. The statistics below describe this export; the other sections (license included) describe the "
            "real database that the generator imitates.\n\n"
        ),
        "contents": f"This repository holds {num_samples} generated samples in the layout of the AHU "
        "database, converted to Parquet for the Hugging Face `datasets` library.",
    }


def write_dataset_card(
    out_dir: str | os.PathLike,
    infos: DatasetInfosDict,
    configs: MetadataConfigs,
    template_path: str | os.PathLike | None = None,
    sample_archive: dict | None = None,
    split_settings: dict | None = None,
    source: dict | None = None,
) -> Path:
    """Renders `dataset_card.md` into `OUT/README.md` with the YAML metadata and statistics of every config.

    Statistics are read back from the Parquet files, so the card describes what was written.

    Args:
        sample_archive: `sample_archive_origin` of the archive the rows come from, when it was generated; the
            card then says at the top that its data are synthetic, is tagged `synthetic`, and keeps saying so
            when another config is exported to the same folder (the YAML key `ahu_sample_archive`).
        split_settings: {config: `split_settings(...)`} of the configs written now; kept in the YAML for the
            configs exported earlier.
        source: `archive_source(data_dir)` of the archive every config was built from (the YAML key
            `ahu_export_source`); a later export of another archive into the folder is refused by it.
    """
    out_dir = Path(out_dir)
    template = (Path(template_path) if template_path else CARD_TEMPLATE).read_text(encoding="utf-8")
    card = DatasetCard(template)
    data: DatasetCardData = card.data
    infos.to_dataset_card_data(data)
    configs.to_dataset_card_data(data)
    if source is not None:
        data[SOURCE_KEY] = source
    if sample_archive is not None:
        data[SAMPLE_ARCHIVE_KEY] = sample_archive
        data["pretty_name"] = f"{data.get('pretty_name')} (generated sample archive, synthetic)"
        data["tags"] = [*(data.get("tags") or []), "synthetic"]
        data["license"] = "mit"  # generated by this project's MIT-licensed code: no CC BY 4.0 material
        data["annotations_creators"] = ["machine-generated"]
        data["source_datasets"] = []
    earlier_card = out_dir / "README.md"
    earlier = (
        DatasetCard(earlier_card.read_text(encoding="utf-8")).data.get(SPLITS_KEY)
        if earlier_card.is_file()
        else None
    )
    settings = {**(earlier or {}), **(split_settings or {})}
    if settings:
        data[SPLITS_KEY] = settings
    sections, config_list, split_lines, total = [], [], [], 0
    for config_name, info in infos.items():
        stats = config_statistics(out_dir, config_name, info)
        split_lines.append(_split_statement(config_name, settings.get(config_name), stats))
        image_name = f"label_distribution_{config_name}.png"
        plot_label_distribution(stats, out_dir / image_name, title=f"AHU ultrasound, config {config_name}")
        sections.append(_statistics_section(config_name, stats, info, image_name))
        total = max(total, sum(stats["splits"].values()))
        config_list.append(f"`{config_name}` ({', '.join(stats['splits'])})")
    data["size_categories"] = [_size_category(total)]
    default = configs.get_default_config_name() or next(iter(infos), "default")
    values = {
        "statistics": "\n\n".join(sections),
        "config_list": ", ".join(config_list),
        "split_used": "\n".join(split_lines),
        "default_config": default,
        **_provenance_values(sample_archive, total),
        "label_table": _markdown_table(["index", "label"], list(enumerate(LABELS))),
        "label_column": LABEL_COLUMN,
        "all_labels_column": ALL_LABELS_COLUMN,
        "dataset_doi": DATASET_DOI,
        "paper_doi": PAPER_DOI,
        "citation": PAPER_CITATION,
    }
    readme = out_dir / "README.md"
    readme.write_text(f"---\n{data.to_yaml()}\n---\n{_render(card.text, values)}", encoding="utf-8")
    return readme


def archive_source(data_dir: str | os.PathLike | None) -> dict:
    """The archive an export or a run was built from, as cards and contracts record it: no local path.

    Returns:
        {"archive": the folder's name, "fingerprint": `archive_fingerprint` of its files}, or
        {"figshare": article id} for an archive downloaded from Figshare (`data_dir` None).
    """
    from .archive_fingerprint import archive_fingerprint

    if data_dir is None:
        return {"figshare": FIGSHARE_ARTICLE_ID}
    path = Path(data_dir).resolve()
    return {"archive": path.name, "fingerprint": archive_fingerprint(path)}


def describe_source(source: dict | None) -> str:
    """`archive_source`'s record in words, for messages."""
    if not source:
        return "an archive it does not record"
    if "figshare" in source:
        return f"the Figshare archive (article {source['figshare']})"
    if "hub" in source:
        return f"Hub dataset {source['hub']}" + (f"@{source['revision']}" if source.get("revision") else "")
    return f"archive {source.get('archive')!r} (fingerprint {source.get('fingerprint')})"


def _existing_metadata(out_dir: Path) -> tuple[DatasetInfosDict, MetadataConfigs, dict | None, dict | None]:
    """(dataset infos, configs, sample archive origin, source) of the export in `out_dir` (empty when none)."""
    readme = out_dir / "README.md"
    if not readme.is_file():
        return DatasetInfosDict(), MetadataConfigs(), None, None
    data = DatasetCard(readme.read_text(encoding="utf-8")).data
    return (
        DatasetInfosDict.from_dataset_card_data(data),
        MetadataConfigs.from_dataset_card_data(data),
        data.get(SAMPLE_ARCHIVE_KEY),
        data.get(SOURCE_KEY),
    )


def _shard_count(path: Path) -> int | None:
    """N of a `<split>-0000i-of-0000N.parquet` shard name."""
    match = re.search(r"-of-(\d+)\.parquet$", path.name)
    return int(match.group(1)) if match else None


def export_problems(out_dir: str | os.PathLike) -> list[str]:
    """What makes `out_dir` not a complete export: unfinished part files, missing or mixed shards, row counts
    that differ from the card's. Empty for a complete export (or a folder whose card records no splits).

    Reads only the README's YAML and the shards' Parquet footers.
    """
    out_dir = Path(out_dir)
    problems = [
        f"unfinished part file {part.relative_to(out_dir)}"
        for part in sorted((out_dir / DATA_DIR).glob("*/.*part*.parquet"))
    ]
    try:
        infos = _existing_metadata(out_dir)[0]
    except Exception as err:  # noqa: BLE001  (a README cut short mid-write fails in yaml or datasets alike)
        return [*problems, f"README.md does not parse ({err})"]
    for config_name, info in infos.items():
        shards = _config_shards(out_dir, config_name)
        for split, split_info in (info.splits or {}).items():
            files = shards.get(split, [])
            counts = {_shard_count(path) for path in files}
            if not files:
                problems.append(f"config {config_name}: split {split} has no shard")
                continue
            if counts != {len(files)}:
                problems.append(
                    f"config {config_name}: split {split} has {len(files)} shards named of "
                    f"{', '.join(str(count) for count in sorted(counts))} (shards of two exports, or missing ones)"
                )
                continue
            try:
                rows = sum(pq.ParquetFile(path).metadata.num_rows for path in files)
            except (OSError, pa.ArrowException) as err:
                problems.append(f"config {config_name}: a shard of split {split} does not read ({err})")
                continue
            if split_info.num_examples is not None and rows != split_info.num_examples:
                problems.append(
                    f"config {config_name}: split {split} holds {rows} rows, its card says {split_info.num_examples}"
                )
    return problems


def check_export_folder(out_dir: str | os.PathLike) -> None:
    """Refuses a half-written or mixed export folder before `load_dataset` trusts it.

    Raises:
        ExportError: naming what is wrong and saying to rerun the export.
    """
    problems = export_problems(out_dir)
    if problems:
        listed = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        raise ExportError(
            f"is not a complete export ({listed}): an export was interrupted or the folder was changed by hand; "
            "rerun the export into it (ahu-export --output_dir FOLDER --overwrite ...)",
            entry=str(out_dir),
        )


def _clear_stale_staging(out_dir: Path) -> None:
    """Removes staging folders beside `out_dir` left by exports that were killed (their process is gone)."""
    for staging in out_dir.parent.glob(f".{out_dir.name}{_STAGING_INFIX}*"):
        pid = staging.name[len(f".{out_dir.name}{_STAGING_INFIX}") :].split("-", 1)[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            logger.info("removing %s, left by an interrupted export", staging)
            shutil.rmtree(staging, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _link_or_copy(source: Path, target: Path) -> None:
    """A shard kept from the previous export: a hard link (same disk, no bytes copied), else a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _exchange(first: Path, second: Path) -> bool:
    """Swaps two folders in one step (Linux `renameat2(RENAME_EXCHANGE)`); False where that is unavailable."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange) == 0


def _replace_folder(staging: Path, out_dir: Path) -> None:
    """Makes `staging` the folder `out_dir`, carrying over what `out_dir` holds besides an export's own entries.

    The swap is one step where the system allows it; elsewhere two renames, between which `out_dir` is missing
    (never half-written).
    """
    if out_dir.is_dir():
        for entry in out_dir.iterdir():
            if not _EXPORT_ENTRY.fullmatch(entry.name):
                os.replace(entry, staging / entry.name)
        if _exchange(staging, out_dir):
            shutil.rmtree(staging, ignore_errors=True)  # now the old export
            return
        old = Path(
            tempfile.mkdtemp(prefix=f".{out_dir.name}{_STAGING_INFIX}{os.getpid()}-old-", dir=out_dir.parent)
        )
        os.replace(out_dir, old / out_dir.name)
        os.replace(staging, out_dir)
        shutil.rmtree(old, ignore_errors=True)
        return
    os.replace(staging, out_dir)


def export_dataset_dict(
    dataset_dict: DatasetDict,
    out_dir: str | os.PathLike,
    config_name: str = "processed",
    *,
    max_shard_size: int | str = DEFAULT_MAX_SHARD_SIZE,
    min_shards: int = DEFAULT_MIN_SHARDS,
    set_default: bool | None = None,
    template_path: str | os.PathLike | None = None,
    sample_archive: dict | None = None,
    split_settings: dict | None = None,
    source: dict | None = None,
    overwrite: bool = False,
) -> Path:
    """Writes `dataset_dict` as config `config_name` of the export in `out_dir` and renders the card.

    The new export is written into a fresh folder beside `out_dir` and replaces it in one step: a reader
    sees the old export or the new one, never shards of both or of a run cut short (a killed or failed export
    leaves `out_dir` as it was). Other configs of the same archive already in `out_dir` are kept (their shards
    and card metadata); this config's old shards are replaced. Files that are no part of an export (`.git`, a
    user's own) are carried over.

    Args:
        max_shard_size: largest Parquet shard, in bytes of rows (e.g. `"500MB"`).
        min_shards: shards per split at least (fewer only for a split with fewer rows), so that
            `load_dataset(out_dir, streaming=True)` can feed that many DataLoader workers.
        set_default: mark this config as the one `load_dataset(out_dir)` loads; by default the
            first config exported to the folder is the default.
        sample_archive: `sample_archive_origin(archive)` when the rows come from a generated sample archive.
        split_settings: `split_settings(**builder_kwargs)` when the AHU builder made the splits (the card states
            them); None for splits made otherwise.
        source: `archive_source(archive)` of the rows; an export in `out_dir` of another source (or with another
            source recorded) is refused unless `overwrite`. None: the caller vouches that the rows come from
            the archive of the folder's other configs.
        overwrite: replace whatever export `out_dir` holds (its other configs are dropped).

    Raises:
        ExportError: `out_dir` holds another archive's export or a half-written one (without `overwrite`).
        OutOfSpaceError: the disk filled up (the message names the folder; `out_dir` is left as it was).

    Returns:
        The path of the written `README.md`.
    """
    out_dir = Path(out_dir).resolve()  # a link to a folder: the folder is replaced, the link kept
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError("exists and is not a folder; choose another --output_dir", entry=str(out_dir))
    if not re.fullmatch(r"[\w.-]+", config_name):
        raise ExportError("config names may hold only letters, digits, '_', '-' and '.'", entry=config_name)
    if not dataset_dict or all(len(split) == 0 for split in dataset_dict.values()):
        raise ExportError(
            "the dataset has no rows to export (did the build skip every sample?)", entry=config_name
        )
    infos, configs, earlier_sample_archive, earlier_source = DatasetInfosDict(), MetadataConfigs(), None, None
    earlier_splits: dict = {}
    has_export = (out_dir / "README.md").is_file() or (out_dir / DATA_DIR).is_dir()
    if has_export and not overwrite:
        problems = export_problems(out_dir)
        if problems:
            raise ExportError(
                f"holds an incomplete export ({problems[0]}); pass --overwrite to replace it, or choose another "
                "--output_dir",
                entry=str(out_dir),
            )
        infos, configs, earlier_sample_archive, earlier_source = _existing_metadata(out_dir)
        if not infos:  # a README.md or data/ of someone else's: replacing them would lose them
            raise ExportError(
                "holds a README.md or data/ folder that no export wrote (its card lists no dataset_info); choose "
                "another --output_dir, or pass --overwrite to replace them",
                entry=str(out_dir),
            )
        earlier_splits = DatasetCard((out_dir / "README.md").read_text(encoding="utf-8")).data.get(SPLITS_KEY) or {}
        if source is None:  # the caller vouches that the rows come from the folder's archive
            source = earlier_source
        elif earlier_source != source:
            raise ExportError(
                f"holds an export of {describe_source(earlier_source)} (configs {', '.join(sorted(infos))}), and "
                f"this export is of {describe_source(source)}; a folder holds one archive's export, so pass "
                "--overwrite to replace it, or choose another --output_dir",
                entry=str(out_dir),
            )
    infos.pop(config_name, None)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _clear_stale_staging(out_dir)
    staging = Path(
        tempfile.mkdtemp(prefix=f".{out_dir.name}{_STAGING_INFIX}{os.getpid()}-", dir=out_dir.parent)
    )
    try:
        for kept in infos:
            for shards in _config_shards(out_dir, kept).values():
                for shard in shards:
                    _link_or_copy(shard, staging / shard.relative_to(out_dir))
        readme = _write_export(
            dataset_dict,
            staging,
            config_name,
            infos,
            configs,
            max_shard_size=max_shard_size,
            min_shards=min_shards,
            set_default=set_default,
            template_path=template_path,
            sample_archive=sample_archive or earlier_sample_archive,
            # The staging folder has no card yet: carry the split settings of the configs kept from the old one.
            split_settings={
                **{name: value for name, value in earlier_splits.items() if name in infos},
                **({} if split_settings is None else {config_name: split_settings}),
            },
            source=source,
        )
    except BaseException as err:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(err, OSError) and err.errno in _NO_SPACE:
            raise OutOfSpaceError(
                f"the disk is full (no space left while writing the export into {staging.parent}); free space "
                f"there or choose --output_dir on a disk with room. {out_dir} was left as it was",
                entry=str(out_dir),
            ) from err
        raise
    _replace_folder(staging, out_dir)
    return out_dir / readme.name


def _write_export(
    dataset_dict: DatasetDict,
    out_dir: Path,
    config_name: str,
    infos: DatasetInfosDict,
    configs: MetadataConfigs,
    *,
    max_shard_size: int | str,
    min_shards: int,
    set_default: bool | None,
    template_path: str | os.PathLike | None,
    sample_archive: dict | None,
    split_settings: dict | None,
    source: dict | None,
) -> Path:
    """Writes the shards of `config_name` and the card of every config of `infos` into the (fresh) `out_dir`."""
    config_dir = out_dir / DATA_DIR / config_name
    features = next(iter(dataset_dict.values())).features
    info = DatasetInfo(
        config_name=config_name, features=features, splits=SplitDict(), download_size=0, dataset_size=0
    )
    for split, dataset in dataset_dict.items():
        if dataset.features != features:
            raise ExportError(f"split {split} has other features than the first split", entry=config_name)
        shards, split_info = write_split_shards(
            dataset, config_dir, split, max_shard_size, min_shards=min_shards
        )
        info.splits.add(split_info)
        info.download_size += sum(shard.stat().st_size for shard in shards)
        info.dataset_size += split_info.num_bytes
    info.size_in_bytes = info.download_size + info.dataset_size
    infos[config_name] = info
    for stale in [name for name in configs if name not in infos]:
        del configs[stale]  # the card lists exactly the configs whose shards the folder holds
    if set_default is None:
        set_default = not configs or configs.get_default_config_name() in (None, config_name)
    if set_default:
        for other in configs.values():
            other.pop("default", None)
    entry = {
        "data_files": [
            {"split": split, "path": f"{DATA_DIR}/{config_name}/{split}-*"} for split in dataset_dict
        ]
    }
    if set_default:
        entry["default"] = True
    configs[config_name] = entry
    return write_dataset_card(
        out_dir,
        infos,
        configs,
        template_path,
        sample_archive=sample_archive,
        split_settings=split_settings,
        source=source,
    )


def export_dataset(
    data_dir: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    config_name: str = "processed",
    *,
    max_shard_size: int | str = DEFAULT_MAX_SHARD_SIZE,
    min_shards: int = DEFAULT_MIN_SHARDS,
    set_default: bool | None = None,
    overwrite: bool = False,
    push_to_hub: str | None = None,
    token: str | None = None,
    private: bool = False,
    **builder_kwargs,
) -> Path:
    """Builds config `config_name` from the archive in `data_dir` and exports it to `out_dir`.

    Args:
        data_dir: the archive folder (zips or extracted tiers); None downloads it from Figshare.
        out_dir: the export folder (replaced in one step; other configs of the same archive in it are kept).
        max_shard_size: largest Parquet shard, in bytes of rows (e.g. `"500MB"`).
        min_shards: shards per split at least (see `export_dataset_dict`).
        overwrite: replace an export of another archive (or a half-written one) in `out_dir`; without it such
            a folder is refused.
        push_to_hub: a Hub dataset repo id to upload the folder to afterwards.
        **builder_kwargs: passed to `AHUUltrasound` (e.g. `cache_dir`, split options).

    Returns:
        The path of `OUT/README.md`.
    """
    source = archive_source(data_dir)
    out = Path(out_dir)
    if not overwrite and ((out / "README.md").is_file() or (out / DATA_DIR).is_dir()):
        infos, _, _, earlier = _existing_metadata(out)
        if infos and earlier != source:  # refuse before the build, which may take hours (the rest: below)
            raise ExportError(
                f"holds an export of {describe_source(earlier)} (configs {', '.join(sorted(infos))}), and this "
                f"export is of {describe_source(source)}; a folder holds one archive's export, so pass --overwrite "
                "to replace it, or choose another --output_dir",
                entry=str(out),
            )
    dataset_dict = build_dataset(data_dir, config_name, **builder_kwargs)
    readme = export_dataset_dict(
        dataset_dict,
        out_dir,
        config_name,
        max_shard_size=max_shard_size,
        min_shards=min_shards,
        set_default=set_default,
        sample_archive=sample_archive_origin(data_dir),
        split_settings=split_settings(**builder_kwargs),
        source=source,
        overwrite=overwrite,
    )
    if push_to_hub:
        push_export(out_dir, push_to_hub, token=token, private=private)
    return readme


def push_export(
    out_dir: str | os.PathLike,
    repo_id: str,
    token: str | None = None,
    private: bool = False,
    commit_message: str = "Upload the AHU ultrasound database (Parquet export)",
    revision: str | None = None,
) -> str:
    """Uploads an export folder to a Hub dataset repo (created if missing) in one commit.

    Goes through `hf_loader.hub.push_folder` (`create_repo` + `upload_folder`, following
    `HF_ENDPOINT` and `HF_TOKEN`), which turns network and auth failures into `HubAccessError`.
    The repo mirrors the folder: files of an earlier push that the folder no longer holds (`README.md`,
    `*.png`, `data/**`, e.g. the shards of an export with more shards) are deleted in the same commit.

    Returns:
        The sha of the new commit.
    """
    from .hub import push_folder

    out_dir = Path(out_dir)
    if not (out_dir / "README.md").is_file() or not (out_dir / DATA_DIR).is_dir():
        raise ExportError(
            "is not an export folder (no README.md or data/); run export_dataset first", entry=str(out_dir)
        )
    return push_folder(
        out_dir,
        repo_id,
        repo_type="dataset",
        token=token,
        private=private,
        commit_message=commit_message,
        revision=revision,
        allow_patterns=["README.md", "*.png", f"{DATA_DIR}/**"],
        # The repo mirrors the folder: shards of an earlier push with more shards would load as duplicate rows.
        delete_patterns=["README.md", "*.png", f"{DATA_DIR}/**"],
    )
