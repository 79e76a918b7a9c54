"""Errors of the photo search, each with a message that says what to do next."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pipeline.errors import NotEnoughPhotosError, PipelineError, UsageError

if TYPE_CHECKING:
    from pipeline.search.fetch import FetchedPhoto
    from pipeline.search.wikidata import Person, PersonMatch


class SearchError(PipelineError):
    """Wikidata or Wikimedia Commons could not answer (network, API error, refused URL)."""


class UnknownNameError(SearchError, UsageError):
    """No person of that name on Wikidata (CLI exit code 2).

    Attributes:
        name (str): what the user typed.
        others (list[PersonMatch]): entities that matched but are not people.
    """

    def __init__(self, name: str, others: Sequence[PersonMatch] = ()) -> None:
        self.name = name
        self.others = list(others)
        msg = f"No person called {name!r} was found on Wikidata."
        if self.others:
            listed = "; ".join(m.describe() for m in self.others[:5])
            msg += f" Matches that are not people: {listed}."
        msg += (
            " Check the spelling, try the full name, or pass the person's Wikidata ID (--qid Q...)."
        )
        super().__init__(msg)


class AmbiguousNameError(SearchError, UsageError):
    """Several people share the name (CLI exit code 2).

    Attributes:
        name (str): what the user typed.
        candidates (list[PersonMatch]): the people it may mean, best match first.
    """

    def __init__(self, name: str, candidates: Sequence[PersonMatch]) -> None:
        self.name = name
        self.candidates = list(candidates)
        listed = "\n".join(f"  {m.describe()}" for m in self.candidates)
        super().__init__(
            f"{name!r} may mean several people:\n{listed}\n"
            "Choose one by its Wikidata ID (--qid Q... on the command line)."
        )


class TooFewPhotosError(SearchError, NotEnoughPhotosError):
    """Too few usable photos of the person were found or downloaded (CLI exit code 3).

    Attributes:
        person (Person): who the name resolved to.
        photos (list[FetchedPhoto]): the photos that did download (may be empty).
        skipped (list[tuple[str, str]]): (title, reason) for every candidate left out.
    """

    exit_code = 3

    def __init__(
        self,
        person: Person,
        found: int,
        needed: int,
        photos: Sequence[FetchedPhoto] = (),
        skipped: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.person = person
        self.photos = list(photos)
        self.skipped = list(skipped)
        where = (
            f"Commons category {person.commons_category!r}"
            if person.commons_category
            else "Wikimedia Commons"
        )
        msg = (
            f"Only {found} usable photo(s) of {person.label} ({person.qid}) on {where}; "
            f"at least {needed} are needed for a time-lapse."
        )
        if self.skipped:
            reasons = "; ".join(f"{t}: {r}" for t, r in self.skipped[:3])
            msg += f" Left out: {reasons}{' ...' if len(self.skipped) > 3 else ''}."
        msg += " Add photos of your own, or try again later if downloads failed."
        super().__init__(msg)
