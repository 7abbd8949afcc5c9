"""``critic eval``: run an experiment file; results, transcripts and summary go to ``-o DIR``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from critic.backends.pool import ModelPool
from critic.cli.app import app
from critic.cli.options import (
    CacheFile,
    LogDir,
    MaxAttempts,
    MaxConnections,
    ModelSpec,
    NoLog,
    Offline,
    RolesDirs,
    model_options,
)
from critic.errors import ConfigError
from critic.experiments.conditions import load_experiment
from critic.experiments.records import EvalRecord, read_records
from critic.experiments.runner import run_experiment
from critic.roles.registry import RoleRegistry
from critic.scoring.job import until_signal
from critic.workspace.logs import record_copy, resolve_log_dir, run_output


class EvalProgress:
    """A progress bar with ETA on a terminal; otherwise a line every ``every`` seconds."""

    def __init__(self, console: Console, every: float = 10.0) -> None:
        self.console, self.every = console, every
        self._bar: Progress | None = None
        self._last = time.monotonic()

    def __call__(self, record: EvalRecord, done: int, total: int) -> None:
        if self._bar is None and self.console.is_terminal:
            self._bar = Progress(TextColumn("eval"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                 console=self.console)
            self._bar.add_task("eval", total=total)
            self._bar.start()
        if self._bar is not None:
            self._bar.update(self._bar.task_ids[0], completed=done)
        elif time.monotonic() - self._last >= self.every or done == total:
            self._last = time.monotonic()
            self.console.print(f"{done}/{total} units; last {record.id}: "
                               f"{'pass' if record.passed else 'fail'}")

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _interval(ci: Any) -> str:
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "-"


def show(summary: dict[str, Any], console: Console) -> None:
    """The summary as tables: conditions, comparisons with the baseline, drift, ablations."""
    table = Table("condition", "n", "pass rate", "95% CI", "tokens", "seconds",
                  "e (good→bad)", "recovery", title="conditions")
    for name, c in summary["conditions"].items():
        decay = summary["decay"].get(name)
        # With no good draft to drift from there is no fit, but repairs still count.
        repaired = summary["transitions"].get(name, {}).get("bad_to_good", {}).get("rate")
        table.add_row(name, str(c["n"]), f"{c['pass_rate']:.3f}", _interval(c["ci"]),
                      str(c["tokens"]), f"{c['seconds']:.1f}",
                      f"{decay['e']:.3f} {_interval(decay['ci'])}" if decay else "-",
                      f"{repaired:.3f}" if repaired is not None else "-")
    console.print(table)
    for key, title in (("comparisons", "against the baseline"),
                       ("ablations", "each member's effect (condition minus condition without it)")):
        rows = summary.get(key) or []
        if not rows:
            continue
        table = Table("condition", "member" if key == "ablations" else "baseline", "diff",
                      "95% CI", "p (McNemar)", "fixed", "broken", title=title)
        for r in rows:
            table.add_row(r["condition"], r.get("member") or r.get("baseline"),
                          f"{r['diff']:+.3f}" if r["diff"] is not None else "-",
                          _interval(r["ci"]),
                          f"{r['p_value']:.3g}" if r["p_value"] is not None else "-",
                          str(r["fixed"]), str(r["broken"]))
        console.print(table)


@app.command("eval")
def eval_command(
    experiment: Annotated[Path, typer.Argument(help="Experiment file (TOML).")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Output directory. Default: a new folder in the log directory."
    )] = None,
    resume: Annotated[bool, typer.Option(help="Finish a run: skip units already done.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing results.jsonl.")] = False,
    ablate: Annotated[bool, typer.Option(
        help="Also run each condition without each of its critics, voters or debaters "
        "(leave-one-out).")] = False,
    concurrency: Annotated[int, typer.Option(help="Units run at once.")] = 1,
    limit: Annotated[int | None, typer.Option(help="Only the first N items.")] = None,
    max_total_tokens: Annotated[int | None, typer.Option(
        min=1, help="Token budget of every session of every condition (a condition's own "
        "budget, if lower, stays): stop=budget.")] = None,
    max_seconds: Annotated[float | None, typer.Option(
        min=0.001, help="Time budget in seconds of every session of every condition (a "
        "condition's own, if lower, stays).")] = None,
    model: ModelSpec = None,
    roles_dir: RolesDirs = None,
    max_connections: MaxConnections = None,
    max_attempts: MaxAttempts = None,
    cache: CacheFile = None,
    offline: Offline = False,
    log_dir: LogDir = None,
    no_log: NoLog = False,
    bus: Annotated[str | None, typer.Option(
        help="Ask the critics over a bus: nats://HOST:PORT (served by `critic worker`s) or "
        "memory (served in this process).")] = None,
) -> None:
    """Run every condition on every item and seed; the hidden oracle judges every draft.

    Writes DIR/results.jsonl (one line per condition x item x seed, resumable),
    DIR/transcripts/ and DIR/summary.json, and prints the tables. Without -o, DIR is
    a new folder in the log directory; with -o, a copy of summary.json is recorded there.
    Ctrl-C (or SIGTERM) stops it: the units recorded stay, --resume runs the rest (exit
    code 130).
    """
    if concurrency < 1:
        raise ConfigError("--concurrency: must be at least 1")
    if limit is not None and limit < 1:
        raise ConfigError("--limit: must be at least 1")
    loaded = load_experiment(experiment).within(max_total_tokens, max_seconds)
    if model is not None:
        loaded = loaded.model_copy(update={"model": model})
    options = model_options(max_connections, max_attempts, cache, offline)
    err = Console(stderr=True, highlight=False)
    progress = EvalProgress(err)

    async def main(out: Path) -> dict[str, Any] | None:
        pool = ModelPool(loaded.model, options)
        summary: dict[str, Any] | None = None

        async def work() -> None:
            nonlocal summary
            summary = await run_experiment(
                loaded, out, base=experiment.parent, pool=pool,
                registry=RoleRegistry(extra_dirs=tuple(roles_dir or ())), resume=resume,
                overwrite=overwrite, ablate=ablate, concurrency=concurrency, limit=limit,
                progress=progress, bus=bus)

        try:
            await until_signal(work)
        finally:
            await pool.aclose()
        return summary

    logs = resolve_log_dir(log_dir)
    with run_output(logs, "eval", output, record=not no_log, resume=resume) as out:
        try:
            summary = anyio.run(main, out, backend="asyncio")
        finally:
            progress.stop()
    if summary is None:
        written = out / "results.jsonl"
        done = len(read_records(written)) if written.is_file() else 0
        err.print(f"interrupted: the {done} units in {written} are complete; "
                  f"finish with: critic eval {experiment} -o {out} --resume", soft_wrap=True,
                  markup=False)
        raise typer.Exit(130)
    show(summary, Console(highlight=False))
    err.print(f"wrote {out / 'results.jsonl'}, {out / 'summary.json'}", soft_wrap=True)
    if output is not None and not no_log:
        err.print(f"recorded as {record_copy(logs, 'eval', out / 'summary.json')}",
                  soft_wrap=True, markup=False)
