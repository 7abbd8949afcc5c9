"""A tiny third-party distribution exposing an entry point in every critic group, for tests.

``critic.roles`` (a class and a folder), ``critic.kinds`` (``banned-words``, a
kind with a list option), ``critic.judges`` (``strict``),
``critic.debate_judges`` (``unanimous``), ``critic.extractors`` (``roman``)
and ``critic.backends`` (``canned:TEXT``, a model answering TEXT to every call).

Written as a package plus a ``*.dist-info`` folder, so putting its folder on
``sys.path`` (or ``PYTHONPATH``) is exactly what ``pip install`` would leave
behind for ``importlib.metadata`` to find.
"""

from __future__ import annotations

import textwrap
import tomllib
from pathlib import Path

DIST = "critic-shouty"
PACKAGE = "critic_shouty"

SHOUT = '''
from critic import Critique


class ShoutCritic:
    """Penalises a draft written in capital letters (no model needed)."""

    description = "Penalises drafts written in CAPITAL LETTERS."
    weight = 1.0
    timeout = 10.0

    def __init__(self, role, ctx):
        self.name = role.name

    async def review(self, request, record):
        letters = [c for c in request.draft.text if c.isalpha()]
        upper = sum(c.isupper() for c in letters) / len(letters) if letters else 0.0
        problems = ("the draft shouts",) if upper > 0.5 else ()
        return Critique(role=self.name, round=request.draft.round, score=1.0 - upper,
                        raw_score=upper, problems=problems, suggestion="write in lower case")


class NotACritic:
    """Has no review method."""


ROLES = __import__("pathlib").Path(__file__).parent / "roles"
'''

TERSE = """
name = "terse"
description = "Plugin folder role: is the draft short?"
prompt = "terse.j2"
scale = [0, 5]
max_tokens = 120
"""

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_block(language: str, after: str) -> str:
    """The first fenced ``language`` block of README.md after the line containing ``after``."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"```{language}\n", text.index(after)) + len(language) + 4
    return text[start:text.index("```", start)]


# The README's plugin package, installed as the module critic_shouty.parts: the
# tests run exactly the code the README shows.
PARTS = readme_block("python", "`critic-extras/src/critic_extras/__init__.py`:")
_EXTRAS = tomllib.loads(readme_block("toml", "`critic-extras/pyproject.toml`"))

CLARITY = """
name = "clarity"
description = "Plugin override of clarity."
prompt = "terse.j2"
"""


ENTRY_POINTS = f"[critic.roles]\nshout = {PACKAGE}:ShoutCritic\npack = {PACKAGE}:ROLES\n" + "".join(
    f"\n[{group}]\n" + "".join(
        f"{name} = {value.replace('critic_extras:', f'{PACKAGE}.parts:')}\n"
        for name, value in points.items())
    for group, points in _EXTRAS["project"]["entry-points"].items()
)


def make_plugin_dist(root: Path, entry_points: str | None = None) -> Path:
    """Write the distribution under ``root``; return the folder to put on sys.path."""
    site = root / "site"
    package = site / PACKAGE
    (package / "roles").mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(SHOUT))
    (package / "parts.py").write_text(PARTS)
    (package / "roles" / "terse.toml").write_text(TERSE)
    (package / "roles" / "clarity.toml").write_text(CLARITY)
    (package / "roles" / "terse.j2").write_text(
        "PLUGIN-TERSE-PROMPT\nTask: {{ task }}\nAnswer: {{ draft }}\nIs it short? Score 0 to 5.\n"
    )
    info = site / f"{PACKAGE}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points or ENTRY_POINTS)
    return site
