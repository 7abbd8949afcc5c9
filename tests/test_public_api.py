import critic


def test_all_is_sorted_and_complete() -> None:
    assert critic.__all__ == sorted(critic.__all__)
    for name in critic.__all__:
        assert hasattr(critic, name), name


def test_public_api_is_pinned() -> None:
    # Adding or removing a public name is a deliberate act: update this list.
    assert set(critic.__all__) >= {
        "Bus", "MemoryBus", "Envelope", "Task", "Draft", "Critique", "Verdict", "Outcome",
        "Session", "ThresholdJudge", "LLMCritic", "LLMGenerator", "LlamaCppModel",
        "ScriptedModel", "CriticError", "RunConfig", "run_critique", "read_transcript",
    }
