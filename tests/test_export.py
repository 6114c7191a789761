"""Parquet export: the folder loads offline in one line, map-style and streaming, like the builder's dataset."""

from __future__ import annotations

import re
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
import yaml
from datasets import Image as ImageFeature
from datasets import List, Video
from PIL import Image

from hf_loader.builder import AHUUltrasound
from hf_loader.constants import ALL_LABELS_COLUMN, LABEL_COLUMN, LABELS
from hf_loader.export import (
    DEFAULT_MIN_SHARDS,
    ExportError,
    export_dataset,
    export_dataset_dict,
    parse_size,
    push_export,
)


def undecoded(dataset):
    """The dataset with media left as {bytes, path}, so rows compare byte for byte."""
    for name, feature in dataset.features.items():
        if isinstance(feature, Video):
            dataset = dataset.cast_column(name, Video(decode=False))
        elif isinstance(feature, List) and isinstance(feature.feature, ImageFeature):
            dataset = dataset.cast_column(name, List(ImageFeature(decode=False)))
    return dataset


def media_bytes(row: dict) -> dict:
    """A row with every media value reduced to its bytes (paths differ between a cache and a Parquet file)."""
    out = {}
    for key, value in row.items():
        if isinstance(value, dict) and "bytes" in value:
            value = value["bytes"]
        elif isinstance(value, list) and value and isinstance(value[0], dict) and "bytes" in value[0]:
            value = [item["bytes"] for item in value]
        out[key] = value
    return out


def build(archive: Path, config_name: str, cache_dir: Path) -> datasets.DatasetDict:
    builder = AHUUltrasound(
        config_name=config_name, data_dir=str(archive), cache_dir=str(cache_dir), decode_video=False
    )
    builder.download_and_prepare()
    return builder.as_dataset()


def front_matter(readme: Path) -> dict:
    text = readme.read_text(encoding="utf-8")
    match = re.match(r"---\n(.*?)\n---\n", text, flags=re.DOTALL)
    assert match, "README.md has no YAML front matter"
    return yaml.safe_load(match.group(1))


