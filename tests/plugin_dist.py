"""A tiny third-party distribution exposing ``critic.roles`` entry points, for tests.

Written as a package plus a ``*.dist-info`` folder, so putting its folder on
``sys.path`` (or ``PYTHONPATH``) is exactly what ``pip install`` would leave
behind for ``importlib.metadata`` to find.
"""

from __future__ import annotations

import textwrap
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

CLARITY = """
name = "clarity"
description = "Plugin override of clarity."
prompt = "terse.j2"
"""


def make_plugin_dist(root: Path, entry_points: str | None = None) -> Path:
    """Write the distribution under ``root``; return the folder to put on sys.path."""
    site = root / "site"
    package = site / PACKAGE
    (package / "roles").mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(SHOUT))
    (package / "roles" / "terse.toml").write_text(TERSE)
    (package / "roles" / "clarity.toml").write_text(CLARITY)
    (package / "roles" / "terse.j2").write_text(
        "PLUGIN-TERSE-PROMPT\nTask: {{ task }}\nAnswer: {{ draft }}\nIs it short? Score 0 to 5.\n"
    )
    info = site / f"{PACKAGE}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points or (
        "[critic.roles]\n"
        f"shout = {PACKAGE}:ShoutCritic\n"
        f"pack = {PACKAGE}:ROLES\n"
    ))
    return site
