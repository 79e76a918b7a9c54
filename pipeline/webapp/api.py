"""The app's API: three typed functions, each an endpoint (`gr.api`) documented by its own docstring.

Parameter names, types and defaults come from the signatures (the page's
defaults, `render.DEFAULTS`, from the settings' one description,
`pipeline.render.options`); the render settings' descriptions come from that
description too, the other parameters' and the labels of the returned values
from the docstrings, so the API page, `gradio_client.view_api()` and the
README say the same thing. `tests/test_options.py` checks the signatures
against the description.
"""

from __future__ import annotations

import functools
import inspect
import logging
import typing
from collections.abc import Callable
from typing import Any, Literal

import gradio as gr
from gradio import FileData
from gradio.context import get_blocks_context

from pipeline import face_crops
from pipeline.errors import PipelineError
from pipeline.render.options import Option, api_options
from pipeline.selection import selection_limit
from pipeline.webapp import messages, review
from pipeline.webapp import render as rendering
from pipeline.webapp.files import request_dir
from pipeline.webapp.search import DEFAULT_LIMIT, find_by_name
from pipeline.webapp.table import caption, edits_from_api

log = logging.getLogger(__name__)

Files = list[FileData]
Report = dict[str, Any]
RenderFn = Callable[[review.Review, Any, bool, Any], rendering.RenderOutputs]

ANALYSIS_KEYS = ("photos", "usable", "birth_date", "size", "warnings")
FILE_EXAMPLE = [
    {"path": "photo_1.jpg", "meta": {"_type": "gradio.FileData"}, "orig_name": "photo_1.jpg"}
]


def api_errors(fn: Callable) -> Callable:
    """Pipeline errors as messages for a script; anything unexpected as a generic one (logged)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except PipelineError as exc:
            raise gr.Error(messages.visitor_message(exc, api=True), print_exception=False) from None
        except Exception:
            log.exception("unexpected error in /%s", fn.__name__)
            raise gr.Error(messages.UNEXPECTED, print_exception=False) from None

    return wrapper


def _album(
    files: Files | None, birth_date: str, name: str, limit: int
) -> tuple[list[Any], str, dict]:
    """Uploaded files plus, when a name is given, that person's photos from Wikimedia Commons."""
    files = list(files or [])
    if not str(name or "").strip():
        return files, birth_date, {}
    found = find_by_name(name, limit=limit)
    if not str(birth_date or "").strip() and found.birth_date:
        birth_date = found.birth_date.isoformat()
    return files + found.files, birth_date, found.metadata


def _face_crops(r: review.Review) -> list[dict[str, Any]]:
    """Aligned crops as PNG files in video order, each with a caption ``file: age``."""
    return [
        {
            "image": FileData(path=str(path), orig_name=path.name),
            "caption": f"{p.file}: {caption(p)}",
        }
        for path, p in face_crops.write_face_crops(r.analysis, request_dir("faces"))
    ]


