"""One critique session: task → draft → critiques → verdict → … → outcome.

The session is a coordinator on the bus. It hosts the local agents (each a
bus service), asks the generator for a draft, fans the draft out to every
critic at once, hands the critiques to the judge and loops until the judge
stops. Every envelope of the session, model calls included, is recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio

from critic.bus.agents import failed_critique, generator_handler, judge_handler
from critic.bus.coordinator import (
    TIMEOUT_GRACE,
    Ask,
    Observer,
    RemoteCritic,
    Service,
    ask_all,
    coordinate,
    recorder,
)
from critic.bus.envelopes import sealed
from critic.bus.topics import topic
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
)
from critic.protocols import Bus, Critic, Generator, Judge
from critic.transcript import TranscriptWriter

#: Safety net for a judge that never stops; a sane judge stops far earlier.
ROUND_LIMIT = 100


@dataclass
class _Tally:
    """The session's token counts so far: what ``Usage.__add__`` sums, kept as plain
    ints so a round's five additions build no model (one :class:`Usage` at the end)."""

    prompt: int = 0
    completion: int = 0
    evaluated: int | None = None

    def add(self, usage: Usage) -> None:
        self.prompt += usage.prompt_tokens
        self.completion += usage.completion_tokens
        if usage.prompt_evaluated is not None:
            self.evaluated = (self.evaluated or 0) + usage.prompt_evaluated

    @property
    def tokens(self) -> int:
        return self.prompt + self.completion

    def total(self) -> Usage:
        return Usage(prompt_tokens=self.prompt, completion_tokens=self.completion,
                     prompt_evaluated=self.evaluated)


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
    _usage: _Tally = field(default_factory=_Tally)
    _start: float = 0.0
    _asked: list[RemoteCritic] = field(default_factory=list)

    def _envelope(self, where: str | tuple[str, ...], payload: Payload,
                  parent: str | None = None) -> Envelope:
        parts = (where,) if isinstance(where, str) else where
        return sealed(self.id, topic(self.id, *parts), "session", payload, parent=parent)

    async def run(self) -> Outcome:
        self._start = anyio.current_time()
        return await coordinate(
            self.id, self.bus, recorder(self.transcript, self.observer), [
                Service(topic(self.id, "generate"), generator_handler(self.generator),
                        self.generator.name),
                Service(topic(self.id, "judge"), judge_handler(self.judge), self.judge.name),
            ], self.critics, self._loop, remote=bool(self.remote), sender="session",
        )

    def _critic_specs(self) -> list[RemoteCritic]:
        local = [RemoteCritic(c.name, c.weight, c.timeout) for c in self.critics]
        return [*local, *self.remote]

    async def _loop(self, bus: Bus) -> Outcome:
        # The critics of a run are fixed: whom to ask, worked out once, not every round.
        self._asked = self._critic_specs()
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
            self._usage.add(draft.usage)
            critiques = await self._review(bus, draft, reply.id)
            judged = await bus.request(self._envelope(
                "judge",
                JudgeRequest(
                    task=self.task, draft=draft, critiques=tuple(critiques),
                    history=tuple(history), elapsed=anyio.current_time() - self._start,
                    tokens_used=self._usage.tokens,
                ),
                parent=reply.id,
            ))
            assert isinstance(judged.payload, Verdict)
            verdict = judged.payload
            self._usage.add(verdict.usage)
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

        def ask(spec: RemoteCritic) -> Ask:
            request = self._envelope(
                ("review", spec.name), ReviewRequest(task=self.task, draft=draft, role=spec.name,
                                            session=self.id),
                parent=parent,
            )
            return Ask(request, spec.timeout + TIMEOUT_GRACE, record_as="critique",
                       failure=lambda status, error: failed_critique(
                           spec.name, draft.round, status, error, spec.weight))

        replies = await ask_all(bus, [ask(s) for s in self._asked], sender="session")
        critiques = [c for c in replies if isinstance(c, Critique)]
        for critique in critiques:
            self._usage.add(critique.usage)
        return critiques

    def _outcome(
        self, decision: str, reason: str, stop: str, draft: Draft | None, score: float | None,
        rounds: int, verdicts: list[Verdict],
    ) -> Outcome:
        return Outcome(
            session=self.id, decision="accept" if decision == "accept" else "discard",
            reason=reason, stop=stop, draft=draft, score=score, rounds=rounds,
            verdicts=tuple(verdicts), usage=self._usage.total(),
            elapsed=anyio.current_time() - self._start,
        )
