"""Rendering without a browser: what each page holds, escaping, and writing pages to disk."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from critic.errors import TranscriptError
from critic.messages import ModelCall
from critic.transcript import read_transcript
from critic.viewer import default_output, render_html, write_html
from tests.viewer.fixtures import BREAKOUT, DRAFT_TWO, SCRIPT


class Elements(HTMLParser):
    """Every start tag of a page with its attributes, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text.append(data)


def parse(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    parser.close()
    return parser


KINDS = ["session", "debate", "scores", "experiment", "calibration"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_one_self_contained_page(files: dict[str, Path], kind: str) -> None:
    html = render_html(files[kind])
    assert html.startswith("<!DOCTYPE html>")
    assert f'<body data-kind="{kind}">' in html
    page = parse(html)
    scripts = [a for t, a in page.tags if t == "script"]
    assert len(scripts) == 1 and "src" not in scripts[0]  # the page's own, inline
    for tag, attrs in page.tags:
        for name in ("src", "href", "action", "xlink:href", "poster", "data"):
            value = attrs.get(name) or ""
            assert not re.match(r"\s*(https?:|//)", value), f"<{tag} {name}={value!r}> would fetch"
        assert tag not in ("link", "iframe", "object", "embed", "img", "base")
    assert "@import" not in html and "url(" not in html


def test_model_output_is_escaped_never_markup(files: dict[str, Path]) -> None:
    for kind in KINDS:
        html = render_html(files[kind])
        assert SCRIPT not in html and BREAKOUT not in html
        assert "<img" not in html
    session = render_html(files["session"])
    assert "&lt;script&gt;document.documentElement.setAttribute(" in session
    assert "&lt;/pre&gt;&lt;/details&gt;" in session and "onerror=&#34;" in session
    page = parse(session)
    assert [t for t, _ in page.tags].count("script") == 1
    assert "data-pwned" not in "".join(page.script_text)


def test_session_page_has_task_rounds_critiques_verdicts_and_every_call(files: dict[str, Path]) -> None:
    html = render_html(files["session"])
    transcript = read_transcript(files["session"])
    calls = [p for p in transcript.payloads("model_call") if isinstance(p, ModelCall)]
    assert len(calls) == 6
    assert html.count('<details class="call"') == len(calls)
    for call in calls:  # the exact messages sent and the completion, each escaped once
        for message in call.messages:
            assert _escaped(message.content) in html
        assert call.completion is None or _escaped(call.completion) in html
    assert 'id="round-1"' in html and 'id="round-2"' in html and 'id="round-3"' not in html
    assert _escaped(DRAFT_TWO) in html
    assert "aggregate 0.94 from 2 of 2 critiques reaches accept_at 0.80" in html
    assert "ModelError: server exploded" in html  # the failed critique, with its reason
    assert "<svg" in html and "scores per round" in html


def test_debate_page_is_a_round_by_debater_grid_with_changes_of_mind(files: dict[str, Path]) -> None:
    html = render_html(files["debate"])
    header = re.search(r"<thead><tr><th>round</th>(.*?)</tr></thead>", html)
    assert header is not None
    assert re.findall(r"<th>(.*?)</th>", header.group(1)) == ["debater-1", "debater-2", "debater-3"]
    rows = re.findall(r'<tr id="round-(\d+)">(.*?)</tr>', html, re.S)
    assert [n for n, _ in rows] == ["1", "2"]
    changed = {n: re.findall(r"changed mind: was (\w+)", body) for n, body in rows}
    assert changed == {"1": [], "2": ["144", "12"]}  # debater-2: 144 -> 156, debater-3: 12 -> 13
    transcript = read_transcript(files["debate"])
    assert html.count('<details class="call"') == len(transcript.payloads("model_call")) == 9
    assert "majority: 2 of 3 debaters answered" in html


def test_score_page_has_a_row_per_critique_with_filter_keys(files: dict[str, Path]) -> None:
    html = render_html(files["scores"])
    rows = re.findall(r'<tr data-role="([^"]*)" data-decision="([^"]*)" data-status="([^"]*)">', html)
    assert len(rows) == 12  # 6 records x 2 roles
    assert rows.count(("clarity", "accept", "error")) == 1
    assert sum(status != "ok" for _, _, status in rows) == 1
    assert {r[0] for r in rows} == {"correctness", "clarity"}
    assert html.count('class="plot"') == 2  # a histogram per role
    assert "correctness \N{MULTIPLICATION SIGN} clarity" in html
    assert "Judge against the labels (6 labelled records)" in html


def test_experiment_and_calibration_pages_plot_what_they_report(files: dict[str, Path]) -> None:
    html = render_html(files["experiment"])
    for name in ("single", "critics", "doctests", "critics vs single", "fitted e = 0.090"):
        assert name in html
    assert html.count('class="plot"') == 3  # pass rates, comparisons, one drift plot
    cal = render_html(files["calibration"])
    assert cal.count('class="series"') >= 2 and "doctests AUROC 0.970" in cal
    assert "identity &lt;script&gt;" in cal


def _escaped(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


def test_write_html_next_to_the_input_and_again_over_its_own_page(tmp_path: Path,
                                                                  files: dict[str, Path]) -> None:
    source = tmp_path / "run.jsonl"
    source.write_bytes(files["session"].read_bytes())
    out = write_html(source)
    assert out == default_output(source) == tmp_path / "run.html"
    first = out.read_text()
    assert write_html(source) == out  # a page of the viewer may be replaced
    assert out.read_text() != first  # (fresh nonce and time)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.html", "run.jsonl"]  # no temp left


def test_write_html_never_replaces_another_file_or_its_input(tmp_path: Path, files: dict[str, Path]) -> None:
    precious = tmp_path / "notes.html"
    precious.write_text("my own notes")
    with pytest.raises(TranscriptError, match="is not a page written by critic view"):
        write_html(files["session"], precious)
    assert precious.read_text() == "my own notes"
    copy = tmp_path / "s.jsonl"
    copy.write_bytes(files["session"].read_bytes())
    with pytest.raises(TranscriptError, match="would overwrite the file it shows"):
        write_html(copy, copy)
    assert copy.read_bytes() == files["session"].read_bytes()


def test_a_torn_last_line_is_left_out_and_the_page_says_so(tmp_path: Path, files: dict[str, Path]) -> None:
    lines = files["session"].read_text().splitlines(keepends=True)
    torn = tmp_path / "torn.jsonl"
    torn.write_text("".join(lines[:-1]) + lines[-1][:40])
    html = render_html(torn)
    assert "the last line has no newline" in html
    assert "The transcript has no outcome" in html  # the outcome was the torn line
    scores = tmp_path / "scores.jsonl"
    scores.write_text(files["scores"].read_text().rstrip("\n"))
    html = render_html(scores)
    assert "the last line has no newline" in html
    assert len(re.findall(r"<tr data-role=", html)) == 10  # the last record's two critiques are not shown


def test_report_extra_keys_are_ignored(tmp_path: Path, files: dict[str, Path]) -> None:
    data = json.loads(files["experiment"].read_text())
    data["conditions"]["single"]["median_tokens"] = 12
    data["new_section"] = {"anything": [1, 2]}
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(data))
    assert "single" in render_html(path)
