"""Gradio app for the facial time-lapse (a Hugging Face Space; thin: all work lives in `pipeline/`).

Run ``python app.py``. The page: drop photos, check the faces and ages found
(edit the table), choose settings, render, download. Scripts use the named
endpoints ``/analyze``, ``/render`` and ``/timelapse`` (see README).
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from pipeline.errors import NotEnoughPhotosError, PipelineError
from pipeline.methods.base import available_methods
from pipeline.search import AmbiguousNameError
from pipeline.webapp import service
from pipeline.webapp import table as review_table
from pipeline.webapp.files import RETENTION_S, request_dir

log = logging.getLogger("app")

try:  # ZeroGPU on a Space; `spaces.GPU` is a no-op anywhere else.
    import spaces
except Exception:  # pragma: no cover - `spaces` is in requirements.txt
    spaces = None

ROOT = Path(__file__).resolve().parent
EXAMPLE_ALBUM = ROOT / "assets" / "examples" / "edison"
MAX_FILE_SIZE = "40mb"
RENDER_CONCURRENCY = 2  # heavy step: at most two renders at once
ANALYZE_CONCURRENCY = 2
UPLOAD_TYPES = [
    "image", ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".avif", ".heic", ".heif",
    ".bmp", ".dib", ".tif", ".tiff", ".gif",
]  # fmt: skip
METHOD_LABELS = {"morph": "Morph", "crossfade": "Cross-fade", "stylegan": "StyleGAN"}
ENCODERS = [("e4e (smooth)", "e4e"), ("pSp (faithful)", "psp")]
CAPTIONS = [("Age", "age"), ("Year", "year"), ("Date", "date"), ("None", "none")]
SIZES = [256, 512, 1024]
# Per visitor: edits, the table as shown (to see which cells changed), faces per photo,
# dates/credits of photos found by name, and a birth date the app filled in itself.
EMPTY_STATE: dict[str, Any] = {"edits": {}, "shown": [], "faces": {}, "metadata": {}, "birth_auto": ""}


def _gpu(duration: Callable[..., int]) -> Callable[[Callable], Callable]:
    if spaces is None:
        return lambda fn: fn
    return spaces.GPU(duration=duration)


# --------------------------------------------------------------- errors


def user_errors(fn: Callable) -> Callable:
    """Show pipeline errors as their message, and anything unexpected as a generic one (logged)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except PipelineError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        except Exception:
            log.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(
                "Something went wrong on our side while processing these photos. Try again; if it happens "
                "again, try fewer photos or remove unusual files (very large scans, animations).",
                print_exception=False,
            ) from None

    return wrapper


def _reporter(progress: gr.Progress | None) -> Callable[[str, float], None] | None:
    """The pipeline's ``progress(stage, fraction)`` calls as Gradio progress with the stage named."""
    if progress is None:
        return None

    def report(stage: str, fraction: float) -> None:
        progress(max(0.0, min(1.0, float(fraction))), desc=stage)

    return report


def _warn(problems: list[str]) -> None:
    text = service.problems_warning(problems)
    if text:
        gr.Warning(text, duration=20)


# --------------------------------------------------------------- UI handlers


@user_errors
def show_uploads(files: list[str] | None) -> list[tuple[str, str]]:
    """Previews of the uploaded photos (fast, before the analysis)."""
    if not files:
        return []
    return service.thumbnails(files, request_dir("thumbs"))


def _review_outputs(review: service.Review, edits: dict[str, Any], state: dict[str, Any]) -> tuple[Any, ...]:
    rows = review_table.table_rows(review.analysis)
    state = {**EMPTY_STATE, **state, "edits": edits, "shown": rows, "faces": review.face_counts}
    return service.face_gallery(review.analysis), rows, service.summary_markdown(review), state


def _birth_or_warn(birth_date: str) -> str:
    try:
        service.parse_birth_date(birth_date)
        return birth_date
    except PipelineError as exc:
        gr.Warning(f"{exc} The birth date is ignored until it is fixed.")
        return ""


def _empty_review() -> tuple[Any, ...]:
    return [], [], "", dict(EMPTY_STATE)


