"""The ``python-exec`` critic: run the draft's code in the sandbox; clean run scores 1.

    kinds.register("python-exec", python_exec_critic)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from critic.errors import ConfigError
from critic.grounding.sandbox import SandboxLimits, SandboxResult, run_python
from critic.messages import Critique, ReviewRequest
from critic.protocols import CriticContext, Recorder
from critic.roles.spec import Role, RoleCritic

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)
_LONE_FENCE = re.compile(r"^\s*```[A-Za-z0-9_+-]*\s*$")
_PATH = re.compile(r'File "/[^"]*/(critic-sandbox-[^/"]+)/([^"]+)"')
_LIMIT_TEXT = {
    "wall_time": "did not finish within {wall:g} s (killed)",
    "cpu_time": "used more than {cpu} s of CPU time (killed)",
    "memory": "ran out of memory (limit {mem} MB)",
    "file_size": "wrote a file larger than {fsize} MB",
    "processes": "started too many processes (limit {procs})",
    "output": "printed more than {out} bytes (output truncated)",
    "killed": "was killed by SIGKILL (not by a limit of the sandbox)",
}


def extract_code(draft: str) -> str:
    """The Python in a draft: its fenced code blocks joined (python or untagged), else all."""
    blocks = [body for lang, body in _FENCE.findall(draft)
              if lang.lower() in ("", "python", "py", "python3")]
    if blocks:
        return "\n\n".join(b.rstrip() for b in blocks) + "\n"
    # Small models often open or close a fence without its partner.
    return "\n".join(line for line in draft.splitlines() if not _LONE_FENCE.match(line)) + "\n"


def trim_traceback(stderr: str, *, lines: int = 12, chars: int = 1200) -> str:
    """The tail of a traceback a model can act on: sandbox paths shortened, bounded."""
    text = _PATH.sub(lambda m: f'File "{m.group(2)}"', stderr.strip())
    kept = text.splitlines()[-lines:]
    out = "\n".join(kept)
    return out[-chars:]


def limits_from(role: Role) -> SandboxLimits:
    """Sandbox limits from a role's ``options`` (``wall_time``, ``memory_mb``, ...)."""
    names = set(SandboxLimits.model_fields)
    chosen = {k: v for k, v in role.spec.options.items() if k in names}
    try:
        return SandboxLimits.model_validate(chosen)
    except ValueError as exc:
        where = role.path or role.source
        raise ConfigError(f"role {role.name!r} ({where}): options: {exc}".splitlines()[0]) from exc


def describe_limit(result: SandboxResult, limits: SandboxLimits) -> str | None:
    if result.limit is None:
        return None
    return "the program " + _LIMIT_TEXT[result.limit].format(
        wall=limits.wall_time, cpu=limits.cpu_time, mem=limits.memory_mb,
        fsize=limits.file_size_mb, procs=limits.processes, out=limits.output_bytes,
    )


@dataclass
class PythonExecCritic(RoleCritic):
    """Runs the draft's code; its problems are the error and traceback, trimmed."""

    limits: SandboxLimits

    async def review(self, request: ReviewRequest, record: Recorder) -> Critique:
        result = await run_python(extract_code(request.draft.text), limits=self.limits)
        problems: list[str] = []
        limit = describe_limit(result, self.limits)
        if limit:
            problems.append(limit)
        if result.exit_code not in (0, None) and result.stderr.strip():
            problems.append(trim_traceback(result.stderr))
        elif result.exit_code not in (0, None):
            problems.append(f"the program exited with status {result.exit_code}")
        score = 1.0 if result.ok else 0.0
        suggestion = "" if result.ok else "Fix the error shown so the code runs cleanly."
        if result.notes:
            suggestion = " ".join([suggestion, *(f"(note: {n})" for n in result.notes)]).strip()
        return Critique(
            role=self.name, round=request.draft.round, score=score, raw_score=score,
            problems=tuple(problems), suggestion=suggestion, weight=self.weight,
        )


def python_exec_critic(role: Role, ctx: CriticContext) -> PythonExecCritic:
    return PythonExecCritic(role, limits_from(role))
