"""The CPU budget counts threads that compute, not calls in flight (issue 18, item 2)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import anyio
import pytest

from critic.backends.base import GenerationParams
from critic.backends.llama_cpp import CpuBudget, LlamaCppModel
from critic.backends.llama_shared import idle_cores
from critic.backends.meter import serving, watching
from critic.messages import ChatMessage
from tests.servers import stop_process

pytestmark = [pytest.mark.anyio, pytest.mark.model]

PARAMS = GenerationParams(max_tokens=6, fresh_context=True)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the budget is a thread-level lock; the event loop does not matter


class PauseAfterFirstToken:
    """Holds call A in Python, between two tokens, until call B has finished."""

    def __init__(self) -> None:
        self.a_paused = threading.Event()
        self.b_done = threading.Event()

    def progress(self, request: str, tokens: int | None) -> None:
        if request == "A" and tokens == 1:
            self.a_paused.set()
            # Bounded only so a regression fails instead of hanging the suite.
            assert self.b_done.wait(120), "B never ran while A was paused between tokens"


@pytest.mark.timeout(300)
async def test_a_call_between_tokens_leaves_its_core_to_another(model_path: Path) -> None:
    budget = CpuBudget(1)  # one core: only one of the two calls can compute at a time
    model = LlamaCppModel(model_path, n_ctx=512, budget=budget, shared_sequences=0)
    watch = PauseAfterFirstToken()
    messages = [ChatMessage(role="user", content="Count from one to ten.")]

    async def call(name: str) -> None:
        if name == "B":  # B starts only once A is between tokens
            assert await anyio.to_thread.run_sync(watch.a_paused.wait, 120)
        with serving(name):
            await model.backend(name).complete(messages, PARAMS)
        if name == "B":
            watch.b_done.set()

    try:
        with watching(watch):
            async with anyio.create_task_group() as tg:
                tg.start_soon(call, "A")
                tg.start_soon(call, "B")
    finally:
        await model.aclose()
    # A paused holding nothing, so B ran to the end meanwhile (with the budget held per
    # call, B would have waited for A and A for B).
    assert watch.a_paused.is_set() and watch.b_done.is_set()


def test_a_context_takes_the_free_slots_up_to_what_it_asks() -> None:
    budget = CpuBudget(2)
    assert budget.acquire_up_to(2) == 2
    budget.release(2)
    assert budget.acquire_up_to(2, idle=1) == 1  # a core busy outside the budget
    assert budget.acquire_up_to(4) == 1  # one slot left
    budget.release(2)
    assert budget.acquire_up_to(1, idle=2) == 1
    budget.release(1)


def test_cores_busy_in_other_processes_are_not_idle() -> None:
    """With a spinning process per core, no core is idle for a second thread."""
    if not Path("/proc/loadavg").is_file():
        pytest.skip("no /proc/loadavg: the shared context keeps its configured threads")
    spin = "import sys; print('spinning', flush=True)\nwhile True: pass"
    loops = [subprocess.Popen([sys.executable, "-c", spin], stdout=subprocess.PIPE, text=True)
             for _ in range(os.cpu_count() or 1)]
    try:
        for loop in loops:  # past start-up (which reads files): runnable from here on
            assert loop.stdout is not None and loop.stdout.readline() == "spinning\n"
        assert idle_cores() == 1  # the caller's own core, never less
    finally:
        for loop in loops:
            stop_process(loop, grace=10)
