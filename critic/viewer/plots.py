"""Inline SVG plots for the viewer, drawn in Python so the page needs no script library.

Every piece of text that reaches a plot (a role name, a condition name) comes
from a file and is escaped through :meth:`Markup.format`; numbers are
formatted here before they are written. Labels are SVG ``<text>``, so a
browser's find-in-page still finds them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from markupsafe import Markup

#: Okabe-Ito: distinguishable for the common forms of colour blindness.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#8C6D1F", "#000000")

WIDTH = 640
_FONT = 12
_ROW = 26


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _num(value: float) -> str:
    return f"{value:.1f}"


def _tick(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _short(text: str, limit: int = 24) -> str:
    """A label cut to fit beside a plot (the whole label stays in the row's tooltip)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _svg(width: int, height: int, label: str, parts: Sequence[Markup]) -> Markup:
    head = Markup(
        '<svg xmlns="http://www.w3.org/2000/svg" class="plot" viewBox="0 0 {w} {h}" '
        'width="{w}" height="{h}" role="img" aria-label="{label}" font-size="{font}">'
    ).format(w=width, h=height, label=label, font=_FONT)
    return head + Markup("").join(parts) + Markup("</svg>")


def _text(x: float, y: float, text: str, *, anchor: str = "start", cls: str = "") -> Markup:
    return Markup('<text x="{x}" y="{y}" text-anchor="{a}" class="{c}">{t}</text>').format(
        x=_num(x), y=_num(y), a=anchor, c=cls, t=text
    )


def _line(x1: float, y1: float, x2: float, y2: float, *, cls: str, stroke: str = "") -> Markup:
    style = Markup(' stroke="{}"').format(stroke) if stroke else Markup("")
    return Markup('<line x1="{}" y1="{}" x2="{}" y2="{}" class="{}"{}/>').format(
        _num(x1), _num(y1), _num(x2), _num(y2), cls, style
    )


@dataclass(frozen=True)
class Scale:
    """A linear map from data values to pixels, clamped so wild values stay on the plot."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        value = min(max(value, self.lo), self.hi)
        return self.start + (value - self.lo) / (self.hi - self.lo) * (self.end - self.start)

    def ticks(self, count: int = 5) -> list[float]:
        return [self.lo + (self.hi - self.lo) * i / (count - 1) for i in range(count)]


@dataclass(frozen=True)
class Estimate:
    """One labelled estimate with its interval (None where it is undefined)."""

    label: str
    value: float | None
    ci: tuple[float, float] | None = None
    note: str = ""
    flagged: bool = False


def symmetric_domain(estimates: Sequence[Estimate], *, floor: float = 0.05) -> tuple[float, float]:
    """A domain centred on zero that holds every estimate and interval."""
    extent = floor
    for e in estimates:
        for v in (e.value, *(e.ci or ())):
            if v is not None:
                extent = max(extent, abs(v))
    extent = math.ceil(extent * 1.1 * 20) / 20  # round up to a multiple of 0.05
    return -extent, extent


def interval_plot(
    estimates: Sequence[Estimate],
    *,
    label: str,
    domain: tuple[float, float] = (0.0, 1.0),
    bars: bool = True,
    reference: float | None = None,
    width: int = WIDTH,
) -> Markup:
    """Horizontal bars (or points) with interval whiskers, one row per estimate.

    ``reference`` draws a vertical line (0 for differences, 0.5 for AUROC).
    """
    left, right = 190, width - 90
    top = 8
    height = top + _ROW * max(len(estimates), 1) + 30
    x = Scale(domain[0], domain[1], left, right)
    parts: list[Markup] = []
    for tick in x.ticks():
        parts.append(_line(x(tick), top, x(tick), height - 24, cls="grid"))
        parts.append(_text(x(tick), height - 8, _tick(tick), anchor="middle", cls="axis"))
    if reference is not None:
        parts.append(_line(x(reference), top, x(reference), height - 24, cls="reference"))
    for i, e in enumerate(estimates):
        mid = top + _ROW * i + _ROW / 2
        cls = "flagged" if e.flagged else ""
        parts.append(Markup('<text x="{}" y="{}" text-anchor="end" class="{}">{}<title>{}</title></text>')
                     .format(_num(left - 8), _num(mid + 4), cls, _short(e.label), e.label))
        if e.value is None:
            parts.append(_text(left + 4, mid + 4, "undefined", cls="muted"))
            continue
        value = _tick(e.value) if abs(e.value) >= 0.005 or e.value == 0 else f"{e.value:.3g}"
        tip = value + (f" [{_tick(e.ci[0])}, {_tick(e.ci[1])}]" if e.ci else "") + (
            f" {e.note}" if e.note else "")
        mark_cls = "mark flagged" if e.flagged else "mark"
        if bars:
            base = x(max(domain[0], min(0.0, domain[1])))
            parts.append(Markup(
                '<rect x="{}" y="{}" width="{}" height="{}" class="{}"><title>{}</title></rect>'
            ).format(_num(min(base, x(e.value))), _num(mid - 8), _num(abs(x(e.value) - base)), 16,
                     mark_cls, tip))
        else:
            parts.append(Markup('<circle cx="{}" cy="{}" r="5" class="{}"><title>{}</title></circle>')
                         .format(_num(x(e.value)), _num(mid), mark_cls, tip))
        if e.ci is not None:
            lo, hi = x(e.ci[0]), x(e.ci[1])
            parts.append(_line(lo, mid, hi, mid, cls="whisker"))
            parts.append(_line(lo, mid - 5, lo, mid + 5, cls="whisker"))
            parts.append(_line(hi, mid - 5, hi, mid + 5, cls="whisker"))
        parts.append(_text(right + 8, mid + 4, value + (f" {e.note}" if e.note else ""), cls="value"))
    return _svg(width, height, label, parts)


@dataclass(frozen=True)
class Point:
    x: float
    y: float | None
    ci: tuple[float, float] | None = None
    note: str = ""


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[Point]
    emphasis: bool = False


@dataclass(frozen=True)
class Band:
    """A horizontal reference line with an optional shaded interval (a fitted rate)."""

    label: str
    value: float
    ci: tuple[float, float] | None = None
    series: int = 0
    """Index of the series whose colour the band takes."""


@dataclass(frozen=True)
class Axes:
    x_label: str
    y_label: str
    y_domain: tuple[float, float] = (0.0, 1.0)
    bands: Sequence[Band] = field(default_factory=tuple)


def line_plot(series: Sequence[Series], axes: Axes, *, label: str) -> Markup:
    """Lines over integer x values (rounds), with interval whiskers and fitted bands.

    A point whose ``y`` is None breaks its line (an undefined rate).
    """
    left, right, top, bottom = 56, WIDTH - 170, 12, 44
    height = 260
    xs = sorted({p.x for s in series for p in s.points}) or [1.0]
    x_lo, x_hi = (xs[0] - 0.5, xs[-1] + 0.5)
    x = Scale(x_lo, x_hi, left, right)
    y = Scale(axes.y_domain[0], axes.y_domain[1], height - bottom, top)
    parts: list[Markup] = []
    for tick in y.ticks():
        parts.append(_line(left, y(tick), right, y(tick), cls="grid"))
        parts.append(_text(left - 6, y(tick) + 4, _tick(tick), anchor="end", cls="axis"))
    for value in xs:
        parts.append(_text(x(value), height - bottom + 16, _tick(value), anchor="middle", cls="axis"))
    parts.append(_text((left + right) / 2, height - 6, axes.x_label, anchor="middle", cls="axis"))
    parts.append(Markup('<text transform="translate(14 {}) rotate(-90)" text-anchor="middle" '
                        'class="axis">{}</text>').format(_num((top + height - bottom) / 2), axes.y_label))
    for band in axes.bands:
        stroke = colour(band.series)
        if band.ci is not None:
            parts.append(Markup(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}" class="band"><title>{}</title></rect>'
            ).format(_num(left), _num(y(band.ci[1])), _num(right - left),
                     _num(max(y(band.ci[0]) - y(band.ci[1]), 1.0)), stroke, band.label))
        parts.append(_line(left, y(band.value), right, y(band.value), cls="fit", stroke=stroke))
    for index, s in enumerate(series):
        stroke = colour(index)
        segment: list[str] = []
        segments: list[list[str]] = []
        for p in sorted(s.points, key=lambda p: p.x):
            if p.y is None:
                if segment:
                    segments.append(segment)
                segment = []
                continue
            segment.append(f"{_num(x(p.x))},{_num(y(p.y))}")
        if segment:
            segments.append(segment)
        cls = "series emphasis" if s.emphasis else "series"
        for seg in segments:
            parts.append(Markup('<polyline points="{}" class="{}" stroke="{}"/>').format(
                " ".join(seg), cls, stroke))
        for p in s.points:
            if p.y is None:
                continue
            if p.ci is not None:
                parts.append(_line(x(p.x), y(p.ci[0]), x(p.x), y(p.ci[1]), cls="whisker", stroke=stroke))
            tip = f"{s.name}, {axes.x_label} {_tick(p.x)}: {_tick(p.y)}" + (
                f" [{_tick(p.ci[0])}, {_tick(p.ci[1])}]" if p.ci else "") + (f" {p.note}" if p.note else "")
            parts.append(Markup('<circle cx="{}" cy="{}" r="4" fill="{}"><title>{}</title></circle>')
                         .format(_num(x(p.x)), _num(y(p.y)), stroke, tip))
    entries = [(s.name, colour(i), "series") for i, s in enumerate(series)]
    entries += [(b.label, colour(b.series), "fit") for b in axes.bands]
    for i, (name, stroke, cls) in enumerate(entries):
        row = top + 6 + 18 * i
        parts.append(_line(right + 14, row, right + 34, row, cls=cls, stroke=stroke))
        parts.append(_text(right + 40, row + 4, name))
    return _svg(WIDTH, height, label, parts)


def histogram(values: Sequence[float], *, label: str, bins: int = 10,
              domain: tuple[float, float] = (0.0, 1.0), width: int = 300) -> Markup:
    """Counts of ``values`` in ``bins`` equal bins over ``domain`` (the top edge is inclusive)."""
    left, right, top, bottom = 34, width - 10, 10, 34
    height = 150
    counts = [0] * bins
    for v in values:
        i = int((v - domain[0]) / (domain[1] - domain[0]) * bins)
        counts[min(max(i, 0), bins - 1)] += 1
    peak = max(counts) or 1
    x = Scale(domain[0], domain[1], left, right)
    y = Scale(0, peak, height - bottom, top)
    step = (domain[1] - domain[0]) / bins
    parts = [_line(left, y(0), right, y(0), cls="axisline"),
             _text(left - 4, y(peak) + 4, str(peak), anchor="end", cls="axis"),
             _text(left - 4, y(0) + 4, "0", anchor="end", cls="axis")]
    for i, count in enumerate(counts):
        lo = domain[0] + i * step
        if count:
            parts.append(Markup(
                '<rect x="{}" y="{}" width="{}" height="{}" class="mark"><title>{}</title></rect>'
            ).format(_num(x(lo) + 1), _num(y(count)), _num(x(lo + step) - x(lo) - 2),
                     _num(y(0) - y(count)), f"{_tick(lo)} to {_tick(lo + step)}: {count}"))
    for tick in (domain[0], (domain[0] + domain[1]) / 2, domain[1]):
        parts.append(_text(x(tick), height - bottom + 14, _tick(tick), anchor="middle", cls="axis"))
    parts.append(_text((left + right) / 2, height - 4, label, anchor="middle", cls="axis"))
    return _svg(width, height, label, parts)


@dataclass(frozen=True)
class Curve:
    name: str
    points: Sequence[tuple[float, float]]
    note: str = ""


def roc_plot(curves: Sequence[Curve], *, label: str) -> Markup:
    """ROC curves (false positive rate against true positive rate) over the chance diagonal."""
    size = 300
    left, top = 48, 12
    right, bottom = left + size, top + size
    width, height = right + 220, bottom + 44
    x = Scale(0.0, 1.0, left, right)
    y = Scale(0.0, 1.0, bottom, top)
    parts: list[Markup] = []
    for tick in x.ticks():
        parts.append(_line(x(tick), top, x(tick), bottom, cls="grid"))
        parts.append(_line(left, y(tick), right, y(tick), cls="grid"))
        parts.append(_text(x(tick), bottom + 16, _tick(tick), anchor="middle", cls="axis"))
        parts.append(_text(left - 6, y(tick) + 4, _tick(tick), anchor="end", cls="axis"))
    parts.append(_line(x(0), y(0), x(1), y(1), cls="reference"))
    parts.append(_text((left + right) / 2, height - 6, "false positive rate", anchor="middle", cls="axis"))
    parts.append(Markup('<text transform="translate(14 {}) rotate(-90)" text-anchor="middle" '
                        'class="axis">true positive rate</text>').format(_num((top + bottom) / 2)))
    for i, curve in enumerate(curves):
        stroke = colour(i)
        points = sorted(curve.points)
        coords = " ".join(f"{_num(x(fpr))},{_num(y(tpr))}" for fpr, tpr in points)
        parts.append(Markup('<polyline points="{}" class="series" stroke="{}"><title>{}</title></polyline>')
                     .format(coords, stroke, f"{curve.name} {curve.note}".strip()))
        row = top + 6 + 18 * i
        parts.append(_line(right + 14, row, right + 34, row, cls="series", stroke=stroke))
        parts.append(_text(right + 40, row + 4, f"{curve.name} {curve.note}".strip()))
    return _svg(width, height, label, parts)
