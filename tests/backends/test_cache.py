"""The SQLite response cache: hits, misses, offline, sampled calls, many writers."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import anyio
import pytest

from critic.backends.base import Completion, GenerationParams
from critic.backends.cache import CachedModel, ResponseCache
from critic.errors import CacheMiss, ConfigError
from critic.messages import ChatMessage, Usage
from critic.testing import ScriptedModel

pytestmark = pytest.mark.anyio

ASK = [ChatMessage(role="user", content="2+2?")]
GREEDY = GenerationParams(max_tokens=8, temperature=0.0)


def cached(tmp_path: Path, *, offline: bool = False, sampled: bool = False,
           replies: int = 5) -> tuple[CachedModel, ScriptedModel]:
    inner = ScriptedModel(scripts={"a": [f"answer {i}" for i in range(replies)]})
    return CachedModel(inner, ResponseCache(tmp_path / "c.sqlite"), offline=offline,
                       cache_sampled=sampled), inner


async def test_identical_call_is_served_from_the_cache(tmp_path: Path) -> None:
    model, inner = cached(tmp_path)
    backend = model.backend("a")
    first = await backend.complete(ASK, GREEDY)
    second = await backend.complete(ASK, GREEDY)
    assert first.text == second.text == "answer 0" and len(inner.calls) == 1
    assert second.usage == first.usage and second.finish_reason == "stop"
    # Anything that changes the call is a miss: params, messages, schema.
    await backend.complete(ASK, GREEDY.model_copy(update={"max_tokens": 9}))
    await backend.complete([ChatMessage(role="user", content="3+3?")], GREEDY)
    await backend.complete(ASK, GREEDY, {"type": "object"})
    assert len(inner.calls) == 4
    await model.aclose()
    model.cache.close()


async def test_cache_survives_reopening_and_offline_serves_only_hits(tmp_path: Path) -> None:
    model, _ = cached(tmp_path)
    await model.backend("a").complete(ASK, GREEDY)
    model.cache.close()
    offline, inner = cached(tmp_path, offline=True)
    hit = await offline.backend("a").complete(ASK, GREEDY)
    assert hit.text == "answer 0" and inner.calls == []
    with pytest.raises(CacheMiss, match="--offline and this call is not in the cache"):
        await offline.backend("a").complete([ChatMessage(role="user", content="new")], GREEDY)
    assert inner.calls == []
    offline.cache.close()


async def test_keys_include_the_models_identity(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")
    one = CachedModel(ScriptedModel(default="from one"), cache)
    two = CachedModel(ScriptedModel(default="from two"), cache)
    two.inner.describe = lambda: {"kind": "other"}  # type: ignore[method-assign]
    assert (await one.backend("a").complete(ASK, GREEDY)).text == "from one"
    assert (await two.backend("a").complete(ASK, GREEDY)).text == "from two"
    assert len(cache) == 2
    cache.close()


async def test_sampled_calls_without_seed_are_not_cached_unless_asked(tmp_path: Path) -> None:
    hot = GenerationParams(max_tokens=8, temperature=0.7)
    model, inner = cached(tmp_path)
    backend = model.backend("a")
    assert [(await backend.complete(ASK, hot)).text for _ in range(2)] == ["answer 0", "answer 1"]
    seeded = hot.model_copy(update={"seed": 3})
    assert {(await backend.complete(ASK, seeded)).text for _ in range(2)} == {"answer 2"}
    assert len(inner.calls) == 3 and len(model.cache) == 1
    model.cache.close()
    asked, inner = cached(tmp_path, sampled=True)
    assert {(await asked.backend("a").complete(ASK, hot)).text for _ in range(2)} == {"answer 0"}
    asked.cache.close()
    offline, _ = cached(tmp_path, offline=True)
    with pytest.raises(CacheMiss, match="never cached"):
        await offline.backend("a").complete(ASK, hot)
    offline.cache.close()


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from critic.backends.cache import ResponseCache
    from critic.backends.base import Completion
    cache = ResponseCache(Path(sys.argv[1]))
    for i in range(150):
        cache._put(f"{sys.argv[2]}-{i}", "writer", Completion(text=str(i)))
        assert cache._get(f"{sys.argv[2]}-{i}") is not None
    cache.close()
""")


async def test_concurrent_writers_in_processes_and_tasks(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    cache = ResponseCache(path)
    procs = [await anyio.open_process([sys.executable, "-c", WRITER, str(path), name])
             for name in ("p1", "p2")]

    async def write(n: int) -> None:
        for i in range(40):
            await cache.put(f"t{n}-{i}", "task", Completion(text="x", usage=Usage(
                prompt_tokens=i)))
            assert await cache.get(f"t{n}-{i}") is not None

    async with anyio.create_task_group() as tg:
        for n in range(3):
            tg.start_soon(write, n)
    with anyio.fail_after(60):
        assert [await p.wait() for p in procs] == [0, 0]
    assert len(cache) == 2 * 150 + 3 * 40
    hit = await cache.get("t2-39")
    assert hit is not None and hit.usage.prompt_tokens == 39
    cache.close()


def test_unopenable_cache_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(ConfigError, match=r"--cache .*dir.sqlite: cannot open"):
        ResponseCache(tmp_path / "dir.sqlite")
