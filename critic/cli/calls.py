"""``critic replay --calls``: each model call in full — every message sent, the completion, usage."""

from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.text import Text

from critic.messages import ModelCall


def call_panel(call: ModelCall, sender: str) -> Panel:
    """One call as a panel; model text goes in as plain :class:`Text`, so markup in it is shown, not run."""
    parts: list[Text] = []
    for message in call.messages:
        parts.append(Text(f"── {message.role} ──", style="bold"))
        parts.append(Text(message.content))
    parts.append(Text("── completion ──", style="bold green"))
    parts.append(Text(call.completion if call.completion is not None else "(none)"))
    if call.error:
        parts.append(Text(f"error: {call.error}", style="red"))
    usage = call.usage
    title = (f"model call · {sender} · {call.backend} {call.model} · {call.status} · "
             f"{usage.prompt_tokens}+{usage.completion_tokens} tokens · {call.latency:.2f} s · "
             f"{call.attempts} attempt(s)")
    return Panel(Group(*parts), title=Text(title), title_align="left", border_style="dim")
