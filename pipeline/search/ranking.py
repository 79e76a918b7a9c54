"""Ranking a person's Commons photos: pure decisions on file names and file information.

No network here: `pipeline.search.commons` lists the candidates and fetches
their ``imageinfo``; this module says which files look like photos of the
person's face (names, categories, MIME type, size), dates them (EXIF or the
description page, else a year in the title or a category), scores them and
orders the picks so that any prefix is spread over the years of the life.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

from pipeline.search.dates import parse_date_text, plausible, strip_html, year_from_text
from pipeline.search.found import Candidate, FoundPhoto
from pipeline.search.wikidata import Person, _norm

THUMB_WIDTH = 1024
MIN_SIDE = 200  # smaller originals cannot give a usable face crop
MAX_ASPECT = 3.0
MAX_INFO_TITLES = 200  # files whose imageinfo is fetched
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


# -- spreading over the years ----------------------------------------------------------


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


# -- names ----------------------------------------------------------------------------


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


def _life_year(text: str, person: Person) -> int | None:
    """A year named in `text` that falls within the person's life, else None."""
    birth_year = person.birth_date.year if person.birth_date else None
    return _plausible_year(year_from_text(text, birth_year=birth_year), person)


def name_problem(title: str) -> str | None:
    """Why a file is left out by its name alone (format, or not a portrait), or None to keep it."""
    if m := _SKIP_EXT.search(title):
        return f"not a photo format ({m.group(1).lower()})"
    text = _text_for(title)
    if hit := (_EXCLUDE.search(text) or _EXCLUDE_TITLE.search(text)):
        return f"not a portrait ({hit.group(0).lower()})"
    return None


def category_year(title: str, person: Person) -> int | None:
    """The year a category's name points to (``Thomas Edison in 1878`` -> 1878), within the life."""
    return _life_year(_text_for(title), person)


def choose_subcats(subcats: list[str], person: Person, budget: int) -> list[str]:
    """The sub-categories worth listing, at most `budget`.

    First the ones that lead to photos ("X by year", "Photographs of X"), then
    year categories spread over the life, then others about the person.
    """
    scored = {s: _subcat_score(s, person) for s in subcats}
    scored = {s: v for s, v in scored.items() if v > float("-inf")}
    dated = [s for s in scored if category_year(s, person) is not None]
    undated = sorted(
        (s for s in scored if category_year(s, person) is None), key=lambda s: -scored[s]
    )
    leading = [s for s in undated if _GOOD_SUBCAT.search(_text_for(s))]
    others = [s for s in undated if s not in leading and scored[s] > 0]
    spread = spread_pick(
        dated, len(dated), year=lambda s: category_year(s, person), score=lambda s: scored[s]
    )
    return (leading + spread + others)[: max(0, budget)]


def prefilter(cands: dict[str, Candidate], person: Person) -> list[Candidate]:
    """Keep at most `MAX_INFO_TITLES` candidates, spread over the years guessed from names."""

    def year(c: Candidate) -> int | None:
        y = _life_year(_text_for(c.title), person)
        return y if y is not None else (min(c.category_years) if c.category_years else None)

    def score(c: Candidate) -> float:
        text = _text_for(c.title)
        s = 3.0 if "wikidata" in c.sources else 0.0
        s += 1.0 if "category" in c.sources else 0.0
        s += 0.5 if _PHOTO.search(text) or _PORTRAIT.search(text) else 0.0
        s -= 1.0 if _ARTWORK.search(text) else 0.0
        s += 0.5 if _mentions(text, person) else 0.0
        return s

    return spread_pick(list(cands.values()), MAX_INFO_TITLES, year=year, score=score)


# -- one file: kind, date, score, credits ------------------------------------------------


def _classify(title: str, categories: str, description: str) -> str:
    text = f"{_text_for(title)} | {categories}"
    if _ARTWORK.search(text) and not _PHOTO.search(_text_for(title)):
        return "artwork"
    if _PHOTO.search(text) or _PHOTO.search(description):
        return "photo"
    if _ARTWORK.search(description):
        return "artwork"
    return "unknown"


def _file_problem(mime: str, width: int, height: int) -> str | None:
    """Why the file itself cannot give a face crop (type, size, shape), or None."""
    if mime not in IMAGE_MIMES:
        return f"not a photo format ({mime or 'unknown type'})"
    if min(width, height) < MIN_SIDE:
        return f"too small ({width}x{height} px)"
    if max(width, height) > MAX_ASPECT * min(width, height):
        return f"not a portrait shape ({width}x{height} px)"
    return None


class _Meta:
    """The ``extmetadata`` of one file: values as plain strings, and where each came from."""

    def __init__(self, info: dict[str, Any]) -> None:
        raw = info.get("extmetadata") or {}
        self._fields = {k: v for k, v in raw.items() if isinstance(v, dict)}

    def value(self, key: str) -> str:
        return str(self._fields.get(key, {}).get("value", "") or "")

    def from_file(self, key: str) -> bool:
        """True when the field comes from the file's own (EXIF) metadata."""
        return self._fields.get(key, {}).get("source") == "mediawiki-metadata"


