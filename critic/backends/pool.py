"""Opening models: :func:`open_model` by spec, and the :class:`ModelPool` of a run.

A spec is the name of a model endpoint (a ``[models.NAME]`` table of
``critic.toml``, see :class:`~critic.backends.options.ModelEndpoint`), a GGUF
path, an http(s) URL, or ``NAME:rest`` where ``NAME`` is a backend published
in the entry-point group ``critic.backends`` (a
:class:`~critic.protocols.ModelOpener`, called as ``opener(spec, max_connections=...,
max_attempts=...)``); see :mod:`critic.roles.extensions`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import cast

from critic.backends.cache import CachedModel, ResponseCache
from critic.backends.llama_cpp import LlamaCppModel
from critic.backends.openai import HttpOptions, OpenAIModel
from critic.backends.options import ENDPOINT_NAME, ModelEndpoint, ModelOptions
from critic.errors import ConfigError
from critic.protocols import Model, ModelOpener
from critic.roles.extensions import Extensions

# ``NAME:`` opening a spec names a backend; one letter is a Windows drive, not a backend.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9_.+-]+):")


def _http(spec: str, /, *, max_connections: int, max_attempts: int) -> Model:
    return OpenAIModel.from_spec(spec, options=HttpOptions(
        max_connections=max_connections, max_attempts=max_attempts))


def accept_backend(obj: object) -> ModelOpener:
    """A ``critic.backends`` entry point: a callable ``(spec, *, max_connections, max_attempts)``."""
    if not callable(obj):
        raise TypeError(f"{type(obj).__qualname__} is not callable, so not a model backend")
    # What it opens is checked against the Model protocol when a spec is opened.
    return cast("ModelOpener", obj)


#: Model backends by spec prefix: ``http``/``https`` built in, then ``critic.backends`` plugins.
backends: Extensions[ModelOpener] = Extensions(
    "model backend", "critic.backends", accept_backend, {"http": _http, "https": _http})


def backend_name(spec: str) -> str | None:
    """The backend a spec names (``http``, a plugin's name), or None for a GGUF path."""
    found = _SCHEME.match(spec)
    return found.group(1) if found else None


def open_endpoint(endpoint: ModelEndpoint, *, http: HttpOptions | None = None,
                  environ: Mapping[str, str] | None = None) -> OpenAIModel:
    """A named model: its URL, model name, key (read from its variable now) and headers,
    with its own HTTP numbers over ``http``'s."""
    return OpenAIModel(endpoint.base_url, endpoint.model,
                       options=endpoint.http(http or HttpOptions()),
                       api_key=endpoint.api_key(environ), headers=endpoint.headers)


def open_model(
    spec: str | None, *, http: HttpOptions | None = None,
    registry: Extensions[ModelOpener] | None = None,
    endpoints: Mapping[str, ModelEndpoint] | None = None, shared_critics: int = 0,
) -> Model:
    """The model named by ``spec``: a named endpoint, a GGUF path, an http(s) URL, a
    plugin's ``NAME:rest``, or None for the default.

    Local files are checked now (path, header, vocabulary and tensor table), so a
    missing, truncated or corrupt model fails before any session starts.
    ``http`` sets the limits of an HTTP model (connections, retries, timeout);
    ``shared_critics`` the shared-prefix sequences of a llama.cpp model.
    """
    if endpoints and spec is not None and spec in endpoints:
        return open_endpoint(endpoints[spec], http=http)
    if spec is None or spec == "":
        model = LlamaCppModel.default(shared_sequences=shared_critics)
        model.verify()
        return model
    if spec.startswith(("http://", "https://")):
        return OpenAIModel.from_spec(spec, options=http)
    name = backend_name(spec)
    if name is not None:
        registry = registry or backends
        limits = http or HttpOptions()
        opened = registry.get(name, flag="--model")(
            spec, max_connections=limits.max_connections, max_attempts=limits.max_attempts)
        if not isinstance(opened, Model):
            raise ConfigError(f"--model: backend {name!r} ({registry.origin(name)}) opened a "
                              f"{type(opened).__qualname__}, which is not a Model")
        return opened
    if ENDPOINT_NAME.match(spec) and not Path(spec).exists():
        named = ", ".join(sorted(endpoints or ())) or "none"
        raise ConfigError(f"model {spec!r}: no [models.{spec}] in critic.toml (named models: "
                          f"{named}) and no such GGUF file")
    model = LlamaCppModel(Path(spec).expanduser(), shared_sequences=shared_critics)
    model.verify()
    return model


class ModelPool:
    """Opens each distinct model spec once, on first use; agents get their own backend from it.

    Roles that need no model never ask, so nothing is loaded for them.
    ``options`` (HTTP limits, named endpoints, response cache) apply to every model it opens;
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
        model = open_model(spec, http=self.options.http(), endpoints=self.options.endpoints,
                           shared_critics=self.options.shared_critics)
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
