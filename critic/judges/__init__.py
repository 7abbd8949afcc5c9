"""Judges: the threshold rules, LLM judges (sessions and debates), majority vote, and the
selection of a judge by name."""
