"""The first call of ``gradtx.minimize``: trace, lowering, XLA compile and run, against SciPy.

Every measurement is made in a fresh Python process (an in-process cache would hide the
first call), float64, ``||g||_inf <= 1e-6`` (absolute), on the problems of
``benchmarks/second_order.py``: Rosenbrock 2-D, extended Rosenbrock n = 100, the logistic
regression on the digits (650 parameters) and the MLP (2,410, seed 0). Rounds are
interleaved; the median and range over rounds are reported with the load average, and CPU
time beside wall time, since the machine is shared. Kinds (``--one KIND PROBLEM METHOD``):

* ``gradtx``: ``minimize``'s eager checks, then its jitted solve ahead of time: ``.trace``
  (to a jaxpr), ``.lower`` (to StableHLO), ``.compile`` (XLA), the first run (``total``:
  their sum) and a second run; the jaxpr's equations (sub-jaxprs included), its
  ``while``/``cond``/``scan`` and the compiled program's kernels (fusions).
* ``call``: a plain first ``minimize(...)`` call, timed whole, then one from another x0.
* ``scipy``: ``scipy.optimize.minimize`` (L-BFGS-B or CG) with a jitted JAX value and
  gradient: the first solve (compiling the objective included) and a second one.
* ``optax``: the ``optax.lbfgs`` while-loop of ``second_order.py``, first call and second.
* ``steady``: after compilation, gradtx's solve and the ``optax.lbfgs`` loop alternated in
  one process (medians).
* ``cached``: a first call with JAX's persistent compilation cache on, in a second process
  (the first one writes the cache).

Usage::

    python benchmarks/first_call.py                      # 3 rounds, lbfgs on 4 problems
    python benchmarks/first_call.py --methods cg,newton --rounds 1 --compare ../main
    python benchmarks/first_call.py --quick              # Rosenbrock 2-D, one round
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PROBLEMS = ("rosen2", "rosen100", "logistic", "mlp")
TOL, MAXITER = 1e-6, 20000


def _problem(name: str):
    """(f, x0) of a problem, built as in ``second_order.py``."""
    import jax
    import jax.numpy as jnp

    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    import second_order as so  # sets jax_enable_x64

    if name == "rosen2":
        f, x0 = so.rosenbrock, jnp.array([-1.2, 1.0])
    elif name == "rosen100":
        f, x0 = so.rosenbrock, jnp.tile(jnp.array([-1.2, 1.0]), 50)
    elif name == "logistic":
        f, x0, _ = so.make_logistic()
    elif name == "mlp":
        f, x0, _ = so.make_mlp(seed=0)
    else:
        raise SystemExit(f"unknown problem {name!r}; choose from {PROBLEMS}")
    return f, jax.block_until_ready(x0)


def jaxpr_counts(jaxpr) -> dict:
    """Equations of a jaxpr, sub-jaxprs included, and its ``while``/``cond``/``scan``."""
    counts = {"eqns": 0, "while": 0, "cond": 0, "scan": 0}

    def subs(eqn):
        for v in eqn.params.values():
            for x in v if isinstance(v, (tuple, list)) else (v,):
                if hasattr(x, "jaxpr") and hasattr(x, "consts"):
                    yield x.jaxpr
                elif hasattr(x, "eqns"):
                    yield x

    def walk(j):
        for e in j.eqns:
            counts["eqns"] += 1
            if e.primitive.name in counts:
                counts[e.primitive.name] += 1
            for s in subs(e):
                walk(s)

    walk(jaxpr)
    return counts


class _Clock:
    """Wall and CPU (this process, all threads) seconds of successive stages: the machine is
    shared, and CPU time is what a stage costs whatever else runs beside it."""

    def __init__(self):
        self.times: dict[str, float] = {}
        self._start = self._last = (time.perf_counter(), time.process_time())

    def lap(self, name: str) -> None:
        now = (time.perf_counter(), time.process_time())
        self.times[name] = now[0] - self._last[0]
        self.times[name + "_cpu"] = now[1] - self._last[1]
        self._last = now

    def total(self) -> None:
        self.times["total"] = self._last[0] - self._start[0]
        self.times["total_cpu"] = self._last[1] - self._start[1]


def _gradtx(problem: str, method: str) -> dict:
    import math
    import re

    import jax
    import numpy as np

    from gradtx.second_order import _minimize as m

    f, x0 = _problem(problem)
    clock = _Clock()
    tx = m._build(method, None)
    x0, dtype = m._check_x0(x0)
    m._check_objective(f, x0)
    static = m._Static(f, tx, (), "absolute", math.inf, False)
    args = (x0, np.asarray(TOL, dtype), np.int32(MAXITER))
    clock.lap("checks")
    jitted = getattr(m._solve_jit, "jitted", lambda: m._solve_jit)()  # older checkouts
    traced = jitted.trace(static, *args)
    clock.lap("trace")
    lowered = traced.lower()
    clock.lap("lower")
    compiled = lowered.compile()
    clock.lap("compile")
    r = jax.block_until_ready(compiled(*args))
    clock.lap("run")
    clock.total()
    jax.block_until_ready(compiled(*args))
    clock.lap("second")
    text = compiled.as_text()
    return {
        **clock.times,
        **jaxpr_counts(traced.jaxpr.jaxpr),
        "kernels": len(re.findall(r"^\s*\S+ = \S+ fusion\(", text, re.M)),
        "iterations": int(r.iterations),
        "nfev": int(r.num_fun_evals),
        "status": int(r.status),
    }


def _minimize_call(problem: str, method: str) -> dict:
    import jax

    from gradtx.second_order import minimize

    f, x0 = _problem(problem)
    kw = {"tol": TOL, "tol_kind": "absolute", "maxiter": MAXITER}
    x1 = jax.block_until_ready(jax.tree.map(lambda v: v * 0.999, x0))  # another start
    clock = _Clock()
    r = jax.block_until_ready(minimize(f, x0, method, **kw))
    clock.lap("first")
    clock.total()
    jax.block_until_ready(minimize(f, x1, method, **kw))  # must not retrace
    clock.lap("second")
    return {**clock.times, "iterations": int(r.iterations)}


def _scipy(problem: str, method: str) -> dict:
    import jax
    import numpy as np
    import scipy.optimize
    from jax.flatten_util import ravel_pytree

    f, x0 = _problem(problem)
    method = {"lbfgs": "L-BFGS-B", "cg": "CG"}[method]
    clock = _Clock()
    flat0, unravel = ravel_pytree(x0)
    vg = jax.jit(jax.value_and_grad(lambda u: f(unravel(u))))

    def fun(v):
        value, grad = vg(v)
        return float(value), np.asarray(grad)

    opts = {"gtol": TOL, "maxiter": MAXITER}
    if method == "L-BFGS-B":
        opts.update(ftol=0.0, maxfun=100000)

    def solve():
        return scipy.optimize.minimize(
            fun, np.asarray(flat0), method=method, jac=True, options=opts
        )

    r = solve()
    clock.lap("first")
    clock.total()
    solve()
    clock.lap("second")
    return {**clock.times, "iterations": int(r.nit), "nfev": int(r.nfev)}


def _optax_solver(f):
    """The ``optax.lbfgs`` while-loop of ``second_order.py`` (same stopping rule), jitted."""
    import jax
    import jax.numpy as jnp
    import optax

    solver = optax.lbfgs()
    vg = optax.value_and_grad_from_state(f)

    @jax.jit
    def solve(x):
        def cond(c):
            return (c[2] < MAXITER) & (optax.tree.norm(c[3], ord=jnp.inf) > TOL)

        def body(c):
            x, state, k, _ = c
            value, grad = vg(x, state=state)
            updates, state = solver.update(grad, state, x, value=value, grad=grad, value_fn=f)
            x = optax.apply_updates(x, updates)
            return x, state, k + 1, vg(x, state=state)[1]

        return jax.lax.while_loop(cond, body, (x, solver.init(x), 0, jax.grad(f)(x)))

    return solve


def _optax(problem: str, method: str) -> dict:
    import jax

    f, x0 = _problem(problem)
    clock = _Clock()
    solve = _optax_solver(f)
    r = jax.block_until_ready(solve(x0))
    clock.lap("first")
    clock.total()
    jax.block_until_ready(solve(x0))
    clock.lap("second")
    return {**clock.times, "iterations": int(r[2])}


def _steady(problem: str, method: str) -> dict:
    """After compilation: gradtx's solve against the ``optax.lbfgs`` loop, runs alternated
    in this process (at least 5 each and about 2 s in all); medians and their ratio."""
    import jax

    from gradtx.second_order import minimize

    f, x0 = _problem(problem)
    kw = {"tol": TOL, "tol_kind": "absolute", "maxiter": MAXITER}
    optax_solve = _optax_solver(f)
    runs = {
        "gradtx": lambda: minimize(f, x0, method, **kw).iterations,
        "optax": lambda: optax_solve(x0)[2],
    }
    iters = {k: int(jax.block_until_ready(run())) for k, run in runs.items()}  # compiles
    times: dict[str, list[float]] = {k: [] for k in runs}
    while min(map(len, times.values())) < 5 or sum(map(sum, times.values())) < 2.0:
        for name, run in runs.items():
            start = time.perf_counter()
            jax.block_until_ready(run())
            times[name].append(time.perf_counter() - start)
    g, o = (statistics.median(times[k]) for k in runs)
    return {
        "gradtx_s": g,
        "optax_s": o,
        "ratio": g / o,
        "runs": len(times["gradtx"]),
        "gradtx_iters": iters["gradtx"],
        "optax_iters": iters["optax"],
        "ratio_per_iter": (g / iters["gradtx"]) / (o / iters["optax"]),
    }


def _cached(problem: str, method: str) -> dict:
    import jax

    jax.config.update("jax_compilation_cache_dir", os.environ["FIRST_CALL_CACHE"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    return _minimize_call(problem, method)


KINDS = {"gradtx": _gradtx, "call": _minimize_call, "scipy": _scipy, "optax": _optax}
KINDS.update(cached=_cached, steady=_steady)


def run_child(kind: str, problem: str, method: str, env=None, root: Path = ROOT) -> dict:
    """One measurement in a fresh process (``root``'s gradtx first on the path)."""
    path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, __file__, "--one", kind, problem, method],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": path, **(env or {})},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _summary(values: list[float]) -> str:
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.3f}"
    return f"{med:.3f} ({min(values):.3f}–{max(values):.3f})"


