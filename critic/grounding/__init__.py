"""Critics grounded outside the model: running the code, its tests, a person.

- :mod:`~critic.grounding.sandbox`: run untrusted Python, contained.
- :mod:`~critic.grounding.execution`: the ``python-exec`` kind.
- :mod:`~critic.grounding.testing`: the ``doctest`` / ``unit-tests`` kinds.
- :mod:`~critic.grounding.examples`: test cases read from a prompt's examples.
- :mod:`~critic.grounding.human`: the ``human`` kind.
"""

from critic.grounding.examples import SkippedExample, VisibleTests, extract_visible_tests
from critic.grounding.execution import PythonExecCritic, extract_code, python_exec_critic
from critic.grounding.human import HumanCritic, human_critic
from critic.grounding.humaneval import HumanEvalProblem, load_humaneval
from critic.grounding.sandbox import SandboxLimits, SandboxResult, run_python
from critic.grounding.testing import (
    SuiteReport,
    UnitTestCritic,
    run_check_tests,
    run_suite,
    suite_for,
    unit_test_critic,
)

__all__ = [
    "HumanCritic",
    "HumanEvalProblem",
    "PythonExecCritic",
    "SandboxLimits",
    "SandboxResult",
    "SkippedExample",
    "SuiteReport",
    "UnitTestCritic",
    "VisibleTests",
    "extract_code",
    "extract_visible_tests",
    "human_critic",
    "load_humaneval",
    "python_exec_critic",
    "run_check_tests",
    "run_python",
    "run_suite",
    "suite_for",
    "unit_test_critic",
]
