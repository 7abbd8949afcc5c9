"""Everything that travels on the bus: frozen pydantic models tagged by ``kind``.

A payload is one of the models in :data:`Payload`; it always travels inside an
:class:`Envelope`. Envelopes survive a JSON round trip unchanged, so an
in-memory bus and a network bus are interchangeable.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, TypeAdapter

Decision = Literal["accept", "revise", "discard"]
CritiqueStatus = Literal["ok", "error", "timeout"]


class Message(BaseModel):
    """Base of every payload: immutable and strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class ChatMessage(Message):
    """One turn of a conversation with a model."""

    role: Literal["system", "user", "assistant"]
    content: str


class Usage(Message):
    """Token counts of one model call.

    ``prompt_evaluated`` is how many prompt tokens the model actually had to
    process; the rest were served from its KV cache (None where unknown).
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_evaluated: int | None = None

    @classmethod
    def total(cls, usages: Iterable[Usage]) -> Usage:
        """The sum of ``usages`` (zero for none)."""
        return sum(usages, _NO_USAGE)

    @property
    def empty(self) -> bool:
        """Whether this counts nothing (the default: no model was called)."""
        return not (self.prompt_tokens or self.completion_tokens
                    or self.prompt_evaluated is not None)

    def __add__(self, other: Usage) -> Usage:
        # Adding nothing is common (model-free critics, judges): no new model to validate.
        if other.empty:
            return self
        if self.empty:
            return other
        evaluated = (
            None
            if self.prompt_evaluated is None and other.prompt_evaluated is None
            else (self.prompt_evaluated or 0) + (other.prompt_evaluated or 0)
        )
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            prompt_evaluated=evaluated,
        )


_NO_USAGE = Usage()


class Task(Message):
    """What the generator is asked to do."""

    kind: Literal["task"] = "task"
    prompt: str = Field(min_length=1)
    reference: str | None = None
    tests: str | None = None


class DraftRequest(Message):
    """Asks the generator for a draft: the task in round 1, the judge's feedback after."""

    kind: Literal["draft_request"] = "draft_request"
    task: Task
    round: int = Field(ge=1)
    feedback: str | None = None


RevisionStrategy = Literal["fresh", "continue"]


class Revision(Message):
    """How a revision was made: the generator's strategy and the sampling it used."""

    strategy: RevisionStrategy
    temperature: float = Field(ge=0.0)
    seed: int | None = None


class Draft(Message):
    """One version of the generator's answer."""

    kind: Literal["draft"] = "draft"
    round: int = Field(ge=1)
    text: str
    author: str = "generator"
    usage: Usage = Usage()
    error: str | None = None
    """Set when the generator failed; the session then stops with ``stop="error"``."""
    revision: Revision | None = None
    """How this draft revised the one before (None: a first draft, or not recorded)."""


class ReviewRequest(Message):
    """Asks one critic to review a draft; carries only the task and the draft."""

    kind: Literal["review_request"] = "review_request"
    task: Task
    draft: Draft
    role: str
    session: str | None = None
    """The session asking: a critic with session memory keeps one conversation per
    session. None (as in ``critic score``): a standalone review in a clean state."""
    metadata: dict[str, JsonValue] = Field(default_factory=dict)
    """What the scored record says about the output (``critic score``'s ``metadata``:
    its model, its source...); empty in sessions. Role templates see it as ``metadata``."""


class Critique(Message):
    """A critic's review of one draft.

    ``score`` is normalized to [0, 1]; ``raw_score`` is on the role's own scale.
    A critique whose status is not ``ok`` is unscored: the judge leaves it out
    of the aggregate instead of counting it as a low score.
    """

    kind: Literal["critique"] = "critique"
    role: str
    round: int = Field(ge=1)
    status: CritiqueStatus = "ok"
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    raw_score: float | None = None
    problems: tuple[str, ...] = ()
    suggestion: str = ""
    error: str | None = None
    weight: float = Field(default=1.0, ge=0.0)
    usage: Usage = Usage()
    latency: float = 0.0
    """Seconds spent in model calls for this critique."""
    rejected: bool = False
    """A veto (a person typed reject): the judge discards the draft, whatever the scores."""

    @property
    def scored(self) -> bool:
        return self.status == "ok" and self.score is not None