@user_errors
def review_upload(files: list[str] | None, birth_date: str, state: dict | None, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
    """Scan the uploaded album and show faces, ages and order."""
    state = state or dict(EMPTY_STATE)
    if not files:
        return _empty_review()
    edits, metadata = dict(state.get("edits") or {}), state.get("metadata") or {}
    review = service.review_album(
        files, birth_date=_birth_or_warn(birth_date), edits=review_table.to_edits(edits),
        metadata=metadata, progress=_reporter(progress),
    )  # fmt: skip
    _warn(review.problems)
    return _review_outputs(review, edits, state)


@user_errors
def review_edit(files: list[str] | None, rows: list[list[Any]] | None, birth_date: str, state: dict | None, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
    """Apply edits from the table (or a new birth date) and show the new order; never rescans."""
    if not files:
        return _empty_review()
    state = state or dict(EMPTY_STATE)
    edits, problems = review_table.diff_edits(state.get("shown"), _rows(rows), state.get("edits"), state.get("faces"))
    for message in problems:
        gr.Warning(message)
    metadata = state.get("metadata") or {}
    review = service.review_album(
        files, birth_date=_birth_or_warn(birth_date), edits=review_table.to_edits(edits),
        metadata=metadata, progress=_reporter(progress),
    )  # fmt: skip
    return _review_outputs(review, edits, state)


def _rows(value: Any) -> list[list[Any]]:
    if value is None:
        return []
    if hasattr(value, "values") and hasattr(value, "columns"):  # a DataFrame
        return value.values.tolist()
    if isinstance(value, dict) and "data" in value:
        return list(value["data"])
    return [list(r) for r in value]


def _settings(method: str, size: int, speed: str, frames_between: float, seconds_per_year: float, hold: float, gamma: float, fps: float, caption: str, encoder: str) -> Any:
    return service.make_settings(
        method=method,
        size=size,
        fps=fps,
        frames_between=frames_between,
        seconds_per_year=seconds_per_year if speed == "age" else None,
        hold=hold,
        gamma=gamma if method == "stylegan" else None,
        caption=caption,
        encoder=encoder,
    )


def _render(review: service.Review, settings: Any, gif: bool, progress: gr.Progress | None) -> service.RenderOutputs:
    if settings.method == "stylegan":
        return render_on_gpu(review, settings, gif, progress)
    return service.render_review(review, settings, gif=gif, progress=_reporter(progress))


def _gpu_seconds(review: service.Review, settings: Any, gif: bool, progress: Any = None) -> int:
    photos = max(2, len(review.analysis.usable))
    return int(min(300, 30 + photos * 3 + photos * (settings.frames_between or 24) * 0.15))


@_gpu(duration=_gpu_seconds)
def render_on_gpu(review: service.Review, settings: Any, gif: bool, progress: gr.Progress | None = None) -> service.RenderOutputs:
    """The StyleGAN render (encoder + generator), on a ZeroGPU slot when on a Space."""
    return service.render_review(review, settings, gif=gif, progress=_reporter(progress))


@user_errors
def render_from_page(
    files: list[str] | None, rows: list[list[Any]] | None, birth_date: str, state: dict | None,
    method: str, size: int, speed: str, frames_between: float, seconds_per_year: float, hold: float,
    gamma: float, fps: float, caption: str, formats: list[str], encoder: str,
    progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio injects it)
) -> tuple[Any, ...]:  # fmt: skip
    """Render the reviewed album with the page's settings."""
    state = state or dict(EMPTY_STATE)
    settings = _settings(method, size, speed, frames_between, seconds_per_year, hold, gamma, fps, caption, encoder)
    service.check_can_render(settings)
    if not files:
        raise gr.Error("Add photos first: drop photos of the person into the upload box, or try the example.")
    current = _rows(rows)
    edits, problems = review_table.diff_edits(state.get("shown"), current, state.get("edits"), state.get("faces"))
    for message in problems:
        gr.Warning(message)
    review = service.review_album(
        files, birth_date=birth_date, edits=review_table.to_edits(edits), metadata=state.get("metadata"),
        size=service.scan_size_for(settings.size), progress=_reporter(progress),
    )  # fmt: skip
    _warn(review.problems)
    gif = "gif" in (formats or [])
    out = _render(review, settings, gif, progress)
    new_state = {**state, "edits": edits, "shown": current or state.get("shown")}
    return (
        str(out.video),
        gr.update(value=out.downloads, visible=True),
        gr.update(value=str(out.contact_sheet), visible=True),
        service.report_markdown(out, gif_requested=gif),
        new_state,
    )


@user_errors
def search_name(name: str, limit: float, birth_date: str, state: dict | None, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
    """Find a well-known person's photos; they replace the album and go through the same review."""
    state = state or dict(EMPTY_STATE)
    hide = gr.update(visible=False, value=None)
    try:
        found = service.find_by_name(name, limit=int(limit or 12), progress=_reporter(progress))
    except AmbiguousNameError as exc:
        choices = [(m.describe(), m.qid) for m in exc.candidates]
        gr.Warning(f"{exc.name!r} may mean several people: choose one in the list under the name box.")
        return gr.update(), gr.update(), state, gr.update(choices=choices, value=None, visible=True), (
            f"**{exc.name}** may mean several people: choose one."
        )
    # A new person: their birth date replaces the field (the visitor can still change it).
    birth = found.birth_date.isoformat() if found.birth_date else ""
    new_state = {**state, "metadata": {**(state.get("metadata") or {}), **found.metadata}, "birth_auto": birth}
    return found.files, birth, new_state, hide, found.message()


def load_example(state: dict | None) -> tuple[Any, ...]:
    """The bundled public-domain album, copied into a request folder, with Edison's birth date."""
    folder = request_dir("example")
    files = []
    for src in EXAMPLE_FILES:
        dst = folder / Path(src).name
        shutil.copyfile(src, dst)
        files.append(str(dst))
    return files, EXAMPLE_BIRTH, {**(state or EMPTY_STATE), "birth_auto": EXAMPLE_BIRTH}


def forget_auto_birth(birth_date: str, state: dict | None) -> tuple[Any, ...]:
    """New uploads: drop a birth date the app filled in for the previous album (example or search)."""
    state = dict(state or EMPTY_STATE)
    auto = state.get("birth_auto") or ""
    state["birth_auto"] = ""
    if auto and str(birth_date or "").strip() == auto:
        gr.Info("The birth date of the previous album was cleared; enter this person's, if you know it.")
        return "", state
    return birth_date, state


def pick_candidate(qid: str | None) -> str:
    """An ambiguous name's chosen person: search again by its Wikidata ID."""
    return qid or gr.update()


def method_changed(method: str) -> tuple[Any, ...]:
    stylegan = method == "stylegan"
    return gr.update(visible=stylegan), gr.update(visible=stylegan)


def speed_changed(speed: str) -> tuple[Any, ...]:
    return gr.update(visible=speed == "frames"), gr.update(visible=speed == "age")


# --------------------------------------------------------------- API


def _album(files: list[str] | None, birth_date: str, name: str, limit: int, progress: gr.Progress | None) -> tuple[list[str], str, dict]:
    """Uploaded files plus, when a name is given, that person's photos from Wikimedia Commons."""
    files = list(files or [])
    if not str(name or "").strip():
        return files, birth_date, {}
    found = service.find_by_name(name, limit=int(limit or 12), progress=_reporter(progress))
    birth = birth_date if str(birth_date or "").strip() else (found.birth_date.isoformat() if found.birth_date else "")
    return files + found.files, birth, found.metadata


@user_errors
def analyze_api(
    files: list[str] | None = None,
    birth_date: str = "",
    name: str = "",
    limit: int = 12,
    progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio injects it)
) -> tuple[dict, list]:
    """Find the person's face in every photo, estimate or compute ages, flag doubtful photos and order them.

    Args:
        files: the photos (JPEG, PNG, HEIC, WebP...), one person across the years.
        birth_date: optional, YYYY-MM-DD; photos with a capture date (EXIF) then get exact ages.
        name: optional, a well-known person's name (or Wikidata ID, e.g. Q8743): their photos are
            fetched from Wikimedia Commons with dates, birth date and credits.
        limit: with a name, how many photos to fetch (2 to 30).

    Returns:
        analysis: {"photos": one row per photo (file, include, age, age_source, date, recommended_remove,
            reason, faces, credits...), "usable": count, "birth_date", "warnings": files left out and why}.
        faces: the aligned face crops with captions, in video order.
    """
    files, birth_date, metadata = _album(files, birth_date, name, limit, progress)
    review = service.review_album(files, birth_date=birth_date, metadata=metadata, progress=_reporter(progress))
    if not any(p.aligned is not None for p in review.analysis.photos):
        raise NotEnoughPhotosError(service.not_enough_message(review))
    data = review.analysis.to_json()
    data["warnings"] = review.problems
    _warn(review.problems)
    return data, service.write_face_crops(review.analysis, request_dir("faces"))


def _render_files(
    files: list[str], edits: Any, birth_date: str, method: str, size: int, frames_between: int,
    seconds_per_year: float, hold: float, gamma: float | None, fps: int, caption: str, gif: bool,
    encoder: str, progress: gr.Progress | None, name: str = "", limit: int = 12,
) -> tuple[Any, ...]:  # fmt: skip
    settings = service.make_settings(
        method=method, size=size, fps=fps, frames_between=frames_between, seconds_per_year=seconds_per_year,
        hold=hold, gamma=gamma, caption=caption, encoder=encoder,
    )  # fmt: skip
    service.check_can_render(settings)
    parsed_edits = review_table.edits_from_api(edits)
    files, birth_date, metadata = _album(files, birth_date, name, limit, progress)
    review = service.review_album(
        files, birth_date=birth_date, edits=parsed_edits, prune=True, metadata=metadata,
        size=service.scan_size_for(settings.size), progress=_reporter(progress),
    )  # fmt: skip
    _warn(review.problems)
    out = _render(review, settings, bool(gif), progress)
    return str(out.video), str(out.gif) if out.gif else None, str(out.contact_sheet), out.report


@user_errors
def render_api(
    files: list[str],
    edits: Any = None,
    birth_date: str = "",
    method: str = "morph",
    size: int = 512,
    frames_between: int = 24,
    seconds_per_year: float = 0.0,
    hold: float = 0.0,
    gamma: float | None = None,
    fps: int = 30,
    caption: str = "age",
    gif: bool = False,
    encoder: str = "e4e",
    progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio injects it)
) -> tuple[Any, ...]:
    """Render a time-lapse from photos and your corrections.

    Args:
        files: the photos.
        edits: corrections, as JSON text or a list of rows: [{"file": "a.jpg", "age": 3.5, "include": false,
            "date": "2015-09-01", "face": 1}]; the "photos" of an /analyze answer can be sent back as they are.
        birth_date: optional, YYYY-MM-DD.
        method: morph, crossfade or stylegan (when available).
        size: output side in pixels: 256, 512 or 1024.
        frames_between: frames per transition between two photos.
        seconds_per_year: if above 0, each transition lasts this many seconds per year of age instead.
        hold: seconds to hold each photo.
        gamma: stylegan only: largest share of the real photo blended in near each photo, 0 to 1.
        fps: frames per second, 24 to 60.
        caption: age, year, date (e.g. "24 Apr 2008") or none.
        gif: also make a GIF.
        encoder: stylegan only: e4e or psp.

    Returns:
        video: the MP4 (H.264). gif: the GIF or None. contact_sheet: PNG of the photos in order.
        report: JSON with frame counts, timing, photos, settings and warnings.
    """
    return _render_files(files, edits, birth_date, method, size, frames_between, seconds_per_year, hold,
                         gamma, fps, caption, gif, encoder, progress)  # fmt: skip


