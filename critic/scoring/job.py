"""From a validated :class:`ScoreConfig` to a scored output file (what ``critic score`` does).

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
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import anyio
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from critic.agents import Critic
from critic.backends import ModelPool
from critic.backends.options import ModelOptions
from critic.bus.nats import check_bus_url, open_bus
from critic.errors import ConfigError, TranscriptError
from critic.kinds import CriticKinds
from critic.llm_judge import build_judge
from critic.messages import new_id
from critic.roles import RoleRegistry
from critic.runner import build_critics
from critic.scoring.records import InvalidLine, read_records
from critic.scoring.results import ResultFile
from critic.scoring.scorer import OnResult, Scorer, default_judge, score_all
from critic.worker import BusCritic

#: Called once before scoring: (records to score, records already in the output).
OnStart = Callable[[int, int], None]


class ScoreConfig(BaseModel):
    """Everything that defines a scoring run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: Path
    output: Path
    roles: tuple[str, ...]
    judge: str = "threshold"
    accept_at: float = Field(default=0.8, ge=0.0, le=1.0)
    concurrency: int = Field(default=4, ge=1)
    resume: bool = False
    overwrite: bool = False
    limit: int | None = Field(default=None, ge=1)
    model: str | None = None
    models: ModelOptions = ModelOptions()
    """HTTP limits and the response cache (``--max-connections``, ``--cache``, ``--offline``)."""
    seed: int = 0
    roles_dirs: tuple[Path, ...] = ()
    skip_invalid: bool = False
    errors: Path | None = None
    """Where ``skip_invalid`` records bad lines (default: OUTPUT with ``.errors.jsonl``)."""
    bus: str | None = None
    """``nats://HOST:PORT``: critic roles are served there by ``critic worker``s."""

    @field_validator("bus")
    @classmethod
    def _bus_url(cls, value: str | None) -> str | None:
        return None if value is None else check_bus_url(value)

    @field_validator("roles")
    @classmethod
    def _some_roles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one critic role is needed")
        if len(set(value)) != len(value):
            raise ValueError(f"a role is named twice: {', '.join(value)}")
        return value

    @model_validator(mode="after")
    def _errors_need_skip_invalid(self) -> ScoreConfig:
        if self.errors is not None and not self.skip_invalid:
            raise ValueError("errors: only written with --skip-invalid")
        return self

    @property
    def errors_path(self) -> Path:
        return self.errors or self.output.with_name(self.output.name + ".errors.jsonl")

    @classmethod
    def parse(cls, **values: object) -> ScoreConfig:
        """Validate, turning the first problem into a one-line :class:`ConfigError`."""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            msg = str(err["msg"]).removeprefix("Value error, ")
            if not field:  # a check across fields names its field in the message
                field, _, msg = msg.partition(": ")
            raise ConfigError(f"--{field.replace('_', '-')}: {msg}") from exc


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
    registry = registry or RoleRegistry(extra_dirs=config.roles_dirs)
    roles = [registry.get(name) for name in config.roles]
    found = read_records(config.input, skip_invalid=config.skip_invalid)
    records = found.records[: config.limit] if config.limit else found.records
    pool = ModelPool(config.model, config.models)
    stack = AsyncExitStack()
    try:
        critics: list[Critic]
        if config.bus is None:
            critics, _ = build_critics(roles, pool, seed=config.seed, kinds=kinds)
        else:  # each review is durable work on the bus, done by a worker
            bus = await stack.enter_async_context(open_bus(config.bus))
            job = new_id()[:12]
            critics = [BusCritic.of(bus, job, role) for role in roles]
        judge = build_judge(config.judge, registry, pool, default_judge(config.accept_at),
                            seed=config.seed)
        with ResultFile(config.output, resume=config.resume, overwrite=config.overwrite) as out:
            check_paths(config)  # again, now that no other run can be writing
            if config.skip_invalid:
                _write_errors(config.errors_path, found.invalid)
            before = len(out.done)
            skipped = sum(r.id in out.done for r in records)
            if on_start is not None:
                on_start(len(records), skipped)
            interrupted = False

            async def run() -> None:
                await score_all(Scorer(critics, judge), records, out,
                                concurrency=config.concurrency, on_result=on_result)

            if stop_on_signals:
                interrupted = await _until_signal(run)
            else:
                await run()
            return ScoreReport(
                total=len(records), skipped=skipped, written=len(out.done) - before,
                invalid=len(found.invalid),
                torn_bytes=out.torn_bytes, interrupted=interrupted,
            )
    finally:
        await stack.aclose()
        await pool.aclose()


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
    writes = [("--output", config.output)]
    if config.skip_invalid:
        writes.append(("--errors", config.errors_path))
    for option, path in writes:
        if same_file(path, config.input):
            raise ConfigError(f"{option} {path}: is the input file {config.input}; "
                              "choose another path")
    if config.skip_invalid and same_file(config.output, config.errors_path):
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
