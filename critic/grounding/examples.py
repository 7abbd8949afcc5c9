"""Test cases read from the examples a task's prompt shows (HumanEval's formats).

Prompts show examples in several ways; each is read by one general rule:

- ``>>>`` doctests, read from the docstring *as written in the source*, so
  ``>>> f("a\\nb")`` stays one line (the docstring's value would split it), and
  the closing quotes of a docstring never end up in an expected output. A
  ``>>> f(x) == y`` with no output line asserts that the comparison holds.
- ``f(args) => value`` lines, with ``==>``, ``➞``, ``->``, ``==``, ``=``,
  ``returns`` or ``should return`` between the call and the value; a leading
  bullet, ``for`` or ``assert`` is ignored and a call may span lines.
- ``For x = 1, y = 2 the output should be 3`` lines and ``Input: ...`` /
  ``Output: ...`` blocks, when every value is named after a parameter of the
  function (or the function takes exactly one).

Expected values must be Python literals; the sandbox compares them with what
the call returns *as values* (``"21"`` equals ``'21'``). ``true``/``false`` read
as booleans, and ``19 - 5 - 6 = 8`` as 8 when the arithmetic agrees. Anything
else is skipped and listed with the reason, never guessed: arguments that are
not literals, a value followed by prose, a call to a function the prompt does
not define, ``("Venus")`` (a string, or a tuple of one?), and the lines of a
function that its docstring also defines by a formula (``tri(n) = 1 + n / 2``:
there ``tri(4) = 3`` describes the formula, not what ``tri`` returns).

    found = extract_visible_tests(problem.prompt, problem.entry_point)
    found.cases      # Case(kind="example", source='digitSum("abAB")', want="131", ...)
    found.skipped    # SkippedExample(line=7, text="is_happy(a) => False", reason=...)
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from critic.grounding.literals import (
    NotLiterals,
    Unreadable,
    bind_arguments,
    closing_bracket,
    expected_value,
    literal_call,
    mask_strings,
    why,
)

_CODE_START = re.compile(r"^(?:async\s+def\s|def\s|class\s|import\s+\w|from\s+[\w.]+\s+import\s|@\w)")
_PROMPT_LINE = re.compile(r"^\s*>>>(?: |$)")
_CONTINUATION = re.compile(r"^\s*\.\.\.(?: |$)")
_CALL_LINE = re.compile(
    r"^(?P<lead>\s*(?:(?:[*\-•]|\d+[.)]|e\.g\.|example\s*\d*\s*:)\s*|(?:for|assert)\s+)*)"
    r"(?P<name>[A-Za-z_]\w*)\s*\(",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(
    r"^\s*(?:#\s*)?(?:(?P<sym>==>|=>|➞|->|==|=)|(?P<word>should\s+return|returns)\b)\s*",
    re.IGNORECASE,
)
_FOR_LINE = re.compile(
    r"^\s*For\s+(?P<args>.+?),?\s+the\s+(?:output|result)\s+should\s+be\s+(?P<value>.+?)\s*$",
    re.IGNORECASE,
)
_INPUT = re.compile(r"^\s*Input\s*:\s*(?P<text>.*)$", re.IGNORECASE)
_OUTPUT = re.compile(r"^\s*Output\s*:\s*(?P<text>.*)$", re.IGNORECASE)
_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                ast.Assign, ast.AnnAssign)
_CALL_SPAN = 30  # lines a call written over several lines may take
_SHOWN = 160  # characters of an example kept in a skipped entry


class Case(BaseModel):
    """One test: a doctest, an example call with its expected value, or an assertion.

    ``doctest``: ``source`` runs and its output is checked against ``want``
    (as a value when both parse). ``example``: ``source`` is a call whose value
    must equal the literal ``want``. ``statement``: a line of a test file;
    ``left``/``right`` are set for ``assert X == Y``.
    """

    model_config = ConfigDict(frozen=True)

    kind: Literal["doctest", "example", "statement"]
    source: str
    want: str = ""
    left: str | None = None
    right: str | None = None
    line: int | None = None
    """Where the example is in the text it was read from (1-based)."""
    checked: bool = True
    """False for a doctest step with no expected output: run in order, for its effects only."""

    @property
    def label(self) -> str:
        text = self.source.strip()
        return ">>> " + text if self.kind == "doctest" else text


class SkippedExample(BaseModel):
    """An example the extractor saw but could not read unambiguously, and why."""

    model_config = ConfigDict(frozen=True)

    line: int
    text: str
    reason: str

    def describe(self) -> str:
        return f"line {self.line}: {self.text}: {self.reason}"


class VisibleTests(BaseModel):
    """The examples of a prompt turned into test cases, and the ones left out."""

    model_config = ConfigDict(frozen=True)

    cases: tuple[Case, ...]
    """In the order shown, steps (``checked=False``) included."""
    skipped: tuple[SkippedExample, ...] = ()
    """Sorted by line."""
    entry_point: str | None = None

    @property
    def checked(self) -> tuple[Case, ...]:
        """The cases that are tests (steps left out): what a score is made of."""
        return tuple(c for c in self.cases if c.checked)


@dataclass(frozen=True)
class _Signature:
    name: str
    params: tuple[str, ...]


@dataclass
class _Reader:
    """Reads the examples of one docstring (or one plain text) into cases."""

    first_line: int  # the prompt line (1-based) of the text's first line
    functions: dict[str, _Signature]
    entry: _Signature | None
    cases: list[Case]
    skipped: list[SkippedExample]

    def skip(self, index: int, text: str, reason: str) -> None:
        shown = " ".join(text.split())
        if len(shown) > _SHOWN:
            shown = shown[:_SHOWN] + "…"
        self.skipped.append(SkippedExample(line=self.first_line + index, text=shown, reason=reason))

    def read(self, text: str) -> None:
        lines = text.split("\n")
        used = self._doctests(lines)
        pending: list[tuple[int, str, str, str, str | None]] = []
        recurrences: set[str] = set()
        i = 0
        while i < len(lines):
            if i in used:
                i += 1
                continue
            consumed = (self._input_block(lines, i, used) or self._for_line(lines, i)
                        or self._call_line(lines, i, used, pending, recurrences))
            i += max(consumed, 1)
        for index, shown, name, source, want in pending:
            if name in recurrences:
                self.skip(index, shown, f"the docstring also defines {name}(...) by a formula, so "
                          "its lines may describe the formula, not what the function returns")
            elif want is not None:
                self.cases.append(Case(kind="example", source=source, want=want,
                                       line=self.first_line + index))

    def _doctests(self, lines: list[str]) -> set[int]:
        used: set[int] = set()
        i = 0
        while i < len(lines):
            if not _PROMPT_LINE.match(lines[i]):
                i += 1
                continue
            start, indent = i, len(lines[i]) - len(lines[i].lstrip())
            source = [lines[i].lstrip()[4:]]
            i += 1
            while i < len(lines) and _CONTINUATION.match(lines[i]):
                source.append(lines[i].lstrip()[4:])
                i += 1
            want: list[str] = []
            while (i < len(lines) and lines[i].strip() and not _PROMPT_LINE.match(lines[i])
                   and lines[i].strip() not in ('"""', "'''")):
                line = _dedent(lines[i], indent)
                want.append("" if line.rstrip() == "<BLANKLINE>" else line)
                i += 1
            used.update(range(start, i))
            self._doctest(start, "\n".join(source), want)
        return used

    def _doctest(self, index: int, source: str, want: list[str]) -> None:
        try:
            compile(source, "<example>", "single")
        except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError) as exc:
            self.skip(index, ">>> " + source, f"not valid Python ({why(exc)})")
            return
        checked = True
        if not want and _is_comparison(source):
            want = ["True"]  # `>>> f(x) == y` with no output: the author asserts it holds
        elif not want:
            # A step (`>>> x = 1`) runs for its effects. A bare expression with nothing
            # below it is more likely a missing output than a claim that it is None.
            checked = False
            if _is_expression(source):
                self.skip(index, ">>> " + source,
                          "no expected output below it: run for its effects, not checked")
        self.cases.append(Case(kind="doctest", source=source, want="".join(w + "\n" for w in want),
                               line=self.first_line + index, checked=checked))

    def _input_block(self, lines: list[str], i: int, used: set[int]) -> int:
        start = _INPUT.match(lines[i])
        if start is None:
            return 0
        parts = [start["text"]]
        for j in range(i + 1, min(len(lines), i + _CALL_SPAN)):
            if j in used or _INPUT.match(lines[j]):
                break
            output = _OUTPUT.match(lines[j])
            if output is not None:
                self._bound_example(i, " ".join(lines[i:j + 1]), " ".join(parts), output["text"])
                return j - i + 1
            parts.append(lines[j].strip())
        self.skip(i, lines[i], "an Input: with no Output: after it")
        return 1

    def _for_line(self, lines: list[str], i: int) -> int:
        match = _FOR_LINE.match(lines[i])
        if match is None:
            return 0
        self._bound_example(i, lines[i], match["args"], match["value"])
        return 1

    def _bound_example(self, index: int, shown: str, args: str, value: str) -> None:
        try:
            if self.entry is None:
                raise Unreadable("no function signature to bind the values to")
            arguments = bind_arguments(args, self.entry.params)
            want = expected_value(value)
        except Unreadable as exc:
            self.skip(index, shown, str(exc))
            return
        self.cases.append(Case(kind="example", source=f"{self.entry.name}({', '.join(arguments)})",
                               want=want, line=self.first_line + index))

    def _call_line(self, lines: list[str], i: int, used: set[int],
                   pending: list[tuple[int, str, str, str, str | None]],
                   recurrences: set[str]) -> int:
        match = _CALL_LINE.match(lines[i])
        if match is None:
            return 0
        window = "\n".join(lines[i:i + _CALL_SPAN])
        opening = match.end() - 1
        closing = closing_bracket(mask_strings(window), opening)
        if closing is None:
            return 0
        end_of_line = window.find("\n", closing)
        rest = window[closing + 1:] if end_of_line < 0 else window[closing + 1:end_of_line]
        separator = _SEPARATOR.match(rest)
        if separator is None:
            return 1  # a call in prose, not an example
        name = match["name"]
        call_text = window[match.start("name"):closing + 1]
        shown = window[match.start("name"):] if end_of_line < 0 else window[match.start("name"):end_of_line]
        consumed = window.count("\n", 0, closing) + 1
        if any(i + k in used for k in range(consumed)):
            return 1
        if name not in self.functions:
            self.skip(i, shown, f"calls {name}, which the prompt does not define")
            return consumed
        try:
            source = literal_call(call_text)
        except Unreadable as exc:
            if isinstance(exc, NotLiterals):
                recurrences.add(name)
            self.skip(i, shown, str(exc))
            return consumed
        try:
            want: str | None = expected_value(rest[separator.end():])
        except Unreadable as exc:
            self.skip(i, shown, str(exc))
            want = None
        pending.append((i, shown, name, source, want))
        return consumed