@user_errors
def timelapse_api(
    files: list[str] | None = None,
    birth_date: str = "",
    method: str = "morph",
    size: int = 512,
    frames_between: int = 24,
    seconds_per_year: float = 0.0,
    hold: float = 0.0,
    gamma: float | None = None,
    fps: int = 30,
    caption: str = "age",
    gif: bool = False,
    encoder: str = "e4e",
    name: str = "",
    limit: int = 12,
    progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio injects it)
) -> tuple[Any, ...]:
    """Photos in, time-lapse out, in one call, with the analysis's own choices (doubtful photos left out).

    Args:
        files: the photos.
        birth_date: optional, YYYY-MM-DD.
        method, size, frames_between, seconds_per_year, hold, gamma, fps, caption, gif, encoder: as /render.
        name: optional, a well-known person's name (or Wikidata ID): their photos from Wikimedia Commons.
        limit: with a name, how many photos to fetch (2 to 30).

    Returns:
        video, gif, contact_sheet, report: as /render.
    """
    return _render_files(files, None, birth_date, method, size, frames_between, seconds_per_year, hold,
                         gamma, fps, caption, gif, encoder, progress, name, limit)  # fmt: skip


# --------------------------------------------------------------- layout


def _method_choices() -> tuple[list[tuple[str, str]], str, str]:
    """Radio choices, the help line (reasons for unavailable methods) and CSS greying them out."""
    status = available_methods()
    choices, notes, css = [], [], []
    for name, (ok, reason) in status.items():
        label = METHOD_LABELS.get(name, name)
        if not ok:
            label += " (unavailable)"
            notes.append(f"{METHOD_LABELS.get(name, name)}: {reason}")
            css.append(
                f'#method label:has(input[value="{name}"]) {{ opacity: .45; pointer-events: none; cursor: not-allowed; }}'
            )
        choices.append((label, name))
    info = "Morph warps the faces into each other; Cross-fade blends the photos."
    if notes:
        info += " " + " ".join(notes)
    return choices, info, "\n".join(css)


