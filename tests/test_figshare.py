"""Figshare listing and download: fallback between routes, md5 checks, the hand-download message.

Every test runs against `tests/figshare_server.py` on 127.0.0.1; nothing reaches the internet.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import datasets
import pytest
from figshare_server import FigshareServer

from hf_loader import figshare
from hf_loader.errors import AHUDataError, ChecksumError, DownloadError
from hf_loader.sample_archive import load_manifest

FILES = {
    "processed.zip": bytes(range(256)) * 400,
    "filtered.zip": b"filtered-tier" * 1000,
    "raw.zip": b"raw-tier" * 500,
    "README.txt": b"AHU database",
}


@pytest.fixture(autouse=True)
def allow_local_http(monkeypatch):
    """conftest sets HF_HUB_OFFLINE=1, which makes `datasets` refuse every URL; the server is local."""
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv(figshare.API_URL_ENV, raising=False)


@pytest.fixture
def server():
    with FigshareServer(FILES) as running:
        yield running


@pytest.fixture
def dl_manager(tmp_path):
    config = datasets.DownloadConfig(cache_dir=tmp_path / "downloads", disable_tqdm=True)
    return datasets.DownloadManager(dataset_name="ahu_test", download_config=config)


def fetch(server, dl_manager, tiers=("processed",), **kwargs):
    kwargs.setdefault("retries", 1)
    return figshare.download_archive(
        dl_manager, api_url=server.api_url, tiers=tiers, routes=server.routes, retry_wait=0, **kwargs
    )


def test_list_files_reads_the_paginated_endpoint(server):
    files = figshare.list_files(api_url=server.api_url, page_size=3)
    assert [file.name for file in files] == list(FILES)
    assert [file.size for file in files] == [len(data) for data in FILES.values()]
    assert files[0].md5 == hashlib.md5(FILES["processed.zip"]).hexdigest()
    assert files[0].download_url.startswith(server.base_url)
    assert server.requests.count(("GET", "/v2/articles/26889334/files")) == 2  # 3 + 1 files


def test_list_files_falls_back_to_the_article_record(server):
    server.listing = "paginated-404"
    files = figshare.list_files(api_url=server.api_url)
    assert [file.name for file in files] == list(FILES)
    assert ("GET", "/v2/articles/26889334") in server.requests


def test_api_url_comes_from_the_environment(server, monkeypatch):
    monkeypatch.setenv(figshare.API_URL_ENV, server.api_url + "/")
    assert figshare.resolve_api_url() == server.api_url
    assert len(figshare.list_files()) == len(FILES)


def test_supplied_md5_is_used_when_computed_md5_is_missing():
    with FigshareServer(FILES, announce_md5="supplied") as server:
        files = figshare.list_files(api_url=server.api_url)
    assert files[1].md5 == hashlib.md5(FILES["filtered.zip"]).hexdigest()


def test_unreachable_api_says_how_to_download_by_hand(server):
    server.listing = "down"
    with pytest.raises(DownloadError, match="doi.org/10.6084/m9.figshare.26889334") as info:
        figshare.list_files(api_url=server.api_url, retries=1)
    assert "data_dir" in str(info.value)


def test_download_uses_the_primary_route_and_names_files(server, dl_manager):
    paths = fetch(server, dl_manager, tiers=("processed", "filtered"))
    # README.txt names no tier but is a small non-archive file, so it comes along
    assert [path.name for path in paths] == ["processed.zip", "filtered.zip", "README.txt"]
    for path in paths:
        assert path.read_bytes() == FILES[path.name]
    assert server.downloads("primary") == 3 and server.downloads("api") == 0


def test_403_on_primary_route_falls_back_to_the_api_route(server, dl_manager):
    server.behaviour["primary"] = "403"
    (path,) = [p for p in fetch(server, dl_manager) if p.suffix == ".zip"]
    assert path.read_bytes() == FILES["processed.zip"]
    assert server.downloads("api") >= 1 and server.downloads("mirror") == 0


@pytest.mark.parametrize("mode", ["empty", "truncated", "cut", "corrupt"])
def test_bad_bodies_fall_back_to_the_last_route(server, dl_manager, mode):
    server.behaviour["primary"] = mode
    server.behaviour["api"] = "403"
    paths = fetch(server, dl_manager)
    assert paths[0].read_bytes() == FILES["processed.zip"]
    assert server.downloads("mirror") >= 1


def test_md5_mismatch_everywhere_raises_checksum_error_naming_the_file(server, dl_manager):
    for route in server.behaviour:
        server.behaviour[route] = "corrupt"
    with pytest.raises(ChecksumError) as info:
        fetch(server, dl_manager)
    message = str(info.value)
    assert message.startswith("processed.zip:")
    assert "md5 mismatch" in message and hashlib.md5(FILES["processed.zip"]).hexdigest() in message
    assert "doi.org/10.6084/m9.figshare.26889334" in message and "data_dir" in message


def test_truncated_download_is_reported_with_its_size(server, dl_manager):
    for route in server.behaviour:
        server.behaviour[route] = "truncated"
    size = len(FILES["processed.zip"])
    with pytest.raises(ChecksumError, match=rf"truncated \({size // 2} of {size} bytes\)"):
        fetch(server, dl_manager)


def test_every_route_refused_gives_the_hand_download_message(server, dl_manager):
    for route in server.behaviour:
        server.behaviour[route] = "403"
    with pytest.raises(DownloadError) as info:
        fetch(server, dl_manager)
    assert not isinstance(info.value, ChecksumError)
    assert isinstance(info.value, AHUDataError)
    message = str(info.value)
    assert message.count("HTTP 403") == 3  # one line per route
    assert "https://doi.org/10.6084/m9.figshare.26889334" in message and "data_dir" in message


def test_corrupted_cached_download_is_not_reused(server, dl_manager):
    for route in server.behaviour:
        server.behaviour[route] = "corrupt"
    with pytest.raises(ChecksumError):
        fetch(server, dl_manager)
    cache = Path(dl_manager.download_config.cache_dir)
    leftovers = [
        path
        for path in cache.iterdir()
        if path.is_file() and path.stat().st_size == len(FILES["processed.zip"])
    ]
    assert leftovers == []  # the corrupt copies were deleted from datasets' cache
    for route in server.behaviour:
        server.behaviour[route] = "ok"
    paths = fetch(server, dl_manager)
    assert paths[0].read_bytes() == FILES["processed.zip"]
    assert server.downloads("primary", "processed.zip") == 2  # fetched again, not served from the cache


def test_retries_the_same_route_before_moving_on(server, dl_manager):
    server.behaviour["primary"] = "corrupt"
    fetch(server, dl_manager, retries=2)
    assert server.downloads("primary", "processed.zip") == 2 and server.downloads("api", "processed.zip") == 1


def test_verified_files_are_reused_without_network(server, dl_manager):
    first = fetch(server, dl_manager)
    downloads = server.downloads("primary")
    for route in server.behaviour:
        server.behaviour[route] = "403"
    server.listing = "down"  # the cached listing is used
    second = fetch(server, dl_manager)
    assert second == first and server.downloads("primary") == downloads
    assert second[0].read_bytes() == FILES["processed.zip"]


def test_a_file_changed_on_disk_is_downloaded_again(server, dl_manager):
    (path, *_) = fetch(server, dl_manager)
    path.write_bytes(b"tampered")
    (again, *_) = fetch(server, dl_manager)
    assert again.read_bytes() == FILES["processed.zip"]


def test_missing_tier_lists_the_article_files():
    with (
        FigshareServer({"processed.zip": b"p" * 10}) as server,
        pytest.raises(DownloadError, match=r"tier\(s\) \['raw'\].*processed.zip"),
    ):
        figshare.select_files(figshare.list_files(api_url=server.api_url), tiers=["raw"])


def test_unknown_tier_is_rejected():
    with pytest.raises(DownloadError, match="unknown tier"):
        figshare.select_files([], tiers=["raws"])


def test_untiered_article_downloads_everything():
    files = [
        figshare.FigshareFile(id=1, name="AHU.zip", size=3, download_url="u"),
        figshare.FigshareFile(id=2, name="site.html", size=0, download_url="", is_link_only=True),
    ]
    assert [file.name for file in figshare.select_files(files, tiers=["processed"])] == ["AHU.zip"]


def test_streaming_download_manager_still_downloads_and_checks(server, tmp_path):
    from datasets.download.streaming_download_manager import StreamingDownloadManager

    streaming = StreamingDownloadManager(
        download_config=datasets.DownloadConfig(cache_dir=tmp_path, disable_tqdm=True)
    )
    paths = fetch(server, streaming)
    assert paths[0].is_file() and paths[0].read_bytes() == FILES["processed.zip"]


def test_builder_downloads_from_figshare_and_builds(sample_archive, sample_manifest, tmp_path):
    """End to end: listing, download with a 403 on the primary route, md5 check, then the builder's dataset."""
    from hf_loader.builder import AHUUltrasound

    zips = {
        name: (sample_archive / name).read_bytes() for name in ("raw.zip", "filtered.zip", "processed.zip")
    }
    with FigshareServer(zips) as server:
        server.behaviour["primary"] = "403"
        builder = AHUUltrasound(
            config_name="processed", figshare_api_url=server.api_url, cache_dir=str(tmp_path)
        )
        builder.download_and_prepare()
        dataset = builder.as_dataset()
        assert server.downloads("api") == 3 and server.downloads("mirror") == 0
    folder = tmp_path / "downloads" / "figshare" / "26889334"  # default_download_dir of the builder's cache
    assert sorted(path.name for path in folder.glob("*.zip")) == sorted(zips)
    for name, data in zips.items():
        assert (folder / name).read_bytes() == data
    ids = sorted(sample_id for split in dataset.values() for sample_id in split["sample_id"])
    assert ids == sorted(sample["sample_id"] for sample in sample_manifest["samples"])