def analyze(
    files: Files | None = None, birth_date: str = "", name: str = "", limit: int = DEFAULT_LIMIT
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Find the person's face in every photo, date or estimate ages, flag doubtful photos and order them.

    Args:
        files: the photos (JPEG, PNG, HEIC, WebP...), one person across the years; may be empty when a name is given.
        birth_date: optional, YYYY-MM-DD; photos with a capture date (EXIF) then get exact ages.
        name: optional, a well-known person's name or Wikidata ID (e.g. Q8743); their photos are fetched from Wikimedia Commons with dates, birth date and credits.
        limit: with a name, how many photos to fetch (2 to 30).

    Returns:
        analysis: {"photos": one row per photo (file, status, include, order, age, age_source, date, recommended_remove, reason, faces, credits...), "usable", "birth_date", "size", "warnings": [{"file", "reason"}] for every photo left out}.
        faces: [{"image", "caption"}]: the aligned face crops with captions, in video order.
    """
    files, birth_date, metadata = _album(files, birth_date, name, limit)
    r = review.review_album(files, birth_date=birth_date, metadata=metadata)
    if not any(p.crop is not None for p in r.analysis.photos):
        raise r.analysis.shortage()
    data = r.analysis.to_json()
    data["warnings"] = [{"file": f, "reason": why} for f, why in r.left_out()]
    return data, _face_crops(r)


def _render(
    render_fn: RenderFn,
    files: Files | None,
    edits: Any,
    birth_date: str,
    name: str,
    limit: int,
    gif: bool,
    **settings: Any,
) -> tuple[FileData, FileData | None, FileData, Report]:
    s = rendering.make_settings(**settings)
    rendering.check_can_render(s)
    parsed = edits_from_api(edits)
    files, birth_date, metadata = _album(files, birth_date, name, limit)
    # A photo-a-day video shows every kept photo, not the proposed selection.
    max_photos = selection_limit(every_photo=s.per_photo is not None)
    r = review.review_album(
        files,
        birth_date=birth_date,
        edits=parsed,
        prune=True,
        metadata=metadata,
        max_photos=max_photos,
    )
    out = render_fn(r, s, bool(gif), None)
    gif_file = FileData(path=str(out.gif), orig_name=out.gif.name) if out.gif else None
    return (
        FileData(path=str(out.video), orig_name=out.video.name),
        gif_file,
        FileData(path=str(out.contact_sheet), orig_name=out.contact_sheet.name),
        out.report,
    )


POSITIONAL = inspect.Parameter.POSITIONAL_OR_KEYWORD
FILES = inspect.Parameter("files", POSITIONAL, annotation=Files)
EDITS = inspect.Parameter(
    "edits", POSITIONAL, default=None, annotation=list[dict[str, Any]] | str | None
)
BIRTH = inspect.Parameter("birth_date", POSITIONAL, default="", annotation=str)
NAME = inspect.Parameter("name", POSITIONAL, default="", annotation=str)
LIMIT = inspect.Parameter("limit", POSITIONAL, default=DEFAULT_LIMIT, annotation=int)
Outputs = tuple[FileData, FileData | None, FileData, Report]


def setting_parameter(o: Option) -> inspect.Parameter:
    """A render setting as an API parameter: its type (its choices as a `Literal` for text)
    and the page's default, from its one description."""
    kind: Any = Literal[tuple(o.choices)] if o.type is str and o.choices else o.type
    if o.web_default is None:
        kind = kind | None
    return inspect.Parameter(o.name, POSITIONAL, default=o.web_default, annotation=kind)


def endpoint(fn: Callable, params: list[inspect.Parameter]) -> Callable:
    """`fn(**values)` as an endpoint with the signature `params` (Gradio reads the signature and
    the types; callers may pass the values by position, in that order)."""
    signature = inspect.Signature(params, return_annotation=Outputs)

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Outputs:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return fn(**bound.arguments)

    call.__signature__ = signature  # type: ignore[attr-defined]
    call.__annotations__ = {p.name: p.annotation for p in params} | {"return": Outputs}
    del call.__wrapped__  # the signature above, not `fn`'s, is the endpoint's
    return call


def make_render(render_fn: RenderFn) -> Callable[..., Any]:
    """The /render endpoint, rendering through `render_fn` (the app's GPU-aware render)."""

    def render(files: Files, edits: Any, birth_date: str, gif: bool, **settings: Any) -> Outputs:
        """Render a time-lapse from photos and your corrections (faces, ages and order as /analyze finds them).

        Args:
            files: the photos.
            edits: corrections, as a list of rows [{"file": "a.jpg", "age": 3.5, "include": false, "date": "2015-09-01", "face": 1}] or that list as JSON text; the "photos" of an /analyze answer can be sent back unchanged.
            birth_date: optional, YYYY-MM-DD.
            (the render settings are described once, in `pipeline.render.options`)

        Returns:
            video: the MP4 (H.264, plays in browsers).
            gif: the GIF, or None.
            contact_sheet: PNG of the photos in video order with their captions.
            report: {"frame_count", "duration", "timing", "keyframes", "photos": [{"file", "order", "age", "age_source", "date", "caption", "frame"}], "warnings": [{"file", "reason"}] for every photo left out, "credits": [{"file", "title", "author", "licence", "licence_url", "page_url"}], "method", "size", "fps", "video", "gif", "contact_sheet"}.
        """
        return _render(render_fn, files, edits, birth_date, "", DEFAULT_LIMIT, gif, **settings)

    settings = [setting_parameter(o) for o in api_options()]
    return endpoint(render, [FILES, EDITS, BIRTH, *settings])


def make_timelapse(render_fn: RenderFn) -> Callable[..., Any]:
    """The /timelapse endpoint: photos (or a name) in, video out, with the analysis's own choices."""

    def timelapse(
        files: Files | None, birth_date: str, name: str, limit: int, gif: bool, **settings: Any
    ) -> Outputs:
        """Photos in, time-lapse out, in one call: the analysis's own choices (doubtful photos left out).

        Args:
            files: the photos; may be empty when a name is given.
            birth_date: optional, YYYY-MM-DD.
            name: optional, a well-known person's name or Wikidata ID; their photos from Wikimedia Commons.
            limit: with a name, how many photos to fetch (2 to 30).
            (the render settings as /render)

        Returns:
            video: the MP4.
            gif: the GIF, or None.
            contact_sheet: PNG of the photos in video order.
            report: as /render (photos, warnings, credits, frames, timing).
        """
        return _render(render_fn, files, None, birth_date, name, limit, gif, **settings)

    settings = [setting_parameter(o) for o in api_options()]
    # The name search came after the encoder; positional callers rely on that place.
    cut = [p.name for p in settings].index("encoder") + 1
    files = FILES.replace(default=None, annotation=Files | None)
    return endpoint(timelapse, [files, BIRTH, *settings[:cut], NAME, LIMIT, *settings[cut:]])


def _docs(fn: Callable) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Parameter descriptions and (label, description) of each returned value, from a Google-style docstring."""
    doc = inspect.getdoc(fn) or ""
    params: dict[str, str] = {}
    returns: list[tuple[str, str]] = []
    section = ""
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped in ("Args:", "Returns:"):
            section = stripped
            continue
        if (
            section
            and ":" in stripped
            and line.startswith("    ")
            and not line.startswith("        ")
        ):
            key, text = (part.strip() for part in stripped.split(":", 1))
            if section == "Args:":
                params[key] = text
            else:
                returns.append((key, text))
    return params, returns


def setting_doc(o: Option) -> str:
    """A render setting's API description, from its one description."""
    only = " or ".join(o.methods) + " only: " if o.methods else ""
    if o.video == "every_photo":
        only = "every_photo only: "
    return only + o.help + "."


def register(fn: Callable, api_name: str, **kwargs: Any) -> None:
    """Add `fn` as the endpoint `/api_name` of the Blocks being built, with its documentation."""
    fn.__annotations__ = typing.get_type_hints(fn)  # gr.api reads resolved types, not strings
    wrapped = api_errors(fn)
    dep = gr.api(wrapped, api_name=api_name, **kwargs)
    block_fn = get_blocks_context().fns[dep["id"]]
    params, returns = _docs(fn)
    params = {**{o.name: setting_doc(o) for o in api_options()}, **params}
    names = [n for n in inspect.signature(fn).parameters]
    for comp, pname in zip(block_fn.inputs, names):
        comp.label = pname
        comp._api_info = {**comp._api_info, "additional_description": params.get(pname, "")}
        if pname == "files":
            comp.example_inputs = lambda: FILE_EXAMPLE  # type: ignore[method-assign]
    for comp, (label, text) in zip(block_fn.outputs, returns):
        comp.label = label
        comp._api_info = {**comp._api_info, "description": text}
