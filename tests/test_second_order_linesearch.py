"""Line searches: Armijo / strong Wolfe hold at the accepted step, stored points are exact,
round-off does not stall the zoom search, and bad input is rejected clearly."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import precision

import gradtx
from gradtx.second_order import (
    lbfgs,
    scale_by_backtracking_linesearch,
    scale_by_zoom_linesearch,
    value_and_grad_from_state,
)


def rosenbrock(x):
    return jnp.sum(100.0 * (x[1::2] - x[0::2] ** 2) ** 2 + (1.0 - x[0::2]) ** 2)


def quartic(x):
    return jnp.sum((x["a"] - 1.0) ** 4) + jnp.sum(jnp.cosh(x["b"]))


# (function, point, direction): steepest descent, a too-short and a too-long direction.
def _cases():
    x_r = jnp.array([-1.2, 1.0, 0.3, -0.5])
    g_r = jax.grad(rosenbrock)(x_r)
    x_q = {"a": jnp.array([0.0, 3.0]), "b": jnp.array([2.0])}
    g_q = jax.grad(quartic)(x_q)
    neg = lambda t, s: jax.tree.map(lambda v: -s * v, t)
    return [
        ("rosenbrock-sd", rosenbrock, x_r, neg(g_r, 1.0)),
        ("rosenbrock-short", rosenbrock, x_r, neg(g_r, 1e-6)),
        ("quartic-sd", quartic, x_q, neg(g_q, 1.0)),
        ("quartic-short", quartic, x_q, neg(g_q, 1e-4)),
        ("quartic-long", quartic, x_q, neg(g_q, 50.0)),
    ]


def _search(tx, f, x, d):
    value, grad = jax.value_and_grad(f)(x)
    update = jax.jit(lambda d, s, x, v, g: tx.update(d, s, x, value=v, grad=g, value_fn=f))
    u, state = update(d, tx.init(x), x, value, grad)
    return u, state, value, grad


def _slope(f, x, d):
    return sum(jnp.vdot(a, b) for a, b in zip(jax.tree.leaves(jax.grad(f)(x)), jax.tree.leaves(d)))


@pytest.mark.parametrize("index", [0, 3, 4], ids=["rosenbrock-sd", "quartic-short", "quartic-long"])
def test_zoom_satisfies_strong_wolfe_and_stores_the_point(index):
    with precision("float64"):
        _, f, x, d = _cases()[index]
        c1, c2 = 1e-4, 0.9
        tx = scale_by_zoom_linesearch(slope_rtol=c1, curv_rtol=c2)
        u, state, f0, _ = _search(tx, f, x, d)
        alpha = float(state.learning_rate)
        assert not bool(state.failed) and alpha > 0
        x_new = gradtx.apply_updates(x, u)
        slope0, slope = float(_slope(f, x, d)), float(_slope(f, x_new, d))
        assert float(f(x_new)) <= float(f0) + c1 * alpha * slope0
        assert abs(slope) <= c2 * abs(slope0)
        # The stored point is f and its gradient at params + updates (to round-off: the
        # jitted search and this eager check may fuse p + u differently).
        np.testing.assert_allclose(state.point.value, f(x_new), rtol=1e-14)
        for a, b in zip(jax.tree.leaves(state.point.grad), jax.tree.leaves(jax.grad(f)(x_new))):
            np.testing.assert_allclose(a, b, rtol=1e-12)
        assert int(state.info.num_fun_evals) == int(state.info.num_grad_evals) >= 1


@pytest.mark.parametrize("index", [0, 4], ids=["rosenbrock-sd", "quartic-long"])
def test_backtracking_satisfies_armijo(index):
    with precision("float64"):
        _, f, x, d = _cases()[index]
        tx = scale_by_backtracking_linesearch(slope_rtol=1e-4, decrease_factor=0.5)
        u, state, f0, _ = _search(tx, f, x, d)
        alpha = float(state.learning_rate)
        assert not bool(state.failed) and 0 < alpha <= 1
        x_new = gradtx.apply_updates(x, u)
        assert float(f(x_new)) <= float(f0) + 1e-4 * alpha * float(_slope(f, x, d))
        # The step before (twice as long) was rejected, unless the first trial was taken.
        if alpha < 1:
            longer = gradtx.apply_updates(x, jax.tree.map(lambda v: 2 * v, u))
            assert float(f(longer)) > float(f0) + 1e-4 * 2 * alpha * float(_slope(f, x, d))


def test_zoom_does_not_stall_below_round_off():
    # f = 1 + q(x) + noise: the decrease along d (~1e-14) is far below the noise of the
    # values (~1e-13, a stand-in for round-off), while the gradient is exact. Values cannot
    # rank the trials; the approximate Wolfe test and the derivative-only bracket can.
    with precision("float64"):
        a = jnp.array([1.0, 100.0])

        def f(x):
            noise = 1e-13 * jnp.sin(1e13 * x[0] + 3e12 * x[1])
            return 1.0 + 0.5 * jnp.sum(a * x**2) + jax.lax.stop_gradient(noise)

        x = jnp.array([1e-7, 1e-8])
        d = -jax.grad(f)(x)
        _, state, _, _ = _search(scale_by_zoom_linesearch(curv_rtol=0.1), f, x, d)
        exact = float(jnp.vdot(d, d) / jnp.vdot(d, a * d))
        assert not bool(state.failed)
        assert abs(float(state.learning_rate) - exact) <= 0.1 * exact


@pytest.mark.parametrize("make", [scale_by_zoom_linesearch, scale_by_backtracking_linesearch])
def test_ascent_direction_fails_with_a_zero_step(make):
    with precision("float64"):
        x = jnp.array([0.5, 0.5])
        u, state, f0, _ = _search(make(), rosenbrock, x, jax.grad(rosenbrock)(x))
        assert bool(state.failed)
        np.testing.assert_array_equal(u, jnp.zeros(2))
        assert float(state.point.value) == float(f0)


def test_value_and_grad_from_state_reuses_the_line_search_point():
    with precision("float64"):
        tx, x = lbfgs(), jnp.array([-1.2, 1.0])
        vg = value_and_grad_from_state(rosenbrock)
        state = tx.init(x)
        value, grad = vg(x, state=state)  # no stored point yet: computed
        np.testing.assert_allclose(value, rosenbrock(x), rtol=1e-14)
        u, state = tx.update(grad, state, x, value=value, grad=grad, value_fn=rosenbrock)
        x = gradtx.apply_updates(x, u)
        value, grad = vg(x, state=state)  # the line search's point, bit for bit
        assert float(value) == float(state[-1].point.value)
        np.testing.assert_array_equal(grad, state[-1].point.grad)
        np.testing.assert_allclose(value, rosenbrock(x), rtol=1e-14)
        np.testing.assert_allclose(grad, jax.grad(rosenbrock)(x), rtol=1e-12)


_LINES = {
    "quartic": lambda x: jnp.sum((x - 0.3) ** 2 * jnp.array([1.0, 4.0])) + jnp.sum(x**4),
    "cosh": lambda x: jnp.sum(jnp.cosh(3 * (x - 0.45))),
    "exp": lambda x: jnp.sum(jnp.exp(4 * x) - 3 * x),
    "rosenbrock": rosenbrock,
}


@pytest.mark.parametrize("c1", [1e-4, 0.3])
@pytest.mark.parametrize("length", [0.5, 1.0, 3.0, 10.0])
@pytest.mark.parametrize("name", sorted(_LINES))
def test_zoom_trials_follow_minpack_dcsrch(name, length, c1):
    """After a rejected unit step the trials are Moré and Thuente's, step for step.

    The reference is MINPACK-2's ``dcsrch`` as scipy runs it under L-BFGS-B and CG
    (``scalar_search_wolfe1``, first trial 1). The cases reject 0 to 3 trials, some with a
    first trial that raised the value and some (c1 = 0.3) with one below f(0) but above
    the sufficient-decrease line, where Moré-Thuente interpolate the shifted function.
    """
    linesearch = pytest.importorskip("scipy.optimize._linesearch")
    with precision("float64"):
        f = _LINES[name]
        x = jnp.array([-0.2, 0.1])
        value, grad = jax.value_and_grad(f)(x)
        d = -grad / jnp.linalg.norm(grad) * length
        trials = []

        def phi(a):
            trials.append(a)
            return float(f(x + a * d))

        def dphi(a):
            return float(jnp.vdot(jax.grad(f)(x + a * d), d))

        alpha, _, _ = linesearch.scalar_search_wolfe1(
            phi, dphi, float(value), None, dphi(0.0), c1=c1, c2=0.9, amax=1e10, xtol=1e-14
        )
        tx = scale_by_zoom_linesearch(slope_rtol=c1, approx_dec_rtol=None)
        _, state = tx.update(d, tx.init(x), x, value=value, grad=grad, value_fn=f)
        assert int(state.info.num_fun_evals) == len(trials)
        np.testing.assert_allclose(float(state.learning_rate), alpha, rtol=1e-12)


def test_more_thuente_steps_back_where_the_cubic_reaches_far():
    r"""On $\varphi(\alpha) = 2\alpha^4 - \alpha$ the unit step raises the value.

    Through $(0, 0, -1)$ and $(1, 1, 7)$ the cubic's minimizer is 1/2 and the quadratic's
    (from $\varphi(0), \varphi'(0), \varphi(1)$) is 1/4: the cubic is the farther, so
    Moré-Thuente take the midpoint 3/8, while ``interpolation="cubic"`` takes 1/2.
    """
    with precision("float64"):
        f = lambda x: jnp.sum(2 * x**4 - x)
        x, d = jnp.zeros(1), jnp.ones(1)
        value, grad = jax.value_and_grad(f)(x)
        for rule, expected in (("cubic", 0.5), ("more_thuente", 0.375)):
            tx = scale_by_zoom_linesearch(approx_dec_rtol=None, interpolation=rule)
            _, state = tx.update(d, tx.init(x), x, value=value, grad=grad, value_fn=f)
            assert int(state.info.num_fun_evals) == 2
            np.testing.assert_allclose(float(state.learning_rate), expected, rtol=1e-14)


def test_line_search_errors_are_clear():
    x = jnp.ones(2)
    tx = scale_by_zoom_linesearch()
    with pytest.raises(ValueError, match="value_fn"):
        tx.update(-x, tx.init(x), x, value=1.0, grad=x)
    with pytest.raises(ValueError, match="needs params"):
        tx.update(-x, tx.init(x), None, grad=x, value_fn=rosenbrock)
    with pytest.raises(ValueError, match="grad="):
        tx.update(-x, tx.init(x), x, value_fn=rosenbrock)
    with pytest.raises(ValueError, match=r"curv_rtol must be in \(0.0001, inf\]"):
        scale_by_zoom_linesearch(curv_rtol=1e-5)
    with pytest.raises(ValueError, match="initial_guess_strategy must be one of"):
        scale_by_zoom_linesearch(initial_guess_strategy="two")
    with pytest.raises(ValueError, match="interpolation must be one of"):
        scale_by_zoom_linesearch(interpolation="quintic")
    with pytest.raises(ValueError, match=r"max_initial_guess must be in \(0, inf\)"):
        scale_by_zoom_linesearch(max_initial_guess=-1.0)
    with pytest.raises(ValueError, match="max_linesearch_steps must be an integer >= 1"):
        scale_by_zoom_linesearch(max_linesearch_steps=0)
    with pytest.raises(ValueError, match=r"decrease_factor must be in \(0, 1\)"):
        scale_by_backtracking_linesearch(decrease_factor=1.0)
    with pytest.raises(ValueError, match="linesearch must be one of"):
        lbfgs(linesearch="wolfe")


def test_state_layout_is_fixed_and_jit_friendly():
    with precision("float32"):
        x = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}
        f = lambda p: jnp.sum((p["w"] - 2) ** 2) + jnp.sum(p["b"] ** 2)
        tx = lbfgs()
        state = tx.init(x)
        layout = jax.tree.map(lambda a: (a.shape, a.dtype), state)
        assert jax.eval_shape(tx.init, x) is not None
        step = jax.jit(
            lambda x, s: tx.update(
                jax.grad(f)(x), s, x, value=f(x), grad=jax.grad(f)(x), value_fn=f
            )
        )
        for _ in range(3):
            u, state = step(x, state)
            x = gradtx.apply_updates(x, u)
        assert jax.tree.map(lambda a: (a.shape, a.dtype), state) == layout
        assert float(f(x)) < 1e-6
