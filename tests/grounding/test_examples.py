"""Reading test cases from the examples a prompt shows (no sandbox, no model)."""

from __future__ import annotations

import contextlib
import functools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from critic.errors import CriticError, SuiteError
from critic.grounding.examples import Case, extract_visible_tests, locate_code, prompt_context
from critic.grounding.humaneval import HumanEvalProblem, load_humaneval, stub_program
from critic.grounding.testing import entry_point_of, suite_for, unit_test_suite
from critic.messages import Task

INSTRUCTION = ("Complete the following Python function. Reply with the whole function, "
               "signature included, in one ```python code block.\n\n")


@pytest.fixture(scope="module")
def problems() -> dict[str, HumanEvalProblem]:
    return load_humaneval()


def pairs(cases: tuple[Case, ...]) -> list[tuple[str, str]]:
    return [(c.source, c.want) for c in cases]


def prompt(doc: str, signature: str = "def f(x):") -> str:
    body = "\n".join("    " + line if line else "" for line in doc.strip("\n").split("\n"))
    return f'{signature}\n    """\n{body}\n    """\n'


def test_doctests_with_prose_before_the_code_end_at_the_docstring(
    problems: dict[str, HumanEvalProblem]
) -> None:
    # The old reader took the closing quotes for part of the last expected output.
    problem = problems["HumanEval/0"]
    found = extract_visible_tests(INSTRUCTION + problem.prompt)
    assert pairs(found.cases) == [
        ("has_close_elements([1.0, 2.0, 3.0], 0.5)", "False\n"),
        ("has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3)", "True\n"),
    ]
    first = found.cases[0].line
    assert first is not None
    assert (INSTRUCTION + problem.prompt).split("\n")[first - 1].strip().startswith(">>> has_close")


def test_prose_around_the_code_changes_no_case(problems: dict[str, HumanEvalProblem]) -> None:
    for problem in problems.values():
        plain = extract_visible_tests(problem.prompt, problem.entry_point)
        wrapped = extract_visible_tests(INSTRUCTION + problem.prompt + "\nThank you.\n",
                                        problem.entry_point)
        assert pairs(wrapped.cases) == pairs(plain.cases), problem.task_id
        assert [s.reason for s in wrapped.skipped] == [s.reason for s in plain.skipped]


def test_a_misindented_docstring_reads_as_written(problems: dict[str, HumanEvalProblem]) -> None:
    # HumanEval/51's "\n" inside an example made doctest's parser raise ValueError.
    found = extract_visible_tests(problems["HumanEval/51"].prompt)
    assert ('remove_vowels("abcdef\\nghijklm")', "'bcdf\\nghjklm'\n") in pairs(found.cases)
    assert len(found.cases) == 6 and not found.skipped


def test_a_comparison_with_no_output_asserts_that_it_holds() -> None:
    found = extract_visible_tests(prompt(">>> f(1) == 2\n>>> f(2)\n4\n"))
    assert pairs(found.cases) == [("f(1) == 2", "True\n"), ("f(2)", "4\n")]


def test_an_example_with_no_output_is_a_step_not_a_test() -> None:
    found = extract_visible_tests(prompt(">>> items = [3, 1]\n>>> items.sort()\n>>> f(items)\n[1, 3]\n"))
    assert [(c.source, c.checked) for c in found.cases] == [
        ("items = [3, 1]", False), ("items.sort()", False), ("f(items)", True)]
    assert [(s.line, s.text, s.reason) for s in found.skipped] == [
        (4, ">>> items.sort()", "no expected output below it: run for its effects, not checked")]
    assert [c.source for c in found.checked] == ["f(items)"]


