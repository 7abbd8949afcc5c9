"""Work on a stream of items, each ended at a time limit, under one cancel scope.

A scope and a timer armed and cancelled per item cost a third of a critic's hop
in a session round; here the items share a scope, cut by a watchdog task when
one overruns. A served critic's reviews (:func:`~critic.bus.hosting.serve` with
a ``timeout``) and :func:`~critic.bus.agents.review_each` go through it.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import anyio

Item = TypeVar("Item")
R = TypeVar("R")


class _Watchdog:
    """Cancels :attr:`scope` once the work in hand passes its :attr:`deadline`."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.deadline = math.inf
        """Of the work in hand; infinite between items."""
        self.scope = anyio.CancelScope()

    async def run(self) -> None:
        # It looks at least every ``timeout`` seconds, so it is never asleep past the
        # deadline of work started since it last looked (that deadline is ``timeout`` after
        # the start); work that ends before then costs it no wake-up at all.
        while True:
            now = anyio.current_time()
            if self.deadline <= now:
                self.deadline = math.inf
                self.scope.cancel()
            else:
                await anyio.sleep_until(min(self.deadline, now + self.timeout))


async def each_within(
    timeout: float,
    items: AsyncIterator[Item],
    work: Callable[[Item], Awaitable[R]],
    late: Callable[[Item], R],
    then: Callable[[Item, R], Awaitable[None]],
) -> None:
    """``work`` on each of ``items`` in turn, each ended at ``timeout`` seconds (``late(item)``
    stands in for the result of work cut short), each result handed to ``then``, which runs
    outside the limit. What ``work`` raises ends the loop.

    The items share one cancel scope, which a watchdog task cancels when an item overruns
    (then a new scope takes over), instead of a scope and a timer armed and cancelled per
    item: a third of the cost of a critic's hop in a session round, a tenth of a model-free
    scoring record's. The watchdog runs when the work waits, so an overrun is cut at the
    work's first wait after its deadline, as a scope of its own would cut it, give or take
    one turn of the event loop.
    """
    if not timeout > 0:
        raise ValueError(f"each_within needs a positive timeout, got {timeout!r}")
    watchdog = _Watchdog(timeout)
    failure: Exception | None = None
    async with anyio.create_task_group() as tg:
        if timeout < math.inf:
            tg.start_soon(watchdog.run)
        try:
            await _each_within(watchdog, items, work, late, then)
        except Exception as exc:  # raised as itself below, not inside an exception group
            failure = exc
        tg.cancel_scope.cancel()
    if failure is not None:
        raise failure


async def _each_within(
    watchdog: _Watchdog, items: AsyncIterator[Item], work: Callable[[Item], Awaitable[R]],
    late: Callable[[Item], R], then: Callable[[Item, R], Awaitable[None]],
) -> None:
    timeout = watchdog.timeout
    while True:
        cut: tuple[Item, R] | None = None
        with anyio.CancelScope() as scope:
            watchdog.scope = scope
            async for item in items:
                watchdog.deadline = anyio.current_time() + timeout
                try:
                    result = await work(item)
                finally:
                    watchdog.deadline = math.inf
                if scope.cancel_called:  # cut as it ended: the scope is spent, finish outside
                    cut = (item, result)
                    break
                await then(item, result)
            else:
                return
        if scope.cancelled_caught:  # the work in hand ran past its deadline
            cut = (item, late(item))
        assert cut is not None
        await then(*cut)
