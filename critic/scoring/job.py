"""From a validated :class:`ScoreConfig` to a scored output file (what ``critic score`` does).

``-`` as the input reads the records from standard input; ``-`` as the
output writes the results to standard output (nothing to lock or resume).
Nothing a user already has is clobbered: the output and the errors file may
not be the input or each other (compared by device and inode, so hard and
symbolic links count), and either is refused if it already holds data,
unless ``resume`` or ``overwrite``. Those checks run before anything is read
or written, and again under the output's lock (see :class:`ResultFile`); a
refused run touches neither file.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import anyio
from pydantic import Field, field_validator, model_validator

from critic.bus.worker import BusCritic
from critic.config import Settings, needs_roles
from critic.errors import ConfigError, TranscriptError
from critic.judges.select import build_judge
from critic.launch import launch
from critic.messages import new_id
from critic.protocols import Critic
from critic.roles.kinds import CriticKinds
from critic.roles.registry import RoleRegistry
from critic.scoring.records import InvalidLine, is_stdio, read_records
from critic.scoring.results import ResultFile, ResultStream
from critic.scoring.scorer import OnResult, Scorer, default_judge, score_all

#: Called once before scoring: (records to score, records already in the output).
OnStart = Callable[[int, int], None]


class ScoreConfig(Settings):
    """Everything that defines a scoring run."""

    input: Path
    output: Path
    roles: tuple[str, ...]
    judge: str = "threshold"
    accept_at: float = Field(default=0.8, ge=0.0, le=1.0)
    concurrency: int = Field(default=4, ge=1)
    resume: bool = False
    overwrite: bool = False
    limit: int | None = Field(default=None, ge=1)
    skip_invalid: bool = False
    errors: Path | None = None
    """Where ``skip_invalid`` records bad lines (default: OUTPUT with ``.errors.jsonl``)."""

    _some_roles = field_validator("roles")(needs_roles)

    @model_validator(mode="after")
    def _errors_need_skip_invalid(self) -> ScoreConfig:
        if self.errors is not None and not self.skip_invalid:
            raise ValueError("errors: only written with --skip-invalid")
        if is_stdio(self.output):
            if self.resume:
                raise ValueError("resume: needs an output file to resume, not -o - (stdout)")
            if self.skip_invalid and self.errors is None:
                raise ValueError("errors: with -o - (stdout), --skip-invalid needs --errors FILE")
        return self

    @property
    def errors_path(self) -> Path:
        return self.errors or self.output.with_name(self.output.name + ".errors.jsonl")


@dataclass(frozen=True)
class ScoreReport:
    """How a scoring run went."""

    total: int
    """Records to score in this run's input (after ``limit``)."""
    skipped: int
    """Already in the output (``resume``)."""
    written: int
    invalid: int
    torn_bytes: int
    """Bytes of a torn last line cut off the output on resume."""
    interrupted: bool = False


async def score_file(
    config: ScoreConfig,
    *,
    kinds: CriticKinds | None = None,
    registry: RoleRegistry | None = None,
    on_start: OnStart | None = None,
    on_result: OnResult | None = None,
    stop_on_signals: bool = False,
) -> ScoreReport:
    """Score ``config.input`` into ``config.output``; every input is checked before scoring.

    ``kinds`` and ``registry`` replace the built-in critic kinds and roles.
    Models open only when a role (or a judge role) asks for one. With
    ``stop_on_signals`` (main thread only), SIGINT/SIGTERM stop the run
    cleanly: records in flight are not written, the report says ``interrupted``.
    """
    check_paths(config)
    async with launch(config, registry=registry, kinds=kinds) as run:
        roles = run.roles(config.roles)
        found = read_records(config.input, skip_invalid=config.skip_invalid)
        records = found.records[: config.limit] if config.limit else found.records
        critics: list[Critic]
        bus = await run.open_bus()
        if bus is None:
            critics = run.critics(roles).local
        else:  # each review is durable work on the bus, done by a worker
            job = new_id()[:12]
            critics = [BusCritic.of(bus, job, role) for role in roles]
        judge = build_judge(config.judge, run.registry, run.pool, default_judge(config.accept_at),
                            seed=config.seed)
        results = (ResultStream(sys.stdout.buffer) if is_stdio(config.output) else
                   ResultFile(config.output, resume=config.resume, overwrite=config.overwrite))
        with results as out:
            check_paths(config)  # again, now that no other run can be writing
            if config.skip_invalid:
                _write_errors(config.errors_path, found.invalid)
            before = len(out.done)
            skipped = sum(r.id in out.done for r in records)
            if on_start is not None:
                on_start(len(records), skipped)
            interrupted = False

            async def score() -> None:
                await score_all(Scorer(critics, judge), records, out,
                                concurrency=config.concurrency, on_result=on_result)

            if stop_on_signals:
                interrupted = await _until_signal(score)
            else:
                await score()
            return ScoreReport(
                total=len(records), skipped=skipped, written=len(out.done) - before,
                invalid=len(found.invalid),
                torn_bytes=out.torn_bytes, interrupted=interrupted,
            )


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: same device and inode, or (if one is missing) the same
    path once symbolic links are resolved."""
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return a.resolve() == b.resolve()
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _holds_data(path: Path) -> bool:
    try:
        return path.stat().st_size > 0 and path.is_file()
    except OSError:
        return False


def check_paths(config: ScoreConfig) -> None:
    """Refuse a run that would write over its input or over data it was not told to replace.

    Raises :class:`ConfigError` (a path that is another) or :class:`TranscriptError`
    (an existing file) naming the path; reads and writes nothing.
    """
    # Standard input and output ("-") are no files: nothing there to overwrite.
    writes = [] if is_stdio(config.output) else [("--output", config.output)]
    if config.skip_invalid:
        writes.append(("--errors", config.errors_path))
    for option, path in writes:
        if not is_stdio(config.input) and same_file(path, config.input):
            raise ConfigError(f"{option} {path}: is the input file {config.input}; "
                              "choose another path")
    if (config.skip_invalid and not is_stdio(config.output)
            and same_file(config.output, config.errors_path)):
        raise ConfigError(f"--errors {config.errors_path}: is the output file {config.output}; "
                          "choose another path")
    if config.resume or config.overwrite:
        return
    for option, path in writes:
        if _holds_data(path):
            what = "" if option == "--output" else " (the --errors file)"
            raise TranscriptError(f"{path} already exists{what}; use --resume to finish it "
                                  "or --overwrite to replace it")


def _write_errors(path: Path, invalid: tuple[InvalidLine, ...]) -> None:
    """The lines skipped as invalid; an old errors file is replaced even when none were."""
    if not invalid and not path.exists():
        return
    try:
        with path.open("w", encoding="utf-8") as fh:
            fh.writelines(bad.to_json() + "\n" for bad in invalid)
    except OSError as exc:
        raise TranscriptError(f"cannot write {path}: {exc.strerror}") from exc


async def _until_signal(work: Callable[[], Awaitable[None]]) -> bool:
    """Run ``work``; SIGINT or SIGTERM cancels it. True when a signal stopped it.

    An error ``work`` raises is raised as itself, not inside an exception group,
    so the CLI can print it on one line.
    """
    stopped = False
    failure: Exception | None = None
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            nonlocal stopped
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    stopped = True
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(watch)
        try:
            await work()
        except Exception as exc:
            failure = exc
        tg.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return stopped
