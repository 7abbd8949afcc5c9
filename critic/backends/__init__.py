"""Model backends: the protocol, the local llama.cpp backend and test doubles."""

from __future__ import annotations

from pathlib import Path

from critic.backends.base import Backend, Completion, GenerationParams, JsonSchema, Model
from critic.errors import ConfigError


def open_model(spec: str | None, **options: object) -> Model:
    """The model named by ``spec``: a GGUF path, an http(s) URL, or None for the default.

    Local files are checked now, so a bad path fails before any session starts.
    """
    if spec is None or spec == "":
        from critic.backends.llama_cpp import LlamaCppModel

        return LlamaCppModel.default(**options)  # type: ignore[arg-type]
    if spec.startswith(("http://", "https://")):
        try:
            from critic.backends.openai import OpenAIModel
        except ImportError as exc:  # pragma: no cover - present once the HTTP backend lands
            raise ConfigError(f"HTTP models are not supported in this build: {spec}") from exc
        return OpenAIModel.from_url(spec, **options)  # type: ignore[arg-type]
    from critic.backends.llama_cpp import LlamaCppModel

    return LlamaCppModel(Path(spec).expanduser(), **options)  # type: ignore[arg-type]


__all__ = ["Backend", "Completion", "GenerationParams", "JsonSchema", "Model", "open_model"]