@pytest.mark.parametrize("line, source, want", [
    ('f("abAB") => 131', 'f("abAB")', "131"),
    ("f([1, 2], 5) ➞ False ", "f([1, 2], 5)", "False"),
    ("f(-1) ==> True", "f(-1)", "True"),
    ("f(5, 6, 10) -> [11, 4]", "f(5, 6, 10)", "[11, 4]"),
    ("f([]) == None", "f([])", "None"),
    ("f(12, 15) = 14", "f(12, 15)", "14"),
    ("f('Hi') returns 'Hi'", "f('Hi')", "'Hi'"),
    ("f(15)   # returns \"db1111db\"", "f(15)", "'db1111db'"),
    ('f("x.txt") # => \'Yes\'', 'f("x.txt")', "'Yes'"),
    ("f({'a': 1}) should return True.", "f({'a': 1})", "True"),
    ("f(148, 412) should return 16.", "f(148, 412)", "16"),
    ("* f([5]) => [5]", "f([5])", "[5]"),
    ("- f(1) => 1", "f(1)", "1"),
    ("for f(7, 34, 12) == 34", "f(7, 34, 12)", "34"),
    ("assert f(['aa']) => ['aa']", "f(['aa'])", "['aa']"),
    ("f(1, 4) => true", "f(1, 4)", "True"),
    ("f(3, 2) => false", "f(3, 2)", "False"),
    ("f(5) returns [1, 5] # The sequence for 5 is [5, 16, 8, 4, 2, 1]", "f(5)", "[1, 5]"),
    ('f("#a@C") = "#A@c"', 'f("#a@C")', "'#A@c'"),
    ("f('[]]]') ➞ False", "f('[]]]')", "False"),
    ('f("5 apples", 19) ->19 - 5 - 6 = 8', 'f("5 apples", 19)', "8"),
    ("f([1, 3, 2, 0]) == 1 + 9 + 0 + 0 = 10", "f([1, 3, 2, 0])", "10"),
    ("f(-12) ==> (1, 1)", "f(-12)", "(1, 1)"),
    ('f("Jupiter") ==> ("Saturn", "Uranus")', 'f("Jupiter")', "('Saturn', 'Uranus')"),
    ("f(3, 4, 5) == 6.00", "f(3, 4, 5)", "6.0"),
])
def test_example_lines(line: str, source: str, want: str) -> None:
    found = extract_visible_tests(prompt(f"Examples:\n{line}\nMore prose.", "def f(*args):"))
    assert pairs(found.cases) == [(source, want)] and not found.skipped


def test_a_call_over_several_lines() -> None:
    found = extract_visible_tests(prompt("f([\n  [1, 2],\n  [3, 4]\n], 1) == [(0, 0)]\nf([], 1) == []"))
    assert pairs(found.cases) == [("f([[1, 2], [3, 4]], 1)", "[(0, 0)]"), ("f([], 1)", "[]")]


@pytest.mark.parametrize("line, reason", [
    ("f(a) => False", "the arguments are not Python literals"),
    ("g(1) => 2", "calls g, which the prompt does not define"),
    ("f(1) # => 'No' (the name should start with a letter)", "is not a Python literal"),
    ('f("Earth") ==> ("Venus")', "is ambiguous: a tuple of one, or just 'Venus'?"),
    ('f(["a", "bb"]) == ""aaaaaaa"', "is not a Python literal"),
    ("f(1) -> 2 + 2 = 5", "the arithmetic does not give 5"),
])
def test_ambiguous_examples_are_skipped_and_listed(line: str, reason: str) -> None:
    text = prompt(f"Examples:\n{line}\n")
    found = extract_visible_tests(text)
    assert not found.cases
    assert len(found.skipped) == 1
    skipped = found.skipped[0]
    assert reason in skipped.reason
    assert text.split("\n")[skipped.line - 1].strip() == line.strip()


def test_a_function_defined_by_a_formula_gives_no_examples() -> None:
    # tri(4) = 3 describes the recurrence; the function returns a list.
    text = prompt("tri(1) = 3\ntri(n) = 1 + n / 2, if n is even.\ntri(4) = 3\n", "def tri(n):")
    found = extract_visible_tests(text)
    assert not found.cases
    assert [s.line for s in found.skipped] == [3, 4, 5]
    assert all("by a formula" in s.reason for s in found.skipped if s.line != 4)


@pytest.mark.parametrize("doc, source, want", [
    ("For lst = [1,2,3] the output should be 14", "g([1,2,3])", "14"),
    ("For lst = []  the output should be 0.", "g([])", "0"),
    ("For lst = 1000, the sum of digits will be 1 the output should be \"1\".", "g(1000)",
     "'1'"),
    ("Input: [4,2,3]\nOutput: [2, 1]\nExplanation: 2 is the smallest.", "g([4,2,3])", "[2, 1]"),
    ("Input: lst = [1, 2]\nOutput: 3 # sum of 1 + 2", "g([1, 2])", "3"),
])
def test_named_inputs_of_a_one_argument_function(doc: str, source: str, want: str) -> None:
    found = extract_visible_tests(prompt(doc, "def g(lst):"))
    assert pairs(found.cases) == [(source, want)] and not found.skipped


def test_named_inputs_bind_by_parameter_name_in_signature_order() -> None:
    text = prompt('For c = "ae", s = "abcde", the result should be (\'bcd\',False)\n'
                  "Input: s = \"ab\", c = \"b\"\nOutput: ('a', True)\n"
                  "Input:\n    grid : [[0, 1]]\n    bucket : 1\nOutput: 6\n"
                  "Input: s = \"a\", k = 1\nOutput: 1\n", "def h(s, c):")
    found = extract_visible_tests(text)
    assert pairs(found.cases) == [('h("abcde", "ae")', "('bcd', False)"),
                                  ('h("ab", "b")', "('a', True)")]
    assert [s.reason for s in found.skipped] == [
        "cannot tell which value is which of the 2 arguments",
        "names s, k, but the function takes (s, c)",
    ]


