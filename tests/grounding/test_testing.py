"""The doctests critic and HumanEval check tests, run in the sandbox (no model)."""

from __future__ import annotations

import pytest

from critic.backends.pool import ModelPool
from critic.errors import CriticError, SuiteError
from critic.grounding.humaneval import HumanEvalProblem, load_humaneval
from critic.grounding.testing import Suite, run_check_tests, run_suite, suite_for
from critic.messages import Critique, Draft, ReviewRequest, Task
from critic.protocols import CriticContext
from critic.roles.kinds import default_kinds
from critic.roles.registry import RoleRegistry

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def problems() -> dict[str, HumanEvalProblem]:
    return load_humaneval()


async def review(task: Task, draft: str, role: str = "doctests") -> Critique:
    critic = default_kinds().build(RoleRegistry().get(role), CriticContext(ModelPool(None)))

    async def record(call: object) -> None:
        raise AssertionError("a doctest critic calls no model")

    request = ReviewRequest(task=task, role=role, draft=Draft(round=1, text=draft, author="g"))
    return await critic.review(request, record)


async def test_wrong_humaneval_draft_names_the_failing_example(
    anyio_backend: str, problems: dict[str, HumanEvalProblem]
) -> None:
    problem = problems["HumanEval/0"]
    wrong = ("```python\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
             "    return False\n```")
    critique = await review(Task(prompt=problem.prompt), wrong)
    assert critique.score == 0.5
    assert critique.problems == (
        ">>> has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3) → expected True, got False"
        .join(["failing: ", ""]),
    )
    assert critique.suggestion.startswith("1/2 tests pass")


async def test_canonical_solution_scores_one(
    anyio_backend: str, problems: dict[str, HumanEvalProblem]
) -> None:
    problem = problems["HumanEval/2"]
    critique = await review(Task(prompt=problem.prompt), problem.prompt + problem.canonical_solution)
    assert critique.score == 1.0 and critique.problems == ()


async def test_check_tests_from_the_task_list_expected_vs_actual(
    anyio_backend: str, problems: dict[str, HumanEvalProblem]
) -> None:
    problem = problems["HumanEval/0"]
    task = Task(prompt=problem.prompt, tests=problem.test)
    good = await review(task, problem.prompt + problem.canonical_solution, role="doctests")
    assert good.score == 1.0
    bad = await review(task, problem.prompt + "    return True\n")
    assert bad.score is not None and 0 < bad.score < 1
    assert any("expected False, got True" in p and "candidate([1.0, 2.0, 3.9" in p
               for p in bad.problems), bad.problems


async def test_draft_that_does_not_load(anyio_backend: str) -> None:
    task = Task(prompt="Write add(a, b).", tests="assert add(1, 2) == 3\nassert add(0, 0) == 0\n")
    critique = await review(task, "def add(a, b)\n    return a + b")
    assert critique.score == 0.0
    assert critique.problems[0].startswith("the code does not run:")
    assert "SyntaxError" in critique.problems[0]


async def test_infinite_loop_in_one_case_fails_only_that_case(anyio_backend: str) -> None:
    task = Task(prompt="f", tests="assert f(1) == 1\nassert f(2) == 2\n")
    critique = await review(task, "def f(x):\n    while x == 2:\n        pass\n    return x")
    assert critique.score == 0.5
    assert "TimeoutError" in critique.problems[0] and "f(2) == 2" in critique.problems[0]


def test_test_sources() -> None:
    doc = suite_for(Task(prompt="p", tests=">>> 1 + 1\n2\n"))
    assert [c.label for c in doc.cases] == [">>> 1 + 1"]
    asserts = suite_for(Task(prompt="p", reference="x = 2\nassert x == 2\n"))
    assert [c.label for c in asserts.cases] == ["assert x == 2"] and asserts.setup == ("x = 2",)
    with pytest.raises(CriticError, match="the task has no tests"):
        suite_for(Task(prompt="Write a poem."))


