"""``critic run`` against a local OpenAI-compatible stub server: connection limit and cache."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from critic.messages import ModelCall
from critic.transcript import read_transcript
from tests.servers import StubServer

FOUR = ("correctness", "clarity", "concision", "factuality")


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer.running(latency=0.2, concurrency=8) as server:
        yield server


def critic_run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    roles = [arg for name in FOUR for arg in ("--role", name)]
    return subprocess.run(
        [sys.executable, "-m", "critic.cli.main", "run", "Write a Python function that adds.",
         "--model", url, "--max-rounds", "1", "--json", *roles, *args],
        capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize("limit", [2, 4])
def test_max_connections_caps_requests_in_flight(limit: int) -> None:
    # The stub answers no critique until `limit` of them are in flight at once, so the
    # four critics must overlap up to the limit, whatever the machine's speed.
    with StubServer.running(latency=0.0, concurrency=8, hold=limit) as stub:
        result = critic_run(stub.url, "--max-connections", str(limit))
        stats = stub.stats()
    assert result.returncode == 0, result.stderr
    verdict = json.loads(result.stdout)["verdicts"][0]
    assert verdict["critiques_used"] == 4
    assert stats["requests"] == 5  # one draft, four critiques
    assert stats["max_in_flight"] == limit  # all four critics fan out, up to the limit


def _comparable(path: Path) -> list[object]:
    """Every payload of a transcript, without what legitimately differs between runs."""
    volatile = {"latency", "elapsed", "session"}

    def strip(value: object) -> object:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in volatile}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    payloads = [strip(e.payload.model_dump(mode="json")) for e in read_transcript(path).envelopes]
    # Concurrent critics finish in any order, so their records may interleave differently.
    return sorted(payloads, key=lambda p: json.dumps(p, sort_keys=True))


def test_second_identical_run_is_served_from_the_cache(stub: StubServer, tmp_path: Path) -> None:
    cache = str(tmp_path / "cache.sqlite")
    first = critic_run(stub.url, "--cache", cache, "--transcript", str(tmp_path / "1.jsonl"))
    assert first.returncode == 0, first.stderr
    assert stub.stats()["requests"] == 5
    second = critic_run(stub.url, "--cache", cache, "--transcript", str(tmp_path / "2.jsonl"))
    assert second.returncode == 0, second.stderr
    assert stub.stats()["requests"] == 5  # not one request more
    one, two = _comparable(tmp_path / "1.jsonl"), _comparable(tmp_path / "2.jsonl")
    assert one == two
    assert sum(isinstance(p, dict) and p.get("kind") == "model_call" for p in one) == 5
    # Offline, the warm cache answers everything as well.
    third = critic_run(stub.url, "--cache", cache, "--offline")
    assert third.returncode == 0, third.stderr
    assert json.loads(third.stdout)["score"] == json.loads(first.stdout)["score"]
    assert stub.stats()["requests"] == 5
    calls = read_transcript(tmp_path / "2.jsonl").payloads("model_call")
    assert all(isinstance(c, ModelCall) and c.status == "ok" for c in calls)


def test_offline_with_a_cold_cache_fails_clearly(stub: StubServer, tmp_path: Path) -> None:
    result = critic_run(stub.url, "--cache", str(tmp_path / "cold.sqlite"), "--offline")
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert "--offline and this call is not in the cache" in last and "cold.sqlite" in last
    assert stub.stats()["requests"] == 0


def test_offline_without_cache_is_a_usage_error() -> None:
    result = critic_run("http://127.0.0.1:9/v1", "--offline")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --offline needs --cache FILE to serve from"
