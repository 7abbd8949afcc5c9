"""Judge policies. The judge alone decides when a session stops, and says why.

:class:`ThresholdJudge` (the default) aggregates the scored critiques into a
weighted mean and applies its stop rules in this order:

0. a critique rejects the draft (a veto, e.g. a person typed reject): discard
   with ``stop="rejected"``;
1. no critique could be scored (the task has no tests, or every critic failed):
   discard at once with ``stop="no_scores"``; with ``revise_unscored=True``,
   revise without feedback instead (discarding at max rounds);
2. aggregate >= ``accept_at``: accept;
3. aggregate < ``discard_below``: discard (threshold);
4. the best aggregate has not improved for ``patience`` rounds: discard (plateau);
5. ``max_rounds`` reached, or the token/time budget spent: discard;
6. otherwise: revise, with the critics' problems and suggestions as feedback.

Why rule 1 stops by default: a revision with no critique behind it is a blind
rewrite. In the committed HumanEval benchmark 88 of 164 problems had no test a
critic could run and spent three rounds on such rewrites, which then counted as
"revised" results. Asking for them is a stated choice (``revise_unscored``).

Feedback is bounded, per critic (``feedback_per_critic`` characters) and in total
(``feedback_total``), each cut marked ``[... cut N chars]``: a test's output can be
arbitrarily long (a 2,300-digit number overflowed a 4,096-token context once).

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
    # One pass, summing in the order ``sum`` would (the same floats, bit for bit): a
    # judge runs this every round, and three generators cost more than the arithmetic.
    count, total, weighted, plain = 0, 0.0, 0.0, 0.0
    for c in critiques:
        score = c.score
        if c.status == "ok" and score is not None:
            count += 1
            total += c.weight
            weighted += c.weight * score
            plain += score
    if not count:
        return None
    if total == 0:
        return plain / count
    return weighted / total


#: Default bounds of the feedback text, in characters (see :func:`feedback_from`).
FEEDBACK_PER_CRITIC = 1500
FEEDBACK_TOTAL = 4000
#: What a generator is told when no critique could be scored (``revise_unscored`` only).
NO_FEEDBACK = "No critic could review the draft; improve it as you see fit."


def bounded(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, the cut marked ``[... cut N chars]``."""
    if len(text) <= limit:
        return text
    # The marker's length depends on N; len(text) has at least as many digits as N,
    # so reserving room for that marker keeps the result within the limit.
    room = limit - len(f"\n[... cut {len(text)} chars]")
    if room < 0:
        raise ValueError(f"a limit of {limit} characters leaves no room for the cut marker")
    kept = text[:room]
    return f"{kept}\n[... cut {len(text) - len(kept)} chars]"


def feedback_from(
    critiques: Sequence[Critique],
    *,
    per_critic: int = FEEDBACK_PER_CRITIC,
    total: int = FEEDBACK_TOTAL,
) -> str:
    """What the generator is told: each critic's problems and suggestion, nothing else.

    Each critic's part is cut to ``per_critic`` characters and the whole to
    ``total``, cuts marked, so one verbose critic cannot crowd out the others
    or the generator's context. Empty when no critique is scored.
    """
    blocks: list[str] = []
    for c in critiques:
        if not c.scored:
            continue
        header = f"{c.role} (score {c.score:.2f}):" if c.score is not None else f"{c.role}:"
        lines = [header, *(f"- {p}" for p in c.problems)]
        if c.suggestion:
            lines.append(f"Suggestion: {c.suggestion}")
        blocks.append(bounded("\n".join(lines), per_critic))
    return bounded("\n".join(blocks), total)


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
    revise_unscored: bool = False
    """Revise (blindly) when no critique is scored, instead of stopping with ``no_scores``."""
    feedback_per_critic: int = Field(default=FEEDBACK_PER_CRITIC, ge=100)
    feedback_total: int = Field(default=FEEDBACK_TOTAL, ge=100)

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

    def _budget_spent(self, request: JudgeRequest) -> str | None:
        """Why the token or time budget is spent, or None while it is not."""
        if self.max_tokens is not None and request.tokens_used >= self.max_tokens:
            return f"token budget spent ({request.tokens_used} >= {self.max_tokens})"
        if self.max_seconds is not None and request.elapsed >= self.max_seconds:
            return f"time budget spent ({request.elapsed:.1f} s >= {self.max_seconds:g} s)"
        return None

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
            "feedback": feedback_from(
                critiques, per_critic=self.feedback_per_critic, total=self.feedback_total
            ),
        }
        last = round >= self.max_rounds
        vetoes = [c for c in critiques if c.rejected]
        if vetoes:  # a veto is not a low score: no rule and no other critic outweighs it
            said = "; ".join(f"{c.role}: {'; '.join(c.problems) or 'rejected'}" for c in vetoes)
            return Verdict(decision="discard", stop="rejected", **common,
                           reason=f"rejected by {', '.join(c.role for c in vetoes)} ({said})")
        if score is None:
            unscored = f"none of {len(critiques)} critiques could be scored"
            if not self.revise_unscored:
                return Verdict(
                    decision="discard", stop="no_scores", **common,
                    reason=f"{unscored} (no tests to run, or every critic failed): "
                    "not revising without feedback",
                )
            if last:
                return Verdict(
                    decision="discard", stop="no_scores", **common,
                    reason=f"{unscored}, and the last round ({self.max_rounds}) is done",
                )
            spent = self._budget_spent(request)
            if spent is not None:  # blind revisions spend the budget like any other
                return Verdict(decision="discard", stop="budget", **common,
                               reason=f"{unscored}; {spent}")
            return Verdict(
                decision="revise", **{**common, "feedback": NO_FEEDBACK},
                reason=f"{unscored}; cannot accept, revising without feedback "
                "(revise_unscored)",
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
        spent = self._budget_spent(request)
        if spent is not None:
            return Verdict(decision="discard", stop="budget", **common, reason=f"{basis}; {spent}")
        return Verdict(
            decision="revise", **common, reason=f"{basis} is below accept_at {self.accept_at:.2f}"
        )
