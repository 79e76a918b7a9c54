"""The page's event handlers: thin calls into review, render and search, with messages for visitors.

`app.py` builds the page and wires these; each handler takes the page's values
and returns what its outputs show. Domain errors become `gr.Error` with the
visitor's wording (`messages.visitor_message`); anything unexpected is logged
and shown as one generic sentence.
"""

from __future__ import annotations

import functools
import html
import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import gradio as gr

from pipeline.codes import AgeSource
from pipeline.errors import PipelineError
from pipeline.methods.base import available_methods
from pipeline.progress import Progress, clamp_fraction
from pipeline.search import AmbiguousNameError
from pipeline.selection import selection_limit
from pipeline.webapp import cards, messages, review, table
from pipeline.webapp import render as rendering
from pipeline.webapp.controls import settings_from_page
from pipeline.webapp.search import DEFAULT_LIMIT, find_by_name
from pipeline.webapp.state import PageState
from pipeline.webapp.uploads import path_of

log = logging.getLogger(__name__)


def guard(fn: Callable | None = None, *, outputs: int = 0) -> Callable:
    """Pipeline errors as the visitor's message; anything unexpected as a generic one (and logged).

    With `outputs`, a problem is a warning toast and the outputs stay as they were: a failed
    event would leave an empty "Error" badge over each of its outputs after the toast fades.
    """
    if fn is None:
        return functools.partial(guard, outputs=outputs)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error as exc:
            message = exc.message
        except PipelineError as exc:
            message = messages.visitor_message(exc)
        except Exception:
            log.exception("unexpected error in %s", fn.__name__)
            message = messages.UNEXPECTED
        if outputs:
            gr.Warning(message, duration=15)
            return tuple(gr.update() for _ in range(outputs)) if outputs > 1 else gr.update()
        raise gr.Error(message, print_exception=False) from None

    return wrapper


def reporter(progress: gr.Progress | None) -> Progress | None:
    """The pipeline's ``progress(stage, fraction)`` calls as Gradio progress with the stage named."""
    if progress is None:
        return None
    return lambda stage, fraction: progress(clamp_fraction(fraction), desc=stage)


def _paths(files: list[Any] | None) -> list[str]:
    return [p for p in (path_of(f) for f in files or []) if p]


def _state(state: PageState | None) -> PageState:
    return state if isinstance(state, PageState) else PageState()


def _birth_or_warn(birth_date: str) -> str:
    try:
        review.parse_birth_date(birth_date)
        return birth_date
    except PipelineError as exc:
        gr.Warning(f"{messages.visitor_message(exc)} The birth date is ignored until it is fixed.")
        return ""


def summary_markdown(r: review.Review, every_photo: bool = False) -> str:
    """A few lines above the cards: how many photos go into the video, what needs a look."""
    a = r.analysis
    usable = a.usable
    flagged = [p for p in a.photos if p.recommended_remove and p.status == "ok" and not p.include]
    lines = []
    if usable:
        ages = [p.age for p in usable if p.age is not None]
        span = f", ages {min(ages):.0f} to {max(ages):.0f}" if ages else ""
        lines.append(
            f"**{len(usable)} of {len(a.photos)} photos go into the video**{span}, in this order."
        )
    else:
        lines.append(f"**None of the {len(a.photos)} photos can go into the video yet.**")
    if every_photo and len(usable) > 1:
        lines.append(
            "Every kept photo is shown in turn, in the order of the cards below (by date; "
            "a photo without a date where its age puts it), like a photo-a-day video; "
            "tap *Remove* on a card to leave one out."
        )
    if r.not_selected:
        lines.append(
            f"More good photos than one video needs: {len(usable)} spread over the years are proposed; "
            "tap *Keep* on any other card to swap it in, *Remove* to leave one out."
        )
    if flagged:
        lines.append(f"⚠ {len(flagged)} recommended to remove (see the notes on their cards).")
    if r.unusable:
        lines.append(f"✖ {len(r.unusable)} could not be used (see their cards).")
    if len(usable) == 1:
        lines.append(
            "A time-lapse needs at least 2 photos: add more, or tap *Keep* on one left out."
        )
    if a.birth_date is None and a.birth_estimate is not None:
        lines.append(
            f"Birth date: {a.birth_estimate.describe()}; "
            "type the real date in the birth date box for exact ages."
        )
    if a.birth_date is None and any(
        p.age_source in (AgeSource.ESTIMATE, AgeSource.INFERRED) for p in usable
    ):
        lines.append(
            "Ages marked ~ are estimates: correct them on the cards, or give a birth date."
        )
    return "\n\n".join(lines)


