"""What the Commons search finds: candidate file titles, and the photos kept with their credits."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FoundPhoto:
    """A photo of the person on Commons, with what is needed to download and credit it.

    Attributes:
        title (str): Commons file title, e.g. ``File:Thomas Edison 1878.jpg``.
        page_url (str): the file's description page (link for the credits).
        image_url (str): what to download: the ~1024 px wide thumbnail, or the
            original when it is smaller.
        width, height (int): size of the original file in pixels.
        mime (str): MIME type of the original file.
        date (datetime.date | None): capture date (mid-month / mid-year when imprecise).
        date_source (str | None): ``exif`` (camera metadata), ``commons`` (the
            description page's date), ``title`` or ``category`` (a year guessed
            from the file or category name).
        date_precision (str | None): ``day``, ``month``, ``year`` or ``approx``.
        author (str): plain-text author (``Artist``), or the credit line.
        licence (str): licence short name, e.g. ``CC BY-SA 4.0`` or ``Public domain``.
        licence_url (str | None): licence URL when there is one.
        description (str): plain-text description (shortened).
        kind (str): ``photo``, ``unknown`` or ``artwork`` (drawings, paintings...).
        sha1 (str): SHA-1 of the original file, as Commons reports it.
    """

    title: str
    page_url: str
    image_url: str
    width: int
    height: int
    mime: str
    date: dt.date | None = None
    date_source: str | None = None
    date_precision: str | None = None
    author: str = ""
    licence: str = ""
    licence_url: str | None = None
    description: str = ""
    kind: str = "unknown"
    sha1: str = ""
    score: float = field(default=0.0, repr=False)

    @property
    def year(self) -> int | None:
        return self.date.year if self.date else None

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "page_url": self.page_url,
            "image_url": self.image_url,
            "width": self.width,
            "height": self.height,
            "mime": self.mime,
            "date": self.date.isoformat() if self.date else None,
            "date_source": self.date_source,
            "date_precision": self.date_precision,
            "author": self.author,
            "licence": self.licence,
            "licence_url": self.licence_url,
            "description": self.description,
            "kind": self.kind,
        }


@dataclass
class Candidate:
    """A file title worth a look, with where it was found and the years its categories name."""

    title: str
    sources: set[str] = field(default_factory=set)  # "category", "search", "wikidata"
    category_years: set[int] = field(default_factory=set)
