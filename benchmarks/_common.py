"""Shared plumbing of the benchmark scripts (not a benchmark: `make bench` skips `_*.py`).

Every benchmark compares its subject with a baseline *in the same run*,
interleaving the two, because these machines are shared and noisy: absolute
figures move from run to run, ratios much less. Each script prints exactly one
JSON line last on stdout and writes the same object to ``benchmarks/results/``
(``NAME.json`` for a full run, ``NAME.quick.json`` for ``--quick``).

Every result also carries ``load``: the 1-minute load average when the run
started (``arguments`` reads it) and when it ended (``emit``), against the core
count. A run whose load exceeded the cores at either end is ``flagged``: other
work competed for the CPU, so its ratios may be skewed and no goal may be
claimed from it; the README table marks it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

RESULTS = Path(__file__).resolve().parent / "results"
NOISE_NOTE = (
    "2 shared cores: absolute figures are noisy; ratios are measured against a baseline "
    "interleaved in the same run"
)

T = TypeVar("T")

# Read by `arguments`, which every benchmark calls first, so it is the run's start.
_load_at_start: float | None = None


def arguments(description: str, extra: Callable[[argparse.ArgumentParser], object] | None = None
              ) -> argparse.Namespace:
    """Parse the common options (``--quick``, ``--results-dir``) plus a script's own.

    Also records the load average at the start of the run (see ``load_report``).
    """
    global _load_at_start
    _load_at_start = load_average()
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a short run (under a minute)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS,
                        help="where the JSON result goes (default: benchmarks/results)")
    if extra is not None:
        extra(parser)
    return parser.parse_args()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def load_average() -> float | None:
    """The 1-minute load average, or None where the OS has none."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def load_report(at_start: float | None, at_end: float | None, cores: int | None
                ) -> dict[str, Any]:
    """The run's load at both ends; ``flagged`` when either exceeded the core count."""
    known = [value for value in (at_start, at_end) if value is not None]
    flagged = bool(cores) and any(value > (cores or 0) for value in known)
    return {"1min_at_start": at_start, "1min_at_end": at_end, "cores": cores,
            "flagged": flagged,
            "why": (f"load above {cores} cores: other work competed for the CPU; "
                    "no goal may be claimed from this run") if flagged else None}


def machine(packages: Sequence[str] = ()) -> dict[str, Any]:
    """What the figures were measured on."""
    versions = {name: _version(name) for name in ("critic", "anyio", "pydantic", *packages)}
    return {
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "machine": platform.machine(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_1min_at_start": _load_at_start,
        "packages": versions,
    }


def model_info(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return {"file": path.name, "path": str(path), "bytes": path.stat().st_size,
            "sha256": digest.hexdigest()}


def emit(name: str, args: argparse.Namespace, figures: dict[str, Any],
         packages: Sequence[str] = (), started: float | None = None) -> dict[str, Any]:
    """Write the result file and print it as the last line of stdout."""
    result: dict[str, Any] = {
        "benchmark": name,
        "quick": bool(args.quick),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **figures,
        "machine": machine(packages),
        "load": load_report(_load_at_start, load_average(), os.cpu_count()),
        "note": NOISE_NOTE,
    }
    if result["load"]["flagged"]:
        log(f"{name}: FLAGGED: {result['load']['why']} "
            f"(load {result['load']['1min_at_start']} -> {result['load']['1min_at_end']})")
        # A goal met under competing load is not a goal met: the headline says "flagged".
        for row in result.get("headline", []):
            if row.get("met") is True:
                row["met"] = "flagged"
    if started is not None:
        result["bench_seconds"] = round(time.perf_counter() - started, 1)
    out_dir: Path = args.results_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = ".quick.json" if args.quick else ".json"
    line = json.dumps(result, sort_keys=False)
    (out_dir / f"{name}{suffix}").write_text(line + "\n")
    sys.stdout.flush()
    print(line, flush=True)
    return result


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), nearest-rank on the sorted values."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def log(message: str) -> None:
    """Progress goes to stderr, so stdout ends with the one JSON line."""
    print(message, file=sys.stderr, flush=True)
