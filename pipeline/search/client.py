"""A small, polite HTTP client for the Wikidata and Wikimedia Commons APIs.

Only `https` to Wikimedia hosts is allowed, plus hosts an operator names
explicitly (a mirror, or a local test server: plain `http` is accepted for
loopback hosts only). Redirects are followed by hand so that every hop is
checked. 429 and 503 answers are retried with back-off, honouring
`Retry-After` up to a cap. Nothing the user types becomes a URL: names only
travel as query parameters.

Environment variables (read when a client is built):
    TIMELAPSE_WIKIDATA_API: Wikidata Action API endpoint
        (default https://www.wikidata.org/w/api.php).
    TIMELAPSE_COMMONS_API: Commons Action API endpoint
        (default https://commons.wikimedia.org/w/api.php).
    TIMELAPSE_ALLOWED_HOSTS: extra hosts (``host`` or ``host:port``, comma-separated)
        that images may be downloaded from.
    TIMELAPSE_CONTACT: contact URL or e-mail for the User-Agent (on a Hugging Face
        Space the Space's URL is used when this is unset).
"""

from __future__ import annotations

import email.utils
import ipaddress
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from pipeline import __version__
from pipeline.search.errors import SearchError

log = logging.getLogger(__name__)

DEFAULT_WIKIDATA_API = "https://www.wikidata.org/w/api.php"
DEFAULT_COMMONS_API = "https://commons.wikimedia.org/w/api.php"
WIKIMEDIA_HOSTS = frozenset({"www.wikidata.org", "commons.wikimedia.org", "upload.wikimedia.org"})
WIKIMEDIA_SUFFIXES = (".wikimedia.org", ".wikipedia.org")
RETRY_STATUSES = frozenset({429, 503})
MAX_REDIRECTS = 3


