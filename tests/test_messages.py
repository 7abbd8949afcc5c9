import os
import threading

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
    new_id,
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


def test_ids_are_32_hex_digits_and_never_repeat() -> None:
    ids = [new_id() for _ in range(5000)]  # many batches of the OS's random source
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def test_ids_are_unique_across_threads() -> None:
    drawn: list[list[str]] = [[] for _ in range(4)]

    def draw(into: list[str]) -> None:
        into.extend(new_id() for _ in range(3000))

    threads = [threading.Thread(target=draw, args=(d,)) for d in drawn]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for d in drawn for i in d]
    assert len(every) == 12000 and len(set(every)) == 12000


def test_a_forked_child_draws_other_ids_than_its_parent() -> None:
    new_id()  # the parent now holds drawn ids it has not handed out yet
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        os.close(read)
        os.write(write, "".join(new_id() for _ in range(8)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        text = pipe.read()
    os.waitpid(pid, 0)
    child = {text[i:i + 32] for i in range(0, len(text), 32)}
    parent = {new_id() for _ in range(8)}
    assert len(child) == 8 and not child & parent
