"""From trial records to scores: best trial, median over seeds, performance profiles.

AlgoPerf's rules, scaled down (``docs/workloads.md``): an optimizer's time on a workload is
the median over seeds of the time its best tuning trial's hyperparameters take to reach
the target (infinite if fewer than half the seeds reach it); a time more than ``MAX_TAU``
times the best optimizer's counts as infinite; the performance profile
$\\rho(\\tau)$ is the fraction of workloads on which an optimizer is within a factor
$\\tau$ of the best, and the score is its area over $\\tau \\in [1, 4]$ divided by 3
(1 = fastest on every workload).
"""

from __future__ import annotations

import math

import numpy as np

MAX_TAU = 4.0


def best_trial(records: list[dict]) -> dict | None:
    """The tuning trial that reached the target in the fewest steps (then least time)."""
    reached = [r for r in records if r["reached"]]
    if not reached:
        return None
    return min(reached, key=lambda r: (r["steps_to_target"], r["time_to_target_s"], r["trial"]))


def median_or_inf(values: list[float | None]) -> float:
    """The median with ``None`` (not reached) as infinity: infinite unless most reached."""
    xs = sorted(math.inf if v is None else float(v) for v in values)
    if not xs:
        return math.inf
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else 0.5 * (xs[mid - 1] + xs[mid])


def profiles(table: dict[str, dict[str, float]], workloads: list[str], points: int = 301):
    """``(taus, {optimizer: rho(taus)}, {optimizer: score})`` for ``table[opt][workload]``
    (a time or a step count, ``inf`` when not reached)."""
    taus = np.linspace(1.0, MAX_TAU, points)
    best = {w: min(table[o].get(w, math.inf) for o in table) for w in workloads}
    ratios = {}
    for o, row in table.items():
        r = []
        for w in workloads:
            v = row.get(w, math.inf)
            ratio = v / best[w] if math.isfinite(v) and best[w] > 0 else math.inf
            r.append(ratio if ratio <= MAX_TAU else math.inf)
        ratios[o] = np.asarray(r)
    rho = {o: np.array([(r <= t).mean() for t in taus]) for o, r in ratios.items()}
    trapezoid = getattr(np, "trapezoid", None) or np.trapz
    score = {o: float(trapezoid(p, taus) / (MAX_TAU - 1.0)) for o, p in rho.items()}
    return taus, rho, score


def score_tables(results: dict) -> dict:
    """Profiles and scores of every optimizer of ``results`` (its ``workloads``, ``optimizers``
    and ``summary``), by steps, by measured time and, if present, by estimated time."""
    names = list(results["workloads"])
    kinds = ["steps", "time_s"]
    if any("time_est_s" in s for row in results["summary"].values() for s in row.values()):
        kinds.append("time_est_s")
    tables = {}
    for kind in kinds:
        table = {o: {w: results["summary"].get(o, {}).get(w, {}).get(kind, math.inf) for w in names}
                 for o in results["optimizers"]}  # fmt: skip
        taus, rho, score = profiles(table, names)
        tables[kind] = {"taus": taus.tolist(), "rho": {o: r.tolist() for o, r in rho.items()},
                        "score": score}  # fmt: skip
    return tables
