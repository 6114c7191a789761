"""An export folder holds one archive's complete export: never shards of two archives or of a run cut short."""

from __future__ import annotations

import errno
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest

from hf_loader.errors import AHUDataError, OutOfSpaceError
from hf_loader.export import ExportError, archive_source, check_export_folder, export_dataset_dict


@pytest.fixture(scope="module")
def processed(sample_archive, tmp_path_factory):
    from hf_loader.export import build_dataset

    return build_dataset(sample_archive, "processed", cache_dir=str(tmp_path_factory.mktemp("cache")))


def _export_cli(archive: Path, out: Path, cache: Path, *extra: str) -> int:
    from hf_loader.cli.export_dataset import main

    return main(
        [
            "--data_dir",
            str(archive),
            "--out",
            str(out),
            "--cache_dir",
            str(cache),
            "--min_shards",
            "1",
            *extra,
        ]
    )


def _card_configs(out: Path) -> set[str]:
    from huggingface_hub import DatasetCard

    data = DatasetCard((out / "README.md").read_text(encoding="utf-8")).data
    return {config["config_name"] for config in data["configs"]}


def _hidden_entries(folder: Path) -> list[str]:
    """Hidden files or folders an export may have left in `folder` (its own parent included) at any depth."""
    return sorted(str(path) for path in folder.rglob(".*"))


def test_export_of_another_archive_into_a_folder_holding_an_export_is_refused(
    sample_archive, other_archive, tmp_path, capsys
):
    out, cache = tmp_path / "export", tmp_path / "cache"
    assert _export_cli(other_archive, out, cache, "--config", "processed", "--config", "filtered") == 0
    before = sorted(path.name for path in out.rglob("*"))
    assert _export_cli(sample_archive, out, cache, "--config", "processed") == 2
    message = capsys.readouterr().err
    assert "archive_b" in message and "--overwrite" in message and str(out) in message
    assert sorted(path.name for path in out.rglob("*")) == before  # nothing written


def test_overwrite_replaces_the_folder_and_the_card_lists_only_what_it_holds(
    sample_archive, other_archive, tmp_path
):
    out, cache = tmp_path / "export", tmp_path / "cache"
    assert _export_cli(other_archive, out, cache, "--config", "processed", "--config", "filtered") == 0
    (out / ".git").mkdir()  # a clone of the Hub repo: not the export's to delete
    (out / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    assert _export_cli(sample_archive, out, cache, "--config", "processed", "--overwrite") == 0
    assert _card_configs(out) == {"processed"}
    assert not (out / "data" / "filtered").exists()  # no shard of archive B is left
    assert (out / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"
    loaded = datasets.load_dataset(str(out), "processed", cache_dir=str(tmp_path / "load"))
    assert sum(len(split) for split in loaded.values()) == 26  # archive A's samples only
    with pytest.raises(ValueError):
        datasets.load_dataset(str(out), "filtered", cache_dir=str(tmp_path / "load"))
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "ahu_export_source" in card and sample_archive.name in card and "archive_b" not in card
    assert not [path for path in out.parent.iterdir() if path.name.startswith(".")]


def test_a_second_config_of_the_same_archive_joins_the_folder(sample_archive, tmp_path):
    out, cache = tmp_path / "export", tmp_path / "cache"
    assert _export_cli(sample_archive, out, cache, "--config", "processed") == 0
    assert _export_cli(sample_archive, out, cache, "--config", "filtered") == 0
    assert _card_configs(out) == {"processed", "filtered"}
    check_export_folder(out)


def test_export_that_fails_midway_leaves_the_folder_as_it_was(processed, tmp_path, monkeypatch):
    out = tmp_path / "export"
    source = {"archive": "a", "fingerprint": "1"}
    export_dataset_dict(processed, out, "processed", min_shards=2, source=source)
    before = {path: path.read_bytes() for path in out.rglob("*") if path.is_file()}
    writes = 0
    original = pq.ParquetWriter.write_table

    def fail_on_third_write(self, table, *args, **kwargs):
        nonlocal writes
        writes += 1
        if writes == 3:
            raise KeyboardInterrupt  # the user's Ctrl-C in the middle of the shards
        return original(self, table, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", fail_on_third_write)
    with pytest.raises(KeyboardInterrupt):
        export_dataset_dict(processed, out, "processed", min_shards=1, source=source)
    assert {path: path.read_bytes() for path in out.rglob("*") if path.is_file()} == before
    assert _hidden_entries(tmp_path) == []
    check_export_folder(out)


def test_disk_full_during_export_names_the_folder_and_leaves_no_part_file(processed, tmp_path, monkeypatch):
    out = tmp_path / "export"

    def disk_full(self, table, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", disk_full)
    with pytest.raises(OutOfSpaceError) as caught:
        export_dataset_dict(processed, out, "processed", source=archive_source(None))
    message = str(caught.value)
    assert "disk is full" in message and str(tmp_path) in message and "free space" in message
    assert isinstance(caught.value, AHUDataError)
    assert list(tmp_path.iterdir()) == []  # no folder, no hidden part file


@pytest.mark.parametrize("damage", ["missing shard", "foreign shard", "part file", "fewer rows"])
def test_half_written_export_is_refused_by_the_harness_with_rerun_the_export(processed, tmp_path, damage):
    from ahu_train.data import load_ahu_dataset

    out = tmp_path / "export"
    export_dataset_dict(processed, out, "processed", min_shards=2)
    shards = sorted((out / "data" / "processed").glob("train-*.parquet"))
    if damage == "missing shard":
        shards[1].unlink()
    elif damage == "foreign shard":  # a shard of an older export with more shards
        (out / "data" / "processed" / "train-00002-of-00003.parquet").write_bytes(shards[0].read_bytes())
    elif damage == "part file":
        (out / "data" / "processed" / ".train-part00002.parquet").write_bytes(b"PAR1")
    else:
        table = pq.read_table(shards[0])
        pq.write_table(table.slice(0, 1), shards[0])
    with pytest.raises(ExportError, match="rerun the export") as caught:
        load_ahu_dataset(data_dir=out, cache_dir=str(tmp_path / "cache"))
    assert str(out) in str(caught.value)
    with pytest.raises(ExportError, match="incomplete export"):  # and an export into it does not build on it
        export_dataset_dict(processed, out, "again")


def test_a_folder_with_a_data_folder_no_export_wrote_is_not_replaced(processed, tmp_path):
    out = tmp_path / "project"
    (out / "data").mkdir(parents=True)
    (out / "data" / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="no export wrote.*--overwrite"):
        export_dataset_dict(processed, out, "processed")
    assert (out / "data" / "notes.txt").read_text() == "mine"


def test_without_an_atomic_exchange_the_folder_is_still_replaced_whole(processed, tmp_path, monkeypatch):
    import hf_loader.export as export_module

    monkeypatch.setattr(
        export_module, "_exchange", lambda first, second: False
    )  # e.g. macOS, or an old kernel
    out = tmp_path / "export"
    export_dataset_dict(processed, out, "processed", source={"archive": "a", "fingerprint": "1"})
    (out / "notes.txt").write_text("mine")
    export_dataset_dict(processed, out, "again", source={"archive": "a", "fingerprint": "1"})
    assert _card_configs(out) == {"processed", "again"}
    assert (out / "notes.txt").read_text() == "mine"
    check_export_folder(out)
    assert [path.name for path in tmp_path.iterdir()] == ["export"]