def _show(r: review.Review, state: PageState) -> tuple[Any, ...]:
    rows = table.table_rows(r.analysis, r)
    state = replace(state, shown=rows, faces=r.face_counts)
    warning = messages.problems_warning(r)
    if warning:
        gr.Warning(warning, duration=20)
    return (
        cards.review_cards(r), rows, summary_markdown(r, state.every_photo), state, birth_box(r.analysis),
    )  # fmt: skip


BIRTH_PLACEHOLDER = "YYYY-MM-DD"


def birth_box(a: Any | None) -> dict[str, Any]:
    """The birth-date box: an inferred birth date shows in it as a marked estimate (greyed
    placeholder text) that typing the real date replaces; a typed date is never overwritten."""
    est = getattr(a, "birth_estimate", None) if a is not None else None
    if a is None or a.birth_date is not None or est is None:
        return gr.update(placeholder=BIRTH_PLACEHOLDER)
    return gr.update(
        placeholder=f"{est.date.isoformat()} (estimate: {est.describe()}; type the real date)"
    )


def _review(
    files: list[str], birth: str, state: PageState, progress: Any, **kw: Any
) -> review.Review:
    # A photo-a-day video shows every kept photo: no proposed selection then.
    kw.setdefault("max_photos", selection_limit(every_photo=state.every_photo))
    return review.review_album(
        files, birth_date=_birth_or_warn(birth), edits=table.to_edits(state.edits),
        metadata=state.metadata, progress=reporter(progress), **kw,
    )  # fmt: skip


def empty(state: PageState | None = None) -> tuple[Any, ...]:
    """No album: empty cards, table and state (the kind of video chosen stays)."""
    fresh = PageState(every_photo=_state(state).every_photo)
    return (
        cards.empty_cards(), [], "Add photos to see the faces found, their ages and the order.", fresh,
        birth_box(None),
    )  # fmt: skip


@guard
def new_files(files: list[Any] | None, birth: str, state: PageState | None) -> tuple[Any, ...]:
    """A new album: forget the previous one's edits (and a birth date the app filled in), show previews."""
    state = _state(state).new_album()
    if state.birth_auto and str(birth or "").strip() == state.birth_auto:
        gr.Info(
            "The birth date of the previous album was cleared; enter this person's, if you know it."
        )
        birth = ""
    state = replace(state, birth_auto="")
    paths = _paths(files)
    return birth, state, cards.preview_cards(paths) if paths else cards.empty_cards()


@guard(outputs=1)
def previews(files: list[Any] | None) -> dict[str, Any]:
    """Cards with small previews while the album is being checked (photos found by name)."""
    paths = _paths(files)
    return cards.preview_cards(paths) if paths else cards.empty_cards()


@guard(outputs=5)
def review_files(
    files: list[Any] | None,
    birth: str,
    state: PageState | None,
    progress: gr.Progress = gr.Progress(),
) -> tuple[Any, ...]:  # noqa: B008
    """Scan the album (cached) and show the cards, the table and the summary."""
    paths = _paths(files)
    if not paths:
        return empty(state)
    return _show(_review(paths, birth, _state(state), progress), _state(state))


def review_example(files: list[Any] | None, birth: str) -> tuple[Any, ...]:
    """The example album, reviewed like an upload; its birth date counts as filled in by the app.
    (Its outputs are cached by Gradio, so the birth-date box is left out of them.)"""
    return review_files(files, birth, PageState(birth_auto=str(birth or "")), None)[:4]


