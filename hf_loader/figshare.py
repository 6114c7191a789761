"""Lists and downloads the AHU archive from Figshare (article 26889334), md5-checked.

Figshare's public API v2 describes each file of an article (`id`, `name`, `size`,
`download_url`, `computed_md5`, ...). Downloads go through a `datasets` download manager, so
they are cached and show a progress bar. Users of Figshare report 403 answers and empty files
at times, so every file is tried on several routes in turn (by default the file's
`download_url`, then `{api_url}/file/download/{id}`, then
`https://ndownloader.figshare.com/files/{id}`), each attempt checked for size and md5 (an empty
body is never accepted, even when Figshare announces neither); a corrupted download is deleted from the
cache so it is never reused, and an interrupted one leaves no `*.incomplete` file. Every request gives up
after `CONNECT_TIMEOUT` seconds without a connection or `READ_TIMEOUT` seconds without a byte, so a hung
server costs seconds per attempt. `fetch_listing` gives the article's version and files (cached for
offline use); `listing_fingerprint` of them is the builder's cache key, so a new version of a file is
downloaded and built again.

    >>> from hf_loader.figshare import list_files, download_archive
    >>> files = list_files()                        # doctest: +SKIP
    >>> paths = download_archive(tiers=["processed"])  # doctest: +SKIP

The API base URL is `constants.FIGSHARE_API_URL`, overridden by the `AHU_FIGSHARE_API_URL`
environment variable or the `api_url` argument (tests point it at a local server).
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests

from .archive_index import tier_of_file_name
from .constants import DATASET_DOI, FIGSHARE_API_URL, FIGSHARE_ARTICLE_ID, TIERS
from .errors import ChecksumError, DownloadError

logger = logging.getLogger(__name__)

API_URL_ENV = "AHU_FIGSHARE_API_URL"
ARTICLE_PAGE = f"https://doi.org/{DATASET_DOI}"
# How `manual_download_hint` begins (a command line replaces the hint with its own option names).
MANUAL_DOWNLOAD_HINT_START = "Download the files by hand"

# Route templates, tried in this order; fields: {download_url}, {api_url}, {file_id}.
DEFAULT_DOWNLOAD_ROUTES: tuple[str, ...] = (
    "{download_url}",
    "{api_url}/file/download/{file_id}",
    "https://ndownloader.figshare.com/files/{file_id}",
)

_ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".7z", ".rar")

# Seconds to connect, and to wait for the next bytes of an answer: a hung server costs at most this much
# per attempt (never a whole download's duration, which is not limited).
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0


@dataclass(frozen=True)
class FigshareFile:
    """One file of a Figshare article, as the public API describes it.

    Attributes:
        id: Figshare's file id.
        name: file name, e.g. `processed.zip`.
        size: size in bytes announced by Figshare (0 when unknown).
        download_url: Figshare's primary download URL for the file.
        md5: expected md5 hex digest (`computed_md5`, else `supplied_md5`; None when neither is given).
        is_link_only: True for entries that only link to another site (nothing to download).
        mimetype: the announced MIME type, if any.
    """

    id: int
    name: str
    size: int
    download_url: str
    md5: str | None = None
    is_link_only: bool = False
    mimetype: str | None = None

    @classmethod
    def from_api(cls, entry: dict[str, Any]) -> FigshareFile:
        md5 = entry.get("computed_md5") or entry.get("supplied_md5") or None
        return cls(
            id=int(entry["id"]),
            name=str(entry["name"]),
            size=int(entry.get("size") or 0),
            download_url=str(entry.get("download_url") or ""),
            md5=md5.lower() if md5 else None,
            is_link_only=bool(entry.get("is_link_only", False)),
            mimetype=entry.get("mimetype"),
        )

    @property
    def tier(self) -> str | None:
        """The archive tier (`raw`, `filtered`, `processed`) the file's name names as a whole word, if exactly
        one (`archive_index.tier_of_file_name`: `unprocessed.zip` names none)."""
        return tier_of_file_name(self.name)

    @property
    def is_archive(self) -> bool:
        return self.name.lower().endswith(_ARCHIVE_SUFFIXES)


def resolve_api_url(api_url: str | None = None) -> str:
    """The API base URL: `api_url`, else `$AHU_FIGSHARE_API_URL`, else `constants.FIGSHARE_API_URL`."""
    return (api_url or os.environ.get(API_URL_ENV) or FIGSHARE_API_URL).rstrip("/")


def manual_download_hint(article_id: int = FIGSHARE_ARTICLE_ID) -> str:
    """How to get the archive by hand when every automatic route fails."""
    page = (
        ARTICLE_PAGE if article_id == FIGSHARE_ARTICLE_ID else f"https://figshare.com/articles/{article_id}"
    )
    return (
        f"{MANUAL_DOWNLOAD_HINT_START} from the article's page {page} (button 'Download all' or each "
        "file's download link), put them in one folder (zips unextracted or extracted, both work) and "
        "pass that folder as data_dir, e.g. "
        "AHUUltrasound(config_name='processed', data_dir='/path/to/folder')."
    )


def _get_json(url: str, *, params: dict | None, retries: int, retry_wait: float, timeout) -> Any:
    last_error: Exception | None = None
    for attempt in range(retries):
        try:
            response = requests.get(url, params=params, timeout=timeout)
            if response.status_code == 404:
                raise DownloadError(f"{url} answered 404 (is the article id right?)", entry=url)
            response.raise_for_status()
            return response.json()
        except DownloadError:
            raise
        except (requests.RequestException, ValueError) as err:
            last_error = err
            if attempt + 1 < retries:
                time.sleep(retry_wait * (2**attempt))
    raise DownloadError(f"the Figshare API did not answer ({last_error})", entry=url) from last_error


def list_files(
    article_id: int = FIGSHARE_ARTICLE_ID,
    api_url: str | None = None,
    *,
    page_size: int = 100,
    retries: int = 3,
    retry_wait: float = 1.0,
    timeout: float | tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
) -> list[FigshareFile]:
    """Lists an article's files through Figshare's public API v2.

    Reads the paginated `GET {api_url}/articles/{id}/files?page=&page_size=` endpoint (complete
    for articles with many files) and falls back to the `files` of `GET {api_url}/articles/{id}`.

    Args:
        article_id: the Figshare article id (default: the AHU database, 26889334).
        api_url: API base URL; see `resolve_api_url`.
        page_size: files per page of the paginated endpoint.
        retries: attempts per request, with exponential back-off starting at `retry_wait` seconds.
        timeout: seconds to connect and to wait for an answer (`requests`' `(connect, read)`).

    Returns:
        The article's files, in Figshare's order.

    Raises:
        DownloadError: the API could not be reached or answered something unexpected; the
            message says how to download by hand.
    """
    api_url = resolve_api_url(api_url)
    request = {"retries": retries, "retry_wait": retry_wait, "timeout": timeout}
    entries: list[dict] = []
    try:
        page = 1
        while True:
            batch = _get_json(
                f"{api_url}/articles/{article_id}/files",
                params={"page": page, "page_size": page_size},
                **request,
            )
            if not isinstance(batch, list):
                raise DownloadError(
                    "expected a JSON list of files", entry=f"{api_url}/articles/{article_id}/files"
                )
            entries.extend(batch)
            if len(batch) < page_size:
                break
            page += 1
    except DownloadError as paginated_error:
        # A fallback, not news: if the article record fails too, the error says why.
        logger.debug(
            "paginated file listing failed (%s); reading the article record instead", paginated_error
        )
        try:
            article = _get_json(f"{api_url}/articles/{article_id}", params=None, **request)
        except DownloadError as err:
            raise DownloadError(f"{err} {manual_download_hint(article_id)}") from err
        if not isinstance(article, dict) or not isinstance(article.get("files"), list):
            raise DownloadError(
                f"the article record has no 'files' list. {manual_download_hint(article_id)}",
                entry=f"{api_url}/articles/{article_id}",
            ) from paginated_error
        entries = article["files"]
    try:
        return [FigshareFile.from_api(entry) for entry in entries]
    except (KeyError, TypeError, ValueError) as err:
        raise DownloadError(
            f"a file entry lacks 'id' or 'name' ({err}). {manual_download_hint(article_id)}",
            entry=f"{api_url}/articles/{article_id}/files",
        ) from err


def article_version(
    article_id: int = FIGSHARE_ARTICLE_ID,
    api_url: str | None = None,
    *,
    retries: int = 3,
    retry_wait: float = 1.0,
) -> int | None:
    """The article's current version number (`version` of `GET {api_url}/articles/{id}`), None if unstated."""
    url = f"{resolve_api_url(api_url)}/articles/{article_id}"
    record = _get_json(
        url, params=None, retries=retries, retry_wait=retry_wait, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT)
    )
    version = record.get("version") if isinstance(record, dict) else None
    return int(version) if isinstance(version, (int, str)) and str(version).isdigit() else None


