"""Push and pull helpers for the Hugging Face Hub, thin over `huggingface_hub`.

`push_folder` creates the repo when needed and uploads a folder in one commit; `pull` downloads a repo snapshot
into the local cache (or a folder). Both turn the library's network, auth and not-found errors into
[`HubAccessError`] subclasses whose message says what to do (log in, go online, fix the repo id).

`huggingface_hub` reads `HF_ENDPOINT`, `HF_TOKEN` and `HF_HUB_OFFLINE` when it is imported; pass `endpoint=` /
`token=` to override per call.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import AHUDataError

REPO_TYPES = ("model", "dataset", "space")


class HubAccessError(AHUDataError):
    """A push to or pull from the Hub failed; the message names the repo and the fix."""

    reason = "hub access failed"


class HubOfflineError(HubAccessError):
    """The Hub cannot be reached: `HF_HUB_OFFLINE=1`, no network, or a wrong `HF_ENDPOINT`."""

    reason = "hub offline"


class HubAuthError(HubAccessError):
    """The Hub refused the token (missing, invalid or without write access)."""

    reason = "hub unauthorized"


class HubNotFoundError(HubAccessError):
    """The repo or revision does not exist (or is private and no valid token was sent)."""

    reason = "hub repo not found"


def _describe(repo_id: str, repo_type: str) -> str:
    return f"{repo_type} repo '{repo_id}'"


def _endpoint(endpoint: str | None) -> str:
    from huggingface_hub import constants

    return endpoint or constants.ENDPOINT


def _is_network_error(err: BaseException) -> bool:
    """Connection refused, DNS failure, timeout, or offline mode (anywhere in the exception's cause chain)."""
    from huggingface_hub.errors import OfflineModeIsEnabled

    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        # httpx's transport errors (huggingface_hub 2.4 ships them as `httpx2`) have no common stdlib base.
        names = {cls.__name__ for cls in type(err).__mro__}
        if isinstance(err, (OfflineModeIsEnabled, ConnectionError, TimeoutError)) or names & {
            "TransportError",
            "TimeoutException",
        }:
            return True
        err = err.__cause__ or err.__context__
    return False


def _check_repo_type(repo_type: str) -> None:
    if repo_type not in REPO_TYPES:
        raise HubAccessError(f"repo_type must be one of {REPO_TYPES}, got {repo_type!r}.")


def _translate(err: Exception, action: str, repo_id: str, repo_type: str, endpoint: str) -> HubAccessError:
    """Map a `huggingface_hub` / transport exception to the matching `HubAccessError` subclass."""
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    what = _describe(repo_id, repo_type)
    if _is_network_error(err):
        return HubOfflineError(
            f"cannot {action} {what}: the Hub at {endpoint} cannot be reached ({type(err).__name__}). "
            "Check the network, unset HF_HUB_OFFLINE, or point HF_ENDPOINT at a reachable Hub.",
            entry=repo_id,
        )
    if isinstance(err, RevisionNotFoundError):
        return HubNotFoundError(
            f"cannot {action} {what}: the revision does not exist at {endpoint}. Use a branch name or a "
            "commit sha listed by `HfApi().list_repo_refs` / `list_repo_commits`.",
            entry=repo_id,
        )
    if isinstance(err, RepositoryNotFoundError):
        return HubNotFoundError(
            f"cannot {action} {what}: it does not exist at {endpoint} (or it is private and no valid token was "
            "sent). Check repo_id and repo_type, and log in (`hf auth login` or HF_TOKEN) for private repos.",
            entry=repo_id,
        )
    if isinstance(err, HfHubHTTPError) and err.response is not None:
        status = err.response.status_code
        if status in (401, 403):
            return HubAuthError(
                f"cannot {action} {what}: the Hub at {endpoint} answered {status} (unauthorized). A token with "
                "write access is needed: run `hf auth login`, set HF_TOKEN, or pass token=....",
                entry=repo_id,
            )
        if status == 404:
            return HubNotFoundError(
                f"cannot {action} {what}: not found at {endpoint} ({err}).", entry=repo_id
            )
        return HubAccessError(
            f"cannot {action} {what}: the Hub at {endpoint} answered {status}: {err}", repo_id
        )
    return HubAccessError(f"cannot {action} {what}: {type(err).__name__}: {err}", entry=repo_id)


def full_repo_id(repo_id: str, token: str | bool | None = None, endpoint: str | None = None) -> str:
    """`repo_id` as the Hub names it: a bare `"name"` becomes `"<token owner>/name"` (what `push_folder` creates).

    Asks the Hub who owns the token (`whoami`); when it cannot say, `repo_id` comes back unchanged.
    """
    if "/" in repo_id:
        return repo_id
    from huggingface_hub import HfApi

    try:
        owner = HfApi(endpoint=_endpoint(endpoint), token=token).whoami()["name"]
    except Exception:  # noqa: BLE001  (the push already succeeded; the bare name is still a true answer)
        return repo_id
    return f"{owner}/{repo_id}"


def push_folder(
    folder: str | os.PathLike,
    repo_id: str,
    repo_type: str = "model",
    token: str | bool | None = None,
    private: bool = False,
    commit_message: str = "Upload folder with hf_loader",
    *,
    revision: str | None = None,
    allow_patterns: list[str] | str | None = None,
    ignore_patterns: list[str] | str | None = None,
    delete_patterns: list[str] | str | None = None,
    endpoint: str | None = None,
) -> str:
    """Create `repo_id` if needed and upload every file of `folder` to it in one commit.

    Args:
        folder: local folder; its tree is mirrored at the repo root.
        repo_id: `"namespace/name"`; a bare `"name"` goes to the token owner's namespace.
        repo_type: `"model"`, `"dataset"` or `"space"`.
        token: Hub token; defaults to `HF_TOKEN` / the saved login (`False`: send none).
        private: create the repo private (ignored when it already exists).
        commit_message: the commit's title.
        revision: branch to commit to (default `main`).
        allow_patterns / ignore_patterns: glob filters on the folder's relative paths.
        delete_patterns: glob patterns of remote files to delete in the same commit, unless the folder uploads
            them again (so files gone from the folder, e.g. stale shards, leave the repo).
        endpoint: Hub URL (default `HF_ENDPOINT`).

    Returns:
        `str`: the sha (40 hex digits) of the new commit, or of the current head when nothing changed.

    Raises:
        HubAccessError: `folder` is missing or empty (entry = the folder), or the push failed; the subclasses
            `HubOfflineError`, `HubAuthError`, `HubNotFoundError` say why.
    """
    from huggingface_hub import HfApi, constants

    _check_repo_type(repo_type)
    folder = Path(folder)
    if not folder.is_dir():
        raise HubAccessError("folder to push does not exist or is not a directory.", entry=str(folder))
    if not any(p.is_file() for p in folder.rglob("*")):
        raise HubAccessError("folder to push holds no file; nothing to upload.", entry=str(folder))
    endpoint = _endpoint(endpoint)
    if constants.is_offline_mode():
        raise HubOfflineError(
            f"cannot push {_describe(repo_id, repo_type)}: HF_HUB_OFFLINE=1 is set. Unset it (pushing needs the "
            f"Hub at {endpoint}).",
            entry=repo_id,
        )
    api = HfApi(endpoint=endpoint, token=token)
    try:
        repo_url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        info = api.upload_folder(
            folder_path=folder,
            repo_id=repo_url.repo_id,
            repo_type=repo_type,
            revision=revision,
            commit_message=commit_message,
            allow_patterns=allow_patterns,
            ignore_patterns=ignore_patterns,
            delete_patterns=delete_patterns,
        )
    except Exception as err:
        raise _translate(err, "push to", repo_id, repo_type, endpoint) from err
    return info.oid


def pull(
    repo_id: str,
    repo_type: str = "model",
    revision: str | None = None,
    *,
    token: str | bool | None = None,
    local_dir: str | os.PathLike | None = None,
    allow_patterns: list[str] | str | None = None,
    endpoint: str | None = None,
) -> Path:
    """Download a snapshot of `repo_id` at `revision` (branch, tag or commit sha; default `main`).

    Files go to the Hugging Face cache (`HF_HOME`), or to `local_dir` if given. With `HF_HUB_OFFLINE=1` a
    snapshot already in the cache is returned.

    Returns:
        `Path`: the snapshot folder.

    Raises:
        HubOfflineError: the Hub cannot be reached and the snapshot is not cached.
        HubNotFoundError: no such repo or revision (or a private repo without a valid token).
        HubAuthError: the token was refused.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    _check_repo_type(repo_type)
    endpoint = _endpoint(endpoint)
    try:
        path = snapshot_download(
            repo_id,
            repo_type=repo_type,
            revision=revision,
            token=token,
            local_dir=local_dir,
            allow_patterns=allow_patterns,
            endpoint=endpoint,
        )
    except LocalEntryNotFoundError as err:
        from huggingface_hub import constants

        if constants.is_offline_mode() or _is_network_error(err):
            raise HubOfflineError(
                f"cannot pull {_describe(repo_id, repo_type)}: the Hub at {endpoint} cannot be reached (or "
                "HF_HUB_OFFLINE=1 is set) and no snapshot of it is in the local cache. Go online (unset "
                "HF_HUB_OFFLINE, check HF_ENDPOINT) or pull it once while online.",
                entry=repo_id,
            ) from err
        raise _translate(err, "pull", repo_id, repo_type, endpoint) from err
    except Exception as err:
        raise _translate(err, "pull", repo_id, repo_type, endpoint) from err
    return Path(path)
