"""Replay recorded Wikidata and Commons API answers from a local HTTP server.

For tests and benchmarks (a test double, kept out of the package): a real HTTP server on 127.0.0.1
(ephemeral port) answers the Action API requests the search module makes from
recorded JSON, and serves image bodies registered by the caller. Recorded
``https://upload.wikimedia.org/`` URLs are rewritten to point at the server.
Faults (status codes, delays, redirects, Retry-After) can be injected per path.

Fixture format (see ``tests/fixtures/wikimedia/README.md``)::

    wikidata.json: {"wbsearchentities": {"<search, lower case>": <answer>},
                    "entities": {"Q76": <entity>, ...}}
    commons.json:  {"categorymembers": {"Category:X": [<page 1 answer>, <page 2 answer>]},
                    "search": {"<srsearch>": [<page 1 answer>, ...]},
                    "imageinfo": {"File:X.jpg": <page object with imageinfo>}}

Answers are returned as recorded; paged answers are chosen by the request's
``cmcontinue`` / ``sroffset`` matching the previous page's ``continue``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from pipeline.search.client import WikimediaClient

UPLOAD = "https://upload.wikimedia.org/"


@dataclass
class Route:
    """How the server answers one path.

    Attributes:
        status (int): HTTP status.
        body (bytes): response body.
        content_type (str): Content-Type header.
        headers (dict[str, str]): extra headers (``Location``, ``Retry-After``...).
        delay (float): seconds to wait before answering.
        send_length (bool): send Content-Length (else the body ends when the connection closes).
    """

    status: int = 200
    body: bytes = b""
    content_type: str = "application/octet-stream"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    send_length: bool = True


@dataclass
class Logged:
    method: str
    path: str
    params: dict[str, str]


class WikimediaReplay:
    """A local stand-in for www.wikidata.org, commons.wikimedia.org and upload.wikimedia.org.

    Args:
        fixtures (str | Path): folder holding ``wikidata.json`` and ``commons.json``.
    """

    def __init__(self, fixtures: str | Path) -> None:
        folder = Path(fixtures)
        self.wikidata_data: dict[str, Any] = json.loads(
            (folder / "wikidata.json").read_text("utf-8")
        )
        self.commons_data: dict[str, Any] = json.loads((folder / "commons.json").read_text("utf-8"))
        self.routes: dict[str, Route] = {}
        self.faults: dict[str, list[Route]] = {}
        self.log: list[Logged] = []
        self.api_delay = 0.0  # seconds added to every API answer (to simulate a distant server)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- addresses --------------------------------------------------------------------

    @property
    def base(self) -> str:
        assert self._server is not None, "start() the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, for allow-lists."""
        return self.base.split("//", 1)[1]

    @property
    def wikidata_api(self) -> str:
        return f"{self.base}/wikidata/w/api.php"

    @property
    def commons_api(self) -> str:
        return f"{self.base}/commons/w/api.php"

    def local(self, url: str) -> str:
        """The server's URL for a recorded upload.wikimedia.org URL."""
        return url.replace(UPLOAD, f"{self.base}/upload.wikimedia.org/")

    def env(self) -> dict[str, str]:
        """Environment variables that point the search module at this server."""
        return {
            "TIMELAPSE_WIKIDATA_API": self.wikidata_api,
            "TIMELAPSE_COMMONS_API": self.commons_api,
            "TIMELAPSE_ALLOWED_HOSTS": self.host,
        }

    def client(self, **kwargs: Any) -> WikimediaClient:
        """A `WikimediaClient` aimed at this server (keyword arguments are passed on)."""
        kwargs.setdefault("backoff", 0.01)
        return WikimediaClient(
            wikidata_api=self.wikidata_api, commons_api=self.commons_api, **kwargs
        )

    # -- routes -------------------------------------------------------------------------

    @staticmethod
    def _key(url_or_path: str) -> str:
        if url_or_path.startswith(UPLOAD):
            url_or_path = "/upload.wikimedia.org/" + url_or_path[len(UPLOAD) :]
        elif "://" in url_or_path:
            url_or_path = urlsplit(url_or_path).path
        return unquote(url_or_path.split("?", 1)[0])

    def set_route(self, url_or_path: str, route: Route) -> None:
        """Answer `url_or_path` (a recorded upload URL or a server path) with `route`."""
        with self._lock:
            self.routes[self._key(url_or_path)] = route

    def set_file(
        self, url_or_path: str, body: bytes, content_type: str = "image/jpeg", **kw: Any
    ) -> None:
        self.set_route(url_or_path, Route(body=body, content_type=content_type, **kw))

    def fail_next(self, url_or_path: str, *routes: Route) -> None:
        """Answer the next requests to `url_or_path` with `routes`, in order, then as usual."""
        with self._lock:
            self.faults.setdefault(self._key(url_or_path), []).extend(routes)

    def image_urls(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(title, download URL as recorded, imageinfo) for every recorded file."""
        for title, page in self.commons_data.get("imageinfo", {}).items():
            for info in page.get("imageinfo", [])[:1]:
                yield title, info.get("thumburl") or info.get("url"), info

    def fill_images(self, make: Callable[[str, dict[str, Any]], bytes | None]) -> None:
        """Register a JPEG body for every recorded file: ``make(title, imageinfo) -> bytes``."""
        for title, url, info in self.image_urls():
            body = make(title, info)
            if body is not None and url:
                self.set_file(url, body)

    def requested(self, prefix: str = "") -> list[Logged]:
        with self._lock:
            return [r for r in self.log if r.path.startswith(prefix)]

    # -- API answers ------------------------------------------------------------------

    def _wikidata(self, p: dict[str, str]) -> dict[str, Any]:
        action = p.get("action")
        if action == "wbsearchentities":
            key = " ".join(p.get("search", "").lower().split())
            recorded = self.wikidata_data.get("wbsearchentities", {}).get(key)
            return recorded or {
                "searchinfo": {"search": p.get("search", "")},
                "search": [],
                "success": 1,
            }
        if action == "wbgetentities":
            known = self.wikidata_data.get("entities", {})
            ids = [i for i in p.get("ids", "").split("|") if i]
            return {
                "entities": {i: known.get(i, {"id": i, "missing": ""}) for i in ids},
                "success": 1,
            }
        return {
            "error": {
                "code": "badvalue",
                "info": f'Unrecognized value for parameter "action": {action}.',
            }
        }

    @staticmethod
    def _paged(
        pages: list[dict[str, Any]], token_key: str, token: str | None
    ) -> dict[str, Any] | None:
        if not token:
            return pages[0] if pages else None
        for prev, page in zip(pages, pages[1:]):
            if str((prev.get("continue") or {}).get(token_key)) == token:
                return page
        return None

    def _commons(self, p: dict[str, str]) -> dict[str, Any]:
        if p.get("action") != "query":
            return {"error": {"code": "badvalue", "info": "only action=query is recorded"}}
        if p.get("list") == "categorymembers":
            pages = self.commons_data.get("categorymembers", {}).get(p.get("cmtitle", ""), [])
            page = self._paged(pages, "cmcontinue", p.get("cmcontinue"))
            return page or {"batchcomplete": True, "query": {"categorymembers": []}}
        if p.get("list") == "search":
            pages = self.commons_data.get("search", {}).get(p.get("srsearch", ""), [])
            page = self._paged(pages, "sroffset", p.get("sroffset"))
            return page or {
                "batchcomplete": True,
                "query": {"searchinfo": {"totalhits": 0}, "search": []},
            }
        if p.get("prop") == "imageinfo":
            known = self.commons_data.get("imageinfo", {})
            titles = [t for t in p.get("titles", "").split("|") if t]
            if len(titles) > 50:
                return {
                    "error": {
                        "code": "toomanyvalues",
                        "info": 'Too many values supplied for parameter "titles". The limit is 50.',
                    }
                }
            pages = [
                known.get(t, {"ns": 6, "title": t, "missing": True, "known": False}) for t in titles
            ]
            return {"batchcomplete": True, "query": {"pages": pages}}
        return {"error": {"code": "badvalue", "info": "request not recorded"}}

    # -- server -----------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        replay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _params(self) -> dict[str, str]:
                params = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
                if self.command == "POST":
                    length = int(self.headers.get("Content-Length") or 0)
                    params.update(
                        parse_qsl(self.rfile.read(length).decode("utf-8"), keep_blank_values=True)
                    )
                return params

            def _send(self, route: Route) -> None:
                end = time.monotonic() + route.delay
                while time.monotonic() < end and not replay._stop.is_set():
                    time.sleep(0.02)
                try:
                    self.send_response(route.status)
                    self.send_header("Content-Type", route.content_type)
                    for k, v in route.headers.items():
                        self.send_header(k, v)
                    if route.send_length:
                        self.send_header("Content-Length", str(len(route.body)))
                    else:
                        self.send_header("Connection", "close")
                        self.close_connection = True
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(route.body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            def _answer(self) -> None:
                path = unquote(urlsplit(self.path).path)
                params = self._params()
                with replay._lock:
                    replay.log.append(Logged(self.command, path, params))
                    queued = replay.faults.get(path)
                    fault = queued.pop(0) if queued else None
                if fault is not None:
                    self._send(fault)
                    return
                if path.endswith("/w/api.php") and path.startswith(("/wikidata/", "/commons/")):
                    data = (
                        replay._wikidata(params)
                        if path.startswith("/wikidata/")
                        else replay._commons(params)
                    )
                    text = replay.local(json.dumps(data, ensure_ascii=False))
                    self._send(
                        Route(
                            body=text.encode("utf-8"),
                            content_type="application/json; charset=utf-8",
                            delay=replay.api_delay,
                        )
                    )
                    return
                with replay._lock:
                    route = replay.routes.get(path)
                self._send(route or Route(status=404, body=b"Not Found", content_type="text/plain"))

            do_GET = _answer  # noqa: N815
            do_POST = _answer  # noqa: N815
            do_HEAD = _answer  # noqa: N815

        return Handler

    def start(self) -> WikimediaReplay:
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self._stop.clear()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="wikimedia-replay",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> WikimediaReplay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
