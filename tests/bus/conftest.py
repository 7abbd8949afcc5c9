"""The bus under test. The conformance suite runs once per implementation:
add an implementation by extending ``BUS_KINDS`` and ``make_bus``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from critic.bus.memory import MemoryBus
from critic.protocols import Bus
from tests.nats_server import NatsServer, nats_server

BUS_KINDS = ["memory", "memory-json", "nats"]


@pytest.fixture(scope="session")
def nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """One nats-server with JetStream for the whole test session."""
    store: Path = tmp_path_factory.mktemp("nats-store")
    with nats_server(store) as server:
        yield server


@pytest.fixture(params=BUS_KINDS)
async def bus(request: pytest.FixtureRequest, anyio_backend: str) -> AsyncIterator[Bus]:
    kind = request.param
    if kind == "memory":
        made: Bus = MemoryBus(buffer=8)
    elif kind == "memory-json":
        made = MemoryBus(buffer=8, serialize=True)
    elif kind == "nats":
        if anyio_backend != "asyncio":
            pytest.skip("the NATS bus runs on asyncio only (nats-py); under trio it raises BusError")
        from critic.bus.nats import NatsBus

        server: NatsServer = request.getfixturevalue("nats")
        made = await NatsBus.connect(server.url, ack_wait=5, poll=0.5)
    else:  # pragma: no cover
        raise AssertionError(kind)
    try:
        yield made
    finally:
        await made.aclose()
