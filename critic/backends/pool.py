"""Model backends: the protocol, the local llama.cpp backend and test doubles."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from critic.backends.base import Backend, Completion, GenerationParams, JsonSchema, Model

if TYPE_CHECKING:
    from critic.backends.cache import ResponseCache
    from critic.backends.openai import HttpOptions
    from critic.backends.options import ModelOptions


def open_model(spec: str | None, *, http: HttpOptions | None = None, **options: Any) -> Model:
    """The model named by ``spec``: a GGUF path, an http(s) URL, or None for the default.

    Local files are checked now (path, header, vocabulary and tensor table), so a
    missing, truncated or corrupt model fails before any session starts.
    ``http`` sets the limits of an HTTP model (connections, retries).
    """
    if spec is None or spec == "":
        from critic.backends.llama_cpp import LlamaCppModel

        model = LlamaCppModel.default(**options)
        model.verify()
        return model
    if spec.startswith(("http://", "https://")):
        from critic.backends.openai import OpenAIModel

        return OpenAIModel.from_spec(spec, options=http)
    from critic.backends.llama_cpp import LlamaCppModel

    model = LlamaCppModel(Path(spec).expanduser(), **options)
    model.verify()
    return model


class ModelPool:
    """Opens each distinct model spec once, on first use; agents get their own backend from it.

    Roles that need no model never ask, so nothing is loaded for them.
    ``options`` (HTTP limits, response cache) apply to every model it opens;
    all models share one cache file, keyed by each model's identity.
    """

    def __init__(self, default: str | None, options: ModelOptions | None = None) -> None:
        self.default = default
        self.options = options
        self._models: dict[str | None, Model] = {}
        self._cache: ResponseCache | None = None

    def get(self, spec: str | None = None) -> Model:
        key = spec if spec is not None else self.default
        if key not in self._models:
            self._models[key] = self._open(key)
        return self._models[key]

    def _open(self, spec: str | None) -> Model:
        if self.options is None:
            return open_model(spec)
        model = open_model(spec, http=self.options.http())
        if self.options.cache is None:
            return model
        from critic.backends.cache import CachedModel, ResponseCache

        if self._cache is None:
            self._cache = ResponseCache(self.options.cache)
        return CachedModel(model, self._cache, offline=self.options.offline,
                           cache_sampled=self.options.cache_sampled)

    async def aclose(self) -> None:
        for model in self._models.values():
            await model.aclose()
        if self._cache is not None:
            self._cache.close()


__all__ = [
    "Backend", "Completion", "GenerationParams", "JsonSchema", "Model", "ModelPool", "open_model",
]