class JudgeRequest(Message):
    """Everything the judge decides on: the draft, its critiques and the history."""

    kind: Literal["judge_request"] = "judge_request"
    task: Task
    draft: Draft
    critiques: tuple[Critique, ...]
    history: tuple[float | None, ...] = ()
    """Aggregate score of each earlier round, oldest first (None: unscored)."""
    tokens_used: int = 0
    elapsed: float = 0.0


class Verdict(Message):
    """The judge's decision on one draft, with its reason and the scores it used."""

    kind: Literal["verdict"] = "verdict"
    round: int = Field(ge=1)
    decision: Decision
    reason: str = Field(min_length=1)
    scores: dict[str, float] = Field(default_factory=dict)
    aggregate: float | None = None
    critiques_used: int = 0
    critiques_failed: int = 0
    feedback: str = ""
    usage: Usage = Usage()
    stop: str | None = None
    """Why the session stops here (None while it goes on)."""


class ModelCall(Message):
    """The record of one call to a model: exactly what was sent and what came back."""

    kind: Literal["model_call"] = "model_call"
    agent: str
    backend: str
    model: str
    messages: tuple[ChatMessage, ...]
    params: dict[str, float | int | str | None] = Field(default_factory=dict)
    json_schema: str | None = None
    completion: str | None
    usage: Usage = Usage()
    latency: float = 0.0
    attempts: int = 1
    status: str = "ok"
    error: str | None = None


class Outcome(Message):
    """How a session ended.

    ``draft`` is the accepted draft, or on discard the best-scored draft seen
    (None only if no draft was ever produced); ``stop`` names the rule that
    ended the session: accepted, threshold, plateau, max_rounds, budget,
    no_scores, rejected (a critic's veto) or error.
    """

    kind: Literal["outcome"] = "outcome"
    session: str
    decision: Literal["accept", "discard"]
    reason: str
    stop: str
    draft: Draft | None
    score: float | None
    rounds: int
    verdicts: tuple[Verdict, ...]
    usage: Usage = Usage()
    elapsed: float = 0.0


AnswerStatus = Literal["ok", "error", "timeout"]


class Answer(Message):
    """One debater's answer in one round; ``answer`` is what the extractor read from ``text``.

    A debater whose status is not ``ok`` is out of the vote from that round on.
    """

    kind: Literal["answer"] = "answer"
    debater: str
    round: int = Field(ge=1)
    text: str = ""
    answer: str | None = None
    status: AnswerStatus = "ok"
    error: str | None = None
    usage: Usage = Usage()
    latency: float = 0.0


class AnswerCritique(Message):
    """A critic's review of one debater's answer (what the debaters are shown)."""

    debater: str
    critique: Critique


class DebateRequest(Message):
    """Asks one debater for its answer: the question, and after round 1 only the
    other debaters' previous answers and the critics' reviews, never their contexts."""

    kind: Literal["debate_request"] = "debate_request"
    question: str = Field(min_length=1)
    round: int = Field(ge=1)
    debater: str
    others: tuple[Answer, ...] = ()
    critiques: tuple[AnswerCritique, ...] = ()


class DebateRound(Message):
    """One finished round: every debater's answer, the vote and its agreement."""

    kind: Literal["debate_round"] = "debate_round"
    round: int = Field(ge=1)
    answers: tuple[Answer, ...]
    votes: dict[str, int] = Field(default_factory=dict)
    agreement: float = Field(ge=0.0, le=1.0)
    """Share of the answering debaters that gave the most common answer."""
    majority: str | None = None
    """The answer more than half of the answering debaters gave (None: no majority)."""
    converged: bool = False
    changed: tuple[str, ...] = ()
    """Debaters whose answer differs from their own answer of the round before."""
    critiques: tuple[AnswerCritique, ...] = ()


