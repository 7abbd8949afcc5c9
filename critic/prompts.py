"""Prompt templates: Jinja2, sandboxed, StrictUndefined, bounded, checked at load time.

Role templates come from files anyone can publish, and every one of them is
rendered when its role loads, so a hostile or broken template must fail fast
instead of hanging or exhausting memory. Jinja's sandbox stops attribute
escapes but not runaway work; on top of it each render has a budget:

- loop iterations (every ``for``, whatever it iterates) and wall time, checked
  at each iteration, call, operator and concatenation;
- sizes: ``*``, ``**``, ``+``, ``%`` and ``~`` refuse results past the output
  bound, and integer arguments to calls and filters are capped (so
  ``'x'.ljust(10**10)`` or ``'x'|center(10**10)`` never allocates);
- the output length, and Python's recursion limit (a macro calling itself).

Constant folding is off, so a template's expressions cannot run at compile time.
A template past a bound is a :class:`ConfigError` naming it.
"""

from __future__ import annotations

import contextvars
import functools
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import jinja2
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from critic.errors import ConfigError, TemplateBoundError

#: Bounds of one render. Generous for prompts (a few KB of template around the
#: task and draft), tight enough that a hostile template fails within a second.
MAX_ITERATIONS = 100_000
MAX_SECONDS = 2.0
MAX_INT_ARGUMENT = 100_000
MIN_OUTPUT_CHARS = 1_000_000
MAX_INT_BITS = 4096
#: A printf or str.format field six digits wide or precise: megabytes from one literal.
_WIDE_FORMAT = re.compile(r"%[-#0 +]*\d*\.?\d{6,}|\{[^{}]*:[^{}]*\d{6,}[^{}]*\}")


@dataclass
class _Budget:
    deadline: float
    max_chars: int
    iterations: int = 0

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateBoundError(f"rendering took longer than {MAX_SECONDS:g} s")

    def size(self, length: int) -> None:
        if length > self.max_chars:
            raise TemplateBoundError(
                f"a value of {length} characters exceeds the bound of {self.max_chars}"
            )


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "critic_template_budget", default=None
)


def _budget() -> _Budget:
    budget = _BUDGET.get()
    if budget is None:  # rendered outside PromptTemplate.render: apply the default bounds
        budget = _Budget(time.monotonic() + MAX_SECONDS, MIN_OUTPUT_CHARS)
        _BUDGET.set(budget)
    return budget


def _bounded_iter(iterable: Iterable[Any]) -> Iterator[Any]:
    budget = _budget()
    for item in iterable:
        budget.iterations += 1
        if budget.iterations > MAX_ITERATIONS:
            raise TemplateBoundError(f"more than {MAX_ITERATIONS} loop iterations")
        budget.tick()
        yield item


def _bounded_concat(*parts: Any) -> str:
    budget = _budget()
    budget.tick()
    text = "".join(str(p) for p in parts)
    budget.size(len(text))
    return text


def _check_arguments(args: Iterable[Any]) -> None:
    for value in args:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT_ARGUMENT:
            raise TemplateBoundError(
                f"argument {value} exceeds the bound of {MAX_INT_ARGUMENT} for calls and filters"
            )


def _check_format(text: str) -> None:
    if _WIDE_FORMAT.search(text):
        raise TemplateBoundError("a format width or precision of six digits or more")


def _length(value: Any) -> int | None:
    return len(value) if isinstance(value, str | bytes | list | tuple) else None


class _BoundedEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _budget().tick()
        _check_arguments([*args, *kwargs.values()])
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if attribute in ("format", "format_map") and isinstance(obj, str):
            _check_format(obj)
        return super().getattr(obj, attribute)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        budget = _budget()
        budget.tick()
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                n = _length(seq)
                if n is not None and isinstance(times, int):
                    budget.size(n * max(times, 0))
            if isinstance(left, int) and isinstance(right, int):
                self._int_bits(left.bit_length() + right.bit_length())
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            if abs(left) > 1 and right > 0:
                self._int_bits(left.bit_length() * right)
        elif operator == "+":
            a, b = _length(left), _length(right)
            if a is not None and b is not None:
                budget.size(a + b)
        elif operator == "%" and isinstance(left, str):
            _check_format(left)
        return super().call_binop(context, operator, left, right)

    @staticmethod
    def _int_bits(bits: int) -> None:
        if bits > MAX_INT_BITS:
            raise TemplateBoundError(f"an integer of more than {MAX_INT_BITS} bits")

    def _generate(self, source: nodes.Template, name: str | None, filename: str | None,
                  defer_init: bool = False) -> str:
        # Route every loop and every ``~`` through the budget before code is generated.
        _BudgetRewriter().visit(source)
        return str(super()._generate(source, name, filename, defer_init))


