from hypothesis import given
from hypothesis import strategies as st

from critic.messages import (
    ENVELOPE_ADAPTER,
    Answer,
    ChatMessage,
    Critique,
    DebateRequest,
    DebateRound,
    Draft,
    Envelope,
    ModelCall,
    Outcome,
    Task,
    Usage,
    Verdict,
)

text = st.text(max_size=50)
scores = st.none() | st.floats(min_value=0.0, max_value=1.0)

payloads = st.one_of(
    st.builds(Task, prompt=st.text(min_size=1, max_size=50), reference=st.none() | text),
    st.builds(Draft, round=st.integers(1, 10), text=text),
    st.builds(
        Critique, role=st.text(min_size=1, max_size=10), round=st.integers(1, 10), score=scores,
        problems=st.tuples(text, text), suggestion=text,
        status=st.sampled_from(["ok", "error", "timeout"]),
    ),
    st.builds(
        Verdict, round=st.integers(1, 10), decision=st.sampled_from(["accept", "revise", "discard"]),
        reason=st.text(min_size=1, max_size=20), aggregate=scores,
        scores=st.dictionaries(st.text(max_size=5), st.floats(0, 1), max_size=3),
    ),
    st.builds(
        ModelCall, agent=text, backend=text, model=text, completion=st.none() | text,
        messages=st.tuples(st.builds(ChatMessage, role=st.just("user"), content=text)),
        usage=st.builds(Usage, prompt_tokens=st.integers(0, 10**6)),
        params=st.dictionaries(st.text(max_size=5), st.integers() | st.none() | text, max_size=3),
    ),
    st.builds(
        DebateRequest, question=st.text(min_size=1, max_size=30), round=st.integers(1, 5),
        debater=text, others=st.tuples(st.builds(Answer, debater=text, round=st.just(1),
                                                 text=text, answer=st.none() | text)),
    ),
    st.builds(
        DebateRound, round=st.integers(1, 5), agreement=st.floats(0, 1),
        answers=st.tuples(st.builds(Answer, debater=text, round=st.just(1), text=text,
                                    status=st.sampled_from(["ok", "error", "timeout"]))),
        votes=st.dictionaries(text, st.integers(0, 9), max_size=3), majority=st.none() | text,
    ),
)


@given(payload=payloads, topic=st.text(min_size=1, max_size=20), parent=st.none() | text)
def test_envelope_survives_json_round_trip(payload: object, topic: str, parent: str | None) -> None:
    envelope = Envelope(session="s1", topic=topic, sender="x", parent=parent, payload=payload)
    again = ENVELOPE_ADAPTER.validate_json(ENVELOPE_ADAPTER.dump_json(envelope))
    assert again == envelope
    assert type(again.payload) is type(envelope.payload)


def test_outcome_round_trip_keeps_nested_models() -> None:
    verdict = Verdict(round=1, decision="accept", reason="good", scores={"a": 0.9}, aggregate=0.9)
    outcome = Outcome(
        session="s", decision="accept", reason="good", stop="accepted",
        draft=Draft(round=1, text="x"), score=0.9, rounds=1, verdicts=(verdict,),
    )
    envelope = Envelope(session="s", topic="t", sender="session", payload=outcome)
    assert ENVELOPE_ADAPTER.validate_json(ENVELOPE_ADAPTER.dump_json(envelope)) == envelope


def test_reply_routes_to_reply_to_and_links_parent() -> None:
    request = Envelope(session="s", topic="t", sender="a", reply_to="inbox.1",
                       payload=Task(prompt="p"))
    reply = request.reply(Draft(round=1, text="d"), sender="b")
    assert reply.topic == "inbox.1"
    assert reply.parent == request.id
    assert reply.id != request.id


def test_unscored_critique_is_not_scored() -> None:
    assert not Critique(role="r", round=1, status="error", error="boom").scored
    assert not Critique(role="r", round=1, status="ok", score=None).scored
    assert Critique(role="r", round=1, score=0.0).scored
