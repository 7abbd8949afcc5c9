"""``summary.json`` of an experiment, computed from ``results.jsonl`` alone.

The keys are those :mod:`critic.viewer.reports` documents (``kind``,
``conditions``, ``comparisons``, ``transitions``, ``decay``) plus
``ablations`` (each member's leave-one-out effect) and ``experiment`` (name,
baseline, seeds, items). Every interval is seeded: the same results give the
same summary.

- ``conditions.<name>``: pass rate of the selected answers over item x seed,
  Wilson 95 % interval, tokens and seconds spent in all;
- ``comparisons[]``: each condition against the baseline, paired by item and
  seed; ``diff`` = pass rate minus the baseline's, a bootstrap interval that
  resamples whole items, exact McNemar ``p_value``, ``fixed`` / ``broken``;
- ``transitions`` and ``decay``: from the oracle's verdict on every draft of
  every round (:mod:`critic.experiments.drift`);
- ``ablations[]`` (``--ablate``): for each critic of a condition, and each voter or
  debater of a vote or debate, the full condition against the same condition without
  that member (``kind``: critic, voter or debater; ``member``: its name; critics keep
  the key ``critic`` too), paired like a comparison: "which member did it".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from critic.errors import StatisticsError
from critic.experiments.conditions import Experiment
from critic.experiments.drift import count_transitions, fit_decay, transition_rates
from critic.experiments.records import EvalRecord
from critic.experiments.statistics import (
    Interval,
    discordant_pairs,
    mcnemar_exact,
    paired_bootstrap_diff,
    proportion_ci,
)

#: Seed of every bootstrap in a summary.
SUMMARY_SEED = 0


def _ci(interval: Interval | None) -> list[float] | None:
    return None if interval is None else [interval.low, interval.high]


def _by_condition(records: Sequence[EvalRecord]) -> dict[str, dict[tuple[str, int], EvalRecord]]:
    grouped: dict[str, dict[tuple[str, int], EvalRecord]] = {}
    for record in records:
        grouped.setdefault(record.condition, {})[(record.item, record.seed)] = record
    return grouped


def condition_result(records: Sequence[EvalRecord]) -> dict[str, Any]:
    passed = sum(r.passed for r in records)
    ci = proportion_ci(passed, len(records)) if records else None
    return {"n": len(records), "pass_rate": passed / len(records) if records else None,
            "ci": _ci(ci), "passed": passed, "tokens": sum(r.tokens for r in records),
            "seconds": round(sum(r.seconds for r in records), 3)}


def compare(control: dict[tuple[str, int], EvalRecord],
            treatment: dict[tuple[str, int], EvalRecord], *, seed: int = SUMMARY_SEED
            ) -> dict[str, Any]:
    """``treatment`` against ``control`` on the item x seed pairs both have."""
    keys = sorted(control.keys() & treatment.keys())
    a = [int(control[k].passed) for k in keys]
    b = [int(treatment[k].passed) for k in keys]
    pairs = discordant_pairs(a, b) if keys else None
    interval = (paired_bootstrap_diff(a, b, seed=seed, items=[k[0] for k in keys])
                if keys else None)
    return {"n": len(keys), "diff": interval.estimate if interval else None, "ci": _ci(interval),
            "p_value": mcnemar_exact(pairs.fixed, pairs.broken) if pairs else None,
            "fixed": pairs.fixed if pairs else 0, "broken": pairs.broken if pairs else 0}


def _rate(interval: Interval | None, n: int, round: int | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"rate": interval.estimate if interval else None,
                             "ci": _ci(interval), "n": n}
    if round is not None:
        entry["round"] = round
    return entry


def drift(records: Sequence[EvalRecord]
          ) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
    """``(transitions, decay)`` of one condition; None when no unit has two rounds.

    ``decay`` is None when no draft was ever good (there is no drift rate to fit),
    while the transitions still say how often a failing draft was repaired: for a
    condition that stops at its first passing draft, the figure that matters.
    """
    paths = [[r.passed for r in record.rounds] for record in records if record.rounds]
    try:
        counts = count_transitions(paths, first_round=1)
    except StatisticsError:
        return None
    rounds = transition_rates(counts)
    good = sum(c.good for c in counts)
    bad = sum(c.bad for c in counts)
    transitions = {
        "good_to_bad": {
            **_rate(proportion_ci(sum(c.good_bad for c in counts), good) if good else None,
                    good),
            "per_round": [_rate(r.drift, c.good, r.round)
                          for r, c in zip(rounds, counts, strict=True)]},
        "bad_to_good": {
            **_rate(proportion_ci(sum(c.bad_good for c in counts), bad) if bad else None, bad),
            "per_round": [_rate(r.recovery, c.bad, r.round)
                          for r, c in zip(rounds, counts, strict=True)]},
    }
    if not good:
        return transitions, None
    fit = fit_decay(counts)
    h = fit.homogeneity
    decay = {
        "e": fit.drift.estimate, "ci": _ci(fit.drift),
        "recovery": fit.recovery.estimate if fit.recovery else None,
        "recovery_ci": _ci(fit.recovery),
        "fit_test": "chi-square homogeneity of good_to_bad across rounds",
        "fit": {"p_value": h.p_value if h else None, "statistic": h.statistic if h else None,
                "dof": h.dof if h else None, "min_expected": h.min_expected if h else None},
        "predicted_good_share": [fit.predicted_good_share(n) for n in range(len(counts) + 1)],
        "observed_good_share": [
            (c.good / (c.good + c.bad)) if c.good + c.bad else None for c in counts],
    }
    return transitions, decay


def summarize(records: Sequence[EvalRecord], experiment: Experiment, *,
              seed: int = SUMMARY_SEED) -> dict[str, Any]:
    """The whole ``summary.json`` object."""
    grouped = _by_condition(records)
    names = [n for n in experiment.conditions if n in grouped]
    ablated = experiment.ablations()
    summary: dict[str, Any] = {
        "kind": "experiment",
        "experiment": {"name": experiment.name, "dataset": experiment.dataset,
                       "baseline": experiment.baseline, "seeds": list(experiment.seeds),
                       "items": len({r.item for r in records}), "summary_seed": seed},
        "conditions": {n: condition_result(list(grouped[n].values())) for n in names},
        "comparisons": [], "transitions": {}, "decay": {}, "ablations": [],
    }
    baseline = grouped.get(experiment.baseline, {})
    for name in names:
        if name == experiment.baseline or name in ablated or not baseline:
            continue
        summary["comparisons"].append(
            {"condition": name, "baseline": experiment.baseline,
             **compare(baseline, grouped[name], seed=seed)})
    for name in names:
        found = drift(list(grouped[name].values()))
        if found is not None:
            summary["transitions"][name], decay = found
            if decay is not None:
                summary["decay"][name] = decay
    for name, ablation in ablated.items():
        full = ablation.condition
        if name in grouped and full in grouped:
            # The member's effect: the full condition against the one without it.
            who = {"critic": ablation.member} if ablation.kind == "critic" else {}
            summary["ablations"].append({
                "condition": full, "kind": ablation.kind, "member": ablation.member, **who,
                "without": name, **compare(grouped[name], grouped[full], seed=seed)})
    return summary