def example_loaded(birth: str, state: Any) -> PageState:
    """After an example album is shown (perhaps from Gradio's cache, which keeps no page state):
    its birth date counts as filled in by the app, and the rows are rebuilt when first needed."""
    return PageState(birth_auto=str(birth or ""), every_photo=_state(state).every_photo)


@guard(outputs=5)
def card_edit(
    value: Any,
    files: list[Any] | None,
    birth: str,
    state: PageState | None,
    progress: gr.Progress = gr.Progress(),
) -> tuple[Any, ...]:  # noqa: B008
    """A tap on Keep/Remove or a new age on a card; never rescans."""
    state, paths, edit = _state(state), _paths(files), cards.edit_from_value(value)
    if not paths:
        return empty(state)
    if edit is not None:
        if "include" in edit:
            state = state.with_edit(edit["file"], include=bool(edit["include"]))
        if "age" in edit:
            age, problem = table.parse_age(edit["age"], edit["file"])
            if problem:
                gr.Warning(problem)
            else:
                state = state.with_edit(edit["file"], age=age)
    return _show(_review(paths, birth, state, progress), state)


@guard(outputs=5)
def table_edit(
    files: list[Any] | None,
    rows: Any,
    birth: str,
    state: PageState | None,
    progress: gr.Progress = gr.Progress(),
) -> tuple[Any, ...]:  # noqa: B008
    """Edits in the full table (or a new birth date) and the new order; never rescans."""
    state, paths = _state(state), _paths(files)
    if not paths:
        return empty(state)
    state = _remembered(paths, birth, state)
    edits, problems = table.diff_edits(state.shown, table.rows_of(rows), state.edits, state.faces)
    for message in problems:
        gr.Warning(message)
    state = replace(state, edits=edits)
    return _show(_review(paths, birth, state, progress), state)


def _remembered(paths: list[str], birth: str, state: PageState) -> PageState:
    """The state with the rows as shown; an example served from Gradio's cache brings none, so
    they are rebuilt from the album as it stands (the same rows, since nothing changed since)."""
    if state.shown:
        return state
    r = _review(paths, birth, state, None)
    return replace(state, shown=table.table_rows(r.analysis, r), faces=r.face_counts)


@guard(outputs=5)
def birth_changed(
    files: list[Any] | None,
    birth: str,
    state: PageState | None,
    progress: gr.Progress = gr.Progress(),
) -> tuple[Any, ...]:  # noqa: B008
    """A new birth date: ages and order again with the same edits; never rescans."""
    state, paths = _state(state), _paths(files)
    if not paths:
        return empty(state)
    return _show(_review(paths, birth, state, progress), state)


@guard
def search(
    name: str,
    limit: float,
    birth: str,
    state: PageState | None,
    progress: gr.Progress = gr.Progress(),
) -> tuple[Any, ...]:  # noqa: B008
    """A well-known person's photos: they replace the album and go through the same review."""
    state = _state(state)
    try:
        found = find_by_name(name, limit=int(limit or DEFAULT_LIMIT), progress=reporter(progress))
    except AmbiguousNameError as exc:
        choices = [(m.describe(), m.qid) for m in exc.candidates]
        gr.Warning(messages.visitor_message(exc))
        return (
            gr.update(),
            gr.update(),
            state,
            gr.update(choices=choices, value=None, visible=True),
            (f"**{html.escape(exc.name)}** may mean several people: choose one."),
        )
    birth = found.birth_date.isoformat() if found.birth_date else ""
    state = replace(
        state.new_album(), metadata={**state.metadata, **found.metadata}, birth_auto=birth
    )
    return found.files, birth, state, gr.update(visible=False, value=None), found.message()


def pick_candidate(qid: str | None) -> Any:
    """An ambiguous name's chosen person: search again by its Wikidata ID."""
    return qid or gr.update()


