"""Find a person's photos on Wikimedia Commons: the listings and the file information.

Candidates come from the person's Commons category and a bounded walk of its
sub-categories (year, age and photograph sub-categories first), from a Commons
file search on the name, and from the Wikidata main image. Their file
information (``prop=imageinfo``: URL, a ~1024 px thumbnail, size, MIME type,
SHA-1 and ``extmetadata``) is fetched in batches; `pipeline.search.ranking`
then decides, without the network, which are photos of the person's face and
in what order to pick them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from pipeline.search.client import WikimediaClient
from pipeline.search.errors import SearchError
from pipeline.search.found import Candidate, FoundPhoto
from pipeline.search.ranking import (
    THUMB_WIDTH,
    by_date,
    category_year,
    choose_subcats,
    name_problem,
    order_photos,
    prefilter,
)
from pipeline.search.wikidata import Person

log = logging.getLogger(__name__)

MAX_CATEGORIES = 25  # categories listed in all (root included)
MAX_DEPTH = 2  # root -> "X by year" -> "X in 1878"
MAX_PAGES = 2  # continuation pages per listing
INFO_BATCH = 50  # titles per imageinfo request (API limit for non-bots)
WORKERS = 4
EXTMETADATA_FIELDS = (
    "DateTimeOriginal|DateTime|Artist|Credit|LicenseShortName|LicenseUrl|UsageTerms|"
    "ImageDescription|ObjectName|Categories"
)

T = TypeVar("T")


# -- API listings ---------------------------------------------------------------------


def _listing(client: WikimediaClient, key: str, **params: str) -> Iterator[dict]:
    """Items of a ``list=`` query (``query[key]``), following ``continue`` for `MAX_PAGES` pages."""
    cont: dict[str, str] = {}
    for _ in range(MAX_PAGES):
        answer = client.commons(action="query", **params, **cont)
        yield from (answer.get("query") or {}).get(key) or []
        cont = answer.get("continue") or {}
        if not cont:
            break


def _list_category(client: WikimediaClient, title: str) -> tuple[list[str], list[str]]:
    """Files and sub-categories of one category (``list=categorymembers``, with paging)."""
    files: list[str] = []
    subcats: list[str] = []
    members = _listing(
        client, "categorymembers",
        list="categorymembers", cmtitle=title, cmtype="file|subcat", cmprop="title", cmlimit="500",
    )  # fmt: skip
    for member in members:
        ns, t = member.get("ns"), member.get("title", "")
        if ns == 6:
            files.append(t)
        elif ns == 14:
            subcats.append(t)
    return files, subcats


def _search_files(client: WikimediaClient, person: Person) -> list[str]:
    """File titles from a Commons full-text search on the person's name (namespace 6)."""
    hits = _listing(
        client, "search",
        list="search", srsearch=f"{person.label} filetype:bitmap", srnamespace="6", srlimit="50", srprop="",
    )  # fmt: skip
    return [h["title"] for h in hits if h.get("title")]


def _imageinfo(client: WikimediaClient, titles: list[str]) -> dict[str, dict]:
    """``prop=imageinfo`` pages for up to `INFO_BATCH` titles, following ``continue``."""
    pages: dict[str, dict] = {}
    cont: dict[str, str] = {}
    for _ in range(5):
        answer = client.commons(
            post=True,
            action="query",
            prop="imageinfo",
            titles="|".join(titles),
            iiprop="url|size|mime|sha1|extmetadata",
            iiurlwidth=str(THUMB_WIDTH),
            iiextmetadatafilter=EXTMETADATA_FIELDS,
            iiextmetadatalanguage="en",
            **cont,
        )
        query = answer.get("query") or {}
        renamed = {n.get("to"): n.get("from") for n in query.get("normalized") or []}
        for page in query.get("pages") or []:
            title = page.get("title", "")
            title = renamed.get(title, title)
            merged = pages.setdefault(title, {})
            info = merged.get("imageinfo")
            merged.update(page)
            if info and not page.get("imageinfo"):
                merged["imageinfo"] = info
        cont = answer.get("continue") or {}
        if not cont:
            break
    return pages


