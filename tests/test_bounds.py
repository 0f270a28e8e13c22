"""``minimize(..., bounds=(lower, upper))``: L-BFGS-B against SciPy's on bounded problems (the
same solutions, at most 1.2x its function evaluations), projected gd/cg, pytree bounds,
jit/vmap, and the errors for bad bounds."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
from helpers import precision

from gradtx.second_order import Status, minimize

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bounds.py"
TRACES = []


def _bench():
    """``benchmarks/bounds.py`` (its problems and runners), loaded under float64."""
    name = "gradtx_bench_bounds"
    if name not in sys.modules:
        with precision("float64"):  # the module turns x64 on when imported; restore it
            spec = importlib.util.spec_from_file_location(name, BENCH)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
    return sys.modules[name]


def _names():
    with precision("float64"):
        return [p.name for p in _bench().problems()]


@pytest.mark.parametrize("name", _names())
def test_lbfgsb_matches_scipy(name):
    with precision("float64"):
        bench = _bench()
        (p,) = [p for p in bench.problems() if p.name == name]
        s, b = bench.run_scipy(p), bench.run_gradtx(p, "lbfgs")
        assert s.ok and b.ok, (s, b)
        assert np.all(b.x >= p.lower) and np.all(b.x <= p.upper)
        assert b.value <= s.value + 1e-9 * max(1.0, abs(s.value))
        # Powell's singular function is quartic at its minimizer: x is known to ~gtol^(1/3).
        atol = 1e-2 if "Powell" in name else 1e-5
        np.testing.assert_allclose(b.x, s.x, atol=atol, rtol=0)
        assert b.nfev <= 1.2 * s.nfev, (b.nfev, s.nfev)


@pytest.mark.parametrize("method", ["cg", "gd"])
@pytest.mark.parametrize("index", [0, 4, 5])
def test_projected_methods_reach_scipys_solution(method, index):
    with precision("float64"):
        bench = _bench()
        p = bench.problems()[index]
        s, r = bench.run_scipy(p), bench.run_gradtx(p, method)
        assert r.ok, r
        assert r.value <= s.value + 1e-9 * max(1.0, abs(s.value))
        np.testing.assert_allclose(r.x, s.x, atol=1e-5, rtol=0)


def test_nonnegative_least_squares_matches_scipy_nnls():
    with precision("float64"):
        f, a, b = _bench().least_squares()
        r = minimize(f, jnp.ones(a.shape[1]), "lbfgs", tol=1e-10, tol_kind="absolute",
                     bounds=(0.0, None))  # fmt: skip
        x, _ = scipy.optimize.nnls(a, b)
        np.testing.assert_allclose(np.asarray(r.x), x, atol=1e-8)
        assert int(np.sum(np.asarray(r.x) == 0)) == int(np.sum(x == 0)) > 0


def rosenbrock(x):
    TRACES.append(1)  # runs only while tracing
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def test_unbounded_lbfgsb_is_scipys_lbfgsb():
    with precision("float64"):
        x0 = jnp.array([-1.2, 1.0])
        r = minimize(rosenbrock, x0, "lbfgs", tol=1e-6, tol_kind="absolute", bounds=(None, None))
        vg = jax.jit(jax.value_and_grad(rosenbrock))
        s = scipy.optimize.minimize(lambda x: tuple(map(np.asarray, vg(x))), np.asarray(x0),
                                    jac=True, method="L-BFGS-B",
                                    options={"gtol": 1e-6, "ftol": 0.0})  # fmt: skip
        assert bool(r.converged) and int(r.iterations) == s.nit
        assert int(r.num_fun_evals) <= s.nfev
        np.testing.assert_allclose(np.asarray(r.x), s.x, atol=1e-6)


def test_new_bounds_and_starts_do_not_recompile():
    with precision("float64"):
        box = (jnp.array([-1.5, -0.5]), jnp.array([0.5, 2.0]))
        minimize(rosenbrock, jnp.array([-1.2, 1.0]), "lbfgs", bounds=box)
        before = len(TRACES)
        r = minimize(rosenbrock, jnp.array([0.0, 0.0]), "lbfgs", bounds=(box[0] - 1, box[1] / 2))
        assert len(TRACES) == before and bool(r.converged)
        np.testing.assert_allclose(np.asarray(r.x), [0.25, 0.0625], atol=1e-5)


def test_start_outside_the_box_is_clipped_like_scipy():
    with precision("float64"):
        r = minimize(rosenbrock, jnp.array([5.0, -5.0]), "lbfgs", maxiter=0, bounds=(-2.0, 2.0))
        np.testing.assert_array_equal(np.asarray(r.x), [2.0, -2.0])
        assert int(r.status) == Status.MAX_ITERATIONS


def test_pytree_bounds_per_leaf():
    with precision("float64"):

        def f(p):
            return jnp.sum((p["a"] - 2.0) ** 2) + jnp.sum((p["b"] + 1.0) ** 2) + p["c"] ** 2

        x0 = {"a": jnp.zeros(3), "b": jnp.zeros((2, 2)), "c": jnp.array(1.0)}
        lower = {"a": None, "b": jnp.array([[-0.5, -2.0], [-2.0, -0.5]]), "c": 0.5}
        upper = {"a": jnp.array([1.0, 3.0, 1.5]), "b": None, "c": None}
        for method in ("lbfgs", "cg", "gd"):
            r = minimize(f, x0, method, tol=1e-8, tol_kind="absolute", bounds=(lower, upper))
            assert bool(r.converged), method
            np.testing.assert_allclose(np.asarray(r.x["a"]), [1.0, 2.0, 1.5], atol=1e-7)
            np.testing.assert_allclose(np.asarray(r.x["b"]), [[-0.5, -1], [-1, -0.5]], atol=1e-7)
            np.testing.assert_allclose(float(r.x["c"]), 0.5)


@pytest.mark.parametrize("method", ["lbfgs", "cg", "gd"])
def test_equal_bounds_fix_a_variable(method):
    with precision("float64"):

        def f(x):
            return jnp.sum((x - jnp.array([1.0, 2.0, 3.0])) ** 2) + x[0] * x[1]

        box = (jnp.array([0.5, -jnp.inf, 0.0]), jnp.array([0.5, jnp.inf, 2.5]))
        r = minimize(f, jnp.zeros(3), method, tol=1e-9, tol_kind="absolute", bounds=box)
        assert bool(r.converged)
        np.testing.assert_allclose(np.asarray(r.x), [0.5, 1.75, 2.5], atol=1e-9)


def test_jit_and_vmap_over_starting_points():
    with precision("float64"):
        box = (jnp.array([-1.5, -0.5]), jnp.array([0.5, 2.0]))

        def solve(x0):
            return minimize(rosenbrock, x0, "lbfgs", tol=1e-8, tol_kind="absolute", bounds=box)

        starts = jnp.array([[-1.2, 1.0], [0.0, 0.0], [0.4, 1.9], [-1.5, -0.5]])
        batched = jax.jit(jax.vmap(solve))(starts)
        assert bool(jnp.all(batched.converged))
        for i, x0 in enumerate(starts):
            one = solve(x0)
            np.testing.assert_allclose(np.asarray(batched.x[i]), np.asarray(one.x), atol=1e-10)
            assert int(batched.num_fun_evals[i]) == int(one.num_fun_evals)
        np.testing.assert_allclose(np.asarray(batched.x), [[0.5, 0.25]] * 4, atol=1e-6)


def test_float32_converges_to_a_modest_tolerance():
    with precision("float32"):
        r = minimize(rosenbrock, jnp.array([-1.2, 1.0]), "lbfgs", tol=1e-3, tol_kind="absolute",
                     bounds=(jnp.array([-1.5, -0.5]), jnp.array([0.5, 2.0])))  # fmt: skip
        assert r.x.dtype == jnp.float32 and bool(r.converged)
        np.testing.assert_allclose(np.asarray(r.x), [0.5, 0.25], atol=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"bounds": (0.0,)}, "bounds must be a pair"),
        ({"bounds": (jnp.zeros(3), None)}, "lower at x0 has shape"),
        ({"bounds": ({"a": 0.0}, None)}, "lower must be None, a scalar, or a pytree"),
        ({"bounds": (1.0, 0.0)}, "lower <= upper"),
        ({"bounds": (None, -jnp.inf)}, "upper > -inf"),
        ({"bounds": (jnp.nan, None)}, "NaN"),
        ({"bounds": (0.0, 1.0), "method": "newton"}, "method must be one of"),
        ({"bounds": (0.0, 1.0), "linesearch": "backtracking"}, "linesearch cannot be given"),
    ],
)
def test_bad_bounds_raise(kwargs, match):
    kwargs = {"method": "lbfgs", **kwargs}
    with pytest.raises(ValueError, match=match):
        minimize(lambda x: jnp.sum(x**2), jnp.zeros(2), **kwargs)