def test_builder_reports_the_hand_download_when_figshare_refuses(tmp_path):
    from hf_loader.builder import AHUUltrasound

    with FigshareServer({"processed.zip": b"PK\x05\x06" + bytes(18)}) as server:
        for route in server.behaviour:
            server.behaviour[route] = "403"
        builder = AHUUltrasound(
            config_name="processed", figshare_api_url=server.api_url, cache_dir=str(tmp_path)
        )
        with pytest.raises(DownloadError, match=r"doi.org/10.6084/m9.figshare.26889334.*data_dir"):
            builder.download_and_prepare()


def test_streaming_build_downloads_verified_zips_first(sample_archive, tmp_path, monkeypatch):
    """`as_streaming_dataset()` without data_dir: the zips are still md5-checked local files, then streamed."""
    from hf_loader.builder import AHUUltrasound

    monkeypatch.setattr(datasets.config, "DOWNLOADED_DATASETS_PATH", tmp_path / "downloads")
    zips = {
        name: (sample_archive / name).read_bytes() for name in ("raw.zip", "filtered.zip", "processed.zip")
    }
    with FigshareServer(zips) as server:
        server.behaviour["primary"] = "corrupt"
        builder = AHUUltrasound(
            config_name="processed", figshare_api_url=server.api_url, cache_dir=str(tmp_path)
        )
        streamed = builder.as_streaming_dataset(split="train")
        ids = [row["sample_id"] for row in streamed]
    assert ids and server.downloads("api") == 3
    assert (tmp_path / "downloads/figshare/26889334/processed.zip").read_bytes() == zips["processed.zip"]


