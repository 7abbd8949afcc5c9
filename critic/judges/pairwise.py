"""Pairwise judges: which of two answers to a question is better, with position controls.

:class:`LLMPairwiseJudge` asks a judge role's model, showing the two answers
under neutral labels ("Answer 1", "Answer 2") in a seeded shuffled order by
default, so a judge that favours the first slot favours a random answer
instead of a systematic one. :class:`BothOrders` wraps any pairwise judge:
it asks in both orders and turns a disagreement into a tie, counting how
often that happened.

    judge = BothOrders(LLMPairwiseJudge(registry.get("llm-judge"), model.backend("pairwise")))
    choice = await judge.prefer(question, answer_a, answer_b, record)
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from critic.errors import ConfigError
from critic.messages import ChatMessage
from critic.protocols import Backend, PairwiseJudge, Preference, Recorder
from critic.roles.spec import Role
from critic.structured import complete_structured

#: What a pairwise judge is asked; the role contributes its system prompt, model and sampling.
PAIRWISE_PROMPT = """Question:
{question}

Answer 1:
{first}

Answer 2:
{second}

Which answer answers the question better? Judge content only: not length, not position.
Give a one-sentence reason first, then "Answer 1", "Answer 2", or "tie"."""


class PairwiseOutput(BaseModel):
    """What an LLM pairwise judge returns: the reason first, then its choice."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=300)
    preferred: Literal["Answer 1", "Answer 2", "tie"]


_CHOICES: dict[str, Preference] = {"Answer 1": "a", "Answer 2": "b", "tie": "tie"}


def swap(choice: Preference) -> Preference:
    """A choice made with the answers swapped, read back in the original order."""
    return "b" if choice == "a" else "a" if choice == "b" else "tie"


@dataclass
class LLMPairwiseJudge:
    """A judge role's model choosing between two answers, blind to names (and, with
    ``shuffle``, to the order it was given them in)."""

    role: Role
    backend: Backend
    shuffle: bool = True
    """Show the pair in a seeded order (a function of the seed and the pair, so reruns
    and replays see the same prompt); off for probes that set the order themselves."""
    seed: int | None = None
    attempts: int = 3

    def __post_init__(self) -> None:
        if self.role.spec.kind != "judge":
            raise ConfigError(
                f"role {self.role.name!r} is not a judge role (kind {self.role.spec.kind!r})"
            )

    @property
    def name(self) -> str:
        return self.role.name

    def swapped(self, question: str, a: str, b: str) -> bool:
        """Whether ``b`` is shown first."""
        if not self.shuffle:
            return False
        key = f"{self.seed if self.seed is not None else 0}|{question}|{a}|{b}"
        return random.Random(key).random() < 0.5

    async def prefer(self, question: str, a: str, b: str, record: Recorder) -> Preference:
        swapped = self.swapped(question, a, b)
        first, second = (b, a) if swapped else (a, b)
        messages = ([ChatMessage(role="system", content=self.role.system.render(task=question))]
                    if self.role.system is not None else [])
        messages.append(ChatMessage(role="user", content=PAIRWISE_PROMPT.format(
            question=question, first=first, second=second)))
        output = await complete_structured(
            self.backend, messages, PairwiseOutput, self.role.params(self.seed),
            agent=self.name, record=record, attempts=self.attempts,
        )
        shown: Preference = _CHOICES[output.preferred]
        return swap(shown) if swapped else shown


@dataclass
class BothOrders:
    """Asks ``judge`` in both orders; a choice that does not survive the swap is a tie.

    ``asked`` and ``disagreed`` count the pairs, so a run can report how often the
    judge's choice depended on position.
    """

    judge: PairwiseJudge
    asked: int = 0
    disagreed: int = 0

    async def prefer(self, question: str, a: str, b: str, record: Recorder) -> Preference:
        forward = await self.judge.prefer(question, a, b, record)
        backward = swap(await self.judge.prefer(question, b, a, record))
        self.asked += 1
        if forward != backward:
            self.disagreed += 1
            return "tie"
        return forward
