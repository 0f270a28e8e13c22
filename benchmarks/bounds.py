"""Bound-constrained problems: gradtx's ``minimize(..., bounds=...)`` against SciPy's L-BFGS-B.

``python benchmarks/bounds.py`` prints one Markdown table (float64): for each problem the
function evaluations and iterations of SciPy's L-BFGS-B and of gradtx's ``"lbfgs"``
(L-BFGS-B), ``"cg"`` and ``"gd"`` (projected), the ratio of gradtx's L-BFGS-B evaluations to
SciPy's, the largest difference between the two L-BFGS-B solutions, and the number of active
bounds at SciPy's solution. Both stop on the projected gradient, $\\|P(x - g) - x\\|_\\infty
\\le 10^{-6}$ (SciPy with ``ftol=0``, so that its relative-reduction test does not stop it
first). ``tests/test_bounds.py`` runs the same table.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Any, NamedTuple

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.optimize  # noqa: E402

from gradtx.second_order import minimize  # noqa: E402

if "_mgh" not in sys.modules:  # the MGH problems, shared with mgh.py
    _SPEC = importlib.util.spec_from_file_location("_mgh", Path(__file__).parent / "_mgh.py")
    sys.modules["_mgh"] = importlib.util.module_from_spec(_SPEC)
    _SPEC.loader.exec_module(sys.modules["_mgh"])
mgh = sys.modules["_mgh"]

GTOL = 1e-6


class Problem(NamedTuple):
    name: str
    fun: Any
    x0: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def _mgh_objective(number: int) -> Any:
    """$f = \\sum_i f_i^2$ of the Moré–Garbow–Hillstrom problem ``number`` (``_mgh.py``; its
    residuals take any size where the problem has a variable dimension)."""
    return next(p for p in mgh.PROBLEMS if p.number == number).fun


rosenbrock = _mgh_objective(1)
ext_rosenbrock = _mgh_objective(21)
beale = _mgh_objective(5)
powell_singular = _mgh_objective(13)
wood = _mgh_objective(14)
trigonometric = _mgh_objective(26)


def driver1(x):
    """The test problem of L-BFGS-B's ``driver1.f`` (Zhu, Byrd, Lu & Nocedal 1997)."""
    return 0.25 * (x[0] - 1) ** 2 + 4 * jnp.sum((x[1:] - x[:-1] ** 2) ** 2)


