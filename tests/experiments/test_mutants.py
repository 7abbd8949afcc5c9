"""Mutants made with ast, and HumanEval mutants labelled by their hidden tests in the real sandbox."""

from __future__ import annotations

import ast
import doctest

import pytest

from critic.errors import ConfigError, CriticError
from critic.experiments import mutants
from critic.experiments.mutants import (
    KINDS,
    Mutant,
    all_mutants,
    humaneval_mutants,
    mutant_set,
    mutate,
)
from critic.grounding.humaneval import HumanEvalProblem, load_humaneval
from critic.grounding.testing import run_check_tests

SOURCE = '''\
def helper(a: int) -> int:
    return a + 1


def total(xs: list[int], k: int) -> int:
    """Sum of the first k items below 10 (a docstring: 10 < 20 is not code)."""
    result = 0  # a comment stays as it is
    for i in range(k):
        if xs[i] < 10:
            result += xs[i]
    return result * helper(len(xs[:k]))


def small(x: float) -> bool:
    return (x)in(1, 2)
'''
FIRST = 5  # line of `def total`: the helper above is given code


def _programs(found: list[Mutant]) -> dict[str, str]:
    return {m.mutation.description: m.program for m in found}


def _with(old: str, new: str) -> str:
    assert SOURCE.count(old) == 1, old
    return SOURCE.replace(old, new)


def test_module_examples_hold() -> None:
    assert doctest.testmod(mutants).failed == 0


def test_every_kind_is_made_as_a_single_located_edit() -> None:
    found = _programs(all_mutants(SOURCE, first_line=FIRST))
    expected = {
        "line 9: comparison flipped: `<` → `>=`": _with("xs[i] < 10", "xs[i] >= 10"),
        "line 15: comparison flipped: `in` → `not in`": _with("(x)in(1, 2)", "(x)not in(1, 2)"),
        "line 8: off by one in a range() bound: `k` → `k + 1`": _with("range(k)", "range(k + 1)"),
        "line 8: off by one in a range() bound: `k` → `k - 1`": _with("range(k)", "range(k - 1)"),
        "line 11: off by one in a slice bound: `k` → `k + 1`": _with("xs[:k]", "xs[:k + 1]"),
        "line 9: off by one in an integer constant: `10` → `11`": _with("< 10:", "< 11:"),
        "line 7: off by one in an integer constant: `0` → `-1`": _with("result = 0", "result = -1"),
        "line 11: return value dropped: `result * helper(len(xs[:k]))` → `None`":
            _with("return result * helper(len(xs[:k]))", "return None"),
        "line 11: return value negated: `result * helper(len(xs[:k]))` → "
        "`-(result * helper(len(xs[:k])))`":
            _with("return result * helper(len(xs[:k]))", "return -(result * helper(len(xs[:k])))"),
        "line 15: return value negated: `(x)in(1, 2)` → `not ((x)in(1, 2))`":
            _with("return (x)in(1, 2)", "return not ((x)in(1, 2))"),
        "line 10: arithmetic operator swapped: `+=` → `-=`": _with("result += xs", "result -= xs"),
        "line 11: arithmetic operator swapped: `*` → `//`": _with("result * helper", "result // helper"),
    }
    for description, program in expected.items():
        assert found.get(description) == program, description
    assert {m.mutation.kind for m in all_mutants(SOURCE, first_line=FIRST)} == set(KINDS)


def test_given_code_docstrings_comments_and_fstrings_are_left_alone() -> None:
    found = all_mutants(SOURCE, first_line=FIRST)
    assert not any(m.mutation.line < FIRST for m in found)
    assert not any("10 < 20" not in m.program or "# a comment stays as it is" not in m.program
                   for m in found)
    # Inside an f-string only the whole returned value is touched, not `n + 1`.
    inside = all_mutants('def f(n: int) -> str:\n    return f"{n + 1}"\n')
    assert [m.mutation.kind for m in inside] == ["return-none"]


def test_moved_bounds_keep_their_meaning_with_parentheses() -> None:
    found = _programs(all_mutants("def f(a, b, c):\n    return range(a if b else c)\n"))
    assert found["line 2: off by one in a range() bound: `a if b else c` → `(a if b else c) + 1`"] == (
        "def f(a, b, c):\n    return range((a if b else c) + 1)\n")


def test_every_humaneval_mutant_parses_keeps_the_prompt_and_changes_its_line() -> None:
    for problem in load_humaneval().values():
        program = problem.prompt + problem.canonical_solution
        found = mutate(program, seed=0, first_line=problem.prompt.count("\n") + 1)
        assert found, problem.task_id
        for mutant in found:
            assert mutant.program.startswith(problem.prompt)
            ast.parse(mutant.program)
            before, after = program.splitlines(), mutant.program.splitlines()
            changed = next(i for i, (x, y) in enumerate(zip(before, after, strict=False)) if x != y)
            assert changed + 1 == mutant.mutation.line, (problem.task_id, mutant.mutation)