def extract_visible_tests(prompt: str, entry_point: str | None = None) -> VisibleTests:
    """The examples shown in ``prompt`` as test cases, and the examples skipped, with reasons.

    ``prompt`` may have prose around its code (the code part is found and
    read); with no code at all, the whole text is read for examples.
    ``entry_point`` defaults to the last top-level function of the code.
    """
    located = locate_code(prompt)
    cases: list[Case] = []
    skipped: list[SkippedExample] = []
    if located is None:
        # No code: calls of the named function are examples; no signature to bind values to.
        functions = {entry_point: _Signature(entry_point, ())} if entry_point else {}
        _Reader(1, functions, None, cases, skipped).read(prompt)
        return _found(cases, skipped, entry_point)
    code, offset = located
    tree = ast.parse(code)
    functions = {node.name: _Signature(node.name, tuple(
        a.arg for a in (*node.args.posonlyargs, *node.args.args)))
        for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
    name = entry_point or (next(reversed(functions)) if functions else None)
    signature = functions.get(name) if name else None
    for line, text in _docstrings(code, tree):
        _Reader(offset + line, functions, signature, cases, skipped).read(text)
    return _found(cases, skipped, name)


def _found(cases: list[Case], skipped: list[SkippedExample], entry: str | None) -> VisibleTests:
    return VisibleTests(cases=tuple(cases), skipped=tuple(sorted(skipped, key=lambda s: s.line)),
                        entry_point=entry)


def locate_code(text: str) -> tuple[str, int] | None:
    """The Python code in ``text`` and the number of lines before it, or None.

    The whole text if it parses; else, from the first line that opens code
    (``def``, ``import``, ``class``, ...) and parses, the code up to the first
    line that does not (a prompt with instructions before the code, or notes
    after it).
    """
    if _syntax_error_line(text) is None:
        return text, 0
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if _CODE_START.match(line)]
    for start in starts[:20]:
        end = len(lines)
        for _ in range(8):  # each try ends the code before the line the parser stopped at
            chunk = "\n".join(lines[start:end])
            error = _syntax_error_line(chunk)
            if error is None:
                return chunk, start
            if error < 2 or start + error - 1 >= end:
                break
            end = start + error - 1
    return None