def fetch_listing(
    article_id: int, api_url: str | None, folder: Path, *, retries: int = 3, retry_wait: float = 1.0
) -> tuple[int | None, list[FigshareFile]]:
    """`(version, files)` of the article from the API, cached in `folder/files.json`; when the API cannot be
    reached, the cached listing (with a warning).

    Raises:
        DownloadError: the API cannot be reached and nothing is cached.
    """
    listing_cache = folder / "files.json"
    try:
        files = list_files(article_id, api_url, retries=retries, retry_wait=retry_wait)
        version = article_version(article_id, api_url, retries=retries, retry_wait=retry_wait)
    except DownloadError as err:
        if not listing_cache.is_file():
            raise
        logger.warning("Figshare listing failed (%s); using the listing cached in %s", err, listing_cache)
        cached = json.loads(listing_cache.read_text())
        if isinstance(cached, list):  # written before versions were recorded
            cached = {"version": None, "files": cached}
        return cached["version"], [FigshareFile(**entry) for entry in cached["files"]]
    folder.mkdir(parents=True, exist_ok=True)
    listing_cache.write_text(
        json.dumps({"version": version, "files": [asdict(file) for file in files]}, indent=1)
    )
    return version, files


def listing_fingerprint(version: int | None, files: Sequence[FigshareFile]) -> str:
    """A key of what the article holds: its version and each file's id, name, size and md5 (a new version of
    any file changes it)."""
    state = [version, sorted((file.id, file.name, file.size, file.md5) for file in files)]
    return hashlib.blake2b(json.dumps(state).encode(), digest_size=16).hexdigest()


