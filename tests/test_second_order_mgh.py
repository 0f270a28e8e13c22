"""A few Moré–Garbow–Hillstrom problems (``benchmarks/_mgh.py``): ``minimize`` reaches a
known minimum, and CG and BFGS within 1.3 times the evaluations SciPy's CG and BFGS took
(measured with ``benchmarks/mgh.py``, SciPy 1.17; the issue #19 cases: Powell singular and
Wood)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import jax.numpy as jnp
import pytest
from helpers import precision

from gradtx.second_order import minimize

MGH = Path(__file__).resolve().parents[1] / "benchmarks" / "_mgh.py"


def _mgh():
    name = "gradtx_bench_mgh"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, MGH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


# (problem number, SciPy CG's evaluations at ||g||_inf <= 1e-6)
SCIPY = {
    "cg": {5: 46, 7: 92, 13: 160, 14: 115},  # gradtx: 35, 83, 196, 80
    "bfgs": {5: 17, 7: 35, 13: 46, 14: 106},  # gradtx: 17, 32, 59, 45
}


@pytest.mark.parametrize("method", ["lbfgs", "bfgs", "cg"])
@pytest.mark.parametrize("number", sorted(SCIPY["cg"]))
def test_reaches_the_known_minimum(number, method):
    with precision("float64"):
        (p,) = [p for p in _mgh().PROBLEMS if p.number == number]
        r = minimize(p.fun, jnp.asarray(p.x0), method, tol=1e-6, tol_kind="absolute",
                     maxiter=5000)  # fmt: skip
        assert bool(r.converged), r.message
        assert p.reached(float(r.value)), float(r.value)
        if method in SCIPY:
            assert int(r.num_fun_evals) <= 1.3 * SCIPY[method][number], int(r.num_fun_evals)
