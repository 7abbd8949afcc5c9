"""critic: multi-agent self-critique.

A generator agent drafts; critic agents, each in its own context, review the
draft concurrently; a judge accepts it, sends it back for revision, or
discards it. They talk only through an asynchronous message bus, and every
message is recorded in a JSONL transcript.

    >>> import anyio
    >>> from critic import RunConfig, run_critique
    >>> outcome = anyio.run(run_critique, RunConfig(task="Reverse a string in Python."))
"""

from critic.agents import (
    Critic,
    CritiqueOutput,
    Generator,
    Judge,
    LLMCritic,
    LLMGenerator,
    RevisionPolicy,
    critique_schema,
    serve,
)
from critic.answers import AnswerExtractor, NumberAnswer, OptionAnswer, TextAnswer
from critic.backends import Backend, Completion, GenerationParams, Model, open_model
from critic.backends.cache import CachedModel, CacheMiss, ResponseCache
from critic.backends.llama_cpp import CpuBudget, LlamaCppModel, default_model_path
from critic.backends.openai import HttpOptions, OpenAIModel, RetriesExhausted
from critic.backends.options import ModelOptions
from critic.backends.scripted import ScriptedModel
from critic.bus import Bus, MemoryBus, NatsBus, Subscription
from critic.debate import Debate
from critic.debate_judge import DebateJudge, LLMDebateJudge, MajorityJudge
from critic.debate_runner import DebateConfig, run_debate
from critic.debaters import Debater, LLMDebater
from critic.errors import (
    BusError,
    BusUnavailable,
    ConfigError,
    CriticError,
    MalformedOutput,
    ModelError,
    NobodyServes,
    SuiteError,
    TranscriptError,
)
from critic.grounding import (
    HumanCritic,
    PythonExecCritic,
    SandboxLimits,
    SandboxResult,
    UnitTestCritic,
    VisibleTests,
    extract_visible_tests,
    run_check_tests,
    run_python,
)
from critic.judge import ThresholdJudge, aggregate
from critic.kinds import CriticContext
from critic.llm_judge import JudgeOutput, LLMJudge, build_judge
from critic.messages import (
    Answer,
    ChatMessage,
    Critique,
    DebateOutcome,
    DebateRequest,
    DebateRound,
    DebateVerdict,
    Draft,
    DraftRequest,
    Envelope,
    JudgeRequest,
    ModelCall,
    Outcome,
    ReviewRequest,
    Revision,
    Task,
    Usage,
    Verdict,
)
from critic.roles import (
    Role,
    RoleFileError,
    RoleRegistry,
    RoleSpec,
    check_role_dir,
    load_role_dir,
    load_role_file,
)
from critic.runner import RunConfig, run_critique
from critic.scoring import (
    ScoreConfig,
    Scorer,
    ScoreRecord,
    ScoreReport,
    ScoreResult,
    Summary,
    read_records,
    read_results,
    score_file,
    summarize,
)
from critic.session import RemoteCritic, Session, serve_critic
from critic.structured import complete_structured
from critic.templates import PromptLibrary
from critic.transcript import Transcript, TranscriptHeader, TranscriptWriter, read_transcript
from critic.worker import BusCritic

__all__ = [
    "Answer",
    "AnswerExtractor",
    "Backend",
    "Bus",
    "BusCritic",
    "BusError",
    "BusUnavailable",
    "CacheMiss",
    "CachedModel",
    "ChatMessage",
    "Completion",
    "ConfigError",
    "CpuBudget",
    "Critic",
    "CriticContext",
    "CriticError",
    "Critique",
    "CritiqueOutput",
    "Debate",
    "DebateConfig",
    "DebateJudge",
    "DebateOutcome",
    "DebateRequest",
    "DebateRound",
    "DebateVerdict",
    "Debater",
    "Draft",
    "DraftRequest",
    "Envelope",
    "GenerationParams",
    "Generator",
    "HttpOptions",
    "HumanCritic",
    "Judge",
    "JudgeOutput",
    "JudgeRequest",
    "LLMCritic",
    "LLMDebateJudge",
    "LLMDebater",
    "LLMGenerator",
    "LLMJudge",
    "LlamaCppModel",
    "MajorityJudge",
    "MalformedOutput",
    "MemoryBus",
    "Model",
    "ModelCall",
    "ModelError",
    "ModelOptions",
    "NatsBus",
    "NobodyServes",
    "NumberAnswer",
    "OpenAIModel",
    "OptionAnswer",
    "Outcome",
    "PromptLibrary",
    "PythonExecCritic",
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
    "ScriptedModel",
    "Session",
    "Subscription",
    "SuiteError",
    "Summary",
    "Task",
    "TextAnswer",
    "ThresholdJudge",
    "Transcript",
    "TranscriptError",
    "TranscriptHeader",
    "TranscriptWriter",
    "UnitTestCritic",
    "Usage",
    "Verdict",
    "VisibleTests",
    "aggregate",
    "build_judge",
    "check_role_dir",
    "complete_structured",
    "critique_schema",
    "default_model_path",
    "extract_visible_tests",
    "load_role_dir",
    "load_role_file",
    "open_model",
    "read_records",
    "read_results",
    "read_transcript",
    "run_check_tests",
    "run_critique",
    "run_debate",
    "run_python",
    "score_file",
    "serve",
    "serve_critic",
    "summarize",
]
