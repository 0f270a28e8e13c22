"""Matrix-free curvature products against dense matrices, the inner CG solver, and
Hessian-free steps in a user's own mini-batch loop."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import precision
from jax.flatten_util import ravel_pytree

import gradtx
from gradtx.second_order import (
    conjugate_gradient,
    gauss_newton_vector_product,
    hessian_free,
    hessian_vector_product,
)


def _mlp(seed=0, n=12):
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.normal(size=(n, 3)))
    y = jnp.asarray(rng.integers(0, 4, size=n))
    params = {
        "hidden": {"w": jnp.asarray(rng.normal(size=(3, 5))), "b": jnp.zeros(5)},
        "out": (jnp.asarray(rng.normal(size=(5, 4))), jnp.asarray(rng.normal(size=4))),
    }

    def model_fn(p):
        h = jnp.tanh(x @ p["hidden"]["w"] + p["hidden"]["b"])
        return {"logits": h @ p["out"][0] + p["out"][1]}

    def loss_of_outputs(out):
        logp = jax.nn.log_softmax(out["logits"])
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    return params, model_fn, loss_of_outputs


def test_hessian_vector_product_equals_dense_hessian():
    with precision("float64"):
        params, model_fn, loss = _mlp()
        f = lambda p: loss(model_fn(p))
        flat, unravel = ravel_pytree(params)
        v = jnp.asarray(np.random.default_rng(1).normal(size=flat.size))
        dense = jax.jit(jax.hessian(lambda u: f(unravel(u))))(flat) @ v
        hvp = jax.jit(lambda p, w: hessian_vector_product(f, p, w))
        hv = ravel_pytree(hvp(params, unravel(v)))[0]
        np.testing.assert_allclose(hv, dense, rtol=1e-10, atol=1e-12)


def test_gauss_newton_vector_product_equals_dense_jt_h_j():
    with precision("float64"):
        params, model_fn, loss = _mlp()
        flat, unravel = ravel_pytree(params)
        out_flat, out_unravel = ravel_pytree(model_fn(params))
        j = jax.jit(jax.jacobian(lambda u: ravel_pytree(model_fn(unravel(u)))[0]))(flat)
        h_out = jax.jit(jax.hessian(lambda o: loss(out_unravel(o))))(out_flat)
        v = jnp.asarray(np.random.default_rng(2).normal(size=flat.size))
        gnvp = jax.jit(lambda p, w: gauss_newton_vector_product(model_fn, loss, p, w))
        gv = ravel_pytree(gnvp(params, unravel(v)))[0]
        np.testing.assert_allclose(gv, j.T @ h_out @ j @ v, rtol=1e-10, atol=1e-12)
        assert float(v @ gv) >= 0  # positive semi-definite, unlike the Hessian


def test_conjugate_gradient_solves_and_uses_the_warm_start():
    with precision("float64"):
        rng = np.random.default_rng(3)
        q, _ = np.linalg.qr(rng.normal(size=(10, 10)))
        a = jnp.asarray((q * np.logspace(0, 2, 10)) @ q.T)
        b = jnp.asarray(rng.normal(size=10))
        solve = jax.jit(
            lambda a, x0, rtol, tol: conjugate_gradient(
                lambda v: a @ v, b, x0, rtol=rtol, progress_tol=tol
            )
        )
        cold = solve(a, jnp.zeros(10), 1e-10, 5e-4)
        np.testing.assert_allclose(a @ cold.x, b, atol=1e-8)
        assert int(cold.products) == int(cold.steps)  # no product for a zero warm start
        exact = jnp.linalg.solve(a, b)
        warm = solve(a, 0.999 * exact, 1e-10, 5e-4)
        assert int(warm.steps) < int(cold.steps)
        # A warm start worse than 0 (phi(x0) > 0) is dropped.
        bad = solve(a, -exact, 1e-10, 5e-4)
        np.testing.assert_allclose(a @ bad.x, b, atol=1e-8)
        # Martens' rule stops long before the residual is small on a slow problem.
        a_ill = jnp.asarray((q * np.logspace(0, 6, 10)) @ q.T)
        cut = solve(a_ill, jnp.zeros(10), 0.0, 0.5)
        assert int(cut.steps) <= 11
        assert float(cut.curvature) == np.inf


def test_conjugate_gradient_reports_negative_curvature():
    with precision("float64"):
        h = jnp.diag(jnp.array([-1.0, 2.0]))
        r = conjugate_gradient(lambda v: h @ v, jnp.array([1.0, 0.0]), jnp.zeros(2), rtol=1e-10)
        assert float(r.curvature) == -1.0
        assert int(r.steps) == 1


@pytest.mark.parametrize("curvature", ["hessian", "gauss_newton"])
def test_hessian_free_in_a_users_mini_batch_loop(curvature):
    # Mini-batches of a least-squares problem; every update sees the batch's closures.
    with precision("float64"):
        rng = np.random.default_rng(4)
        x_all = jnp.asarray(rng.normal(size=(64, 3)))
        y_all = x_all @ jnp.array([1.0, -2.0, 0.5]) + 0.3
        params = {"w": jnp.zeros(3), "b": jnp.zeros(())}
        tx = hessian_free(damping=1e-2, curvature=curvature)

        @jax.jit
        def step(params, state, x, y):
            model_fn = lambda p: x @ p["w"] + p["b"]
            loss_of_outputs = lambda out: jnp.mean((out - y) ** 2)
            value_fn = lambda p: loss_of_outputs(model_fn(p))
            value, grad = jax.value_and_grad(value_fn)(params)
            extra = {"model_fn": model_fn, "loss_of_outputs": loss_of_outputs}
            updates, state = tx.update(grad, state, params, value=value, value_fn=value_fn, **extra)
            return gradtx.apply_updates(params, updates), state

        state = tx.init(params)
        for k in range(8):
            batch = slice(16 * (k % 4), 16 * (k % 4 + 1))
            params, state = step(params, state, x_all[batch], y_all[batch])
        np.testing.assert_allclose(params["w"], [1.0, -2.0, 0.5], atol=1e-4)
        assert int(state.info.num_hvp_evals) >= 1 and bool(state.accepted)


def test_hessian_free_rejects_a_bad_step_and_raises_the_damping():
    with precision("float64"):
        f = lambda x: jnp.sum(x**4) - jnp.sum(x**2)
        x = jnp.array([0.1, -0.2])  # indefinite Hessian here
        tx = hessian_free(damping=1e-3, curvature="hessian")
        u, state = tx.update(jax.grad(f)(x), tx.init(x), x, value_fn=f)
        assert float(state.damping) > 1e-3
        if not bool(state.accepted):
            np.testing.assert_array_equal(u, jnp.zeros(2))
        else:
            assert float(f(x + u)) < float(f(x))


def test_hessian_free_errors_are_clear():
    x = jnp.ones(2)
    tx = hessian_free()
    with pytest.raises(ValueError, match="needs the extra argument value_fn"):
        tx.update(x, tx.init(x), x)
    with pytest.raises(ValueError, match="model_fn"):
        hessian_free(curvature="gauss_newton").update(x, tx.init(x), x, value_fn=jnp.sum)
    with pytest.raises(ValueError, match=r"damping must be in \(0, inf\)"):
        hessian_free(damping=0.0)
    with pytest.raises(ValueError, match="curvature must be one of"):
        hessian_free(curvature="fisher")
    with pytest.raises(ValueError, match=r"damping_decrease must be in \(0, 1\)"):
        hessian_free(damping_decrease=1.5)


def test_levenberg_marquardt_damping_rule():
    from gradtx.second_order._hessian_free import _levenberg_marquardt

    def rule(rho, accept=True, rejections=0, floor=0.0):
        lam = _levenberg_marquardt(
            jnp.asarray(1.0), jnp.asarray(rho), jnp.asarray(accept), jnp.asarray(rejections),
            jnp.asarray(floor), 1.5, 0.5, jnp.float32,
        )  # fmt: skip
        assert lam.dtype == jnp.float32
        return float(lam)

    with precision("float32"):
        assert rule(0.5) == 1.0  # a fair model: kept
        assert rule(0.9) == 0.5  # a good model: decreased
        assert rule(0.1) == 1.5  # a poor model: increased
        assert rule(-1.0, accept=False) == 1.5  # the first rejection
        assert rule(-1.0, accept=False, rejections=2) == 1.5**3  # the third in a row
        assert rule(0.9, floor=4.0) == 4.0  # after negative curvature: at least the floor