def _parallel(fn: Callable[[Any], T], items: Sequence[Any]) -> list[T]:
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(items))) as pool:
        return list(pool.map(fn, items))


def collect_titles(
    person: Person, client: WikimediaClient
) -> tuple[dict[str, Candidate], dict[str, str]]:
    """Candidate file titles from the category walk, the file search and the Wikidata image.

    Returns:
        (candidates by title, {title: reason} for files left out by their name alone).
    """
    cands: dict[str, Candidate] = {}
    dropped: dict[str, str] = {}

    def add(title: str, source: str, year: int | None = None) -> None:
        if not title.startswith("File:"):
            return
        if problem := name_problem(title):
            dropped[title] = problem
            return
        c = cands.setdefault(title, Candidate(title))
        c.sources.add(source)
        if year is not None:
            c.category_years.add(year)

    if person.image:
        add(f"File:{person.image}", "wikidata")
    # the file search runs beside the category walk
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="commons-search") as side:
        searching = side.submit(_search_files, client, person)
        if person.commons_category:
            _walk_categories(client, person, add)
        try:
            for t in searching.result():
                add(t, "search")
        except SearchError as exc:
            if not person.commons_category:
                raise
            log.warning("Commons file search failed (the category is used alone): %s", exc)
    return cands, dropped


def _walk_categories(
    client: WikimediaClient, person: Person, add: Callable[[str, str, int | None], None]
) -> None:
    """List the person's category and the best sub-categories, level by level, in parallel."""
    seen: set[str] = set()
    level = [f"Category:{person.commons_category}"]
    depth = 0
    while level and len(seen) < MAX_CATEGORIES:
        level = level[: MAX_CATEGORIES - len(seen)]
        seen.update(level)
        listings = _parallel(lambda t: _list_category(client, t), level)
        subcats: list[str] = []
        for cat, (files, subs) in zip(level, listings, strict=True):
            year = category_year(cat, person)
            for f in files:
                add(f, "category", year if depth > 0 else None)
            subcats += [s for s in subs if s not in seen]
        depth += 1
        if depth > MAX_DEPTH:
            break
        level = choose_subcats(list(dict.fromkeys(subcats)), person, MAX_CATEGORIES - len(seen))


def rank_photos(
    person: Person, client: WikimediaClient
) -> tuple[list[FoundPhoto], list[tuple[str, str]]]:
    """All usable candidates in pick order (spread over the years), and (title, reason) for the rest."""
    found, dropped = collect_titles(person, client)
    cands = prefilter(found, person)
    titles = [c.title for c in cands]
    batches = [titles[i : i + INFO_BATCH] for i in range(0, len(titles), INFO_BATCH)]
    pages: dict[str, dict] = {}
    for part in _parallel(lambda b: _imageinfo(client, b), batches):
        pages.update(part)
    ordered, rejected = order_photos(pages, cands, person)
    rejected = list(dropped.items()) + rejected
    log.info(
        "%s: %d candidates, %d usable, %d left out",
        person.label,
        len(cands),
        len(ordered),
        len(rejected),
    )
    return ordered, rejected


def find_photos(
    person: Person, *, limit: int = 12, client: WikimediaClient | None = None
) -> list[FoundPhoto]:
    """Up to `limit` photos of `person` from Commons, spread over their life, in date order.

    Args:
        person (Person): from `resolve_person`.
        limit (int): most photos returned (default 12).
        client (WikimediaClient | None): HTTP client; a default one is made when None.

    Returns:
        list[FoundPhoto]: dated photos by date, then undated ones.

    Raises:
        SearchError: Commons could not be reached.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    own = client is None
    client = client or WikimediaClient()
    try:
        ordered, _ = rank_photos(person, client)
        return by_date(ordered[:limit])
    finally:
        if own:
            client.close()
