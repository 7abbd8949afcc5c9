"""One critique session: task → draft → critiques → verdict → … → outcome.

The session is a coordinator on the bus. It hosts the local agents (each a
bus service), asks the generator for a draft, fans the draft out to every
critic at once, hands the critiques to the judge and loops until the judge
stops. Every envelope of the session, model calls included, is recorded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import anyio
from anyio.abc import TaskStatus

from critic.agents import Critic, Generator, Judge, critic_handler, failed_critique, serve
from critic.bus.base import Bus
from critic.bus.memory import MemoryBus
from critic.errors import BusError
from critic.messages import (
    Critique,
    Draft,
    DraftRequest,
    Envelope,
    JudgeRequest,
    Outcome,
    Payload,
    ReviewRequest,
    Task,
    Usage,
    Verdict,
    new_id,
    topic,
)
from critic.structured import Recorder
from critic.transcript import TranscriptWriter

Observer = Callable[[Envelope], Awaitable[None] | None]

#: Grace on top of a critic's own timeout before the coordinator gives up on it
#: (the critic normally reports its own timeout; this catches a dead worker).
TIMEOUT_GRACE = 10.0
#: Safety net for a judge that never stops; a sane judge stops far earlier.
ROUND_LIMIT = 100


@dataclass(frozen=True)
class RemoteCritic:
    """A critic served elsewhere on the bus (e.g. by ``critic worker``)."""

    name: str
    weight: float = 1.0
    timeout: float = 120.0


@dataclass
class Session:
    """A critique session; :meth:`run` drives it to an :class:`Outcome`.

    ``critics`` are hosted by this session; ``remote`` critics are asked over
    the bus and must be served by someone else. ``observer`` sees every
    envelope as it is recorded (the CLI's live view uses it).
    """

    task: Task
    generator: Generator
    judge: Judge
    critics: Sequence[Critic] = ()
    remote: Sequence[RemoteCritic] = ()
    bus: Bus | None = None
    transcript: TranscriptWriter | None = None
    observer: Observer | None = None
    id: str = field(default_factory=lambda: new_id()[:12])
    _usage: Usage = field(default_factory=Usage)
    _start: float = 0.0

    def _envelope(self, name: str, payload: Payload, parent: str | None = None) -> Envelope:
        return Envelope(
            session=self.id, topic=topic(self.id, name), sender="session", parent=parent,
            payload=payload,
        )

    async def run(self) -> Outcome:
        bus = self.bus if self.bus is not None else MemoryBus()
        try:
            async with anyio.create_task_group() as tg:
                finished = anyio.Event()
                await tg.start(self._record, bus, finished)
                await tg.start(self._serve_generator, bus)
                for critic in self.critics:
                    await tg.start(serve_critic, bus, self.id, critic)
                await tg.start(self._serve_judge, bus)
                self._start = anyio.current_time()
                outcome = await self._loop(bus)
                await bus.publish(self._envelope("outcome", outcome))
                await finished.wait()
                tg.cancel_scope.cancel()
        finally:
            if self.bus is None:
                await bus.aclose()
        return outcome

    async def _record(
        self, bus: Bus, finished: anyio.Event, *, task_status: TaskStatus[None]
    ) -> None:
        async with bus.subscribe(topic(self.id, ">")) as envelopes:
            task_status.started()
            async for envelope in envelopes:
                if self.transcript is not None:
                    self.transcript.write(envelope)
                if self.observer is not None:
                    shown = self.observer(envelope)
                    if shown is not None:
                        await shown
                if isinstance(envelope.payload, Outcome):
                    finished.set()

    async def _serve_generator(self, bus: Bus, *, task_status: TaskStatus[None]) -> None:
        generator = self.generator

        async def handle(request: Envelope, record: Recorder) -> Payload:
            assert isinstance(request.payload, DraftRequest)
            try:
                return await generator.draft(request.payload, record)
            except Exception as exc:  # reported in the outcome, never a crash
                return Draft(
                    round=request.payload.round, text="", author=generator.name,
                    error=f"{type(exc).__name__}: {exc}",
                )

        await serve(bus, topic(self.id, "generate"), handle, name=generator.name,
                    task_status=task_status)

    async def _serve_judge(self, bus: Bus, *, task_status: TaskStatus[None]) -> None:
        judge = self.judge

        async def handle(request: Envelope, record: Recorder) -> Payload:
            assert isinstance(request.payload, JudgeRequest)
            try:
                return await judge.judge(request.payload, record)
            except Exception as exc:
                return Verdict(
                    round=request.payload.draft.round, decision="discard", stop="error",
                    reason=f"judge {judge.name!r} failed: {type(exc).__name__}: {exc}",
                )

        await serve(bus, topic(self.id, "judge"), handle, name=judge.name,
                    task_status=task_status)

    def _critic_specs(self) -> list[RemoteCritic]:
        local = [RemoteCritic(c.name, c.weight, c.timeout) for c in self.critics]
        return [*local, *self.remote]

    async def _loop(self, bus: Bus) -> Outcome:
        await bus.publish(self._envelope("task", self.task))
        feedback: str | None = None
        verdicts: list[Verdict] = []
        history: list[float | None] = []
        best: tuple[float, Draft] | None = None
        draft: Draft | None = None
        for round in range(1, ROUND_LIMIT + 1):
            reply = await bus.request(
                self._envelope("generate", DraftRequest(task=self.task, round=round,
                                                        feedback=feedback))
            )
            assert isinstance(reply.payload, Draft)
            if reply.payload.error is not None:
                return self._outcome(
                    "discard", f"generator failed: {reply.payload.error}", "error",
                    best[1] if best else draft, best[0] if best else None, round, verdicts,
                )
            draft = reply.payload
            self._usage += draft.usage
            critiques = await self._review(bus, draft, reply.id)
            judged = await bus.request(self._envelope(
                "judge",
                JudgeRequest(
                    task=self.task, draft=draft, critiques=tuple(critiques),
                    history=tuple(history), elapsed=anyio.current_time() - self._start,
                    tokens_used=self._usage.prompt_tokens + self._usage.completion_tokens,
                ),
                parent=reply.id,
            ))
            assert isinstance(judged.payload, Verdict)
            verdict = judged.payload
            self._usage += verdict.usage
            verdicts.append(verdict)
            history.append(verdict.aggregate)
            if verdict.aggregate is not None and (best is None or verdict.aggregate > best[0]):
                best = (verdict.aggregate, draft)
            if verdict.decision == "accept":
                return self._outcome(
                    "accept", verdict.reason, "accepted", draft, verdict.aggregate, round, verdicts
                )
            if verdict.decision == "discard":
                return self._outcome(
                    "discard", verdict.reason, verdict.stop or "discard",
                    best[1] if best else draft, best[0] if best else None, round, verdicts,
                )
            feedback = verdict.feedback
        return self._outcome(
            "discard", f"the judge did not stop within {ROUND_LIMIT} rounds", "round_limit",
            best[1] if best else draft, best[0] if best else None, ROUND_LIMIT, verdicts,
        )

    async def _review(self, bus: Bus, draft: Draft, parent: str) -> list[Critique]:
        """Fan the draft out to every critic at once; failures become unscored critiques."""
        specs = self._critic_specs()
        results: list[Critique | None] = [None] * len(specs)

        async def ask(i: int, spec: RemoteCritic) -> None:
            request = self._envelope(
                f"review.{spec.name}",
                ReviewRequest(task=self.task, draft=draft, role=spec.name, session=self.id),
                parent=parent,
            )
            try:
                reply = await bus.request(request, timeout=spec.timeout + TIMEOUT_GRACE)
            except TimeoutError:
                critique = failed_critique(
                    spec.name, draft.round, "timeout",
                    f"no reply within {spec.timeout + TIMEOUT_GRACE:g} s", spec.weight,
                )
            except BusError as exc:
                critique = failed_critique(spec.name, draft.round, "error", str(exc), spec.weight)
            else:
                assert isinstance(reply.payload, Critique)
                results[i] = reply.payload
                return
            results[i] = critique
            await bus.publish(self._envelope("critique", critique, parent=request.id))

        async with anyio.create_task_group() as tg:
            for i, spec in enumerate(specs):
                tg.start_soon(ask, i, spec)
        critiques = [c for c in results if c is not None]
        for critique in critiques:
            self._usage += critique.usage
        return critiques

    def _outcome(
        self, decision: str, reason: str, stop: str, draft: Draft | None, score: float | None,
        rounds: int, verdicts: list[Verdict],
    ) -> Outcome:
        return Outcome(
            session=self.id, decision="accept" if decision == "accept" else "discard",
            reason=reason, stop=stop, draft=draft, score=score, rounds=rounds,
            verdicts=tuple(verdicts), usage=self._usage,
            elapsed=anyio.current_time() - self._start,
        )


async def serve_critic(
    bus: Bus, session: str, critic: Critic, *, group: str | None = None,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``critic``'s reviews for one session (``session="*"``: for every session)."""
    await serve(bus, topic(session, "review", critic.name), critic_handler(critic),
                name=critic.name, group=group, task_status=task_status)


