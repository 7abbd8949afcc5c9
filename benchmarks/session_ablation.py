"""What the bus costs a session round: ablations of the session path (instant backend).

``session_overhead`` sets a goal for a session round's CPU over a plain loop's
(<= 3.0) that the session as shipped does not meet. This asks how much of the
gap the bus itself is, by answering agents in the asking task instead:

- ``bus``: the session as shipped (every agent a bus service);
- ``inline_generator_judge``: the generator and the judge answered in the
  session's own task (their requests never cross the bus; critics still do);
- ``inline_all``: every agent answered in the asking task, critics one after
  another and without their per-review time limit: no bus at all, a lower
  bound for any design (on a real model the critics would not overlap).

Only the delivery changes: the same envelopes are built and recorded, the
agents make the same model calls (checked: every variant's calls equal the
shipped session's), and replies carry their cost as :func:`serve` makes them.
The inline variants are patches to this process for the duration of a
session; they are not a mode of critic.

Each variant is measured like ``session_overhead``'s instant part, against
the same plain loop, interleaved rep by rep in alternating order: CPU per
round by the goal's estimate (a 3-round minus a 1-round session, halved) and
steady (a 30-round minus a 1-round session, over 29), each as a ratio to the
plain loop's CPU per round over pairs of reps (``session_overhead.paired``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from unittest import mock

import anyio
from _common import arguments, emit, log, median
from anyio.abc import TaskStatus
from session_overhead import LONG, ROUNDS, framework_session, paired, plain_loop, scripted

from critic.bus import coordinator, envelopes
from critic.bus.agents import critic_handler
from critic.bus.coordinator import RecordedBus
from critic.bus.envelopes import evolve, sealed
from critic.bus.hosting import Handler, with_cost
from critic.bus.memory import MemoryBus
from critic.bus.topics import inbox, review_topic, topic
from critic.messages import ChatMessage, Envelope, ModelCall
from critic.protocols import Bus, Critic, Reply

VARIANTS = ("bus", "inline_generator_judge", "inline_all")


class InlineBus(MemoryBus):
    """A memory bus that answers a request on a registered topic by calling its handler in
    the asking task (what :func:`serve` would do, less the delivery)."""

    def __init__(self) -> None:
        super().__init__()
        self.handlers: dict[str, tuple[Bus, Handler, str]] = {}

    async def request(self, envelope: Envelope, *, timeout: float | None = None) -> Envelope:
        found = self.handlers.get(envelope.topic)
        if found is None:
            return await super().request(envelope, timeout=timeout)
        bus, handler, name = found
        asked = evolve(envelope, reply_to=inbox(envelope))
        made: list[ModelCall] = []

        async def record(call: ModelCall) -> None:
            made.append(call)
            await bus.publish(sealed(asked.session, topic(asked.session, "model_call"), name,
                                     call, parent=asked.id))

        return envelopes.reply(asked, with_cost(await handler(asked, record), made),
                               sender=name)



class InlineAllBus(InlineBus):
    """An :class:`InlineBus` whose fan-outs are answered one request after another."""

    async def request_many(self, requests: Sequence[Envelope],
                           timeouts: Sequence[float | None]) -> list[Reply]:
        return [await self.request(e, timeout=t) for e, t in zip(requests, timeouts, strict=True)]


def _register(bus: Bus, pattern: str, handler: Handler, name: str) -> None:
    assert isinstance(bus, RecordedBus) and isinstance(bus.inner, InlineBus)
    bus.inner.handlers[pattern] = (bus, handler, name)


async def _serve_inline(bus: Bus, pattern: str, handler: Handler, *, name: str,
                        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
                        **_: object) -> None:
    _register(bus, pattern, handler, name)
    task_status.started()


async def _serve_critic_inline(bus: Bus, session: str, critic: Critic, *,
                               task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
                               **_: object) -> None:
    _register(bus, review_topic(session, critic.name), critic_handler(critic, limited=False),
              critic.name)
    task_status.started()


#: Agents each variant answers in the asking task (3 critics, a generator, a judge): checked
#: after every session, so a patch that stopped taking effect cannot pass for a result.
INLINE = {"bus": 0, "inline_generator_judge": 2, "inline_all": 5}


@contextmanager
def variant(name: str) -> Iterator[None]:
    """Variant ``name``'s patches, applied meanwhile."""
    if name == "bus":
        yield
        return
    with mock.patch.object(coordinator, "serve", _serve_inline):
        if name == "inline_generator_judge":
            yield
            return
        assert name == "inline_all"
        with mock.patch.object(coordinator, "serve_critic", _serve_critic_inline):
            yield