def _capture_date(
    meta: _Meta, cand: Candidate, person: Person, object_name: str
) -> tuple[dt.date | None, str | None, str | None]:
    """(date, source, precision): EXIF or description-page date checked against the life and
    the upload, else a year from the title, the listing category or the file's categories."""
    upload = parse_date_text(meta.value("DateTime"))
    not_after = upload[0] if upload and meta.from_file("DateTime") else None
    found = parse_date_text(meta.value("DateTimeOriginal"))
    if found and plausible(
        found[0], birth=person.birth_date, death=person.death_date, not_after=not_after
    ):
        return found[0], "exif" if meta.from_file("DateTimeOriginal") else "commons", found[1]
    guesses = [
        ("title", _life_year(f"{_text_for(cand.title)} {object_name}", person)),
        ("category", min(cand.category_years) if cand.category_years else None),
    ]
    guesses += [
        ("category", _life_year(cat, person))
        for cat in meta.value("Categories").split("|")
        if _mentions(cat, person)
    ]
    for source, year in guesses:
        if year is not None:
            return dt.date(year, 7, 1), source, "year"
    return None, None, None


def _score(
    kind: str, cand: Candidate, own_text: str, dated: bool, width: int, height: int
) -> float:
    """How good a pick the file is: photographs first, the Wikidata image and portraits favoured."""
    score = {"photo": 2.0, "unknown": 1.0, "artwork": 0.0}[kind] * 10
    score += 3.0 if "wikidata" in cand.sources else 0.0
    score += 1.0 if "category" in cand.sources else 0.0
    score += 0.5 if _PORTRAIT.search(own_text) else 0.0
    score -= 1.0 if _GROUP.search(own_text) else 0.0
    score += 0.5 if dated else 0.0
    score += min(width, height, THUMB_WIDTH) / THUMB_WIDTH
    return score


def photo_from_page(page: dict, cand: Candidate, person: Person) -> tuple[FoundPhoto | None, str]:
    """A `FoundPhoto` from one imageinfo page, or (None, reason it was left out)."""
    if page.get("missing") or page.get("invalid"):
        return None, "file not found on Commons"
    infos = page.get("imageinfo") or []
    if not infos:
        return None, "no file information"
    info = infos[0]
    mime = str(info.get("mime", "")).lower()
    width, height = int(info.get("width") or 0), int(info.get("height") or 0)
    if problem := _file_problem(mime, width, height):
        return None, problem
    meta = _Meta(info)
    categories = meta.value("Categories").replace("|", " | ")
    description = strip_html(meta.value("ImageDescription"))
    object_name = strip_html(meta.value("ObjectName"))
    own_name = f"{_text_for(cand.title)} | {object_name}"
    hit = _EXCLUDE.search(f"{own_name} | {categories}") or _EXCLUDE_TITLE.search(own_name)
    if hit:
        return None, f"not a portrait ({hit.group(0).lower()})"
    kind = _classify(cand.title, f"{object_name} | {categories}", description)
    if kind == "unknown" and meta.from_file("DateTimeOriginal"):
        kind = "photo"  # the date comes from camera (EXIF) metadata
    date, source, precision = _capture_date(meta, cand, person, object_name)
    image_url = info.get("thumburl") or info.get("url") or ""
    if not image_url:
        return None, "no download URL"
    author = (
        strip_html(meta.value("Artist")) or strip_html(meta.value("Credit")) or "Unknown author"
    )
    licence = (
        strip_html(meta.value("LicenseShortName"))
        or strip_html(meta.value("UsageTerms"))
        or "see the file page"
    )
    page_url = info.get("descriptionurl") or (
        "https://commons.wikimedia.org/wiki/" + quote(cand.title.replace(" ", "_"), safe=":/(),'!")
    )
    own_text = f"{_text_for(cand.title)} {object_name}"
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
        licence_url=strip_html(meta.value("LicenseUrl")) or None,
        description=(description or object_name)[:300],
        kind=kind,
        sha1=str(info.get("sha1", "")),
        score=_score(kind, cand, own_text, date is not None, width, height),
    ), ""


# -- the whole set ---------------------------------------------------------------------


def order_photos(
    pages: dict[str, dict], cands: Sequence[Candidate], person: Person
) -> tuple[list[FoundPhoto], list[tuple[str, str]]]:
    """The usable candidates in pick order, and (title, reason) for the ones left out.

    One copy of each file (by SHA-1, the best scored); the Wikidata main image
    first; then photographs spread over the years; artworks last.
    """
    photos: list[FoundPhoto] = []
    rejected: list[tuple[str, str]] = []
    for cand in cands:
        photo, reason = photo_from_page(pages.get(cand.title, {"missing": True}), cand, person)
        if photo is None:
            rejected.append((cand.title, reason))
        else:
            photos.append(photo)
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
    main = [
        p
        for p in unique
        if person.image and p.title == f"File:{person.image}" and p.kind != "artwork"
    ]
    good = [p for p in unique if p.kind != "artwork" and p not in main]
    art = [p for p in unique if p.kind == "artwork"]
    taken = [p.year for p in main if p.year is not None]
    ordered = main + spread_pick(
        good, len(good), year=lambda p: p.year, score=lambda p: p.score, taken=taken
    )
    ordered += spread_pick(art, len(art), year=lambda p: p.year, score=lambda p: p.score)
    return ordered, rejected


def by_date(photos: Iterable[FoundPhoto]) -> list[FoundPhoto]:
    """Photos in capture order, undated ones last."""
    return sorted(photos, key=lambda p: (p.date is None, p.date or dt.date.max, p.title))
