"""Each kind of page in headless Chromium, from a file:// URL with the network off.

Chromium comes from the system (``apt-get install chromium``); without it these
tests skip and say so. The browser is driven over the DevTools protocol
(:mod:`tests.viewer.browser`), so the assertions are on what a reader sees:
``innerText`` leaves out the inside of closed ``<details>``, so a model call's
messages must be absent before its summary is clicked and present after.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from critic.messages import ModelCall
from critic.transcript import read_transcript
from critic.viewer import write_html
from tests.viewer.browser import Chromium, Page, chromium, chromium_path
from tests.viewer.fixtures import BREAKOUT, DRAFT_TWO, SCRIPT

pytestmark = pytest.mark.slow

KINDS = ["session", "debate", "scores", "experiment", "calibration"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    if chromium_path() is None:
        pytest.skip("Chromium is not installed (`apt-get install chromium`); the browser tests need it")
    with chromium(tmp_path_factory.mktemp("chromium")) as running:
        yield running


@pytest.fixture(scope="module")
def pages(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pages")
    return {kind: write_html(path, folder / f"{kind}.html") for kind, path in files.items()}


@pytest.fixture
def page(browser: Chromium) -> Iterator[Page]:
    opened = browser.page()
    yield opened
    opened.close()


def words(text: str) -> str:
    """Text with its whitespace normalised (innerText and <pre> differ only in that)."""
    return " ".join(text.split())


def load(page: Page, path: Path, fragment: str = "") -> None:
    url = path.as_uri() + fragment
    requested = page.open(url)
    assert requested == [path.as_uri()], f"the page asked for more than itself: {requested}"
    remote = page.evaluate(
        "Array.from(document.querySelectorAll('[src],[href]'))"
        ".map(e => e.getAttribute('src') || e.getAttribute('href'))"
        ".filter(u => /^\\s*(https?:|\\/\\/)/i.test(u))"
    )
    assert remote == []


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize("kind", KINDS)
def test_each_page_renders_offline(page: Page, pages: dict[str, Path], kind: str, tmp_path: Path) -> None:
    load(page, pages[kind])
    text = words(page.text())
    if kind == "session":
        assert words(DRAFT_TWO) in text
        assert "VERDICT ACCEPT" in text.upper()
        assert "aggregate 0.94 from 2 of 2 critiques reaches accept_at 0.80" in text
    elif kind == "debate":
        cells = page.evaluate("Array.from(document.querySelectorAll('tr#round-2 td.changed'))"
                              ".map(td => td.querySelector('.answer').innerText)")
        assert cells == ["156", "13"]  # debater-2 and debater-3 changed their minds
        assert "changed mind: was 144" in text
        assert "majority: 2 of 3 debaters answered '156'" in text
    elif kind == "scores":
        assert "correctness \N{MULTIPLICATION SIGN} clarity" in text
        assert page.evaluate("document.querySelectorAll('#critiques tbody tr:not([hidden])').length") == 12
    elif kind == "experiment":
        assert "critics single 0.070 [0.020, 0.120]" in text
    else:
        assert page.evaluate("document.querySelectorAll('#roc polyline.series').length") == 2
    # Every plot was laid out with a real size (an SVG that failed to parse would not be).
    sizes = page.evaluate("Array.from(document.querySelectorAll('svg.plot'))"
                          ".map(s => s.getBoundingClientRect().width)")
    assert sizes and min(sizes) > 100
    shot = page.screenshot(tmp_path / f"{kind}.png")
    assert png_size(shot) == (1280, 2000)
    # A blank or unstyled page compresses to a few kB; these hold text, tables and plots.
    assert shot.stat().st_size > 30_000


def test_a_model_call_shows_its_messages_after_expanding(page: Page, pages: dict[str, Path],
                                                         files: dict[str, Path]) -> None:
    calls = [p for p in read_transcript(files["session"]).payloads("model_call") if isinstance(p, ModelCall)]
    first = next(c for c in calls if c.agent == "generator")
    load(page, pages["session"])
    system = words(first.messages[0].content)
    assert system not in words(page.text())
    page.evaluate("document.querySelector('details.call[data-agent=generator] > summary').click()")
    text = words(page.text())
    for message in first.messages:
        assert words(message.content) in text
    assert first.completion is not None and words(first.completion) in text
    assert "attempts 1" in text and f"usage {first.usage.prompt_tokens} prompt" in text


def test_open_calls_fragment_opens_every_call(page: Page, pages: dict[str, Path]) -> None:
    load(page, pages["debate"], "#open-calls")
    assert page.evaluate("document.querySelectorAll('details:not([open])').length") == 0
    assert page.evaluate("document.querySelectorAll('details.call[open]').length") == 9
    assert "Messages sent" in page.text()


@pytest.mark.parametrize("kind", ["session", "debate", "scores", "calibration"])
def test_injected_markup_shows_as_text_and_never_runs(page: Page, pages: dict[str, Path], kind: str) -> None:
    load(page, pages[kind])
    page.evaluate("document.querySelector('[data-expand=open]').click()")
    assert page.evaluate("document.querySelectorAll('details:not([open])').length") == 0
    assert page.evaluate("document.documentElement.getAttribute('data-pwned')") is None
    assert page.evaluate("document.images.length") == 0
    assert page.evaluate("document.scripts.length") == 1
    text = words(page.text())
    assert words(SCRIPT) in text  # the markup, as text a reader can see
    if kind != "calibration":
        assert words(BREAKOUT) in text


def test_score_table_sorts_and_filters(page: Page, pages: dict[str, Path]) -> None:
    load(page, pages["scores"])

    def choose(name: str, value: str) -> None:
        page.evaluate(f"(s => {{ s.value = {value!r}; s.dispatchEvent(new Event('change')); }})"
                      f"(document.querySelector('select[data-filter={name}]'))")

    def visible(column: int) -> list[str]:
        return list(page.evaluate(
            "Array.from(document.querySelectorAll('#critiques tbody tr:not([hidden])'))"
            f".map(r => r.cells[{column}].innerText.trim())"
        ))

    choose("role", "clarity")
    assert visible(1) == ["clarity"] * 6
    assert "6 of 12 shown" in page.text()
    choose("status", "error")
    assert visible(0) == ["neg"]
    choose("status", "")
    choose("decision", "discard")
    assert visible(0) == ["sub", "div", "abs"]
    choose("decision", "")
    choose("role", "")
    page.evaluate("document.querySelectorAll('#critiques thead th')[2].click()")  # score, ascending
    scores = visible(2)
    assert scores[-1] == "—"  # the unscored critique goes last
    numbers = [float(s) for s in scores[:-1]]
    assert numbers == sorted(numbers) and len(numbers) == 11
    page.evaluate("document.querySelectorAll('#critiques thead th')[2].click()")  # descending
    scores = visible(2)
    assert scores[-1] == "—" and [float(s) for s in scores[:-1]] == sorted(numbers, reverse=True)