CSS_BASE = """
#faces .caption-label, #uploads .caption-label { font-size: .8em; }
#faces .grid-wrap { min-height: 0 !important; height: auto !important; max-height: 540px; }
#review-table { font-size: .9em; }
#render-btn { min-height: 3em; }
"""

METHOD_CHOICES, METHOD_INFO, METHOD_CSS = _method_choices()
CSS = CSS_BASE + METHOD_CSS
EXAMPLE_BIRTH = "1847-02-11"  # Thomas Edison; the file names carry the years
EXAMPLE_FILES = sorted(str(p) for p in EXAMPLE_ALBUM.glob("*.png"))

with gr.Blocks(title="Facial time-lapse", delete_cache=(RETENTION_S, RETENTION_S), analytics_enabled=False) as demo:
    gr.Markdown(
        "# Facial time-lapse\n"
        "Drop photos of one person taken years apart, check the faces and ages found, and get a video of "
        "the face growing up and aging. Your photos are only used for this video and deleted within an hour."
    )
    state = gr.State(dict(EMPTY_STATE))
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            gr.Markdown("### 1 · Photos")
            with gr.Tabs() as tabs:
                with gr.Tab("Upload photos", id="upload"):
                    files = gr.File(
                        label="Photos (drop many at once)", file_count="multiple", file_types=UPLOAD_TYPES,
                        height=180, elem_id="files",
                    )  # fmt: skip
                with gr.Tab("Search photos by name", id="name"):
                    with gr.Row():
                        name = gr.Textbox(
                            label="A well-known person's name", placeholder="e.g. Thomas Edison, Marie Curie",
                            scale=3, elem_id="name", submit_btn="Search",
                        )  # fmt: skip
                        limit = gr.Slider(service.NAME_LIMITS[0], service.NAME_LIMITS[1], value=12, step=1,
                                          label="Photos", scale=1, min_width=120)  # fmt: skip
                    candidates = gr.Radio([], label="Several people have this name: which one?", visible=False,
                                          elem_id="candidates")  # fmt: skip
                    search_status = gr.Markdown(
                        "Freely licensed photos from Wikimedia Commons, with dates, birth date and credits.",
                        elem_id="search-status",
                    )
            uploads = gr.Gallery(
                label="Photos in the album", columns=5, height=170, object_fit="cover", allow_preview=True,
                interactive=False, elem_id="uploads",
            )  # fmt: skip
            birth = gr.Textbox(
                label="Birth date (optional)", placeholder="YYYY-MM-DD",
                info="Photos with a capture date then get exact ages. Press Enter to apply.", elem_id="birth",
            )  # fmt: skip
            example_btn = gr.Button(
                "Try an example: Thomas Edison at 31, 63 and 75 (public domain)", size="sm", elem_id="example-btn"
            )
        with gr.Column(scale=3, min_width=320):
            gr.Markdown("### 2 · Check faces and ages")
            summary = gr.Markdown("Upload photos to see the faces found, their ages and the order.", elem_id="summary")
            faces = gr.Gallery(
                label="Faces in video order", columns=6, height=None, object_fit="contain",
                interactive=False, elem_id="faces",
            )  # fmt: skip
            table = gr.Dataframe(
                headers=review_table.HEADERS,
                datatype=review_table.DATATYPES,
                static_columns=review_table.STATIC_COLUMNS,
                type="array",
                interactive=True,
                wrap=True,
                max_height=420,
                column_widths=["72px", "150px", "70px", "110px", "130px", "58px", "260px", "140px"],
                label="Photos (untick use to leave one out; edit age, date or face number)",
                elem_id="review-table",
            )
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            gr.Markdown("### 3 · Settings")
            method = gr.Radio(METHOD_CHOICES, value="morph", label="Method", info=METHOD_INFO, elem_id="method")
            encoder = gr.Radio(ENCODERS, value="e4e", label="StyleGAN encoder", visible=False)
            gamma = gr.Slider(0, 1, value=0.5, step=0.05, label="Blend strength (gamma)", visible=False,
                              info="Largest share of the real photo near each photo: higher keeps identity, lower is smoother.")  # fmt: skip
            size = gr.Radio(SIZES, value=512, label="Size (pixels)")
            speed = gr.Radio([("Frames per transition", "frames"), ("Seconds per year of age", "age")],
                             value="frames", label="Speed")  # fmt: skip
            frames_between = gr.Slider(2, 120, value=24, step=1, label="Frames between two photos")
            seconds_per_year = gr.Slider(0.05, 3, value=0.3, step=0.05, label="Seconds per year of age", visible=False)
            hold = gr.Slider(0, 3, value=0.5, step=0.1, label="Hold at each photo (seconds)")
            fps = gr.Slider(24, 60, value=30, step=1, label="Frames per second")
            caption = gr.Radio(CAPTIONS, value="age", label="Caption")
            formats = gr.CheckboxGroup([("MP4", "mp4"), ("GIF", "gif")], value=["mp4"], label="Format",
                                       info="The MP4 is always made (it plays in the page).")  # fmt: skip
            render_btn = gr.Button("Render time-lapse", variant="primary", elem_id="render-btn")
        with gr.Column(scale=3, min_width=320):
            gr.Markdown("### 4 · Time-lapse")
            video = gr.Video(label="Time-lapse", autoplay=True, loop=True, interactive=False, height=440, elem_id="video")
            report = gr.Markdown(elem_id="report")
            downloads = gr.File(label="Downloads", file_count="multiple", interactive=False, visible=False,
                                elem_id="downloads")  # fmt: skip
            sheet = gr.Image(label="Contact sheet", type="filepath", interactive=False, visible=False, elem_id="sheet")

    # API-only inputs and outputs (not shown): simple types with documented defaults.
    with gr.Column(visible=False):
        api_files = gr.File(label="files", file_count="multiple", file_types=UPLOAD_TYPES)
        api_birth = gr.Textbox(label="birth_date", value="")
        api_edits = gr.JSON(label="edits")
        api_method = gr.Radio(list(METHOD_LABELS), value="morph", label="method")
        api_size = gr.Radio(SIZES, value=512, label="size")
        api_frames = gr.Number(label="frames_between", value=24, precision=0)
        api_spy = gr.Number(label="seconds_per_year", value=0.0)
        api_hold = gr.Number(label="hold", value=0.0)
        api_gamma = gr.Number(label="gamma", value=None)
        api_fps = gr.Number(label="fps", value=30, precision=0)
        api_caption = gr.Radio(["age", "year", "date", "none"], value="age", label="caption")
        api_gif = gr.Checkbox(label="gif", value=False)
        api_encoder = gr.Radio(["e4e", "psp"], value="e4e", label="encoder")
        api_name = gr.Textbox(label="name", value="")
        api_limit = gr.Number(label="limit", value=12, precision=0)
        out_analysis = gr.JSON(label="analysis")
        out_faces = gr.Gallery(label="faces")
        out_video = gr.File(label="video")
        out_gif = gr.File(label="gif")
        out_sheet = gr.File(label="contact_sheet")
        out_report = gr.JSON(label="report")
        api_analyze_btn = gr.Button("analyze")
        api_render_btn = gr.Button("render")
        api_timelapse_btn = gr.Button("timelapse")

    settings_inputs = [api_method, api_size, api_frames, api_spy, api_hold, api_gamma, api_fps, api_caption, api_gif, api_encoder]
    render_outputs = [out_video, out_gif, out_sheet, out_report]
    api_analyze_btn.click(
        analyze_api, [api_files, api_birth, api_name, api_limit], [out_analysis, out_faces],
        api_name="analyze", concurrency_id="analyze", concurrency_limit=ANALYZE_CONCURRENCY,
    )  # fmt: skip
    api_render_btn.click(
        render_api, [api_files, api_edits, api_birth, *settings_inputs], render_outputs,
        api_name="render", concurrency_id="render", concurrency_limit=RENDER_CONCURRENCY,
    )  # fmt: skip
    api_timelapse_btn.click(
        timelapse_api, [api_files, api_birth, *settings_inputs, api_name, api_limit], render_outputs,
        api_name="timelapse", concurrency_id="render", concurrency_limit=RENDER_CONCURRENCY,
    )  # fmt: skip

    # Page events: private (not part of the API).
    review_outputs = [faces, table, summary, state]
    # A new album (upload, removed file, example, search): previews first, then the review.
    private = {"api_visibility": "private"}
    review_kw = {**private, "concurrency_id": "analyze", "concurrency_limit": ANALYZE_CONCURRENCY}

    def then_review(event: Any, step: str = "then") -> None:
        getattr(event, step)(show_uploads, [files], [uploads], show_progress="hidden", **private).then(
            review_upload, [files, birth, state], review_outputs, **review_kw
        )

    then_review(files.upload(forget_auto_birth, [birth, state], [birth, state], queue=False, **private))
    then_review(files.delete(lambda: None, None, None, queue=False, **private))
    files.clear(lambda: ([], *_empty_review()), None, [uploads, *review_outputs], queue=False, **private)
    example = example_btn.click(load_example, [state], [files, birth, state], **private)
    example.success(lambda: gr.Tabs(selected="upload"), None, [tabs], queue=False, **private)
    then_review(example, "success")
    table.input(review_edit, [files, table, birth, state], review_outputs, api_visibility="private",
                show_progress="minimal")  # fmt: skip
    gr.on([birth.submit, birth.blur], review_edit, [files, table, birth, state], review_outputs,
          api_visibility="private", show_progress="minimal")  # fmt: skip
    search_kw = {**private, "concurrency_id": "search", "concurrency_limit": 2}
    search_outputs = [files, birth, state, candidates, search_status]
    then_review(name.submit(search_name, [name, limit, birth, state], search_outputs, **search_kw), "success")
    picked = candidates.input(pick_candidate, [candidates], [name], queue=False, **private)
    then_review(picked.then(search_name, [name, limit, birth, state], search_outputs, **search_kw), "success")
    method.change(method_changed, [method], [encoder, gamma], api_visibility="private", queue=False)
    speed.change(speed_changed, [speed], [frames_between, seconds_per_year], api_visibility="private", queue=False)
    render_btn.click(
        render_from_page,
        [files, table, birth, state, method, size, speed, frames_between, seconds_per_year, hold, gamma, fps,
         caption, formats, encoder],
        [video, downloads, sheet, report, state],
        api_visibility="private", concurrency_id="render", concurrency_limit=RENDER_CONCURRENCY,
    )  # fmt: skip

demo.queue(default_concurrency_limit=4)

LAUNCH_OPTIONS: dict[str, Any] = {
    "css": CSS,
    "show_error": True,
    "max_file_size": MAX_FILE_SIZE,
    "footer_links": ["api", "gradio"],
}


def launch(**overrides: Any) -> Any:
    """Start the server with the app's options (tests and benchmarks pass host, port, thread lock)."""
    return demo.launch(**{**LAUNCH_OPTIONS, **overrides})


if __name__ == "__main__":
    logging.basicConfig(level=os.environ.get("LOGLEVEL", "INFO"))
    service.warm_up()
    launch()
