"""Can you trust your judge? Measure each critic role and judge against labelled data.

:func:`calibrate` scores labelled outputs (a file, or the built-in
``humaneval-mutants``) with ``critic score``'s machinery and reports, per role
and judge, AUROC, held-out accuracy and kappa, Spearman against graded labels,
each with a seeded bootstrap interval, and a cross-validated threshold.
"""

from critic.calibration.labels import GradedItem, LabelledSet, PairedItem, read_labelled
from critic.calibration.metrics import ScorerCalibration, calibrate_preferences, calibrate_scores
from critic.calibration.run import CalibrateConfig, CalibrationReport, calibrate

__all__ = [
    "CalibrateConfig",
    "CalibrationReport",
    "GradedItem",
    "LabelledSet",
    "PairedItem",
    "ScorerCalibration",
    "calibrate",
    "calibrate_preferences",
    "calibrate_scores",
    "read_labelled",
]
