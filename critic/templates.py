"""Prompt templates: Jinja2, sandboxed, StrictUndefined, checked at load time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from critic.errors import ConfigError

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

    def render(self, **variables: object) -> str:
        try:
            return self._template.render(**variables).strip()
        except jinja2.TemplateError as exc:
            raise ConfigError(f"{self.path}: {exc}") from exc


class PromptLibrary:
    """Templates looked up by file name in a list of folders (first match wins)."""

    def __init__(self, dirs: Sequence[Path] | None = None) -> None:
        self.dirs = [Path(d) for d in (dirs if dirs is not None else [package_data_dir("prompts")])]
        self._env = SandboxedEnvironment(
            loader=jinja2.FileSystemLoader([str(d) for d in self.dirs]),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
            autoescape=False,
        )

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
        loaded.render(**check)
        return loaded