COLUMNS = (("first call s", "total"), ("first call CPU s", "total_cpu"))
COLUMNS += (("trace CPU", "trace_cpu"), ("lower CPU", "lower_cpu"))
COLUMNS += (("XLA compile CPU", "compile_cpu"), ("run", "run"), ("second call s", "second"))


def table(rows: dict) -> str:
    """Medians (and ranges) over rounds, one line per checkout, problem, method and kind."""
    head = "| checkout | problem | method | measured | " + " | ".join(c for c, _ in COLUMNS)
    lines = [head + " | eqns | while/cond/scan | kernels | iters |"]
    lines.append("|" + "---|" * (len(COLUMNS) + 8))
    steady = []
    for (label, problem, method, kind), rs in rows.items():
        if kind == "steady":
            ratios = ", ".join(f"{r['ratio']:.2f}" for r in rs)
            ms = ", ".join(f"{1e3 * r['gradtx_s']:.3g} / {1e3 * r['optax_s']:.3g}" for r in rs)
            steady.append(f"| {label} | {problem} | {method} | {ratios} | {ms} |")
            continue
        cells = [_summary([r[k] for r in rs]) if k in rs[0] else "–" for _, k in COLUMNS]
        r0 = rs[0]
        loops = f"{r0['while']}/{r0['cond']}/{r0['scan']}" if "while" in r0 else "–"
        lines.append(
            f"| {label} | {problem} | {method} | {kind} | "
            + " | ".join(cells)
            + f" | {r0.get('eqns', '–')} | {loops} | {r0.get('kernels', '–')} "
            f"| {r0.get('iterations', '–')} |"
        )
    if steady:
        lines += ["", "After compilation, gradtx / optax.lbfgs (each process):", ""]
        lines += ["| checkout | problem | method | time ratio | ms: gradtx / optax |"]
        lines += ["|---|---|---|---|---|", *steady]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", default=",".join(PROBLEMS))
    ap.add_argument("--methods", default="lbfgs", help="gradtx methods, comma-separated")
    ap.add_argument("--kinds", default="gradtx,scipy,optax,cached")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--compare", help="another checkout's root, measured interleaved")
    ap.add_argument("--quick", action="store_true", help="Rosenbrock 2-D, one round")
    ap.add_argument("--json", help="write the raw rows here")
    ap.add_argument("--one", nargs=3, help=argparse.SUPPRESS)  # internal: measure here
    args = ap.parse_args(argv)
    if args.one:
        kind, problem, method = args.one
        print(json.dumps(KINDS[kind](problem, method)))
        return {}
    problems = ["rosen2"] if args.quick else args.problems.split(",")
    rounds = 1 if args.quick else args.rounds
    methods, kinds = args.methods.split(","), args.kinds.split(",")
    roots = [("this", ROOT)] + ([("compare", Path(args.compare))] if args.compare else [])
    rows: dict[tuple, list[dict]] = {}
    loads = [os.getloadavg()[0]]
    for _ in range(rounds):
        for problem in problems:
            for method in methods:
                for kind in kinds:
                    if kind == "scipy" and method not in ("lbfgs", "cg"):
                        continue
                    if kind in ("optax", "steady") and method != "lbfgs":
                        continue
                    for label, root in roots:
                        if kind in ("scipy", "optax") and label != "this":
                            continue  # gradtx is not involved
                        if kind == "cached":
                            with tempfile.TemporaryDirectory() as d:
                                env = {"FIRST_CALL_CACHE": d}
                                run_child(kind, problem, method, env, root)  # writes the cache
                                r = run_child(kind, problem, method, env, root)  # reads it
                        else:
                            r = run_child(kind, problem, method, None, root)
                        rows.setdefault((label, problem, method, kind), []).append(r)
        loads.append(os.getloadavg()[0])
    print(f"load average (1 min) during the run: {min(loads):.1f}–{max(loads):.1f}\n")
    print(table(rows))
    out = {"loads": loads, "rows": {"/".join(k): v for k, v in rows.items()}}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
