"""``critic summarize``: statistics of a scored file, as a table or as JSON."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from critic.cli.app import app
from critic.errors import ConfigError
from critic.scoring.results import read_results
from critic.scoring.summary import Summary, summarize


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _ci(interval: tuple[float, float] | None) -> str:
    return "" if interval is None else f" [{interval[0]:.2f}, {interval[1]:.2f}]"


def show_summary(summary: Summary, console: Console) -> None:
    """The summary as rich tables: roles, verdicts, agreement, judge vs target."""
    console.print(f"{summary.records} records, {summary.failed_records} with a failed role")
    roles = Table(title="scores by role")
    for column in ("role", "scored", "failures", "mean", "median", "stdev"):
        roles.add_column(column, justify="left" if column == "role" else "right")
    for name, s in summary.roles.items():
        roles.add_row(name, str(s.scored), str(s.failures), _num(s.mean), _num(s.median),
                      _num(s.stdev))
    console.print(roles)
    console.print("verdicts: " + (", ".join(f"{k} {v}" for k, v in summary.verdicts.items())
                                  or "none"))
    if summary.agreement:
        agree = Table(title=f"agreement between roles (pass: score >= {summary.threshold:g}; "
                            "95 % bootstrap intervals)")
        for column in ("roles", "n", "spearman", "kappa"):
            agree.add_column(column, justify="left" if column == "roles" else "right")
        for a in summary.agreement:
            agree.add_row(" / ".join(a.roles), str(a.n), _num(a.spearman) + _ci(a.spearman_ci),
                          _num(a.kappa) + _ci(a.kappa_ci))
        console.print(agree)
    target = summary.judge_vs_target
    if target is not None:
        console.print(f"judge vs target labels: n {target.n}, accuracy {_num(target.accuracy)}"
                      f"{_ci(target.accuracy_ci)}, kappa {_num(target.kappa)}{_ci(target.kappa_ci)}"
                      " (95 % bootstrap intervals)")


@app.command("summarize")
def summarize_command(
    results: Annotated[Path, typer.Argument(help="Output file of `critic score`.")],
    threshold: Annotated[float, typer.Option(
        help="A score >= this passes (for kappa between roles).")] = 0.5,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Summarize scored outputs: per-role statistics, verdicts, agreement, accuracy."""
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"--threshold: {threshold:g} is not between 0 and 1")
    summary = summarize(read_results(results), threshold=threshold)
    if json_out:
        sys.stdout.write(summary.model_dump_json() + "\n")
    else:
        show_summary(summary, Console(highlight=False))