class DownloadError(SearchError):
    """One file could not be downloaded; `reason` is a short phrase for the skipped list."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


@dataclass
class Download:
    """A downloaded body and what the server said about it."""

    url: str  # final URL after redirects
    content_type: str
    body: bytes


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_port(url: str) -> tuple[str, str, str, int | None]:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return parts.scheme.lower(), host, parts.netloc, parts.port


def _split_hosts(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [h.strip().lower() for h in items if h and h.strip()]


def _parse_host_entry(entry: str) -> tuple[str, int | None]:
    """``host``, ``host:port`` or ``[v6]:port`` -> (host, port or None)."""
    parts = urlsplit(f"//{entry}")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"allowed host {entry!r} has a bad port") from exc
    return (parts.hostname or entry).lower(), port


def _user_agent(contact: str | None) -> str:
    contact = contact or os.environ.get("TIMELAPSE_CONTACT")
    if not contact and os.environ.get("SPACE_ID"):
        contact = f"https://huggingface.co/spaces/{os.environ['SPACE_ID']}"
    contact = contact or "self-hosted install, no contact configured"
    return (
        f"FacialTimelapse/{__version__} ({contact}; photo search by name) httpx/{httpx.__version__}"
    )


class WikimediaClient:
    """HTTP access to the Wikidata and Commons Action APIs and to upload.wikimedia.org.

    Thread-safe: one client may serve parallel downloads. Use it as a context
    manager, or call `close()`.

    Args:
        wikidata_api (str | None): Wikidata API endpoint. Default: env
            ``TIMELAPSE_WIKIDATA_API`` or the public endpoint.
        commons_api (str | None): Commons API endpoint. Default: env
            ``TIMELAPSE_COMMONS_API`` or the public endpoint.
        allowed_hosts (Iterable[str] | None): extra hosts (``host`` or
            ``host:port``) for downloads. Default: env ``TIMELAPSE_ALLOWED_HOSTS``.
            The hosts of the two API endpoints are always allowed.
        timeout (float): seconds to connect, and between bytes when reading.
        max_bytes (int): largest image accepted, in bytes.
        download_deadline (float): most seconds one download may take in all.
        retries (int): extra attempts after a 429 or 503 answer.
        backoff (float): first back-off in seconds when no Retry-After is given
            (doubles each attempt, with a little jitter).
        max_retry_after (float): cap in seconds on any single wait.
        contact (str | None): contact URL or e-mail for the User-Agent.
        sleep (Callable[[float], None]): how to wait (tests record the waits).
    """

    def __init__(
        self,
        *,
        wikidata_api: str | None = None,
        commons_api: str | None = None,
        allowed_hosts: Iterable[str] | None = None,
        timeout: float = 15.0,
        max_bytes: int = 15 * 1024 * 1024,
        download_deadline: float = 60.0,
        retries: int = 3,
        backoff: float = 1.0,
        max_retry_after: float = 20.0,
        contact: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.wikidata_api = (
            wikidata_api or os.environ.get("TIMELAPSE_WIKIDATA_API") or DEFAULT_WIKIDATA_API
        )
        self.commons_api = (
            commons_api or os.environ.get("TIMELAPSE_COMMONS_API") or DEFAULT_COMMONS_API
        )
        extra = _split_hosts(
            allowed_hosts
            if allowed_hosts is not None
            else os.environ.get("TIMELAPSE_ALLOWED_HOSTS")
        )
        for endpoint in (self.wikidata_api, self.commons_api):
            scheme, host, netloc, port = _host_port(endpoint)
            if scheme not in ("http", "https") or not host:
                raise ValueError(f"API endpoint {endpoint!r} is not an http(s) URL")
            if scheme == "http" and not _is_loopback(host):
                raise ValueError(
                    f"API endpoint {endpoint!r} must use https (plain http is only for loopback test servers)"
                )
            if not self._is_wikimedia(scheme, host, port):
                extra.append(netloc.lower())
        self.allowed_hosts = tuple(dict.fromkeys(extra))
        self._allowed = [_parse_host_entry(e) for e in self.allowed_hosts]
        self.timeout = float(timeout)
        self.max_bytes = int(max_bytes)
        self.download_deadline = float(download_deadline)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.max_retry_after = float(max_retry_after)
        self.user_agent = _user_agent(contact)
        self._sleep = sleep
        self._lock = threading.Lock()
        self._http = httpx.Client(
            headers={"User-Agent": self.user_agent},
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=8),
        )

    # -- policy ---------------------------------------------------------------

    @staticmethod
    def _is_wikimedia(scheme: str, host: str, port: int | None) -> bool:
        """https on the default port to a Wikimedia host."""
        return (
            scheme == "https"
            and port in (None, 443)
            and (host in WIKIMEDIA_HOSTS or host.endswith(WIKIMEDIA_SUFFIXES))
        )

    def url_allowed(self, url: str) -> bool:
        """True when `url` may be requested: https Wikimedia, or an explicitly allowed host."""
        try:
            parts = urlsplit(url)
            scheme, host, port = parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
        except ValueError:
            return False
        if not host or parts.username or parts.password or scheme not in ("http", "https"):
            return False
        if self._is_wikimedia(scheme, host, port):
            return True
        for e_host, e_port in self._allowed:
            if e_host != host or (e_port is not None and e_port != port):
                continue
            if scheme == "https" or _is_loopback(host):
                return True
        return False

    def _check(self, url: str) -> None:
        if not self.url_allowed(url):
            raise DownloadError(
                url, f"refused: {urlsplit(url).netloc or url!r} is not an allowed host"
            )

    # -- transport --------------------------------------------------------------

    def _wait_for(self, response: httpx.Response, attempt: int) -> float:
        header = response.headers.get("Retry-After")
        wait: float | None = None
        if header:
            header = header.strip()
            if header.isdigit():
                wait = float(header)
            else:
                parsed = email.utils.parsedate_to_datetime(header) if header else None
                if parsed is not None:
                    wait = max(0.0, parsed.timestamp() - time.time())
        if wait is None:
            wait = self.backoff * (2**attempt) * (1.0 + 0.25 * random.random())
        return min(wait, self.max_retry_after)

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """Send one request, following allowed redirects and retrying 429/503."""
        attempt = 0
        hops = 0
        while True:
            self._check(url)
            request = self._http.build_request(method, url, params=params, data=data)
            try:
                response = self._http.send(request, stream=stream)
            except httpx.TimeoutException as exc:
                raise DownloadError(url, f"timed out after {self.timeout:g} s") from exc
            except httpx.HTTPError as exc:
                raise DownloadError(
                    url, f"connection failed ({type(exc).__name__}: {exc})"
                ) from exc
            if response.is_redirect and hops < MAX_REDIRECTS:
                location = response.headers.get("Location", "")
                response.close()
                target = urljoin(str(request.url), location)
                if not self.url_allowed(target):
                    raise DownloadError(
                        url,
                        f"redirect to {urlsplit(target).netloc or target!r} refused (not an allowed host)",
                    )
                url, params, hops = target, None, hops + 1
                if response.status_code == 303:
                    method, data = "GET", None
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.retries:
                wait = self._wait_for(response, attempt)
                response.close()
                log.info(
                    "HTTP %s from %s; retrying in %.2f s",
                    response.status_code,
                    urlsplit(url).netloc,
                    wait,
                )
                self._sleep(wait)
                attempt += 1
                continue
            return response

    # -- API ----------------------------------------------------------------------

    def api(
        self, endpoint: str, params: Mapping[str, Any], *, post: bool = False
    ) -> dict[str, Any]:
        """Call an Action API endpoint (JSON, format version 2) and return the decoded answer.

        Raises:
            SearchError: network failure, HTTP error, non-JSON body or an API ``error``.
        """
        query = {
            "format": "json",
            "formatversion": "2",
            **{k: v for k, v in params.items() if v is not None},
        }
        try:
            if post:
                response = self._send("POST", endpoint, data=query)
            else:
                response = self._send("GET", endpoint, params=query)
        except DownloadError as exc:
            raise SearchError(
                f"Could not reach {urlsplit(endpoint).netloc} ({exc.reason}). "
                "Check the internet connection or try again in a minute."
            ) from exc
        if response.status_code != 200:
            raise SearchError(
                f"{urlsplit(endpoint).netloc} answered HTTP {response.status_code}. Try again in a minute."
            )
        try:
            answer = response.json()
        except ValueError as exc:
            raise SearchError(
                f"{urlsplit(endpoint).netloc} sent an answer that is not JSON."
            ) from exc
        if not isinstance(answer, dict):
            raise SearchError(f"{urlsplit(endpoint).netloc} sent an unexpected answer.")
        if "error" in answer:
            err = answer["error"] or {}
            raise SearchError(
                f"{urlsplit(endpoint).netloc} refused the request: {err.get('code', '?')}: {err.get('info', '')}"
            )
        return answer

    def wikidata(self, **params: Any) -> dict[str, Any]:
        """Call the Wikidata API."""
        return self.api(self.wikidata_api, params)

    def commons(self, *, post: bool = False, **params: Any) -> dict[str, Any]:
        """Call the Commons API (POST for long title lists)."""
        return self.api(self.commons_api, params, post=post)

    # -- downloads ------------------------------------------------------------------

    def download(self, url: str) -> Download:
        """Download an image body with the byte cap, the deadline and a content-type check.

        Raises:
            DownloadError: with a short `reason` (HTTP status, not an image, too large,
                timed out, refused host or redirect).
        """
        deadline = time.monotonic() + self.download_deadline
        response = self._send("GET", url, stream=True)
        try:
            if response.status_code != 200:
                raise DownloadError(url, f"HTTP {response.status_code}")
            ctype = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if not ctype.startswith("image/"):
                raise DownloadError(url, f"not an image (Content-Type {ctype or 'missing'})")
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > self.max_bytes:
                raise DownloadError(
                    url, f"too large ({int(length) / 1e6:.1f} MB > {self.max_bytes / 1e6:.1f} MB)"
                )
            chunks: list[bytes] = []
            size = 0
            try:
                for chunk in response.iter_bytes(64 * 1024):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise DownloadError(url, f"too large (over {self.max_bytes / 1e6:.1f} MB)")
                    if time.monotonic() > deadline:
                        raise DownloadError(url, f"too slow (over {self.download_deadline:g} s)")
                    chunks.append(chunk)
            except httpx.TimeoutException as exc:
                raise DownloadError(url, f"timed out after {self.timeout:g} s") from exc
            except httpx.HTTPError as exc:
                raise DownloadError(url, f"connection failed ({type(exc).__name__})") from exc
            return Download(url=str(response.url), content_type=ctype, body=b"".join(chunks))
        finally:
            response.close()

    # -- lifetime -------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._http.close()

    def __enter__(self) -> WikimediaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
