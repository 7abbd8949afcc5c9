"""A response cache in SQLite that wraps any model, local or HTTP.

A call is keyed by a SHA-256 of the model's identity (its ``describe()``: file
hash or URL and model name), the backend's name, the messages, the sampling
parameters and the schema; the row keeps the completion text, usage and finish
reason. Re-running an experiment then pays for no call twice, and
``offline=True`` serves from the cache only, failing on a miss.

Sampled calls (temperature > 0 without a seed) are not reproducible, so they
are neither read nor written unless ``cache_sampled=True``.

Lookups and writes run in a worker thread (``anyio.to_thread``) behind one
lock per cache, so the event loop never waits on disk or on another process's
write lock; only opening and closing the file (once per run) happen inline.
WAL journaling plus a busy timeout make concurrent readers and writers safe in
one process and across processes.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio

from critic.backends.base import Completion, GenerationParams, JsonSchema
from critic.errors import CacheMiss, ConfigError
from critic.messages import ChatMessage, Usage
from critic.protocols import Backend, Model

_SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    text TEXT NOT NULL,
    usage TEXT NOT NULL,
    finish_reason TEXT,
    created REAL NOT NULL
)
"""


class ResponseCache:
    """One SQLite file of completions; open it with ``ResponseCache(path)``, close with ``close()``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # One connection used from worker threads, serialized by `_lock`.
            self._db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False,
                                       isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"--cache {self.path}: cannot open the cache: {exc}") from exc
        self._lock = threading.Lock()

    @staticmethod
    def key(
        identity: str, messages: Sequence[ChatMessage], params: GenerationParams,
        schema: JsonSchema | None,
    ) -> str:
        """The cache key of one call (stable across processes and Python versions)."""
        payload = {
            "identity": identity,
            "messages": [m.model_dump(mode="json") for m in messages],
            # fresh_context changes nothing a server answers: keys stay as they were.
            "params": params.model_dump(mode="json", exclude={"fresh_context"}),
            "schema": schema,
        }
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def _get(self, key: str) -> Completion | None:
        with self._lock:
            row = self._db.execute(
                "SELECT text, usage, finish_reason FROM completions WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        return Completion(text=row[0], usage=Usage.model_validate_json(row[1]),
                          finish_reason=row[2])

    def _put(self, key: str, backend: str, completion: Completion) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?, ?, ?)",
                (key, backend, completion.text, completion.usage.model_dump_json(),
                 completion.finish_reason, time.time()),
            )

    async def get(self, key: str) -> Completion | None:
        return await anyio.to_thread.run_sync(self._get, key)

    async def put(self, key: str, backend: str, completion: Completion) -> None:
        await anyio.to_thread.run_sync(self._put, key, backend, completion)

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM completions").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def cacheable(params: GenerationParams) -> bool:
    """Whether a call is reproducible: greedy, or sampled with a fixed seed."""
    return params.temperature == 0 or params.seed is not None


@dataclass
class CachedBackend:
    """A backend whose answers come from the cache when they can."""

    inner: Backend
    cache: ResponseCache
    identity: str
    offline: bool = False
    cache_sampled: bool = False

    @property
    def name(self) -> str:
        return self.inner.name

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        schema: JsonSchema | None = None,
    ) -> Completion:
        use_cache = self.cache_sampled or cacheable(params)
        if not use_cache:
            if self.offline:
                raise CacheMiss(f"{self.name}: --offline, and a call with temperature "
                                f"{params.temperature} and no seed is never cached")
            return await self.inner.complete(messages, params, schema)
        key = ResponseCache.key(f"{self.identity}|{self.name}", messages, params, schema)
        started = time.perf_counter()
        hit = await self.cache.get(key)
        if hit is not None:
            return hit.model_copy(update={"latency": time.perf_counter() - started})
        if self.offline:
            raise CacheMiss(f"{self.name}: --offline and this call is not in the cache "
                            f"{self.cache.path} (key {key[:12]})")
        completion = await self.inner.complete(messages, params, schema)
        await self.cache.put(key, self.name, completion)
        return completion


@dataclass
class CachedModel:
    """Wraps a :class:`Model` so that every agent's backend goes through the cache."""

    inner: Model
    cache: ResponseCache
    offline: bool = False
    cache_sampled: bool = False

    def backend(self, agent: str) -> CachedBackend:
        identity = json.dumps(self.inner.describe(), sort_keys=True)
        return CachedBackend(self.inner.backend(agent), self.cache, identity,
                             offline=self.offline, cache_sampled=self.cache_sampled)

    def describe(self) -> dict[str, str]:
        return self.inner.describe()

    async def aclose(self) -> None:
        await self.inner.aclose()
