"""Merge the results of runs that tuned different optimizers (or workloads).

Each optimizer's tuning trials, seeds and steps to target on a workload depend on that pair
alone, so a run of new optimizers can be added to a committed run without rerunning the
others, and runs of one workload each can be put together; only
the performance profiles and scores, which compare every optimizer with the fastest on each
workload, are recomputed over the union. The time per step is the exception: it is measured
side by side within one run, and the load of another run's moment differs. With ``ref``,
an optimizer that both runs timed (e.g. AdamW), each added optimizer's time per step is its
ratio to ``ref`` in its own run times ``ref``'s time per step in the base run.
"""

from __future__ import annotations

import math

from . import _scoring

_WORKLOAD_KEYS = ("metric", "target", "budget", "batch_size")


def merge(base: dict, *others: dict, ref: str | None = None) -> dict:
    """``base`` with the (optimizer, workload) results of ``others`` that it lacks, rescored.

    Args:
      base: a results dict (``_report.load``); its results, workloads and run information
        are kept as they are.
      others: results dicts of runs on the same workloads (or on others); a result for an
        (optimizer, workload) pair already merged is skipped: the first file that has it
        wins, so a run may time ``ref`` beside new optimizers without replacing its result.
      ref: an optimizer timed side by side in ``base`` and in each of ``others``: the added
        results' ``ms_per_step_interleaved`` become their ratio to ``ref``'s in their own
        run times ``ref``'s in ``base`` (the ratio is kept as ``ms_per_step_ratio_to_ref``),
        and ``time_est_s`` is recomputed from it. Without ``ref`` the times are kept as
        measured.

    Returns:
      The merged results dict, with ``merged_from`` describing each added run.

    Raises:
      ValueError: if a workload differs between the runs (metric, target, budget or batch),
        or ``ref`` is not timed in ``base`` and in the run that adds a result.

    Example (two runs of different optimizers on one workload; y takes 5x the fastest):

      >>> wl = {"w": {"metric": "m", "target": 0.1, "budget": 9, "batch_size": 8}}
      >>> a = {"workloads": wl, "optimizers": {"x": {}}, "summary": {"x": {"w": {"steps": 4}}}}
      >>> b = {"workloads": wl, "optimizers": {"y": {}}, "summary": {"y": {"w": {"steps": 20}}}}
      >>> merge(a, b)["profiles"]["steps"]["score"]
      {'x': 1.0, 'y': 0.0}
    """
    out = {**base, "workloads": dict(base["workloads"]), "optimizers": dict(base["optimizers"])}
    out["summary"] = {o: dict(row) for o, row in base["summary"].items()}
    out["merged_from"] = list(base.get("merged_from", []))
    for other in others:
        for w, info in other["workloads"].items():
            mine = out["workloads"].setdefault(w, info)
            diff = [k for k in _WORKLOAD_KEYS if mine.get(k) != info.get(k)]
            if diff:
                raise ValueError(f"workload {w!r} differs between the runs in {diff}")
        added = {}
        for o, row in other["summary"].items():
            new = {w: dict(s) for w, s in row.items() if w not in out["summary"].get(o, {})}
            if not new:
                continue
            out["optimizers"].setdefault(o, other["optimizers"][o])
            if ref is not None:
                _rescale(new, base["summary"].get(ref, {}), other["summary"].get(ref, {}), o, ref)
            out["summary"].setdefault(o, {}).update(new)
            added[o] = list(new)
        out["merged_from"].append({
            "command": other.get("command"), "wall_s": other.get("wall_s"),
            "machine": other.get("machine"), "added": added, "step_time_ref": ref,
        })  # fmt: skip
    out["profiles"] = _scoring.score_tables(out)
    return out


def _rescale(row: dict, base_ref: dict, other_ref: dict, name: str, ref: str) -> None:
    for w, s in row.items():
        if "ms_per_step_interleaved" not in s:
            continue
        key = "ms_per_step_interleaved"
        try:
            mine, theirs = base_ref[w][key], other_ref[w][key]
        except KeyError:
            raise ValueError(f"{ref!r} is not timed on {w!r} in both runs ({name!r})") from None
        ratio = s[key] / theirs
        s["ms_per_step_ratio_to_ref"] = ratio
        s[key] = ratio * mine
        steps = s["steps"]
        s["time_est_s"] = steps * s[key] / 1e3 if math.isfinite(steps) else math.inf
