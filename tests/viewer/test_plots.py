"""The SVG plots: what they draw, and that text from files cannot become markup."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from critic.viewer.plots import (
    Axes,
    Curve,
    Estimate,
    Point,
    Scale,
    Series,
    histogram,
    interval_plot,
    line_plot,
    roc_plot,
    symmetric_domain,
)

SVG = "{http://www.w3.org/2000/svg}"


def test_histogram_counts_every_value_once_with_the_top_edge_inclusive() -> None:
    svg = ET.fromstring(histogram([0.0, 0.05, 0.1, 0.55, 1.0, 1.0], label="s"))
    tips = [r.find(f"{SVG}title").text for r in svg.iter(f"{SVG}rect")]  # type: ignore[union-attr]
    assert tips == ["0 to 0.1: 2", "0.1 to 0.2: 1", "0.5 to 0.6: 1", "0.9 to 1: 2"]


def test_labels_from_files_are_escaped_and_the_svg_stays_well_formed() -> None:
    evil = "<script>x()</script>&\"'"
    drawn = [
        interval_plot([Estimate(evil, 0.5, (0.4, 0.6), note=evil)], label=evil),
        line_plot([Series(evil, [Point(1, 0.2), Point(2, 0.3)])], Axes(evil, evil), label=evil),
        histogram([0.5], label=evil),
        roc_plot([Curve(evil, [(0.0, 0.0), (1.0, 1.0)], note=evil)], label=evil),
    ]
    for svg in drawn:
        assert "<script" not in svg
        root = ET.fromstring(svg)  # parses: nothing broke out of an attribute or a text node
        texts = [t.text or "" for tag in ("text", "title") for t in root.iter(f"{SVG}{tag}")]
        assert any(evil[:20] in t for t in texts)
        assert root.get("aria-label") == evil


def test_long_labels_are_cut_beside_the_plot_but_whole_in_the_tooltip() -> None:
    name = "a-very-long-condition-name-with-many-parts"
    root = ET.fromstring(interval_plot([Estimate(name, 0.3)], label="x"))
    label = next(t for t in root.iter(f"{SVG}text") if t.get("text-anchor") == "end")
    assert label.text == name[:23] + "…" and label.find(f"{SVG}title").text == name  # type: ignore[union-attr]


def test_an_undefined_estimate_is_said_not_drawn() -> None:
    svg = interval_plot([Estimate("kappa", None)], label="kappa")
    assert "undefined" in svg and "<circle" not in svg and "<rect" not in svg


def test_a_line_breaks_at_an_undefined_point() -> None:
    svg = line_plot([Series("rate", [Point(1, 0.1), Point(2, None), Point(3, 0.2), Point(4, 0.3)])],
                    Axes("round", "rate"), label="r")
    lines = re.findall(r'<polyline points="([^"]*)"', svg)
    assert [len(p.split()) for p in lines] == [1, 2]


def test_scale_clamps_values_outside_its_domain() -> None:
    x = Scale(0.0, 1.0, 100.0, 200.0)
    assert (x(-5.0), x(0.5), x(7.0)) == (100.0, 150.0, 200.0)


def test_symmetric_domain_holds_every_interval() -> None:
    lo, hi = symmetric_domain([Estimate("a", 0.1, (-0.3, 0.2)), Estimate("b", None)])
    assert lo == -hi and hi >= 0.3
