"""From a validated :class:`ScoreConfig` to a scored output file (what ``critic score`` does)."""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import anyio
from pydantic import Field, field_validator

from critic.bus.worker import BusCritic
from critic.config import Settings
from critic.errors import TranscriptError
from critic.judges.select import build_judge
from critic.launch import launch
from critic.messages import new_id
from critic.protocols import Critic
from critic.roles.kinds import CriticKinds
from critic.roles.registry import RoleRegistry
from critic.scoring.records import read_records
from critic.scoring.results import ResultFile
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

    @field_validator("roles")
    @classmethod
    def _some_roles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one critic role is needed")
        return value

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
    async with launch(config, registry=registry, kinds=kinds) as run:
        roles = run.roles(config.roles)
        found = read_records(config.input, skip_invalid=config.skip_invalid)
        if found.invalid:
            try:
                with config.errors_path.open("w", encoding="utf-8") as fh:
                    fh.writelines(bad.to_json() + "\n" for bad in found.invalid)
            except OSError as exc:
                raise TranscriptError(f"cannot write {config.errors_path}: {exc.strerror}") from exc
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
        with ResultFile(config.output, resume=config.resume, overwrite=config.overwrite) as out:
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


async def _until_signal(work: Callable[[], Awaitable[None]]) -> bool:
    """Run ``work``; SIGINT or SIGTERM cancels it. True when a signal stopped it."""
    stopped = False
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            nonlocal stopped
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    stopped = True
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(watch)
        await work()
        tg.cancel_scope.cancel()
    return stopped
