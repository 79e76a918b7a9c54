"""The page in a real browser: headless Chromium (Debian's, driven by Playwright) against the running app.

Phone (390 x 844): upload photos through the file input, edit an age and
remove a photo on their cards, render and play, with every card and note
readable without sideways scrolling, the render button close under the
review (the settings most visitors keep collapsed) and the video under it; the example album and the name search
(recorded Wikimedia answers served from 127.0.0.1). Desktop (1280 x 900): the
full table, an edit there, render.
Screenshots are saved in the test's temp folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.app import launch_app
from tests.support.daily import dated_selfies
from tests.support.replay import WikimediaReplay

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
TABLE = "#review-table"


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory, wikimedia: WikimediaReplay) -> Iterator[str]:
    app, address = launch_app(tmp_path_factory)
    yield address
    app.demo.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.is_file(), (
        "Chromium is missing: apt-get install -y chromium chromium-driver (.ci/run does it)"
    )
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


def open_page(browser: Browser, url: str, width: int, height: int) -> Page:
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(60_000)
    page.goto(url)
    page.wait_for_selector("#files input[type=file]", state="attached")
    return page


def wait_for_summary(page: Page, text: str, timeout: float = 120_000) -> None:
    page.wait_for_function(
        "(text) => { const s = document.querySelector('#summary'); return s && s.innerText.includes(text); }",
        arg=text, timeout=timeout,
    )  # fmt: skip


def wait_for_table(page: Page, text: str) -> None:
    page.wait_for_function(
        "([sel, text]) => { const t = document.querySelector(sel); return t && t.innerText.includes(text); }",
        arg=[TABLE, text],
    )


def cell(page: Page, row: int, col: int) -> Any:
    return page.locator(f'{TABLE} [data-testid="cell-{row}-{col}"]')


def row_of(page: Page, file: str, rows: int) -> int:
    for r in range(rows):
        if cell(page, r, 1).inner_text().strip() == file:
            return r
    raise AssertionError(f"{file} is not in the table")


def error_toasts(page: Page) -> list[str]:
    return page.evaluate(
        "() => Array.from(document.querySelectorAll('.toast-body.error')).map(e => e.innerText)"
    )


def card(page: Page, file: str) -> Any:
    return page.locator(f'#cards .card[data-file="{file}"]')


def layout_problems(page: Page) -> list[str]:
    """Cards or notes that stick out of the viewport or are cut, and any sideways scrolling."""
    return page.evaluate(
        """() => {
            const out = [], w = document.documentElement.clientWidth;
            if (document.documentElement.scrollWidth > w + 1) out.push('page scrolls sideways: ' + document.documentElement.scrollWidth);
            for (const el of document.querySelectorAll('#cards .card, #cards .card .note, #cards .card .name, #cards .card button, #cards .card input')) {
                const r = el.getBoundingClientRect();
                const what = (el.closest('.card').dataset.file || '?') + ' ' + el.className + el.tagName;
                if (r.width === 0 || r.height === 0) out.push('hidden: ' + what);
                if (r.left < -1 || r.right > w + 1) out.push('outside the viewport: ' + what);
                if (el.scrollWidth > el.clientWidth + 1 && el.tagName !== 'INPUT') out.push('clipped: ' + what);
            }
            return out;
        }"""
    )


def open_more_settings(page: Page) -> None:
    """Open the collapsed "More settings" section (size, caption, background...)."""
    page.locator("#more-settings").get_by_text("More settings").click()


def render_button_distance(page: Page) -> float:
    """Screens (viewport heights) from the bottom of the last review card to the render button."""
    return page.evaluate(
        """() => {
            const cards = document.querySelectorAll('#cards .card');
            const last = cards[cards.length - 1].getBoundingClientRect();
            const button = document.querySelector('#render-btn').getBoundingClientRect();
            return (button.top - last.bottom) / window.innerHeight;
        }"""
    )


def wait_for_video(page: Page) -> dict[str, Any]:
    page.wait_for_function(
        "() => { const v = document.querySelector('#video video'); return v && v.src; }",
        timeout=180_000,
    )
    return page.evaluate(
        """async () => {
            const v = document.querySelector('#video video');
            if (v.readyState < 1) {
                await new Promise(r => { v.addEventListener('loadedmetadata', r, {once: true}); setTimeout(r, 15000); });
            }
            return {ready: v.readyState, duration: v.duration, error: v.error ? v.error.code : null,
                    width: v.videoWidth, height: v.videoHeight};
        }"""
    )


def test_phone_upload_edit_remove_render(
    browser: Browser, url: str, edison_dir: Path, tmp_path: Path
) -> None:
    """At 390 x 844: every card and note readable without sideways scrolling; edit an age and remove
    a photo on their cards (one tap each), render, and the video plays."""
    page = open_page(browser, url, 390, 844)
    console: list[str] = []
    page.on(
        "console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None
    )
    photos = sorted(str(p) for p in edison_dir.glob("*.png"))
    page.locator("#files input[type=file]").set_input_files(photos)
    wait_for_summary(page, "3 of 3 photos")
    assert (
        page.locator("#cards .card").count() == 3 and page.locator("#cards .strip img").count() == 3
    )
    assert layout_problems(page) == []
    page.screenshot(path=str(tmp_path / "phone_review.png"), full_page=True)

    # A new age on a card: the oldest portrait becomes the youngest, and its card says it is an edit.
    age = card(page, "3_edison_c1922.png").locator("input[data-age]")
    age.fill("20")
    age.press("Tab")
    page.wait_for_function(
        "() => document.querySelector('#cards .card').dataset.file === '3_edison_c1922.png'"
    )
    assert "your edit" in card(page, "3_edison_c1922.png").inner_text()
    # One tap removes a photo; its card stays, with a note and a Keep button.
    card(page, "2_edison_middle_c1910s.png").get_by_role(
        "button", name="Remove 2_edison_middle_c1910s.png"
    ).click()
    wait_for_summary(page, "2 of 3 photos")
    removed = card(page, "2_edison_middle_c1910s.png")
    assert (
        "Removed by you" in removed.inner_text()
        and removed.get_by_role("button").inner_text() == "Keep"
    )
    assert page.locator("#cards .note").count() >= 1 and layout_problems(page) == []
    # Phone first: the render button at most about two screens below the last card, the
    # settings most visitors never change collapsed.
    assert 0 < render_button_distance(page) <= 2
    assert not page.get_by_label("256").is_visible()

    open_more_settings(page)
    page.get_by_label("256").check()
    page.locator("#render-btn").click()
    state = wait_for_video(page)
    # The video appears where the visitor is looking: on the screen, under the button.
    video_box = page.locator("#video").bounding_box()
    button_box = page.locator("#render-btn").bounding_box()
    assert video_box is not None and button_box is not None
    assert button_box["y"] < video_box["y"] < 844, (button_box, video_box)
    assert state["error"] is None and state["ready"] >= 1 and state["duration"] > 0, state
    assert (state["width"], state["height"]) == (256, 256)
    assert "from 2 photos" in page.locator("#report").inner_text()
    assert page.locator("#download-links a").count() >= 3 and layout_problems(page) == []
    assert error_toasts(page) == [] and console == []
    page.screenshot(path=str(tmp_path / "phone_rendered.png"), full_page=True)
    page.close()


def test_desktop_table_and_render(
    browser: Browser, url: str, edison_dir: Path, tmp_path: Path
) -> None:
    """At 1280 x 900 the same cards, and the full table one tap away: edit an age there, render, play."""
    page = open_page(browser, url, 1280, 900)
    photos = sorted(str(p) for p in edison_dir.glob("*.png"))
    page.locator("#files input[type=file]").set_input_files(photos)
    wait_for_summary(page, "3 of 3 photos")
    assert page.locator("#cards .card").count() == 3 and layout_problems(page) == []
    page.locator("#table-box").get_by_text("All details as a table").click()
    wait_for_table(page, "3_edison_c1922.png")
    r = row_of(page, "3_edison_c1922.png", 3)
    cell(page, r, 2).dblclick()
    page.keyboard.press("Control+A")
    page.keyboard.type("20")
    page.keyboard.press("Enter")
    wait_for_table(page, "your edit")
    assert (
        row_of(page, "3_edison_c1922.png", 3) == 0 and cell(page, 0, 2).inner_text().strip() == "20"
    )
    page.wait_for_function(
        "() => document.querySelector('#cards .card').dataset.file === '3_edison_c1922.png'"
    )
    open_more_settings(page)
    page.get_by_label("256").check()
    page.locator("#render-btn").click()
    state = wait_for_video(page)
    assert state["error"] is None and state["duration"] > 0, state
    assert page.locator("#sheet img").count() == 1 and error_toasts(page) == []
    page.screenshot(path=str(tmp_path / "desktop.png"), full_page=True)
    page.close()


def test_phone_example_and_name_search(browser: Browser, url: str, tmp_path: Path) -> None:
    page = open_page(browser, url, 390, 844)
    example = page.locator("#examples").get_by_text("Thomas Edison at 31, 63 and 75")
    box = example.bounding_box()
    assert box is not None and box["y"] + box["height"] <= 844  # on the first phone screen
    example.click()
    wait_for_summary(page, "3 of 3 photos")
    birth = page.locator("#birth textarea, #birth input").first
    assert birth.input_value() == "1847-02-11"
    assert page.locator("#cards .card").count() == 3
    page.screenshot(path=str(tmp_path / "phone_example.png"), full_page=True)

    page.get_by_role("tab", name="Search photos by name").click()
    name = page.locator("#name textarea, #name input").first
    name.fill("John Smith")
    name.press("Enter")
    page.wait_for_selector("#candidates", state="visible")
    assert "Q310973" in page.locator("#candidates").inner_text()

    name.fill("Barack Obama")
    name.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('#cards').innerText.includes('Barry_Obama')", timeout=120_000
    )
    assert birth.input_value() == "1961-08-04"
    assert "Found" in page.locator("#search-status").inner_text()
    # The credit column (author · licence) is filled for photos found by name.
    page.locator("#table-box").get_by_text("All details as a table").click()
    wait_for_table(page, "Barry_Obama")
    r = row_of(page, "01_Barry_Obama_in_Jakarta_circa_1967.jpg", 6)
    assert "·" in cell(page, r, 7).inner_text()
    assert error_toasts(page) == [] and layout_problems(page) == []
    page.screenshot(path=str(tmp_path / "phone_name.png"), full_page=True)
    page.close()


def visible(page: Page, selector: str) -> bool:
    return page.locator(selector).first.is_visible()


def test_phone_photo_a_day_choice(
    browser: Browser, url: str, astronaut: Any, tmp_path: Path
) -> None:
    """At 390 x 844: 32 dated selfies get the proposed selection of 30 for a morph; choosing
    "Every photo" shows its own settings (frames per photo, blend) instead of the transition
    timing, captions by date, reviews all 32 and renders 32 x 2 + 31 x 1 frames."""
    album = dated_selfies(tmp_path / "album", astronaut, 32)
    page = open_page(browser, url, 390, 844)
    console: list[str] = []
    page.on(
        "console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None
    )
    page.locator("#files input[type=file]").set_input_files(
        sorted(str(tmp_path / "album" / n) for n in album)
    )
    wait_for_summary(page, "30 of 32 photos")
    assert not visible(page, "#per-photo") and visible(page, "#timing")

    page.locator("#timing").get_by_label("Every photo, like a photo-a-day video").check()
    wait_for_summary(page, "32 of 32 photos")
    assert "like a photo-a-day video" in page.locator("#summary").inner_text()
    assert visible(page, "#per-photo") and visible(page, "#blend") and visible(page, "#average")
    hidden = page.get_by_label("Frames between two photos", exact=True)
    assert hidden.count() == 0 or not hidden.first.is_visible()
    open_more_settings(page)
    assert page.get_by_label("Date", exact=True).is_checked()  # photo-a-day captions by date
    assert layout_problems(page) == []
    for elem, value in (("#per-photo", "2"), ("#blend", "1")):
        box = page.locator(f"{elem} input[type=number]")
        box.fill(value)
        box.press("Tab")
    page.get_by_label("Cross-fade").check()
    page.get_by_label("256").check()
    page.locator("#timing").scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "phone_photo_a_day.png"), full_page=True)
    page.locator("#render-btn").click()
    state = wait_for_video(page)
    assert state["error"] is None and state["duration"] > 0, state
    report = page.locator("#report").inner_text()
    assert "95 frames" in report and "from 32 photos" in report, report
    assert error_toasts(page) == [] and console == [] and layout_problems(page) == []
    page.screenshot(path=str(tmp_path / "phone_photo_a_day_rendered.png"), full_page=True)
    page.close()
