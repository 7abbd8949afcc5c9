"""Opening models: :func:`open_model` by spec, and the :class:`ModelPool` of a run."""

from __future__ import annotations

from pathlib import Path

from critic.backends.cache import CachedModel, ResponseCache
from critic.backends.llama_cpp import LlamaCppModel
from critic.backends.openai import HttpOptions, OpenAIModel
from critic.backends.options import ModelOptions
from critic.protocols import Model


def open_model(spec: str | None, *, http: HttpOptions | None = None) -> Model:
    """The model named by ``spec``: a GGUF path, an http(s) URL, or None for the default.

    Local files are checked now (path, header, vocabulary and tensor table), so a
    missing, truncated or corrupt model fails before any session starts.
    ``http`` sets the limits of an HTTP model (connections, retries).
    """
    if spec is None or spec == "":
        model = LlamaCppModel.default()
        model.verify()
        return model
    if spec.startswith(("http://", "https://")):
        return OpenAIModel.from_spec(spec, options=http)
    model = LlamaCppModel(Path(spec).expanduser())
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
        if self._cache is None:
            self._cache = ResponseCache(self.options.cache)
        return CachedModel(model, self._cache, offline=self.options.offline,
                           cache_sampled=self.options.cache_sampled)

    async def aclose(self) -> None:
        for model in self._models.values():
            await model.aclose()
        if self._cache is not None:
            self._cache.close()
