"""Scoring records with critics and a judge, many at a time.

A record becomes a :class:`~critic.messages.Task` (``input``, with ``target``
as its reference) and a round-1 :class:`~critic.messages.Draft` (``output``);
every critic reviews it concurrently through :func:`~critic.bus.hosting.review`
(so a critic that raises or times out is an unscored critique, as in a
session), then the judge decides. The default judge is a
:class:`~critic.judges.rules.ThresholdJudge` with ``max_rounds=1``: accept or discard.

Each record is reviewed in a clean critic state: its review requests belong to
no session, so an LLM critic neither remembers other records (whatever its
role's ``memory``) nor reuses a prompt cached from them, and scores do not
depend on the order records come in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import anyio

from critic.bus.hosting import review, with_cost
from critic.errors import CriticError
from critic.judges.rules import ThresholdJudge
from critic.messages import Critique, Draft, JudgeRequest, ModelCall, ReviewRequest, Task, Usage
from critic.protocols import Critic, Judge
from critic.scoring.records import ScoreRecord
from critic.scoring.results import ResultFile, ScoreResult

#: Called after each result is written: (result, records done, records with a failed role).
OnResult = Callable[[ScoreResult, int, int], None]


@dataclass
class Scorer:
    """Scores one record at a time; call :meth:`score` from as many tasks as you like."""

    critics: Sequence[Critic]
    judge: Judge

    async def _review(
        self, critic: Critic, request: ReviewRequest
    ) -> tuple[Critique, list[ModelCall]]:
        calls: list[ModelCall] = []

        async def record(call: ModelCall) -> None:
            calls.append(call)

        # perf_counter, not anyio.current_time(): the same clock on asyncio, a tenth of the
        # cost (no backend lookup), and wall time under trio's test clocks too.
        start = time.perf_counter()
        reply = with_cost(await review(critic, request, record), calls)
        assert isinstance(reply, Critique)
        if not calls and not reply.latency:  # no model: the work (e.g. running the code) is the review
            reply = reply.model_copy(update={"latency": time.perf_counter() - start})
        if reply.status == "ok" and reply.score is None:
            # Unscored is a failure to score, whatever the critic called it; the judge and
            # the output then agree that this role gave no score.
            reply = reply.model_copy(update={"status": "error",
                                             "error": reply.error or "the critic gave no score"})
        return reply, calls

    async def score(self, item: ScoreRecord) -> ScoreResult:
        start = time.perf_counter()
        # Validated constructors on purpose: measured, `model_construct` was 3x slower
        # here (it deep-copies every default in Python; validation copies them in Rust).
        task = Task(prompt=item.input, reference=None if item.target is None else str(item.target))
        draft = Draft(round=1, text=item.output)
        critiques: dict[str, Critique] = {}

        async def one(critic: Critic) -> None:
            # No session: a standalone review, in a clean state (see the module docstring).
            request = ReviewRequest(task=task, draft=draft, role=critic.name, session=None,
                                    metadata=item.metadata)
            critiques[critic.name], _ = await self._review(critic, request)

        if len(self.critics) == 1:  # no task group to pay for (a sixth of a record's cost)
            await one(self.critics[0])
        else:
            try:
                async with anyio.create_task_group() as tg:
                    for critic in self.critics:
                        tg.start_soon(one, critic)
            except ExceptionGroup as group:  # e.g. BusUnavailable: raised plainly, as with one
                matched, rest = group.split(CriticError)
                if matched is None or rest is not None:
                    raise
                first: BaseException = matched
                while isinstance(first, BaseExceptionGroup):
                    first = first.exceptions[0]
                raise first from None
        ordered = tuple(critiques[c.name] for c in self.critics)
        judge_calls: list[ModelCall] = []

        async def record(call: ModelCall) -> None:
            judge_calls.append(call)

        verdict = await self.judge.judge(JudgeRequest(task=task, draft=draft, critiques=ordered),
                                         record)
        usage = Usage.total((*(c.usage for c in ordered), *(c.usage for c in judge_calls)))
        # One validation of the whole line (its role scores and verdict included) rather
        # than one per part: each model built on its own pays Python's call overhead again.
        return ScoreResult.model_validate({
            "id": item.id,
            "critiques": {c.role: {
                "status": c.status, "score": c.score, "raw_score": c.raw_score,
                "problems": c.problems, "suggestion": c.suggestion, "error": c.error,
                "usage": c.usage, "latency": c.latency,
            } for c in ordered},
            "verdict": {"judge": self.judge.name, "decision": verdict.decision,
                        "reason": verdict.reason, "aggregate": verdict.aggregate},
            "usage": usage, "latency": time.perf_counter() - start, "target": item.target,
            "metadata": item.metadata,
        })


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

    async def worker(scope: anyio.CancelScope) -> None:
        nonlocal written, failed, error
        for item in pending:
            try:
                result = await scorer.score(item)
                out.write(result)
            except CriticError as exc:  # e.g. the output became unwritable: stop, say why
                error = error or exc
                scope.cancel()
                return
            written += 1
            failed += result.failed
            if on_result is not None:
                on_result(result, written, failed)

    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker, tg.cancel_scope)
    if error is not None:  # raised plainly, not inside an exception group
        raise error
    return written
