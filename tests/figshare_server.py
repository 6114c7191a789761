"""A local stand-in for Figshare's public API v2 and its download routes, for tests.

    with FigshareServer({"processed.zip": zip_bytes}) as server:
        server.routes            # route templates for hf_loader.figshare
        server.behaviour["primary"] = "403"

Endpoints (all on 127.0.0.1, a random port):
    GET  /v2/articles/<id>                       article record with a `files` list
    GET  /v2/articles/<id>/files?page=&page_size= the same files, paginated
    GET|HEAD /ndownloader/files/<file id>        route "primary" (each file's `download_url`)
    GET|HEAD /v2/file/download/<file id>         route "api" (`{api_url}/file/download/{id}`)
    GET|HEAD /mirror/files/<file id>             route "mirror" (stands in for ndownloader.figshare.com)

`behaviour[route]` is one of:
    "ok"        the file's bytes
    "403"       403 Forbidden (Figshare's bot check)
    "empty"     200 with an empty body
    "truncated" 200 with the first half of the bytes and a matching (short) Content-Length
    "cut"       200 announcing the full Content-Length, then the connection closes halfway
    "corrupt"   200 with the right length but flipped bytes
    "stall"     accepts the request, then sends nothing for `stall_seconds` (a hung server)
`listing` is "ok", "paginated-404" (only the article record works) or "down" (500 everywhere).
`version` is the article's version (in the article record); `replace(name, data)` publishes a new
version of a file (same id, new bytes, new md5 and size) and bumps it. `announce_size=False` leaves
`size` out of the listing (with `announce_md5=False`, nothing can be checked).
Every request is logged in `requests` as (method, path) so tests can see which routes were used.
The ETag of a file never changes with the behaviour, as on a real CDN serving a bad copy.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qs, urlparse

ROUTES = ("primary", "api", "mirror")
_ROUTE_PREFIXES = {"primary": "/ndownloader/files/", "api": "/v2/file/download/", "mirror": "/mirror/files/"}


class FigshareServer:
    """Serves `files` (name -> bytes) as Figshare article `article_id`.

    Args:
        files: file name -> content.
        article_id: the article id to answer for.
        first_file_id: ids are assigned from here, in the order of `files`.
        announce_md5: put the md5 in `computed_md5` (True), only in `supplied_md5` ("supplied"), or nowhere
            (False).
        announce_size: put each file's size in the listing.
    """

    def __init__(
        self,
        files: dict[str, bytes],
        article_id: int = 26889334,
        first_file_id: int = 48000000,
        announce_md5: bool | str = True,
        announce_size: bool = True,
    ):
        self.article_id = article_id
        self.files = {first_file_id + index: (name, data) for index, (name, data) in enumerate(files.items())}
        self.announce_md5 = announce_md5
        self.announce_size = announce_size
        self.version = 1
        self.stall_seconds = 30.0
        self.behaviour = {route: "ok" for route in ROUTES}
        self.listing = "ok"
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/v2"

    @property
    def routes(self) -> tuple[str, ...]:
        """Route templates for `hf_loader.figshare`, mirroring its defaults on this server."""
        return (
            "{download_url}",
            "{api_url}/file/download/{file_id}",
            self.base_url + "/mirror/files/{file_id}",
        )

    def file_entries(self) -> list[dict]:
        entries = []
        for file_id, (name, data) in self.files.items():
            md5 = hashlib.md5(data).hexdigest() if self.announce_md5 else ""
            entries.append(
                {
                    "id": file_id,
                    "name": name,
                    "size": len(data) if self.announce_size else None,
                    "is_link_only": False,
                    "download_url": f"{self.base_url}/ndownloader/files/{file_id}",
                    "supplied_md5": md5,
                    "computed_md5": "" if self.announce_md5 == "supplied" else md5,
                    "mimetype": "application/zip" if name.endswith(".zip") else "application/octet-stream",
                }
            )
        return entries

    def replace(self, name: str, data: bytes) -> None:
        """Publish new bytes for the file called `name` (same id), as a new version of the article."""
        with self._lock:
            file_id = next(file_id for file_id, (file_name, _) in self.files.items() if file_name == name)
            self.files[file_id] = (name, data)
            self.version += 1

    def downloads(self, route: str, name: str | None = None) -> int:
        """How many GET requests reached `route` (for the file called `name`, or any file)."""
        prefix = _ROUTE_PREFIXES[route]
        if name is not None:
            prefix += str(
                next(file_id for file_id, (file_name, _) in self.files.items() if file_name == name)
            )
        with self._lock:
            return sum(1 for method, path in self.requests if method == "GET" and path.startswith(prefix))

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_HEAD(self):
                self._answer(head=True)

            def do_GET(self):
                self._answer(head=False)

            def _send(
                self,
                status: int,
                body: bytes,
                content_type: str,
                head: bool,
                length: int | None = None,
                etag: str | None = None,
                close: bool = False,
            ):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body) if length is None else length))
                if etag:
                    self.send_header("ETag", f'"{etag}"')
                if close:
                    self.send_header("Connection", "close")
                self.end_headers()
                if not head:
                    self.wfile.write(body)
                    self.wfile.flush()
                if close:
                    self.close_connection = True

            def _json(self, payload, head: bool, status: int = 200):
                self._send(status, json.dumps(payload).encode(), "application/json", head)

            def _answer(self, head: bool):
                url = urlparse(self.path)
                with server._lock:
                    server.requests.append((self.command, url.path))
                article = f"/v2/articles/{server.article_id}"
                if url.path in (article, article + "/files"):
                    return self._listing(url, article, head)
                for route, prefix in _ROUTE_PREFIXES.items():
                    if url.path.startswith(prefix):
                        return self._file(route, url.path[len(prefix) :], head)
                self._json({"message": "not found"}, head, status=404)

            def _listing(self, url, article: str, head: bool):
                if server.listing == "down":
                    return self._json({"message": "server error"}, head, status=500)
                entries = server.file_entries()
                if url.path == article:
                    return self._json(
                        {
                            "id": server.article_id,
                            "title": "AHU",
                            "version": server.version,
                            "files": entries,
                        },
                        head,
                    )
                if server.listing == "paginated-404":
                    return self._json({"message": "not found"}, head, status=404)
                query = parse_qs(url.query)
                page = int(query.get("page", ["1"])[0])
                page_size = int(query.get("page_size", ["10"])[0])
                self._json(entries[(page - 1) * page_size : page * page_size], head)

            def _file(self, route: str, file_id: str, head: bool):
                if not file_id.isdigit() or int(file_id) not in server.files:
                    return self._json({"message": "file not found"}, head, status=404)
                _, data = server.files[int(file_id)]
                etag = hashlib.md5(data).hexdigest()
                mode = server.behaviour[route]
                binary = "application/octet-stream"
                if mode == "stall":
                    time.sleep(server.stall_seconds)
                    return self._send(503, b"", "text/plain", head, close=True)
                if mode == "403":
                    return self._send(403, b"Forbidden", "text/plain", head, close=True)
                if mode == "empty":
                    return self._send(200, b"", binary, head, etag=etag)
                if mode == "truncated":
                    return self._send(200, data[: len(data) // 2], binary, head, etag=etag)
                if mode == "corrupt":
                    return self._send(200, bytes(byte ^ 0xFF for byte in data), binary, head, etag=etag)
                if mode == "cut":
                    if head:
                        return self._send(200, data, binary, head, etag=etag)
                    return self._send(
                        200, data[: len(data) // 2], binary, head, length=len(data), etag=etag, close=True
                    )
                self._send(200, data, binary, head, etag=etag)

        return Handler
