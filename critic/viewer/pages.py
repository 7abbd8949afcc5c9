"""From a loaded file to one self-contained HTML page, and onto disk.

The page is rendered by Jinja2 with autoescaping always on: every string that
came from a model or a file is escaped where it is written, so a completion
holding ``<script>`` shows as text. Plots are inline SVG (:mod:`plots`), the
stylesheet and the small script are inlined from the templates folder, and the
page loads nothing from anywhere: it opens offline.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import tempfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from pydantic import BaseModel

from critic.errors import TranscriptError
from critic.scoring.results import ScoreResult
from critic.scoring.summary import summarize
from critic.transcript import Transcript
from critic.viewer.plots import (
    Axes,
    Band,
    Curve,
    Estimate,
    Point,
    Series,
    histogram,
    interval_plot,
    line_plot,
    roc_plot,
    symmetric_domain,
)
from critic.viewer.reports import CalibrationReport, ExperimentSummary, Transition
from critic.viewer.sources import Source, ViewKind, load
from critic.viewer.transcripts import debate_view, session_view, timestamp

#: Marks a page as written by the viewer, so ``write_html`` never replaces anything else.
GENERATOR = "critic view"
_MARKER = f'<meta name="generator" content="{GENERATOR}">'.encode()
#: Kappa threshold for the score file's agreement table (as ``critic summarize``'s default).
SCORE_THRESHOLD = 0.5


def number(value: float | int | None, digits: int = 3) -> str:
    """A figure for a table: ``—`` where undefined, integers as integers."""
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def as_json(value: object, indent: int | None = 2) -> str:
    """Data from a file shown as JSON text (escaped by the template like any other text)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return json.dumps(value, indent=indent, ensure_ascii=False)


def interval(ci: tuple[float, float] | None, digits: int = 3) -> str:
    return "" if ci is None else f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def pretty_json(text: str | None) -> str:
    """A JSON string re-indented for reading; anything else as it was."""
    if text is None:
        return ""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("critic.viewer", "templates"),
        autoescape=True,  # always: the templates hold model output and file contents
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(number=number, interval=interval, pretty_json=pretty_json, as_json=as_json,
                       timestamp=timestamp)
    return env


def _transcript(source: Source) -> dict[str, object]:
    assert isinstance(source.content, Transcript)
    view = session_view(source.content) if source.kind == "session" else debate_view(source.content)
    return {"header": source.content.header, "view": view, "envelopes": len(source.content.envelopes)}


def _scores(source: Source) -> dict[str, object]:
    results = source.content
    assert isinstance(results, list)
    summary = summarize(results, threshold=SCORE_THRESHOLD)
    rows = [(r, role, c) for r in results for role, c in r.critiques.items()]
    histograms = {
        role: histogram([c.score for r in results if (c := r.critiques.get(role)) is not None
                         and c.status == "ok" and c.score is not None], label=f"{role} score")
        for role in summary.roles
    }
    return {
        "results": results, "summary": summary, "rows": rows, "histograms": histograms,
        "roles": list(summary.roles), "decisions": sorted({r.verdict.decision for r in results}),
        "statuses": sorted({c.status for _, _, c in rows}),
        "tokens": sum(r.usage.prompt_tokens + r.usage.completion_tokens for r in results),
        "labelled": _labelled(results),
    }


def _labelled(results: list[ScoreResult]) -> int:
    return sum(r.target is not None for r in results)


def _rates(transition: Transition) -> list[Point]:
    return [Point(r.round, r.rate, r.ci, f"n={r.n}") for r in transition.per_round]


def _experiment(source: Source) -> dict[str, object]:
    summary = source.content
    assert isinstance(summary, ExperimentSummary)
    pass_rates = interval_plot(
        [Estimate(name, c.pass_rate, c.ci, note=f"n={c.n}") for name, c in summary.conditions.items()],
        label="pass rate per condition",
    )
    diffs = [Estimate(f"{c.condition} vs {c.baseline}", c.diff, c.ci) for c in summary.comparisons]
    comparisons = interval_plot(diffs, label="paired differences in pass rate",
                                domain=symmetric_domain(diffs), bars=False, reference=0.0) if diffs else None
    drift = {}
    for name, t in summary.transitions.items():
        decay = summary.decay.get(name)
        bands = []
        if decay is not None and decay.e is not None:
            bands.append(Band(f"fitted e = {decay.e:.3f}", decay.e, decay.ci, series=0))
        elif t.good_to_bad.rate is not None:
            bands.append(Band("pooled good→bad", t.good_to_bad.rate, t.good_to_bad.ci, series=0))
        if decay is not None and decay.recovery is not None:
            bands.append(Band(f"fitted r = {decay.recovery:.3f}", decay.recovery, decay.recovery_ci,
                              series=1))
        elif t.bad_to_good.rate is not None:
            bands.append(Band("pooled bad→good", t.bad_to_good.rate, t.bad_to_good.ci, series=1))
        drift[name] = line_plot(
            [Series("good→bad", _rates(t.good_to_bad)), Series("bad→good", _rates(t.bad_to_good))],
            Axes("round", "rate", bands=bands), label=f"per-round transitions, {name}",
        )
    return {"report": summary, "pass_rates": pass_rates, "comparisons": comparisons, "drift": drift}


