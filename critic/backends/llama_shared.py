"""Critics that share a prompt prefix evaluate it once: one llama.cpp context, a sequence each.

The critics of a round see the same system prompt, task and draft before their
own instructions, and prefill is most of a critic call on a small model. Here
every call of the agents bound to one :class:`SharedPrefixEngine` becomes a
*sequence* of one multi-sequence llama.cpp context:

* the calls that arrive together evaluate their common token prefix once (in
  one sequence) and copy it to the others (``llama_memory_seq_cp``: the KV
  cells are copied, not recomputed);
* their suffixes and then every decode step run as one batch;
* each agent keeps its own sequence between calls, so a critic with
  ``memory = "session"`` still continues from what *it* evaluated before,
  while ``fresh_context`` calls keep nothing of their own.

Separate contexts still hold: a sequence attends only to its own cells, and a
copied prefix is, token for token, the start of that agent's own prompt.

Text handling is llama-cpp-python's own: each agent calls
``create_chat_completion`` on a lightweight view of one loaded ``Llama`` whose
``generate`` yields the tokens this engine samples (with the sampler chain
``Llama._init_sampler`` builds for that call: penalties, grammar, greedy or
seeded). So chat templates, stop strings and finish reasons are unchanged, and
at temperature 0 the outputs are those of the per-agent path (tested).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections import Counter
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from critic.errors import ModelError

if TYPE_CHECKING:
    from llama_cpp import Llama
    from llama_cpp._internals import LlamaContext, LlamaSampler

    from critic.backends.llama_cpp import CpuBudget


class Abandoned(Exception):
    """Raised inside llama.cpp's generation loop to stop a call nobody waits for."""


@dataclass(eq=False)
class Request:
    agent: str
    prompt: list[int]
    sampler: LlamaSampler
    fresh: bool
    tokens: queue.SimpleQueue[int | BaseException] = field(default_factory=queue.SimpleQueue)
    replies: queue.SimpleQueue[bool] = field(default_factory=queue.SimpleQueue)
    evaluated: int = 0
    """Prompt tokens this request's sequence evaluated itself (a copied prefix is not)."""


@dataclass(eq=False)
class _Slot:
    seq: int
    tokens: list[int] = field(default_factory=list)
    """What this sequence holds in the KV cache, in order from position 0."""
    owner: str | None = None
    request: Request | None = None
    pending: int | None = None
    """A sampled token not yet decoded (its logits drive the next sample)."""


