"""A transcript regrouped for reading: rounds of a session, or a debate's round-by-debater grid.

Model calls are attached to what they produced through the envelopes'
``parent`` links: an agent answers a request envelope with its reply and
records each model call it made with the same parent. A call whose reply is
missing (the run died mid-call) is still shown, in its round when its
request names one, or under "other model calls"; nothing recorded is dropped.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar

from markupsafe import Markup
from pydantic import BaseModel

from critic.messages import (
    Answer,
    Critique,
    DebateJudgeRequest,
    DebateOutcome,
    DebateRequest,
    DebateRound,
    DebateVerdict,
    Draft,
    DraftRequest,
    Envelope,
    JudgeRequest,
    ModelCall,
    Outcome,
    ReviewRequest,
    Task,
    Verdict,
)
from critic.transcript import Transcript
from critic.viewer.plots import Axes, Band, Point, Series, line_plot


@dataclass
class Linked:
    """Who made a call or a reply, and the request it answers."""

    calls: dict[str, list[ModelCall]]
    requests: dict[str, BaseModel]
    used: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, envelopes: tuple[Envelope, ...]) -> Linked:
        calls: dict[str, list[ModelCall]] = defaultdict(list)
        requests: dict[str, BaseModel] = {}
        for e in envelopes:
            if isinstance(e.payload, ModelCall):
                calls[e.parent or ""].append(e.payload)
            else:
                requests[e.id] = e.payload
        return cls(dict(calls), requests)

    def of_reply(self, envelope: Envelope) -> list[ModelCall]:
        """The calls made while producing ``envelope``'s payload."""
        if envelope.parent is None or envelope.parent in self.used:
            return []
        self.used.add(envelope.parent)
        return self.calls.get(envelope.parent, [])

    def leftover(self) -> list[tuple[int | None, ModelCall]]:
        """Calls no reply claimed, with the round their request names (if any)."""
        out: list[tuple[int | None, ModelCall]] = []
        for parent, calls in self.calls.items():
            if parent in self.used:
                continue
            out.extend((_round_of(self.requests.get(parent)), c) for c in calls)
        return out


def _round_of(request: BaseModel | None) -> int | None:
    if isinstance(request, DraftRequest | DebateRequest | DebateJudgeRequest):
        return request.round
    if isinstance(request, ReviewRequest | JudgeRequest):
        return request.draft.round
    return None


def timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


T = TypeVar("T")


@dataclass
class Reply(Generic[T]):
    """A payload an agent produced and the model calls it took."""

    payload: T
    calls: list[ModelCall]


@dataclass
class SessionRound:
    number: int
    feedback: str | None = None
    drafts: list[Reply[Draft]] = field(default_factory=list)
    critiques: list[Reply[Critique]] = field(default_factory=list)
    verdicts: list[Reply[Verdict]] = field(default_factory=list)
    other_calls: list[ModelCall] = field(default_factory=list)


@dataclass
class SessionView:
    task: Task | None
    rounds: list[SessionRound]
    outcome: Outcome | None
    other_calls: list[ModelCall]
    call_count: int
    plot: Markup | None


def _accept_at(transcript: Transcript) -> float | None:
    judge = transcript.header.judge
    return judge.rules.accept_at if judge is not None and judge.rules is not None else None


def session_view(transcript: Transcript) -> SessionView:
    links = Linked.of(transcript.envelopes)
    rounds: dict[int, SessionRound] = {}

    def at(number: int) -> SessionRound:
        return rounds.setdefault(number, SessionRound(number))

    task: Task | None = None
    outcome: Outcome | None = None
    for e in transcript.envelopes:
        p = e.payload
        if isinstance(p, Task) and task is None:
            task = p
        elif isinstance(p, DraftRequest):
            at(p.round).feedback = p.feedback
        elif isinstance(p, Draft):
            at(p.round).drafts.append(Reply(p, links.of_reply(e)))
        elif isinstance(p, Critique):
            at(p.round).critiques.append(Reply(p, links.of_reply(e)))
        elif isinstance(p, Verdict):
            at(p.round).verdicts.append(Reply(p, links.of_reply(e)))
        elif isinstance(p, Outcome):
            outcome = p
    other: list[ModelCall] = []
    for number, call in links.leftover():
        if number is None:
            other.append(call)
        else:
            at(number).other_calls.append(call)
    ordered = [rounds[n] for n in sorted(rounds)]
    plot = _score_plot(ordered, _accept_at(transcript))
    return SessionView(task, ordered, outcome, other, sum(len(c) for c in links.calls.values()), plot)


