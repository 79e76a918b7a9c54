"""Photos by name: find a well-known person's photos across their life on Wikimedia Commons.

Typical use::

    from pipeline.search import fetch_photos, AmbiguousNameError, UnknownNameError, TooFewPhotosError

    result = fetch_photos("Thomas Edison", outdir, limit=12, progress=lambda msg, frac: ...)
    result.person.birth_date          # datetime.date from Wikidata (P569)
    for item in result.photos:        # in capture order
        item.path, item.photo.date, item.photo.date_source, item.age, item.credits

Step by step: `resolve_person` (Wikidata) -> `find_photos` (Commons listings in `commons`, the
pure choice of files and their order in `ranking`) ->
`fetch_photos` (downloads, ``credits.json``, ``credits.txt``). Base URLs and
allowed hosts come from `WikimediaClient` arguments or the environment
variables ``TIMELAPSE_WIKIDATA_API``, ``TIMELAPSE_COMMONS_API`` and
``TIMELAPSE_ALLOWED_HOSTS``.
"""

from __future__ import annotations

from pipeline.search.album import fetch_album
from pipeline.search.client import DownloadError, WikimediaClient
from pipeline.search.commons import find_photos
from pipeline.search.errors import (
    AmbiguousNameError,
    SearchError,
    TooFewPhotosError,
    UnknownNameError,
)
from pipeline.search.fetch import FetchedPhoto, FetchResult, fetch_photos, load_credits
from pipeline.search.found import FoundPhoto
from pipeline.search.wikidata import Person, PersonMatch, resolve_person

__all__ = [
    "AmbiguousNameError",
    "DownloadError",
    "FetchResult",
    "FetchedPhoto",
    "FoundPhoto",
    "Person",
    "PersonMatch",
    "SearchError",
    "TooFewPhotosError",
    "UnknownNameError",
    "WikimediaClient",
    "fetch_album",
    "fetch_photos",
    "find_photos",
    "load_credits",
    "resolve_person",
]