def quadratic(n=50, cond=1e3, seed=0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    a = jnp.asarray((q * np.logspace(0, np.log10(cond), n)) @ q.T)
    b = jnp.asarray(10 * rng.normal(size=n))
    return lambda x: 0.5 * x @ (a @ x) - b @ x


def least_squares(m=80, n=40, seed=0):
    """$\\frac12\\|Ax - b\\|^2$ with a nonnegative truth that has zeros, and noise."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(m, n))
    truth = np.where(rng.random(n) < 0.5, 0.0, rng.random(n))
    b = jnp.asarray(a @ truth + 0.3 * rng.normal(size=m))
    a = jnp.asarray(a)
    return lambda x: 0.5 * jnp.sum((a @ x - b) ** 2), np.asarray(a), np.asarray(b)


def problems() -> list[Problem]:
    inf = np.inf
    n = 25
    odd = np.arange(n) % 2 == 0  # driver1's odd (1-based) variables
    nnls, _, _ = least_squares()
    return [
        Problem("Rosenbrock 2-D, minimum on a bound", rosenbrock, np.array([-1.2, 1.0]),
                np.array([-1.5, -0.5]), np.array([0.5, 2.0])),
        Problem("Rosenbrock 2-D, start outside the box", rosenbrock, np.array([-3.0, 3.0]),
                np.array([-2.0, -2.0]), np.array([2.0, 0.8])),
        Problem("L-BFGS-B driver1, n=25", driver1, np.full(n, 3.0),
                np.where(odd, 1.0, -100.0), np.full(n, 100.0)),
        Problem("ext. Rosenbrock n=100 in [-inf, 0.8]", ext_rosenbrock,
                np.tile([-1.2, 1.0], 50), np.full(100, -inf), np.full(100, 0.8)),
        Problem("quadratic n=50, cond 1e3, box [-1, 1]", quadratic(), np.zeros(50),
                np.full(50, -1.0), np.full(50, 1.0)),
        Problem("nonnegative least squares 80x40", nnls, np.ones(40), np.zeros(40),
                np.full(40, inf)),
        Problem("Beale (MGH 5), x1 <= 2.5", beale, np.array([1.0, 1.0]),
                np.array([-4.5, -4.5]), np.array([2.5, 4.5])),
        Problem("Wood (MGH 14), x <= 0.9", wood, np.array([-3.0, -1.0, -3.0, -1.0]),
                np.full(4, -10.0), np.full(4, 0.9)),
        Problem("Powell singular (MGH 13), x1 >= 0.1", powell_singular,
                np.array([3.0, -1.0, 0.0, 1.0]), np.array([0.1, -inf, -inf, -inf]),
                np.full(4, inf)),
        Problem("trigonometric (MGH 26) n=10, x >= 0.05", trigonometric, np.full(10, 0.1),
                np.full(10, 0.05), np.full(10, inf)),
    ]  # fmt: skip


class Run(NamedTuple):
    x: np.ndarray
    value: float
    nfev: int
    nit: int
    pg: float
    ok: bool


def run_scipy(p: Problem) -> Run:
    vg = jax.jit(jax.value_and_grad(p.fun))

    def fg(x):
        f, g = vg(jnp.asarray(x))
        return float(f), np.asarray(g)

    bounds = list(zip(p.lower, p.upper))
    options = {"gtol": GTOL, "ftol": 0.0, "maxiter": 5000}
    r = scipy.optimize.minimize(
        fg, p.x0, jac=True, method="L-BFGS-B", bounds=bounds, options=options
    )
    pg = np.max(np.abs(r.x - np.clip(r.x - r.jac, p.lower, p.upper)))
    # With ftol=0 SciPy still stops when a step does not lower f at all (round-off): that
    # counts as converged for SciPy (its ``success``); the table shows its final pg then.
    return Run(r.x, float(r.fun), int(r.nfev), int(r.nit), float(pg), bool(r.success))


def run_gradtx(p: Problem, method: str, maxiter: int = 20000) -> Run:
    bounds = (jnp.asarray(p.lower), jnp.asarray(p.upper))
    r = minimize(p.fun, jnp.asarray(p.x0), method, tol=GTOL, tol_kind="absolute",
                 maxiter=maxiter, bounds=bounds)  # fmt: skip
    return Run(np.asarray(r.x), float(r.value), int(r.num_fun_evals), int(r.iterations),
               float(r.grad_norm), bool(r.converged))  # fmt: skip


def compare(p: Problem) -> dict:
    s, b = run_scipy(p), run_gradtx(p, "lbfgs")
    cg, gd = run_gradtx(p, "cg"), run_gradtx(p, "gd")
    active = int(np.sum((s.x <= p.lower) | (s.x >= p.upper)))
    return {"problem": p.name, "scipy": s, "lbfgsb": b, "cg": cg, "gd": gd, "active": active,
            "ratio": b.nfev / s.nfev, "dx": float(np.max(np.abs(b.x - s.x)))}  # fmt: skip


def _cell(run: Run) -> str:
    note = "" if run.ok else " (not conv.)"
    if run.ok and run.pg > GTOL:
        note = f" (f stalled, pg {run.pg:.1e})"
    return f"{run.nfev} / {run.nit}{note}"


def table(rows: list[dict]) -> str:
    head = (
        "| problem | n | active | scipy L-BFGS-B nfev / nit | gradtx lbfgs nfev / nit | "
        "ratio | max abs dx | gradtx cg nfev / nit | gradtx gd nfev / nit |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r['problem']} | {r['scipy'].x.size} | {r['active']} | {_cell(r['scipy'])} | "
            f"{_cell(r['lbfgsb'])} | {r['ratio']:.2f} | {r['dx']:.1e} | {_cell(r['cg'])} | "
            f"{_cell(r['gd'])} |"
        )
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    rows = [compare(p) for p in problems()]
    print(table(rows))
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
