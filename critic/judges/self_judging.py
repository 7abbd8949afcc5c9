"""Self-judging: a judge on the same model as the generator (or a debater) it judges.

Models tend to prefer their own outputs, so a run whose judge shares a model
with a generator warns (:class:`SelfJudgingWarning`, shown on stderr by the
CLI) and, with ``--forbid-self-judging``, refuses to start. Models are
compared by their ``describe()``: the same file or URL and model name.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

from critic.errors import ConfigError


class SelfJudgingWarning(UserWarning):
    """The judge runs on a model that also generated what it judges."""


def check_self_judging(judge: str, judge_model: Mapping[str, str],
                       generators: Mapping[str, Mapping[str, str]], *, forbid: bool) -> tuple[str, ...]:
    """The generators sharing ``judge``'s model; warns about them, or raises if ``forbid``."""
    same = tuple(name for name, model in generators.items() if dict(model) == dict(judge_model))
    if not same:
        return same
    model = (judge_model.get("model") or Path(judge_model.get("file", "")).name
             or judge_model.get("url") or judge_model.get("kind", "?"))
    message = (f"judge {judge!r} runs on the same model as {', '.join(same)} ({model}): "
               "it may prefer its own model's answers")
    if forbid:
        raise ConfigError(f"--forbid-self-judging: {message}")
    warnings.warn(f"{message} (--forbid-self-judging refuses such runs)", SelfJudgingWarning,
                  stacklevel=2)
    return same
