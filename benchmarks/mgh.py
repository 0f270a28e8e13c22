"""gradtx's ``minimize`` against SciPy on the Moré–Garbow–Hillstrom problems (``_mgh.py``).

Float64, stopping rule ||g||_inf <= 1e-6 (absolute) for every solver, at most 20000
iterations. For each problem and solver: whether it stopped converged, whether the final f
is one of the problem's known minima, the final f and the number of function evaluations
(gradtx counts value-and-gradient evaluations; SciPy's ``nfev`` with ``jac=True`` counts the
same calls). The last columns are gradtx / SciPy ratios of evaluations.

    python benchmarks/mgh.py                   # the markdown table of docs/second_order.md
    python benchmarks/mgh.py --methods cg      # one method and its SciPy counterpart
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.optimize  # noqa: E402

from gradtx.second_order import minimize  # noqa: E402

_SPEC = importlib.util.spec_from_file_location("_mgh", Path(__file__).parent / "_mgh.py")
mgh = importlib.util.module_from_spec(_SPEC)
sys.modules["_mgh"] = mgh
_SPEC.loader.exec_module(mgh)

TOL = 1e-6
MAXITER = 20000
# gradtx's method -> SciPy's counterpart
PAIRS = {"lbfgs": "L-BFGS-B", "bfgs": "BFGS", "cg": "CG", "newton": "BFGS"}


def run_gradtx(problem, method):
    """(converged, f, f evals) of ``minimize``."""
    r = minimize(problem.fun, jnp.asarray(problem.x0), method, tol=TOL, tol_kind="absolute",
                 maxiter=MAXITER)  # fmt: skip
    return bool(r.converged), float(r.value), int(r.num_fun_evals)


def run_scipy(problem, method):
    """(converged, f, f evals) of ``scipy.optimize.minimize`` (gtol on the inf-norm)."""
    vg = jax.jit(jax.value_and_grad(problem.fun))

    def fun(v):
        value, grad = vg(v)
        return float(value), np.asarray(grad)

    opts = {"gtol": TOL, "maxiter": MAXITER}
    if method == "L-BFGS-B":
        opts.update(ftol=0.0, maxfun=10 * MAXITER)
    r = scipy.optimize.minimize(fun, problem.x0, jac=True, method=method, options=opts)
    gn = float(np.max(np.abs(fun(r.x)[1])))
    return gn <= TOL, float(r.fun), int(r.nfev)


def cell(problem, result):
    converged, value, evals = result
    mark = ("" if converged else "*") + ("" if problem.reached(value) else "†")
    return f"{evals}{mark}", f"{value:.4g}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="lbfgs,bfgs,cg,newton", help="gradtx methods")
    parser.add_argument("--problems", default="", help="comma-separated name prefixes")
    args = parser.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    wanted = [p for p in args.problems.split(",") if p]
    head = ["#", "problem", "n"]
    for m in methods:
        head += [f"{m} evals", f"{m} f", f"scipy {PAIRS[m]} evals", f"{m} / scipy"]
    print("| " + " | ".join(head) + " |\n|" + "---:|" * len(head))
    ratios = {m: [] for m in methods}
    for p in mgh.PROBLEMS:
        if wanted and not any(p.name.startswith(w) for w in wanted):
            continue
        row = [str(p.number), p.name, str(p.n)]
        for m in methods:
            ours, theirs = run_gradtx(p, m), run_scipy(p, PAIRS[m])
            (e1, f1), (e2, _) = cell(p, ours), cell(p, theirs)
            ratio = ours[2] / theirs[2]
            both = p.reached(ours[1]) and p.reached(theirs[1]) and ours[0] and theirs[0]
            if both:
                ratios[m].append(ratio)
            row += [e1, f1, e2, f"{ratio:.2f}" if both else f"({ratio:.2f})"]
        print("| " + " | ".join(row) + " |", flush=True)
    for m, r in ratios.items():
        if r:
            print(f"\n{m}: geometric mean of the ratios where both solved it "
                  f"({len(r)} problems): {np.exp(np.mean(np.log(r))):.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
