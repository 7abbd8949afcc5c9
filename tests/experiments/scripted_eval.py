"""Scripted parts whose truth is known, for the ``critic eval`` tests (no real model)."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from critic.backends.pool import ModelPool
from critic.backends.scripted import ScriptedModel
from critic.messages import ChatMessage, Critique, ReviewRequest
from critic.protocols import CriticContext, Model, Recorder
from critic.roles.kinds import CriticKinds, default_kinds
from critic.roles.registry import RoleRegistry
from critic.roles.spec import Role, RoleCritic

#: A marker in every hidden test: it must never appear in what a model is sent.
HIDDEN = "HIDDEN_ORACLE_MARKER"


class ScriptedPool(ModelPool):
    """A pool whose every model is ``model`` (a scripted one, or a cache around it)."""

    def __init__(self, model: Model) -> None:
        super().__init__(None)
        self.model = model

    def _open(self, spec: str | None) -> Model:
        return self.model


def code_items(path: Path, n: int, *, buggy: set[int]) -> Path:
    """``n`` tasks "write add_k(x) returning x + k"; visible and hidden tests differ."""
    with path.open("w") as out:
        for k in range(n):
            name = f"add_{k}"
            prompt = (f"Write a Python function {name}(x) that returns x + {k}. "
                      f"{'bug' if k in buggy else 'ok'}")
            out.write(json.dumps({
                "id": f"item-{k}", "input": prompt, "visible": f"assert {name}(1) == {1 + k}",
                "tests": f"# {HIDDEN}\nassert {name}(2) == {2 + k}\nassert {name}(-3) == {k - 3}",
                "entry_point": name}) + "\n")
    return path


def _function(messages: Sequence[ChatMessage]) -> tuple[str, int, bool]:
    task = next(m.content for m in messages if m.role == "user")
    # A fresh revision's message starts with the task, then quotes the draft.
    task = task.partition("An earlier answer to this task")[0]
    found = re.search(r"(add_(\d+))\(x\)", task)
    assert found is not None
    return found.group(1), int(found.group(2)), task.rstrip().endswith("bug")


def repairing_generator(messages: Sequence[ChatMessage]) -> str:
    """Buggy first drafts (for tasks marked ``bug``) fixed only when the feedback names
    the failing example."""
    name, k, bug = _function(messages)
    revising = len(messages) > 2 or "What the reviewers found:" in messages[-1].content
    feedback = messages[-1].content if revising else ""
    # A fresh revision quotes the task (its examples too) before the feedback: only what
    # the reviewers found counts as being told which example fails.
    feedback = feedback.rpartition("What the reviewers found:")[2]
    fixed = f"failing: {name}(1)" in feedback or f"{name}(1) ==" in feedback
    body = "x - 1" if bug and not fixed else f"x + {k}"
    return f"```python\ndef {name}(x):\n    return {body}\n```"


def number_items(path: Path, n: int) -> Path:
    with path.open("w") as out:
        for k in range(n):
            out.write(json.dumps({"id": f"q{k}", "input": f"What is {k} plus one thousand?",
                                  "target": str(k + 1000)}) + "\n")
    return path


def drifting_generator(e: float, seed: int = 0):  # type: ignore[no-untyped-def]
    """A right first answer; each revision turns a right answer wrong with probability ``e``
    (decided by a seeded RNG per item and round); a wrong answer stays wrong."""

    def reply(messages: Sequence[ChatMessage]) -> str:
        question = next(m.content for m in messages if m.role == "user")
        k = int(re.search(r"What is (\d+)", question).group(1))  # type: ignore[union-attr]
        previous = [m.content for m in messages if m.role == "assistant"]
        right = f"Answer: {k + 1000}"
        if not previous:
            return right
        if previous[-1] != right:
            return previous[-1]
        rng = random.Random(f"{seed}:{k}:{len(previous)}")
        return f"Answer: {k + 999}" if rng.random() < e else right

    return reply


@dataclass
class NoopCritic(RoleCritic):
    """A critic that says nothing and counts for nothing (weight 0): an ablation of it
    must show no effect."""

    async def review(self, request: ReviewRequest, record: Recorder) -> Critique:
        return Critique(role=self.name, round=request.draft.round, score=1.0,
                        weight=self.weight)


def eval_parts(tmp: Path) -> tuple[RoleRegistry, CriticKinds]:
    """The built-in roles plus ``noop`` (kind ``noop``, weight 0)."""
    roles = tmp / "roles"
    roles.mkdir(exist_ok=True)
    (roles / "noop.toml").write_text('name = "noop"\ndescription = "says nothing"\n'
                                     'kind = "noop"\nweight = 0.0\n')
    kinds = default_kinds()

    def build(role: Role, ctx: CriticContext) -> NoopCritic:
        return NoopCritic(role)

    kinds.register("noop", build)
    return RoleRegistry(extra_dirs=(roles,)), kinds


def scripted(reply: object) -> ScriptedModel:
    return ScriptedModel(default=reply)  # type: ignore[arg-type]
