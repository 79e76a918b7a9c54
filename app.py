"""Gradio app for the facial time-lapse (a Hugging Face Space). It builds the page and wires events;
all work lives in `pipeline/` (handlers in `pipeline/webapp/page.py`, the API in `pipeline/webapp/api.py`).

Run ``python app.py``. Scripts use the endpoints ``/analyze``, ``/render`` and ``/timelapse`` (see README).
Importing this module does no network I/O: which methods can run is probed when the page first loads.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import gradio as gr

from pipeline.webapp import api, cards, page, table
from pipeline.webapp.controls import (
    EVERY_PHOTO_ONLY,
    TRANSITIONS_ONLY,
    background_changed,
    make_timing_handler,
    settings_controls,
    speed_changed,
)
from pipeline.webapp.examples import EXAMPLES
from pipeline.webapp.files import RETENTION_S, examples_cache_dir, outputs_root
from pipeline.webapp.gpu import render_album
from pipeline.webapp.review import warm_up
from pipeline.webapp.search import DEFAULT_LIMIT, NAME_LIMITS
from pipeline.webapp.state import PageState
from pipeline.webapp.uploads import LIMITS_TEXT, MAX_FILE_MB

log = logging.getLogger("app")

RENDER_CONCURRENCY = 2  # heavy step: at most two renders at once
ANALYZE_CONCURRENCY = 2
UPLOAD_TYPES = [
    "image", ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".avif", ".heic", ".heif",
    ".bmp", ".dib", ".tif", ".tiff", ".gif",
]  # fmt: skip
os.environ.setdefault(
    "GRADIO_EXAMPLES_CACHE", str(examples_cache_dir())
)  # not the working directory
SCROLL_TO_BUTTON = "() => document.querySelector('#render-btn')?.scrollIntoView({block: 'start'})"
CSS = (
    cards.CSS
    + """
