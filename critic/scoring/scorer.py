"""Scoring records with critics and a judge, many at a time.

A record becomes a :class:`~critic.messages.Task` (``input``, with ``target``
as its reference) and a round-1 :class:`~critic.messages.Draft` (``output``);
every critic reviews it concurrently through :func:`~critic.bus.agents.review`
(so a critic that raises or times out is an unscored critique, as in a
session), then the judge decides. :func:`score_all`'s workers score a single
critic's records through :func:`~critic.bus.agents.review_each`: the same
critiques, each review still ended at the critic's timeout, with one watchdog
per worker instead of a cancel scope and a timer per review. The default judge is a
:class:`~critic.judges.rules.ThresholdJudge` with ``max_rounds=1``: accept or discard.
A ``ThresholdJudge`` is asked for its :meth:`~critic.judges.rules.ThresholdJudge.ruling`
directly (the decision, reason and aggregate its verdict would carry), any other
judge through its ``judge`` method.

Each record is reviewed in a clean critic state: its review requests belong to
no session, so an LLM critic neither remembers other records (whatever its
role's ``memory``) nor reuses a prompt cached from them, and scores do not
depend on the order records come in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import anyio

from critic.bus.agents import review, review_each
from critic.bus.hosting import with_cost
from critic.errors import CriticError
from critic.judges.rules import Ruling, ThresholdJudge
from critic.messages import Critique, JudgeRequest, ModelCall, ReviewRequest, Usage, Verdict
from critic.protocols import Critic, Judge, Recorder
from critic.scoring.records import ScoreRecord
from critic.scoring.results import ResultFile, ScoreResult

#: Called after each result is written: (result, records done, records with a failed role).
OnResult = Callable[[ScoreResult, int, int], None]


class _Calls(list[ModelCall]):
    """The model calls of one review or verdict, and the recorder that collects them."""

    async def record(self, call: ModelCall) -> None:
        self.append(call)


class _Reviewed(NamedTuple):
    """A critique with the cost of its model calls, and the review's wall-clock time when
    that is its latency (no model called, none given): copied onto it only for a judge that
    may read it (see :meth:`Scorer._result`)."""

    critique: Critique
    wall: float | None

    @property
    def latency(self) -> float:
        return self.critique.latency if self.wall is None else self.wall

    def role_score(self) -> dict[str, object]:
        """What a result line keeps of it (a :class:`~critic.scoring.results.RoleScore`)."""
        c = self.critique
        return {"status": c.status, "score": c.score, "raw_score": c.raw_score,
                "problems": c.problems, "suggestion": c.suggestion, "error": c.error,
                "usage": c.usage, "latency": self.latency}

    def timed(self) -> Critique:
        """The critique carrying its latency."""
        if self.wall is None:
            return self.critique
        return self.critique.model_copy(update={"latency": self.wall})


class _Pending(NamedTuple):
    """A record whose single critic is reviewing it (see :meth:`Scorer.score_each`)."""

    item: ScoreRecord
    request: ReviewRequest
    calls: _Calls
    start: float
    """When scoring the record began."""
    reviewing: float
    """When its review began."""


@dataclass
class Scorer:
    """Scores one record at a time; call :meth:`score` from as many tasks as you like."""

    critics: Sequence[Critic]
    judge: Judge

    def _first_request(self, item: ScoreRecord) -> ReviewRequest:
        """The first critic's review request. No session: each review starts clean (see above)."""
        # The task, the draft and the request in one validation (nested data, the same
        # validators): three models built one by one pay Python's call overhead thrice,
        # and model_construct was slower still (it copies every default in Python).
        return ReviewRequest.model_validate({
            "task": {"prompt": item.input,
                     "reference": None if item.target is None else str(item.target)},
            "draft": {"round": 1, "text": item.output},
            "role": self.critics[0].name if self.critics else "", "session": None,
            "metadata": item.metadata,
        })

    def _requests(self, item: ScoreRecord) -> list[ReviewRequest]:
        """One review request per critic, all of the same task and draft."""
        first = self._first_request(item)
        return [first, *(
            ReviewRequest(task=first.task, draft=first.draft, role=critic.name, session=None,
                          metadata=item.metadata)
            for critic in self.critics[1:]
        )]

    @staticmethod
    def _cost(reply: Critique, calls: Sequence[ModelCall], start: float) -> _Reviewed:
        """``reply`` with the cost of its model calls, or its wall-clock time if it made none."""
        wall = None
        if calls:
            costed = with_cost(reply, calls)
            assert isinstance(costed, Critique)
            reply = costed
        elif not reply.latency:  # no model: the work (e.g. running the code) is the review
            wall = time.perf_counter() - start
        if reply.status == "ok" and reply.score is None:
            # Unscored is a failure to score, whatever the critic called it; the judge and
            # the output then agree that this role gave no score.
            reply = reply.model_copy(update={"status": "error",
                                             "error": reply.error or "the critic gave no score"})
        return _Reviewed(reply, wall)

    async def _review(self, critic: Critic, request: ReviewRequest) -> _Reviewed:
        calls = _Calls()
        # perf_counter, not anyio.current_time(): the same clock on asyncio, a tenth of the
        # cost (no backend lookup), and wall time under trio's test clocks too.
        start = time.perf_counter()
        return self._cost(await review(critic, request, calls.record), calls, start)

    async def _result(
        self, item: ScoreRecord, request: ReviewRequest, reviewed: Sequence[_Reviewed],
        start: float,
    ) -> ScoreResult:
        """The judge's verdict on ``reviewed`` (one per critic, in order), as a result line."""
        judge_calls = _Calls()
        judge = self.judge
        verdict: Verdict | Ruling
        if type(judge) is ThresholdJudge:  # exactly: a subclass may judge otherwise
            # The default judge asked directly: a line keeps only the decision, the reason
            # and the aggregate, so no request, feedback or Verdict is built to be dropped;
            # nor a critique copied to carry a latency that no ruling reads.
            verdict = judge.ruling([r.critique for r in reviewed], request.draft.round)
        else:
            ordered = tuple(r.timed() for r in reviewed)
            verdict = await judge.judge(
                JudgeRequest(task=request.task, draft=request.draft, critiques=ordered),
                judge_calls.record,
            )
        usage = Usage.total([*[r.critique.usage for r in reviewed],
                             *[c.usage for c in judge_calls]])
        # One validation of the whole line (its role scores and verdict included) rather
        # than one per part: each model built on its own pays Python's call overhead again.
        return ScoreResult.model_validate({
            "id": item.id,
            "critiques": {r.critique.role: r.role_score() for r in reviewed},
            "verdict": {"judge": judge.name, "decision": verdict.decision,
                        "reason": verdict.reason, "aggregate": verdict.aggregate},
            "usage": usage, "latency": time.perf_counter() - start, "target": item.target,
            "metadata": item.metadata,
        })

    async def score(self, item: ScoreRecord) -> ScoreResult:
        start = time.perf_counter()
        requests = self._requests(item)
        if len(self.critics) == 1:  # no task group to pay for (a sixth of a record's cost)
            ordered: tuple[_Reviewed, ...] = (await self._review(self.critics[0], requests[0]),)
        else:
            critiques: dict[str, _Reviewed] = {}

            async def one(critic: Critic, request: ReviewRequest) -> None:
                critiques[critic.name] = await self._review(critic, request)

            try:
                async with anyio.create_task_group() as tg:
                    for critic, request in zip(self.critics, requests, strict=True):
                        tg.start_soon(one, critic, request)
            except ExceptionGroup as group:  # e.g. BusUnavailable: raised plainly, as with one
                matched, rest = group.split(CriticError)
                if matched is None or rest is not None:
                    raise
                first: BaseException = matched
                while isinstance(first, BaseExceptionGroup):
                    first = first.exceptions[0]
                raise first from None
            ordered = tuple(critiques[c.name] for c in self.critics)
        return await self._result(item, requests[0], ordered, start)

    async def score_each(self, items: Iterator[ScoreRecord],
                         done: Callable[[ScoreResult], None]) -> None:
        """Score ``items`` one after another, handing each result to ``done`` as it is ready.

        The results are :meth:`score`'s. With a single critic its reviews go through
        :func:`~critic.bus.agents.review_each`, which bounds each by the critic's
        timeout with one watchdog for them all rather than a timer per review.
        """
        if len(self.critics) != 1:
            for item in items:
                done(await self.score(item))
            return

        def pending() -> Iterator[tuple[ReviewRequest, Recorder, _Pending]]:
            for item in items:
                start = time.perf_counter()
                request = self._first_request(item)
                calls = _Calls()
                yield request, calls.record, _Pending(item, request, calls, start,
                                                      time.perf_counter())

        async def reviewed(p: _Pending, reply: Critique) -> None:
            done(await self._result(p.item, p.request, (self._cost(reply, p.calls, p.reviewing),),
                                    p.start))

        await review_each(self.critics[0], pending(), reviewed)


