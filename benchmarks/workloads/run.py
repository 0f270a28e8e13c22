"""Run the workloads benchmark: tune each optimizer on each workload, score, report.

``python -m benchmarks.workloads --quick`` (a handful of optimizers, 1 seed, one trial at
the hyperparameters the committed full run chose, ``docs/workloads.json``; with
``--search``, or where that file has none, 3 trials of the search) or ``--full`` (every
optimizer of ``_optimizers.OPTIMIZERS``, 8 trials, 3 seeds). Each finished
trial is appended to ``<out>/trials.jsonl``; a rerun with the same ``--out`` skips what is
there (a killed run resumes), ``--fresh`` starts over. Writes ``results.json``,
``results.md`` and the figures into ``--out`` and prints the table of steps and time to
target.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: python benchmarks/workloads/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    __package__ = "benchmarks.workloads"

from . import _merge, _optimizers, _report, _scoring, _search, _timing, _trainer, _workloads

TUNED = Path(__file__).resolve().parents[2] / "docs" / "workloads.json"
PRESETS = {
    "quick": {"optimizers": _optimizers.QUICK, "trials": 3, "seeds": 1},
    "full": {"optimizers": _optimizers.FULL, "trials": 8, "seeds": 3},
}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = p.add_argument
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="the quick preset (the default)")
    mode.add_argument("--full", action="store_true", help="every optimizer, 8 trials, 3 seeds")
    known = list(_optimizers.OPTIMIZERS)
    add("--optimizers", help=f"comma list (default: the preset's); from {known}")
    add("--workloads", help=f"comma list (default: all); from {list(_workloads.BUILDERS)}")
    add("--trials", type=int, help="tuning trials per optimizer and workload")
    add("--seeds", type=int, help="seeds the best trial's hyperparameters run with (incl. 0)")
    add("--search-seed", type=int, default=0, help="seed of the quasi-random search")
    add("--max-steps", type=int, help="stop every run after this many steps (smoke tests)")
    add("--data-dir", help="a folder with MNIST-format IDX files for the image workloads")
    add("--dataset", choices=["mnist", "fashion_mnist"], default="mnist")
    add("--out", help="output folder (default results/workloads_<preset>)")
    add(
        "--tuned",
        help="a results.json: one trial with the hyperparameters it chose, where "
        "it has them, instead of the search (--quick: docs/workloads.json when present)",
    )
    add("--replot", help="a results.json: write its tables and figures into --out, run nothing")
    add(
        "--merge",
        nargs="+",
        metavar="RESULTS_JSON",
        help="results.json files of runs of different optimizers: the first with the others' "
        "optimizers added and the scores recomputed, written into --out, run nothing",
    )
    add(
        "--step-time-ref",
        metavar="OPTIMIZER",
        help="--merge: an optimizer timed in every run; the added ones' time per step is "
        "their ratio to it times its time in the first run",
    )
    add("--search", action="store_true", help="--quick: search even if docs/workloads.json exists")
    add("--fresh", action="store_true", help="ignore the trials already in <out>/trials.jsonl")
    add("--no-progress", action="store_true", help="no progress bar")
    add("--no-figures", action="store_true", help="skip the PNG figures")
    add(
        "--step-time",
        action="store_true",
        help="also time every optimizer's step side by side per workload (--full: on)",
    )
    args = p.parse_args(argv)
    args.preset = "full" if args.full else "quick"
    args.step_time = args.step_time or args.full
    preset = PRESETS[args.preset]
    args.optimizers = args.optimizers.split(",") if args.optimizers else list(preset["optimizers"])
    args.workloads = args.workloads.split(",") if args.workloads else list(_workloads.BUILDERS)
    args.trials = args.trials or preset["trials"]
    args.seeds = args.seeds or preset["seeds"]
    args.out = Path(args.out or f"results/workloads_{args.preset}")
    args.tuned_given = args.tuned is not None
    if args.tuned is None and args.preset == "quick" and not args.search and TUNED.exists():
        args.tuned = str(TUNED)
    args.tuned_points = {}
    if args.tuned:
        summary = json.loads(Path(args.tuned).read_text())["summary"]
        args.tuned_points = {(w, o): s["hyperparams"] for o, row in summary.items()
                             for w, s in row.items() if s.get("reached")}  # fmt: skip
    bad = [o for o in args.optimizers if o not in _optimizers.OPTIMIZERS]
    bad += [w for w in args.workloads if w not in _workloads.BUILDERS]
    if bad:
        p.error(f"unknown optimizers or workloads: {bad}")
    if min(args.trials, args.seeds) < 1:
        p.error("--trials and --seeds must be >= 1")
    return args


def fingerprint(wl, name: str, spec, point: dict, max_steps) -> str:
    """What a trial's result depends on; a stored trial is reused only if it matches."""
    what = [wl.description, wl.metric, wl.target, wl.budget, wl.eval_every, name]
    what += [_optimizers.describe_space(spec), sorted(spec.fixed.items()), point, max_steps]
    return hashlib.sha1(json.dumps(what, default=str).encode()).hexdigest()[:12]


