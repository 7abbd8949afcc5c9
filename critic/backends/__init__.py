"""Model backends: the protocol, the local llama.cpp backend and test doubles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from critic.backends.base import Backend, Completion, GenerationParams, JsonSchema, Model
from critic.errors import ConfigError


def open_model(spec: str | None, **options: Any) -> Model:
    """The model named by ``spec``: a GGUF path, an http(s) URL, or None for the default.

    Local files are checked now, so a bad path fails before any session starts.
    """
    if spec is None or spec == "":
        from critic.backends.llama_cpp import LlamaCppModel

        return LlamaCppModel.default(**options)
    if spec.startswith(("http://", "https://")):
        raise ConfigError(f"HTTP models are not supported yet: {spec}")
    from critic.backends.llama_cpp import LlamaCppModel

    return LlamaCppModel(Path(spec).expanduser(), **options)


class ModelPool:
    """Opens each distinct model spec once, on first use; agents get their own backend from it.

    Roles that need no model never ask, so nothing is loaded for them.
    """

    def __init__(self, default: str | None) -> None:
        self.default = default
        self._models: dict[str | None, Model] = {}

    def get(self, spec: str | None = None) -> Model:
        key = spec if spec is not None else self.default
        if key not in self._models:
            self._models[key] = open_model(key)
        return self._models[key]

    async def aclose(self) -> None:
        for model in self._models.values():
            await model.aclose()


__all__ = [
    "Backend", "Completion", "GenerationParams", "JsonSchema", "Model", "ModelPool", "open_model",
]
