"""Batched solves: ``jax.vmap`` of :func:`gradtx.second_order.minimize` over starting points,
data the objective closes over and bounds equals the loop over the problems, for every method
(docs/second_order.md, "Batched solves")."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import precision

from gradtx.second_order import minimize

# Three scaled Rosenbrock functions sum(a (x_{i+1} - x_i^2)^2 + (1 - x_i)^2), each from its
# own start; with bounds, each with its own upper bound (active at the solution).
SCALES = np.array([10.0, 3.0, 1.0])
STARTS = np.array([[-1.2, 1.0], [0.0, 0.0], [2.0, -1.0]])
UPPER = np.array([0.8, 2.0, 0.9])


def _fun(a):
    return lambda x: jnp.sum(a * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def _solve(method, bounded):
    def one(a, x0, upper):
        bounds = (-0.5, upper) if bounded else None
        return minimize(_fun(a), x0, method, tol=1e-6, tol_kind="absolute", maxiter=2000,
                        bounds=bounds)  # fmt: skip

    return one


@pytest.mark.parametrize(
    "method,bounded",
    [(m, False) for m in ("gd", "lbfgs", "bfgs", "cg", "newton", "hessian_free")]
    + [("lbfgs", True), ("cg", True)],
)
def test_vmap_equals_the_loop(method, bounded):
    with precision("float64"):
        one = _solve(method, bounded)
        args = (jnp.asarray(SCALES), jnp.asarray(STARTS), jnp.asarray(UPPER))
        batched = jax.vmap(one)(*args)  # minimize's own jit, as the loop: the same round-off
        loop = [one(*(jnp.asarray(v[i]) for v in (SCALES, STARTS, UPPER))) for i in range(3)]
        assert bool(jnp.all(batched.converged)), batched.status
        for i, r in enumerate(loop):
            assert int(batched.status[i]) == int(r.status)
            if method == "gd":  # hundreds of steps amplify the batch's different round-off
                np.testing.assert_allclose(batched.x[i], r.x, rtol=0, atol=1e-5)
                evals = (int(batched.num_fun_evals[i]), int(r.num_fun_evals))
                assert abs(evals[0] - evals[1]) <= 0.25 * evals[1], evals  # measured 348 vs 390
                continue
            np.testing.assert_allclose(batched.x[i], r.x, rtol=0, atol=1e-10)
            assert int(batched.num_fun_evals[i]) == int(r.num_fun_evals)
            assert int(batched.iterations[i]) == int(r.iterations)
        if bounded:  # the bound of each problem is its own
            assert float(batched.x[0, 0]) == pytest.approx(0.8)