async def test_canonical_solutions_pass_their_check_tests(
    anyio_backend: str, problems: dict[str, HumanEvalProblem]
) -> None:
    for task_id in ("HumanEval/0", "HumanEval/10", "HumanEval/32"):
        problem = problems[task_id]
        report = await run_check_tests(problem.prompt + problem.canonical_solution,
                                       problem.test, problem.entry_point)
        assert report.fraction == 1.0, (task_id, report.cases)
        assert report.cases  # HumanEval/32's one case is a loop of asserts
    problem = problems["HumanEval/0"]
    report = await run_check_tests(problem.prompt + "    return False\n", problem.test,
                                   problem.entry_point)
    assert len(report.cases) == 7 and 0 < report.fraction < 1
    failing = [c for c in report.cases if not c.passed]
    assert all(c.expected == "True" and c.actual == "False" for c in failing)


INSTRUCTION = "Complete the following Python function in one ```python code block.\n\n"


async def test_prose_before_the_prompt_code_still_scores_a_correct_solution(
    anyio_backend: str, problems: dict[str, HumanEvalProblem]
) -> None:
    # Before, the closing quotes became part of the last expected output: 0 for a correct draft.
    problem = problems["HumanEval/2"]
    task = Task(prompt=INSTRUCTION + problem.prompt)
    good = await review(task, f"```python\n{problem.prompt}{problem.canonical_solution}```")
    assert good.score == 1.0, good.problems
    bad = await review(task, "```python\ndef truncate_number(number: float) -> float:\n"
                             "    return number\n```")
    assert bad.score == 0.0
    assert bad.problems == ("failing: >>> truncate_number(3.5) → expected 0.5, got 3.5",)


async def test_expected_values_compare_as_values_and_bools_only_equal_bools(
    anyio_backend: str
) -> None:
    prompt = ('def f(n):\n    """\n    >>> f(12)\n    "21"\n\n    f(1) => True\n    """\n')
    task = Task(prompt=prompt)
    right = await review(task, "def f(n):\n    return '21' if n == 12 else True\n")
    assert right.score == 1.0, right.problems
    loose = await review(task, "def f(n):\n    return '21' if n == 12 else 1\n")
    assert loose.score == 0.5
    assert loose.problems == ("failing: f(1) → expected True, got 1",)


async def test_a_huge_actual_value_is_cut_in_the_critique(anyio_backend: str) -> None:
    task = Task(prompt='def f(n):\n    """\n    f(1) => 1\n    """\n')
    critique = await review(task, "def f(n):\n    return 7 ** 2700\n")
    assert critique.score == 0.0
    digits = str(7 ** 2700)
    assert critique.problems == (
        f"failing: f(1) → expected 1, got {digits[:200]}… [cut: {len(digits):,} characters in all]",
    )


async def test_steps_run_in_order_and_helpers_of_the_prompt_stay(anyio_backend: str) -> None:
    prompt = ('def helper(x):\n    return x * 10\n\n\n'
              'def f(items):\n    """\n    >>> items = [3, 1]\n    >>> items.sort()\n'
              '    >>> f(items)\n    [10, 30]\n    """\n')
    # The draft writes only the asked-for function; it calls the prompt's helper.
    critique = await review(Task(prompt=prompt),
                            "```python\ndef f(items):\n    return [helper(i) for i in items]\n```")
    assert critique.score == 1.0, critique.problems
    assert critique.suggestion.startswith("1/1 tests pass")


async def test_an_empty_suite_is_an_error_not_a_score(anyio_backend: str) -> None:
    with pytest.raises(SuiteError, match="no tests"):
        await run_suite("x = 1\n", Suite(cases=()))
    with pytest.raises(SuiteError, match="no tests"):
        await run_check_tests("def f(): pass\n", "def check(candidate):\n    pass\n", "f")
