"""LLM judges: a judge role (``kind = "judge"``) on a model, for sessions and for debates.

Both ask their model one structured question (:func:`ask_judge`) and fall back
on rules when the model fails: :class:`LLMJudge` on the threshold rules,
:class:`LLMDebateJudge` on the majority vote.

**Sessions.** The judge reads the task, the draft and the critiques, then decides.

A judge role is a TOML role with ``kind = "judge"``; its templates get the
usual variables, with ``feedback`` holding the critiques (each critic's
score, problems and suggestion) and ``round`` the current round.

The model decides within the stop rules of a :class:`~critic.judges.rules.ThresholdJudge`
(``rules``), which it cannot overrule:

* with no scored critique, or a critique that rejects the draft (a veto), it is
  not asked; the rules decide (never accept);
* ``accept`` stands;
* ``revise`` becomes the rules' verdict when they stop the session
  (max rounds, threshold, plateau, budget) or at the last round;
* ``discard`` stands, with ``stop="judge"``;
* if the model fails (an error, or malformed output after retries), the rules decide.

    judge = LLMJudge(registry.get("llm-judge"), model.backend("llm-judge"),
                     rules=ThresholdJudge(max_rounds=3))

**Debates.** The judge reads the question and the final answers and picks or
synthesizes one; if its model fails, the majority vote decides and the reason
says so. By default (``blind``) it sees the answers in a seeded shuffled
order under neutral labels ("Answer 1", ...), and the verdict records that
order in ``shown``.

    judge = LLMDebateJudge(registry.get("debate-judge"), model.backend("debate-judge"))
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from critic.debate.answers import NumberAnswer, normalize_text
from critic.debate.debaters import format_answers
from critic.errors import ConfigError, ModelError
from critic.judges.majority import MajorityJudge, count_votes, describe_votes
from critic.judges.rules import ThresholdJudge
from critic.messages import Answer, DebateJudgeRequest, DebateVerdict, JudgeRequest, Verdict
from critic.prompts import TEMPLATE_VARIABLES
from critic.protocols import AnswerExtractor, Backend, Recorder
from critic.roles.spec import Role
from critic.structured import complete_structured

#: The template variables a session judge is given (a debate judge also gets ``answers``).
JUDGE_VARIABLES = ("task", "draft", "round", "feedback", "reference", "tests")

Output = TypeVar("Output", bound=BaseModel)


def neutral_label(index: int) -> str:
    """The label a judge sees instead of a name: "Answer 1", "Answer 2", ..."""
    return f"Answer {index + 1}"


class JudgeOutput(BaseModel):
    """What a session's LLM judge returns: the reason first, so the decision follows from it."""

    model_config = ConfigDict(extra="forbid")

    # Length caps go into the schema, so constrained decoding cannot loop.
    reason: str = Field(min_length=1, max_length=300)
    decision: Literal["accept", "revise", "discard"]


class DebateJudgeOutput(BaseModel):
    """What a debate's LLM judge returns: the reason, the decision, the answer it accepts."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=300)
    decision: Literal["accept", "discard"]
    answer: str = Field(max_length=200)


@dataclass
class _JudgeRole:
    """A judge role on its model: one structured question per decision."""

    role: Role
    backend: Backend

    def __post_init__(self) -> None:
        if self.role.spec.kind != "judge" or self.role.prompt is None:
            raise ConfigError(
                f"role {self.role.name!r} is not a judge role (kind {self.role.spec.kind!r})"
            )

    @property
    def name(self) -> str:
        return self.role.name

    async def ask(self, variables: dict[str, object], output: type[Output], *, seed: int | None,
                  attempts: int, record: Recorder) -> Output:
        """The judge's answer, schema-constrained; raises :class:`ModelError` if it fails."""
        return await complete_structured(
            self.backend, self.role.messages(**variables), output, self.role.params(seed),
            agent=self.name, record=record, attempts=attempts,
        )


