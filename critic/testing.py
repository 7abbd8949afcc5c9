"""Test doubles for code built on critic: a scripted model whose answers you choose.

    from critic.testing import ScriptedModel
    model = ScriptedModel({"generator": ["def f(): ..."], "correctness": ['{"problems": [], ...}']})

Every call is recorded in ``model.calls`` (agent, messages, params), so a test
can assert exactly what each agent was sent.
"""

from critic.backends.scripted import ScriptedBackend, ScriptedModel

__all__ = ["ScriptedBackend", "ScriptedModel"]