class Store:
    """The JSON-lines file of finished trials: read once, appended after every trial."""

    def __init__(self, path: Path, fresh: bool):
        self.path, self.done = path, {}
        path.parent.mkdir(parents=True, exist_ok=True)
        if fresh and path.exists():
            path.unlink()
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:  # a line cut short by a kill
                    continue
                self.done[(rec["key"], rec["fingerprint"])] = rec

    def get(self, key: str, fp: str):
        return self.done.get((key, fp))

    def put(self, rec: dict) -> None:
        self.done[(rec["key"], rec["fingerprint"])] = rec
        with self.path.open("a") as f:
            f.write(json.dumps(rec) + "\n")


def progress(total: int, disable: bool):
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is in the examples extra
        return None
    return tqdm(total=total, unit="trial", disable=disable or not sys.stderr.isatty())


def run_pair(wl, name, spec, args, store, bar, programs) -> list[dict]:
    """Tune ``name`` on ``wl`` (trials at seed 0), then rerun the best point on more seeds."""
    records = []

    def one(phase, trial, point, seed):
        key = f"{wl.name}|{name}|{phase}|{trial}|{seed}"
        fp = fingerprint(wl, name, spec, point, args.max_steps)
        rec = store.get(key, fp)
        if rec is None:
            static = tuple((k, point[k]) for k in spec.static)
            try:
                if static not in programs:
                    programs[static] = _trainer.compile_program(wl, spec, point)
                program = programs[static]
                rec = _trainer.run_trial(wl, spec, program, point, seed, args.max_steps)
            except Exception as err:  # reported, not stored: a rerun tries again
                print(f"\n{wl.name} {name} {phase} {trial}: {type(err).__name__}: {err}")
                rec = {"reached": False, "status": "error", "steps_to_target": None,
                       "time_to_target_s": None, "ms_per_step": math.inf,
                       "best_metric": None, "curve": [], "error": str(err)[:500]}  # fmt: skip
            rec.update(key=key, fingerprint=fp, workload=wl.name, optimizer=name, phase=phase)
            rec.update(trial=trial, seed=seed, hyperparams=point)
            if rec["status"] != "error":
                rec.update(compile_s=round(program.compile_s, 3))
                store.put(rec)
        rec = _trainer.rescore(rec, wl)
        if bar is not None:
            bar.set_postfix_str(f"{wl.name} {name} {phase} {trial}", refresh=False)
            bar.update(1)
        records.append(rec)
        return rec

    seen = {}
    points = _search.trials(spec.space, args.trials, args.search_seed)
    tuned = args.tuned_points.get((wl.name, name))
    if tuned is not None:  # --tuned: the hyperparameters a full run chose, one trial
        points = [tuned]
        if args.tuned_given and args.trials > 1:
            print(f"note: {args.tuned} has tuned hyperparameters for {name} on {wl.name}: "
                  f"1 trial with them instead of {args.trials}", file=sys.stderr)  # fmt: skip
    for i, point in enumerate(points):
        frozen = json.dumps(point, sort_keys=True)
        if frozen in seen:  # a discrete space repeats itself: the same run again
            records.append({**seen[frozen], "trial": i, "duplicate_of": seen[frozen]["trial"]})
            if bar is not None:
                bar.update(1)
            continue
        seen[frozen] = one("tune", i, point, 0)
    best = _scoring.best_trial([r for r in records if r["phase"] == "tune"])
    for seed in range(1, args.seeds):
        if best is None:
            if bar is not None:
                bar.update(1)
            continue
        one("seed", best["trial"], best["hyperparams"], seed)
    return records