@pytest.fixture(scope="module")
def processed(sample_archive, tmp_path_factory):
    return build(sample_archive, "processed", tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def exported(processed, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    export_dataset_dict(processed, out, "processed")
    return out


@pytest.fixture(scope="module")
def loaded(exported, tmp_path_factory):
    return datasets.load_dataset(str(exported), cache_dir=str(tmp_path_factory.mktemp("load")))


def test_layout_follows_the_hub(exported, processed):
    """`DEFAULT_MIN_SHARDS` shards per split (fewer for a split with fewer rows), named as the Hub names them."""
    shards = sorted(path.relative_to(exported).as_posix() for path in exported.rglob("*.parquet"))
    expected = []
    for split in sorted(processed):
        count = min(DEFAULT_MIN_SHARDS, processed[split].num_rows)
        expected += [f"data/processed/{split}-{i:05d}-of-{count:05d}.parquet" for i in range(count)]
    assert shards == expected
    assert (exported / "README.md").is_file()


def test_streaming_export_feeds_several_dataloader_workers(exported, processed):
    from torch.utils.data import DataLoader

    stream = datasets.load_dataset(str(exported), split="train", streaming=True)
    assert stream.num_shards == min(DEFAULT_MIN_SHARDS, processed["train"].num_rows) > 1
    loader = DataLoader(stream.select_columns(["sample_id"]), batch_size=None, num_workers=2)
    assert sorted(int(row["sample_id"]) for row in loader) == sorted(processed["train"]["sample_id"])


def test_min_shards_sets_the_number_of_shards(processed, tmp_path):
    export_dataset_dict(processed, tmp_path, "processed", min_shards=3)
    shards = sorted((tmp_path / "data/processed").glob("train-*.parquet"))
    assert [path.name for path in shards] == [f"train-{i:05d}-of-00003.parquet" for i in range(3)]
    rows = processed["train"].num_rows
    assert [pq.read_metadata(path).num_rows for path in shards] == [
        rows // 3,
        2 * rows // 3 - rows // 3,
        rows - 2 * rows // 3,
    ]
    with pytest.raises(ExportError, match="min_shards"):
        export_dataset_dict(processed, tmp_path, "processed", min_shards=0)


def test_load_dataset_gives_the_builders_splits_rows_and_features(loaded, processed):
    assert list(loaded) == list(processed)
    for split in processed:
        assert loaded[split].num_rows == processed[split].num_rows
        assert loaded[split].features == processed[split].features
        assert loaded[split].features[LABEL_COLUMN].names == list(LABELS)
        assert loaded[split]["sample_id"] == processed[split]["sample_id"]
        assert loaded[split][ALL_LABELS_COLUMN] == processed[split][ALL_LABELS_COLUMN]


def test_media_bytes_are_embedded_in_the_rows(exported, loaded, processed):
    table = pq.read_table(
        min((exported / "data/processed").glob("train-00000-of-*.parquet")), columns=["frames"]
    )
    first = table.column("frames")[0].as_py()
    assert first and all(item["bytes"] for item in first)
    exported_rows = [media_bytes(row) for row in undecoded(loaded["train"])]
    built_rows = [media_bytes(row) for row in undecoded(processed["train"])]
    assert exported_rows == built_rows


def test_decoded_frames_are_images(loaded):
    frames = loaded["test"][0]["frames"]
    assert frames and all(isinstance(frame, Image.Image) and frame.size == (224, 224) for frame in frames)


def test_streaming_gives_the_same_rows_as_map_style(exported, loaded):
    streamed = datasets.load_dataset(str(exported), streaming=True)
    for split in loaded:
        assert streamed[split].features == loaded[split].features
        stream_rows = [media_bytes(row) for row in undecoded(streamed[split])]
        map_rows = [media_bytes(row) for row in undecoded(loaded[split])]
        assert stream_rows == map_rows


def test_card_yaml_has_configs_and_dataset_info(exported, processed):
    meta = front_matter(exported / "README.md")
    assert meta["license"] == "cc-by-4.0"
    assert {"video-classification", "image-classification"} <= set(meta["task_categories"])
    assert {"medical", "ultrasound"} <= set(meta["tags"])
    assert meta["size_categories"] == ["n<1K"]
    (config,) = meta["configs"]
    assert config["config_name"] == "processed" and config["default"] is True
    assert {item["split"]: item["path"] for item in config["data_files"]} == {
        split: f"data/processed/{split}-*" for split in processed
    }
    info = meta["dataset_info"]
    splits = {item["name"]: item for item in info["splits"]}
    assert set(splits) == set(processed)
    for split, dataset in processed.items():
        assert splits[split]["num_examples"] == dataset.num_rows
        assert splits[split]["num_bytes"] > 0
    assert info["download_size"] == sum(path.stat().st_size for path in exported.rglob("*.parquet"))
    names = next(f for f in info["features"] if f["name"] == LABEL_COLUMN)["dtype"]["class_label"]["names"]
    assert [names[str(index)] for index in range(len(LABELS))] == list(LABELS)


def test_card_body_has_real_statistics(exported, processed):
    text = (exported / "README.md").read_text(encoding="utf-8")
    assert "{{" not in text  # every placeholder filled
    assert "doi.org/10.1038/s41597-025-04464-4" in text and "@article{" in text
    total = sum(dataset.num_rows for dataset in processed.values())
    assert f"{total} ultrasound samples" in text
    splits = list(processed)
    for index, name in enumerate(LABELS):
        counts = [sum(1 for value in processed[split][LABEL_COLUMN] if value == index) for split in splits]
        row = f"| {index} | {name} | " + " | ".join(str(count) for count in counts) + f" | {sum(counts)} |"
        assert row in text, row


def test_label_distribution_png_is_saved_and_linked(exported):
    png = exported / "label_distribution_processed.png"
    assert png.is_file()
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size == (1200, 700)
    assert "](label_distribution_processed.png)" in (exported / "README.md").read_text(encoding="utf-8")


def test_small_max_shard_size_writes_several_shards(processed, tmp_path):
    export_dataset_dict(processed, tmp_path, "processed", max_shard_size="100KB")
    shards = sorted((tmp_path / "data/processed").glob("train-*.parquet"))
    count = len(shards)
    assert count > 1
    assert [path.name for path in shards] == [f"train-{i:05d}-of-{count:05d}.parquet" for i in range(count)]
    loaded = datasets.load_dataset(str(tmp_path), split="train", cache_dir=str(tmp_path / "cache"))
    assert loaded["sample_id"] == processed["train"]["sample_id"]


def test_files_referenced_by_path_are_embedded(tmp_path):
    """A dataset whose images live as files on disk still exports its bytes (Dataset.to_parquet would not)."""
    paths, rows = [], {"sample_id": [], LABEL_COLUMN: [], "frames": []}
    for index in range(4):
        path = tmp_path / f"frame_{index}.png"
        Image.new("RGB", (8, 8), (index * 40, 0, 0)).save(path)
        paths.append(path)
        rows["sample_id"].append(index)
        rows[LABEL_COLUMN].append(index)
        rows["frames"].append([str(path)])
    features = datasets.Features(
        {
            "sample_id": datasets.Value("int32"),
            LABEL_COLUMN: datasets.ClassLabel(names=list(LABELS)),
            "frames": List(ImageFeature()),
        }
    )
    dataset = datasets.Dataset.from_dict(rows, features=features)
    export_dataset_dict(datasets.DatasetDict({"train": dataset}), tmp_path / "out", "tiny")
    for path in paths:
        path.unlink()  # the export must not need them any more
    loaded = datasets.load_dataset(str(tmp_path / "out"), split="train", cache_dir=str(tmp_path / "cache"))
    assert [row["frames"][0].getpixel((0, 0)) for row in loaded] == [(index * 40, 0, 0) for index in range(4)]


def test_second_config_is_added_and_keeps_the_first(sample_archive, processed, tmp_path):
    export_dataset_dict(processed, tmp_path, "processed")
    filtered = build(sample_archive, "filtered", tmp_path / "build")
    export_dataset_dict(filtered, tmp_path, "filtered")
    meta = front_matter(tmp_path / "README.md")
    defaults = {config["config_name"]: config.get("default", False) for config in meta["configs"]}
    assert defaults == {"processed": True, "filtered": False}
    assert {info["config_name"] for info in meta["dataset_info"]} == {"processed", "filtered"}
    assert (tmp_path / "label_distribution_filtered.png").is_file()
    default = datasets.load_dataset(str(tmp_path), split="test", cache_dir=str(tmp_path / "cache"))
    assert "noise_frame_indices" in default.features  # still the processed config
    videos = datasets.load_dataset(
        str(tmp_path), "filtered", split="train", cache_dir=str(tmp_path / "cache")
    )
    videos = undecoded(videos)
    row = next(row for row in videos if row["kind"] == "video")
    original = next((sample_archive / "filtered").glob(f"Video_{row['sample_id']}_*.mp4"))
    assert row["video"]["bytes"] == original.read_bytes()


def test_export_dataset_builds_from_the_archive(sample_archive, tmp_path):
    readme = export_dataset(
        sample_archive, tmp_path / "out", "processed", split_scheme="paper", cache_dir=str(tmp_path / "build")
    )
    meta = front_matter(readme)
    assert [item["name"] for item in meta["dataset_info"]["splits"]] == ["train", "test"]


def test_export_script(sample_archive, tmp_path, capsys):
    from hf_loader.cli.export_dataset import main

    code = main(
        [
            "--data_dir",
            str(sample_archive),
            "--out",
            str(tmp_path / "out"),
            "--cache_dir",
            str(tmp_path / "build"),
            "--max_shard_size",
            "1GB",
            "--min_shards",
            "3",
        ]
    )
    assert code == 0
    assert "Parquet shards" in capsys.readouterr().out
    train_shards = sorted((tmp_path / "out/data/processed").glob("train-*.parquet"))
    assert [shard.name for shard in train_shards] == [f"train-{i:05d}-of-00003.parquet" for i in range(3)]


def test_empty_dataset_is_refused(tmp_path):
    features = datasets.Features({LABEL_COLUMN: datasets.ClassLabel(names=list(LABELS))})
    empty = datasets.DatasetDict({"train": datasets.Dataset.from_dict({LABEL_COLUMN: []}, features=features)})
    with pytest.raises(ExportError, match="no rows"):
        export_dataset_dict(empty, tmp_path, "processed")


def test_push_refuses_a_folder_that_is_not_an_export(tmp_path):
    with pytest.raises(ExportError, match="not an export folder"):
        push_export(tmp_path, "me/ahu")


@pytest.mark.parametrize(
    ("text", "expected"), [("500MB", 500_000_000), ("2GiB", 2 * 2**30), (1234, 1234), ("10kb", 10_000)]
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


def test_parse_size_rejects_nonsense():
    with pytest.raises(ExportError, match="500MB"):
        parse_size("big")


def test_push_export_round_trip_through_the_hub_emulator(exported, processed, tmp_path):
    """The pushed folder loads from the Hub (here the local emulator) with the same rows and label names."""
    import json

    from tests.hub_emulator import EMULATOR_USER, run_hub_client, running_hub

    code = f"""
import json, datasets
from hf_loader.export import push_export
push_export({str(exported)!r}, "ahu-export")
loaded = datasets.load_dataset("{EMULATOR_USER}/ahu-export", split="train")
print(json.dumps({{"ids": list(loaded["sample_id"]), "names": loaded.features[{LABEL_COLUMN!r}].names}}))
"""
    with running_hub(tmp_path / "hub") as endpoint:
        result = run_hub_client(code, endpoint, tmp_path / "hf_home", timeout=120)
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["ids"] == list(processed["train"]["sample_id"])
    assert answer["names"] == list(LABELS)


def test_rows_without_a_label_are_counted_in_the_card(tmp_path):
    features = datasets.Features(
        {"sample_id": datasets.Value("int32"), LABEL_COLUMN: datasets.ClassLabel(names=list(LABELS))}
    )
    rows = {"sample_id": [1, 2, 3], LABEL_COLUMN: [1, None, 1]}
    dataset = datasets.Dataset.from_dict(rows, features=features)
    readme = export_dataset_dict(datasets.DatasetDict({"train": dataset}), tmp_path, "raw")
    text = readme.read_text(encoding="utf-8")
    assert "| 1 | Cyst | 2 | 2 |" in text
    assert "| - | (no label) | 1 | 1 |" in text


def test_push_again_with_fewer_shards_leaves_no_stale_shard(processed, tmp_path):
    """A re-push mirrors the folder: the earlier push's extra shards are deleted (else they load as duplicate rows)."""
    import json

    from tests.hub_emulator import EMULATOR_USER, run_hub_client, running_hub

    out = tmp_path / "export"
    export_dataset_dict(processed, out, "processed", max_shard_size="100KB")
    first = sorted(path.name for path in (out / "data/processed").glob("train-*.parquet"))
    assert len(first) > 1
    push = f"from hf_loader.export import push_export; push_export({str(out)!r}, 'ahu-export')"
    push_and_pull = f"""
{push}
import json, datasets
from hf_loader.hub import pull
snapshot = pull("{EMULATOR_USER}/ahu-export", repo_type="dataset")
files = sorted(p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*.parquet"))
rows = datasets.load_dataset("{EMULATOR_USER}/ahu-export", split="train").num_rows
print(json.dumps({{"files": files, "rows": rows}}))
"""
    with running_hub(tmp_path / "hub") as endpoint:
        run_hub_client(push, endpoint, tmp_path / "hf_home", timeout=120)
        export_dataset_dict(processed, out, "processed", min_shards=1)  # one shard per split
        result = run_hub_client(push_and_pull, endpoint, tmp_path / "hf_home", timeout=120)
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["files"] == [
        f"data/processed/{split}-00000-of-00001.parquet" for split in sorted(processed)
    ]
    assert answer["rows"] == processed["train"].num_rows


def test_card_of_a_generated_sample_archive_says_synthetic_at_the_top(sample_archive, tmp_path):
    readme = export_dataset(
        sample_archive, tmp_path / "export", "processed", cache_dir=str(tmp_path / "cache")
    )
    meta = front_matter(readme)
    assert "synthetic" in meta["tags"] and meta["license"] == "mit"
    assert meta["ahu_sample_archive"] == {"seed": 0, "scale": "default", "num_samples": 26}
    assert "synthetic" in meta["pretty_name"] and meta["annotations_creators"] == ["machine-generated"]
    body = readme.read_text(encoding="utf-8").split("\n---\n", 1)[1]
    title, opening = re.search(r"^# (.+)\n\n(.+)$", body, flags=re.MULTILINE).groups()
    assert "synthetic" in title and "not the AHU database" in title
    assert opening.startswith("> **Synthetic data.**") and "hf_loader.sample_archive" in opening
    assert "26 generated samples" in body


def test_synthetic_notice_survives_exporting_another_config_to_the_folder(
    sample_archive, processed, tmp_path
):
    from hf_loader.export import sample_archive_origin

    export_dataset_dict(
        processed, tmp_path, "processed", sample_archive=sample_archive_origin(sample_archive)
    )
    export_dataset_dict(processed, tmp_path, "again")  # no origin given: the folder's card keeps it
    text = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "> **Synthetic data.**" in text and "synthetic" in front_matter(tmp_path / "README.md")["tags"]


def test_card_of_a_real_archive_has_no_synthetic_notice(exported, sample_archive, tmp_path):
    from hf_loader.export import sample_archive_origin

    text = (exported / "README.md").read_text(encoding="utf-8")
    assert "Synthetic" not in text and "synthetic" not in front_matter(exported / "README.md")["tags"]
    assert (
        text.split("\n---\n", 1)[1].lstrip().startswith("<!--")
        and "# AHU Heterogeneous Ultrasound Database\n" in text
    )
    archive_without_manifest = tmp_path / "archive"
    archive_without_manifest.mkdir()
    assert sample_archive_origin(archive_without_manifest) is None and sample_archive_origin(None) is None
    assert sample_archive_origin(sample_archive)["seed"] == 0


def _strings_in(value) -> list[str]:
    """Every string inside a Parquet row value (nested lists and structs), media bytes left out."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings_in(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings_in(item)]
    return []


def test_no_file_of_an_export_folder_names_a_local_path(sample_archive, tmp_path, tmp_path_factory):
    """An export fit to publish: no file (card, plots, Parquet bytes and the strings in its rows, e.g. a video's
    or an image's `path`) names a folder of this machine."""
    out = tmp_path / "export"
    for config_name in ("processed", "filtered"):
        export_dataset(sample_archive, out, config_name, cache_dir=str(tmp_path / "cache"))
    local_root = str(tmp_path_factory.getbasetemp())
    assert local_root in str(sample_archive) and local_root in str(out)
    files = [path for path in out.rglob("*") if path.is_file()]
    assert {path.suffix for path in files} >= {".md", ".png", ".parquet"}
    assert [path.name for path in files if local_root.encode() in path.read_bytes()] == []
    for shard in out.rglob("*.parquet"):
        strings = [text for row in pq.read_table(shard).to_pylist() for text in _strings_in(row)]
        assert strings and not [text for text in strings if local_root in text or text.startswith("/")], shard
