"""Model-free test critics for scoring, and a plugin distribution exposing one to subprocesses.

The subprocess tests need a role the real ``critic`` command can load without a
model: :func:`write_plugin_dist` writes a package plus a ``*.dist-info`` folder
with a ``critic.roles`` entry point (what ``pip install`` would leave), so
putting its folder on ``PYTHONPATH`` registers the role through the ordinary
plugin mechanism; nothing test-only lives in critic itself.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import anyio

from critic.messages import Critique, ReviewRequest
from critic.protocols import CriticContext, Recorder
from critic.roles.kinds import CriticKinds, default_kinds
from critic.roles.registry import RoleRegistry
from critic.roles.spec import Role, RoleSpec

LENGTH_KIND = "length"


@dataclass
class LengthCritic:
    """Scores len(output) / 10, capped at 1; ``fail_on`` output raises, ``sleep`` delays."""

    name: str
    weight: float = 1.0
    timeout: float = 10.0
    sleep: float = 0.0
    fail_on: str = "BOOM"

    async def review(self, request: ReviewRequest, record: Recorder) -> Critique:
        if self.sleep:
            await anyio.sleep(self.sleep)
        text = request.draft.text
        if text == self.fail_on:
            raise RuntimeError("cannot review this")
        return Critique(role=self.name, round=request.draft.round,
                        score=min(1.0, len(text) / 10), raw_score=float(len(text)),
                        problems=() if len(text) >= 10 else ("too short",))


def length_kinds(sleep: float = 0.0) -> CriticKinds:
    kinds = default_kinds()

    def build(role: Role, ctx: CriticContext) -> LengthCritic:
        return LengthCritic(role.name, role.spec.weight, role.spec.timeout, sleep=sleep)

    kinds.register(LENGTH_KIND, build)
    return kinds


def length_registry(*names: str) -> RoleRegistry:
    """A registry holding only ``length`` roles (no built-ins, no plugins)."""
    registry = RoleRegistry(include_builtin=False, include_plugins=False, env_path="")
    registry._roles = {
        n: Role(RoleSpec(name=n, description="length of the output", kind=LENGTH_KIND), "test")
        for n in names
    }
    return registry


PLUGIN = '''
import anyio
from critic import Critique


class SlowLength:
    """Scores the output's length; slow enough to be killed mid-run (no model)."""

    description = "Scores the output's length, slowly."
    weight = 1.0
    timeout = 30.0

    def __init__(self, role, ctx):
        self.name = role.name

    async def review(self, request, record):
        await anyio.sleep(0.02)
        text = request.draft.text
        return Critique(role=self.name, round=1, score=min(1.0, len(text) / 10),
                        raw_score=float(len(text)))
'''


def write_plugin_dist(site: Path) -> Path:
    """A distribution ``critic-slow-length`` with the class role ``slow-length``."""
    (site / "critic_slow_length").mkdir(parents=True)
    (site / "critic_slow_length" / "__init__.py").write_text(PLUGIN)
    info = site / "critic_slow_length-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: critic-slow-length\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent("""
        [critic.roles]
        slow-length = critic_slow_length:SlowLength
    """))
    return site