class _BudgetRewriter(NodeTransformer):
    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _call("__critic_iter", [cast(nodes.Expr, node.iter)])
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _call("__critic_concat", list(node.nodes))


def _call(function: str, args: list[nodes.Expr]) -> nodes.Call:
    return nodes.Call(nodes.Name(function, "load"), args, [], None, None)


def _guard_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    # Filters marked pass_context/pass_environment get that first, then the value.
    skip = 2 if hasattr(function, "jinja_pass_arg") else 1

    def guarded(*args: Any, **kwargs: Any) -> Any:
        _budget().tick()
        _check_arguments([*args[skip:], *kwargs.values()])
        if name == "format":
            _check_format(next((a for a in args if isinstance(a, str)), ""))
        return function(*args, **kwargs)

    if skip == 2:
        guarded.jinja_pass_arg = function.jinja_pass_arg  # type: ignore[attr-defined]
    return guarded


def _environment(loader: jinja2.BaseLoader) -> jinja2.Environment:
    env = _BoundedEnvironment(
        loader=loader, undefined=jinja2.StrictUndefined, keep_trailing_newline=False,
        autoescape=False, optimized=False,
    )
    env.filters = {name: _guard_filter(name, f) for name, f in env.filters.items()}
    env.globals["__critic_iter"] = _bounded_iter
    env.globals["__critic_concat"] = _bounded_concat
    return env