def _syntax_error_line(text: str) -> int | None:
    """None if ``text`` parses, else the line (1-based) the parser stopped at (0: unknown)."""
    try:
        ast.parse(text)
    except SyntaxError as exc:
        return exc.lineno or 0
    except (ValueError, OverflowError, MemoryError, RecursionError):
        return 0
    return None


def prompt_context(prompt: str, entry_point: str | None = None) -> str:
    """What a draft of the prompt's function may rely on: the prompt's code but that function.

    Imports, helper functions and constants the prompt defines stay in the
    judged program (a draft that writes only the asked-for function still calls
    them); the draft's own definitions come after, so they win.
    """
    located = locate_code(prompt)
    if located is None:
        return ""
    code = located[0]
    tree, lines = ast.parse(code), code.split("\n")
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    entry = entry_point or (defs[-1].name if defs else None)
    kept = []
    for node in tree.body:
        if not isinstance(node, _DEFINITIONS) or getattr(node, "name", None) == entry:
            continue  # the draft's function, or code that does something rather than define
        decorators = getattr(node, "decorator_list", None)
        first = decorators[0].lineno if decorators else node.lineno
        kept.append("\n".join(lines[first - 1:node.end_lineno]) + "\n")
    return "\n".join(kept)


def _is_string(node: ast.stmt) -> bool:
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str))