def test_examples_of_helper_functions_count_and_the_entry_point_is_the_last_def() -> None:
    text = ("def helper(x):\n    \"\"\"\n    helper(2) => 4\n    \"\"\"\n    return 2 * x\n\n\n"
            + prompt("main(1) => 5", "def main(y):"))
    found = extract_visible_tests(text)
    assert found.entry_point == "main"
    assert pairs(found.cases) == [("helper(2)", "4"), ("main(1)", "5")]


def test_humaneval_coverage_of_extraction(problems: dict[str, HumanEvalProblem]) -> None:
    with_tests = [p.task_id for p in problems.values()
                  if extract_visible_tests(p.prompt, p.entry_point).checked]
    assert len(with_tests) >= 153, len(with_tests)
    for problem in problems.values():
        assert entry_point_of(problem.prompt) == problem.entry_point  # what the critic infers


def test_no_tests_is_an_error_naming_what_was_skipped() -> None:
    with pytest.raises(SuiteError, match="the task has no tests"):
        suite_for(Task(prompt="Write a poem."))
    text = prompt("is_happy(a) => False\n", "def is_happy(s):")
    with pytest.raises(SuiteError, match=r"line 3: is_happy\(a\) => False: the arguments are not"):
        suite_for(Task(prompt=text))
    with pytest.raises(SuiteError, match="hold no test case"):
        suite_for(Task(prompt=text, tests="there is nothing to run here"))
    with pytest.raises(SuiteError, match="tests: line 1"):
        unit_test_suite("assert f(1) = 2\n")
    assert issubclass(SuiteError, CriticError)


def test_tests_field_with_the_prompt_as_examples(problems: dict[str, HumanEvalProblem]) -> None:
    # benchmarks/humaneval_repair passes the prompt's code as the task's tests.
    problem = problems["HumanEval/66"]
    suite = suite_for(Task(prompt=INSTRUCTION + problem.prompt, tests=problem.prompt))
    assert [c.source for c in suite.cases][:2] == ['digitSum("")', 'digitSum("abAB")']


def test_prompt_context_keeps_helpers_and_imports_not_the_entry_point(
    problems: dict[str, HumanEvalProblem]
) -> None:
    context = prompt_context(INSTRUCTION + problems["HumanEval/10"].prompt)
    assert "def is_palindrome(string: str) -> bool:" in context
    assert "make_palindrome" not in context
    assert prompt_context(problems["HumanEval/32"].prompt).startswith("import math\n")
    assert prompt_context("f") == "" and prompt_context("Write a poem.") == ""


def test_stub_keeps_helpers_and_replaces_only_the_entry_body(
    problems: dict[str, HumanEvalProblem]
) -> None:
    stub = stub_program(problems["HumanEval/10"])
    assert "return string == string[::-1]" in stub  # the helper is intact
    entry = stub[stub.index("def make_palindrome"):]
    assert entry.rstrip().endswith("return None") and entry.count("\n    ") == 1


def test_locate_code_finds_code_between_prose() -> None:
    text = "Please write this.\n\nimport math\n\ndef f(x):\n    return x\nThat's all, thanks.\n"
    assert locate_code(text) == ("import math\n\ndef f(x):\n    return x", 2)
    assert locate_code("Write a poem about the sea.") is None


@functools.cache
def _all_problems() -> list[HumanEvalProblem]:
    return list(load_humaneval().values())


_PIECES = st.sampled_from([
    ">>> ", "...", "f(", ")", " => ", " ➞ ", "==", "=", "'", '"', '"""', "\n", "    ", "[", "]",
    "{", "}", "(", "For x = ", " the output should be ", "Input: ", "Output: ", "#", "1", "-",
    "true", "def f(x):\n", "\\n", "\\", "\x00", "returns ", "tri(n) = ", ".",
])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PIECES, max_size=40).map("".join), st.sampled_from([None, "f", "g"]))
def test_extraction_never_raises(text: str, entry: str | None) -> None:
    found = extract_visible_tests(text, entry)
    for case in found.cases:
        compile(case.source, "<example>", "exec")
    with contextlib.suppress(SuiteError):  # the one error it may raise
        suite_for(Task(prompt=text or "x"), entry_point=entry)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_extraction_never_raises_on_cut_humaneval_prompts(data: st.DataObject) -> None:
    problem = data.draw(st.sampled_from(_all_problems()))
    start = data.draw(st.integers(0, len(problem.prompt)))
    end = data.draw(st.integers(start, len(problem.prompt)))
    extract_visible_tests(problem.prompt[start:end], problem.entry_point)