def select_files(files: Sequence[FigshareFile], tiers: Sequence[str] | None = None) -> list[FigshareFile]:
    """Picks the files that hold the requested tiers.

    A file belongs to a tier when its name mentions it (`processed.zip`, `AHU_raw_part1.zip`).
    Files naming no tier are kept when they are small tables/lists (e.g. `rename.xlsx`,
    `noise_files.txt`) or when no file of the article names a tier at all (then everything is
    downloaded and the builder recognises the tiers by content). Link-only entries are skipped.

    Raises:
        DownloadError: a requested tier is unknown or no file of the article holds it.
    """
    tiers = tuple(TIERS if tiers is None else tiers)
    unknown = [tier for tier in tiers if tier not in TIERS]
    if unknown:
        raise DownloadError(f"unknown tier(s) {unknown}; choose among {list(TIERS)}")
    downloadable = [file for file in files if not file.is_link_only]
    for file in files:
        if file.is_link_only:
            logger.warning("%s is a link to another site, not a file; skipped", file.name)
    if not any(file.tier for file in downloadable):
        if downloadable:
            logger.warning(
                "no Figshare file name mentions a tier (%s); downloading all %d files",
                ", ".join(TIERS),
                len(downloadable),
            )
        return downloadable
    missing = [tier for tier in tiers if not any(file.tier == tier for file in downloadable)]
    if missing:
        names = ", ".join(file.name for file in files) or "none"
        raise DownloadError(
            f"no file of the article holds tier(s) {missing} (files: {names}). "
            "Ask for other tiers, or download by hand. " + manual_download_hint()
        )
    return [
        file for file in downloadable if file.tier in tiers or (file.tier is None and not file.is_archive)
    ]


