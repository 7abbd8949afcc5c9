"""KV-cache reuse: prompt tokens evaluated vs tokens new since each agent's previous call.

A 4-round session on SmolLM2 (a generator with a growing conversation and two
critics, each agent on its own llama.cpp context) is run twice, interleaved.
Only agents that keep a context between calls can reuse it, so the generator
revises with ``strategy="continue"`` (at temperature 0) and the critics have
``memory = "session"``: the defaults (fresh revisions, memoryless critics) start
every call from a clean context on purpose, for reproducibility.

* ours: the backends as shipped, each agent's context kept between its calls;
* baseline: the same backends, but every call starts from a reset context, so
  each agent's full history is evaluated again every call.

Per call we record the prompt length, ``Usage.prompt_evaluated`` (what the
backend says llama.cpp evaluated), the length of the prompt batch llama.cpp's
``eval`` really received (an independent check), and the tokens *new* since
the agent's previous call: the prompt minus its longest common prefix with the
tokens the agent's context held after that call (prompt plus generated tokens).

``prefill_ratio`` = evaluated / new (goal <= 1.1); ``speedup`` = baseline wall /
ours wall; ``identical_outputs`` says whether both runs generated the same text.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from _common import arguments, emit, log, median, model_info, rounded
from _sessions import FixedRoundsJudge, roles

from critic.backends.base import Completion, GenerationParams, JsonSchema
from critic.backends.llama_cpp import LlamaCppBackend, LlamaCppModel, default_model_path
from critic.backends.llama_shared import common_prefix
from critic.backends.meter import Report
from critic.bus.memory import MemoryBus
from critic.critics.critic import LLMCritic
from critic.critics.generator import LLMGenerator, RevisionPolicy
from critic.messages import ChatMessage, Task
from critic.session.session import Session

ROLES = ("correctness", "clarity")
TASK = Task(prompt="Write a Python function is_palindrome(s) that ignores case and spaces.")


@dataclass(frozen=True)
class CallRecord:
    agent: str
    prompt: int
    new: int
    evaluated: int
    eval_batch: int
    completion_tokens: int
    text: str


@dataclass
class CountingBackend(LlamaCppBackend):
    """A shipped backend that also records what llama.cpp evaluated; optionally resets first."""

    reset_each_call: bool = False
    records: list[CallRecord] = field(default_factory=list)
    _evals: list[int] = field(default_factory=list)
    _context: list[int] = field(default_factory=list)

    def _load(self) -> Any:
        fresh = self._llama is None
        llama = super()._load()
        if fresh:
            inner = llama.eval
            evals = self._evals

            def counting_eval(tokens: Sequence[int]) -> None:
                evals.append(len(tokens))
                inner(tokens)

            llama.eval = counting_eval  # type: ignore[method-assign]  # counting wrapper
        if self.reset_each_call:
            llama.reset()  # type: ignore[no-untyped-call]  # the baseline: forget the cached prefix
        return llama

    def _complete_blocking(self, messages: Sequence[ChatMessage], params: GenerationParams,
                           schema: JsonSchema | None, cancelled: Any,
                           report: Report | None = None) -> Completion:
        first_eval = len(self._evals)
        completion = super()._complete_blocking(messages, params, schema, cancelled, report)
        llama = self._llama
        assert llama is not None
        prompt = llama.input_ids[: completion.usage.prompt_tokens].tolist()
        new = len(prompt) - common_prefix(self._context, prompt)
        self._context = llama.input_ids[: llama.n_tokens].tolist()
        self.records.append(CallRecord(
            agent=self.agent, prompt=len(prompt), new=new,
            evaluated=completion.usage.prompt_evaluated or 0,
            eval_batch=self._evals[first_eval] if len(self._evals) > first_eval else 0,
            completion_tokens=completion.usage.completion_tokens, text=completion.text,
        ))
        return completion


@dataclass
class CountingModel(LlamaCppModel):
    reset_each_call: bool = False
    backends: list[CountingBackend] = field(default_factory=list)

    def backend(self, agent: str) -> CountingBackend:
        backend = CountingBackend(self, agent, reset_each_call=self.reset_each_call)
        self.backends.append(backend)
        return backend


async def run_session(path: Path, reset: bool, rounds: int, gen_tokens: int,
                      critic_tokens: int, names: Sequence[str]) -> tuple[float, list[CallRecord]]:
    model = CountingModel(path, n_ctx=4096, reset_each_call=reset)
    critics = [LLMCritic(dataclasses.replace(role, spec=role.spec.model_copy(
                             update={"memory": "session"})), model.backend(role.name), seed=0)
               for role in roles(names, max_tokens=critic_tokens)]
    generator = LLMGenerator(model.backend("generator"),
                             params=GenerationParams(max_tokens=gen_tokens, seed=0),
                             revision=RevisionPolicy(strategy="continue", temperature=0.0))
    session = Session(TASK, generator, FixedRoundsJudge(rounds), critics, bus=MemoryBus())
    start = time.perf_counter()
    outcome = await session.run()
    elapsed = time.perf_counter() - start
    assert outcome.rounds == rounds, outcome
    return elapsed, [r for b in model.backends for r in b.records]


def totals(records: Sequence[CallRecord]) -> dict[str, Any]:
    prompt = sum(r.prompt for r in records)
    new = sum(r.new for r in records)
    evaluated = sum(r.evaluated for r in records)
    by_agent: dict[str, dict[str, int]] = {}
    for r in records:
        agent = by_agent.setdefault(r.agent, {"calls": 0, "prompt": 0, "new": 0, "evaluated": 0})
        agent["calls"] += 1
        agent["prompt"] += r.prompt
        agent["new"] += r.new
        agent["evaluated"] += r.evaluated
    return {
        "calls": len(records), "prompt_tokens": prompt, "new_tokens": new,
        "evaluated_tokens": evaluated,
        "completion_tokens": sum(r.completion_tokens for r in records),
        "prefill_ratio": rounded(evaluated / new, 3),
        "evaluated_matches_llama_eval": all(r.evaluated == r.eval_batch for r in records),
        "by_agent": by_agent,
    }


async def measure(reps: int, rounds: int, gen_tokens: int, critic_tokens: int,
                  names: Sequence[str] = ROLES) -> dict[str, Any]:
    path = default_model_path()
    walls: dict[str, list[float]] = {"ours": [], "baseline": []}
    records: dict[str, list[CallRecord]] = {}
    for rep in range(reps):
        order = ["ours", "baseline"] if rep % 2 == 0 else ["baseline", "ours"]
        for name in order:
            wall, recs = await run_session(path, name == "baseline", rounds, gen_tokens,
                                           critic_tokens, names)
            walls[name].append(wall)
            records[name] = recs
        log(f"rep {rep + 1}/{reps}: ours {walls['ours'][-1]:.2f} s, "
            f"baseline {walls['baseline'][-1]:.2f} s")
    ours, base = totals(records["ours"]), totals(records["baseline"])
    speedups = [b / o for o, b in zip(walls["ours"], walls["baseline"], strict=True)]
    same = [r.text for r in records["ours"]] == [r.text for r in records["baseline"]]
    # Where outputs differ: greedy decoding over a cached prefix vs a fresh batch can
    # pick a different token when two logits nearly tie (floating-point order).
    seen: dict[str, int] = {}
    differing: list[str] = []
    for a, b in zip(records["ours"], records["baseline"], strict=False):
        seen[a.agent] = seen.get(a.agent, 0) + 1
        if a.text != b.text:
            differing.append(f"{a.agent}#{seen[a.agent]}")
    return {
        "model": model_info(path),
        "rounds": rounds, "critics": list(names), "reps": reps,
        "generator_max_tokens": gen_tokens, "critic_max_tokens": critic_tokens,
        "prefill_ratio": ours["prefill_ratio"],
        "baseline_prefill_ratio": base["prefill_ratio"],
        "speedup": rounded(median(speedups), 3),
        "wall_s": {k: [round(w, 3) for w in v] for k, v in walls.items()},
        "identical_outputs": same,
        "differing_calls": differing,
        "goal_met": ours["prefill_ratio"] is not None and ours["prefill_ratio"] <= 1.1,
        "ours": ours, "baseline": base,
    }


def main() -> None:
    started = time.perf_counter()
    args = arguments(__doc__.splitlines()[0])
    # --quick: one critic and short answers (a smoke check of the measurement, not a result).
    figures = (anyio.run(measure, 1, 3, 24, 96, ("correctness",)) if args.quick
               else anyio.run(measure, 3, 4, 128, 128))
    headline = [
        {"metric": "prompt tokens evaluated / new since the agent's last call",
         "value": figures["prefill_ratio"], "goal": "≤ 1.1", "met": figures["goal_met"]},
        {"metric": "same, baseline re-evaluating the full history",
         "value": figures["baseline_prefill_ratio"], "goal": None, "met": None},
        {"metric": "wall-time speedup over that baseline",
         "value": figures["speedup"], "goal": None, "met": None},
    ]
    emit("kv_reuse", args, {"headline": headline, **figures},
         packages=("llama-cpp-python",), started=started)


if __name__ == "__main__":
    main()