def default_judge(accept_at: float = 0.8) -> ThresholdJudge:
    """One round, so every verdict is accept or discard."""
    return ThresholdJudge(accept_at=accept_at, max_rounds=1)


async def score_all(
    scorer: Scorer,
    records: Iterable[ScoreRecord],
    out: ResultFile,
    *,
    concurrency: int = 4,
    on_result: OnResult | None = None,
) -> int:
    """Score every record not already in ``out``, ``concurrency`` at a time.

    Each result is written (and flushed) the moment it is ready, so the file
    is in completion order. Cancelling stops cleanly: records in flight are
    dropped unwritten, every line already written stays whole. Returns how
    many results were written.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    written = failed = 0
    error: CriticError | None = None
    # A pool of `concurrency` workers pulling from one iterator, rather than a task and a
    # capacity-limiter round per record (half of a model-free record's cost). The
    # iterator is only advanced between awaits, so no two workers take the same record.
    pending = (item for item in records if item.id not in out.done)

    def done(result: ScoreResult) -> None:
        nonlocal written, failed
        out.write(result)
        written += 1
        failed += result.failed
        if on_result is not None:
            on_result(result, written, failed)

    async def worker(scope: anyio.CancelScope) -> None:
        nonlocal error
        try:
            await scorer.score_each(pending, done)
        except CriticError as exc:  # e.g. the output became unwritable: stop, say why
            error = error or exc
            scope.cancel()

    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker, tg.cancel_scope)
    if error is not None:  # raised plainly, not inside an exception group
        raise error
    return written
