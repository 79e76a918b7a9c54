"""Download a person's photos from Commons into a folder, with exact ages and credits."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import os
import re
import unicodedata
import warnings
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from pipeline.credits import credits_text
from pipeline.progress import Progress
from pipeline.progress import report as report_progress
from pipeline.search.client import DownloadError, WikimediaClient
from pipeline.search.commons import rank_photos
from pipeline.search.dates import age_at
from pipeline.search.errors import TooFewPhotosError
from pipeline.search.found import FoundPhoto
from pipeline.search.ranking import MIN_SIDE, by_date
from pipeline.search.wikidata import Person, resolve_person

log = logging.getLogger(__name__)

DOWNLOAD_WORKERS = 4
MAX_PIXELS = 80_000_000  # decoded-size guard (decompression bombs)
CREDITS_JSON = "credits.json"
CREDITS_TXT = "credits.txt"
_EXT = {
    "JPEG": ".jpg",
    "MPO": ".jpg",
    "PNG": ".png",
    "WEBP": ".webp",
    "TIFF": ".tif",
    "GIF": ".gif",
}


@dataclass
class FetchedPhoto:
    """A downloaded photo.

    Attributes:
        path (Path): the image file written in the output folder.
        photo (FoundPhoto): where it came from, its date and credits.
        age (float | None): the person's age on the capture date (from the birth
            date), None when either date is unknown.
    """

    path: Path
    photo: FoundPhoto
    age: float | None = None

    @property
    def file(self) -> str:
        """File name inside the output folder."""
        return self.path.name

    @property
    def credits(self) -> dict[str, Any]:
        """Attribution for `PhotoRecord.credits` and the app's table."""
        return {
            "title": self.photo.title,
            "author": self.photo.author,
            "licence": self.photo.licence,
            "licence_url": self.photo.licence_url,
            "page_url": self.photo.page_url,
            "source": "Wikimedia Commons",
        }

    def to_json(self) -> dict[str, Any]:
        p = self.photo
        return {
            "file": self.file,
            "title": p.title,
            "author": p.author,
            "licence": p.licence,
            "licence_url": p.licence_url,
            "page_url": p.page_url,
            "image_url": p.image_url,
            "date": p.date.isoformat() if p.date else None,
            "date_source": p.date_source,
            "date_precision": p.date_precision,
            "age": None if self.age is None else round(self.age, 2),
            "kind": p.kind,
            "description": p.description,
        }


@dataclass
class FetchResult:
    """What `fetch_photos` found and wrote.

    Attributes:
        person (Person): who the name resolved to (birth date included).
        photos (list[FetchedPhoto]): downloaded photos in capture order, undated last.
        skipped (list[tuple[str, str]]): (title, reason) for each download that failed
            (HTTP error, not an image, too large, timeout, refused redirect...).
        rejected (list[tuple[str, str]]): (title, reason) for candidates left out
            before downloading (drawing of a signature, too small, duplicate...).
        credits_path (Path): ``credits.json`` in the output folder.
        credits_text_path (Path): ``credits.txt``, the human-readable credits.
    """

    person: Person
    photos: list[FetchedPhoto]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    credits_path: Path = Path(CREDITS_JSON)
    credits_text_path: Path = Path(CREDITS_TXT)

    @property
    def paths(self) -> list[Path]:
        return [p.path for p in self.photos]

    def to_json(self) -> dict[str, Any]:
        return {
            "person": self.person.to_json(),
            "source": "Wikimedia Commons (photos), Wikidata (birth date)",
            "retrieved": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "photos": [p.to_json() for p in self.photos],
            "skipped": [{"title": t, "reason": r} for t, r in self.skipped],
        }


def safe_stem(title: str, max_len: int = 48) -> str:
    """An ASCII file-name stem from a Commons title: no separators, no dots, bounded length."""
    stem = title.split(":", 1)[-1]
    stem = re.sub(r"\.[A-Za-z0-9]{2,5}$", "", stem)
    stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    stem = re.sub(r"[^A-Za-z0-9]+", "_", stem).strip("_")[:max_len].strip("_")
    return stem or "photo"


def check_image(body: bytes) -> tuple[str, int, int]:
    """Decode a downloaded body fully; return (Pillow format, width, height).

    Raises:
        ValueError: with a short reason when the bytes are not a usable image.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(body)) as img:
                fmt, (w, h) = img.format or "", img.size
                if w * h > MAX_PIXELS:
                    raise ValueError(f"too many pixels ({w}x{h})")
                img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ValueError("too many pixels") from exc
    except ValueError:
        raise
    except Exception as exc:  # Pillow raises many types for broken data
        raise ValueError(f"cannot be decoded as an image ({type(exc).__name__})") from exc
    if fmt not in _EXT:
        raise ValueError(f"unsupported image format {fmt or 'unknown'}")
    if min(w, h) < MIN_SIDE:
        raise ValueError(f"too small ({w}x{h} px)")
    return fmt, w, h


def _download(client: WikimediaClient, photo: FoundPhoto, outdir: Path) -> tuple[Path, str]:
    """Download one photo to a temporary file in `outdir`; return (path, Pillow format)."""
    got = client.download(photo.image_url)
    try:
        fmt, _, _ = check_image(got.body)
    except ValueError as exc:
        raise DownloadError(photo.image_url, str(exc)) from exc
    tmp = outdir / f".part-{hashlib.sha1(photo.title.encode('utf-8')).hexdigest()[:16]}"
    tmp.write_bytes(got.body)
    return tmp, fmt


def _write_credits(result: FetchResult) -> None:
    result.credits_path.write_text(
        json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    person = result.person
    life = ""
    if person.birth_date:
        life = f", born {person.birth_date.isoformat() if person.birth_precision == 'day' else person.birth_date.year}"
    heading = f"Photos of {person.label}{life} ({person.url}), from Wikimedia Commons:"
    entries = [(item.file, item.credits) for item in result.photos]
    text = credits_text(entries, heading) or heading + "\n"
    result.credits_text_path.write_text(text, encoding="utf-8")


def load_credits(folder: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Per-file entries of a folder's ``credits.json`` (as written by `fetch_photos`), keyed by file name.

    Returns an empty dict when the folder has no credits file.
    """
    path = Path(folder) / CREDITS_JSON
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {e["file"]: e for e in data.get("photos", []) if isinstance(e, dict) and e.get("file")}


