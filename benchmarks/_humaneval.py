"""HumanEval pieces the benchmarks share (not a benchmark: `make bench` skips `_*.py`).

The verified-oracle subset: the problems whose visible examples make a
trustworthy oracle for the ``doctests`` critic, checked as
``benchmarks/humaneval_oracle.py`` does (the canonical solution scores exactly
1.0 and a stub of it below 1.0; :func:`critic.grounding.humaneval.check_oracles`).
"""

from __future__ import annotations

from _common import log

from critic.backends.pool import ModelPool
from critic.experiments.datasets import CODE_INSTRUCTION
from critic.grounding.humaneval import HumanEvalProblem, check_oracles, load_humaneval
from critic.launch import build_critics
from critic.messages import Task
from critic.roles.registry import RoleRegistry


def task_of(problem: HumanEvalProblem) -> Task:
    """The task a session gets, as ``critic eval``'s ``humaneval`` dataset builds it."""
    # The examples also go in `tests` as bare code: the doctests critic reads a prompt
    # with prose in front as plain text, and then takes a docstring's closing quotes
    # for part of the last example's expected output (a canonical solution scored 0).
    return Task(prompt=CODE_INSTRUCTION + problem.prompt, tests=problem.prompt)


async def valid_oracles(limit: int | None, pool: ModelPool, registry: RoleRegistry
                        ) -> tuple[list[HumanEvalProblem], int]:
    """The first ``limit`` problems (None: all) whose visible examples are a verified oracle,
    and how many problems were checked to find them."""
    critic = build_critics([registry.get("doctests")], pool, seed=0)[0][0]
    problems = list(load_humaneval().values())
    chosen: list[HumanEvalProblem] = []
    checked = 0
    step = 8 if limit is None else min(8, limit)  # in order, a few at a time, until enough
    for start in range(0, len(problems), step):
        batch = problems[start:start + step]
        for problem, check in zip(batch, await check_oracles(batch, critic), strict=True):
            checked += 1
            if check.status == "verified":
                chosen.append(problem)
            else:
                log(f"{problem.task_id}: not a verified oracle ({check.status}"
                    f"{': ' + check.reason if check.reason else ''})")
            if limit is not None and len(chosen) == limit:
                return chosen, checked
    return chosen, checked
