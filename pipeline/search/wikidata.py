"""Resolve a typed name to one person on Wikidata: birth date, main image, Commons category."""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from pipeline.search.client import WikimediaClient
from pipeline.search.dates import parse_wikidata_time
from pipeline.search.errors import AmbiguousNameError, SearchError, UnknownNameError

log = logging.getLogger(__name__)

HUMAN = "Q5"
SEARCH_LIMIT = 7  # candidates asked from wbsearchentities
PROMINENCE_RATIO = 4.0  # a namesake this many times better known wins outright
_QID_RE = re.compile(r"Q[1-9]\d{0,11}")


def parse_qid(text: str | None) -> str | None:
    """The Wikidata item ID that `text` spells, normalised (``" q8743 "`` -> ``"Q8743"``), else None.

    The one rule for what counts as an ID, used wherever a typed name may be
    one: a Q, in either case, then a number without leading zeros (at most 12
    digits), with surrounding blanks ignored.
    """
    candidate = str(text or "").strip().upper()
    return candidate if _QID_RE.fullmatch(candidate) else None


@dataclass(frozen=True)
class PersonMatch:
    """A search hit offered to the user when a name is ambiguous."""

    qid: str
    label: str
    description: str

    def describe(self) -> str:
        return f"{self.qid} {self.label}" + (f" ({self.description})" if self.description else "")

    def to_json(self) -> dict[str, str]:
        return {"qid": self.qid, "label": self.label, "description": self.description}


@dataclass
class Person:
    """A person resolved on Wikidata.

    Attributes:
        qid (str): Wikidata item ID, e.g. ``Q8743``.
        label (str): English name.
        description (str): English one-line description.
        birth_date (datetime.date | None): date of birth (P569), mid-period when imprecise.
        birth_precision (str | None): ``day``, ``month`` or ``year``.
        death_date (datetime.date | None): date of death (P570).
        commons_category (str | None): Commons category name without the ``Category:`` prefix (P373).
        image (str | None): main image file name without ``File:`` (P18).
    """

    qid: str
    label: str
    description: str = ""
    birth_date: dt.date | None = None
    birth_precision: str | None = None
    death_date: dt.date | None = None
    commons_category: str | None = None
    image: str | None = None

    @property
    def url(self) -> str:
        return f"https://www.wikidata.org/wiki/{self.qid}"

    def match(self) -> PersonMatch:
        return PersonMatch(self.qid, self.label, self.description)

    def to_json(self) -> dict[str, Any]:
        return {
            "qid": self.qid,
            "label": self.label,
            "description": self.description,
            "birth_date": self.birth_date.isoformat() if self.birth_date else None,
            "birth_precision": self.birth_precision,
            "death_date": self.death_date.isoformat() if self.death_date else None,
            "commons_category": self.commons_category,
            "image": self.image,
            "wikidata_url": self.url,
        }