def summarize(records: list[dict], seeds: int) -> dict:
    """Per (workload, optimizer): the best trial, the median steps and time over seeds."""
    tune = [r for r in records if r["phase"] == "tune"]
    best = _scoring.best_trial(tune)
    base = {
        "trials": len(tune),
        "trials_reached": sum(r["reached"] for r in tune),
        "trials_diverged": sum(r["status"] == "diverged" for r in tune),
        "compile_s": max((r.get("compile_s", 0.0) for r in records), default=0.0),
        "ms_per_step": _scoring.median_or_inf([r["ms_per_step"] for r in tune]),
    }
    if best is None:
        metric = lambda r: math.inf if r["best_metric"] is None else r["best_metric"]
        closest = min(tune, key=metric)
        return {**base, "reached": 0, "seeds": seeds, "steps": math.inf, "time_s": math.inf,
                "hyperparams": closest["hyperparams"], "best_metric": closest["best_metric"],
                "curve": closest["curve"]}  # fmt: skip
    runs = [best] + [r for r in records if r["phase"] == "seed"]
    return {
        **base,
        "reached": sum(r["reached"] for r in runs),
        "seeds": len(runs),
        "steps": _scoring.median_or_inf([r["steps_to_target"] for r in runs]),
        "time_s": _scoring.median_or_inf([r["time_to_target_s"] for r in runs]),
        "steps_per_seed": [r["steps_to_target"] for r in runs],
        "time_per_seed": [r["time_to_target_s"] for r in runs],
        "hyperparams": best["hyperparams"],
        "best_metric": best["best_metric"],
        "curve": best["curve"],
    }


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.replot:  # the tables and figures again from a results.json, nothing run
        results = _report.load(Path(args.replot))
        _report.write(results, args.out, figures=not args.no_figures)
        print(_report.console_table(results))
        return results
    if args.merge:  # add other runs' optimizers to a run's results, nothing run
        results = _merge.merge(*map(_report.load, args.merge), ref=args.step_time_ref)
        _report.write(results, args.out, figures=not args.no_figures)
        print(_report.console_table(results))
        return results
    started = time.perf_counter()
    store = Store(args.out / "trials.jsonl", args.fresh)
    specs = {o: _optimizers.OPTIMIZERS[o] for o in args.optimizers}
    workloads, summary = {}, {}
    n_pairs = 0
    for w in args.workloads:
        convex = w in ("logreg", "least_squares")
        n_pairs += sum(1 for s in specs.values() if convex or not s.full_batch_only)
    bar = progress(n_pairs * (args.trials + args.seeds - 1), args.no_progress)
    for w in args.workloads:
        wl = _workloads.build(w, args.data_dir, args.dataset)
        workloads[w] = _report.workload_info(wl)
        timed = {}
        for name, spec in specs.items():
            if spec.full_batch_only and wl.batch_size is not None:
                continue
            programs = {}
            records = run_pair(wl, name, spec, args, store, bar, programs)
            summary.setdefault(name, {})[w] = summarize(records, args.seeds)
            point = summary[name][w]["hyperparams"]
            if args.step_time:
                static = tuple((k, point[k]) for k in spec.static)
                program = programs.get(static) or _trainer.compile_program(wl, spec, point)
                timed[name] = (spec, program, point)
        if timed:
            ms = _timing.interleaved_ms_per_step(wl, timed)
            for name, value in ms.items():
                s = summary[name][w]
                s["ms_per_step_interleaved"] = value
                steps = s["steps"]
                s["time_est_s"] = steps * value / 1e3 if math.isfinite(steps) else math.inf
    if bar is not None:
        bar.close()
    results = _report.assemble(args, workloads, specs, summary, time.perf_counter() - started)
    _report.write(results, args.out, figures=not args.no_figures)
    print(_report.console_table(results))
    print(f"\n{results['wall_s']:.0f} s; wrote {args.out}/results.md, results.json and figures")
    return results


if __name__ == "__main__":
    main()
