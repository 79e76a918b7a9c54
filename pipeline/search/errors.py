"""Errors of the photo search, worded neutrally with their facts as attributes.

The CLI and the webapp add what their users can do next (a command-line
option, a choice on the page).
"""

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
        listed = "; ".join(m.describe() for m in self.candidates[:8])
        super().__init__(f"{name!r} may mean several people: {listed}.")


class TooFewPhotosError(SearchError, NotEnoughPhotosError):
    """Too few usable photos of the person were found or downloaded (CLI exit code 3).

    Attributes:
        person (Person): who the name resolved to.
        photos (list[FetchedPhoto]): the photos that did download (may be empty).
        skipped (list[tuple[str, str]]): (title, reason) for every candidate left out.
    """

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
        self.where = where
        super().__init__(found, found + len(self.skipped), needed=needed, left_out=self.skipped)

    def describe(self) -> str:
        """Where the search looked and how many photos it found."""
        text = (
            f"Only {self.usable} usable photo(s) of {self.person.label} ({self.person.qid}) were found on "
            f"{self.where}; a time-lapse needs at least {self.needed}."
        )
        if self.skipped:
            reasons = "; ".join(f"{t}: {r}" for t, r in self.skipped[:3])
            text += f" Left out: {reasons}{' ...' if len(self.skipped) > 3 else ''}."
        return text
