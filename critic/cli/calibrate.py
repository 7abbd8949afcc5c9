"""``critic calibrate``: how well each critic role and the judge track labelled data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import anyio
import typer
from rich.console import Console
from rich.table import Table

from critic.calibration.labels import LabelledSet
from critic.calibration.metrics import ScorerCalibration
from critic.calibration.run import CalibrateConfig, CalibrationReport, calibrate
from critic.cli.app import app
from critic.cli.options import (
    BusUrl,
    CacheFile,
    LogDir,
    MaxAttempts,
    MaxConnections,
    ModelSpec,
    NoLog,
    Offline,
    RolesDirs,
    Seed,
    model_options,
)
from critic.cli.score import ScoreProgress
from critic.workspace.logs import record_copy, resolve_log_dir, run_output
from critic.workspace.project import judge_settings


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _with_ci(value: float | None, ci: tuple[float, float] | None) -> str:
    if value is None:
        return "—"
    return _num(value) + ("" if ci is None else f" [{ci[0]:.2f}, {ci[1]:.2f}]")


def show_report(report: CalibrationReport, console: Console) -> None:
    """The report as one table: a row per role and judge."""
    table = Table(title=f"calibration on {report.data} ({report.items} items, "
                        f"{report.level:.0%} bootstrap intervals)")
    for column in ("scorer", "n", "unscored", "auroc", "accuracy (held out)", "kappa",
                   "spearman", "threshold"):
        table.add_column(column, justify="left" if column == "scorer" else "right")
    rows: list[tuple[str, ScorerCalibration]] = [
        *report.roles.items(), *((f"judge {k}", v) for k, v in report.judges.items())]
    for name, s in rows:
        table.add_row(name, str(s.n), str(s.unscored), _with_ci(s.auroc, s.auroc_ci),
                      _with_ci(s.accuracy, s.accuracy_ci), _with_ci(s.kappa, s.kappa_ci),
                      _with_ci(s.spearman, s.spearman_ci), _num(s.threshold))
    console.print(table)


@app.command("calibrate")
def calibrate_command(
    data: Annotated[str, typer.Argument(
        help="Labelled .jsonl/.csv (id, input, output, label; or output_a, output_b, "
             "preferred), or a built-in set: humaneval-mutants.")],
    role: Annotated[list[str], typer.Option("--role", "-r", help="Critic role (repeatable).")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="The report (JSON). Default: report.json in a new folder of the "
        "log directory.")] = None,
    judge: Annotated[str, typer.Option(
        help="'threshold' (accept at --accept-at) or a judge role.")] = "threshold",
    accept_at: Annotated[float | None, typer.Option(
        help="Aggregate score the judge accepts. Default: $CRITIC_ACCEPT_AT, [judge], 0.8.")
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Items scored at once.")] = 4,
    resume: Annotated[bool, typer.Option(help="Finish an interrupted run.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing report.")] = False,
    limit: Annotated[int | None, typer.Option(
        help="Built-in set: the first N problems; a file: the first N items.")] = None,
    per_problem: Annotated[int, typer.Option(
        help="humaneval-mutants: failing mutants per problem.")] = 3,
    label_threshold: Annotated[float, typer.Option(
        help="A graded label at or above this counts as pass.")] = 0.5,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples per interval.")] = 2000,
    probes: Annotated[bool, typer.Option(
        help="Also probe the judge role for position, length and identity bias "
             "(four model calls per graded item).")] = False,
    model: ModelSpec = None,
    seed: Seed = 0,
    roles_dir: RolesDirs = None,
    max_connections: MaxConnections = None,
    max_attempts: MaxAttempts = None,
    cache: CacheFile = None,
    offline: Offline = False,
    bus: BusUrl = None,
    log_dir: LogDir = None,
    no_log: NoLog = False,
) -> None:
    """Measure critic roles and the judge against labels: AUROC, accuracy, kappa, with CIs.

    Without -o the report (and its scores) go to a new folder in the log directory; with
    -o, a copy of the report is recorded there.
    """
    logs = resolve_log_dir(log_dir)
    with run_output(logs, "calibrate", output, record=not no_log, resume=resume,
                    name="report.json") as report_path:
        _calibrate(report_path, data=data, roles=tuple(role), judge=judge, accept_at=accept_at,
                   concurrency=concurrency, resume=resume, overwrite=overwrite, limit=limit,
                   per_problem=per_problem, label_threshold=label_threshold,
                   resamples=resamples, probes=probes, model=model, seed=seed,
                   roles_dirs=tuple(roles_dir or ()), bus=bus, max_connections=max_connections,
                   max_attempts=max_attempts, cache=cache, offline=offline)
    if output is not None and not no_log:
        Console(stderr=True, highlight=False).print(
            f"recorded as {record_copy(logs, 'calibrate', output)}", soft_wrap=True, markup=False)


def _calibrate(output: Path, *, data: str, roles: tuple[str, ...], judge: str,
               accept_at: float | None, roles_dirs: tuple[Path, ...],
               max_connections: int | None, max_attempts: int | None, cache: Path | None,
               offline: bool, **rest: Any) -> None:
    config = CalibrateConfig.parse(
        data=data, output=output, roles=roles, judge=judge, **judge_settings(accept_at=accept_at),
        roles_dirs=roles_dirs, **rest,
        models=model_options(max_connections, max_attempts, cache, offline),
    )
    err = Console(stderr=True, highlight=False)
    progress = ScoreProgress(err)

    def loaded(found: LabelledSet) -> None:
        err.print(f"{found.size} labelled items from {found.source}")

    def started(total: int, skipped: int) -> None:
        progress.start(total, skipped)

    try:
        report, scored = anyio.run(lambda: calibrate(
            config, on_data=loaded, on_result=progress, on_start=started,
            stop_on_signals=True), backend="asyncio")
    finally:
        progress.stop()
    err.print(f"scored {scored.written} records into {config.scores_path} "
              f"({scored.skipped} already there, {scored.total} records)")
    if report is None:
        err.print(f"interrupted: scores written so far are kept; run again with --resume -o {output}",
                  soft_wrap=True, markup=False)
        raise typer.Exit(130)
    show_report(report, Console(highlight=False))
    err.print(f"wrote {output}")
