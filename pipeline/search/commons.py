"""Find a person's photos on Wikimedia Commons and pick a dozen spread across their life.

Candidates come from the person's Commons category and a bounded walk of its
sub-categories (year, age and photograph sub-categories first), from a Commons
file search on the name, and from the Wikidata main image. Their file
information (``prop=imageinfo``: URL, a ~1024 px thumbnail, size, MIME type,
SHA-1 and ``extmetadata``) gives dates, authors and licences. Photographs are
preferred over paintings and drawings; signatures, logos, maps, graves and the
like are dropped; the picks are spread over the years of the person's life.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from pipeline.search.client import WikimediaClient
from pipeline.search.dates import parse_date_text, plausible, strip_html, year_from_text
from pipeline.search.errors import SearchError
from pipeline.search.wikidata import Person, _norm

log = logging.getLogger(__name__)

THUMB_WIDTH = 1024
MIN_SIDE = 200  # smaller originals cannot give a usable face crop
MAX_ASPECT = 3.0
MAX_CATEGORIES = 25  # categories listed in all (root included)
MAX_DEPTH = 2  # root -> "X by year" -> "X in 1878"
MAX_PAGES = 2  # continuation pages per listing
MAX_INFO_TITLES = 200  # files whose imageinfo is fetched
INFO_BATCH = 50  # titles per imageinfo request (API limit for non-bots)
WORKERS = 4
EXTMETADATA_FIELDS = (
    "DateTimeOriginal|DateTime|Artist|Credit|LicenseShortName|LicenseUrl|UsageTerms|"
    "ImageDescription|ObjectName|Categories"
)
IMAGE_MIMES = frozenset({"image/jpeg", "image/png", "image/tiff", "image/webp"})
_SKIP_EXT = re.compile(
    r"\.(svg|pdf|djvu|gif|ogg|ogv|oga|opus|webm|mp3|mp4|wav|flac|midi?|stl|mpg|mpeg|xcf)$", re.I
)


def _words(patterns: str) -> re.Pattern[str]:
    """Whole-word, case-insensitive alternation of comma-separated regex fragments."""
    parts = [p.strip() for p in patterns.split(",") if p.strip()]
    return re.compile(r"\b(?:" + "|".join(parts) + r")\b", re.I)


# Things that are not a photo of a face, wherever they are named (title, categories).
_EXCLUDE = _words(
    r"""
    signatures?, autographs?, handwriting, logos?, logotypes?, coats? of arms,
    postage stamps?, stamps of, coins?, banknotes?, graves?, gravestones?, headstones?,
    tombs?(?:tones?)?, statues?, sculptures?, death masks?, wax figures?, waxworks?,
    figurines?, patents?, diagrams?, screenshots?, named after, book covers?, title pages?
    """
)
# The same, but too common in categories of good photos ("White House", "Lincoln
# Memorial", "Pages with maps"): only checked in file titles and sub-category names.
_EXCLUDE_TITLE = _words(
    r"""
    maps?, houses?, residences?, buildings?, museums?, streets?, schools?, birthplaces?,
    memorials?, monuments?, plaques?, medals?, flags?, emblems?, busts? of, documents?,
    letters?, manuscripts?, newspapers?, covers?, inventions?, products?, companies,
    company, audio, videos?, films?, recordings?, quotes?, works by, bibliograph\w*,
    exhibitions?, cemetery, charts?
    """
)
# Pictures of the person that are not photographs: kept, but only after photographs.
_ARTWORK = _words(
    r"""
    paintings?, painted, oil on canvas, drawings?, drawn, sketch(?:es)?, engravings?,
    engraved, etchings?, lithographs?, chromolithographs?, lithography, woodcuts?,
    mezzotints?, illustrations?, caricatures?, cartoons?, comics?, watercolou?rs?,
    pastels?, charcoal, miniatures?, mosaics?, murals?, frescos?, posters?, artworks?,
    vanity fair, after a photograph, icons?, graffiti, renderings?, ai[- ]generated
    """
)
_PHOTO = _words(
    r"""
    photos?, photographs?, photography, photographic, photographed, headshots?, head shot,
    cabinet cards?, cartes? de visite, daguerreotypes?, ambrotypes?, tintypes?,
    glass negatives?, negatives?, press photos?, selfies?, snapshots?
    """
)
_PORTRAIT = _words(
    r"""
    portraits?, headshots?, head shot, close[- ]?up, cropped, crop, face
    """
)
_GROUP = _words(
    r"""
    and, with, family, group, team, crowd, cabinet, meeting, visit
    """
)
_GOOD_SUBCAT = _words(
    r"""
    by year, by decade, by age, in \d{4}, at age, aged, as a child, young, youth,
    childhood, photographs?, photos?, portraits?
    """
)

T = TypeVar("T")


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
class _Candidate:
    title: str
    sources: set[str] = field(default_factory=set)  # "category", "search", "wikidata"
    category_years: set[int] = field(default_factory=set)


# -- selection helpers ----------------------------------------------------------------


def spread_order(years: Iterable[int], taken: Iterable[int] = ()) -> list[int]:
    """Years reordered so that every prefix covers the span as evenly as possible.

    Earliest first, then latest, then each time the year farthest from those
    already taken (`taken`: years covered beforehand; ties: the earlier year).
    """
    pool = sorted(set(years))
    if len(pool) <= 2:
        return pool
    order = [pool[0], pool[-1]]
    covered = order + list(taken)
    rest = pool[1:-1]
    while rest:
        best = max(rest, key=lambda y: (min(abs(y - o) for o in covered), -y))
        order.append(best)
        covered.append(best)
        rest.remove(best)
    return order


def spread_pick(
    items: Sequence[T],
    limit: int,
    *,
    year: Callable[[T], int | None],
    score: Callable[[T], float],
    taken: Iterable[int] = (),
) -> list[T]:
    """Pick up to `limit` items round-robin across years, years in `spread_order`.

    Within a year the best-scored item comes first; undated items form one
    extra group visited after all the years in each round.
    """
    groups: dict[int | None, list[T]] = {}
    for item in items:
        groups.setdefault(year(item), []).append(item)
    for members in groups.values():
        members.sort(key=score, reverse=True)
    keys: list[Hashable] = list(spread_order((k for k in groups if k is not None), taken))
    if None in groups:
        keys.append(None)
    picked: list[T] = []
    depth = 0
    while len(picked) < limit and any(depth < len(groups[k]) for k in keys):
        for k in keys:
            if depth < len(groups[k]):
                picked.append(groups[k][depth])
                if len(picked) == limit:
                    break
        depth += 1
    return picked


def _text_for(cand_title: str) -> str:
    t = cand_title.split(":", 1)[-1]
    t = re.sub(r"\.[A-Za-z0-9]{2,5}$", "", t)
    return t.replace("_", " ")


def _name_tokens(person: Person) -> list[str]:
    label = _norm(re.sub(r"\(.*?\)", "", person.label))
    tokens = [t for t in label.split() if len(t) > 2]
    return [label] + ([tokens[-1]] if tokens else [])


def _mentions(text: str, person: Person) -> bool:
    n = _norm(text)
    return any(tok and tok in n for tok in _name_tokens(person))


def _subcat_score(title: str, person: Person) -> float:
    name = _text_for(title)
    if _EXCLUDE.search(name) or _EXCLUDE_TITLE.search(name) or _ARTWORK.search(name):
        return float("-inf")
    score = 0.0
    if _GOOD_SUBCAT.search(name):
        score += 2.0
    if year_from_text(name, birth_year=person.birth_date.year if person.birth_date else None):
        score += 3.0
    if _mentions(name, person):
        score += 1.0
    return score


def _year_range(person: Person) -> tuple[int, int]:
    lo = person.birth_date.year if person.birth_date else 1826
    hi = person.death_date.year if person.death_date else dt.date.today().year
    return lo, hi


def _plausible_year(y: int | None, person: Person) -> int | None:
    if y is None:
        return None
    lo, hi = _year_range(person)
    return y if lo <= y <= hi else None


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
) -> tuple[dict[str, _Candidate], dict[str, str]]:
    """Candidate file titles from the category walk, the file search and the Wikidata image.

    Returns:
        (candidates by title, {title: reason} for files left out by their name alone).
    """
    cands: dict[str, _Candidate] = {}
    dropped: dict[str, str] = {}

    def add(title: str, source: str, year: int | None = None) -> None:
        if not title.startswith("File:"):
            return
        if m := _SKIP_EXT.search(title):
            dropped[title] = f"not a photo format ({m.group(1).lower()})"
            return
        text = _text_for(title)
        if hit := (_EXCLUDE.search(text) or _EXCLUDE_TITLE.search(text)):
            dropped[title] = f"not a portrait ({hit.group(0).lower()})"
            return
        c = cands.setdefault(title, _Candidate(title))
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
    birth_year = person.birth_date.year if person.birth_date else None
    seen: set[str] = set()
    level = [f"Category:{person.commons_category}"]
    depth = 0
    while level and len(seen) < MAX_CATEGORIES:
        level = level[: MAX_CATEGORIES - len(seen)]
        seen.update(level)
        listings = _parallel(lambda t: _list_category(client, t), level)
        subcats: list[str] = []
        for cat, (files, subs) in zip(level, listings, strict=True):
            year = _plausible_year(year_from_text(_text_for(cat), birth_year=birth_year), person)
            for f in files:
                add(f, "category", year if depth > 0 else None)
            subcats += [s for s in subs if s not in seen]
        depth += 1
        if depth > MAX_DEPTH:
            break
        level = _choose_subcats(list(dict.fromkeys(subcats)), person, MAX_CATEGORIES - len(seen))


def _choose_subcats(subcats: list[str], person: Person, budget: int) -> list[str]:
    """The sub-categories worth listing, at most `budget`.

    First the ones that lead to photos ("X by year", "Photographs of X"), then
    year categories spread over the life, then others about the person.
    """
    birth_year = person.birth_date.year if person.birth_date else None

    def year(s: str) -> int | None:
        return _plausible_year(year_from_text(_text_for(s), birth_year=birth_year), person)

    scored = {s: _subcat_score(s, person) for s in subcats}
    scored = {s: v for s, v in scored.items() if v > float("-inf")}
    dated = [s for s in scored if year(s) is not None]
    undated = sorted((s for s in scored if year(s) is None), key=lambda s: -scored[s])
    leading = [s for s in undated if _GOOD_SUBCAT.search(_text_for(s))]
    others = [s for s in undated if s not in leading and scored[s] > 0]
    spread = spread_pick(dated, len(dated), year=year, score=lambda s: scored[s])
    return (leading + spread + others)[: max(0, budget)]


def _prefilter(cands: dict[str, _Candidate], person: Person) -> list[_Candidate]:
    """Keep at most `MAX_INFO_TITLES` candidates, spread over the years guessed from names."""
    birth_year = person.birth_date.year if person.birth_date else None
    kept = list(cands.values())

    def year(c: _Candidate) -> int | None:
        y = _plausible_year(year_from_text(_text_for(c.title), birth_year=birth_year), person)
        return y if y is not None else (min(c.category_years) if c.category_years else None)

    def score(c: _Candidate) -> float:
        text = _text_for(c.title)
        s = 3.0 if "wikidata" in c.sources else 0.0
        s += 1.0 if "category" in c.sources else 0.0
        s += 0.5 if _PHOTO.search(text) or _PORTRAIT.search(text) else 0.0
        s -= 1.0 if _ARTWORK.search(text) else 0.0
        s += 0.5 if _mentions(text, person) else 0.0
        return s

    return spread_pick(kept, MAX_INFO_TITLES, year=year, score=score)


# -- classification and dating ------------------------------------------------------


def _classify(title: str, categories: str, description: str) -> str:
    text = f"{_text_for(title)} | {categories}"
    if _ARTWORK.search(text) and not _PHOTO.search(_text_for(title)):
        return "artwork"
    if _PHOTO.search(text) or _PHOTO.search(description):
        return "photo"
    if _ARTWORK.search(description):
        return "artwork"
    return "unknown"


def _photo_from_page(page: dict, cand: _Candidate, person: Person) -> tuple[FoundPhoto | None, str]:
    """A `FoundPhoto` from one imageinfo page, or (None, reason it was left out)."""
    if page.get("missing") or page.get("invalid"):
        return None, "file not found on Commons"
    infos = page.get("imageinfo") or []
    if not infos:
        return None, "no file information"
    info = infos[0]
    mime = str(info.get("mime", "")).lower()
    width, height = int(info.get("width") or 0), int(info.get("height") or 0)
    if mime not in IMAGE_MIMES:
        return None, f"not a photo format ({mime or 'unknown type'})"
    if min(width, height) < MIN_SIDE:
        return None, f"too small ({width}x{height} px)"
    if max(width, height) > MAX_ASPECT * min(width, height):
        return None, f"not a portrait shape ({width}x{height} px)"
    meta = {k: (v or {}) for k, v in (info.get("extmetadata") or {}).items() if isinstance(v, dict)}

    def value(key: str) -> str:
        return str(meta.get(key, {}).get("value", "") or "")

    categories = value("Categories").replace("|", " | ")
    description = strip_html(value("ImageDescription"))
    object_name = strip_html(value("ObjectName"))
    own_name = f"{_text_for(cand.title)} | {object_name}"
    hit = _EXCLUDE.search(f"{own_name} | {categories}") or _EXCLUDE_TITLE.search(own_name)
    if hit:
        return None, f"not a portrait ({hit.group(0).lower()})"
    kind = _classify(cand.title, f"{object_name} | {categories}", description)
    dto_source = meta.get("DateTimeOriginal", {}).get("source")
    if kind == "unknown" and dto_source == "mediawiki-metadata":
        kind = "photo"  # the date comes from camera (EXIF) metadata

    # capture date: EXIF or description-page date, checked against the life and the upload
    upload = parse_date_text(value("DateTime"))
    not_after = (
        upload[0]
        if upload and meta.get("DateTime", {}).get("source") == "mediawiki-metadata"
        else None
    )
    date = source = precision = None
    found = parse_date_text(value("DateTimeOriginal"))
    if found and plausible(
        found[0], birth=person.birth_date, death=person.death_date, not_after=not_after
    ):
        date, precision = found
        source = "exif" if dto_source == "mediawiki-metadata" else "commons"
    if date is None:
        birth_year = person.birth_date.year if person.birth_date else None
        guesses = [
            (
                "title",
                _plausible_year(
                    year_from_text(f"{_text_for(cand.title)} {object_name}", birth_year=birth_year),
                    person,
                ),
            ),
            ("category", min(cand.category_years) if cand.category_years else None),
        ]
        for cat in value("Categories").split("|"):
            if _mentions(cat, person):
                guesses.append(
                    (
                        "category",
                        _plausible_year(year_from_text(cat, birth_year=birth_year), person),
                    )
                )
        for src, y in guesses:
            if y is not None:
                date, source, precision = dt.date(y, 7, 1), src, "year"
                break

    title_text = _text_for(cand.title)
    score = {"photo": 2.0, "unknown": 1.0, "artwork": 0.0}[kind] * 10
    score += 3.0 if "wikidata" in cand.sources else 0.0
    score += 1.0 if "category" in cand.sources else 0.0
    score += 0.5 if _PORTRAIT.search(f"{title_text} {object_name}") else 0.0
    score -= 1.0 if _GROUP.search(f"{title_text} {object_name}") else 0.0
    score += 0.5 if date is not None else 0.0
    score += min(width, height, THUMB_WIDTH) / THUMB_WIDTH

    author = strip_html(value("Artist")) or strip_html(value("Credit")) or "Unknown author"
    licence = (
        strip_html(value("LicenseShortName"))
        or strip_html(value("UsageTerms"))
        or "see the file page"
    )
    licence_url = strip_html(value("LicenseUrl")) or None
    page_url = info.get("descriptionurl") or (
        "https://commons.wikimedia.org/wiki/" + quote(cand.title.replace(" ", "_"), safe=":/(),'!")
    )
    image_url = info.get("thumburl") or info.get("url") or ""
    if not image_url:
        return None, "no download URL"
    return FoundPhoto(
        title=cand.title,
        page_url=page_url,
        image_url=image_url,
        width=width,
        height=height,
        mime=mime,
        date=date,
        date_source=source,
        date_precision=precision,
        author=author[:200],
        licence=licence[:100],
        licence_url=licence_url,
        description=(description or object_name)[:300],
        kind=kind,
        sha1=str(info.get("sha1", "")),
        score=score,
    ), ""


def rank_photos(
    person: Person, client: WikimediaClient
) -> tuple[list[FoundPhoto], list[tuple[str, str]]]:
    """All usable candidates in pick order (spread over the years), and (title, reason) for the rest."""
    found, dropped = collect_titles(person, client)
    cands = _prefilter(found, person)
    titles = [c.title for c in cands]
    batches = [titles[i : i + INFO_BATCH] for i in range(0, len(titles), INFO_BATCH)]
    pages: dict[str, dict] = {}
    for part in _parallel(lambda b: _imageinfo(client, b), batches):
        pages.update(part)
    photos: list[FoundPhoto] = []
    rejected: list[tuple[str, str]] = list(dropped.items())
    for cand in cands:
        photo, reason = _photo_from_page(pages.get(cand.title, {"missing": True}), cand, person)
        if photo is None:
            rejected.append((cand.title, reason))
        else:
            photos.append(photo)
    # the same file under several titles: keep the best-scored copy
    best: dict[str, FoundPhoto] = {}
    for photo in photos:
        if photo.sha1 and (photo.sha1 not in best or photo.score > best[photo.sha1].score):
            best[photo.sha1] = photo
    unique = []
    for photo in photos:
        keep = best.get(photo.sha1, photo) if photo.sha1 else photo
        if keep is photo:
            unique.append(photo)
        else:
            rejected.append((photo.title, f"same file as {keep.title}"))
    photos = unique
    # the Wikidata main image is usually the best portrait: it always goes first
    main = [
        p
        for p in photos
        if person.image and p.title == f"File:{person.image}" and p.kind != "artwork"
    ]
    good = [p for p in photos if p.kind != "artwork" and p not in main]
    art = [p for p in photos if p.kind == "artwork"]
    taken = [p.year for p in main if p.year is not None]
    ordered = main + spread_pick(
        good, len(good), year=lambda p: p.year, score=lambda p: p.score, taken=taken
    )
    ordered += spread_pick(art, len(art), year=lambda p: p.year, score=lambda p: p.score)
    log.info(
        "%s: %d candidates, %d usable, %d left out",
        person.label,
        len(cands),
        len(ordered),
        len(rejected),
    )
    return ordered, rejected


def by_date(photos: Iterable[FoundPhoto]) -> list[FoundPhoto]:
    """Photos in capture order, undated ones last."""
    return sorted(photos, key=lambda p: (p.date is None, p.date or dt.date.max, p.title))


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
