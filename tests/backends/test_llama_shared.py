"""Critics sharing a prompt prefix on one llama.cpp context (issue 18, item 1).

On the real SmolLM2: three built-in critics review two rounds of a session, once
each on its own context with llama-cpp-python's sampler chain (the old way) and
once as sequences of one shared context (greedy-first sampling, one or two
threads per step). Their outputs must be identical, every critic
must still see only its own conversation (one of them remembers its round-1
review), and the shared run must evaluate fewer prompt tokens.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import threading
from pathlib import Path

import pytest

from critic import LLMCritic, LLMGenerator, RoleRegistry, Session, Task
from critic.backends import llama_shared
from critic.backends.llama_cpp import CpuBudget, LlamaCppModel
from critic.backends.llama_shared import Request
from critic.bus.memory import MemoryBus
from critic.errors import ModelError
from critic.judges.rules import ThresholdJudge
from critic.messages import Envelope, ModelCall
from critic.roles.spec import Role
from critic.testing import ScriptedModel

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.model]

ROLES = RoleRegistry()


@pytest.fixture
def anyio_backend() -> str:
    # The engine runs in its own thread; the event loop under the session does not matter.
    return "asyncio"


TASK = Task(prompt="Write a Python function rev(s) that returns the string s reversed.")
DRAFTS = ("def rev(s):\n    return s[::-1]\n", "def rev(s):\n    return ''.join(reversed(s))\n")
#: (role, memory): one critic remembers its round-1 review in round 2.
CRITICS = [("correctness", "none"), ("clarity", "session"), ("concision", "none")]
NAMES = {name for name, _ in CRITICS}


def role(name: str, memory: str) -> Role:
    base = ROLES.get(name)
    # No review is cut for time: a slow machine must not change what is compared.
    return dataclasses.replace(base, spec=base.spec.model_copy(
        update={"memory": memory, "max_tokens": 96, "timeout": 3600.0}))


async def critic_calls(model: LlamaCppModel) -> list[ModelCall]:
    """The model calls of a two-round session whose three LLM critics run on ``model``."""
    # A scripted gate that always scores 0 keeps the judge revising until max_rounds.
    scripted = ScriptedModel(scripts={"generator": list(DRAFTS)},  # it consumes the list
                             default=json.dumps({"problems": ["gate"], "suggestion": "s",
                                                 "score": 0}))
    critics = [LLMCritic(role(name, memory), model.shared_backend(name), seed=0)
               for name, memory in CRITICS]
    base = ROLES.get("correctness")
    gate = dataclasses.replace(base, spec=base.spec.model_copy(update={"name": "gate"}))
    critics.append(LLMCritic(gate, scripted.backend("gate"), seed=0))
    calls: list[ModelCall] = []

    def observe(envelope: Envelope) -> None:
        if isinstance(envelope.payload, ModelCall) and envelope.payload.agent in NAMES:
            calls.append(envelope.payload)

    session = Session(TASK, LLMGenerator(scripted.backend("generator")),
                      ThresholdJudge(accept_at=1.0, discard_below=0.0, max_rounds=2), critics,
                      bus=MemoryBus(serialize=True), observer=observe)
    outcome = await session.run()
    assert len(outcome.verdicts) == 2
    return sorted(calls, key=lambda c: (c.agent, len(c.messages)))


@pytest.mark.timeout(600)  # 12 critic calls: ~20 s on an idle machine
async def test_shared_prefix_critics_match_their_own_contexts(
        model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The old way in full: own contexts and llama-cpp-python's sampler chain.
    own_model = LlamaCppModel(model_path, shared_sequences=0, greedy_first=False)
    shared_model = LlamaCppModel(model_path, shared_sequences=4, shared_threads=2,
                                 budget=CpuBudget(2))
    # The engine takes one or two threads step by step, as cores come free; here it
    # alternates whatever the machine's load (for 40 steps, then one thread: two on a
    # busy core are many times slower), and the tokens must not change.
    free = itertools.chain([1, 2] * 20, itertools.repeat(1))
    monkeypatch.setattr(llama_shared, "idle_cores", lambda: next(free))
    try:
        own = await critic_calls(own_model)
        engine = shared_model.engine()
        # Wait for all three critics of a round (not a moment): what is batched
        # must not depend on the machine's speed in this test.
        engine.gather_seconds = 600.0
        shared = await critic_calls(shared_model)
    finally:
        await own_model.aclose()
        await shared_model.aclose()

    assert len(own) == len(shared) >= 6  # 3 critics x 2 rounds (and any retries)
    for a, b in zip(own, shared, strict=True):
        assert (a.agent, a.messages, a.completion, a.status) == (
            b.agent, b.messages, b.completion, b.status)
        assert a.usage.prompt_tokens == b.usage.prompt_tokens
        assert a.usage.completion_tokens == b.usage.completion_tokens
        assert a.status == "ok"

    # Separate contexts: three different prompts, and no critic sees another's review.
    for a in shared:
        assert all(a.messages != b.messages for b in shared if b.agent != a.agent)
    for call in shared:
        text = "\n".join(m.content for m in call.messages)
        mine = {c.completion for c in shared if c.agent == call.agent}
        for other in shared:
            if other.agent != call.agent and other.completion not in mine:
                assert other.completion is not None and other.completion not in text
    remembered = [c for c in shared if c.agent == "clarity"]
    assert [m.role for m in remembered[1].messages][-2:] == ["assistant", "user"]
    assert remembered[1].messages[2].content == remembered[0].completion
    for call in shared:
        if call.agent != "clarity":
            assert [m.role for m in call.messages] == ["system", "user"]

    # The common prefix was evaluated once per round, not once per critic.
    evaluated = {name: [c.usage.prompt_evaluated for c in calls]
                 for name, calls in (("own", own), ("shared", shared))}
    assert all(n is not None for ns in evaluated.values() for n in ns)
    assert sum(n or 0 for n in evaluated["shared"]) < sum(n or 0 for n in evaluated["own"])
    # The critics of a round decoded side by side, one token each per step, and every
    # token a critic wrote was sampled from one of those steps.
    assert set(engine.steps) <= {1, 2, 3} and engine.steps[3] > 0
    assert set(engine.threads) == {1, 2}
    assert sum(k * n for k, n in engine.steps.items()) >= sum(
        c.usage.completion_tokens for c in shared)


@pytest.mark.timeout(300)
def test_closing_the_engine_answers_calls_still_waiting_for_a_sequence(
        model_path: Path) -> None:
    """A call queued behind a busy sequence when the context closes gets an error, so
    its worker thread (and the process, at exit) is not left waiting for a token."""
    model = LlamaCppModel(model_path, n_ctx=256, shared_sequences=1)
    engine = model.engine()
    base = engine.base

    def request(agent: str) -> Request:
        return Request(agent, base.tokenize(b"Count to ten:"), base._init_sampler(temp=0.0),
                       fresh=True)

    running = engine.stream(request("a"), None)
    next(running)  # "a" holds the one sequence; the engine waits for it to take the token
    queued = request("b")
    outcome: list[BaseException | list[int]] = []

    def wait_for_b() -> None:
        try:
            outcome.append(list(engine.stream(queued, None)))
        except ModelError as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=wait_for_b, daemon=True)
    waiter.start()
    while True:  # until "b" is queued (observed, not timed)
        with engine._cond:
            if queued in engine._pending:
                break
    closer = threading.Thread(target=engine.close, daemon=True)
    closer.start()
    running.close()  # "a" stops: the engine sees it is closed and ends
    closer.join(120)
    waiter.join(120)
    assert not closer.is_alive() and not waiter.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], ModelError)
    assert "closed" in str(outcome[0])
