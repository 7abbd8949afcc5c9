"""Tests run against a draft in the sandbox, and the ``doctest`` / ``unit-tests`` critic.

Tests come, in this order, from the task's ``tests`` field (HumanEval's
``def check(candidate)``, plain ``assert`` lines, or examples), from its
``reference`` if that holds tests, or from the examples shown in the task's
prompt (:mod:`critic.grounding.examples` reads HumanEval's formats). Score =
fraction of cases passed; a task with no tests is a :class:`SuiteError`, never
a score.

    report = await run_check_tests(problem.prompt + completion, problem.test,
                                   problem.entry_point)
    report.fraction   # 1.0 when every assert of check() holds
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from critic.errors import SuiteError
from critic.grounding._runner import RUNNER
from critic.grounding.examples import Case, VisibleTests, extract_visible_tests, prompt_context
from critic.grounding.execution import (
    describe_limit,
    extract_code,
    limits_from,
    trim_traceback,
)
from critic.grounding.sandbox import SandboxLimits, SandboxResult, run_python
from critic.messages import Critique, ReviewRequest, Task
from critic.protocols import CriticContext, Recorder
from critic.roles.spec import Role, RoleCritic

_IMPORT = re.compile(r"^(import\s+\w|from\s+[\w.]+\s+import\s)")
_DEF = re.compile(r"^def\s+([A-Za-z_]\w*)\s*\(", re.MULTILINE)
_UNIT_TESTS = re.compile(r"^(?:\s*assert\b|def\s+check\s*\()", re.MULTILINE)
_SHOWN = 200  # characters of an expected or actual value a critique shows
_CUT = re.compile(r"… \[cut: ([\d,]+) characters in all\]$")


def bounded(text: str, limit: int = _SHOWN) -> str:
    """``text`` cut to ``limit`` characters, saying so: a critique must fit a model's context.

    A text the sandbox already cut keeps the length it had before.
    """
    earlier = _CUT.search(text)
    body = text[:earlier.start()] if earlier else text
    if earlier is None and len(text) <= limit:
        return text
    total = earlier.group(1) if earlier else f"{len(text):,}"
    return f"{body[:limit]}… [cut: {total} characters in all]"


class Suite(BaseModel):
    """Cases plus what they need: setup statements and the name ``check`` calls the solution."""

    model_config = ConfigDict(frozen=True)

    cases: tuple[Case, ...]
    setup: tuple[str, ...] = ()
    entry_point: str | None = None
    arg: str = "candidate"


class CaseResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    label: str
    passed: bool
    expected: str | None = None
    actual: str | None = None
    error: str | None = None

    def describe(self) -> str:
        """The example, then expected vs actual (or the error), each bounded in length."""
        head = bounded(self.label)
        if self.error:
            return f"{head} → {bounded(self.error)}"
        return f"{head} → expected {bounded(str(self.expected))}, got {bounded(str(self.actual))}"


class SuiteReport(BaseModel):
    """Per-case results and the sandbox run they came from."""

    model_config = ConfigDict(frozen=True)

    cases: tuple[CaseResult, ...]
    sandbox: SandboxResult
    load_error: str | None = None
    """The solution did not load (or the tests' setup failed): every case failed."""
    problem: str | None = None
    """A sandbox limit the run hit, in words."""
    fraction: float = Field(ge=0.0, le=1.0)

    @property
    def passed(self) -> int:
        return sum(c.passed for c in self.cases)


def _case(stmt: ast.stmt, text: str) -> Case:
    source = ast.get_source_segment(text, stmt) or ast.unparse(stmt)
    test = stmt.test if isinstance(stmt, ast.Assert) else None
    if (isinstance(test, ast.Compare) and len(test.ops) == 1
            and isinstance(test.ops[0], ast.Eq)):
        return Case(kind="statement", source=source, left=ast.unparse(test.left),
                        right=ast.unparse(test.comparators[0]))
    return Case(kind="statement", source=source)


def _has_assert(stmt: ast.stmt) -> bool:
    return any(isinstance(node, ast.Assert) for node in ast.walk(stmt))


def unit_test_suite(text: str, *, entry_point: str | None = None) -> Suite:
    """Assertions: the body of ``def check(candidate)`` (HumanEval) or top-level asserts."""
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise SuiteError(f"tests: line {exc.lineno}: {exc.msg}") from exc
    check = next((s for s in tree.body if isinstance(s, ast.FunctionDef) and s.name == "check"),
                 None)
    if check is not None and check.args.args:
        setup = tuple(ast.get_source_segment(text, s) or ast.unparse(s)
                      for s in tree.body if s is not check and not _is_check_call(s))
        body = check.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # a docstring
        setup_in, cases = [], []
        for stmt in body:
            if _has_assert(stmt):
                cases.append(_case(stmt, text))
            elif not cases:
                setup_in.append(ast.unparse(stmt))
            else:
                cases.append(_case(stmt, text))
        return Suite(cases=tuple(cases), setup=setup + tuple(setup_in),
                         entry_point=entry_point, arg=check.args.args[0].arg)
    setup_top = tuple(ast.unparse(s) for s in tree.body if not _has_assert(s))
    return Suite(cases=tuple(_case(s, text) for s in tree.body if _has_assert(s)),
                 setup=setup_top)


def _is_check_call(stmt: ast.stmt) -> bool:
    call = stmt.value if isinstance(stmt, ast.Expr) else None
    return (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
            and call.func.id == "check")


def entry_point_of(text: str) -> str | None:
    """The last top-level function a task's prompt declares (HumanEval's entry point)."""
    names = _DEF.findall(text)
    return names[-1] if names else None


def prelude_of(prompt: str, entry_point: str | None = None) -> str:
    """What a draft may rely on from its prompt: imports, helper functions, constants.

    The prompt's code without the function the draft writes (see
    :func:`~critic.grounding.examples.prompt_context`); the import lines alone
    when the prompt's code does not parse.
    """
    context = prompt_context(prompt, entry_point)
    if context:
        return context + "\n"
    lines = [line for line in prompt.splitlines() if _IMPORT.match(line)]
    return "\n".join(lines) + "\n" if lines else ""


def _no_tests(where: str, found: VisibleTests) -> SuiteError:
    reasons = "; ".join(s.describe() for s in found.skipped[:3])
    more = f" (and {len(found.skipped) - 3} more)" if len(found.skipped) > 3 else ""
    skipped = f"; examples skipped: {reasons}{more}" if reasons else ""
    return SuiteError(f"{where}{skipped}")


def suite_for(task: Task, *, entry_point: str | None = None) -> Suite:
    """The tests a task carries: ``tests``, then a test-like ``reference``, then its prompt.

    Raises :class:`SuiteError` when there are none (saying which examples were
    skipped and why): an empty suite must never be scored.
    """
    entry = entry_point or entry_point_of(task.prompt)
    for field, text in (("tests", task.tests), ("reference", task.reference)):
        if text is None or not text.strip():
            continue
        if _UNIT_TESTS.search(text) and ">>>" not in text:
            suite = unit_test_suite(text, entry_point=entry)
            if suite.cases:
                return suite
        found = extract_visible_tests(text, entry)
        if found.checked:
            return Suite(cases=found.cases)
        if field == "tests":
            raise _no_tests("the task's tests hold no test case: no assert, no check(), "
                            "no example", found)
    found = extract_visible_tests(task.prompt, entry)
    if not found.checked:
        raise _no_tests("the task has no tests: no `tests`, no test-like `reference`, and no "
                        "usable example in its prompt", found)
    return Suite(cases=found.cases)


async def run_suite(code: str, suite: Suite, *, limits: SandboxLimits | None = None,
                    per_case: int = 3) -> SuiteReport:
    """Run every case of ``suite`` against ``code`` in the sandbox."""
    if not any(c.checked for c in suite.cases):
        raise SuiteError("no tests: the suite has no case to check")
    limits = limits or SandboxLimits()
    config = {
        "per_case": per_case, "entry_point": suite.entry_point, "arg": suite.arg,
        "setup": list(suite.setup),
        "cases": [c.model_dump(include={"kind", "source", "want", "left", "right", "checked"})
                  for c in suite.cases],
    }
    result = await run_python(
        RUNNER, limits=limits, files={"solution.py": code, "cases.json": json.dumps(config)},
        read_back=("results.jsonl",),
    )
    records: dict[int, dict[str, object]] = {}
    load_error: str | None = None
    for line in result.files.get("results.jsonl", "").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "load" in record:
            load_error = trim_traceback(str(record["load"]), lines=6)
        elif isinstance(record, dict) and isinstance(record.get("i"), int):
            records[record["i"]] = record
    problem = describe_limit(result, limits)
    if not records and load_error is None and not result.ok:
        load_error = trim_traceback(result.stderr, lines=6) or problem
    missing = load_error or problem or "the test run ended before this case"
    cases = []
    for i, case in enumerate(suite.cases):
        if not case.checked:
            continue
        record = records.get(i)
        if record is None:
            cases.append(CaseResult(label=case.label, passed=False, error=missing))
        else:
            cases.append(CaseResult(
                label=case.label, passed=bool(record.get("passed")),
                expected=_str(record.get("expected")), actual=_str(record.get("actual")),
                error=_str(record.get("error")),
            ))
    fraction = sum(c.passed for c in cases) / len(cases)
    return SuiteReport(cases=tuple(cases), sandbox=result, load_error=load_error,
                      problem=problem, fraction=fraction)


def _str(value: object) -> str | None:
    return None if value is None else str(value)


async def run_check_tests(code: str, test: str, entry_point: str, *,
                          limits: SandboxLimits | None = None) -> SuiteReport:
    """HumanEval's hidden ``check(candidate)`` tests against ``code`` (prompt + completion)."""
    return await run_suite(code, unit_test_suite(test, entry_point=entry_point), limits=limits)


@dataclass
class UnitTestCritic(RoleCritic):
    """Runs the task's tests on the draft's code; score = fraction passed."""

    limits: SandboxLimits
    per_case: int = 3
    max_listed: int = 4

    async def review(self, request: ReviewRequest, record: Recorder) -> Critique:
        option = self.role.spec.options.get("entry_point")
        entry = option if isinstance(option, str) else entry_point_of(request.task.prompt)
        suite = suite_for(request.task, entry_point=entry)
        code = prelude_of(request.task.prompt, entry) + extract_code(request.draft.text)
        report = await run_suite(code, suite,
                                 limits=self.limits, per_case=self.per_case)
        failing = [c for c in report.cases if not c.passed]
        problems: list[str] = []
        if report.load_error:
            problems.append(f"the code does not run: {report.load_error}")
        elif report.problem:
            problems.append(report.problem)
        if not report.load_error:
            problems += [f"failing: {c.describe()}" for c in failing[: self.max_listed]]
            if len(failing) > self.max_listed:
                problems.append(f"... and {len(failing) - self.max_listed} more failing cases")
        total = len(report.cases)
        suggestion = (f"{report.passed}/{total} tests pass." if not failing else
                      f"{report.passed}/{total} tests pass; make the failing cases "
                      "return the expected values.")
        if report.sandbox.notes:
            suggestion += "".join(f" (note: {n})" for n in report.sandbox.notes)
        return Critique(
            role=self.name, round=request.draft.round, score=report.fraction,
            raw_score=float(report.passed), problems=tuple(problems), suggestion=suggestion,
            weight=self.weight,
        )


def unit_test_critic(role: Role, ctx: CriticContext) -> UnitTestCritic:
    per_case = role.spec.options.get("per_case", 3)
    return UnitTestCritic(role, limits_from(role),
                      per_case=int(per_case) if isinstance(per_case, int | float) else 3)