def idle_cores() -> int | None:
    """Cores no runnable thread but the caller is using now (Linux), else None.

    From the kernel's count of runnable threads in ``/proc/loadavg``, which
    includes the caller itself.
    """
    try:
        with open("/proc/loadavg", "rb") as fh:
            running = int(fh.read().split()[3].split(b"/")[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(1, (os.cpu_count() or 1) - running + 1)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many tokens two sequences share from the start."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class SharedPrefixEngine:
    """One multi-sequence llama.cpp context serving the calls of several agents.

    ``base`` is a loaded ``Llama`` (weights and tokenizer); the engine makes its
    own context on the same weights with ``sequences`` sequences of ``n_ctx``
    tokens each, and runs it in one thread that holds ``budget`` while it works.
    """

    def __init__(self, base: Llama, *, n_ctx: int, sequences: int, n_threads: int,
                 budget: CpuBudget) -> None:
        import llama_cpp
        from llama_cpp._internals import LlamaBatch, LlamaContext

        if sequences < 1:
            raise ModelError(f"shared-prefix engine needs at least 1 sequence, got {sequences}")
        self.base = base
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.budget = budget
        params = type(base.context_params).from_buffer_copy(base.context_params)
        params.n_ctx = n_ctx * sequences
        # One decode takes every new suffix and every running sequence's next token;
        # llama.cpp splits it into physical batches of n_ubatch itself.
        params.n_batch = n_ctx * sequences
        params.n_ubatch = min(512, n_ctx)
        params.n_seq_max = sequences
        # A stream per sequence, so each sequence's cells sit at the indices a context of
        # its own would use: attention then sums in the same order and outputs at
        # temperature 0 match the per-agent path bit for bit (a unified cache did not).
        params.kv_unified = False
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        self._ctx: LlamaContext = LlamaContext(model=base._model, params=params, verbose=True)
        self._batch = LlamaBatch(n_tokens=params.n_batch, embd=0, n_seq_max=1, verbose=False)
        self._memory = llama_cpp.llama_get_memory(self._ctx.ctx)
        self._slots = [_Slot(seq) for seq in range(sequences)]
        self._pending: list[Request] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self.agents = 0
        """Backends bound to this engine now (kept by the model): an idle engine waits for
        this many calls, or ``gather_seconds``, before it starts."""
        self.gather_seconds = 0.05
        """How long an idle engine waits for the other agents' calls before it starts."""
        self._threads = n_threads
        self.threads: Counter[int] = Counter()
        """Steps by the number of threads they ran on (at most ``n_threads``)."""
        self.steps: Counter[int] = Counter()
        """Decode steps by how many sequences each carried: batching pays only while
        several calls run side by side (a benchmark reads it)."""

    # -- the caller's side (any thread) -------------------------------------------------

    def view(self, agent: str, llama_class: type[Llama]) -> Llama:
        """A ``Llama`` for one agent whose generation runs on this engine.

        A shallow copy of ``base`` (shared weights, tokenizer and chat handler;
        its own seed and sampler), re-classed so ``generate`` comes here.
        """
        # Not copy.copy: Llama's __setstate__ would load the model again (quietly,
        # which redirects fds 1 and 2 under our feet).
        view = llama_class.__new__(llama_class)
        view.__dict__.update(self.base.__dict__)
        # The copy must never free what it shares with base when it is collected.
        view._stack = contextlib.ExitStack()
        view._n_ctx = self.n_ctx
        # Its own token record (create_completion reads it); scores are never written
        # without logits_all, but stopping criteria are handed a row of them.
        import numpy as np  # with llama-cpp-python (the `local` extra), not a core dependency

        view.input_ids = np.zeros(self.n_ctx, dtype=np.intc)
        view.scores = np.zeros((1, self.base.n_vocab()), dtype=np.single)
        view.engine = self  # type: ignore[attr-defined]
        view.agent = agent  # type: ignore[attr-defined]
        return view

    def stream(self, request: Request, cancel: threading.Event | None) -> Generator[int, Any, None]:
        """The tokens sampled for ``request`` in its agent's sequence, one at a time.

        The engine waits for each token to be taken (or the generator closed)
        before it decodes the next, so a caller that stops at a stop string or
        at ``max_tokens`` ends its sequence there.
        """
        self._submit(request)
        owed = False  # the engine waits for our answer to the token it handed us
        try:
            while True:
                item = request.tokens.get()
                if isinstance(item, BaseException):
                    raise item  # the engine dropped the request and waits for nothing
                owed = True
                if cancel is not None and cancel.is_set():
                    raise Abandoned
                yield item
                request.replies.put(True)
                owed = False
        finally:
            if owed:
                request.replies.put(False)

    def _submit(self, request: Request) -> None:
        with self._cond:
            if self._closed:
                raise ModelError("the shared llama.cpp context is closed")
            self._pending.append(request)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="critic-shared-prefix",
                                                 daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()
        # Every caller still waiting hears of it, those never given a sequence too: a
        # call abandoned by a cancelled review would otherwise hold its worker thread,
        # and the process at exit, for good.
        with self._cond:
            waiting = [slot.request for slot in self._slots if slot.request is not None]
            waiting += self._pending
            self._pending.clear()
        for request in waiting:
            request.tokens.put(ModelError("the shared llama.cpp context was closed"))
        self._batch.close()  # type: ignore[no-untyped-call]
        self._ctx.close()  # type: ignore[no-untyped-call]

    # -- the engine thread ----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or bool(self._pending)
                                    or self._active())
                if not self._active():
                    # Idle: the critics of a round are asked together but reach us one by
                    # one, so give the rest a moment to arrive and share their prefix. This
                    # only decides what is batched, never what is generated.
                    self._cond.wait_for(
                        lambda: self._closed or len(self._pending) >= self.agents,
                        timeout=self.gather_seconds)
                if self._closed:
                    return
                new = self._admit()
            try:
                self._step(new)
            except Exception as exc:  # every caller must hear of it
                self._fail(ModelError(f"shared llama.cpp context: {exc}"))

    def _active(self) -> list[_Slot]:
        return [slot for slot in self._slots if slot.request is not None]

    def _admit(self) -> list[_Slot]:
        """Give pending requests free sequences: the agent's own first, then the closest cache."""
        admitted: list[_Slot] = []
        while self._pending:
            free = [slot for slot in self._slots if slot.request is None]
            if not free:
                break
            request = self._pending.pop(0)
            own = [slot for slot in free if slot.owner == request.agent]
            slot = own[0] if own else max(
                free, key=lambda s: (s.owner is None, common_prefix(s.tokens, request.prompt)))
            slot.request, slot.owner, slot.pending = request, request.agent, None
            admitted.append(slot)
        return admitted

    def _step(self, new: list[_Slot]) -> None:
        # One context does the work of several, so it takes every core that is free for
        # it, step by step: two threads on a core another process is using made a decode
        # 8-30x slower (llama.cpp's threads meet at spinning barriers), so cores busy
        # outside the budget are left alone too.
        threads = self.budget.acquire_up_to(self.n_threads, idle_cores())
        try:
            if threads != self._threads:
                import llama_cpp

                llama_cpp.llama_set_n_threads(self._ctx.ctx, threads, threads)
                self._threads = threads
            self.threads[threads] += 1
            waiting = self._compute(new)
        finally:
            self.budget.release(threads)
        # Collect the answers outside the budget: the callers' text checks (stop
        # strings, detokenizing) overlap, and another context may use the core meanwhile.
        for slot in waiting:
            request = slot.request
            assert request is not None
            if not request.replies.get():
                self._finish(slot)

    def _compute(self, new: list[_Slot]) -> list[_Slot]:
        """Set up new sequences, decode one batch, sample every sequence's next token."""
        starts = self._share_prefix(new) if new else {}
        batch = self._batch.batch
        batch.n_tokens = 0
        outputs: list[tuple[_Slot, int]] = []

        def add(slot: _Slot, tokens: Sequence[int]) -> None:
            for k, token in enumerate(tokens):
                j = batch.n_tokens
                batch.token[j] = token
                batch.pos[j] = len(slot.tokens) + k
                batch.seq_id[j][0] = slot.seq
                batch.n_seq_id[j] = 1
                batch.logits[j] = k == len(tokens) - 1
                batch.n_tokens += 1
            slot.tokens.extend(tokens)
            outputs.append((slot, batch.n_tokens - 1))

        for slot in self._active():
            if slot in starts:
                assert slot.request is not None
                suffix = slot.request.prompt[starts[slot]:]
                slot.request.evaluated += len(suffix)
                add(slot, suffix)
            elif slot.pending is not None:
                add(slot, [slot.pending])
                slot.pending = None
        if batch.n_tokens == 0:
            return []
        self._decode()
        self.steps[len(outputs)] += 1
        waiting: list[_Slot] = []
        for slot, index in outputs:
            request = slot.request
            assert request is not None
            token = request.sampler.sample(self._ctx, index)
            slot.pending = token
            request.tokens.put(token)
            waiting.append(slot)
        return waiting

    def _share_prefix(self, new: list[_Slot]) -> dict[_Slot, int]:
        """Set up the KV cache of newly admitted sequences; where each one's own suffix starts.

        A sequence keeps the prefix of its own earlier tokens that its prompt
        repeats (unless the call asked for a fresh context); the calls admitted
        together then evaluate their common prefix once, in the sequence that
        already holds most of it, and the others copy it.
        """
        start: dict[_Slot, int] = {}
        for slot in new:
            assert slot.request is not None
            # The last prompt token is always evaluated: its logits give the first sample.
            keep = 0 if slot.request.fresh else common_prefix(slot.tokens,
                                                               slot.request.prompt[:-1])
            self._truncate(slot, keep)
            start[slot] = keep
        if len(new) > 1:
            prompts = [slot.request.prompt[:-1] for slot in new if slot.request is not None]
            shared = min(common_prefix(prompts[0], p) for p in prompts[1:])
            leader = max(new, key=lambda s: start[s])
            if shared > start[leader]:
                assert leader.request is not None
                tokens = leader.request.prompt[start[leader]:shared]
                leader.request.evaluated += len(tokens)
                self._prefill(leader, tokens)
                start[leader] = shared
            for slot in new:
                if slot is not leader and start[slot] < start[leader] and shared > start[slot]:
                    self._truncate(slot, 0)
                    self._copy(leader, slot, shared)
                    start[slot] = shared
        return start

    def _truncate(self, slot: _Slot, keep: int) -> None:
        import llama_cpp

        llama_cpp.llama_memory_seq_rm(self._memory, slot.seq, keep, -1)
        del slot.tokens[keep:]

    def _copy(self, source: _Slot, target: _Slot, n: int) -> None:
        """Give ``target`` the first ``n`` tokens of ``source``'s cache.

        Between streams llama.cpp copies whole buffers (at the next decode), so
        the copy is cut back to ``n`` afterwards.
        """
        import llama_cpp

        llama_cpp.llama_memory_seq_cp(self._memory, source.seq, target.seq, -1, -1)
        target.tokens = list(source.tokens)
        self._truncate(target, n)

    def _prefill(self, slot: _Slot, tokens: Sequence[int]) -> None:
        batch = self._batch.batch
        batch.n_tokens = 0
        for k, token in enumerate(tokens):
            batch.token[k] = token
            batch.pos[k] = len(slot.tokens) + k
            batch.seq_id[k][0] = slot.seq
            batch.n_seq_id[k] = 1
            batch.logits[k] = False
        batch.n_tokens = len(tokens)
        slot.tokens.extend(tokens)
        self._decode()

    def _decode(self) -> None:
        self._ctx.decode(self._batch)

    def _finish(self, slot: _Slot) -> None:
        """The call is over; the sequence keeps its tokens for the agent's next call."""
        slot.pending = None  # sampled but never decoded: not in the KV cache
        slot.request = None

    def _fail(self, error: ModelError) -> None:
        import llama_cpp

        for slot in self._slots:
            if slot.request is not None:
                slot.request.tokens.put(error)
                slot.request = None
            slot.tokens.clear()
            slot.pending = None
        llama_cpp.llama_memory_clear(self._memory, True)
        with self._cond:
            for request in self._pending:
                request.tokens.put(error)
            self._pending.clear()
