"""Round trips through the local Hub emulator (tests/hub_emulator.py).

Client code runs in a subprocess (`run_hub_client`): `huggingface_hub` reads HF_ENDPOINT / HF_TOKEN /
HF_HUB_OFFLINE at import, and this test process runs offline (conftest). Protocol details (Range, headers,
error codes, listing) are checked in-process with urllib.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.hub_emulator import EMULATOR_USER, HubEmulator, git_blob_oid, hub_env, run_hub_client, running_hub

AUTH = {"Authorization": "Bearer test-token"}


def _http(method: str, url: str, body: bytes | None = None, headers: dict | None = None):
    """(status, headers, body) of one request; HTTP errors are returned, not raised."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def _push_raw(
    endpoint: str, repo: str, files: dict[str, bytes], lfs: set[str] = frozenset(), summary="c"
) -> str:
    """Create `repo` (if needed) and commit `files` with the raw protocol; returns the commit sha."""
    ns, name = repo.split("/")
    _http(
        "POST", f"{endpoint}/api/repos/create", json.dumps({"name": name, "organization": ns}).encode(), AUTH
    )
    lines = [{"key": "header", "value": {"summary": summary, "description": ""}}]
    for path, data in files.items():
        if path in lfs:
            oid = hashlib.sha256(data).hexdigest()
            batch = {
                "operation": "upload",
                "objects": [{"oid": oid, "size": len(data)}],
                "hash_algo": "sha256",
            }
            status, _, body = _http(
                "POST", f"{endpoint}/{repo}.git/info/lfs/objects/batch", json.dumps(batch).encode(), AUTH
            )
            assert status == 200, body
            action = json.loads(body)["objects"][0].get("actions")
            if action:
                status, _, body = _http("PUT", action["upload"]["href"], data)
                assert status == 200, body
            lines.append(
                {"key": "lfsFile", "value": {"path": path, "algo": "sha256", "oid": oid, "size": len(data)}}
            )
        else:
            content = base64.b64encode(data).decode()
            lines.append({"key": "file", "value": {"path": path, "content": content, "encoding": "base64"}})
    payload = b"".join(json.dumps(x).encode() + b"\n" for x in lines)
    status, _, body = _http(
        "POST",
        f"{endpoint}/api/models/{repo}/commit/main",
        payload,
        {**AUTH, "Content-Type": "application/x-ndjson"},
    )
    assert status == 200, body
    return json.loads(body)["commitOid"]


# ------------------------------------------------------------------------------------------------------------
# Protocol checks (in-process, no huggingface_hub client)
# ------------------------------------------------------------------------------------------------------------


