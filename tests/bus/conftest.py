"""The bus under test. The conformance suite runs once per implementation:
add an implementation by extending ``BUS_KINDS`` and ``make_bus``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from critic.bus import Bus, MemoryBus

BUS_KINDS = ["memory", "memory-json"]


@pytest.fixture(params=BUS_KINDS)
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    kind = request.param
    if kind == "memory":
        made: Bus = MemoryBus(buffer=8)
    elif kind == "memory-json":
        made = MemoryBus(buffer=8, serialize=True)
    else:  # pragma: no cover
        raise AssertionError(kind)
    try:
        yield made
    finally:
        await made.aclose()
