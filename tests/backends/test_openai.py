"""The HTTP backend against an httpx MockTransport: retries, errors, secrets, limits."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine

import anyio
import httpx
import pytest

from critic import LLMCritic, LLMGenerator, MemoryBus, RoleRegistry, Session, Task, ThresholdJudge
from critic.backends.base import GenerationParams
from critic.backends.openai import HttpOptions, OpenAIModel, parse_model_url
from critic.backends.options import ModelOptions
from critic.backends.pool import ModelPool, open_model
from critic.errors import ConfigError, ModelError, RetriesExhausted
from critic.messages import ChatMessage, ModelCall
from critic.structured import call_model, complete_structured
from critic.testing import ScriptedModel

pytestmark = pytest.mark.anyio

URL = "http://127.0.0.1:9/v1"
MESSAGES = [ChatMessage(role="user", content="Say hi.")]
PARAMS = GenerationParams(max_tokens=16, seed=0)
FAST = HttpOptions(backoff=0.001, max_backoff=1.0, max_attempts=5)
CRITIQUE = json.dumps({"problems": ["none"], "suggestion": "keep it", "score": 9})

Handler = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]


def ok(content: str = "hi there") -> httpx.Response:
    return httpx.Response(200, json={
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
    })


class Script:
    """A MockTransport handler answering from a list: a Response, or an exception to raise."""

    def __init__(self, *steps: httpx.Response | Exception, then: httpx.Response | None = None):
        self.steps = list(steps)
        self.then = then
        self.requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0) if self.steps else self.then
        if step is None:
            raise AssertionError("unexpected extra request")
        if isinstance(step, Exception):
            raise step
        return step

    def bodies(self) -> list[dict[str, object]]:
        return [json.loads(r.content) for r in self.requests]


def model(handler: Handler, options: HttpOptions = FAST, **kwargs: object) -> OpenAIModel:
    return OpenAIModel(URL, "smol", options=options, transport=httpx.MockTransport(handler),
                       **kwargs)  # type: ignore[arg-type]


async def test_transient_failures_are_retried_until_success() -> None:
    script = Script(
        httpx.Response(500, json={"error": {"message": "boom"}}),
        httpx.Response(429, headers={"Retry-After": "0.3"}, json={"error": "slow down"}),
        httpx.ConnectError("Connection reset by peer"),
        httpx.ReadTimeout("read timed out"),
        ok(),
    )
    records: list[ModelCall] = []

    async def record(call: ModelCall) -> None:
        records.append(call)

    sent: list[float] = []

    async def timed(request: httpx.Request) -> httpx.Response:
        sent.append(anyio.current_time())
        return await script(request)

    m = model(timed)
    completion = await call_model(m.backend("critic"), MESSAGES, PARAMS, agent="critic",
                                  record=record)
    await m.aclose()
    assert completion.text == "hi there" and completion.attempts == 5
    assert completion.usage.prompt_tokens == 11 and completion.usage.completion_tokens == 3
    assert completion.latency > 0
    assert len(script.requests) == 5
    # The 429's Retry-After (0.3 s) was honoured; every other wait is at most 2 ms of backoff,
    # so a slow machine cannot make up the gap without the hint.
    assert sent[2] - sent[1] >= 0.3
    assert records[-1].status == "ok" and records[-1].attempts == 5


@pytest.mark.parametrize(("status", "message"), [
    (401, "Incorrect API key provided"), (400, "messages must not be empty"),
    (404, "model 'nope' not found"),
])
async def test_client_errors_fail_at_once_with_the_servers_message(
    status: int, message: str
) -> None:
    script = Script(httpx.Response(status, json={"error": {"message": message}}))
    m = model(script)
    with pytest.raises(ModelError, match=f"HTTP {status}: {message}"):
        await m.backend("critic").complete(MESSAGES, PARAMS)
    await m.aclose()
    assert len(script.requests) == 1


async def test_retries_give_up_after_the_limit_and_the_failure_is_recorded() -> None:
    script = Script(then=httpx.Response(503, text="overloaded"))
    records: list[ModelCall] = []

    async def record(call: ModelCall) -> None:
        records.append(call)

    m = model(script, HttpOptions(max_attempts=3, backoff=0.001))
    with pytest.raises(RetriesExhausted, match=r"HTTP 503: overloaded.*gave up after 3 attempts"):
        await call_model(m.backend("critic"), MESSAGES, PARAMS, agent="critic", record=record)
    await m.aclose()
    assert len(script.requests) == 3
    assert [(r.status, r.attempts) for r in records] == [("error", 3)]
    assert records[0].error is not None and "gave up after 3" in records[0].error


async def test_a_critic_whose_server_fails_is_marked_failed_and_the_session_goes_on() -> None:
    script = Script(then=httpx.Response(502, text="bad gateway"))
    http = model(script, HttpOptions(max_attempts=2, backoff=0.001))
    scripted = ScriptedModel(scripts={"generator": ["def rev(s): return s[::-1]"],
                                      "clarity": [CRITIQUE]})
    roles = RoleRegistry()
    session = Session(
        Task(prompt="Reverse a string."), LLMGenerator(scripted.backend("generator")),
        ThresholdJudge(accept_at=0.8, max_rounds=1),
        [LLMCritic(roles.get("correctness"), http.backend("correctness"), seed=0),
         LLMCritic(roles.get("clarity"), scripted.backend("clarity"), seed=0)],
        bus=MemoryBus(serialize=True),
    )
    outcome = await session.run()
    await http.aclose()
    verdict = outcome.verdicts[0]
    assert verdict.critiques_failed == 1 and verdict.scores.keys() == {"clarity"}
    assert outcome.decision == "accept"
    assert len(script.requests) == 2  # one call, two attempts, no structured re-asks


async def test_api_key_goes_only_into_the_authorization_header(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "sk-test-SECRET-1234"
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("CRITIC_API_KEY", secret)
    script = Script(httpx.Response(401, json={"error": {"message": "bad key"}}), ok())
    m = OpenAIModel.from_spec(URL + "#smol", options=FAST, transport=httpx.MockTransport(script))
    records: list[ModelCall] = []

    async def record(call: ModelCall) -> None:
        records.append(call)

    backend = m.backend("critic")
    with pytest.raises(ModelError) as failed:
        await call_model(backend, MESSAGES, PARAMS, agent="critic", record=record)
    await call_model(backend, MESSAGES, PARAMS, agent="critic", record=record)
    await m.aclose()
    assert script.requests[0].headers["authorization"] == f"Bearer {secret}"
    shown = [str(failed.value), backend.name, json.dumps(m.describe()),
             *(r.model_dump_json() for r in records)]
    assert not [text for text in shown if secret in text]
    assert m.describe() == {"kind": "openai", "url": URL, "model": "smol"}


async def test_openai_key_is_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRITIC_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-other")
    script = Script(ok())
    m = OpenAIModel.from_spec(URL, transport=httpx.MockTransport(script))
    await m.backend("a").complete(MESSAGES, PARAMS)
    await m.aclose()
    assert script.requests[0].headers["authorization"] == "Bearer sk-other"
    assert "model" not in script.bodies()[0]  # no #name: the server's default model


async def test_request_body_and_json_schema_fallback_to_json_object() -> None:
    rejected = httpx.Response(500, json={"error": {"message": "response_format.type: Input "
                                                   "should be 'text' or 'json_object'"}})
    script = Script(rejected, ok(CRITIQUE), ok(CRITIQUE))
    m = model(script)
    from critic.critics.critic import CritiqueOutput

    async def record(call: ModelCall) -> None:
        pass

    for _ in range(2):
        out = await complete_structured(m.backend("c"), MESSAGES, CritiqueOutput, PARAMS,
                                        agent="c", record=record)
        assert out.score == 9
    await m.aclose()
    first, second, third = script.bodies()
    assert first["model"] == "smol" and first["seed"] == 0 and first["max_tokens"] == 16
    assert first["messages"] == [{"role": "user", "content": "Say hi."}]
    assert first["response_format"]["type"] == "json_schema"  # type: ignore[index]
    schema = CritiqueOutput.model_json_schema()
    assert second["response_format"] == {"type": "json_object", "schema": schema}
    assert third["response_format"] == second["response_format"]  # remembered per model


@pytest.mark.parametrize("limit", [1, 2, 4])
async def test_max_connections_bounds_requests_in_flight_across_agents(limit: int) -> None:
    seen = {"now": 0, "max": 0}
    gate = anyio.Event()

    async def held(request: httpx.Request) -> httpx.Response:
        seen["now"] += 1
        seen["max"] = max(seen["max"], seen["now"])
        try:
            await gate.wait()  # answered only once the test has looked
        finally:
            seen["now"] -= 1
        return ok()

    m = model(held, HttpOptions(max_connections=limit))
    async with anyio.create_task_group() as tg:
        for i in range(4):
            tg.start_soon(m.backend(f"critic{i}").complete, MESSAGES, PARAMS)
        # All four agents have asked and nothing can finish: what is in flight now is
        # exactly what the limit lets through.
        await anyio.wait_all_tasks_blocked()
        assert seen["now"] == limit
        gate.set()
    await m.aclose()
    assert seen["max"] == limit


def test_model_urls() -> None:
    assert parse_model_url("http://h:8080/v1/#m-1") == ("http://h:8080/v1", "m-1")
    assert parse_model_url("https://api.example.com/v1") == ("https://api.example.com/v1", None)
    with pytest.raises(ConfigError, match="not an http"):
        parse_model_url("ftp://h/v1")
    opened = open_model("http://h:8080/v1#m", http=HttpOptions(max_connections=3))
    assert isinstance(opened, OpenAIModel) and opened.limiter.total_tokens == 3


def test_pool_opens_http_and_local_models_side_by_side(model_path: object) -> None:
    pool = ModelPool(str(model_path), ModelOptions(max_connections=2))
    local, remote = pool.get(), pool.get("http://127.0.0.1:9/v1#x")
    assert local.describe()["kind"] != "openai" and remote.describe()["model"] == "x"
    assert pool.get("http://127.0.0.1:9/v1#x") is remote  # one client per spec
    assert isinstance(remote, OpenAIModel) and remote.limiter.total_tokens == 2
    anyio.run(pool.aclose)


def test_offline_needs_a_cache() -> None:
    with pytest.raises(ConfigError, match="--offline needs --cache"):
        ModelOptions.parse(offline=True)
    with pytest.raises(ConfigError, match="--max-connections"):
        ModelOptions.parse(max_connections=0)
