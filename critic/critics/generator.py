"""The LLM generator: writes a draft, then revises it from the judge's feedback.

The generator owns its context. It sees the task and, after round 1, only
the judge's feedback: never a critic's conversation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from critic.backends.base import GenerationParams
from critic.messages import ChatMessage, Draft, DraftRequest
from critic.prompts import PromptLibrary
from critic.protocols import Backend, Recorder
from critic.structured import call_model


@dataclass
class LLMGenerator:
    """A generator on a model, with one growing conversation per session."""

    backend: Backend
    prompts: PromptLibrary = field(default_factory=PromptLibrary)
    params: GenerationParams = field(default_factory=lambda: GenerationParams(max_tokens=320))
    name: str = "generator"
    system_template: str = "generator_system.j2"
    task_template: str = "generator_task.j2"
    revise_template: str = "generator_revise.j2"
    conversation: list[ChatMessage] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Load now so a broken template fails before the session starts.
        self._system = self.prompts.load(self.system_template)
        self._task = self.prompts.load(self.task_template)
        self._revise = self.prompts.load(self.revise_template)

    async def draft(self, request: DraftRequest, record: Recorder) -> Draft:
        task = request.task
        variables = {
            "task": task.prompt, "round": request.round, "feedback": request.feedback,
            "reference": task.reference, "tests": task.tests, "draft": None,
        }
        if not self.conversation:
            self.conversation = [
                ChatMessage(role="system", content=self._system.render(**variables)),
                ChatMessage(role="user", content=self._task.render(**variables)),
            ]
        else:
            self.conversation.append(
                ChatMessage(role="user", content=self._revise.render(**variables))
            )
        completion = await call_model(
            self.backend, self.conversation, self.params, agent=self.name, record=record
        )
        self.conversation.append(ChatMessage(role="assistant", content=completion.text))
        return Draft(round=request.round, text=completion.text.strip(), author=self.name)