def file_md5(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """The md5 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _problem_with(path: Path, file: FigshareFile) -> str | None:
    """Why a downloaded file is not the announced one (None when it is)."""
    size = path.stat().st_size
    if size == 0:
        # No file of the archive is empty: an empty body is a failed download even when Figshare announces
        # no size and no md5 (then nothing else can be checked).
        return f"empty file (0 of {file.size or 'an unannounced number of'} bytes)"
    if file.size and size < file.size:
        return f"truncated ({size} of {file.size} bytes)"
    if file.size and size > file.size:
        return f"larger than announced ({size} instead of {file.size} bytes)"
    if file.md5:
        actual = file_md5(path)
        if actual != file.md5:
            return f"md5 mismatch (got {actual}, expected {file.md5})"
    return None


def _discard_cached(path: Path) -> None:
    """Removes a bad download and the metadata `datasets` keeps beside it, so it is never reused."""
    for leftover in (path, Path(f"{path}.json"), Path(f"{path}.lock"), Path(f"{path}.incomplete")):
        try:
            leftover.unlink()
        except FileNotFoundError:
            pass


def _http_status(err: BaseException) -> int | None:
    """The HTTP status behind a download error, looking through chained exceptions (fsspec wraps them)."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        status = getattr(err, "status", None) or getattr(getattr(err, "response", None), "status_code", None)
        if isinstance(status, int):
            return status
        err = err.__cause__ or err.__context__
    return None


def _describe(err: BaseException, status: int | None) -> str:
    if status is not None:
        return f"HTTP {status}"
    detail = str(err).strip().splitlines()[0] if str(err).strip() else "no detail"
    return f"{type(err).__name__}: {detail}"


def _route_urls(file: FigshareFile, api_url: str, routes: Sequence[str]) -> list[str]:
    urls: list[str] = []
    for template in routes:
        if "{download_url}" in template and not file.download_url:
            continue
        url = template.format(download_url=file.download_url, api_url=api_url, file_id=file.id)
        if url not in urls:
            urls.append(url)
    return urls


def _remove_incomplete(dl_manager, url: str) -> None:
    """Delete what `datasets` left of an interrupted download of `url` (`<cache name>.incomplete`, named after
    the URL's hash), so failed attempts never pile up in the cache."""
    import datasets
    from datasets.utils.file_utils import hash_url_to_filename

    cache_dir = (
        getattr(dl_manager.download_config, "cache_dir", None) or datasets.config.DOWNLOADED_DATASETS_PATH
    )
    for leftover in Path(cache_dir).glob(glob.escape(hash_url_to_filename(url)) + "*.incomplete"):
        leftover.unlink(missing_ok=True)


def with_timeouts(download_config, connect: float = CONNECT_TIMEOUT, read: float = READ_TIMEOUT):
    """A copy of a `datasets.DownloadConfig` whose HTTP(S) requests give up after `connect` seconds without a
    connection or `read` seconds without a byte (fsspec's aiohttp client otherwise waits minutes)."""
    import aiohttp

    config = download_config.copy()
    options = dict(config.storage_options or {})
    for protocol in ("http", "https"):
        http = dict(options.get(protocol, {}))
        client_kwargs = dict(http.get("client_kwargs", {}))
        client_kwargs["timeout"] = aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)
        http["client_kwargs"] = client_kwargs
        options[protocol] = http
    config.storage_options = options
    return config


