"""``gradtx.least_squares`` against ``scipy.optimize.least_squares(method="lm")`` on NIST StRD.

Five NIST nonlinear regression problems (``benchmarks/_nist_strd.py``), NIST's start 1 and
start 2, float64, ``ftol = xtol = gtol`` = ``--tol`` (default 1e-12: SciPy's default 1e-8
stops it at 4-5 digits on Thurber, MGH09 and BoxBOD) for both solvers. SciPy gets the exact
Jacobian (``jax.jacfwd``, jitted), so its ``nfev`` counts residual evaluations only, like
gradtx's ``num_fun_evals``. "digits" is NIST's LRE, the smallest over the parameters of
$-\\log_{10}(|b - b^*| / |b^*|)$ ("-" when below 1).

    python benchmarks/least_squares.py                 # Markdown table on stdout
    python benchmarks/least_squares.py --tol 1e-8
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.optimize  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _nist_strd import PROBLEMS, residual  # noqa: E402

from gradtx.second_order import least_squares  # noqa: E402

SOLVERS = {
    "lm (Moré)": {"method": "lm", "damping_update": "more"},
    "lm (Nielsen)": {"method": "lm", "damping_update": "nielsen"},
    "dogleg": {"method": "dogleg"},
    "gauss_newton": {"method": "gauss_newton"},
}


def digits(x, certified):
    lre = float(np.min(-np.log10(np.abs(np.asarray(x) - certified) / np.abs(certified) + 1e-16)))
    return f"{lre:.1f}" if lre >= 1 else "-"


def run(tol):
    rows = []
    for name, problem in PROBLEMS.items():
        f = residual(problem)
        fun, jac = jax.jit(f), jax.jit(jax.jacfwd(f))
        for start, x0 in ((1, problem.start1), (2, problem.start2)):
            ref = scipy.optimize.least_squares(
                lambda b, fun=fun: np.asarray(fun(b)), x0,
                jac=lambda b, jac=jac: np.asarray(jac(b)), method="lm", ftol=tol, xtol=tol,
                gtol=tol,
            )  # fmt: skip
            row = {
                "problem": name,
                "start": start,
                "scipy": (ref.nfev, digits(ref.x, problem.certified)),
            }
            for label, kw in SOLVERS.items():
                r = least_squares(f, jnp.asarray(x0), ftol=tol, xtol=tol, gtol=tol, **kw)
                row[label] = (int(r.num_fun_evals), digits(r.x, problem.certified))
            rows.append(row)
    return rows


def markdown(rows):
    labels = ["scipy", *SOLVERS]
    head = "| problem | start | " + " | ".join(f"{s} nfev / digits" for s in labels)
    head += " | " + " | ".join(f"{s} / scipy" for s in SOLVERS) + " |"
    lines = [head, "|---|---:|" + "---:|" * (2 * len(labels) - 1)]
    for row in rows:
        ref = row["scipy"][0]
        cells = [f"{n} / {d}" for n, d in (row[s] for s in labels)]
        ratios = [f"{row[s][0] / ref:.2f}" for s in SOLVERS]
        lines.append(f"| {row['problem']} | {row['start']} | " + " | ".join(cells + ratios) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tol", type=float, default=1e-12)
    args = parser.parse_args(argv)
    print(markdown(run(args.tol)))


if __name__ == "__main__":
    main()
