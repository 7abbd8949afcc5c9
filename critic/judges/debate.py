"""Debate judges: who turns the debaters' final answers into one verdict.

:class:`MajorityJudge` (the default) accepts the answer more than half of the
answering debaters gave, and discards when there is no such answer.
:class:`LLMDebateJudge` is a judge role (``kind = "judge"``) that reads the
question and the final answers and picks or synthesizes one; if its model
fails, the majority vote decides and the reason says so.

    judge = LLMDebateJudge(registry.get("debate-judge"), model.backend("debate-judge"))
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from critic.backends.base import Backend, GenerationParams
from critic.backends.pool import ModelPool
from critic.debate.answers import AnswerExtractor, NumberAnswer, normalize_text
from critic.debate.debaters import format_answers
from critic.errors import ConfigError, ModelError
from critic.messages import Answer, ChatMessage, DebateJudgeRequest, DebateVerdict
from critic.roles.spec import Role, RoleRegistry
from critic.structured import Recorder, complete_structured

#: The name ``critic debate --judge`` uses for the majority vote.
MAJORITY = "majority"


@runtime_checkable
class DebateJudge(Protocol):
    """Decides a debate from its final answers: accept one, or discard, and why."""

    @property
    def name(self) -> str: ...

    async def decide(self, request: DebateJudgeRequest, record: Recorder) -> DebateVerdict: ...


def count_votes(answers: Sequence[Answer]) -> Counter[str]:
    """Votes per extracted answer; failed debaters and unreadable answers do not vote."""
    return Counter(a.answer for a in answers if a.status == "ok" and a.answer is not None)


def describe_votes(votes: Counter[str]) -> str:
    return ", ".join(f"{answer!r} x{n}" for answer, n in votes.most_common()) or "no votes"


@dataclass(frozen=True)
class MajorityJudge:
    """Accept the answer of a strict majority of the answering debaters; else discard."""

    name: str = MAJORITY

    async def decide(self, request: DebateJudgeRequest, record: Recorder) -> DebateVerdict:
        voters = [a for a in request.answers if a.status == "ok"]
        votes = count_votes(voters)
        if not voters:
            return DebateVerdict(judge=self.name, decision="discard",
                                 reason="no debater answered; nothing to vote on")
        if votes:
            top, n = votes.most_common(1)[0]
            if 2 * n > len(voters):
                text = next(a.text for a in voters if a.answer == top)
                return DebateVerdict(
                    judge=self.name, decision="accept", answer=top, text=text, votes=dict(votes),
                    reason=f"majority: {n} of {len(voters)} debaters answered {top!r}",
                )
        return DebateVerdict(
            judge=self.name, decision="discard", votes=dict(votes),
            reason=f"no consensus: no answer has a majority of {len(voters)} debaters "
            f"({describe_votes(votes)})",
        )


class DebateJudgeOutput(BaseModel):
    """What an LLM debate judge returns: the reason first, so the decision follows from it."""

    model_config = ConfigDict(extra="forbid")

    # Length caps go into the schema, so constrained decoding cannot loop.
    reason: str = Field(min_length=1, max_length=300)
    decision: Literal["accept", "discard"]
    answer: str = Field(max_length=200)


@dataclass
class LLMDebateJudge:
    """A judge role on a model; the majority vote decides if the model fails."""

    role: Role
    backend: Backend
    extractor: AnswerExtractor = field(default_factory=NumberAnswer)
    attempts: int = 3
    seed: int | None = None
    """Used when the role sets no seed of its own."""

    def __post_init__(self) -> None:
        if self.role.spec.kind != "judge" or self.role.prompt is None:
            raise ConfigError(
                f"role {self.role.name!r} is not a judge role (kind {self.role.spec.kind!r})"
            )

    @property
    def name(self) -> str:
        return self.role.name

    def messages(self, request: DebateJudgeRequest) -> list[ChatMessage]:
        """The judge's whole context: the question and the final answers."""
        answers = format_answers(request.answers)
        variables = {
            "task": request.question, "answers": answers, "draft": answers,
            "round": request.round, "feedback": describe_votes(count_votes(request.answers)),
            "reference": None, "tests": None,
        }
        assert self.role.prompt is not None
        messages = []
        if self.role.system is not None:
            messages.append(ChatMessage(role="system", content=self.role.system.render(**variables)))
        messages.append(ChatMessage(role="user", content=self.role.prompt.render(**variables)))
        return messages

    async def decide(self, request: DebateJudgeRequest, record: Recorder) -> DebateVerdict:
        majority = await MajorityJudge(self.name).decide(request, record)
        if not any(a.status == "ok" for a in request.answers):
            return majority
        spec = self.role.spec
        params = GenerationParams(
            max_tokens=spec.max_tokens, temperature=spec.temperature,
            seed=spec.seed if spec.seed is not None else self.seed,
        )
        try:
            output = await complete_structured(
                self.backend, self.messages(request), DebateJudgeOutput, params,
                agent=self.name, record=record, attempts=self.attempts,
            )
        except ModelError as exc:
            return majority.model_copy(update={
                "reason": f"{majority.reason} ({self.name} failed: {exc}; the majority vote decided)"
            })
        said = f"{self.name}: {output.reason.strip()}"
        if output.decision == "discard":
            return majority.model_copy(update={
                "decision": "discard", "answer": None, "text": None, "reason": said,
            })
        text = output.answer.strip()
        answer = await self.extractor.extract(text) or normalize_text(text) or None
        if answer is None:
            return majority.model_copy(update={
                "reason": f"{majority.reason} ({self.name} accepted an empty answer; "
                "the majority vote decided)"
            })
        return majority.model_copy(update={
            "decision": "accept", "answer": answer, "text": text, "reason": said,
        })


def debate_judge_names(registry: RoleRegistry) -> list[str]:
    """Every name ``critic debate --judge`` accepts: ``majority`` and the judge roles."""
    judges = sorted(n for n, r in registry.load().items() if r.spec.kind == "judge")
    return [MAJORITY, *judges]


def build_debate_judge(
    name: str,
    registry: RoleRegistry,
    pool: ModelPool,
    extractor: AnswerExtractor,
    *,
    seed: int | None = None,
) -> DebateJudge:
    """The judge ``--judge NAME`` selects: the majority vote, or a judge role on its model."""
    if name == MAJORITY:
        return MajorityJudge()
    role = registry.load().get(name)
    judges = ", ".join(debate_judge_names(registry))
    if role is None:
        raise ConfigError(f"--judge: unknown judge {name!r} (judges: {judges})")
    if role.spec.kind != "judge":
        raise ConfigError(
            f"--judge: role {name!r} is of kind {role.spec.kind!r}, not a judge (judges: {judges})"
        )
    return LLMDebateJudge(
        role, pool.get(role.spec.model).backend(role.name), extractor, seed=seed
    )