def _score_plot(rounds: list[SessionRound], accept_at: float | None) -> Markup | None:
    roles: list[str] = []
    for r in rounds:
        roles.extend(c.payload.role for c in r.critiques if c.payload.role not in roles)
    if not rounds or not (roles or any(r.verdicts for r in rounds)):
        return None
    series = [Series(role, [Point(r.number, c.payload.score if c.payload.scored else None)
                            for r in rounds for c in r.critiques if c.payload.role == role])
              for role in roles]
    series.append(Series("aggregate", [Point(r.number, v.payload.aggregate)
                                       for r in rounds for v in r.verdicts], emphasis=True))
    bands = [Band("accept at", accept_at, series=len(series) - 1)] if accept_at is not None else []
    return line_plot(series, Axes("round", "score", bands=bands), label="scores per round")


@dataclass
class Cell:
    """One debater's answer in one round, what it cost and what the critics said of it."""

    answer: Answer
    calls: list[ModelCall]
    critiques: list[Reply[Critique]]
    changed_from: str | None = None
    changed: bool = False


@dataclass
class DebateRow:
    number: int
    cells: dict[str, Cell]
    round: DebateRound | None
    other_calls: list[ModelCall] = field(default_factory=list)


@dataclass
class DebateView:
    question: str
    debaters: list[str]
    rows: list[DebateRow]
    verdict: Reply[DebateVerdict] | None
    outcome: DebateOutcome | None
    other_calls: list[ModelCall]
    call_count: int
    plot: Markup | None


def debate_view(transcript: Transcript) -> DebateView:
    links = Linked.of(transcript.envelopes)
    debaters: list[str] = []
    answers: dict[tuple[int, str], Reply[Answer]] = {}
    critiques: dict[tuple[int, str], list[Reply[Critique]]] = defaultdict(list)
    finished: dict[int, DebateRound] = {}
    question = ""
    verdict: Reply[DebateVerdict] | None = None
    outcome: DebateOutcome | None = None
    for e in transcript.envelopes:
        p = e.payload
        if isinstance(p, Task) and not question:
            question = p.prompt
        elif isinstance(p, DebateRequest):
            question = question or p.question
            if p.debater not in debaters:
                debaters.append(p.debater)
        elif isinstance(p, Answer):
            answers[(p.round, p.debater)] = Reply(p, links.of_reply(e))
        elif isinstance(p, Critique):
            request = links.requests.get(e.parent or "")
            author = request.draft.author if isinstance(request, ReviewRequest) else ""
            critiques[(p.round, author)].append(Reply(p, links.of_reply(e)))
        elif isinstance(p, DebateRound):
            finished[p.round] = p
        elif isinstance(p, DebateVerdict):
            verdict = Reply(p, links.of_reply(e))
        elif isinstance(p, DebateOutcome):
            outcome = p
    numbers = sorted({n for n, _ in answers} | set(finished))
    rows: list[DebateRow] = []
    previous: dict[str, str | None] = {}
    for number in numbers:
        tallied = finished.get(number)
        # The round record holds the extracted answers; a bare Answer envelope does not.
        extracted = {a.debater: a for a in tallied.answers} if tallied else {}
        cells: dict[str, Cell] = {}
        for name in debaters + [d for n, d in answers if n == number and d not in debaters]:
            reply = answers.get((number, name))
            answer = extracted.get(name) or (reply.payload if reply else None)
            if answer is None:
                continue
            if name not in debaters:
                debaters.append(name)
            changed = tallied is not None and name in tallied.changed
            cells[name] = Cell(answer, reply.calls if reply else [], critiques.get((number, name), []),
                               changed_from=previous.get(name) if changed else None, changed=changed)
            if answer.status == "ok":
                previous[name] = answer.answer
        rows.append(DebateRow(number, cells, tallied))
    by_number = {row.number: row for row in rows}
    other: list[ModelCall] = []
    for named, call in links.leftover():
        if named is not None and named in by_number:
            by_number[named].other_calls.append(call)
        else:
            other.append(call)
    plot: Markup | None = None
    if finished:
        plot = line_plot([Series("agreement", [Point(n, r.agreement) for n, r in sorted(finished.items())],
                                 emphasis=True)],
                         Axes("round", "agreement"), label="agreement per round")
    return DebateView(question or (outcome.question if outcome else ""), debaters, rows, verdict, outcome,
                      other, sum(len(c) for c in links.calls.values()), plot)