def _tier_zips(archive) -> dict[str, bytes]:
    return {name: (archive / name).read_bytes() for name in ("raw.zip", "filtered.zip", "processed.zip")}


def _figshare_builder(server, tmp_path):
    from hf_loader.builder import AHUUltrasound

    return AHUUltrasound(
        config_name="processed", figshare_api_url=server.api_url, cache_dir=str(tmp_path), decode_video=False
    )


def _ids(builder) -> list[int]:
    return sorted(sample_id for split in builder.as_dataset().values() for sample_id in split["sample_id"])


@pytest.fixture(scope="module")
def smaller_archive(tmp_path_factory):
    """Another version of the archive: 14 other samples."""
    from hf_loader.sample_archive import make_sample_archive

    return make_sample_archive(tmp_path_factory.mktemp("ahu_v2") / "archive", seed=1, num_samples=14)


def test_a_new_version_of_a_figshare_file_is_fetched_and_built(sample_archive, smaller_archive, tmp_path):
    with FigshareServer(_tier_zips(sample_archive)) as server:
        first = _figshare_builder(server, tmp_path)
        first.download_and_prepare()
        server.replace("processed.zip", (smaller_archive / "processed.zip").read_bytes())
        second = _figshare_builder(server, tmp_path)
        assert second.cache_dir != first.cache_dir  # the article's version and md5s are in the cache key
        second.download_and_prepare()
        assert server.downloads("primary", "processed.zip") == 2
        assert server.downloads("primary", "raw.zip") == 1  # unchanged files are not fetched again
    assert _ids(second) == sorted(s["sample_id"] for s in load_manifest(smaller_archive)["samples"])


