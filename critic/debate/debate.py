"""Debate sessions: N debaters answer over R rounds, then a judge gives the verdict.

Round 1: every debater answers the question on its own. Round r > 1: each is
sent, over the bus, the other debaters' answers of round r-1 (and the critics'
reviews of them, when critics take part) and revises its answer. Debaters of
a round run concurrently, each in its own context.

The debate stops when it has converged — the most common extracted answer is
held by at least ``converge_at`` of the answering debaters (1.0: all) — or
after ``rounds`` rounds, or when a round ends with its budget spent
(``max_total_tokens`` over every call so far, or ``max_seconds`` since the
start: ``stop="budget"``). The judge then accepts an answer or discards (no
consensus), with its reason; a budget stop still lets it judge the last round's
answers, as the last round would. A debater that fails or times out is recorded,
reported in :attr:`DebateOutcome.failed`, and left out of the vote and of
every later round.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal

import anyio
from pydantic import ValidationError

from critic.bus.agents import debate_judge_handler, debater_handler, failed_critique
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
from critic.bus.topics import topic
from critic.config import DebateRules, cli_message
from critic.debate.answers import NumberAnswer
from critic.errors import ConfigError
from critic.judges.majority import MajorityJudge, count_votes
from critic.messages import (
    Answer,
    AnswerCritique,
    Critique,
    DebateJudgeRequest,
    DebateMetrics,
    DebateOutcome,
    DebateRequest,
    DebateRound,
    DebateVerdict,
    Draft,
    Envelope,
    Payload,
    ReviewRequest,
    Task,
    Usage,
    new_id,
)
from critic.protocols import AnswerExtractor, Bus, Critic, DebateJudge, Debater
from critic.transcript import TranscriptWriter


def metrics_of(rounds: Sequence[DebateRound]) -> DebateMetrics:
    """Agreement per round, changes of mind, and whether the majority answer ever flipped."""
    majorities = tuple(r.majority for r in rounds)
    held = [m for m in majorities if m is not None]
    return DebateMetrics(
        agreement=tuple(r.agreement for r in rounds),
        answer_changes=sum(len(r.changed) for r in rounds),
        majority_flipped=any(a != b for a, b in pairwise(held)),
        majorities=majorities,
    )


@dataclass
class Debate:
    """A debate; :meth:`run` drives it to a :class:`DebateOutcome`.

    ``critics`` (optional) review every answer of each round that is followed
    by another round; their critiques go to every debater with the answers.
    ``observer`` sees every envelope as it is recorded (the live view).
    """

    question: str
    debaters: Sequence[Debater]
    judge: DebateJudge = field(default_factory=MajorityJudge)
    critics: Sequence[Critic] = ()
    extractor: AnswerExtractor = field(default_factory=NumberAnswer)
    rounds: int = 2
    converge_at: float = 1.0
    timeout: float = 600.0
    """Seconds one debater may take for one answer before it is out of the debate."""
    bus: Bus | None = None
    transcript: TranscriptWriter | None = None
    observer: Observer | None = None
    remote: Sequence[RemoteCritic] = ()
    """Critics served elsewhere on the bus (``critic worker``), reviewing like ``critics``."""
    max_total_tokens: int | None = None
    """Stop after the round in which every call so far used this many tokens in all."""
    max_seconds: float | None = None
    """Stop after a round that ends this many seconds after the start."""
    id: str = field(default_factory=lambda: new_id()[:12])
    _usage: Usage = field(default_factory=Usage)
    _start: float = 0.0

    def __post_init__(self) -> None:
        if not self.question.strip():
            raise ConfigError("the debate question is empty")
        if not self.debaters:
            raise ConfigError("a debate needs at least one debater")
        names = [d.name for d in self.debaters]
        if len(set(names)) != len(names):
            raise ConfigError(f"two debaters share a name: {', '.join(names)}")
        try:
            DebateRules(rounds=self.rounds, converge_at=self.converge_at,
                        max_total_tokens=self.max_total_tokens, max_seconds=self.max_seconds)
        except ValidationError as exc:
            raise ConfigError(cli_message(exc)) from exc

    def _envelope(self, where: str | tuple[str, ...], payload: Payload,
                  parent: str | None = None) -> Envelope:
        parts = (where,) if isinstance(where, str) else where
        return Envelope(session=self.id, topic=topic(self.id, *parts), sender="debate",
                        parent=parent, payload=payload)

    async def run(self) -> DebateOutcome:
        self._start = anyio.current_time()
        debaters = [Service(topic(self.id, "debate", d.name), debater_handler(d, self.timeout),
                            d.name) for d in self.debaters]
        judge = Service(topic(self.id, "judge"), debate_judge_handler(self.judge), self.judge.name)
        return await coordinate(
            self.id, self.bus, recorder(self.transcript, self.observer), [*debaters, judge],
            self.critics, self._loop, remote=bool(self.remote), sender="debate",
        )

    async def _loop(self, bus: Bus) -> DebateOutcome:
        await bus.publish(self._envelope("task", Task(prompt=self.question)))
        active = [d.name for d in self.debaters]
        failed: dict[str, str] = {}
        history: list[DebateRound] = []
        previous: dict[str, Answer] = {}
        critiques: tuple[AnswerCritique, ...] = ()
        for number in range(1, self.rounds + 1):
            answers = await self._ask(bus, number, active, previous, critiques)
            for answer in answers:
                if answer.status != "ok":
                    failed[answer.debater] = answer.error or answer.status
                    active.remove(answer.debater)
            done = await self._tally(number, answers, previous)
            stopping = done.converged or number == self.rounds or not active
            budget = not stopping and self._spent()
            critiques = ()
            if (self.critics or self.remote) and not stopping and not budget:
                critiques = await self._review(bus, done.answers)
                done = done.model_copy(update={"critiques": critiques})
                budget = self._spent()  # the reviews count towards this round
            await bus.publish(self._envelope("round", done))
            history.append(done)
            previous = {a.debater: a for a in done.answers if a.status == "ok"}
            if stopping or budget:
                break
        last = history[-1]
        verdict = await self._judge(bus, last)
        stop: Literal["converged", "max_rounds", "no_debaters", "budget"]
        if not active:
            stop = "no_debaters"
        elif last.converged:
            stop = "converged"
        elif budget:
            stop = "budget"
        else:
            stop = "max_rounds"
        names = [d.name for d in self.debaters]
        return DebateOutcome(
            session=self.id, question=self.question, decision=verdict.decision,
            answer=verdict.answer, text=verdict.text, reason=verdict.reason, stop=stop,
            rounds_used=len(history),
            convergence_round=last.round if last.converged else None,
            answers=tuple(
                {name: next((a.answer for a in r.answers if a.debater == name), None)
                 for name in names}
                for r in history
            ),
            rounds=tuple(history), verdict=verdict, failed=failed, metrics=metrics_of(history),
            usage=self._usage, elapsed=anyio.current_time() - self._start,
        )

    def _spent(self) -> bool:
        """Whether the token or time budget is used up (checked as a round ends)."""
        tokens = self._usage.prompt_tokens + self._usage.completion_tokens
        return ((self.max_total_tokens is not None and tokens >= self.max_total_tokens)
                or (self.max_seconds is not None
                    and anyio.current_time() - self._start >= self.max_seconds))

    async def _ask(
        self, bus: Bus, number: int, active: Sequence[str], previous: dict[str, Answer],
        critiques: tuple[AnswerCritique, ...],
    ) -> list[Answer]:
        """Every active debater at once; each gets the others' previous answers only."""

        def ask(name: str) -> Ask:
            others = tuple(a for d, a in previous.items() if d != name)
            request = self._envelope(("debate", name), DebateRequest(
                question=self.question, round=number, debater=name, others=others,
                critiques=critiques,
            ))
            return Ask(request, self.timeout + TIMEOUT_GRACE, record_as="answer",
                       failure=lambda status, error: Answer(
                           debater=name, round=number, status=status, error=error))

        replies = await ask_all(bus, [ask(name) for name in active], sender="debate")
        answers = [a for a in replies if isinstance(a, Answer)]  # debater order, not arrival
        self._usage += Usage.total(a.usage for a in answers)
        return answers

    async def _tally(
        self, number: int, answers: list[Answer], previous: dict[str, Answer]
    ) -> DebateRound:
        extracted = [
            a.model_copy(update={"answer": await self.extractor.extract(a.text)})
            if a.status == "ok" else a
            for a in answers
        ]
        voters = [a for a in extracted if a.status == "ok"]
        votes = count_votes(voters)
        top = votes.most_common(1)[0] if votes else None
        agreement = top[1] / len(voters) if top and voters else 0.0
        return DebateRound(
            round=number, answers=tuple(extracted), votes=dict(votes), agreement=agreement,
            majority=top[0] if top and 2 * top[1] > len(voters) else None,
            # A float tolerance: 2/3 of 3 debaters must count as 2.
            converged=top is not None and top[1] >= self.converge_at * len(voters) - 1e-9,
            changed=tuple(
                a.debater for a in voters
                if a.debater in previous and previous[a.debater].answer != a.answer
            ),
        )

    async def _review(self, bus: Bus, answers: Sequence[Answer]) -> tuple[AnswerCritique, ...]:
        """Every critic reviews every answer, all at once; failures stay unscored."""
        task = Task(prompt=self.question)
        specs = [*(RemoteCritic(c.name, c.weight, c.timeout) for c in self.critics), *self.remote]
        jobs = [(a, c) for a in answers if a.status == "ok" for c in specs]

        def ask(answer: Answer, critic: RemoteCritic) -> Ask:
            draft = Draft(round=answer.round, text=answer.text, author=answer.debater)
            request = self._envelope(("review", critic.name),
                                     ReviewRequest(task=task, draft=draft, role=critic.name))
            return Ask(request, critic.timeout + TIMEOUT_GRACE, record_as="critique",
                       failure=lambda status, error: failed_critique(
                           critic.name, answer.round, status, error, critic.weight))

        replies = await ask_all(bus, [ask(a, c) for a, c in jobs], sender="debate")
        critiques = [c for c in replies if isinstance(c, Critique)]
        self._usage += Usage.total(c.usage for c in critiques)
        return tuple(AnswerCritique(debater=a.debater, critique=c)
                     for (a, _), c in zip(jobs, critiques, strict=True))

    async def _judge(self, bus: Bus, last: DebateRound) -> DebateVerdict:
        voters = tuple(a for a in last.answers if a.status == "ok")
        reply = await bus.request(self._envelope(
            "judge", DebateJudgeRequest(question=self.question, round=last.round, answers=voters)
        ))
        assert isinstance(reply.payload, DebateVerdict)
        self._usage += reply.payload.usage
        return reply.payload

