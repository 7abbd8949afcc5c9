"""The critic phase of a round on llama.cpp: per-agent contexts vs one shared-prefix context.

Three built-in critics (correctness, clarity, concision) review one draft, as the
critics of a session's round do (concurrently, each with its own conversation).
Interleaved rep by rep, on SmolLM2:

* ``per_call``: each critic on its own one-thread context, the CPU budget held for
  whole calls, llama-cpp-python's sampler chain (the grammar filters the whole
  vocabulary every token): the behaviour before issue 18, the baseline;
* ``per_agent``: each critic on its own one-thread context, the budget held only
  while llama.cpp computes (item 2), greedy-first grammar sampling
  (:mod:`critic.backends.sampling`);
* ``shared``: the critics as sequences of one context, their common prompt prefix
  evaluated once, suffixes and decode steps batched (item 1), greedy-first
  sampling, and each step on as many threads as cores are free then (at most the
  budget's two; one while another process keeps a core busy);
* ``shared_1t``: the same context held to one thread.

Reported: median wall time of the phase per way; ``speedup`` = per_call / shared
(goal >= 1.6); ``sharing_speedup`` = per_agent / shared, the part of it owed to
sharing a context (both ways sample greedy-first); ``own_speedup`` = per_call /
per_agent, the part owed to the budget and the sampler on own contexts;
``speedup_1_thread`` = per_call / shared_1t; and ``identical_outputs``: every
critic's completion, in every rep, is the same in every way (temperature 0).
``shared_decode_steps_by_sequences`` counts the shared context's decode steps by
how many critics each carried (over the timed reps), ``shared_batched_share`` the
share that carried more than one (a critic still writing, or retrying a
malformed answer, after the others are done decodes alone), and
``shared_steps_by_threads`` how many threads each step ran on.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
from _common import arguments, emit, log, median, model_info, rounded
from _sessions import roles

from critic.backends.llama_cpp import LlamaCppModel
from critic.critics.critic import LLMCritic
from critic.errors import CriticError
from critic.messages import Draft, ModelCall, ReviewRequest, Task

ROLES = ("correctness", "clarity", "concision")
TASK = Task(prompt="Write a Python function that returns the n-th Fibonacci number.")
DRAFT = "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a"
WAYS = ("per_call", "per_agent", "shared", "shared_1t")
GOAL = 1.6


def model_for(way: str) -> LlamaCppModel:
    if way.startswith("shared"):
        return LlamaCppModel.default(shared_sequences=len(ROLES),
                                     shared_threads=1 if way == "shared_1t" else None)
    return LlamaCppModel.default(shared_sequences=0,
                                 budget_scope="call" if way == "per_call" else "compute",
                                 greedy_first=way != "per_call")


async def phase(critics: list[LLMCritic], request: ReviewRequest) -> tuple[float, list[str]]:
    """One critic phase: every critic reviews the draft at once; wall time and completions."""
    completions: dict[str, str] = {}

    async def record(call: ModelCall) -> None:
        return None

    async def review(critic: LLMCritic) -> None:
        try:
            critique = await critic.review(request.model_copy(update={"role": critic.name}),
                                           record)
        except CriticError as exc:  # a truncated or malformed review: compared like any other
            completions[critic.name] = f"error|{exc}"
            return
        completions[critic.name] = (f"{critique.status}|{critique.score}|{critique.problems}|"
                                    f"{critique.suggestion}")

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for critic in critics:
            tg.start_soon(review, critic)
    return time.perf_counter() - start, [completions[c.name] for c in critics]


async def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    started = time.perf_counter()
    reps = 1 if args.quick else 7
    max_tokens = 48 if args.quick else 128
    request = ReviewRequest(session="bench", task=TASK, draft=Draft(round=1, text=DRAFT),
                            role="")
    models = {way: model_for(way) for way in WAYS}
    critics = {way: [LLMCritic(role, models[way].shared_backend(role.name), seed=0)
                     for role in roles(ROLES, max_tokens=max_tokens)] for way in WAYS}
    # Warm-up: load every context (and the shared one) outside the timed reps.
    for way in WAYS:
        await phase(critics[way], request)
    shared_ways = [way for way in WAYS if way.startswith("shared")]
    for way in shared_ways:
        models[way].engine().steps.clear()
        models[way].engine().threads.clear()
    times: dict[str, list[float]] = {way: [] for way in WAYS}
    identical = True
    for rep in range(reps):
        outputs = {}
        for way in WAYS if rep % 2 == 0 else reversed(WAYS):
            seconds, outputs[way] = await phase(critics[way], request)
            times[way].append(seconds)
        same = all(outputs[way] == outputs["per_call"] for way in WAYS)
        identical = identical and same
        log(f"rep {rep + 1}/{reps}: " + ", ".join(f"{w} {times[w][-1]:.2f}s" for w in WAYS)
            + ("" if same else "  OUTPUTS DIFFER"))
    # How many critics each decode step of the shared context carried: batching and the
    # shared prefix pay only while the critics run side by side.
    steps = {way: dict(sorted(models[way].engine().steps.items())) for way in shared_ways}
    threads = {way: dict(sorted(models[way].engine().threads.items())) for way in shared_ways}
    for model in models.values():
        await model.aclose()
    med = {way: median(times[way]) for way in WAYS}
    speedup = med["per_call"] / med["shared"]
    sharing = med["per_agent"] / med["shared"]
    own = med["per_call"] / med["per_agent"]
    speedup_1t = med["per_call"] / med["shared_1t"]
    figures: dict[str, Any] = {
        "headline": [
            {"metric": "critic phase speedup, shared prefix vs per-agent contexts as before "
                       f"issue 18 ({len(ROLES)} critics, {reps} reps)",
             "value": rounded(speedup), "goal": f">= {GOAL}", "met": speedup >= GOAL},
            {"metric": "of which sharing one context (per-agent contexts sampling as fast)",
             "value": rounded(sharing), "goal": None, "met": None},
            {"metric": "shared prefix held to one thread, vs the same baseline",
             "value": rounded(speedup_1t), "goal": None, "met": None},
            {"metric": "identical outputs at temperature 0 (all reps, all four ways)",
             "value": identical, "goal": "true", "met": identical},
            {"metric": "own contexts: greedy-first sampling, budget held while computing",
             "value": rounded(own), "goal": None, "met": None},
        ],
        "speedup": rounded(speedup),
        "sharing_speedup": rounded(sharing),
        "own_speedup": rounded(own),
        "speedup_1_thread": rounded(speedup_1t),
        "identical_outputs": identical,
        "shared_decode_steps_by_sequences": {way: {str(k): v for k, v in counts.items()}
                                             for way, counts in steps.items()},
        "shared_batched_share": {way: rounded(sum(v for k, v in counts.items() if k > 1)
                                              / max(1, sum(counts.values())))
                                 for way, counts in steps.items()},
        "shared_steps_by_threads": {way: {str(k): v for k, v in counts.items()}
                                    for way, counts in threads.items()},
        "median_seconds": {way: rounded(value) for way, value in med.items()},
        "seconds": {way: [rounded(t) for t in times[way]] for way in WAYS},
        "reps": reps, "critics": list(ROLES), "max_tokens": max_tokens,
        "threads_per_context": {"per_call": 1, "per_agent": 1, "shared": "1-2, as cores are free",
                                "shared_1t": 1},
        "model": model_info(LlamaCppModel.default().path),
    }
    emit("critic_phase", args, figures, packages=("llama_cpp_python",), started=started)


if __name__ == "__main__":
    anyio.run(main)
