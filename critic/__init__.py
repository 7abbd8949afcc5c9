"""critic: multi-agent self-critique.

A generator agent drafts; critic agents, each in its own context, review the
draft concurrently; a judge accepts it, sends it back for revision, or
discards it. They talk only through an asynchronous message bus, and every
message is recorded in a JSONL transcript.

    >>> import anyio
    >>> from critic import RunConfig, run_critique
    >>> outcome = anyio.run(run_critique, RunConfig(task="Reverse a string in Python."))

The interfaces to extend live in :mod:`critic.protocols` (and are re-exported
here); test doubles in :mod:`critic.testing`.
"""

from critic.backends.base import Completion, GenerationParams
from critic.backends.cache import CachedModel, ResponseCache
from critic.backends.llama_cpp import LlamaCppModel
from critic.backends.openai import HttpOptions, OpenAIModel
from critic.backends.options import ModelEndpoint, ModelOptions
from critic.backends.pool import ModelPool, open_model
from critic.bus.coordinator import RemoteCritic
from critic.bus.memory import MemoryBus
from critic.bus.nats import NatsBus
from critic.bus.topics import Topic
from critic.bus.worker import BusCritic
from critic.calibration import CalibrateConfig, calibrate
from critic.calibration.probes import LabelledOutput, PairItem, ProbesReport, run_probes
from critic.config import DebateConfig, RunConfig, WorkerConfig
from critic.critics.critic import LLMCritic
from critic.critics.generator import LLMGenerator, RevisionPolicy
from critic.debate.answers import NumberAnswer, OptionAnswer, TextAnswer
from critic.debate.debate import Debate
from critic.debate.debaters import LLMDebater
from critic.debate.run import run_debate
from critic.errors import (
    BusError,
    BusUnavailable,
    CacheMiss,
    ConfigError,
    CriticError,
    MalformedOutput,
    ModelError,
    NobodyServes,
    RetriesExhausted,
    RoleFileError,
    StatisticsError,
    SuiteError,
    TemplateBoundError,
    TranscriptError,
)
from critic.experiments.conditions import Condition, Experiment, load_experiment
from critic.experiments.records import EvalRecord
from critic.experiments.runner import run_experiment
from critic.grounding.examples import VisibleTests, extract_visible_tests
from critic.grounding.execution import PythonExecCritic
from critic.grounding.human import HumanCritic
from critic.grounding.sandbox import SandboxLimits, SandboxResult
from critic.grounding.testing import UnitTestCritic
from critic.judges.llm import LLMDebateJudge, LLMJudge
from critic.judges.majority import MajorityJudge
from critic.judges.pairwise import BothOrders, LLMPairwiseJudge
from critic.judges.pointwise import LLMAnswerScorer
from critic.judges.rules import ThresholdJudge
from critic.judges.self_judging import SelfJudgingWarning
from critic.messages import (
    Answer,
    ChatMessage,
    Critique,
    DebateJudgeRequest,
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
from critic.prompts import PromptLibrary
from critic.protocols import (
    AnswerExtractor,
    AnswerScorer,
    Backend,
    Bus,
    Critic,
    CriticContext,
    CriticFactory,
    DebateJudge,
    DebateJudgeContext,
    DebateJudgeFactory,
    Debater,
    Generator,
    Judge,
    JudgeContext,
    JudgeFactory,
    Model,
    ModelOpener,
    PairwiseJudge,
    Recorder,
    Subscription,
)
from critic.roles.extensions import Extensions
from critic.roles.kinds import CriticKinds, default_kinds
from critic.roles.registry import RoleRegistry
from critic.roles.spec import Role, RoleSpec, check_role_dir
from critic.scoring.job import ScoreConfig, ScoreReport, score_file
from critic.scoring.records import ScoreRecord, read_records
from critic.scoring.results import ScoreResult, read_results
from critic.scoring.scorer import Scorer
from critic.scoring.summary import Summary, summarize
from critic.session.run import run_critique
from critic.session.session import Session
from critic.structured import complete_structured
from critic.transcript import Transcript, TranscriptHeader, TranscriptWriter, read_transcript
from critic.viewer import render_html, write_html

__all__ = [
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
