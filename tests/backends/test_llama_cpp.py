"""The local backend on the real SmolLM2 model."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest

from critic.backends.base import GenerationParams
from critic.backends.llama_cpp import CpuBudget, LlamaCppModel
from critic.critics.critic import critique_schema
from critic.errors import ConfigError
from critic.messages import ChatMessage, ModelCall
from critic.structured import complete_structured

pytestmark = [pytest.mark.anyio, pytest.mark.model]

SHORT = GenerationParams(max_tokens=24, temperature=0.0, seed=0)


def ask(text: str) -> list[ChatMessage]:
    return [ChatMessage(role="system", content="You are a helpful assistant."),
            ChatMessage(role="user", content=text)]


async def test_generates_text_with_usage(local_model: LlamaCppModel) -> None:
    completion = await local_model.backend("a").complete(ask("Name a colour."), SHORT)
    assert completion.text.strip()
    assert completion.usage.prompt_tokens > 5
    assert 0 < completion.usage.completion_tokens <= 24
    assert completion.latency > 0


async def test_same_seed_same_text(local_model: LlamaCppModel) -> None:
    a = await local_model.backend("a").complete(ask("Say a number."), SHORT)
    b = await local_model.backend("b").complete(ask("Say a number."), SHORT)
    assert a.text == b.text


async def test_agent_keeps_its_kv_cache(local_model: LlamaCppModel) -> None:
    backend = local_model.backend("a")
    history = ask("Write one sentence about the sea. " * 8)
    first = await backend.complete(history, SHORT)
    assert first.usage.prompt_evaluated == first.usage.prompt_tokens
    longer = [*history, ChatMessage(role="assistant", content=first.text),
              ChatMessage(role="user", content="Shorter.")]
    second = await backend.complete(longer, SHORT)
    new_tokens = second.usage.prompt_tokens - first.usage.prompt_tokens
    assert second.usage.prompt_evaluated is not None
    # Only the new turn (plus a few template tokens) is evaluated again.
    assert second.usage.prompt_evaluated <= new_tokens + 8 < second.usage.prompt_tokens


async def test_structured_output_is_valid(local_model: LlamaCppModel) -> None:
    calls: list[ModelCall] = []

    async def record(call: ModelCall) -> None:
        calls.append(call)

    output = await complete_structured(
        local_model.backend("critic"),
        ask("Review this answer to 'reverse a string': def r(s): return s[::-1]. "
            "List problems, a suggestion and a score from 1 to 10."),
        critique_schema(1, 10), GenerationParams(max_tokens=120, seed=0),
        agent="critic", record=record,
    )
    assert 1 <= output.score <= 10
    assert calls and calls[0].json_schema is not None and calls[0].completion


async def test_cancelled_call_stops_and_frees_the_context(local_model: LlamaCppModel) -> None:
    backend = local_model.backend("a")
    await backend.complete(ask("Say yes."), SHORT)  # loads this agent's context
    llama = backend._llama
    assert llama is not None
    evals_after_cancel = 0
    evals = 0
    scope = anyio.CancelScope()
    token = anyio.lowlevel.current_token()
    original = type(llama).eval

    def eval_then_cancel(tokens: Sequence[int]) -> None:
        # Runs in the worker thread, once per token. After a few tokens it cancels the
        # waiting task and waits until the backend has told llama.cpp to stop: from then
        # on the context must not evaluate another token.
        nonlocal evals, evals_after_cancel
        cancel = llama.cancel  # type: ignore[attr-defined]
        if cancel is not None and cancel.is_set():
            evals_after_cancel += 1
        original(llama, tokens)
        evals += 1
        if evals == 5:
            anyio.from_thread.run_sync(scope.cancel, token=token)
            assert cancel is not None and cancel.wait(timeout=60)

    llama.eval = eval_then_cancel  # type: ignore[method-assign]
    long = GenerationParams(max_tokens=2000, temperature=0.0, seed=0)
    with scope:
        await backend.complete(ask("Count from 1 to 1000, one number per line."), long)
    assert scope.cancelled_caught and evals == 5
    # The next call needs the context's lock, which the abandoned thread releases once it
    # stops; it stopped at the very next token instead of generating up to 2000.
    done = await backend.complete(ask("Say yes."), SHORT)
    assert done.text
    assert evals_after_cancel == 1  # the one call that raised instead of evaluating
    assert evals > 5  # the new call ran on the same, freed context


async def test_cpu_budget_bounds_concurrent_llama_threads(model_path: Path) -> None:
    budget = CpuBudget(1)
    model = LlamaCppModel(model_path, n_ctx=512, budget=budget)
    running = 0
    peak = 0
    lock = threading.Lock()
    acquire, release = budget.acquire, budget.release

    def tracked_acquire(n: int) -> None:
        nonlocal running, peak
        acquire(n)
        with lock:
            running += n
            peak = max(peak, running)

    def tracked_release(n: int) -> None:
        nonlocal running
        with lock:
            running -= n
        release(n)

    budget.acquire, budget.release = tracked_acquire, tracked_release  # type: ignore[method-assign]
    async with anyio.create_task_group() as tg:
        for i in range(3):
            tg.start_soon(model.backend(f"a{i}").complete, ask("Hi."), SHORT)
    assert peak == 1


def test_bad_model_paths(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="model file not found"):
        LlamaCppModel(tmp_path / "none.gguf")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(ConfigError, match="not a GGUF"):
        LlamaCppModel(junk)
