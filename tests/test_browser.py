"""The page in a real browser: headless Chromium (Debian's, driven by Playwright) against the running app.

Desktop: upload photos through the file input, edit an age in the table,
render, and check that the video element plays. Phone: the example album and
the name search (recorded Wikimedia answers served from 127.0.0.1).
Screenshots are saved in the test's temp folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.app import launch_app
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
    assert CHROMIUM.is_file(), "Chromium is missing: apt-get install -y chromium chromium-driver (.ci/run does it)"
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


def test_upload_edit_render_play(browser: Browser, url: str, edison_dir: Path, tmp_path: Path) -> None:
    page = open_page(browser, url, 1280, 900)
    photos = sorted(str(p) for p in edison_dir.glob("*.png"))
    page.locator("#files input[type=file]").set_input_files(photos)
    wait_for_table(page, "3_edison_c1922.png")
    page.wait_for_function("() => document.querySelector('#summary').innerText.includes('3 of 3 photos')")
    assert page.locator("#faces img").count() == 3 and page.locator("#uploads img").count() == 3

    # Edit one age: the oldest portrait becomes the youngest, and the table says it is an edit.
    r = row_of(page, "3_edison_c1922.png", 3)
    cell(page, r, 2).dblclick()
    page.keyboard.press("Control+A")
    page.keyboard.type("20")
    page.keyboard.press("Enter")
    wait_for_table(page, "your edit")
    assert row_of(page, "3_edison_c1922.png", 3) == 0
    assert cell(page, 0, 2).inner_text().strip() == "20"

    page.get_by_label("256").check()
    page.locator("#render-btn").click()
    page.wait_for_function("() => { const v = document.querySelector('#video video'); return v && v.src; }", timeout=120_000)
    state = page.evaluate(
        """async () => {
            const v = document.querySelector('#video video');
            if (v.readyState < 1) {
                await new Promise(r => { v.addEventListener('loadedmetadata', r, {once: true}); setTimeout(r, 15000); });
            }
            return {ready: v.readyState, duration: v.duration, error: v.error ? v.error.code : null,
                    width: v.videoWidth, height: v.videoHeight};
        }"""
    )
    assert state["error"] is None and state["ready"] >= 1 and state["duration"] > 0, state
    assert (state["width"], state["height"]) == (256, 256)
    page.wait_for_function(
        "() => { const d = document.querySelector('#downloads'); return d && d.innerText.replace(/\\s/g, '').includes('timelapse.mp4'); }"
    )
    assert "frames" in page.locator("#report").inner_text()
    assert page.locator("#sheet img").count() == 1
    assert error_toasts(page) == []
    page.screenshot(path=str(tmp_path / "desktop.png"), full_page=True)
    page.close()


def test_phone_example_and_name_search(browser: Browser, url: str, tmp_path: Path) -> None:
    page = open_page(browser, url, 390, 844)
    page.locator("#example-btn").click()
    wait_for_table(page, "1_edison_young_c1878.png")
    birth = page.locator("#birth textarea, #birth input").first
    assert birth.input_value() == "1847-02-11"
    page.wait_for_function("() => document.querySelector('#summary').innerText.includes('3 of 3 photos')")
    page.screenshot(path=str(tmp_path / "phone_example.png"), full_page=True)

    page.get_by_role("tab", name="Search photos by name").click()
    name = page.locator("#name textarea, #name input").first
    name.fill("John Smith")
    name.press("Enter")
    page.wait_for_selector("#candidates", state="visible")
    assert "Q310973" in page.locator("#candidates").inner_text()

    name.fill("Barack Obama")
    name.press("Enter")
    wait_for_table(page, "Barry_Obama")
    assert birth.input_value() == "1961-08-04"
    assert "Found" in page.locator("#search-status").inner_text()
    # The credit column (author · licence) is filled for photos found by name.
    r = row_of(page, "01_Barry_Obama_in_Jakarta_circa_1967.jpg", 6)
    assert "·" in cell(page, r, 7).inner_text()
    assert error_toasts(page) == []
    page.screenshot(path=str(tmp_path / "phone_name.png"), full_page=True)
    page.close()
