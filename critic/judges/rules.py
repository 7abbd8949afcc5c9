"""Judge policies. The judge alone decides when a session stops, and says why.

:class:`ThresholdJudge` (the default) aggregates the scored critiques into a
weighted mean and applies its stop rules in this order:

1. no critique could be scored: never accept; revise, or discard at max rounds;
2. aggregate >= ``accept_at``: accept;
3. aggregate < ``discard_below``: discard (threshold);
4. the best aggregate has not improved for ``patience`` rounds: discard (plateau);
5. ``max_rounds`` reached, or the token/time budget spent: discard;
6. otherwise: revise, with the critics' problems and suggestions as feedback.

On discard the session's :class:`~critic.messages.Outcome` carries the
best-scored draft seen and the rule that stopped it.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

from critic.messages import Critique, JudgeRequest, Verdict
from critic.protocols import Recorder


def aggregate(critiques: Sequence[Critique]) -> float | None:
    """Weighted mean score of the scored critiques (None when none is scored)."""
    scored = [c for c in critiques if c.scored and c.score is not None]
    total = sum(c.weight for c in scored)
    if not scored:
        return None
    if total == 0:
        return sum(c.score for c in scored if c.score is not None) / len(scored)
    return sum(c.weight * c.score for c in scored if c.score is not None) / total


def feedback_from(critiques: Sequence[Critique]) -> str:
    """What the generator is told: each critic's problems and suggestion, nothing else."""
    lines: list[str] = []
    for c in critiques:
        if not c.scored:
            continue
        header = f"{c.role} (score {c.score:.2f}):" if c.score is not None else f"{c.role}:"
        lines.append(header)
        lines.extend(f"- {p}" for p in c.problems)
        if c.suggestion:
            lines.append(f"Suggestion: {c.suggestion}")
    return "\n".join(lines) or "No critic could review the draft; improve it as you see fit."


class ThresholdJudge(BaseModel):
    """Accept at a score threshold; discard by threshold, plateau, rounds or budget."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "threshold"
    accept_at: float = Field(default=0.8, ge=0.0, le=1.0)
    discard_below: float = Field(default=0.0, ge=0.0, le=1.0)
    patience: int | None = Field(default=None, ge=1)
    max_rounds: int = Field(default=3, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_seconds: float | None = Field(default=None, gt=0.0)

    @model_validator(mode="after")
    def _check(self) -> ThresholdJudge:
        if self.discard_below > self.accept_at:
            raise ValueError(
                f"discard_below ({self.discard_below}) must not exceed accept_at ({self.accept_at})"
            )
        return self

    def _plateaued(self, history: Sequence[float | None], score: float) -> bool:
        if self.patience is None:
            return False
        scores = [s for s in (*history, score) if s is not None]
        if len(scores) <= self.patience:
            return False
        best_before = max(scores[: -self.patience])
        return max(scores[-self.patience :]) <= best_before

    async def judge(self, request: JudgeRequest, record: Recorder) -> Verdict:
        critiques = request.critiques
        round = request.draft.round
        score = aggregate(critiques)
        used = [c for c in critiques if c.scored]
        common = {
            "round": round,
            "aggregate": score,
            "scores": {c.role: c.score for c in used if c.score is not None},
            "critiques_used": len(used),
            "critiques_failed": len(critiques) - len(used),
            "feedback": feedback_from(critiques),
        }
        last = round >= self.max_rounds
        if score is None:
            if last:
                return Verdict(
                    decision="discard", stop="no_scores", **common,
                    reason=f"none of {len(critiques)} critiques could be scored, "
                    f"and the last round ({self.max_rounds}) is done",
                )
            return Verdict(
                decision="revise", **common,
                reason=f"none of {len(critiques)} critiques could be scored; cannot accept",
            )
        basis = f"aggregate {score:.2f} from {len(used)} of {len(critiques)} critiques"
        if score >= self.accept_at:
            return Verdict(
                decision="accept", stop="accepted", **common,
                reason=f"{basis} reaches accept_at {self.accept_at:.2f}",
            )
        if score < self.discard_below:
            return Verdict(
                decision="discard", stop="threshold", **common,
                reason=f"{basis} is below discard_below {self.discard_below:.2f}",
            )
        if self._plateaued(request.history, score):
            return Verdict(
                decision="discard", stop="plateau", **common,
                reason=f"{basis}; no improvement in the last {self.patience} rounds",
            )
        if last:
            return Verdict(
                decision="discard", stop="max_rounds", **common,
                reason=f"{basis} is below accept_at {self.accept_at:.2f} "
                f"after the last round ({self.max_rounds})",
            )
        if self.max_tokens is not None and request.tokens_used >= self.max_tokens:
            return Verdict(
                decision="discard", stop="budget", **common,
                reason=f"{basis}; token budget spent ({request.tokens_used} >= {self.max_tokens})",
            )
        if self.max_seconds is not None and request.elapsed >= self.max_seconds:
            return Verdict(
                decision="discard", stop="budget", **common,
                reason=f"{basis}; time budget spent ({request.elapsed:.1f} s >= "
                f"{self.max_seconds:g} s)",
            )
        return Verdict(
            decision="revise", **common, reason=f"{basis} is below accept_at {self.accept_at:.2f}"
        )