def test_an_unchanged_figshare_article_is_served_from_the_cache(sample_archive, tmp_path):
    with FigshareServer(_tier_zips(sample_archive)) as server:
        first = _figshare_builder(server, tmp_path)
        first.download_and_prepare()
        second = _figshare_builder(server, tmp_path)
        second.download_and_prepare()
        assert second.cache_dir == first.cache_dir and server.downloads("primary") == 3


def test_force_redownload_fetches_every_file_again_and_builds(sample_archive, smaller_archive, tmp_path):
    with FigshareServer(_tier_zips(sample_archive)) as server:
        _figshare_builder(server, tmp_path).download_and_prepare()
        server.replace("processed.zip", (smaller_archive / "processed.zip").read_bytes())
        builder = _figshare_builder(server, tmp_path)
        builder.download_and_prepare(download_mode="force_redownload")
        assert (
            server.downloads("primary", "raw.zip") == 2 and server.downloads("primary", "processed.zip") == 2
        )
        again = _figshare_builder(server, tmp_path)
        again.download_and_prepare(download_mode="force_redownload")
        assert server.downloads("primary", "processed.zip") == 3
    assert _ids(again) == sorted(s["sample_id"] for s in load_manifest(smaller_archive)["samples"])


def test_an_empty_download_is_refused_even_when_figshare_announces_no_size_or_md5(dl_manager):
    with FigshareServer(FILES, announce_md5=False, announce_size=False) as server:
        server.behaviour["primary"] = "empty"
        (path, *_) = fetch(server, dl_manager)
        assert path.read_bytes() == FILES["processed.zip"] and server.downloads("api", "processed.zip") == 1
        server.behaviour["primary"] = "ok"
        assert fetch(server, dl_manager)[0].read_bytes() == FILES["processed.zip"]


def test_an_empty_file_on_every_route_is_never_kept_as_verified(dl_manager):
    with FigshareServer(FILES, announce_md5=False, announce_size=False) as server:
        for route in server.behaviour:
            server.behaviour[route] = "empty"
        with pytest.raises(ChecksumError, match="empty file"):
            fetch(server, dl_manager)
        for route in server.behaviour:
            server.behaviour[route] = "ok"
        assert fetch(server, dl_manager)[0].read_bytes() == FILES["processed.zip"]


def test_a_stalled_server_costs_seconds_not_minutes(server, dl_manager):
    import time

    server.behaviour["primary"] = "stall"
    started = time.monotonic()
    (path, *_) = fetch(server, dl_manager, read_timeout=1.0)
    assert time.monotonic() - started < 10
    assert path.read_bytes() == FILES["processed.zip"] and server.downloads("api", "processed.zip") == 1


@pytest.mark.parametrize("mode", ["cut", "stall"])
def test_interrupted_downloads_leave_no_incomplete_file(server, dl_manager, mode):
    server.behaviour["primary"] = mode
    fetch(server, dl_manager, read_timeout=1.0)
    assert list(Path(dl_manager.download_config.cache_dir).rglob("*.incomplete")) == []


def test_a_tier_is_named_by_a_whole_word_of_the_file_name():
    from hf_loader.archive_index import tier_of_file_name

    names = {
        "processed.zip": "processed",
        "AHU_raw (1).zip": "raw",
        "unprocessed.zip": None,
        "rawdata.zip": None,
        "raw_and_filtered.zip": None,
    }
    for name, tier in names.items():
        assert tier_of_file_name(name) == tier, name
        assert figshare.FigshareFile(id=1, name=name, size=1, download_url="u").tier == tier, name