class DebateJudgeRequest(Message):
    """What a debate judge decides on: the question and the last round's answers."""

    kind: Literal["debate_judge_request"] = "debate_judge_request"
    question: str
    round: int = Field(ge=1)
    answers: tuple[Answer, ...]
    """Only the answers that count: failed debaters are left out."""


class DebateVerdict(Message):
    """The judge's decision: accept an answer, or discard for lack of consensus."""

    kind: Literal["debate_verdict"] = "debate_verdict"
    judge: str
    decision: Literal["accept", "discard"]
    answer: str | None = None
    text: str | None = None
    """The full text behind the answer (a debater's, or the judge's synthesis)."""
    reason: str = Field(min_length=1)
    votes: dict[str, int] = Field(default_factory=dict)
    usage: Usage = Usage()
    shown: tuple[str, ...] = ()
    """The debaters in the order the judge saw them, as "Answer 1", "Answer 2", ...
    (empty when the judge read no answers, or saw the debaters' own names)."""


class DebateMetrics(Message):
    """What debate papers report: agreement per round, changes of mind, majority flips."""

    agreement: tuple[float, ...]
    answer_changes: int = 0
    majority_flipped: bool = False
    majorities: tuple[str | None, ...] = ()


class DebateOutcome(Message):
    """How a debate ended. ``answers`` holds, per round, each debater's extracted
    answer (None where it failed or gave none); ``failed`` maps excluded debaters to why."""

    kind: Literal["debate_outcome"] = "debate_outcome"
    session: str
    question: str
    decision: Literal["accept", "discard"]
    answer: str | None
    text: str | None = None
    reason: str
    stop: Literal["converged", "max_rounds", "no_debaters", "budget"]
    rounds_used: int
    convergence_round: int | None
    answers: tuple[dict[str, str | None], ...]
    rounds: tuple[DebateRound, ...]
    verdict: DebateVerdict
    failed: dict[str, str] = Field(default_factory=dict)
    metrics: DebateMetrics
    usage: Usage = Usage()
    elapsed: float = 0.0


Payload = Annotated[
    Task | DraftRequest | Draft | ReviewRequest | Critique | JudgeRequest | Verdict | ModelCall
    | Outcome | Answer | DebateRequest | DebateRound | DebateJudgeRequest | DebateVerdict
    | DebateOutcome,
    Field(discriminator="kind"),
]


#: Ids drawn from one read of the OS's random source: a read costs about as much for 512
#: bytes as for 16 (a system call each), and a round of a session takes 14 ids.
_ID_BATCH = 32
_random_ids: list[str] = []


def _forget_ids() -> None:
    # A forked child must not hand out the ids its parent had drawn but not yet used.
    _random_ids.clear()


os.register_at_fork(after_in_child=_forget_ids)


def new_id() -> str:
    """128 random bits as 32 hex digits: ``uuid4().hex`` without the version bits, at a
    sixth of its cost (ids are only ever compared)."""
    try:
        return _random_ids.pop()  # atomic: threads may draw ids too
    except IndexError:
        pass
    drawn = os.urandom(16 * _ID_BATCH).hex()
    batch = [drawn[i:i + 32] for i in range(0, len(drawn), 32)]
    mine = batch.pop()  # not put back first: another thread could take it
    _random_ids.extend(batch)
    return mine


class Envelope(BaseModel):
    """The unit on the bus: a payload plus routing and provenance."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(default_factory=new_id)
    session: str
    topic: str
    sender: str
    parent: str | None = None
    reply_to: str | None = None
    timestamp: float = Field(default_factory=time.time)
    payload: Payload

    def reply(self, payload: Payload, *, sender: str) -> Envelope:
        """The envelope answering this request (routed to its ``reply_to``)."""
        if self.reply_to is None:
            raise ValueError(f"envelope {self.id} on {self.topic} expects no reply")
        return Envelope(
            session=self.session, topic=self.reply_to, sender=sender, parent=self.id,
            payload=payload,
        )


ENVELOPE_ADAPTER: TypeAdapter[Envelope] = TypeAdapter(Envelope)