@dataclass
class LLMJudge(_JudgeRole):
    """A session's judge role, bounded by the stop rules of ``rules``."""

    rules: ThresholdJudge = field(default_factory=ThresholdJudge)
    attempts: int = 3
    seed: int | None = None
    """Used when the role sets no seed of its own."""

    def __post_init__(self) -> None:
        super().__post_init__()
        # A judge role written for another loop (e.g. a debate) may need variables
        # a session does not have: fail now, not at the first verdict.
        placeholders = {k: TEMPLATE_VARIABLES.get(k, k.upper()) for k in JUDGE_VARIABLES}
        try:
            self.role.messages(**placeholders)
        except ConfigError as exc:
            raise ConfigError(
                f"role {self.role.name!r} cannot judge a critique session: {exc}"
            ) from exc

    @staticmethod
    def variables(request: JudgeRequest, feedback: str) -> dict[str, object]:
        """What the judge's templates see, built from the request alone."""
        task = request.task
        return {
            "task": task.prompt, "draft": request.draft.text, "round": request.draft.round,
            "feedback": feedback, "reference": task.reference, "tests": task.tests,
        }

    async def judge(self, request: JudgeRequest, record: Recorder) -> Verdict:
        ruled = await self.rules.judge(request, record)
        if ruled.stop == "rejected":  # a veto is final: no model may overrule it
            return ruled
        if ruled.aggregate is None:
            return ruled.model_copy(update={"reason": f"{ruled.reason} (not asking {self.name})"})
        try:
            output = await self.ask(self.variables(request, ruled.feedback), JudgeOutput,
                                    seed=self.seed, attempts=self.attempts, record=record)
        except ModelError as exc:
            return ruled.model_copy(update={
                "reason": f"{ruled.reason} ({self.name} failed: {exc}; the threshold rules decided)"
            })
        return self._bounded(output, ruled, last=request.draft.round >= self.rules.max_rounds)

    def _bounded(self, output: JudgeOutput, ruled: Verdict, *, last: bool) -> Verdict:
        said = f"{self.name}: {output.reason.strip()}"
        reason = f"{said} (threshold rules: {ruled.reason})"
        if output.decision == "accept":
            return ruled.model_copy(update={
                "decision": "accept", "stop": "accepted", "reason": reason,
            })
        if output.decision == "discard":
            return ruled.model_copy(update={
                "decision": "discard", "stop": "judge", "reason": reason,
            })
        if ruled.decision == "discard" or last:
            return ruled.model_copy(update={
                "reason": f"{ruled.reason} ({self.name} asked to revise; the stop rules decide)"
            })
        return ruled.model_copy(update={
            "decision": "revise", "stop": None, "reason": reason,
            "feedback": f"{ruled.feedback}\nJudge: {output.reason.strip()}",
        })


@dataclass
class LLMDebateJudge(_JudgeRole):
    """A debate's judge role; the majority vote decides if the model fails."""

    extractor: AnswerExtractor = field(default_factory=NumberAnswer)
    attempts: int = 3
    seed: int | None = None
    """Used when the role sets no seed of its own."""

    blind: bool = True
    """Show the answers in a seeded shuffled order as "Answer 1", "Answer 2", ...
    (not in the debaters' order under their names), so neither position nor
    identity can sway the judge; the order is recorded in the verdict's ``shown``."""

    def shown(self, request: DebateJudgeRequest) -> tuple[Answer, ...]:
        """The answers in the order the judge sees them: a pure function of the request
        and the seed, so a transcript's verdict can be replayed exactly."""
        answers = list(request.answers)
        if self.blind:
            # A str seed is hashed (SHA-512) by random, so the order is the same on every run.
            key = f"{self.seed if self.seed is not None else 0}|{request.round}|{request.question}"
            random.Random(key).shuffle(answers)
        return tuple(answers)

    def variables(self, request: DebateJudgeRequest) -> dict[str, object]:
        """What the judge's templates see: the question and the final answers."""
        shown = self.shown(request)
        if self.blind:
            shown = tuple(a.model_copy(update={"debater": neutral_label(i)})
                          for i, a in enumerate(shown))
        answers = format_answers(shown)
        return {
            "task": request.question, "answers": answers, "draft": answers,
            "round": request.round, "feedback": describe_votes(count_votes(request.answers)),
            "reference": None, "tests": None,
        }

    async def decide(self, request: DebateJudgeRequest, record: Recorder) -> DebateVerdict:
        majority = await MajorityJudge(self.name).decide(request, record)
        if not any(a.status == "ok" for a in request.answers):
            return majority
        if self.blind:
            majority = majority.model_copy(
                update={"shown": tuple(a.debater for a in self.shown(request))})
        try:
            output = await self.ask(self.variables(request), DebateJudgeOutput,
                                    seed=self.seed, attempts=self.attempts, record=record)
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
