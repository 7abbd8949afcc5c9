"""The majority vote: the default debate judge, and what an LLM debate judge falls back to.

:class:`MajorityJudge` accepts the answer more than half of the answering
debaters gave, and discards when there is no such answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from critic.messages import Answer, DebateJudgeRequest, DebateVerdict
from critic.protocols import Recorder

#: The name ``critic debate --judge`` uses for the majority vote.
MAJORITY = "majority"


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
