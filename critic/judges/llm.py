"""An LLM judge: a model reads the task, the draft and the critiques, then decides.

A judge role is a TOML role with ``kind = "judge"``; its templates get the
usual variables, with ``feedback`` holding the critiques (each critic's
score, problems and suggestion) and ``round`` the current round.

The model decides within the stop rules of a :class:`~critic.judge.ThresholdJudge`
(``rules``), which it cannot overrule:

* with no scored critique it is not asked; the rules decide (never accept);
* ``accept`` stands;
* ``revise`` becomes the rules' verdict when they stop the session
  (max rounds, threshold, plateau, budget) or at the last round;
* ``discard`` stands, with ``stop="judge"``;
* if the model fails (an error, or malformed output after retries), the rules decide.

    judge = LLMJudge(registry.get("llm-judge"), model.backend("llm-judge"),
                     rules=ThresholdJudge(max_rounds=3))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from critic.backends.base import Backend, GenerationParams
from critic.backends.pool import ModelPool
from critic.critics.critic import Judge
from critic.errors import ConfigError, ModelError
from critic.judges.rules import ThresholdJudge
from critic.messages import ChatMessage, JudgeRequest, Verdict
from critic.prompts import TEMPLATE_VARIABLES
from critic.roles.spec import Role, RoleRegistry
from critic.structured import Recorder, complete_structured

#: The name ``--judge`` uses for the rule-based default policy.
THRESHOLD = "threshold"
#: The template variables a session judge is given (a debate judge also gets ``answers``).
JUDGE_VARIABLES = ("task", "draft", "round", "feedback", "reference", "tests")


class JudgeOutput(BaseModel):
    """What an LLM judge must return: the reason first, so the decision follows from it."""

    model_config = ConfigDict(extra="forbid")

    # A length cap in the schema keeps constrained decoding from looping.
    reason: str = Field(min_length=1, max_length=300)
    decision: Literal["accept", "revise", "discard"]


@dataclass
class LLMJudge:
    """A judge role on a model, bounded by the stop rules of ``rules``."""

    role: Role
    backend: Backend
    rules: ThresholdJudge = field(default_factory=ThresholdJudge)
    attempts: int = 3
    seed: int | None = None
    """Used when the role sets no seed of its own."""

    def __post_init__(self) -> None:
        if self.role.spec.kind != "judge" or self.role.prompt is None:
            raise ConfigError(
                f"role {self.role.name!r} is not a judge role (kind {self.role.spec.kind!r})"
            )
        # A judge role written for another loop (e.g. a debate) may need variables
        # a session does not have: fail now, not at the first verdict.
        placeholders = {k: TEMPLATE_VARIABLES.get(k, k.upper()) for k in JUDGE_VARIABLES}
        for template in (self.role.system, self.role.prompt):
            if template is not None:
                try:
                    template.render(**placeholders)
                except ConfigError as exc:
                    raise ConfigError(
                        f"role {self.role.name!r} cannot judge a critique session: {exc}"
                    ) from exc

    @property
    def name(self) -> str:
        return self.role.name

    def messages(self, request: JudgeRequest, feedback: str) -> list[ChatMessage]:
        """The judge's whole context, built from the request alone."""
        task = request.task
        variables = {
            "task": task.prompt, "draft": request.draft.text, "round": request.draft.round,
            "feedback": feedback, "reference": task.reference, "tests": task.tests,
        }
        assert self.role.prompt is not None
        messages = []
        if self.role.system is not None:
            messages.append(ChatMessage(role="system", content=self.role.system.render(**variables)))
        messages.append(ChatMessage(role="user", content=self.role.prompt.render(**variables)))
        return messages

    async def judge(self, request: JudgeRequest, record: Recorder) -> Verdict:
        ruled = await self.rules.judge(request, record)
        if ruled.aggregate is None:
            return ruled.model_copy(update={"reason": f"{ruled.reason} (not asking {self.name})"})
        spec = self.role.spec
        params = GenerationParams(
            max_tokens=spec.max_tokens, temperature=spec.temperature,
            seed=spec.seed if spec.seed is not None else self.seed,
        )
        try:
            output = await complete_structured(
                self.backend, self.messages(request, ruled.feedback), JudgeOutput, params,
                agent=self.name, record=record, attempts=self.attempts,
            )
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


def judge_names(registry: RoleRegistry) -> list[str]:
    """Every name ``--judge`` accepts: ``threshold`` and the judge roles."""
    judges = sorted(n for n, r in registry.load().items() if r.spec.kind == "judge")
    return [THRESHOLD, *judges]


def build_judge(
    name: str,
    registry: RoleRegistry,
    pool: ModelPool,
    rules: ThresholdJudge,
    *,
    seed: int | None = None,
) -> Judge:
    """The judge ``--judge NAME`` selects: the threshold rules, or a judge role on its model."""
    if name == THRESHOLD:
        return rules
    role = registry.load().get(name)
    judges = ", ".join(judge_names(registry))
    if role is None:
        raise ConfigError(f"--judge: unknown judge {name!r} (judges: {judges})")
    if role.spec.kind != "judge":
        raise ConfigError(
            f"--judge: role {name!r} is a critic (kind {role.spec.kind!r}), not a judge "
            f"(judges: {judges})"
        )
    return LLMJudge(role, pool.get(role.spec.model).backend(role.name), rules, seed=seed)
