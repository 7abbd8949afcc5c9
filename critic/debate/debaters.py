"""Debaters: agents that answer a question and revise after reading the others' answers.

Each debater owns its context: its persona (system prompt) and its growing
conversation stay private. From round 2 on, a debater is told only what the
:class:`~critic.messages.DebateRequest` carries: the other debaters' previous
answers (their text, not their prompts) and the critics' reviews.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from critic.backends.base import GenerationParams
from critic.messages import Answer, AnswerCritique, ChatMessage, DebateRequest
from critic.prompts import PromptLibrary, PromptTemplate
from critic.protocols import Backend, Recorder
from critic.structured import call_model


@runtime_checkable
class Debater(Protocol):
    """Answers a debate question, round after round, in its own context."""

    @property
    def name(self) -> str: ...

    async def answer(self, request: DebateRequest, record: Recorder) -> Answer: ...


def format_answers(answers: Sequence[Answer]) -> str:
    """How debaters (and a judge) are shown answers: name and text, nothing else."""
    return "\n\n".join(f"{a.debater}:\n{a.text}" for a in answers)


def format_critiques(critiques: Sequence[AnswerCritique]) -> str:
    """The scored reviews, one block per reviewed answer and critic."""
    lines: list[str] = []
    for item in critiques:
        c = item.critique
        if not c.scored:
            continue
        lines.append(f"{c.role} on {item.debater}'s answer (score {c.score:.2f}):")
        lines.extend(f"- {p}" for p in c.problems)
        if c.suggestion:
            lines.append(f"Suggestion: {c.suggestion}")
    return "\n".join(lines)


@dataclass
class LLMDebater:
    """A debater on a model, keeping one growing conversation over the rounds.

    ``persona`` replaces the default system prompt (a debater role's ``system``);
    ``question`` replaces the round-1 prompt (a debater role's ``prompt``).
    """

    name: str
    backend: Backend
    params: GenerationParams = field(default_factory=lambda: GenerationParams(max_tokens=160))
    prompts: PromptLibrary = field(default_factory=PromptLibrary)
    persona: PromptTemplate | None = None
    question: PromptTemplate | None = None
    conversation: list[ChatMessage] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Loaded now so a broken template fails before the debate starts.
        self._system = self.persona or self.prompts.load("debater_system.j2")
        self._question = self.question or self.prompts.load("debate_question.j2")
        self._update = self.prompts.load("debate_update.j2")

    async def answer(self, request: DebateRequest, record: Recorder) -> Answer:
        variables = {
            "task": request.question, "round": request.round, "draft": None,
            "answers": format_answers(request.others),
            "feedback": format_critiques(request.critiques) or None,
            "reference": None, "tests": None,
        }
        if not self.conversation:
            self.conversation = [
                ChatMessage(role="system", content=self._system.render(**variables)),
                ChatMessage(role="user", content=self._question.render(**variables)),
            ]
        else:
            self.conversation.append(
                ChatMessage(role="user", content=self._update.render(**variables))
            )
        completion = await call_model(
            self.backend, self.conversation, self.params, agent=self.name, record=record
        )
        self.conversation.append(ChatMessage(role="assistant", content=completion.text))
        return Answer(
            debater=self.name, round=request.round, text=completion.text.strip(),
            usage=completion.usage, latency=completion.latency,
        )
