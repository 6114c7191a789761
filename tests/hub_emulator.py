"""A small local emulator of the Hugging Face Hub HTTP API, for push/pull round-trip tests.

The real Hub cannot be reached from the test machines and no upload-capable Hub server installs here, so the
tests start this stdlib-only server on `127.0.0.1` and point `huggingface_hub` (2.4, classic LFS uploads with
`HF_HUB_DISABLE_XET=1`), `datasets` and `transformers` at it through `HF_ENDPOINT`.

It implements only what those clients use for a push/pull round trip:

- `GET  /api/whoami-v2`, `GET /api/agent-harnesses`, `POST /api/validate-yaml`
- `POST /api/repos/create`
- `GET  /api/{type}s/{ns}/{name}` and `.../revision/{rev}` (repo info, `?blobs=1` adds sizes)
- `GET  /api/{type}s/{ns}/{name}/tree/{rev}[/{path}]` (`recursive`, `expand`), `POST .../paths-info/{rev}`
- `GET  /api/{type}s/{ns}/{name}/refs`, `GET .../commits/{rev}`
- `POST /api/{type}s/{ns}/{name}/preupload/{rev}`, `POST .../commit/{rev}` (NDJSON)
- `POST /[datasets/]{ns}/{name}.git/info/lfs/objects/batch` and the `PUT /lfs-upload/{sha256}` it hands out
- `HEAD`/`GET /[datasets/]{ns}/{name}/resolve/{rev}/{path}` (`X-Repo-Commit`, `ETag`, `X-Linked-Etag`,
  `X-Linked-Size`, `Range`)

Storage (under `root`): `objects/<sha256>` holds every file body once (content-addressed); each repo has
`repos/<type>/<ns>/<name>/commits/<sha1>.json` (immutable: parent, title, date, and the full file table) and
`refs.json` (branch -> commit). Like the Hub, a new repo starts with an "initial commit" holding `.gitattributes`.

Auth follows the Hub: reads of public repos need no token; every write needs `Authorization: Bearer <token>`
(any non-empty token, or one of `valid_tokens`), else 401.

Use from a test (client code runs in a subprocess because `huggingface_hub` reads `HF_ENDPOINT` at import):

```python
from tests.hub_emulator import hub_env, run_hub_client, running_hub

with running_hub(tmp_path / "hub") as endpoint:
    run_hub_client("from huggingface_hub import whoami; print(whoami()['name'])", endpoint, tmp_path / "hf_home")
```

Also runnable on its own: `python tests/hub_emulator.py --port 8123 --root /tmp/hub`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

EMULATOR_USER = "hf-emulator"
REPO_TYPES = ("model", "dataset", "space")
# Files the Hub stores through LFS whatever their size: the default `.gitattributes` patterns (by extension).
# fmt: off
LFS_EXTENSIONS = (
    ".7z", ".arrow", ".bin", ".bz2", ".ckpt", ".ftz", ".gz", ".h5", ".joblib", ".mlmodel", ".model",
    ".msgpack", ".npy", ".npz", ".onnx", ".ot", ".parquet", ".pb", ".pickle", ".pkl", ".pt", ".pth", ".rar",
    ".safetensors", ".tar", ".tflite", ".tgz", ".wasm", ".xz", ".zip", ".zst", ".mp4", ".avi", ".mov", ".mkv",
    ".webm", ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".wav", ".mp3", ".flac", ".ogg",
)
# fmt: on
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024  # bytes; above this the Hub refuses regular (inline) files
DEFAULT_MAX_BODY = 4 * 1024**3  # bytes; one request body (upload) may not exceed this
DEFAULT_MAX_CONCURRENT = 32  # requests served at once; more wait for a slot
GITATTRIBUTES = "".join(f"*{ext} filter=lfs diff=lfs merge=lfs -text\n" for ext in LFS_EXTENSIONS).encode()
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


class HubError(Exception):
    """An HTTP error answer, shaped like the Hub's (`X-Error-Code` / `X-Error-Message` + JSON `error`)."""

    def __init__(self, status: int, message: str, code: str | None = None, commit: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.commit = commit


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def git_blob_oid(data: bytes) -> str:
    """The git object id (sha1 of `blob <size>\\0<data>`) of a regular file."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-lfs pointer file stored in git in place of an LFS file."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class HubStore:
    """On-disk repos, commits and content-addressed objects. Thread-safe (one lock around writes)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.objects.mkdir(parents=True, exist_ok=True)
        (self.root / "repos").mkdir(exist_ok=True)
        self.lock = threading.RLock()

    # -- objects -------------------------------------------------------------------------------------------
    def object_path(self, sha256: str) -> Path:
        return self.objects / sha256

    def has_object(self, sha256: str) -> bool:
        return bool(_SHA256_RE.match(sha256)) and self.object_path(sha256).is_file()

    def put_bytes(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        if not self.has_object(sha):
            _atomic_write(self.object_path(sha), data)
        return sha

    # -- repos ---------------------------------------------------------------------------------------------
    def repo_dir(self, repo_type: str, repo_id: str) -> Path:
        parts = repo_id.split("/")
        # Names come from URLs: refuse anything that is not a plain name (no "..", no extra segment).
        if repo_type not in REPO_TYPES or len(parts) != 2 or not all(_NAME_RE.match(p) for p in parts):
            raise HubError(404, f"Repository {repo_type} '{repo_id}' not found.", code="RepoNotFound")
        return self.root / "repos" / repo_type / repo_id

    def repo_exists(self, repo_type: str, repo_id: str) -> bool:
        return (self.repo_dir(repo_type, repo_id) / "repo.json").is_file()

    def repo_meta(self, repo_type: str, repo_id: str) -> dict:
        path = self.repo_dir(repo_type, repo_id) / "repo.json"
        if not path.is_file():
            raise HubError(404, f"Repository {repo_type} '{repo_id}' not found.", code="RepoNotFound")
        return json.loads(path.read_text())

    def refs(self, repo_type: str, repo_id: str) -> dict[str, str]:
        """Branch name -> commit sha."""
        return json.loads((self.repo_dir(repo_type, repo_id) / "refs.json").read_text())

    def tags(self, repo_type: str, repo_id: str) -> dict[str, str]:
        """Tag name -> commit sha."""
        path = self.repo_dir(repo_type, repo_id) / "tags.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def set_ref(self, repo_type: str, repo_id: str, kind: str, name: str, sha: str | None) -> None:
        """Create/move (`sha`) or delete (`None`) a branch (`kind="branch"`) or tag (`kind="tag"`)."""
        with self.lock:
            table = self.refs(repo_type, repo_id) if kind == "branch" else self.tags(repo_type, repo_id)
            if sha is None:
                if name not in table:
                    raise HubError(404, f"Invalid rev id: {name}", code="RevisionNotFound")
                del table[name]
            else:
                if name in table:
                    raise HubError(409, f"{kind} {name!r} already exists")
                table[name] = sha
            filename = "refs.json" if kind == "branch" else "tags.json"
            _atomic_write(self.repo_dir(repo_type, repo_id) / filename, json.dumps(table).encode())

    def commit(self, repo_type: str, repo_id: str, sha: str) -> dict:
        path = self.repo_dir(repo_type, repo_id) / "commits" / f"{sha}.json"
        if not _COMMIT_RE.match(sha) or not path.is_file():
            raise HubError(404, f"Invalid rev id: {sha}", code="RevisionNotFound")
        return json.loads(path.read_text())

    def resolve(self, repo_type: str, repo_id: str, revision: str) -> tuple[str, dict]:
        """(commit sha, commit) for a branch name, a tag name or a full commit sha."""
        self.repo_meta(repo_type, repo_id)
        for prefix in ("refs/heads/", "refs/tags/"):
            revision = revision.removeprefix(prefix)
        sha = self.refs(repo_type, repo_id).get(revision) or self.tags(repo_type, repo_id).get(
            revision, revision
        )
        try:
            return sha, self.commit(repo_type, repo_id, sha)
        except HubError:
            raise HubError(404, f"Invalid rev id: {revision}", code="RevisionNotFound") from None

    def create_repo(self, repo_type: str, repo_id: str, private: bool) -> None:
        with self.lock:
            if self.repo_exists(repo_type, repo_id):
                raise HubError(409, f"You already created this {repo_type} repo", code="RepoExists")
            meta = {"id": repo_id, "type": repo_type, "private": private, "createdAt": _now()}
            _atomic_write(self.repo_dir(repo_type, repo_id) / "refs.json", b"{}")
            sha = self._write_commit(
                repo_type, repo_id, None, {}, "initial commit", "", _gitattributes_ops(self)
            )
            _atomic_write(self.repo_dir(repo_type, repo_id) / "refs.json", json.dumps({"main": sha}).encode())
            _atomic_write(self.repo_dir(repo_type, repo_id) / "repo.json", json.dumps(meta).encode())

    def apply_commit(
        self,
        repo_type: str,
        repo_id: str,
        branch: str,
        title: str,
        description: str,
        ops: list[dict],
        parent_commit: str | None = None,
    ) -> str:
        """Apply `ops` (already validated: `{"op": "add"|"delete"|"delete_folder", ...}`) on top of `branch`."""
        with self.lock:
            refs = self.refs(repo_type, repo_id)
            if branch not in refs:
                raise HubError(
                    404, f"Invalid rev id: {branch} (commits go to a branch)", code="RevisionNotFound"
                )
            head = refs[branch]
            if parent_commit is not None and not head.startswith(parent_commit.lower()):
                raise HubError(412, f"A commit has happened since. Please refresh and try again ({head}).")
            files = dict(self.commit(repo_type, repo_id, head)["files"])
            sha = self._write_commit(repo_type, repo_id, head, files, title, description, ops)
            refs[branch] = sha
            _atomic_write(self.repo_dir(repo_type, repo_id) / "refs.json", json.dumps(refs).encode())
            return sha

    def _write_commit(
        self,
        repo_type: str,
        repo_id: str,
        parent: str | None,
        files: dict,
        title: str,
        description: str,
        ops: list[dict],
    ) -> str:
        for op in ops:
            path = op["path"]
            if op["op"] == "add":
                files[path] = op["entry"]
            elif op["op"] == "delete":
                if path not in files:
                    raise HubError(404, f"File not found in repository: {path}", code="EntryNotFound")
                del files[path]
            else:  # delete_folder
                prefix = path.rstrip("/") + "/"
                doomed = [p for p in files if p.startswith(prefix)]
                if not doomed:
                    raise HubError(404, f"Folder not found in repository: {path}", code="EntryNotFound")
                for p in doomed:
                    del files[p]
        date = _now()
        body = json.dumps({"parent": parent, "files": files, "title": title, "date": date}, sort_keys=True)
        # The commit sha only has to be unique and 40 hex digits: hash the content plus a clock for uniqueness.
        sha = hashlib.sha1(f"{body}\n{time.time_ns()}".encode()).hexdigest()
        commit = {
            "id": sha,
            "parent": parent,
            "title": title,
            "message": description,
            "date": date,
            "files": files,
        }
        _atomic_write(
            self.repo_dir(repo_type, repo_id) / "commits" / f"{sha}.json", json.dumps(commit).encode()
        )
        return sha

    def history(self, repo_type: str, repo_id: str, sha: str) -> list[dict]:
        """Commits from `sha` back to the initial commit, newest first."""
        out = []
        while sha is not None:
            commit = self.commit(repo_type, repo_id, sha)
            out.append(commit)
            sha = commit["parent"]
        return out


def _gitattributes_ops(store: HubStore) -> list[dict]:
    return [{"op": "add", "path": ".gitattributes", "entry": _regular_entry(store, GITATTRIBUTES)}]


def _regular_entry(store: HubStore, data: bytes) -> dict:
    return {"sha256": store.put_bytes(data), "size": len(data), "lfs": False, "oid": git_blob_oid(data)}


def _lfs_entry(sha256: str, size: int) -> dict:
    pointer = lfs_pointer(sha256, size)
    return {
        "sha256": sha256,
        "size": size,
        "lfs": True,
        "oid": git_blob_oid(pointer),
        "pointerSize": len(pointer),
    }


def _is_lfs_candidate(path: str, size: int, sample: bytes) -> bool:
    """The Hub's choice: LFS for big files, for binary extensions, and for samples with NUL bytes."""
    return size > LFS_SIZE_THRESHOLD or path.lower().endswith(LFS_EXTENSIONS) or b"\0" in sample


class HubEmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        store: HubStore,
        log_path: Path | None,
        valid_tokens: set[str] | None,
        max_body: int,
        max_concurrent: int,
    ):
        super().__init__(address, _Handler)
        self.store = store
        self.valid_tokens = valid_tokens
        self.max_body = max_body
        self.slots = threading.BoundedSemaphore(max_concurrent)
        self.log_lock = threading.Lock()
        # Kept open for the server's life (closed in server_close); line-buffered so a crash keeps the tail.
        self.log_file = None
        if log_path is not None:
            self.log_file = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115

    def log(self, line: str) -> None:
        if self.log_file is not None:
            with self.log_lock:
                self.log_file.write(line + "\n")

    def server_close(self) -> None:
        super().server_close()
        if self.log_file is not None:
            self.log_file.close()
            self.log_file = None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every answer carries Content-Length
    server_version = "HubEmulator/0.1"
    timeout = 120  # seconds of socket silence before a stalled client is dropped
    server: HubEmulatorServer

    # -- plumbing ------------------------------------------------------------------------------------------
    def log_message(self, format: str, *args) -> None:
        pass

    def _dispatch(self, method: str) -> None:
        start = time.monotonic()
        self._status = 0  # set once the status line is sent
        self._body_consumed = False
        error = ""
        with self.server.slots:
            try:
                self._route(method)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            except Exception as err:  # noqa: BLE001 - HubError, or an emulator bug answered as a 500
                if not isinstance(err, HubError):
                    err = HubError(500, f"emulator error: {type(err).__name__}: {err}")
                error = f" [{err.code or ''}] {err.message}"
                if self._status:  # the answer had started: the client sees a truncated body
                    self.close_connection = True
                else:
                    # Read an unread body first: closing a socket with unread input sends a reset, which can reach
                    # the client before the error answer does ("Server disconnected without sending a response").
                    if not self._body_consumed:
                        with contextlib.suppress(OSError, HubError):
                            self._read_body(sink=lambda data: None)
                    with contextlib.suppress(OSError):
                        self._send_error(err)
        if not self._body_consumed and int(self.headers.get("Content-Length") or 0) > 0:
            self.close_connection = True  # unread body would corrupt the next keep-alive request
        elapsed_ms = (time.monotonic() - start) * 1000
        self.server.log(f"{_now()} {method} {self.path} -> {self._status} ({elapsed_ms:.0f} ms){error}")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    @property
    def base_url(self) -> str:
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        return f"http://{host}"

    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        head_only: bool = False,
    ) -> None:
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header(
            "Content-Length",
            str(len(body)) if not headers or "Content-Length" not in headers else headers["Content-Length"],
        )
        for key, value in (headers or {}).items():
            if key != "Content-Length":
                self.send_header(key, _ascii(value))
        self.end_headers()
        if not head_only and body:
            self.wfile.write(body)

    def _send_json(
        self,
        obj,
        status: int = 200,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self._send(status, json.dumps(obj).encode(), content_type, headers)

    def _send_error(self, err: HubError) -> None:
        headers = {"X-Error-Message": err.message.splitlines()[0][:500]}
        if err.code:
            headers["X-Error-Code"] = err.code
        if err.commit:
            headers["X-Repo-Commit"] = err.commit
        self._send(
            err.status,
            json.dumps({"error": err.message}).encode(),
            headers=headers,
            head_only=self.command == "HEAD",
        )

    def _read_body(self, sink=None) -> bytes:
        """The request body (Content-Length or chunked), bounded by `max_body`; streamed to `sink` if given."""
        self._body_consumed = True
        limit = self.server.max_body
        chunks: list[bytes] = []
        total = 0

        def take(data: bytes) -> None:
            nonlocal total
            total += len(data)
            if total > limit:
                self.close_connection = True
                raise HubError(413, f"Request body over the emulator's limit of {limit} bytes")
            if sink is not None:
                sink(data)
            else:
                chunks.append(data)

        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                remaining = size
                while remaining:
                    data = self.rfile.read(min(remaining, 1 << 20))
                    if not data:
                        raise HubError(400, "Truncated chunked body")
                    take(data)
                    remaining -= len(data)
                self.rfile.readline()
        else:
            remaining = int(self.headers.get("Content-Length") or 0)
            if remaining > limit:
                self.close_connection = True
                raise HubError(413, f"Request body over the emulator's limit of {limit} bytes")
            while remaining:
                data = self.rfile.read(min(remaining, 1 << 20))
                if not data:
                    raise HubError(400, "Truncated body")
                take(data)
                remaining -= len(data)
        return b"".join(chunks)

    def _read_json(self):
        raw = self._read_body()
        try:
            return json.loads(raw or b"{}")
        except json.JSONDecodeError as err:
            raise HubError(400, f"Request body is not valid JSON: {err}") from None

    def _token(self) -> str | None:
        auth = self.headers.get("Authorization") or ""
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()
            return token or None
        return None

    def _check_token(self, required: bool) -> str | None:
        token = self._token()
        if (
            token is not None
            and self.server.valid_tokens is not None
            and token not in self.server.valid_tokens
        ):
            raise HubError(401, "Invalid credentials in Authorization header")
        if token is None and required:
            raise HubError(
                401,
                "Unauthorized: this write needs a token (header 'Authorization: Bearer <token>'); "
                "set HF_TOKEN or pass token=... to the client.",
            )
        return token

    def _check_read(self, repo_type: str, repo_id: str) -> dict:
        token = self._check_token(required=False)
        meta = self.server.store.repo_meta(repo_type, repo_id)
        if meta["private"] and token is None:
            raise HubError(401, f"Repository {repo_type} '{repo_id}' not found.", code="RepoNotFound")
        return meta

    # -- routing -------------------------------------------------------------------------------------------
    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        self.query = parse_qs(url.query)
        # Split the raw path before unquoting: revisions such as "refs%2Fpr%2F1" hold quoted slashes.
        parts = [unquote(p) for p in url.path.split("/")[1:]]
        if parts and parts[-1] == "" and len(parts) > 1:
            parts = parts[:-1]

        if parts[:1] == ["api"]:
            return self._route_api(method, parts[1:])
        if parts[:1] == ["lfs-upload"] and len(parts) == 2 and method == "PUT":
            return self._lfs_put(parts[1])
        repo_type = "model"
        if parts[:1] in (["datasets"], ["spaces"]):
            repo_type, parts = parts[0][:-1], parts[1:]
        is_batch = (
            len(parts) >= 2 and parts[1].endswith(".git") and parts[2:] == ["info", "lfs", "objects", "batch"]
        )
        if is_batch and method == "POST":
            return self._lfs_batch(repo_type, f"{parts[0]}/{parts[1][: -len('.git')]}")
        if len(parts) >= 4 and parts[1] == "resolve":  # a repo id without namespace
            raise HubError(404, f"Repository {repo_type} '{parts[0]}' not found.", code="RepoNotFound")
        if len(parts) >= 5 and parts[2] == "resolve" and method in ("GET", "HEAD"):
            return self._resolve(repo_type, f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]), method)
        raise HubError(404, f"Not found: {method} {url.path} (the emulator does not implement it)")

    def _route_api(self, method: str, parts: list[str]) -> None:
        if parts == ["whoami-v2"] and method == "GET":
            token = self._check_token(required=True)
            return self._send_json(
                {
                    "type": "user",
                    "id": "0" * 24,
                    "name": EMULATOR_USER,
                    "fullname": "Hub Emulator",
                    "email": None,
                    "emailVerified": False,
                    "canPay": False,
                    "isPro": False,
                    "orgs": [],
                    "auth": {
                        "type": "access_token",
                        "accessToken": {"displayName": token[:4] + "...", "role": "write"},
                    },
                }
            )
        if parts == ["agent-harnesses"] and method == "GET":
            return self._send_json({"standardEnvVars": [], "harnesses": {}})
        if parts == ["validate-yaml"] and method == "POST":
            return self._validate_yaml()
        if parts == ["repos", "create"] and method == "POST":
            return self._create_repo()
        if parts[:2] == ["repos", "delete"] and method == "DELETE":
            return self._delete_repo()
        if len(parts) == 2 and parts[0] in ("models", "datasets", "spaces"):
            # A repo id without namespace: the Hub's legacy canonical repos, none of which exist here.
            raise HubError(404, f"Repository {parts[0][:-1]} '{parts[1]}' not found.", code="RepoNotFound")
        if len(parts) >= 3 and parts[0] in ("models", "datasets", "spaces"):
            repo_type, repo_id, rest = parts[0][:-1], f"{parts[1]}/{parts[2]}", parts[3:]
            if not rest and method == "GET":
                return self._repo_info(repo_type, repo_id, "main")
            action, args = rest[0], rest[1:]
            if action == "revision" and len(args) == 1 and method == "GET":
                return self._repo_info(repo_type, repo_id, args[0])
            if action == "tree" and args and method == "GET":
                return self._tree(repo_type, repo_id, args[0], "/".join(args[1:]))
            if action == "paths-info" and len(args) == 1 and method == "POST":
                return self._paths_info(repo_type, repo_id, args[0])
            if action == "refs" and not args and method == "GET":
                return self._refs(repo_type, repo_id)
            if action.startswith("xet-"):
                raise HubError(
                    501,
                    "The Hub emulator speaks classic LFS only: set HF_HUB_DISABLE_XET=1 in the client's env.",
                )
            if action == "branch" and len(args) == 1 and method in ("POST", "DELETE"):
                return self._branch(repo_type, repo_id, args[0], method)
            if action == "tag" and len(args) == 1 and method in ("POST", "DELETE"):
                return self._tag(repo_type, repo_id, args[0], method)
            if action == "commits" and len(args) == 1 and method == "GET":
                return self._commits(repo_type, repo_id, args[0])
            if action == "preupload" and len(args) == 1 and method == "POST":
                return self._preupload(repo_type, repo_id, args[0])
            if action == "commit" and len(args) == 1 and method == "POST":
                return self._commit(repo_type, repo_id, args[0])
        raise HubError(
            404, f"Not found: {method} /api/{'/'.join(parts)} (the emulator does not implement it)"
        )

    # -- endpoints -----------------------------------------------------------------------------------------
    def _validate_yaml(self) -> None:
        content = self._read_json().get("content", "")
        if content.startswith("---") and "\n---" not in content[3:]:
            raise HubError(
                400, "Invalid metadata in README.md: the YAML block opened by '---' is never closed"
            )
        self._send_json({"errors": [], "warnings": []})

    def _create_repo(self) -> None:
        self._check_token(required=True)
        payload = self._read_json()
        repo_type = payload.get("type") or "model"
        name, namespace = payload.get("name"), payload.get("organization") or EMULATOR_USER
        if repo_type not in REPO_TYPES:
            raise HubError(400, f"Invalid repo type {repo_type!r}")
        if not isinstance(name, str) or not _NAME_RE.match(name) or not _NAME_RE.match(namespace):
            raise HubError(
                400, f"Invalid repo name {namespace}/{name}: use letters, digits, '-', '_' and '.'"
            )
        repo_id = f"{namespace}/{name}"
        private = payload.get("visibility") == "private" or bool(payload.get("private"))
        url = f"{self.base_url}/{_prefix(repo_type)}{repo_id}"
        try:
            self.server.store.create_repo(repo_type, repo_id, private)
        except HubError as err:
            if err.status == 409:
                return self._send(
                    409,
                    json.dumps({"error": err.message, "url": url}).encode(),
                    headers={"X-Error-Message": err.message},
                )
            raise
        self._send_json({"url": url, "name": repo_id, "id": repo_id})

    def _delete_repo(self) -> None:
        self._check_token(required=True)
        payload = self._read_json()
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or EMULATOR_USER}/{payload.get('name')}"
        store = self.server.store
        with store.lock:
            store.repo_meta(repo_type, repo_id)
            shutil.rmtree(store.repo_dir(repo_type, repo_id))
        self._send_json({})

    def _repo_info(self, repo_type: str, repo_id: str, revision: str) -> None:
        meta = self._check_read(repo_type, repo_id)
        sha, commit = self.server.store.resolve(repo_type, repo_id, revision)
        blobs = _flag(self.query, "blobs")
        siblings = []
        for path, entry in sorted(commit["files"].items()):
            sibling = {"rfilename": path}
            if blobs:
                sibling.update(size=entry["size"], blobId=entry["oid"])
                if entry["lfs"]:
                    sibling["lfs"] = {
                        "size": entry["size"],
                        "sha256": entry["sha256"],
                        "pointerSize": entry["pointerSize"],
                    }
            siblings.append(sibling)
        namespace = repo_id.split("/")[0]
        info = {
            "_id": sha[:24],
            "id": repo_id,
            "author": namespace,
            "sha": sha,
            "lastModified": commit["date"],
            "createdAt": meta["createdAt"],
            "private": meta["private"],
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
            "usedStorage": sum(e["size"] for e in commit["files"].values()),
        }
        if repo_type == "model":
            info["modelId"] = repo_id
        self._send_json(info)

    def _entry_json(self, path: str, entry: dict) -> dict:
        out = {"type": "file", "oid": entry["oid"], "size": entry["size"], "path": path}
        if entry["lfs"]:
            out["lfs"] = {"oid": entry["sha256"], "size": entry["size"], "pointerSize": entry["pointerSize"]}
        return out

    def _listing(self, repo_type: str, repo_id: str, revision: str) -> tuple[str, dict, dict[str, dict]]:
        """(sha, files, folders) where folders maps each directory path to a stable tree id."""
        self._check_read(repo_type, repo_id)
        sha, commit = self.server.store.resolve(repo_type, repo_id, revision)
        files = commit["files"]
        folders: dict[str, list[str]] = {}
        for path, entry in files.items():
            parts = path.split("/")
            for i in range(1, len(parts)):
                folders.setdefault("/".join(parts[:i]), []).append(f"{path}:{entry['oid']}")
        tree_ids = {f: hashlib.sha1("\n".join(sorted(v)).encode()).hexdigest() for f, v in folders.items()}
        return sha, files, tree_ids

    def _last_commits(self, repo_type: str, repo_id: str, sha: str, paths: list[str]) -> dict[str, dict]:
        """For each path (file or folder), the newest commit at or before `sha` that changed it."""
        history = self.server.store.history(repo_type, repo_id, sha)
        out: dict[str, dict] = {}

        def snapshot(commit: dict, path: str):
            files = commit["files"]
            if path in files:
                return files[path]["oid"]
            prefix = path + "/"
            return tuple(sorted((p, e["oid"]) for p, e in files.items() if p.startswith(prefix))) or None

        for path in paths:
            for i, commit in enumerate(history):
                parent = history[i + 1] if i + 1 < len(history) else None
                if parent is None or snapshot(commit, path) != snapshot(parent, path):
                    out[path] = {"id": commit["id"], "title": commit["title"], "date": commit["date"]}
                    break
        return out

    def _tree(self, repo_type: str, repo_id: str, revision: str, path: str) -> None:
        sha, files, folders = self._listing(repo_type, repo_id, revision)
        recursive, expand = _flag(self.query, "recursive"), _flag(self.query, "expand")
        path = path.strip("/")
        if path and path not in folders:
            if path in files:  # the Hub answers a file path with that one entry
                return self._send_json([self._entry_json(path, files[path])])
            raise HubError(404, f"Entry not found: {path}", code="EntryNotFound", commit=sha)
        prefix = path + "/" if path else ""

        def wanted(p: str) -> bool:
            return p.startswith(prefix) and (recursive or "/" not in p[len(prefix) :])

        entries = [
            {"type": "directory", "oid": tid, "size": 0, "path": p}
            for p, tid in sorted(folders.items())
            if wanted(p)
        ]
        entries += [self._entry_json(p, e) for p, e in sorted(files.items()) if wanted(p)]
        if expand:
            last = self._last_commits(repo_type, repo_id, sha, [e["path"] for e in entries])
            for e in entries:
                e["lastCommit"] = last.get(e["path"])
        self._send_json(entries)

    def _paths_info(self, repo_type: str, repo_id: str, revision: str) -> None:
        raw = self._read_body()
        if (self.headers.get("Content-Type") or "").startswith("application/json"):
            payload = json.loads(raw or b"{}")
            paths, expand = payload.get("paths", []), bool(payload.get("expand"))
        else:
            form = parse_qs(raw.decode())
            paths, expand = form.get("paths", []), _flag(form, "expand")
        sha, files, folders = self._listing(repo_type, repo_id, revision)
        entries = []
        for p in dict.fromkeys(x.strip("/") for x in paths):
            if p in files:
                entries.append(self._entry_json(p, files[p]))
            elif p in folders:
                entries.append({"type": "directory", "oid": folders[p], "size": 0, "path": p})
        if expand:
            last = self._last_commits(repo_type, repo_id, sha, [e["path"] for e in entries])
            for e in entries:
                e["lastCommit"] = last.get(e["path"])
        self._send_json(entries)

    def _refs(self, repo_type: str, repo_id: str) -> None:
        self._check_read(repo_type, repo_id)
        refs = self.server.store.refs(repo_type, repo_id)
        branches = [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": s} for b, s in sorted(refs.items())]
        tags = self.server.store.tags(repo_type, repo_id)
        tags = [{"name": t, "ref": f"refs/tags/{t}", "targetCommit": s} for t, s in sorted(tags.items())]
        self._send_json({"branches": branches, "tags": tags, "converts": []})

    def _branch(self, repo_type: str, repo_id: str, branch: str, method: str) -> None:
        self._check_write(repo_type, repo_id)
        payload = self._read_json() if method == "POST" else {}
        store = self.server.store
        if method == "DELETE":
            if branch == "main":
                raise HubError(403, "Cannot delete the main branch")
            store.set_ref(repo_type, repo_id, "branch", branch, None)
        else:
            sha, _ = store.resolve(repo_type, repo_id, payload.get("startingPoint") or "main")
            store.set_ref(repo_type, repo_id, "branch", branch, sha)
        self._send_json({})

    def _tag(self, repo_type: str, repo_id: str, name: str, method: str) -> None:
        self._check_write(repo_type, repo_id)
        store = self.server.store
        if method == "DELETE":  # DELETE .../tag/{tag}
            store.set_ref(repo_type, repo_id, "tag", name, None)
        else:  # POST .../tag/{revision} with {"tag": name}
            payload = self._read_json()
            if not payload.get("tag"):
                raise HubError(400, "Tag creation needs a JSON body {'tag': <name>}")
            sha, _ = store.resolve(repo_type, repo_id, name)
            store.set_ref(repo_type, repo_id, "tag", payload["tag"], sha)
        self._send_json({})

    def _commits(self, repo_type: str, repo_id: str, revision: str) -> None:
        self._check_read(repo_type, repo_id)
        sha, _ = self.server.store.resolve(repo_type, repo_id, revision)
        history = self.server.store.history(repo_type, repo_id, sha)
        self._send_json(
            [
                {
                    "id": c["id"],
                    "title": c["title"],
                    "message": c["message"],
                    "date": c["date"],
                    "authors": [{"user": EMULATOR_USER}],
                }
                for c in history
            ]
        )

    def _check_write(self, repo_type: str, repo_id: str) -> None:
        self._check_token(required=True)
        self.server.store.repo_meta(repo_type, repo_id)
        if _flag(self.query, "create_pr"):
            raise HubError(400, "The Hub emulator does not implement pull requests (create_pr=True)")

    def _preupload(self, repo_type: str, repo_id: str, revision: str) -> None:
        self._check_write(repo_type, repo_id)
        payload = self._read_json()
        _, commit = self.server.store.resolve(repo_type, repo_id, revision)
        answers = []
        for item in payload.get("files", []):
            path, size = item["path"], int(item["size"])
            sample = base64.b64decode(item.get("sample") or "")
            mode = "lfs" if _is_lfs_candidate(path, size, sample) else "regular"
            existing = commit["files"].get(path)
            # The client compares this oid with its own: sha256 for LFS files, the git blob sha1 otherwise.
            oid = None
            if existing is not None:
                oid = existing["sha256"] if mode == "lfs" else (None if existing["lfs"] else existing["oid"])
            answers.append({"path": path, "uploadMode": mode, "shouldIgnore": False, "oid": oid})
        self._send_json({"files": answers, "commitOid": None})

    def _commit(self, repo_type: str, repo_id: str, revision: str) -> None:
        self._check_write(repo_type, repo_id)
        store = self.server.store
        header: dict | None = None
        ops: list[dict] = []
        for n, line in enumerate(self._read_body().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                key, value = item["key"], item["value"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise HubError(400, f"Commit payload line {n} is not a {{key, value}} JSON object") from None
            if key == "header":
                header = value
            elif key == "file":
                if value.get("encoding", "base64") != "base64":
                    raise HubError(400, f"Unsupported encoding {value.get('encoding')!r} for {value['path']}")
                data = base64.b64decode(value["content"])
                ops.append(
                    {"op": "add", "path": _clean_path(value["path"]), "entry": _regular_entry(store, data)}
                )
            elif key == "lfsFile":
                oid = value["oid"]
                if not store.has_object(oid):
                    raise HubError(
                        422, f"LFS object {oid} for {value['path']} was never uploaded (batch + PUT)"
                    )
                size = store.object_path(oid).stat().st_size
                if value.get("size") not in (None, size):
                    raise HubError(422, f"LFS object {oid} has {size} bytes, commit says {value['size']}")
                ops.append({"op": "add", "path": _clean_path(value["path"]), "entry": _lfs_entry(oid, size)})
            elif key in ("deletedFile", "deletedFolder"):
                op = "delete" if key == "deletedFile" else "delete_folder"
                ops.append({"op": op, "path": _clean_path(value["path"])})
            else:
                raise HubError(400, f"Unknown commit operation {key!r} (line {n})")
        if header is None or not header.get("summary"):
            raise HubError(400, "Commit payload lacks a header line with a non-empty summary")
        sha = store.apply_commit(
            repo_type,
            repo_id,
            revision,
            header["summary"],
            header.get("description", ""),
            ops,
            parent_commit=header.get("parentCommit"),
        )
        self._send_json(
            {
                "success": True,
                "commitOid": sha,
                "pullRequestUrl": None,
                "hookOutput": "",
                "commitUrl": f"{self.base_url}/{_prefix(repo_type)}{repo_id}/commit/{sha}",
            }
        )

    def _lfs_batch(self, repo_type: str, repo_id: str) -> None:
        self._check_write(repo_type, repo_id)
        payload = self._read_json()
        if payload.get("operation") != "upload":
            raise HubError(400, "The emulator's LFS batch endpoint only implements operation 'upload'")
        store = self.server.store
        objects = []
        for obj in payload.get("objects", []):
            oid, size = obj.get("oid", ""), obj.get("size")
            if not _SHA256_RE.match(oid) or not isinstance(size, int):
                objects.append(
                    {
                        "oid": str(oid),
                        "size": int(size or 0),
                        "error": {"code": 422, "message": "oid must be a sha256 hex digest"},
                    }
                )
            elif store.has_object(oid):
                objects.append({"oid": oid, "size": size})  # no actions: already stored
            else:
                href = f"{self.base_url}/lfs-upload/{oid}?size={size}"
                objects.append(
                    {
                        "oid": oid,
                        "size": size,
                        "authenticated": True,
                        "actions": {"upload": {"href": href, "expires_in": 3600}},
                    }
                )
        self._send_json(
            {"transfer": "basic", "objects": objects, "hash_algo": "sha256"},
            content_type="application/vnd.git-lfs+json",
        )

    def _lfs_put(self, oid: str) -> None:
        if not _SHA256_RE.match(oid):
            raise HubError(400, f"Bad LFS oid {oid!r}")
        store = self.server.store
        digest = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(dir=store.objects, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as f:

                def sink(data: bytes) -> None:
                    digest.update(data)
                    f.write(data)

                self._read_body(sink)
            expected = self.query.get("size", [None])[0]
            size = os.path.getsize(tmp)
            if digest.hexdigest() != oid or (expected is not None and int(expected) != size):
                raise HubError(
                    400,
                    f"Uploaded body (sha256 {digest.hexdigest()}, {size} bytes) does not match "
                    f"LFS object {oid} ({expected} bytes)",
                )
            os.replace(tmp, store.object_path(oid))
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self._send(200, b"", headers={"ETag": f'"{oid}"'})

    def _resolve(self, repo_type: str, repo_id: str, revision: str, path: str, method: str) -> None:
        self._check_read(repo_type, repo_id)
        store = self.server.store
        sha, commit = store.resolve(repo_type, repo_id, revision)
        entry = commit["files"].get(path)
        if entry is None:
            raise HubError(404, f"Entry not found: {path}", code="EntryNotFound", commit=sha)
        size = entry["size"]
        etag = entry["sha256"] if entry["lfs"] else entry["oid"]
        headers = {
            "X-Repo-Commit": sha,
            "ETag": f'"{etag}"',
            "Accept-Ranges": "bytes",
            "Content-Disposition": f'inline; filename="{path.rsplit("/", 1)[-1]}"',
        }
        if entry["lfs"]:
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(size)})
        start, end, status = 0, size - 1, 200
        range_header = self.headers.get("Range")
        if range_header:
            parsed = _parse_range(range_header, size)
            if parsed is None:
                raise HubError(416, f"Range {range_header} not satisfiable for {size} bytes")
            start, end = parsed
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        length = max(0, end - start + 1)
        headers["Content-Length"] = str(length)
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        for key, value in headers.items():
            self.send_header(key, _ascii(value))
        self.end_headers()
        if method == "HEAD" or length == 0:
            return
        with open(store.object_path(entry["sha256"]), "rb") as f:
            f.seek(start)
            remaining = length
            while remaining:
                data = f.read(min(remaining, 1 << 20))
                if not data:
                    break
                self.wfile.write(data)
                remaining -= len(data)


def _ascii(value: str) -> str:
    """Header values must be latin-1: escape anything else (unicode file names, messages)."""
    return value.encode("ascii", "backslashreplace").decode()


def _prefix(repo_type: str) -> str:
    return "" if repo_type == "model" else f"{repo_type}s/"


def _flag(query: dict[str, list[str]], name: str) -> bool:
    return (query.get(name) or ["false"])[-1].lower() in ("1", "true", "yes")


def _clean_path(path: str) -> str:
    parts = path.replace("\\", "/").strip("/").split("/")
    if not path or any(p in ("", ".", "..") for p in parts) or parts[0] == ".git":
        raise HubError(400, f"Invalid path in repo: {path!r}")
    return "/".join(parts)


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """Inclusive (start, end) for a single `bytes=` range, None if unsatisfiable."""
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if not match or (not match.group(1) and not match.group(2)):
        return None
    if not match.group(1):  # suffix range: the last N bytes
        n = int(match.group(2))
        return (max(0, size - n), size - 1) if n > 0 and size > 0 else None
    start = int(match.group(1))
    end = int(match.group(2)) if match.group(2) else size - 1
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)


_ACTIVE: dict[str, Path] = {}  # endpoint -> request log of the emulators running in this process


class HubEmulator:
    """The server plus its thread. `start()` binds `127.0.0.1:port` (0 = a free port); `stop()` is clean.

    Args:
        root (`str` or `os.PathLike`): folder for the repos, the objects and `requests.log`.
        port (`int`, *optional*, defaults to 0): TCP port; 0 picks a free one.
        host (`str`, *optional*, defaults to `"127.0.0.1"`).
        valid_tokens (`set[str]`, *optional*): if given, only these tokens are accepted (others get 401
            "Invalid credentials in Authorization header"); by default any non-empty token is.
        max_body (`int`, *optional*): largest accepted request body, in bytes.
        max_concurrent (`int`, *optional*): requests served at once.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        port: int = 0,
        host: str = "127.0.0.1",
        valid_tokens: set[str] | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
    ):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.store = HubStore(self.root)
        self.log_path = self.root / "requests.log"
        self.server = HubEmulatorServer(
            (host, port), self.store, self.log_path, valid_tokens, max_body, max_concurrent
        )
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubEmulator:
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, name="hub-emulator", daemon=True
        )
        self._thread.start()
        _ACTIVE[self.endpoint] = self.log_path
        return self

    def stop(self) -> None:
        _ACTIVE.pop(self.endpoint, None)
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self.server.server_close()

    def __enter__(self) -> HubEmulator:  # noqa: PYI034
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@contextlib.contextmanager
def running_hub(tmp_dir: str | os.PathLike, **kwargs) -> Iterator[str]:
    """Run a Hub emulator storing under `tmp_dir`; yields its endpoint URL (`http://127.0.0.1:<port>`).

    Extra keyword arguments go to [`HubEmulator`]. The request log is `<tmp_dir>/requests.log`.
    """
    with HubEmulator(tmp_dir, **kwargs) as hub:
        yield hub.endpoint


# Variables that would point a client at another cache or force it offline.
_CLEARED_ENV = (
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "HF_DATASETS_CACHE",
    "HF_TOKEN_PATH",
    "HF_XET_CACHE",
    "HF_ASSETS_CACHE",
)


def hub_env(endpoint: str, hf_home: str | os.PathLike, token: str | None = "dummy") -> dict[str, str]:
    """Environment for a client subprocess talking to the emulator at `endpoint`.

    Sets `HF_ENDPOINT`, `HF_TOKEN` (removed when `token` is None), `HF_HUB_DISABLE_XET=1` (classic LFS upload),
    `HF_HOME` (a fresh cache), `HF_HUB_OFFLINE=0`; removes `HF_DATASETS_OFFLINE` and other cache/offline
    overrides; puts the repository root on `PYTHONPATH` and keeps 127.0.0.1 away from any proxy.
    """
    env = dict(os.environ)
    for key in _CLEARED_ENV:
        env.pop(key, None)
    env.update(
        {
            "HF_ENDPOINT": endpoint,
            "HF_HUB_DISABLE_XET": "1",
            "HF_HOME": str(hf_home),
            "HF_HUB_OFFLINE": "0",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
        }
    )
    if token is None:
        env.pop("HF_TOKEN", None)
    else:
        env["HF_TOKEN"] = token
    no_proxy = ",".join(x for x in (env.get("NO_PROXY"), "127.0.0.1", "localhost") if x)
    env["NO_PROXY"] = env["no_proxy"] = no_proxy
    repo_root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(x for x in (repo_root, env.get("PYTHONPATH")) if x)
    return env


def run_hub_client(
    code: str,
    endpoint: str,
    hf_home: str | os.PathLike,
    timeout: float = 120,
    token: str | None = "dummy",
    check: bool = True,
) -> subprocess.CompletedProcess:
    """Run `code` in a fresh Python with [`hub_env`]; returns the completed process (text stdout/stderr).

    With `check=True` a non-zero exit raises `AssertionError` carrying the client's output tail and, when the
    emulator runs in this process, the tail of its request log.
    """
    proc = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        env=hub_env(endpoint, hf_home, token=token),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"hub client exited with {proc.returncode}\n--- stdout ---\n{proc.stdout[-4000:]}\n"
            f"--- stderr ---\n{proc.stderr[-8000:]}\n--- emulator requests (tail) ---\n{_log_tail(endpoint)}"
        )
    return proc


def _log_tail(endpoint: str, lines: int = 40) -> str:
    log_path = _ACTIVE.get(endpoint)
    if log_path is None or not log_path.is_file():
        return "(no emulator log in this process)"
    return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Hugging Face Hub emulator for tests.")
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: a free one)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--root", required=True, help="storage folder (repos, objects, requests.log)")
    args = parser.parse_args(argv)
    hub = HubEmulator(args.root, port=args.port, host=args.host)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    hub.start()
    print(f"Hub emulator serving {hub.endpoint} (root {hub.root}, log {hub.log_path})", flush=True)
    stop.wait()
    hub.stop()


if __name__ == "__main__":
    main()
