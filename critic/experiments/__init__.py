"""Building blocks for experiments, calibration and benchmarks (no model needed).

- :mod:`~critic.experiments.statistics`: seeded intervals, paired tests, agreement.
- :mod:`~critic.experiments.thresholds`: threshold sweeps and cross-validated thresholds.
- :mod:`~critic.experiments.drift`: the per-round drift (good→bad) and recovery model.
- :mod:`~critic.experiments.mutants`: HumanEval programs broken on purpose, labelled by
  running their hidden tests.
"""
