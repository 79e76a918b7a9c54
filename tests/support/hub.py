"""A local HTTP server standing in for the Hugging Face Hub's file endpoints (tests only).

Serves ``/{repo_id}/resolve/{revision}/{filename}`` for HEAD and GET (with
``Range``) the way ``huggingface_hub`` expects: ``X-Repo-Commit``,
``X-Linked-Etag`` (the SHA-256 of an LFS file), ``X-Linked-Size`` and the Hub's
``X-Error-Code`` on a 404. A file can be served slowly (`bytes_per_s`) to
stand for a large download; every request is recorded.

Three kinds of file, as huggingface.co serves them:

- an LFS file answered directly (the default; what a Hub mirror behind
  ``HF_ENDPOINT`` does): 200 with the bytes and the headers above;
- an LFS file behind a CDN (``cdn=True``): the Hub answers ``302`` carrying
  ``X-Repo-Commit``, ``X-Linked-Etag``, ``X-Linked-Size`` and a ``Location`` on
  another origin, whose server sends the bytes with none of those headers; the
  redirect's own ``ETag`` belongs to its body, not the file, so only a client that
  reads ``X-Linked-Etag`` gets the SHA-256;
- a plain git file (``lfs=False``): 200 with ``ETag`` the git blob id (SHA-1 of
  ``blob <size>\\0`` and the bytes, 40 hex) and no ``X-Linked-*``: its metadata
  gives no SHA-256.

``sha256`` sets what the metadata claims; when it differs from the bytes, the
Hub publishes one digest and serves other bytes (a damaged transfer or mirror).
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote


@dataclass
class HubFile:
    """One file the fake Hub serves."""

    repo_id: str
    revision: str  # 40-hex commit
    filename: str
    path: Path
    bytes_per_s: float | None = None  # None: as fast as possible
    sha256: str = ""  # what the metadata claims; default: the bytes' own
    lfs: bool = True  # False: a plain git file (ETag = git blob id, no X-Linked-*)
    cdn: bool = False  # True: the Hub redirects the bytes to another origin

    def __post_init__(self) -> None:
        if not self.sha256:
            with open(self.path, "rb") as src:
                self.sha256 = hashlib.file_digest(src, "sha256").hexdigest()

    @property
    def git_blob_id(self) -> str:
        """The file's git object id, which the Hub sends as the ETag of a plain git file."""
        data = self.path.read_bytes()
        return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class FakeHub:
    """The server; use as a context manager. `endpoint` goes into ``HF_ENDPOINT``."""

    files: list[HubFile]
    requests: list[tuple[str, str]] = field(default_factory=list)
    cdn_requests: list[tuple[str, str]] = field(default_factory=list)
    bytes_sent: int = 0
    _server: ThreadingHTTPServer | None = None
    _cdn: ThreadingHTTPServer | None = None

    @staticmethod
    def _range_start(handler: BaseHTTPRequestHandler) -> int:
        """Where a GET starts: its ``Range: bytes=N-`` (a resumed download), else 0."""
        rng = handler.headers.get("Range", "")
        if rng.startswith("bytes=") and rng[6:].split("-")[0]:
            return int(rng[6:].split("-")[0])
        return 0

    def _stream(self, handler: BaseHTTPRequestHandler, f: HubFile, start: int) -> None:
        """The file's bytes from `start`, read and sent a piece at a time."""
        chunk = 1 << 16
        with open(f.path, "rb") as src:
            src.seek(start)
            while piece := src.read(chunk):
                try:
                    handler.wfile.write(piece)
                except (BrokenPipeError, ConnectionResetError):
                    return
                self.bytes_sent += len(piece)
                if f.bytes_per_s:
                    time.sleep(len(piece) / f.bytes_per_s)

    def __enter__(self) -> FakeHub:
        hub = self

        class CdnHandler(BaseHTTPRequestHandler):
            """The storage origin: ``/{sha256}`` -> the bytes, with no Hub headers."""

            def log_message(self, *args: object) -> None:
                pass

            def _file(self) -> HubFile | None:
                name = self.path.split("?")[0].strip("/")
                return next((f for f in hub.files if f.cdn and f.sha256 == name), None)

            def _head(self, f: HubFile, length: int, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(length))
                self.send_header("Content-Type", "application/octet-stream")
                # The storage's own tag, unrelated to the Hub's digest (as S3's is).
                self.send_header("ETag", f'"{hashlib.md5(f.sha256.encode()).hexdigest()}"')
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()

            def do_HEAD(self) -> None:  # noqa: N802 (http.server API)
                hub.cdn_requests.append(("HEAD", self.path))
                f = self._file()
                if f is None:
                    self.send_error(403)
                    return
                self._head(f, f.path.stat().st_size, 200)

            def do_GET(self) -> None:  # noqa: N802
                hub.cdn_requests.append(("GET", self.path))
                f = self._file()
                if f is None:
                    self.send_error(403)
                    return
                start = hub._range_start(self)
                self._head(f, f.path.stat().st_size - start, 206 if start else 200)
                hub._stream(self, f, start)

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _find(self) -> tuple[HubFile | None, str]:
                parts = unquote(self.path.split("?")[0]).strip("/").split("/")
                if "resolve" not in parts:
                    return None, "RepoNotFound"
                i = parts.index("resolve")
                repo, revision, name = "/".join(parts[:i]), parts[i + 1], "/".join(parts[i + 2 :])
                repo_files = [f for f in hub.files if f.repo_id == repo]
                if not repo_files:
                    return None, "RepoNotFound"
                at_revision = [f for f in repo_files if f.revision == revision]
                if not at_revision:
                    return None, "RevisionNotFound"
                for f in at_revision:
                    if f.filename == name:
                        return f, ""
                return None, "EntryNotFound"

            def _headers(self, f: HubFile, length: int, status: int = 200) -> None:
                size = f.path.stat().st_size
                self.send_response(status)
                self.send_header("X-Repo-Commit", f.revision)
                if f.lfs:
                    self.send_header("X-Linked-Etag", f'"{f.sha256}"')
                    self.send_header("ETag", f'"{f.sha256}"')
                    self.send_header("X-Linked-Size", str(size))
                else:
                    self.send_header("ETag", f'"{f.git_blob_id}"')
                self.send_header("Content-Length", str(length))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()

            def _redirect(self, f: HubFile) -> None:
                """An LFS file on huggingface.co: its metadata on a 302 to the storage origin."""
                body = b"Found. Redirecting to the file's storage"
                self.send_response(302)
                self.send_header("X-Repo-Commit", f.revision)
                self.send_header("X-Linked-Etag", f'"{f.sha256}"')
                self.send_header("X-Linked-Size", str(f.path.stat().st_size))
                self.send_header("ETag", f'W/"{hashlib.sha1(body).hexdigest()[:20]}"')
                self.send_header("Location", f"{hub.cdn_endpoint}/{f.sha256}?signed=fake")
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command == "GET":
                    self.wfile.write(body)

            def _missing(self, code: str) -> None:
                self.send_response(404)
                self.send_header("X-Error-Code", code)
                self.send_header("X-Error-Message", f"{code} (fake hub)")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_HEAD(self) -> None:  # noqa: N802 (http.server API)
                hub.requests.append(("HEAD", self.path))
                f, code = self._find()
                if f is None:
                    return self._missing(code)
                if f.cdn:
                    return self._redirect(f)
                self._headers(f, f.path.stat().st_size)

            def do_GET(self) -> None:  # noqa: N802
                hub.requests.append(("GET", self.path))
                f, code = self._find()
                if f is None:
                    return self._missing(code)
                if f.cdn:
                    return self._redirect(f)
                start = hub._range_start(self)
                self._headers(f, f.path.stat().st_size - start, 206 if start else 200)
                hub._stream(self, f, start)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="fake-hub", daemon=True).start()
        # The storage origin listens on another port: another origin, as a CDN is.
        self._cdn = ThreadingHTTPServer(("127.0.0.1", 0), CdnHandler)
        self._cdn.daemon_threads = True
        threading.Thread(target=self._cdn.serve_forever, name="fake-cdn", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in (self._server, self._cdn):
            assert server is not None
            server.shutdown()
            server.server_close()

    @property
    def endpoint(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def cdn_endpoint(self) -> str:
        """The storage origin that ``cdn`` files are redirected to."""
        assert self._cdn is not None
        return f"http://127.0.0.1:{self._cdn.server_address[1]}"