def test_resolve_headers_range_and_errors(tmp_path):
    big = os.urandom(3000)
    with running_hub(tmp_path / "hub") as ep:
        files = {"a.txt": b"hello world", "w/x.bin": big, "数据/é ü.txt": "ünïcode".encode()}
        sha = _push_raw(ep, "org/r", files, lfs={"w/x.bin"})
        status, _, body = _http("GET", f"{ep}/org/r/resolve/main/" + urllib.parse.quote("数据/é ü.txt"))
        assert (status, body.decode()) == (200, "ünïcode")
        status, headers, _ = _http("HEAD", f"{ep}/org/r/resolve/main/" + urllib.parse.quote("数据/nö.txt"))
        assert status == 404 and "\\u6570\\u636e/n\\xf6.txt" in headers["X-Error-Message"]

        status, headers, body = _http("HEAD", f"{ep}/org/r/resolve/main/w/x.bin")
        assert status == 200 and body == b""
        assert headers["X-Repo-Commit"] == sha
        assert headers["X-Linked-Etag"].strip('"') == hashlib.sha256(big).hexdigest()
        assert headers["X-Linked-Size"] == "3000" and headers["Content-Length"] == "3000"

        status, headers, body = _http("GET", f"{ep}/org/r/resolve/{sha}/a.txt")
        assert (status, body) == (200, b"hello world")
        assert headers["ETag"].strip('"') == git_blob_oid(b"hello world") and "X-Linked-Etag" not in headers

        status, headers, body = _http(
            "GET", f"{ep}/org/r/resolve/main/w/x.bin", headers={"Range": "bytes=10-19"}
        )
        assert (status, body, headers["Content-Range"]) == (206, big[10:20], "bytes 10-19/3000")
        status, _, body = _http("GET", f"{ep}/org/r/resolve/main/w/x.bin", headers={"Range": "bytes=-5"})
        assert (status, body) == (206, big[-5:])
        status, _, body = _http("GET", f"{ep}/org/r/resolve/main/w/x.bin", headers={"Range": "bytes=2990-"})
        assert (status, body) == (206, big[2990:])
        status, _, _ = _http("GET", f"{ep}/org/r/resolve/main/w/x.bin", headers={"Range": "bytes=5000-"})
        assert status == 416

        status, headers, _ = _http("HEAD", f"{ep}/org/r/resolve/main/missing.txt")
        assert (
            status == 404 and headers["X-Error-Code"] == "EntryNotFound" and headers["X-Repo-Commit"] == sha
        )
        status, headers, _ = _http("GET", f"{ep}/org/r/resolve/nobranch/a.txt")
        assert status == 404 and headers["X-Error-Code"] == "RevisionNotFound"
        for url in (f"{ep}/api/models/org/nope", f"{ep}/api/models/gpt2", f"{ep}/gpt2/resolve/main/config.json",
                    f"{ep}/api/models/org/..%2F..%2Fobjects", f"{ep}/api/models/../.."):  # fmt: skip
            status, headers, _ = _http("GET", url)
            assert status == 404 and headers["X-Error-Code"] == "RepoNotFound", url
        status, _, body = _http("GET", f"{ep}/api/agent-harnesses")
        assert (status, json.loads(body)) == (200, {"standardEnvVars": [], "harnesses": {}})

    log = (tmp_path / "hub" / "requests.log").read_text()
    assert "HEAD /org/r/resolve/main/w/x.bin -> 200" in log and "-> 416" in log


