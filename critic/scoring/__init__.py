"""Offline scoring: a JSONL of existing outputs in, critiques and verdicts out, resumable.

The API is in the modules: :mod:`.job` (``score_file``), :mod:`.records`, :mod:`.results`,
:mod:`.scorer` and :mod:`.summary`; the common names are re-exported from :mod:`critic`.
"""
