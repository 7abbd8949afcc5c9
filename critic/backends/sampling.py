"""Greedy sampling under a grammar that asks the grammar about one token, not the vocabulary.

A critic answers in JSON, so its calls sample through llama.cpp's grammar
sampler, and llama-cpp-python's chain (penalties, grammar, greedy) applies the
grammar to every one of the 49,152 tokens of SmolLM2's vocabulary at every
step: 8-9 ms per token, a quarter of a critic call on 2 cores (measured,
benchmarks/critic_phase.py). At temperature 0 the chain's answer is the first
token of highest penalised logit among those the grammar allows. So: take the
argmax of the penalised logits first, and ask the grammar only about that
token; only if it refuses is the grammar applied to the whole vocabulary (what
llama.cpp's own ``common_sampler`` does). The token is the chain's token in
both cases, and both samplers then accept it, as the chain does.
"""

from __future__ import annotations

import ctypes
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llama_cpp._internals import LlamaContext


class GreedyFirstSampler:
    """``LlamaSampler.sample``'s contract for penalties + grammar + greedy, grammar-last.

    ``refused`` counts the steps where the argmax broke the grammar and the
    whole vocabulary was filtered (a benchmark and a test read it).
    """

    def __init__(self, *, vocab: Any, n_vocab: int, grammar: str, root: str,
                 penalty_last_n: int, penalty_repeat: float, penalty_freq: float,
                 penalty_present: float) -> None:
        import llama_cpp
        import numpy as np  # with llama-cpp-python (the `local` extra)

        self._llama_cpp = llama_cpp
        self._np = np
        self.n_vocab = n_vocab
        self.steps = 0
        self.refused = 0
        self._penalties = llama_cpp.llama_sampler_init_penalties(
            n_vocab, penalty_last_n, penalty_repeat, penalty_freq, penalty_present)
        self._grammar = llama_cpp.llama_sampler_init_grammar(
            vocab, grammar.encode("utf-8"), root.encode("utf-8"))
        if not self._grammar:
            self.close()
            raise ValueError("llama.cpp could not parse the grammar")
        # One candidate buffer for the sampler's life, laid out as llama_token_data
        # (id, logit, p), in token order as llama_sampler_sample builds it.
        self._cells = (llama_cpp.llama_token_data * n_vocab)()
        self._data = np.ctypeslib.as_array(self._cells).view(
            np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)]))
        self._data["id"] = np.arange(n_vocab, dtype=np.int32)
        self._all = llama_cpp.llama_token_data_array(
            data=self._cells, size=n_vocab, selected=-1, sorted=False)
        self._cell = (llama_cpp.llama_token_data * 1)()
        self._one = llama_cpp.llama_token_data_array(
            data=self._cell, size=1, selected=-1, sorted=False)

    def sample(self, ctx: LlamaContext, idx: int) -> int:
        llama_cpp, np = self._llama_cpp, self._np
        logits = llama_cpp.llama_get_logits_ith(ctx.ctx, idx)
        data = self._data
        # Only the logits change: ids are set once, and no sampler here writes p.
        data["logit"] = np.ctypeslib.as_array(logits, shape=(self.n_vocab,))
        self._all.size, self._all.selected, self._all.sorted = self.n_vocab, -1, False
        llama_cpp.llama_sampler_apply(self._penalties, ctypes.byref(self._all))
        token = int(np.argmax(data["logit"]))
        self._cell[0] = llama_cpp.llama_token_data(token, float(data["logit"][token]), 0.0)
        self._one.size, self._one.selected, self._one.sorted = 1, -1, False
        llama_cpp.llama_sampler_apply(self._grammar, ctypes.byref(self._one))
        self.steps += 1
        if self._cell[0].logit == -math.inf:  # the grammar refused it
            self.refused += 1
            llama_cpp.llama_sampler_apply(self._grammar, ctypes.byref(self._all))
            token = int(np.argmax(data["logit"]))
        llama_cpp.llama_sampler_accept(self._penalties, token)
        llama_cpp.llama_sampler_accept(self._grammar, token)
        return token

    def close(self) -> None:
        # Also called by __del__ on an instance whose __init__ failed half-way.
        for name in ("_penalties", "_grammar"):
            sampler = getattr(self, name, None)
            if sampler:
                self._llama_cpp.llama_sampler_free(sampler)
            setattr(self, name, None)

    def __del__(self) -> None:
        self.close()