def _norm(text: str) -> str:
    """Case-, accent- and spacing-insensitive form of a name."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"[\s.\-_]+", " ", text.casefold()).strip()


def _best_statements(entity: dict, prop: str) -> list[dict]:
    """Statements of `prop` with a value, preferred rank first, deprecated ones dropped."""
    claims = [
        c
        for c in (entity.get("claims") or {}).get(prop, [])
        if c.get("rank") != "deprecated" and (c.get("mainsnak") or {}).get("snaktype") == "value"
    ]
    return sorted(claims, key=lambda c: c.get("rank") != "preferred")


def _string_value(entity: dict, prop: str) -> str | None:
    for claim in _best_statements(entity, prop):
        value = claim["mainsnak"].get("datavalue", {}).get("value")
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _time_value(entity: dict, prop: str) -> tuple[dt.date | None, str | None]:
    order = {"day": 0, "month": 1, "year": 2}
    best: tuple[dt.date | None, str | None] = (None, None)
    for claim in _best_statements(entity, prop):
        value = claim["mainsnak"].get("datavalue", {}).get("value")
        if not isinstance(value, dict):
            continue
        date, precision = parse_wikidata_time(value)
        if date and (best[0] is None or order[precision] < order[best[1]]):
            best = (date, precision)
        if best[1] == "day":
            break
    return best


def _is_human(entity: dict) -> bool:
    for claim in _best_statements(entity, "P31"):
        value = claim["mainsnak"].get("datavalue", {}).get("value")
        if isinstance(value, dict) and value.get("id") == HUMAN:
            return True
    return False


def _text(entity: dict, key: str) -> str:
    values = entity.get(key) or {}
    for lang in ("en", "mul"):
        if isinstance(values.get(lang), dict) and values[lang].get("value"):
            return values[lang]["value"]
    for v in values.values():
        if isinstance(v, dict) and v.get("value"):
            return v["value"]
    return ""


def person_from_entity(entity: dict) -> Person:
    """Build a `Person` from a ``wbgetentities`` entity (labels, descriptions, claims, sitelinks)."""
    birth, precision = _time_value(entity, "P569")
    death, _ = _time_value(entity, "P570")
    category = _string_value(entity, "P373")
    if not category:
        sitelink = ((entity.get("sitelinks") or {}).get("commonswiki") or {}).get("title", "")
        if sitelink.startswith("Category:"):
            category = sitelink[len("Category:") :]
    return Person(
        qid=entity["id"],
        label=_text(entity, "labels") or entity["id"],
        description=_text(entity, "descriptions"),
        birth_date=birth,
        birth_precision=precision,
        death_date=death,
        commons_category=category,
        image=_string_value(entity, "P18"),
    )


def get_entities(client: WikimediaClient, qids: list[str]) -> dict[str, dict]:
    """``wbgetentities`` for up to 50 items; missing items are left out."""
    if not qids:
        return {}
    answer = client.wikidata(
        action="wbgetentities",
        ids="|".join(qids),
        props="labels|descriptions|claims|sitelinks",
        languages="en|mul",
        languagefallback="1",
    )
    entities = answer.get("entities") or {}
    return {
        qid: ent
        for qid, ent in entities.items()
        if isinstance(ent, dict) and "missing" not in ent and ent.get("id")
    }


def resolve_person(
    name: str, *, qid: str | None = None, client: WikimediaClient | None = None
) -> Person:
    """Find the one person a typed name means.

    The name goes to ``wbsearchentities``; the hits are fetched with
    ``wbgetentities`` and only humans (P31 = Q5) are kept. One human, or one
    whose label equals the name, or one far better known than the others (by
    number of Wikipedia links) is the answer; otherwise the name is ambiguous.

    Args:
        name (str): what the user typed, e.g. ``"Thomas Edison"``.
        qid (str | None): a Wikidata ID (``Q8743``) that skips the search.
        client (WikimediaClient | None): HTTP client; a default one is made when None.

    Raises:
        UnknownNameError: no person matches (exit code 2).
        AmbiguousNameError: several people match; `candidates` lists them (exit code 2).
        SearchError: Wikidata could not be reached.
    """
    own = client is None
    client = client or WikimediaClient()
    try:
        return _resolve(name, qid, client)
    finally:
        if own:
            client.close()


def _resolve(name: str, qid: str | None, client: WikimediaClient) -> Person:
    name = " ".join((name or "").split())
    if qid:
        typed, qid = qid, parse_qid(qid)
        if qid is None:
            raise UnknownNameError(typed.strip())
        entity = get_entities(client, [qid]).get(qid)
        if entity is None:
            raise UnknownNameError(qid)
        person = person_from_entity(entity)
        if not _is_human(entity):
            raise SearchError(
                f"{person.match().describe()} is not a person on Wikidata; use the Wikidata ID of a person."
            )
        return person
    if not name:
        raise UnknownNameError(name)
    if len(name) > 200:
        raise UnknownNameError(name[:60] + "...")
    if parse_qid(name):
        return _resolve("", name, client)

    answer = client.wikidata(
        action="wbsearchentities",
        search=name,
        language="en",
        uselang="en",
        type="item",
        limit=str(SEARCH_LIMIT),
    )
    hits = [h for h in answer.get("search") or [] if isinstance(h, dict) and h.get("id")]
    if not hits:
        raise UnknownNameError(name)
    entities = get_entities(client, [h["id"] for h in hits])
    humans: list[tuple[dict, dict]] = [
        (h, entities[h["id"]]) for h in hits if h["id"] in entities and _is_human(entities[h["id"]])
    ]
    if not humans:
        others = [
            PersonMatch(h["id"], h.get("label", h["id"]), h.get("description", "")) for h in hits
        ]
        raise UnknownNameError(name, others)
    if len(humans) == 1:
        return person_from_entity(humans[0][1])

    wanted = _norm(name)
    exact = [
        (h, e)
        for h, e in humans
        if wanted in (_norm(h.get("label", "")), _norm((h.get("match") or {}).get("text", "")))
    ]
    pool = exact or humans
    if len(pool) == 1:
        return person_from_entity(pool[0][1])
    fame = sorted(
        ((len(e.get("sitelinks") or {}), i) for i, (_, e) in enumerate(pool)), reverse=True
    )
    top, second = fame[0][0], fame[1][0]
    if top >= PROMINENCE_RATIO * max(second, 1) and top >= 2:
        return person_from_entity(pool[fame[0][1]][1])
    raise AmbiguousNameError(name, [person_from_entity(e).match() for _, e in pool])
