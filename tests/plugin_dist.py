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

# The README's plugin example, kept runnable here (tests/test_plugins.py installs it).
PARTS = '''
import re

from critic import Critique
from critic.testing import ScriptedModel


class BannedWords:
    """critic.kinds: a critic kind; a role sets ``banned = [...]`` in its options."""

    def __init__(self, role, ctx):
        self.name = role.name
        self.weight = role.spec.weight      # counts without repeating it in each Critique
        self.timeout = role.spec.timeout
        self.banned = [str(word) for word in role.spec.options.get("banned", [])]

    async def review(self, request, record):
        found = [w for w in self.banned if w in request.draft.text]
        return Critique(role=self.name, round=request.draft.round,
                        score=0.0 if found else 1.0,
                        problems=tuple(f"contains {w}" for w in found))


class StrictJudge:
    """critic.judges: the run's rules, but any problem left discards the draft."""

    name = "strict"

    def __init__(self, ctx):
        self.rules = ctx.rules

    async def judge(self, request, record):
        verdict = await self.rules.judge(request, record)
        problems = [p for c in request.critiques for p in c.problems]
        if problems and verdict.decision == "accept":
            return verdict.model_copy(update={"decision": "discard", "stop": "strict",
                                              "reason": f"strict: {problems[0]}"})
        return verdict.model_copy(update={"reason": f"strict: {verdict.reason}"})


class UnanimousJudge:
    """critic.debate_judges: accepts an answer only when every debater gave it."""

    name = "unanimous"

    def __init__(self, ctx):
        self.extractor = ctx.extractor

    async def decide(self, request, record):
        from critic.messages import DebateVerdict

        answers = {a.answer for a in request.answers}
        if len(answers) == 1 and None not in answers:
            (answer,) = answers
            return DebateVerdict(judge=self.name, decision="accept", answer=answer,
                                 reason=f"unanimous ({self.extractor.name}): {answer}")
        return DebateVerdict(judge=self.name, decision="discard", reason="not unanimous")


_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}


class RomanAnswer:
    """critic.extractors: the last Roman numeral of a text, as a decimal number."""

    name = "roman"

    async def extract(self, text):
        numerals = re.findall(r"\\b[IVXLCDM]+\\b", text)
        if not numerals:
            return None
        values = [_ROMAN[c] for c in numerals[-1]]
        total = sum(-v if v < nxt else v for v, nxt in zip(values, values[1:] + [0]))
        return str(total)


def canned(spec, *, max_connections, max_attempts):
    """critic.backends: ``canned:TEXT`` is a model answering TEXT to every call."""
    return ScriptedModel(default=spec.partition(":")[2])
'''

CLARITY = """
name = "clarity"
description = "Plugin override of clarity."
prompt = "terse.j2"
"""


ENTRY_POINTS = f"""\
[critic.roles]
shout = {PACKAGE}:ShoutCritic
pack = {PACKAGE}:ROLES

[critic.kinds]
banned-words = {PACKAGE}.parts:BannedWords

[critic.judges]
strict = {PACKAGE}.parts:StrictJudge

[critic.debate_judges]
unanimous = {PACKAGE}.parts:UnanimousJudge

[critic.extractors]
roman = {PACKAGE}.parts:RomanAnswer

[critic.backends]
canned = {PACKAGE}.parts:canned
"""


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