def _verified_marker(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def _is_verified(target: Path, file: FigshareFile) -> bool:
    """True when `target` was md5-checked earlier and has not changed since."""
    marker = _verified_marker(target)
    if not (target.is_file() and marker.is_file()):
        return False
    try:
        record = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    stat = target.stat()
    return (
        record.get("id") == file.id
        and record.get("md5") == file.md5
        and record.get("announced_size") == file.size
        and record.get("size") == stat.st_size
        and record.get("mtime_ns") == stat.st_mtime_ns
        and stat.st_size > 0
    )


def _place(source: Path, target: Path, file: FigshareFile) -> None:
    """Puts the verified download at `target` under its Figshare name (hard link, else copy)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    stat = target.stat()
    record = {
        "id": file.id,
        "md5": file.md5,
        "announced_size": file.size,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
    }
    _verified_marker(target).write_text(json.dumps(record))


def download_file(
    dl_manager,
    file: FigshareFile,
    target: Path,
    *,
    api_url: str | None = None,
    routes: Sequence[str] = DEFAULT_DOWNLOAD_ROUTES,
    retries: int = 2,
    retry_wait: float = 2.0,
) -> Path:
    """Downloads one Figshare file to `target`, trying each route until one gives the announced bytes.

    Each route is tried `retries` times; every attempt is checked for size and md5, and a bad
    download is removed from the download manager's cache before the next attempt.

    Returns:
        `target`, holding the verified file.

    Raises:
        ChecksumError: every route answered, but never with the announced bytes.
        DownloadError: some route could not be downloaded at all (403, network error, ...).
        Both messages list every attempt and say how to download by hand.
    """
    api_url = resolve_api_url(api_url)
    force = bool(getattr(dl_manager.download_config, "force_download", False))
    if not force and _is_verified(target, file):
        return target
    if not file.md5:
        logger.warning("%s: Figshare announces no md5; only the size can be checked", file.name)
    failures: list[str] = []
    only_checksum_failures = True
    for url in _route_urls(file, api_url, routes):
        for attempt in range(retries):
            _remove_incomplete(dl_manager, url)
            try:
                downloaded = Path(dl_manager.download(url))
            except Exception as err:  # noqa: BLE001 - any route failure (HTTP, network, offline) moves on
                _remove_incomplete(dl_manager, url)
                only_checksum_failures = False
                status = _http_status(err)
                failures.append(f"{url}: {_describe(err, status)}")
                logger.warning("%s: %s", file.name, failures[-1])
                if status is not None and 400 <= status < 500:
                    break  # a refusal (403 bot check, 404) will not change on retry; try the next route
            else:
                problem = _problem_with(downloaded, file)
                if problem is None:
                    _place(downloaded, target, file)
                    return target
                _discard_cached(downloaded)
                failures.append(f"{url}: {problem}")
                logger.warning("%s: %s from %s; discarded", file.name, problem, url)
            if attempt + 1 < retries:
                time.sleep(retry_wait * (2**attempt))
    error_class = ChecksumError if failures and only_checksum_failures else DownloadError
    attempts = "\n  ".join(failures) or "no download route applies to this file"
    raise error_class(
        f"could not download a correct copy after {len(failures)} attempt(s):\n  {attempts}\n"
        + manual_download_hint(),
        entry=file.name,
    )


def default_download_dir(dl_manager=None, article_id: int = FIGSHARE_ARTICLE_ID) -> Path:
    """Where verified files are kept under their Figshare names: `<downloads cache>/figshare/<article_id>`."""
    import datasets

    cache_dir = getattr(getattr(dl_manager, "download_config", None), "cache_dir", None)
    root = Path(cache_dir) if cache_dir else Path(datasets.config.DOWNLOADED_DATASETS_PATH)
    return root / "figshare" / str(article_id)


def download_archive(
    dl_manager=None,
    article_id: int = FIGSHARE_ARTICLE_ID,
    api_url: str | None = None,
    tiers: Sequence[str] | None = None,
    *,
    download_dir: str | os.PathLike | None = None,
    routes: Sequence[str] = DEFAULT_DOWNLOAD_ROUTES,
    retries: int = 2,
    retry_wait: float = 2.0,
    read_timeout: float = READ_TIMEOUT,
) -> list[Path]:
    """Downloads the article's files that hold `tiers`, md5-checked, and returns their local paths.

    The files land in `download_dir` (default `default_download_dir(dl_manager)`) under their
    Figshare names (`processed.zip`, ...), so that folder can also be passed as `data_dir`.
    A file verified by an earlier call is reused without touching the network; the listing is
    cached there too (`files.json`) and used when the API cannot be reached.

    Args:
        dl_manager: a `datasets.DownloadManager` (the builder's) whose download config (cache folder,
            `force_download`, ...) is used; None for the defaults.
        article_id: the Figshare article (default 26889334).
        api_url: API base URL; see `resolve_api_url`.
        tiers: tiers to fetch (default all of `constants.TIERS`); see `select_files`.
        routes: download route templates with fields `{download_url}`, `{api_url}`, `{file_id}`.
        retries: attempts per route; `retry_wait` is the first back-off in seconds (doubled each time).
        read_timeout: seconds without a byte after which an attempt is given up (`CONNECT_TIMEOUT` to connect).

    Returns:
        Local paths of the downloaded files, in Figshare's order. With the download config's
        `force_download` (`download_mode="force_redownload"`), every file is downloaded again.
    """
    from datasets import DownloadConfig, DownloadManager

    api_url = resolve_api_url(api_url)
    config = getattr(dl_manager, "download_config", None) or DownloadConfig()
    # A download manager of our own: regular (md5 needs the whole file) and with timeouts on every request.
    dl_manager = DownloadManager(
        dataset_name="ahu_ultrasound", download_config=with_timeouts(config, read=read_timeout)
    )
    folder = Path(download_dir) if download_dir else default_download_dir(dl_manager, article_id)
    _, files = fetch_listing(article_id, api_url, folder)
    chosen = select_files(files, tiers)
    if not chosen:
        raise DownloadError(
            f"article {article_id} lists no downloadable file. {manual_download_hint(article_id)}"
        )
    return [
        download_file(
            dl_manager,
            file,
            folder / Path(file.name).name,
            api_url=api_url,
            routes=routes,
            retries=retries,
            retry_wait=retry_wait,
        )
        for file in chosen
    ]