async def session_cpu(name: str, rounds: int) -> tuple[float, list[tuple[ChatMessage, ...]]]:
    buses: list[MemoryBus] = []

    def bus() -> MemoryBus:
        buses.append({"bus": MemoryBus, "inline_generator_judge": InlineBus,
                      "inline_all": InlineAllBus}[name]())
        return buses[-1]

    with variant(name):
        (_, cpu), model = await framework_session(None, rounds, bus)
    inline = buses[0].handlers if isinstance(buses[0], InlineBus) else {}
    assert len(inline) == INLINE[name], f"{name}: {len(inline)} agents answered inline"
    return cpu, [c.messages for c in model.calls]


async def ablate(reps: int, sessions: int) -> dict[str, Any]:
    _, recorded = await framework_session(None)
    calls = [(c.agent, c.messages) for c in recorded.calls]
    shipped = [messages for _, messages in calls]
    for name in VARIANTS:  # the same work whatever the delivery
        _, made = await session_cpu(name, ROUNDS)
        assert made == shipped, f"{name}: the agents' model calls differ from the shipped path"

    async def plain() -> float:
        _, cpu = await plain_loop(scripted(), calls)
        return cpu

    runs: dict[str, Callable[[], Awaitable[float]]] = {"plain": plain}
    for name in VARIANTS:
        for rounds in (1, ROUNDS, LONG):
            async def run(name: str = name, rounds: int = rounds) -> float:
                return (await session_cpu(name, rounds))[0]
            runs[f"{name}/{rounds}"] = run
    for warm_up in runs.values():
        await warm_up()
    cpu: dict[str, list[float]] = {key: [] for key in runs}
    order = list(runs)
    for rep in range(reps):
        for key in order if rep % 2 == 0 else order[::-1]:
            cpu[key].append(median([await runs[key]() for _ in range(sessions)]) * 1e6)
        log(f"ablation rep {rep + 1}/{reps}")
    plain_round = [p / ROUNDS for p in cpu["plain"]]
    figures: dict[str, Any] = {"plain_cpu_us_per_round": round(median(plain_round), 1)}
    for name in VARIANTS:
        one = cpu[f"{name}/1"]
        short = [(s - o) / (ROUNDS - 1) for s, o in zip(cpu[f"{name}/{ROUNDS}"], one, strict=True)]
        steady = [(s - o) / (LONG - 1) for s, o in zip(cpu[f"{name}/{LONG}"], one, strict=True)]
        by_goal = paired(short, plain_round)
        by_steady = paired(steady, plain_round)
        figures[name] = {
            "cpu_us_per_round": round(median(short), 1),
            "cpu_us_per_round_steady": round(median(steady), 1),
            "cpu_ratio_vs_plain": round(median(by_goal), 2),
            "cpu_ratio_vs_plain_pairs": [round(r, 2) for r in by_goal],
            "cpu_ratio_vs_plain_steady": round(median(by_steady), 2),
            "cpu_ratio_vs_plain_steady_pairs": [round(r, 2) for r in by_steady],
        }
    figures.update(reps=reps, sessions_per_rep=sessions, long_session_rounds=LONG)
    return figures


LABELS = {"bus": "as shipped (every agent a bus service)",
          "inline_generator_judge": "generator and judge answered inline",
          "inline_all": "every agent inline, no bus (lower bound)"}


def main() -> None:
    started = time.perf_counter()
    args = arguments(__doc__.splitlines()[0])
    figures = anyio.run(ablate, *((4, 5) if args.quick else (16, 20)))
    headline = []
    for name in VARIANTS:
        headline += [
            {"metric": f"session CPU per round / plain loop's, {LABELS[name]}",
             "value": figures[name]["cpu_ratio_vs_plain"], "goal": None, "met": None},
            {"metric": f"the same, steady ({LONG}-round session), {LABELS[name]}",
             "value": figures[name]["cpu_ratio_vs_plain_steady"], "goal": None, "met": None},
        ]
    emit("session_ablation", args, {"headline": headline, **figures}, started=started)


if __name__ == "__main__":
    main()