def _docstrings(code: str, tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Each string statement of a module, class or function body: (its first line, its text).

    The text is the literal as written between its quotes where that is exact,
    so escapes stay as the author typed them; else the string's value.
    """
    for node in ast.walk(tree):
        if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for stmt in node.body:
            if _is_string(stmt):
                assert isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
                yield stmt.value.lineno, _as_written(code, stmt.value)


def _as_written(code: str, node: ast.Constant) -> str:
    segment = ast.get_source_segment(code, node) or ""
    match = re.match(r"(?i)[rbu]*('''|\"\"\"|'|\")", segment)
    value = str(node.value)
    if match is None:
        return value
    quote = match.group(1)
    inner = segment[match.end():len(segment) - len(quote)]
    if not segment.endswith(quote) or len(segment) < match.end() + len(quote) or quote in inner:
        return value  # implicit concatenation or an unusual literal: use the value
    return inner


def _dedent(line: str, indent: int) -> str:
    stripped = line.lstrip()
    return line[min(indent, len(line) - len(stripped)):]


def _is_expression(source: str) -> bool:
    try:
        ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError):
        return False
    return True


def _is_comparison(source: str) -> bool:
    try:
        body = ast.parse(source, mode="eval").body
    except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError):
        return False
    return isinstance(body, ast.Compare) and all(isinstance(op, ast.Eq) for op in body.ops)
