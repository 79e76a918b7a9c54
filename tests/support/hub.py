"""A local HTTP server standing in for the Hugging Face Hub's file endpoints (tests only).

Serves ``/{repo_id}/resolve/{revision}/{filename}`` for HEAD and GET (with
``Range``) the way ``huggingface_hub`` expects: ``X-Repo-Commit``,
``X-Linked-Etag`` (the SHA-256 of an LFS file), ``X-Linked-Size`` and the Hub's
``X-Error-Code`` on a 404. A file can be served slowly (`bytes_per_s`) to
stand for a large download; every request is recorded.
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
    sha256: str = ""

    def __post_init__(self) -> None:
        if not self.sha256:
            self.sha256 = hashlib.sha256(self.path.read_bytes()).hexdigest()


@dataclass
class FakeHub:
    """The server; use as a context manager. `endpoint` goes into ``HF_ENDPOINT``."""

    files: list[HubFile]
    requests: list[tuple[str, str]] = field(default_factory=list)
    bytes_sent: int = 0
    _server: ThreadingHTTPServer | None = None

    def __enter__(self) -> FakeHub:
        hub = self

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
                self.send_header("X-Linked-Etag", f'"{f.sha256}"')
                self.send_header("ETag", f'"{f.sha256}"')
                self.send_header("X-Linked-Size", str(size))
                self.send_header("Content-Length", str(length))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()

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
                self._headers(f, f.path.stat().st_size)

            def do_GET(self) -> None:  # noqa: N802
                hub.requests.append(("GET", self.path))
                f, code = self._find()
                if f is None:
                    return self._missing(code)
                data = f.path.read_bytes()
                start = 0
                rng = self.headers.get("Range", "")
                if rng.startswith("bytes=") and rng[6:].split("-")[0]:
                    start = int(rng[6:].split("-")[0])
                body = memoryview(data)[start:]
                self._headers(f, len(body), 206 if start else 200)
                chunk = 1 << 16
                for i in range(0, len(body), chunk):
                    piece = body[i : i + chunk]
                    try:
                        self.wfile.write(piece)
                    except (BrokenPipeError, ConnectionResetError):
                        return
                    hub.bytes_sent += len(piece)
                    if f.bytes_per_s:
                        time.sleep(len(piece) / f.bytes_per_s)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="fake-hub", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def endpoint(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"