#render-btn { min-height: 3em; }
#make { max-width: 760px; margin: 0 auto; }
#limits { font-size: .85em; color: var(--body-text-color-subdued); }
#download-links a { margin: 0 .3em; }
.toast-body:not(:has(.toast-text:not(:empty))) { display: none; }
"""
)

with gr.Blocks(
    title="Facial time-lapse", delete_cache=(RETENTION_S, RETENTION_S), analytics_enabled=False
) as demo:
    gr.Markdown(
        "# Facial time-lapse\nDrop photos of one person taken years apart, check the faces and ages, and get a "
        "video of the face growing up and aging. Your photos are only used for this video and deleted within an hour."
    )
    state = gr.State(PageState())
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300) as photos_column:
            gr.Markdown("### 1 · Photos")
            with gr.Tabs() as tabs:
                with gr.Tab("Upload photos", id="upload"):
                    files = gr.File(label="Photos (drop many at once)", file_count="multiple",
                                    file_types=UPLOAD_TYPES, height=150, elem_id="files")  # fmt: skip
                    gr.Markdown(LIMITS_TEXT, elem_id="limits")
                with gr.Tab("Search photos by name", id="name"):
                    with gr.Row():
                        name = gr.Textbox(label="A well-known person's name", placeholder="e.g. Thomas Edison, Marie Curie",
                                          scale=3, elem_id="name", submit_btn="Search")  # fmt: skip
                        limit = gr.Slider(
                            *NAME_LIMITS,
                            value=DEFAULT_LIMIT,
                            step=1,
                            label="Photos",
                            scale=1,
                            min_width=120,
                        )
                    candidates = gr.Radio([], label="Several people have this name: which one?", visible=False,
                                          elem_id="candidates")  # fmt: skip
                    search_status = gr.Markdown(
                        "Freely licensed photos from Wikimedia Commons, with dates, birth date and credits.",
                        elem_id="search-status",
                    )
        with gr.Column(scale=3, min_width=320):
            gr.Markdown("### 2 · Check faces and ages")
            birth = gr.Textbox(label="Birth date (optional)", placeholder="YYYY-MM-DD", elem_id="birth",
                               info="Photos with a capture date then get exact ages. Press Enter to apply.")  # fmt: skip
            summary = gr.Markdown(
                "Add photos to see the faces found, their ages and the order.", elem_id="summary"
            )
            review_cards = gr.HTML(cards.empty_cards(), html_template=cards.TEMPLATE, js_on_load=cards.SCRIPT,
                                   elem_id="cards", padding=False)  # fmt: skip
            with gr.Accordion(
                "All details as a table (edit age, date or face number)",
                open=False,
                elem_id="table-box",
            ):
                grid = gr.Dataframe(
                    headers=table.HEADERS, datatype=table.DATATYPES, static_columns=table.STATIC_COLUMNS, type="array",
                    interactive=True, wrap=True, max_height=420, elem_id="review-table", show_label=False,
                )  # fmt: skip
    # Phone first: the render button right after the review, the video just under it (where
    # the visitor is looking), then the few choices most visitors make, the rest collapsed.
    with gr.Column(elem_id="make"):
        gr.Markdown("### 3 · Time-lapse")
        render_btn = gr.Button("Render time-lapse", variant="primary", elem_id="render-btn")
        video = gr.Video(label="Time-lapse", autoplay=True, loop=True, interactive=False, height=440,
                         visible=False, elem_id="video")  # fmt: skip
        report = gr.Markdown(elem_id="report")
        downloads = gr.HTML(visible=False, elem_id="downloads")
        controls = settings_controls()  # by name; the render handler reads them by name
        sheet = gr.Image(label="Contact sheet", type="filepath", interactive=False, visible=False,
                         elem_id="sheet")  # fmt: skip

    # The API: typed functions, documented by their docstrings (see pipeline/webapp/api.py).
    api.register(
        api.analyze, "analyze", concurrency_id="analyze", concurrency_limit=ANALYZE_CONCURRENCY
    )
    for endpoint in (api.make_render(render_album), api.make_timelapse(render_album)):
        api.register(
            endpoint,
            endpoint.__name__,
            concurrency_id="render",
            concurrency_limit=RENDER_CONCURRENCY,
        )

    # Page events (private: not part of the API).
    private: dict[str, Any] = {"api_visibility": "private"}
    analyze_kw = {**private, "concurrency_id": "analyze", "concurrency_limit": ANALYZE_CONCURRENCY}
    review_outputs = [review_cards, grid, summary, state, birth]

    def then_review(event: Any) -> None:
        """Then the review of the album (cached scan, or a scan with progress)."""
        event.then(page.review_files, [files, birth, state], review_outputs, **analyze_kw)

    # A new album: previews at once (and a birth date the app filled in is forgotten), then the review.
    for changed in (files.upload, files.delete):
        then_review(
            changed(page.new_files, [files, birth, state], [birth, state, review_cards], **private)
        )
    files.clear(page.empty, [state], review_outputs, queue=False, **private)
    with photos_column:  # the example album sits under the upload box (first phone screen)
        examples = gr.Examples(
            [[e.files, e.birth_date] for e in EXAMPLES], [files, birth], review_outputs[:4], page.review_example,
            label="Example albums (tap one to try it)", example_labels=[e.label for e in EXAMPLES],
            cache_examples=True, cache_mode="lazy", elem_id="examples", api_visibility="private",
        )  # fmt: skip
    examples.load_input_event.then(
        page.example_loaded, [birth, state], [state], queue=False, **private
    )
    review_cards.input(
        page.card_edit,
        [review_cards, files, birth, state],
        review_outputs,
        show_progress="minimal",
        **analyze_kw,
    )
    grid.input(
        page.table_edit,
        [files, grid, birth, state],
        review_outputs,
        show_progress="minimal",
        **analyze_kw,
    )
    gr.on([birth.submit, birth.blur], page.birth_changed, [files, birth, state], review_outputs,
          show_progress="minimal", **analyze_kw)  # fmt: skip
    search_kw = {**private, "concurrency_id": "search", "concurrency_limit": 2}
    search_outputs = [files, birth, state, candidates, search_status]
    found = name.submit(page.search, [name, limit, birth, state], search_outputs, **search_kw)
    then_review(found.success(page.previews, [files], [review_cards], **private))
    picked = candidates.input(page.pick_candidate, [candidates], [name], queue=False, **private)
    found = picked.then(page.search, [name, limit, birth, state], search_outputs, **search_kw)
    then_review(found.success(page.previews, [files], [review_cards], **private))
    controls["method"].change(page.method_changed, [controls["method"]], [controls["encoder"], controls["gamma"]],
                              queue=False, **private)  # fmt: skip
    controls["background"].change(background_changed, [controls["background"]], [controls["background_colour"]],
                                  queue=False, **private)  # fmt: skip
    controls["speed"].change(speed_changed, [controls["speed"]],
                             [controls["frames_between"], controls["seconds_per_year"]], queue=False, **private)  # fmt: skip
    # The kind of video: its own settings shown; a photo-a-day video reviews every kept photo.
    timing_outputs = [
        *(controls[n] for n in (*TRANSITIONS_ONLY, *EVERY_PHOTO_ONLY, "caption")),
        state,
    ]
    then_review(controls["timing"].change(
        make_timing_handler(controls, state), {controls["timing"], controls["speed"], controls["caption"], state},
        timing_outputs, queue=False, **private,
    ))  # fmt: skip
    album = {"files": files, "table": grid, "birth": birth, "state": state}
    # The button's place at the top of the screen: the progress and the video appear under it.
    render_btn.click(None, js=SCROLL_TO_BUTTON, queue=False, **private)
    rendered = render_btn.click(
        page.make_render_handler(album, controls, render_album), {*album.values(), *controls.values()},
        [video, downloads, sheet, report, state], concurrency_id="render", concurrency_limit=RENDER_CONCURRENCY,
        **private,
    )  # fmt: skip
    # The player shows once there is a video to play (until then it would push the choices down).
    rendered.then(page.show_if_set, [video], [video], queue=False, **private)
    demo.load(page.method_choices, None, [controls["method"]], **private)
    summary.change(page.age_photo_choices, [state], [controls["age_photo"]], queue=False, **private)

demo.queue(default_concurrency_limit=4)

LAUNCH_OPTIONS: dict[str, Any] = {
    "css": CSS,
    "show_error": True,
    "max_file_size": f"{MAX_FILE_MB}mb",
    "footer_links": ["api", "gradio"],
    "allowed_paths": [str(outputs_root())],  # the download links
}


def launch(**overrides: Any) -> Any:
    """Start the server with the app's options (tests and benchmarks pass host, port, thread lock).

    On a Space the StyleGAN weights are prepared in the background meanwhile."""
    from pipeline.methods.stylegan import startup

    startup.start_on_space()
    return demo.launch(**{**LAUNCH_OPTIONS, **overrides})


if __name__ == "__main__":
    logging.basicConfig(level=os.environ.get("LOGLEVEL", "INFO"))
    warm_up()
    launch()
