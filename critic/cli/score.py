"""``critic score``: score a JSONL of outputs with critic roles and a judge, resumably."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import anyio
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

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
from critic.cli.summarize import show_summary
from critic.scoring.job import ScoreConfig, score_file
from critic.scoring.records import is_stdio
from critic.scoring.results import ScoreResult, read_results
from critic.scoring.summary import summarize
from critic.workspace.logs import record_copy
from critic.workspace.project import judge_settings, project_settings

#: Most bar redraws (and updates) per second: a fast scorer finishes thousands of records
#: a second, and redrawing for each cost more CPU than scoring them.
BAR_REFRESHES_PER_S = 10


class ScoreProgress:
    """A rich progress bar on a terminal; otherwise a plain line every ``every`` seconds."""

    def __init__(self, console: Console, *, every: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.console = console
        self.every = every
        self.total = self.done = self.failed = 0
        self._clock = clock
        self._start = self._last = clock()
        self._drawn = -1.0
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def start(self, total: int, skipped: int) -> None:
        self.total = total - skipped
        self._start = self._last = self._clock()
        if skipped:
            self.console.print(f"resuming: {skipped} of {total} records already scored")
        if self.console.is_terminal:
            self._bar = Progress(
                TextColumn("scoring"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]:.1f}/s"), TimeElapsedColumn(), TextColumn("ETA"),
                TimeRemainingColumn(), TextColumn("failures {task.fields[failed]}"),
                console=self.console, refresh_per_second=BAR_REFRESHES_PER_S,
            )
            self._task = self._bar.add_task("score", total=self.total, rate=0.0, failed=0)
            self._bar.start()

    def _rate(self) -> float:
        elapsed = self._clock() - self._start
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        rate = self._rate()
        left = self.total - self.done
        eta = f"{left / rate:.0f} s" if rate > 0 else "?"
        return (f"scored {self.done}/{self.total} ({rate:.1f}/s, ETA {eta}), "
                f"failures {self.failed}")

    def __call__(self, result: ScoreResult, done: int, failed: int) -> None:
        self.done, self.failed = done, failed
        now = self._clock()
        if self._bar is not None and self._task is not None:
            if now - self._drawn >= 1 / BAR_REFRESHES_PER_S or done >= self.total:
                self._drawn = now
                self._bar.update(self._task, completed=done, rate=self._rate(), failed=failed)
            return
        if now - self._last >= self.every:
            self._last = now
            self.console.print(self.line())

    def stop(self) -> None:
        if self._bar is not None:
            if self._task is not None:  # the last counts, which a throttled update skipped
                self._bar.update(self._task, completed=self.done, rate=self._rate(),
                                 failed=self.failed)
            self._bar.stop()


@app.command()
def score(
    input: Annotated[Path, typer.Argument(
        help="JSONL of records (id, input, output[, target, metadata]) or a transcript; "
        "- reads the records from stdin.")],
    output: Annotated[Path, typer.Option(
        "--output", "-o",
        help="Results JSONL (appended); - writes them to stdout (then everything else goes "
        "to stderr).")],
    role: Annotated[list[str], typer.Option("--role", "-r", help="Critic role (repeatable).")],
    judge: Annotated[str, typer.Option(
        help="'threshold' (accept at --accept-at, one round) or a judge role.")] = "threshold",
    accept_at: Annotated[float | None, typer.Option(
        help="Aggregate score that accepts. Default: $CRITIC_ACCEPT_AT, [judge], 0.8.")] = None,
    concurrency: Annotated[int, typer.Option(help="Records scored at once.")] = 4,
    resume: Annotated[bool, typer.Option(help="Skip ids already in the output.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output.")] = False,
    limit: Annotated[int | None, typer.Option(help="Score only the first N records.")] = None,
    model: ModelSpec = None,
    seed: Seed = 0,
    roles_dir: RolesDirs = None,
    skip_invalid: Annotated[bool, typer.Option(
        help="Record bad input lines in the errors file instead of stopping.")] = False,
    errors: Annotated[Path | None, typer.Option(
        help="Errors file for --skip-invalid (default: OUTPUT.errors.jsonl).")] = None,
    show: Annotated[bool, typer.Option("--summary", help="Print a summary at the end.")] = False,
    threshold: Annotated[float, typer.Option(
        help="Pass mark for the summary's kappa between roles.")] = 0.5,
    json_out: Annotated[bool, typer.Option(
        "--json", help="With --summary: print it as JSON.")] = False,
    max_connections: MaxConnections = None,
    max_attempts: MaxAttempts = None,
    cache: CacheFile = None,
    offline: Offline = False,
    bus: BusUrl = None,
    log_dir: LogDir = None,
    no_log: NoLog = False,
) -> None:
    """Score existing outputs; results are appended in completion order as each finishes.

    In a pipe, "critic score - -o -" reads the records from stdin and writes the results
    to stdout; progress and messages go to stderr.
    """
    project = project_settings(model=model, roles_dirs=tuple(roles_dir or ()),
                               log_dir=log_dir, bus=bus)
    config = ScoreConfig.parse(
        input=input, output=output, roles=tuple(role), judge=judge, **judge_settings(accept_at=accept_at),
        concurrency=concurrency, resume=resume, overwrite=overwrite, limit=limit, model=project.model,
        seed=seed, roles_dirs=project.roles_dirs, skip_invalid=skip_invalid, errors=errors,
        bus=project.bus,
        models=model_options(max_connections, max_attempts, cache, offline),
    )
    err = Console(stderr=True, highlight=False)
    progress = ScoreProgress(err)
    kept: list[ScoreResult] = []  # with -o -, for --summary: stdout cannot be read back

    def on_result(result: ScoreResult, done: int, failed: int) -> None:
        if show and is_stdio(output):
            kept.append(result)
        progress(result, done, failed)

    try:
        report = anyio.run(lambda: score_file(
            config, on_start=progress.start, on_result=on_result, stop_on_signals=True,
        ), backend="asyncio")
    finally:
        progress.stop()
    if report.torn_bytes:
        err.print(f"discarded a half-written last line ({report.torn_bytes} bytes) of {output}")
    if report.invalid:
        err.print(f"skipped {report.invalid} invalid lines (see {config.errors_path})")
    if not report.total:  # most often an export that went wrong: say so, it is not an error
        err.print(f"warning: {input} holds no records to score"
                  + (" (every line was invalid)" if report.invalid else ""), soft_wrap=True,
                  markup=False)
    to_stdout = is_stdio(output)
    err.print(f"wrote {report.written} results to {'stdout' if to_stdout else output} "
              f"({report.skipped} already there, {report.total} records)")
    if not no_log and not to_stdout and output.is_file():
        err.print(f"recorded as {record_copy(project.log_dir, 'score', output)}",
                  soft_wrap=True, markup=False)
    if report.interrupted:
        err.print("interrupted: results written so far are complete; run again with --resume")
        raise typer.Exit(130)
    if show:
        summary = summarize(kept if to_stdout else read_results(output), threshold=threshold)
        # With -o -, stdout holds the results alone: the summary goes to stderr.
        if json_out:
            (sys.stderr if to_stdout else sys.stdout).write(summary.model_dump_json() + "\n")
        else:
            show_summary(summary, Console(stderr=to_stdout, highlight=False))