def test_the_seed_orders_the_same_mutants_and_kinds_take_turns() -> None:
    first = mutate(SOURCE, seed=3, first_line=FIRST)
    assert first == mutate(SOURCE, seed=3, first_line=FIRST)
    other = mutate(SOURCE, seed=4, first_line=FIRST)
    assert other != first
    assert sorted(m.program for m in other) == sorted(m.program for m in first)
    assert len({m.mutation.kind for m in first[:len(KINDS)]}) == len(KINDS)


def test_code_that_does_not_parse_is_one_clear_error() -> None:
    with pytest.raises(CriticError, match="source: line 2: "):
        all_mutants("def f(x):\n    return x +\n")


def _problem(task_id: str, solution: str, test: str) -> HumanEvalProblem:
    return HumanEvalProblem(task_id=task_id, prompt="def double(x: int) -> int:\n",
                            canonical_solution=solution, test=test, entry_point="double")


@pytest.mark.anyio
async def test_mutants_that_still_pass_are_dropped(anyio_backend: str) -> None:
    # `candidate(0) == 0` cannot tell most mutants of `x * 2` apart from it.
    weak = _problem("weak/0", "    return x * 2\n", "def check(candidate):\n    assert candidate(0) == 0\n")
    built = await mutant_set([weak], seed=0, per_problem=3, max_tries=20, concurrency=2)
    failing = [r for r in built.records if r.label == "fail"]
    assert built.tried == len(all_mutants(weak.prompt + weak.canonical_solution, first_line=2))
    assert built.survived == built.tried - len(failing) > 0
    for record in failing:
        report = await run_check_tests(record.output, weak.test, weak.entry_point)
        assert report.fraction < 1.0, record.mutation


@pytest.mark.anyio
async def test_a_canonical_solution_that_fails_stops_the_build(anyio_backend: str) -> None:
    wrong = _problem("wrong/0", "    return x + 2\n",
                     "def check(candidate):\n    assert candidate(3) == 6\n")
    with pytest.raises(CriticError, match=r"wrong/0: the canonical solution fails its hidden tests"):
        await mutant_set([wrong], seed=0, concurrency=2)


@pytest.mark.anyio
async def test_humaneval_labels_are_what_the_hidden_tests_say(anyio_backend: str) -> None:
    ids = ["HumanEval/0", "HumanEval/12", "HumanEval/35"]
    built = await humaneval_mutants(7, per_problem=2, task_ids=ids, concurrency=2)
    problems = load_humaneval()
    assert [r.id for r in built.records if r.label == "pass"] == [f"{t}/canonical" for t in ids]
    assert built.problems == 3 and built.problems_with_mutants == 3
    assert sum(r.label == "fail" for r in built.records) == 6
    for record in built.records:
        problem = problems[record.task_id]
        assert record.input == problem.prompt and record.output.startswith(problem.prompt)
        report = await run_check_tests(record.output, problem.test, problem.entry_point)
        if record.label == "pass":
            assert record.mutation is None and report.fraction == 1.0
        else:
            assert record.mutation is not None and report.fraction < 1.0, record.mutation
            assert record.tests_passed < record.tests_total


@pytest.mark.anyio
async def test_the_same_seed_builds_the_same_set(anyio_backend: str) -> None:
    ids = ["HumanEval/2", "HumanEval/23"]
    first = await humaneval_mutants(1, per_problem=2, task_ids=ids, concurrency=2)
    assert first == await humaneval_mutants(1, per_problem=2, task_ids=ids, concurrency=2)
    other = await humaneval_mutants(2, per_problem=2, task_ids=ids, concurrency=2)
    assert [r.output for r in other.records] != [r.output for r in first.records]


@pytest.mark.anyio
async def test_bad_requests_are_config_errors(anyio_backend: str) -> None:
    with pytest.raises(ConfigError, match="task_ids: not HumanEval problems: HumanEval/999"):
        await humaneval_mutants(0, task_ids=["HumanEval/1", "HumanEval/999"])
    with pytest.raises(ConfigError, match="per_problem: must be at least 1"):
        await humaneval_mutants(0, per_problem=0)


@pytest.mark.slow
@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_build_for_twenty_problems(anyio_backend: str) -> None:
    built = await humaneval_mutants(0, per_problem=3, limit=20, concurrency=2)
    assert built.problems == 20
    assert [r.task_id for r in built.records if r.label == "pass"] == [
        f"HumanEval/{i}" for i in range(20)]
    assert built.problems_with_mutants >= 18
    failing = [r for r in built.records if r.label == "fail"]
    assert len(failing) == built.tried - built.survived
    assert all(r.tests_passed < r.tests_total for r in failing)
    assert {r.mutation.kind for r in failing if r.mutation} == set(KINDS)