def test_tree_paths_info_history_and_lfs_dedup(tmp_path):
    with running_hub(tmp_path / "hub") as ep:
        first = _push_raw(
            ep,
            "org/t",
            {"a/b/c.txt": b"1", "a/d.txt": b"2", "e.bin": b"\0" * 10},
            lfs={"e.bin"},
            summary="first",
        )
        second = _push_raw(ep, "org/t", {"a/d.txt": b"22"}, summary="second")

        status, _, body = _http("GET", f"{ep}/api/models/org/t/tree/main?recursive=true&expand=true")
        entries = {e["path"]: e for e in json.loads(body)}
        assert status == 200
        assert set(entries) == {".gitattributes", "a", "a/b", "a/b/c.txt", "a/d.txt", "e.bin"}
        assert entries["a"]["type"] == "directory" and entries["e.bin"]["lfs"]["size"] == 10
        assert (
            entries["a/d.txt"]["lastCommit"]["id"] == second
            and entries["a/b/c.txt"]["lastCommit"]["id"] == first
        )
        assert entries["a"]["lastCommit"]["id"] == second

        status, _, body = _http("GET", f"{ep}/api/models/org/t/tree/{first}/a")
        assert [e["path"] for e in json.loads(body)] == ["a/b", "a/d.txt"]
        _, _, body = _http("GET", f"{ep}/org/t/resolve/{first}/a/d.txt")
        assert body == b"2"

        form = b"paths=a%2Fd.txt&paths=a&paths=nope&expand=false"
        status, _, body = _http(
            "POST",
            f"{ep}/api/models/org/t/paths-info/main",
            form,
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        info = json.loads(body)
        assert [(e["path"], e["type"], e.get("size")) for e in info] == [
            ("a/d.txt", "file", 2),
            ("a", "directory", 0),
        ]

        _, _, body = _http("GET", f"{ep}/api/models/org/t/commits/main")
        assert [c["title"] for c in json.loads(body)] == ["second", "first", "initial commit"]

        # Branches and tags: create from a revision, resolve by name, list, refuse duplicates.
        status, _, _ = _http(
            "POST", f"{ep}/api/models/org/t/branch/dev", json.dumps({"startingPoint": first}).encode(), AUTH
        )
        assert status == 200
        status, _, _ = _http("POST", f"{ep}/api/models/org/t/tag/main", b'{"tag": "v1"}', AUTH)
        assert status == 200
        assert _http("GET", f"{ep}/org/t/resolve/dev/a/d.txt")[2] == b"2"
        assert _http("GET", f"{ep}/org/t/resolve/v1/a/d.txt")[2] == b"22"
        _, _, body = _http("GET", f"{ep}/api/models/org/t/refs")
        refs = json.loads(body)
        assert {b["name"]: b["targetCommit"] for b in refs["branches"]} == {"main": second, "dev": first}
        assert [(t["name"], t["targetCommit"]) for t in refs["tags"]] == [("v1", second)]
        assert _http("POST", f"{ep}/api/models/org/t/branch/dev", b"{}", AUTH)[0] == 409

        # An object already stored gets no upload action (the client then skips the PUT).
        oid = hashlib.sha256(b"\0" * 10).hexdigest()
        batch = {"operation": "upload", "objects": [{"oid": oid, "size": 10}]}
        _, _, body = _http("POST", f"{ep}/org/t.git/info/lfs/objects/batch", json.dumps(batch).encode(), AUTH)
        assert "actions" not in json.loads(body)["objects"][0]
        # A PUT whose body does not hash to the announced oid is refused.
        status, _, _ = _http("PUT", f"{ep}/lfs-upload/{'0' * 64}?size=3", b"abc")
        assert status == 400


def test_writes_need_a_token_and_server_stops_cleanly(tmp_path):
    hub = HubEmulator(tmp_path / "hub", valid_tokens={"good"}).start()
    ep = hub.endpoint
    try:
        status, _, body = _http("POST", f"{ep}/api/repos/create", b'{"name": "x"}')
        assert status == 401 and "token" in json.loads(body)["error"]
        status, _, body = _http(
            "POST", f"{ep}/api/repos/create", b'{"name": "x"}', {"Authorization": "Bearer bad"}
        )
        assert status == 401 and json.loads(body)["error"] == "Invalid credentials in Authorization header"
        status, _, body = _http(
            "POST", f"{ep}/api/repos/create", b'{"name": "x"}', {"Authorization": "Bearer good"}
        )
        assert status == 200 and json.loads(body)["name"] == f"{EMULATOR_USER}/x"
        status, _, _ = _http(
            "POST", f"{ep}/api/repos/create", b'{"name": "x"}', {"Authorization": "Bearer good"}
        )
        assert status == 409
    finally:
        hub.stop()
    port = int(ep.rsplit(":", 1)[1])
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def test_command_line_server(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = Path(__file__).with_name("hub_emulator.py")
    proc = subprocess.Popen(
        [sys.executable, str(script), "--port", str(port), "--root", str(tmp_path / "hub")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert f"http://127.0.0.1:{port}" in proc.stdout.readline()
        status, _, body = _http("GET", f"http://127.0.0.1:{port}/api/whoami-v2", headers=AUTH)
        assert status == 200 and json.loads(body)["name"] == EMULATOR_USER
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    assert "GET /api/whoami-v2 -> 200" in (tmp_path / "hub" / "requests.log").read_text()


# ------------------------------------------------------------------------------------------------------------
# Client round trips (huggingface_hub / datasets / transformers in a subprocess)
# ------------------------------------------------------------------------------------------------------------


def test_hub_env_sets_the_client_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    env = hub_env("http://127.0.0.1:1", tmp_path)
    assert env["HF_ENDPOINT"] == "http://127.0.0.1:1" and env["HF_TOKEN"] == "dummy"
    assert (env["HF_HUB_DISABLE_XET"], env["HF_HUB_OFFLINE"], env["HF_HOME"]) == ("1", "0", str(tmp_path))
    assert "HF_DATASETS_OFFLINE" not in env
    assert "HF_TOKEN" not in hub_env("http://127.0.0.1:1", tmp_path, token=None)


def test_model_round_trip(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    weights = os.urandom(2 * 1024 * 1024)
    (src / "config.json").write_text('{"hidden_size": 8}')
    (src / "model.safetensors").write_bytes(weights)
    (src / "README.md").write_text("---\nlicense: mit\n---\n# Tiny model\n")
    out = tmp_path / "out.json"
    code = f"""
        import json
        from huggingface_hub import HfApi, hf_hub_download, snapshot_download
        api = HfApi()
        repo = api.create_repo("tiny-model").repo_id
        first = api.upload_folder(folder_path={str(src)!r}, repo_id=repo, commit_message="first").oid
        snap = snapshot_download(repo, cache_dir={str(tmp_path / "cache2")!r})
        one = hf_hub_download(repo, "config.json", cache_dir={str(tmp_path / "cache3")!r})
        files = api.list_repo_files(repo)
        lfs = {{f.path: f.lfs is not None for f in api.list_repo_tree(repo)}}
        api.upload_file(path_or_fileobj=b'{{"hidden_size": 16}}', path_in_repo="config.json", repo_id=repo,
                        commit_message="second")
        old = hf_hub_download(repo, "config.json", revision=first)
        new = hf_hub_download(repo, "config.json")
        json.dump(dict(repo=repo, first=first, snap=snap, one=one, files=files, lfs=lfs, old=old, new=new),
                  open({str(out)!r}, "w"))
    """
    with running_hub(tmp_path / "hub") as ep:
        run_hub_client(textwrap.dedent(code), ep, tmp_path / "home", timeout=60)
    res = json.loads(out.read_text())
    assert res["repo"] == f"{EMULATOR_USER}/tiny-model"
    snap = Path(res["snap"])
    for name in ("config.json", "model.safetensors", "README.md"):
        assert (snap / name).read_bytes() == (src / name).read_bytes(), name
    assert Path(res["one"]).read_bytes() == b'{"hidden_size": 8}'
    assert sorted(res["files"]) == [".gitattributes", "README.md", "config.json", "model.safetensors"]
    assert res["lfs"] == {
        ".gitattributes": False,
        "README.md": False,
        "config.json": False,
        "model.safetensors": True,
    }
    assert Path(res["old"]).read_bytes() == b'{"hidden_size": 8}'
    assert Path(res["new"]).read_bytes() == b'{"hidden_size": 16}'
    # The 2 MB weights went through the LFS batch + PUT, not inline in the commit.
    assert (
        "PUT /lfs-upload/" + hashlib.sha256(weights).hexdigest()
        in (tmp_path / "hub" / "requests.log").read_text()
    )


def test_hf_api_surface_and_filesystem(tmp_path):
    """The HfApi / HfFileSystem calls `datasets` and users make beyond upload + download."""
    out = tmp_path / "out.json"
    code = f"""
        import json
        from huggingface_hub import HfApi, HfFileSystem
        api = HfApi()
        repo = api.create_repo("surf", repo_type="dataset").repo_id
        kw = dict(repo_id=repo, repo_type="dataset")
        first = api.upload_file(path_or_fileobj=b"x" * 5000, path_in_repo="a/b.bin", **kw).oid
        api.upload_file(path_or_fileobj=b"hello", path_in_repo="a/c.txt", **kw)
        info = api.get_paths_info(repo, ["a", "a/b.bin", "nope"], expand=True, repo_type="dataset")
        tree = list(api.list_repo_tree(repo, "a", expand=True, repo_type="dataset"))
        siblings = api.dataset_info(repo, files_metadata=True).siblings
        fs = HfFileSystem()
        with fs.open(f"datasets/{{repo}}/a/c.txt", "rb") as f:
            f.seek(1)
            middle = f.read(3).decode()
        res = dict(
            info=[(e.path, type(e).__name__, e.last_commit.oid) for e in info],
            tree=[(e.path, e.size, e.lfs.sha256 if e.lfs else None) for e in tree],
            sizes={{s.rfilename: s.size for s in siblings}},
            exists=[api.file_exists(repo, "a/c.txt", repo_type="dataset"),
                    api.file_exists(repo, "nope", repo_type="dataset"), api.repo_exists("x/y")],
            glob=fs.glob(f"datasets/{{repo}}/**/*.txt"), middle=middle, first=first,
            size=fs.info(f"datasets/{{repo}}/a/b.bin")["size"],
        )
        api.delete_file("a/c.txt", **kw)
        res["after_delete"] = api.list_repo_files(**kw)
        api.delete_folder("a", **kw)
        res["after_delete_folder"] = api.list_repo_files(**kw)
        api.delete_repo(**kw)
        res["exists_after_delete_repo"] = api.repo_exists(**kw)
        json.dump(res, open({str(out)!r}, "w"))
    """
    with running_hub(tmp_path / "hub") as ep:
        run_hub_client(textwrap.dedent(code), ep, tmp_path / "home", timeout=60)
    res = json.loads(out.read_text())
    assert [e[:2] for e in res["info"]] == [["a", "RepoFolder"], ["a/b.bin", "RepoFile"]]
    assert res["info"][1][2] == res["first"] != res["info"][0][2]  # the folder changed again with a/c.txt
    sha = hashlib.sha256(b"x" * 5000).hexdigest()
    assert res["tree"] == [["a/b.bin", 5000, sha], ["a/c.txt", 5, None]]
    assert res["sizes"]["a/b.bin"] == 5000 and res["sizes"]["a/c.txt"] == 5
    assert res["exists"] == [True, False, False]
    assert res["glob"] == [f"datasets/{EMULATOR_USER}/surf/a/c.txt"]
    assert (res["middle"], res["size"]) == ("ell", 5000)
    assert res["after_delete"] == [".gitattributes", "a/b.bin"]
    assert res["after_delete_folder"] == [".gitattributes"]
    assert res["exists_after_delete_repo"] is False


CARD = """---
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*
  - split: test
    path: data/test-*
---
# Tiny dataset
"""


@pytest.mark.slow
def test_dataset_round_trip_load_and_stream(tmp_path):
    import datasets

    rows = {
        "idx": [0, 1, 2, 3, 4],
        "label": ["a", "b", "c", "a", "b"],
        "blob": [bytes([i]) * 5 for i in range(5)],
    }
    ds = datasets.Dataset.from_dict(rows)
    src = tmp_path / "export"
    (src / "data").mkdir(parents=True)
    ds.select(range(2)).to_parquet(str(src / "data" / "train-00000-of-00002.parquet"))
    ds.select(range(2, 4)).to_parquet(str(src / "data" / "train-00001-of-00002.parquet"))
    ds.select(range(4, 5)).to_parquet(str(src / "data" / "test-00000-of-00001.parquet"))
    (src / "README.md").write_text(CARD)
    out = tmp_path / "out.json"
    code = f"""
        import json, datasets
        from huggingface_hub import HfApi
        api = HfApi()
        repo = api.create_repo("tiny-ds", repo_type="dataset").repo_id
        api.upload_folder(folder_path={str(src)!r}, repo_id=repo, repo_type="dataset", commit_message="data")
        def plain(rows):
            return [dict(r, blob=r["blob"].hex()) for r in rows]
        loaded = datasets.load_dataset(repo)
        streamed = datasets.load_dataset(repo, streaming=True)
        res = {{split: dict(loaded=plain(loaded[split]), streamed=plain(streamed[split]))
               for split in ("train", "test")}}
        # datasets' own push_to_hub (a second config in the same repo) must work too.
        loaded["train"].select([3, 1]).push_to_hub(repo, config_name="pushed", split="train")
        res["pushed"] = plain(datasets.load_dataset(repo, "pushed", split="train"))
        json.dump(res, open({str(out)!r}, "w"))
    """
    with running_hub(tmp_path / "hub") as ep:
        run_hub_client(textwrap.dedent(code), ep, tmp_path / "home", timeout=90)
    res = json.loads(out.read_text())
    expected = [{"idx": i, "label": rows["label"][i], "blob": rows["blob"][i].hex()} for i in range(5)]
    assert res["train"]["loaded"] == expected[:4] and res["test"]["loaded"] == expected[4:]
    assert res["train"]["streamed"] == expected[:4] and res["test"]["streamed"] == expected[4:]
    assert res["pushed"] == [expected[3], expected[1]]
    # Streaming read the Parquet shards with byte ranges.
    assert "/resolve/" in (log := (tmp_path / "hub" / "requests.log").read_text()) and "-> 206" in log


def test_unauthorized_write_gives_clear_401(tmp_path):
    code = """
        from huggingface_hub import HfApi
        from huggingface_hub.errors import HfHubHTTPError
        try:
            HfApi().create_repo("nope")
        except HfHubHTTPError as err:
            print("STATUS", err.response.status_code)
            print("MESSAGE", str(err).replace("\\n", " "))
        else:
            raise SystemExit("create_repo without a token succeeded")
    """
    with running_hub(tmp_path / "hub") as ep:
        proc = run_hub_client(textwrap.dedent(code), ep, tmp_path / "home", token=None, timeout=60)
    assert "STATUS 401" in proc.stdout
    assert "this write needs a token" in proc.stdout and "HF_TOKEN" in proc.stdout
    assert not (tmp_path / "hub" / "repos" / "model" / EMULATOR_USER / "nope").exists()


def test_hub_helpers_round_trip_and_errors(tmp_path):
    src = tmp_path / "export"
    (src / "data").mkdir(parents=True)
    (src / "README.md").write_text(CARD)
    (src / "data" / "train-00000-of-00001.parquet").write_bytes(b"PAR1" + os.urandom(100))
    with socket.socket() as s:  # a port nobody listens on once closed
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    code = f"""
        from pathlib import Path
        from hf_loader.hub import HubAuthError, HubNotFoundError, HubOfflineError, pull, push_folder
        src = Path({str(src)!r})
        first = push_folder(src, "ahu", "dataset", commit_message="v1")
        (src / "README.md").write_text("---\\nlicense: mit\\n---\\nv2\\n")
        second = push_folder(src, "{EMULATOR_USER}/ahu", "dataset", commit_message="v2")
        assert first != second and len(second) == 40
        snap = pull("{EMULATOR_USER}/ahu", "dataset")
        assert (snap / "README.md").read_text().endswith("v2\\n")
        assert (snap / "data/train-00000-of-00001.parquet").read_bytes() == \\
            (src / "data/train-00000-of-00001.parquet").read_bytes()
        old = pull("{EMULATOR_USER}/ahu", "dataset", revision=first)
        assert (old / "README.md").read_text() == {CARD!r}
        push_folder(src, "secret", "dataset", private=True)
        dead = "http://127.0.0.1:{dead_port}"
        for call, exc in ((lambda: pull("{EMULATOR_USER}/missing", "dataset"), HubNotFoundError),
                          (lambda: pull("{EMULATOR_USER}/ahu", "dataset", revision="nobranch"), HubNotFoundError),
                          (lambda: push_folder(src, "ahu2", "dataset", token=False), HubAuthError),
                          (lambda: pull("{EMULATOR_USER}/secret", "dataset", token=False), HubNotFoundError),
                          (lambda: pull("{EMULATOR_USER}/never-pulled", "dataset", endpoint=dead), HubOfflineError),
                          (lambda: push_folder(src, "ahu", "dataset", endpoint=dead), HubOfflineError)):
            try:
                call()
            except exc as err:
                print("ERR", type(err).__name__, str(err).replace("\\n", " "))
            else:
                raise SystemExit(f"no {{exc.__name__}}")
    """
    with running_hub(tmp_path / "hub") as ep:
        proc = run_hub_client(textwrap.dedent(code), ep, tmp_path / "home", timeout=60)
    errors = [line for line in proc.stdout.splitlines() if line.startswith("ERR")]
    assert len(errors) == 6, proc.stdout
    assert (
        errors[0].startswith("ERR HubNotFoundError") and "missing" in errors[0] and "repo_type" in errors[0]
    )
    assert errors[1].startswith("ERR HubNotFoundError") and "revision" in errors[1]
    assert errors[2].startswith("ERR HubAuthError") and "401" in errors[2] and "hf auth login" in errors[2]
    assert errors[3].startswith("ERR HubNotFoundError") and "private" in errors[3]
    assert errors[4].startswith("ERR HubOfflineError") and "cannot be reached" in errors[4]
    assert errors[5].startswith("ERR HubOfflineError") and "cannot push to" in errors[5]


def test_hub_helpers_offline_and_bad_input(tmp_path):
    """In this process HF_HUB_OFFLINE=1 (conftest): the helpers must say so instead of a library traceback."""
    from hf_loader.errors import AHUDataError
    from hf_loader.hub import HubAccessError, HubOfflineError, pull, push_folder

    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "a.txt").write_text("x")
    with pytest.raises(HubOfflineError, match="HF_HUB_OFFLINE=1"):
        push_folder(tmp_path / "f", "someone/repo", "dataset")
    with pytest.raises(HubOfflineError, match="no snapshot of it is in the local cache") as info:
        pull("someone/never-pulled", "dataset")
    assert isinstance(info.value, AHUDataError) and info.value.entry == "someone/never-pulled"
    with pytest.raises(HubAccessError, match="does not exist") as info:
        push_folder(tmp_path / "missing", "someone/repo")
    assert info.value.entry == str(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(HubAccessError, match="holds no file"):
        push_folder(tmp_path / "empty", "someone/repo")
    with pytest.raises(HubAccessError, match="repo_type"):
        pull("someone/repo", "models")


MODELING = """
import torch
from transformers import PreTrainedConfig, PreTrainedModel


class TinyConfig(PreTrainedConfig):
    model_type = "tiny-emulator-test"

    def __init__(self, width=4, **kwargs):
        self.width = width
        super().__init__(**kwargs)


class TinyModel(PreTrainedModel):
    config_class = TinyConfig

    def __init__(self, config):
        super().__init__(config)
        self.proj = torch.nn.Linear(config.width, config.width)
        self.post_init()

    def forward(self, x):
        return self.proj(x)
"""


@pytest.mark.slow
def test_transformers_push_to_hub_and_from_pretrained(tmp_path):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "tiny_modeling.py").write_text(MODELING)
    out = tmp_path / "out.json"
    code = f"""
        import json, sys, torch
        sys.path.insert(0, {str(tmp_path / "code")!r})
        from transformers import AutoConfig, AutoModel, BertConfig, BertModel
        torch.manual_seed(0)
        bert = BertModel(BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                    intermediate_size=32, max_position_embeddings=16))
        bert.push_to_hub("tiny-bert")
        back = AutoModel.from_pretrained("{EMULATOR_USER}/tiny-bert")
        a, b = bert.state_dict(), back.state_dict()
        bert_equal = sorted(a) == sorted(b) and all(torch.equal(a[k], b[k]) for k in a)

        from tiny_modeling import TinyConfig, TinyModel
        TinyConfig.register_for_auto_class()
        TinyModel.register_for_auto_class("AutoModel")
        tiny = TinyModel(TinyConfig(width=4))
        tiny.push_to_hub("tiny-remote-code")
        remote = AutoModel.from_pretrained("{EMULATOR_USER}/tiny-remote-code", trust_remote_code=True)
        x = torch.randn(2, 4)
        json.dump(dict(bert_equal=bert_equal, bert_class=type(back).__name__,
                       remote_module=type(remote).__module__, remote_class=type(remote).__name__,
                       same_output=bool(torch.equal(tiny(x), remote(x)))), open({str(out)!r}, "w"))
    """
    with running_hub(tmp_path / "hub") as ep:
        run_hub_client(textwrap.dedent(code), ep, tmp_path / "home", timeout=120)
    res = json.loads(out.read_text())
    assert res["bert_equal"] and res["bert_class"] == "BertModel"
    # Loaded from the code pushed to the repo (transformers' dynamic-module cache), not from our local file.
    assert res["remote_module"].startswith("transformers_modules.") and res["remote_class"] == "TinyModel"
    assert res["same_output"]