_METRICS = (("accuracy", (0.0, 1.0), 0.5), ("kappa", (-1.0, 1.0), 0.0),
            ("auroc", (0.0, 1.0), 0.5), ("spearman", (-1.0, 1.0), 0.0))


def _calibration(source: Source) -> dict[str, object]:
    report = source.content
    assert isinstance(report, CalibrationReport)
    metrics = {}
    for metric, domain, chance in _METRICS:
        estimates = [Estimate(role, getattr(r, metric), getattr(r, f"{metric}_ci"))
                     for role, r in report.roles.items()]
        metrics[metric] = interval_plot(estimates, label=metric, domain=domain, bars=False, reference=chance,
                                        width=560)
    curves = [Curve(role, r.roc, note="" if r.auroc is None else f"AUROC {r.auroc:.3f}")
              for role, r in report.roles.items() if r.roc]
    probes = [Estimate(name, p.effect, p.ci, flagged=p.flagged, note="flagged" if p.flagged else "")
              for name, p in report.probes.items()]
    return {
        "report": report, "metrics": metrics,
        "roc": roc_plot(curves, label="ROC curves") if curves else None,
        "probes": interval_plot(probes, label="probe effects", domain=symmetric_domain(probes),
                                bars=False, reference=0.0) if probes else None,
    }


_CONTEXT: Mapping[ViewKind, Callable[[Source], dict[str, object]]] = {
    "session": _transcript, "debate": _transcript, "scores": _scores,
    "experiment": _experiment, "calibration": _calibration,
}


def render_html(path: Path) -> str:
    """The HTML page for a transcript, score file, experiment summary or calibration report.

    The kind is read from the content (see :mod:`critic.viewer.sources`); a file
    that is none of them raises :class:`TranscriptError` naming the file and line.
    """
    source = load(Path(path))
    context: dict[str, Any] = _CONTEXT[source.kind](source)
    template = environment().get_template(f"{source.kind}.html.j2")
    return template.render(
        kind=source.kind, name=source.path.name, source=str(source.path), generator=GENERATOR,
        notes=source.notes, nonce=secrets.token_urlsafe(18),
        rendered=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"), **context,
    )


def default_output(path: Path) -> Path:
    """``run.jsonl`` -> ``run.html``, next to the input."""
    return Path(path).with_suffix(".html")


def write_html(path: Path, out: Path | None = None) -> Path:
    """Render ``path`` and write the page to ``out`` (default: beside it, ending in ``.html``).

    The page is written to a temporary file and renamed into place, so ``out``
    is never left half-written. ``out`` may replace an earlier page of the
    viewer, never the input itself or any other existing file.
    """
    path = Path(path)
    out = default_output(path) if out is None else Path(out)
    if out.exists() and path.exists() and out.resolve() == path.resolve():
        raise TranscriptError(f"{out}: the page would overwrite the file it shows; choose another -o")
    page = render_html(path)
    if out.is_dir():
        raise TranscriptError(f"{out}: is a directory; name the .html file to write")
    if out.exists():
        try:
            with out.open("rb") as fh:
                head = fh.read(4096)
        except OSError as exc:
            raise TranscriptError(f"cannot read {out}: {exc.strerror}") from exc
        if head and _MARKER not in head:
            raise TranscriptError(f"{out}: exists and is not a page written by {GENERATOR}; "
                                  "choose another path or remove it")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    except OSError as exc:
        raise TranscriptError(f"cannot write {out}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(page)
        os.chmod(temp, 0o644)
        os.replace(temp, out)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise TranscriptError(f"cannot write {out}: {exc.strerror}") from exc
    return out