def age_photo_choices(state: PageState | None) -> Any:
    """The "age this photo" choices: every photo in the video, after each review."""
    rows = _state(state).shown
    files = [str(r[table.COL_FILE]) for r in rows if r and r[table.COL_USE]]
    return gr.update(choices=[("No: use all the photos", "")] + [(f, f) for f in files], value="")


def downloads_html(out: rendering.RenderOutputs) -> str:
    """Links to the output files (served from the app's output folder)."""
    links = " · ".join(
        f'<a href="/gradio_api/file={html.escape(str(p))}" download="{html.escape(p.name)}">{html.escape(p.name)}</a>'
        for p in out.downloads
    )
    return f'<div id="download-links">Downloads: {links}</div>'


def make_render_handler(
    album: dict[str, Any],
    controls: dict[str, Any],
    render_fn: Callable[..., rendering.RenderOutputs],
) -> Callable:
    """The Render button's handler. Gradio passes one dict of values keyed by component (its inputs
    are a set); `album` names the files, table, birth date and state components, `controls` the settings."""

    @guard(outputs=5)
    def render_page(
        values: dict[Any, Any], progress: gr.Progress = gr.Progress()
    ) -> tuple[Any, ...]:  # noqa: B008
        state, paths = _state(values[album["state"]]), _paths(values[album["files"]])
        birth, rows = values[album["birth"]], values[album["table"]]
        settings, gif = settings_from_page({name: values[c] for name, c in controls.items()})
        rendering.check_can_render(settings)
        every_photo = settings.per_photo is not None
        if not paths:
            raise gr.Error(
                "Add photos first: drop photos of the person into the upload box, or try the example album."
            )
        state = _remembered(paths, birth, replace(state, every_photo=every_photo))
        edits, problems = table.diff_edits(
            state.shown, table.rows_of(rows), state.edits, state.faces
        )
        for message in problems:
            gr.Warning(message)
        state = replace(state, edits=edits)
        r = _review(paths, birth, state, progress)
        age_photo = (
            values[controls["age_photo"]] if "age_photo" in controls and not every_photo else None
        )
        out = render_fn(r, settings, gif, reporter(progress), age_photo=age_photo or None)
        return (
            str(out.video),
            gr.update(value=downloads_html(out), visible=True),
            gr.update(value=str(out.contact_sheet), visible=True),
            rendering.report_markdown(out, gif_requested=gif),
            state,
        )

    return render_page


def show_if_set(value: Any) -> Any:
    """Show an output once it has a value (the player, once there is a video: a render that
    failed leaves it hidden)."""
    return gr.update(visible=bool(value))


_METHODS: dict[str, tuple[bool, str]] = {}
_METHODS_LOCK = threading.Lock()


def method_status() -> dict[str, tuple[bool, str]]:
    """Which methods can run here (probed once, on first use: never at import)."""
    with _METHODS_LOCK:
        if not _METHODS:
            for name, (ok, reason) in available_methods().items():
                if not ok:
                    log.warning("method %s unavailable: %s", name, reason)
                _METHODS[name] = (ok, reason)
        return dict(_METHODS)


def method_choices() -> Any:
    """The method radio at page load: unavailable methods marked, in the visitor's words."""
    choices, notes = [], []
    for name, (ok, _reason) in method_status().items():
        label = messages.METHOD_LABELS.get(name, name)
        if not ok:
            notes.append(messages.method_unavailable(name).split(";")[0] + ".")
            label += " (unavailable)"
        choices.append((label, name))
    info = "Morph warps the faces into each other; Cross-fade blends the photos. " + " ".join(notes)
    return gr.update(choices=choices, info=info.strip())


def method_changed(method: str) -> tuple[Any, ...]:
    ok = method_status().get(method, (True, ""))[0]
    if not ok:
        gr.Warning(messages.method_unavailable(method))
    stylegan = method == "stylegan"
    return gr.update(visible=stylegan), gr.update(visible=stylegan)