class _CheckedLoader(jinja2.FileSystemLoader):
    """A loader whose compiled templates stay in use only while looking the name up again
    finds the very same file with the very same text.

    Jinja's own check compares modification times, which repeat within a clock tick (an
    edit a few milliseconds after a load would go unseen), and it ignores a file added to
    an earlier folder since (an override would go unseen). A lookup and a read cost ~20 µs;
    compiling a template costs ~250 µs.
    """

    def get_source(self, environment: jinja2.Environment, template: str
                   ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, _ = super().get_source(environment, template)

        def uptodate() -> bool:
            try:
                again, where, _ = super(_CheckedLoader, self).get_source(environment, template)
            except jinja2.TemplateNotFound:
                return False
            return where == filename and again == source

        return source, filename, uptodate


@functools.lru_cache(maxsize=64)
def _shared_environment(folders: tuple[str, ...]) -> jinja2.Environment:
    """The environment of every :class:`PromptLibrary` over ``folders``, so its cache of
    compiled templates outlives one library: a generator built per session compiled its
    four templates anew each time (~1 ms, three times a session round's own CPU on an
    instant backend). A relative folder is looked up again from the working directory
    of the moment, as before (:class:`_CheckedLoader`)."""
    return _environment(_CheckedLoader(list(folders)))


#: Variables every critic prompt may use; ``reference`` and ``feedback`` may be None.
TEMPLATE_VARIABLES: Mapping[str, object] = {
    "task": "TASK",
    "draft": "DRAFT",
    "round": 1,
    "feedback": "FEEDBACK",
    "reference": "REFERENCE",
    "tests": "TESTS",
    # Debates: the other debaters' answers (or, for a debate judge, all final answers).
    "answers": "ANSWERS",
    # Critics: the scored record's metadata (critic score), empty elsewhere. Checked empty,
    # so a template must allow for a missing key ({% if metadata.model is defined %}).
    "metadata": {},
}


def package_data_dir(name: str) -> Path:
    """``roles/`` or ``prompts/``: inside the wheel, or beside the package in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_data" / name, here.parent / name):
        if candidate.is_dir():
            return candidate
    raise ConfigError(f"critic's built-in {name}/ folder is missing (broken install?)")


@dataclass(frozen=True)
class PromptTemplate:
    """A loaded template; ``render`` fails on any variable it was not given."""

    path: str
    _template: jinja2.Template
    constant: str | None = None
    """The text of a template that is literal text only (rendered once, at load)."""
    _globals: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Jinja merges its globals (a ChainMap) into a new dict on every render: two
        # thirds of a short prompt's render time. They are fixed once the template loads.
        object.__setattr__(self, "_globals", dict(self._template.globals))

    def render(self, **variables: object) -> str:
        if self.constant is not None:
            return self.constant
        given = 0
        for value in variables.values():
            if isinstance(value, str):
                given += len(value)
        bound = max(MIN_OUTPUT_CHARS, 4 * given)
        budget = _Budget(time.monotonic() + MAX_SECONDS, bound)
        token = _BUDGET.set(budget)
        try:
            chunks: list[str] = []
            length = 0
            # What ``Template.generate`` does, with the globals merged in advance, and
            # the ``Context`` that ``Template.new_context`` builds, without its helper:
            # the context takes the set of the globals' keys, a ChainMap's slow to list.
            template = self._template
            context = template.environment.context_class(
                template.environment, {**self._globals, **variables}, template.name,
                template.blocks, globals=self._globals)
            for chunk in template.root_render_func(context):
                length += len(chunk)
                if length > bound:  # checked as the text grows, so a runaway stops early
                    budget.size(length)
                chunks.append(chunk)
            return "".join(chunks).strip()
        except TemplateBoundError as exc:
            raise TemplateBoundError(f"{self.path}: exceeds a render bound: {exc}") from exc
        except jinja2.TemplateError as exc:
            raise ConfigError(f"{self.path}: {exc}") from exc
        except RecursionError as exc:
            raise TemplateBoundError(f"{self.path}: exceeds a render bound: recursion too deep "
                                     "(a macro calling itself?)") from exc
        except MemoryError as exc:
            raise TemplateBoundError(f"{self.path}: exceeds a render bound: out of memory") from exc
        except (ArithmeticError, TypeError, ValueError, LookupError, AttributeError) as exc:
            # Template code raising (e.g. the sandbox's range limit): the template's fault.
            raise ConfigError(f"{self.path}: {type(exc).__name__}: {exc}") from exc
        finally:
            _BUDGET.reset(token)


class PromptLibrary:
    """Templates looked up by file name in a list of folders (first match wins)."""

    def __init__(self, dirs: Sequence[Path] | None = None) -> None:
        self.dirs = [Path(d) for d in (dirs if dirs is not None else [package_data_dir("prompts")])]
        self._env = _shared_environment(tuple(str(d) for d in self.dirs))

    def with_dirs(self, dirs: Sequence[Path]) -> PromptLibrary:
        """A library that looks in ``dirs`` first, then in this one's folders."""
        return PromptLibrary([*dirs, *self.dirs])

    def load(self, name: str, *, check: Mapping[str, object] = TEMPLATE_VARIABLES) -> PromptTemplate:
        """Load ``name`` and render it once with ``check`` to catch errors now.

        A missing template, a syntax error or a variable outside ``check`` is a
        :class:`ConfigError` naming the template.
        """
        try:
            template = self._env.get_template(name)
        except jinja2.TemplateNotFound as exc:
            where = ", ".join(str(d) for d in self.dirs)
            raise ConfigError(f"prompt template {name!r} not found in {where}") from exc
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(f"{exc.filename or name}:{exc.lineno}: {exc.message}") from exc
        loaded = PromptTemplate(template.filename or name, template)
        text = loaded.render(**check)
        if self._literal(name):  # e.g. a system prompt: the same text on every call
            loaded = PromptTemplate(loaded.path, template, text)
        return loaded

    def _literal(self, name: str) -> bool:
        """Whether template ``name`` is plain text: no expression, tag or variable at all."""
        assert self._env.loader is not None
        source, _, _ = self._env.loader.get_source(self._env, name)
        # No Jinja delimiter at all (line statements are off): text only, whatever the input.
        return not any(mark in source for mark in ("{{", "{%", "{#"))
