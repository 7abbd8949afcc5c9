"""The public API is exactly this list: adding or removing a name is a deliberate act."""

import critic
import critic.testing

PUBLIC = [
    "Answer",
    "AnswerExtractor",
    "AnswerScorer",
    "Backend",
    "BothOrders",
    "Bus",
    "BusCritic",
    "BusError",
    "BusUnavailable",
    "CacheMiss",
    "CachedModel",
    "CalibrateConfig",
    "ChatMessage",
    "Completion",
    "Condition",
    "ConfigError",
    "Critic",
    "CriticContext",
    "CriticError",
    "CriticFactory",
    "CriticKinds",
    "Critique",
    "Debate",
    "DebateConfig",
    "DebateJudge",
    "DebateJudgeContext",
    "DebateJudgeFactory",
    "DebateJudgeRequest",
    "DebateOutcome",
    "DebateRequest",
    "DebateRound",
    "DebateVerdict",
    "Debater",
    "Draft",
    "DraftRequest",
    "Envelope",
    "EvalRecord",
    "Experiment",
    "Extensions",
    "GenerationParams",
    "Generator",
    "HttpOptions",
    "HumanCritic",
    "Judge",
    "JudgeContext",
    "JudgeFactory",
    "JudgeRequest",
    "LLMAnswerScorer",
    "LLMCritic",
    "LLMDebateJudge",
    "LLMDebater",
    "LLMGenerator",
    "LLMJudge",
    "LLMPairwiseJudge",
    "LabelledOutput",
    "LlamaCppModel",
    "MajorityJudge",
    "MalformedOutput",
    "MemoryBus",
    "Model",
    "ModelCall",
    "ModelEndpoint",
    "ModelError",
    "ModelOpener",
    "ModelOptions",
    "ModelPool",
    "NatsBus",
    "NobodyServes",
    "NumberAnswer",
    "OpenAIModel",
    "OptionAnswer",
    "Outcome",
    "PairItem",
    "PairwiseJudge",
    "ProbesReport",
    "PromptLibrary",
    "PythonExecCritic",
    "Recorder",
    "RemoteCritic",
    "ResponseCache",
    "RetriesExhausted",
    "ReviewRequest",
    "Revision",
    "RevisionPolicy",
    "Role",
    "RoleFileError",
    "RoleRegistry",
    "RoleSpec",
    "RunConfig",
    "SandboxLimits",
    "SandboxResult",
    "ScoreConfig",
    "ScoreRecord",
    "ScoreReport",
    "ScoreResult",
    "Scorer",
    "SelfJudgingWarning",
    "Session",
    "StatisticsError",
    "Subscription",
    "SuiteError",
    "Summary",
    "Task",
    "TemplateBoundError",
    "TextAnswer",
    "ThresholdJudge",
    "Topic",
    "Transcript",
    "TranscriptError",
    "TranscriptHeader",
    "TranscriptWriter",
    "UnitTestCritic",
    "Usage",
    "Verdict",
    "VisibleTests",
    "WorkerConfig",
    "calibrate",
    "check_role_dir",
    "complete_structured",
    "default_kinds",
    "extract_visible_tests",
    "load_experiment",
    "open_model",
    "read_records",
    "read_results",
    "read_transcript",
    "render_html",
    "run_critique",
    "run_debate",
    "run_experiment",
    "run_probes",
    "score_file",
    "summarize",
    "write_html",
]


def test_public_api_is_exactly_the_pinned_sorted_list() -> None:
    assert critic.__all__ == PUBLIC
    assert sorted(PUBLIC) == PUBLIC
    for name in PUBLIC:
        assert hasattr(critic, name), name


def test_test_doubles_live_in_critic_testing() -> None:
    assert critic.testing.__all__ == ["ScriptedBackend", "ScriptedModel"]
    assert not hasattr(critic, "ScriptedModel")


def test_names_the_readme_imports_are_public() -> None:
    import re
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    imported: set[str] = set()
    for names in re.findall(r"^from critic import ([\w, ]+)$", readme, re.MULTILINE):
        imported.update(n.strip() for n in names.split(","))
    assert imported, "README imports nothing from critic"
    assert imported <= set(PUBLIC), imported - set(PUBLIC)
    assert not re.search(r"^from critic\.(?!testing\b)", readme, re.MULTILINE), (
        "README imports from a private module"
    )
