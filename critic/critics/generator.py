"""The LLM generator: writes a draft, then revises it from the judge's feedback.

The generator owns its context. It sees the task, its own drafts and the
judge's feedback: never a critic's conversation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from critic.backends.base import GenerationParams
from critic.messages import ChatMessage, Draft, DraftRequest, Revision, RevisionStrategy
from critic.prompts import PromptLibrary
from critic.protocols import Backend, Recorder
from critic.structured import call_model

#: The lowest temperature a revision samples at unless it is pinned (see :class:`RevisionPolicy`).
REVISION_TEMPERATURE = 0.7


class RevisionPolicy(BaseModel):
    """How the generator revises a draft the judge sent back.

    ``strategy``:

    * ``fresh`` (the default): each revision is a new context holding the
      system prompt and one message with the task, the failing draft quoted
      and the judge's feedback. Nothing else carries over, so the context
      stays small and a revision does not depend on the rounds before.
    * ``continue``: one growing conversation; each revision appends the
      feedback after the previous draft (the KV cache makes that cheap).

    Sampling: revision round ``r`` uses the seed ``seed + r - 1`` (``seed``
    being the generator's, so a run stays reproducible) and the temperature
    ``temperature`` if it is set (pinned, 0 included), else the generator's
    own but at least :data:`REVISION_TEMPERATURE`. Why: revising at
    temperature 0 with the previous draft in context made 26 of 36 revisions
    byte-identical to the draft they were meant to fix (issue 13); a revision
    must be free to differ. ``benchmarks/revision_identity.py`` measures the
    repeat rate of each strategy.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: RevisionStrategy = "fresh"
    temperature: float | None = Field(default=None, ge=0.0)

    def sampling(self, params: GenerationParams, round: int) -> GenerationParams:
        """The parameters of revision round ``round`` (>= 2) given the generator's own."""
        temperature = (self.temperature if self.temperature is not None
                       else max(params.temperature, REVISION_TEMPERATURE))
        seed = None if params.seed is None else params.seed + round - 1
        return params.model_copy(update={
            "temperature": temperature, "seed": seed,
            # A fresh revision is a new context in the backend too.
            "fresh_context": self.strategy == "fresh",
        })


@dataclass
class LLMGenerator:
    """A generator on a model: one draft per round, revised as ``revision`` says.

    The first draft is written from a clean context (the system and task
    templates); revisions follow :class:`RevisionPolicy`. Each draft records
    how it was made in :attr:`Draft.revision`.
    """

    backend: Backend
    prompts: PromptLibrary = field(default_factory=PromptLibrary)
    params: GenerationParams = field(default_factory=lambda: GenerationParams(max_tokens=320))
    name: str = "generator"
    system_template: str = "generator_system.j2"
    task_template: str = "generator_task.j2"
    revise_template: str = "generator_revise.j2"
    fresh_revise_template: str = "generator_revise_fresh.j2"
    revision: RevisionPolicy = field(default_factory=RevisionPolicy)
    conversation: list[ChatMessage] = field(default_factory=list)
    """The context of the latest call (with its reply); ``continue`` builds on it."""
    last_draft: str | None = None

    def __post_init__(self) -> None:
        # Load now so a broken template fails before the session starts.
        self._system = self.prompts.load(self.system_template)
        self._task = self.prompts.load(self.task_template)
        self._revise = self.prompts.load(self.revise_template)
        self._fresh_revise = self.prompts.load(self.fresh_revise_template)
        self._constant_system: ChatMessage | None = None

    def _system_message(self, variables: dict[str, object]) -> ChatMessage:
        """The system turn; one message for every round when its template is literal text."""
        if self._system.constant is None:
            return ChatMessage(role="system", content=self._system.render(**variables))
        if self._constant_system is None:
            self._constant_system = ChatMessage(role="system", content=self._system.constant)
        return self._constant_system

    async def draft(self, request: DraftRequest, record: Recorder) -> Draft:
        task = request.task
        variables = {
            "task": task.prompt, "round": request.round, "feedback": request.feedback,
            "reference": task.reference, "tests": task.tests, "draft": self.last_draft,
        }
        revising = bool(self.conversation)
        if not revising:
            params = self.params.model_copy(update={"fresh_context": True})
            self.conversation = [
                self._system_message(variables),
                ChatMessage(role="user", content=self._task.render(**variables)),
            ]
        elif self.revision.strategy == "continue":
            params = self.revision.sampling(self.params, request.round)
            self.conversation.append(
                ChatMessage(role="user", content=self._revise.render(**variables))
            )
        else:
            params = self.revision.sampling(self.params, request.round)
            self.conversation = [
                self._system_message(variables),
                ChatMessage(role="user", content=self._fresh_revise.render(**variables)),
            ]
        completion = await call_model(
            self.backend, self.conversation, params, agent=self.name, record=record
        )
        self.conversation.append(ChatMessage(role="assistant", content=completion.text))
        self.last_draft = completion.text.strip()
        made = (Revision(strategy=self.revision.strategy, temperature=params.temperature,
                         seed=params.seed) if revising else None)
        return Draft(round=request.round, text=self.last_draft, author=self.name, revision=made)
