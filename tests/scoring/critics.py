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


def length_critique(name: str, request: ReviewRequest) -> Critique:
    text = request.draft.text
    return Critique(role=name, round=request.draft.round, score=min(1.0, len(text) / 10),
                    raw_score=float(len(text)), problems=() if len(text) >= 10 else ("too short",))


@dataclass
class LengthCritic:
    """Scores len(output) / 10, capped at 1; ``fail_on`` output raises, ``sleep`` delays,
    ``hang`` never answers."""

    name: str
    weight: float = 1.0
    timeout: float = 10.0
    sleep: float = 0.0
    fail_on: str = "BOOM"
    hang: bool = False

    async def review(self, request: ReviewRequest, record: Recorder) -> Critique:
        if self.hang:
            await anyio.sleep_forever()
        if self.sleep:
            await anyio.sleep(self.sleep)
        if request.draft.text == self.fail_on:
            raise RuntimeError("cannot review this")
        return length_critique(self.name, request)


class Turnstile:
    """A length critic that answers the first ``free`` reviews and holds every later one.

    :attr:`held` is set once ``expect_held`` reviews are being held, so a test knows
    exactly what is in flight without timing anything; :attr:`release` lets them go.
    Create it inside the event loop (it makes anyio events).
    """

    weight = 1.0
    timeout = 3600.0

    def __init__(self, name: str, *, free: int, expect_held: int) -> None:
        self.name = name
        self.free = free
        self.expect_held = expect_held
        self.started = self.holding = 0
        self.held = anyio.Event()
        self.release = anyio.Event()

    async def review(self, request: ReviewRequest, record: Recorder) -> Critique:
        self.started += 1
        if self.started > self.free:
            self.holding += 1
            try:
                if self.holding == self.expect_held:
                    self.held.set()
                await self.release.wait()
            finally:
                self.holding -= 1
        return length_critique(self.name, request)


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


#: With this variable set to N, the ``slow-length`` critic's reviews after the N-th never end,
#: so a run writes exactly N results and then waits to be stopped, however fast the machine.
HOLD_AFTER = "SLOW_LENGTH_HOLD_AFTER"

PLUGIN = '''
import os

import anyio
from critic import Critique


class SlowLength:
    """Scores the output's length; slow enough to be killed mid-run (no model)."""

    description = "Scores the output's length, slowly."
    weight = 1.0
    timeout = 3600.0

    def __init__(self, role, ctx):
        self.name = role.name
        hold = os.environ.get("SLOW_LENGTH_HOLD_AFTER")
        self.hold_after = int(hold) if hold else None
        self.started = 0

    async def review(self, request, record):
        self.started += 1
        if self.hold_after is not None and self.started > self.hold_after:
            await anyio.sleep_forever()
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