def fetch_photos(
    name: str,
    outdir: str | os.PathLike[str],
    *,
    limit: int = 12,
    qid: str | None = None,
    min_photos: int = 2,
    progress: Progress | None = None,
    client: WikimediaClient | None = None,
) -> FetchResult:
    """Resolve `name`, find photos across the person's life and download them into `outdir`.

    Downloads run in parallel (4 at a time). A download that fails (HTTP error,
    not an image, over the byte cap, timeout, refused redirect, undecodable) is
    recorded in `skipped` and replaced by the next candidate. Files are named
    ``NN_<title>.<ext>`` in capture order; ``credits.json`` and ``credits.txt``
    are written beside them.

    Args:
        name (str): the person's name as typed (ignored when `qid` is given).
        outdir (str | PathLike): folder to write into (created if missing).
        limit (int): most photos to download (default 12).
        qid (str | None): Wikidata ID that skips the name search (for ambiguous names).
        min_photos (int): fewer downloaded photos than this raise `TooFewPhotosError`.
        progress (Callable[[str, float], None] | None): called with a message and
            the fraction done (0..1), always from the calling thread.
        client (WikimediaClient | None): HTTP client; a default one is made when None.

    Raises:
        UnknownNameError, AmbiguousNameError: the name does not pick one person (exit 2).
        TooFewPhotosError: fewer than `min_photos` photos downloaded (exit 3); the
            exception carries `photos` and `skipped`, and the credits are written.
        SearchError: Wikidata or Commons could not be reached.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)

    def report(message: str, fraction: float) -> None:
        log.info("%s", message)
        report_progress(progress, message, fraction)

    own = client is None
    client = client or WikimediaClient()
    try:
        report(f"Looking up {name or qid!r} on Wikidata", 0.0)
        person = resolve_person(name, qid=qid, client=client)
        born = f", born {person.birth_date.isoformat()}" if person.birth_date else ""
        report(f"Found {person.label} ({person.qid}{born}); searching Wikimedia Commons", 0.1)
        ranked, rejected = rank_photos(person, client)
        skipped: list[tuple[str, str]] = []
        report(f"{len(ranked)} candidate photos; downloading up to {limit}", 0.4)
        done = _download_all(client, ranked, outdir, limit, skipped, report)
    finally:
        if own:
            client.close()

    # final names in capture order
    photos: list[FetchedPhoto] = []
    order = {id(p): i for i, p in enumerate(by_date(p for p, _, _ in done))}
    for photo, tmp, fmt in sorted(done, key=lambda d: order[id(d[0])]):
        index = len(photos) + 1
        path = outdir / f"{index:02d}_{safe_stem(photo.title)}{_EXT[fmt]}"
        os.replace(tmp, path)
        age = age_at(person.birth_date, photo.date) if person.birth_date and photo.date else None
        photos.append(FetchedPhoto(path=path, photo=photo, age=age))
    result = FetchResult(
        person=person,
        photos=photos,
        skipped=skipped,
        rejected=rejected,
        credits_path=outdir / CREDITS_JSON,
        credits_text_path=outdir / CREDITS_TXT,
    )
    _write_credits(result)
    report(f"Downloaded {len(photos)} photos of {person.label}", 1.0)
    if len(photos) < min_photos:
        raise TooFewPhotosError(person, len(photos), min_photos, photos, skipped)
    return result


def _download_all(
    client: WikimediaClient,
    ranked: list[FoundPhoto],
    outdir: Path,
    limit: int,
    skipped: list[tuple[str, str]],
    report: Progress,
) -> list[tuple[FoundPhoto, Path, str]]:
    """Download the first `limit` candidates, replacing failures by the next ones (at most 2x limit tried)."""
    queue = list(ranked[: 2 * limit])
    done: list[tuple[FoundPhoto, Path, str]] = []
    running: dict[Future, FoundPhoto] = {}
    with ThreadPoolExecutor(max_workers=DOWNLOAD_WORKERS, thread_name_prefix="fetch") as pool:
        try:
            while queue or running:
                while queue and len(done) + len(running) < limit:
                    photo = queue.pop(0)
                    running[pool.submit(_download, client, photo, outdir)] = photo
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    photo = running.pop(fut)
                    try:
                        tmp, fmt = fut.result()
                    except DownloadError as exc:
                        log.info("skipped %s: %s", photo.title, exc.reason)
                        skipped.append((photo.title, exc.reason))
                    else:
                        done.append((photo, tmp, fmt))
                    report(f"Downloaded {len(done)} of {limit}", 0.4 + 0.6 * len(done) / limit)
        except BaseException:
            for fut in running:
                fut.cancel()
            for _, tmp, _ in done:
                tmp.unlink(missing_ok=True)
            raise
    return done
