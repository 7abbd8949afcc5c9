"""Live progress of the model call in flight, for whoever watches (the CLI's live view).

A backend that can tell reports, while a call runs, that it is waiting for the
model (``None``), that the model is reading the prompt (``0``) or how many
tokens it has generated so far (``n``). The report goes to the watch of the
run (:func:`watching`, set by the live view around the run) for the request
being served (:func:`serving`, set by the bus host around each handler call).

Context variables rather than a parameter: the call chain from a host to a
backend (agent, structured output, retries, cache) carries no observer, and
threading one through every extension point's signature would change them
all for a display. Observation only: nothing here changes what a call
returns, and with no watch set a report costs one lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from typing import Protocol


class TokenWatch(Protocol):
    """Receives progress reports; may be called from a backend's worker thread."""

    def progress(self, request: str, tokens: int | None) -> None:
        """``request`` (an envelope id): ``None`` waiting for the model, ``0`` reading the
        prompt, ``n`` tokens generated so far by the call in flight."""
        ...


#: What a backend calls with its progress (see the module docstring).
Report = Callable[[int | None], None]

_WATCH: ContextVar[TokenWatch | None] = ContextVar("critic_token_watch", default=None)
_REQUEST: ContextVar[str | None] = ContextVar("critic_token_request", default=None)


@contextmanager
def watching(watch: TokenWatch) -> Iterator[None]:
    """Report the progress of every call made in this context (and tasks it starts) to ``watch``."""
    token = _WATCH.set(watch)
    try:
        yield
    finally:
        _WATCH.reset(token)


class _Serving:
    # A class, not a @contextmanager generator: entered around every request a host
    # serves, where the generator's frame cost a tenth of a bus round trip.
    __slots__ = ("_request", "_token")

    def __init__(self, request: str) -> None:
        self._request = request

    def __enter__(self) -> None:
        self._token = _REQUEST.set(self._request)

    def __exit__(self, *exc_info: object) -> None:
        _REQUEST.reset(self._token)


def serving(request: str) -> AbstractContextManager[None]:
    """Calls made in this context serve the request with envelope id ``request``."""
    # Unwatched, no call reports (call_report needs both), and a watch is only ever set
    # around a run, before its tasks start: nothing to set for each request.
    return _Serving(request) if _WATCH.get() is not None else _UNWATCHED


_UNWATCHED = nullcontext()


def call_report() -> Report | None:
    """Where the call about to start reports its progress (None: nobody watches).

    Read on the event loop, before the call moves to a worker thread, and
    passed along: the thread then needs no context of its own.
    """
    watch, request = _WATCH.get(), _REQUEST.get()
    if watch is None or request is None:
        return None

    def report(tokens: int | None) -> None:
        watch.progress(request, tokens)

    return report
