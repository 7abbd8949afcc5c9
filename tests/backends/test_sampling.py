"""Greedy-first grammar sampling gives the sampler chain's tokens (issue 18).

On the real SmolLM2, critic-shaped prompts under a JSON schema at temperature 0:
each call's text is the same with :class:`GreedyFirstSampler` as with
llama-cpp-python's chain (penalties, grammar, greedy over the whole
vocabulary), and both of its branches ran: steps where the argmax was allowed,
and steps where the grammar refused it and the vocabulary was filtered.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from critic.backends.base import GenerationParams
from critic.backends.llama_cpp import LlamaCppModel
from critic.backends.sampling import GreedyFirstSampler
from critic.messages import ChatMessage

pytestmark = [pytest.mark.anyio, pytest.mark.model]

SCHEMA = {"type": "object",
          "properties": {"problems": {"type": "array", "items": {"type": "string"}},
                         "score": {"type": "number"}},
          "required": ["problems", "score"]}
DRAFTS = ("def add(a, b):\n    return a - b", "The capital of France is Berlin.",
          "17 * 23 = 391", "def rev(s): return s[::-1]")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def messages(draft: str) -> list[ChatMessage]:
    return [ChatMessage(role="system",
                        content="You are a strict reviewer. Answer in JSON with the problems "
                                "you find and a score from 0 to 1."),
            ChatMessage(role="user", content=f"Review this draft:\n{draft}")]


@pytest.mark.timeout(600)
async def test_greedy_first_gives_the_chains_tokens(model_path: Path) -> None:
    params = GenerationParams(max_tokens=64, temperature=0.0, fresh_context=True)
    texts: dict[bool, list[str]] = {True: [], False: []}
    steps = refused = 0
    for greedy_first in (True, False):
        model = LlamaCppModel(model_path, n_ctx=1024, greedy_first=greedy_first)
        backend = model.backend("critic")
        for draft in DRAFTS:
            completion = await backend.complete(messages(draft), params, SCHEMA)
            texts[greedy_first].append(completion.text)
            sampler = backend._llama._sampler  # type: ignore[union-attr]
            assert isinstance(sampler, GreedyFirstSampler) == greedy_first
            if isinstance(sampler, GreedyFirstSampler):
                # Every token it returned was sampled here; so was the end of text.
                ended = completion.finish_reason == "stop"
                assert sampler.steps == completion.usage.completion_tokens + ended
                steps += sampler.steps
                refused += sampler.refused
        await model.aclose()
    assert texts[True] == texts[False]
    assert all(text.startswith("{") for text in texts[True])
    assert 0 < refused < steps  # both branches ran


@pytest.mark.timeout(300)
async def test_other_calls_keep_the_chain(model_path: Path) -> None:
    """Sampling with a temperature, or without a grammar, is llama-cpp-python's own."""
    model = LlamaCppModel(model_path, n_ctx=512)
    backend = model.backend("generator")
    hot = GenerationParams(max_tokens=4, temperature=0.7, seed=1, fresh_context=True)
    await backend.complete(messages("x = 1"), hot, SCHEMA)
    assert not isinstance(backend._llama._sampler, GreedyFirstSampler)  # type: ignore[union-attr]
    cold = GenerationParams(max_tokens=4, temperature=0.0, fresh_context=True)
    await backend.complete(messages("x = 1"), cold)
    assert not isinstance(backend._llama._sampler, GreedyFirstSampler)  # type: ignore[union-attr]
    await model.aclose()


def test_a_grammar_llama_cpp_cannot_parse_is_a_value_error(model_path: Path) -> None:
    """Refused at construction (the backend reports it as a ModelError), nothing freed twice."""
    llama = LlamaCppModel(model_path, n_ctx=64).load()
    with pytest.raises(ValueError, match="could not parse the grammar"):
        GreedyFirstSampler(vocab=llama._model.vocab, n_vocab=llama.n_vocab(),
                           grammar="root ::= (", root="root", penalty_last_n=64,
                           penalty_repeat=1.1, penalty_freq=0.0, penalty_present=0.0)
