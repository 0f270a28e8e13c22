"""Optax's arguments of the line searches and L-BFGS, checked against Optax step by step.

``scale_by_backtracking_linesearch(atol=, rtol=, store_grad=, verbose=)``,
``scale_by_zoom_linesearch(tol=, increase_factor=, stepsize_precision=,
initial_guess_strategy=, verbose=)``, ``lbfgs(scale_init_precond=)``, the extra arguments
that ``update`` gives to ``value_fn`` (Optax's ``fn(params, x, y)`` pattern), a fresh
state's ``value = inf``, and states whose dtypes do not drift (a jitted step never retraces).
"""

from __future__ import annotations

import contextlib
import io

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import assert_trees_close, nested_params, precision

import gradtx
from gradtx.second_order import (
    lbfgs,
    minimize,
    scale_by_backtracking_linesearch,
    scale_by_zoom_linesearch,
    value_and_grad_from_state,
)

TOL = {"float32": 1e-6, "float64": 1e-12}


def _weights(params, seed=3):
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda p: jnp.asarray(rng.uniform(0.5, 5.0, p.shape), p.dtype), params)


def _objectives(params):
    """A non-quadratic objective with data (``fn(params, x, y)``) and a quadratic one."""
    a = _weights(params)

    def with_data(p, x, y):
        terms = zip(jax.tree.leaves(a), jax.tree.leaves(p))
        return sum(jnp.sum(w * jnp.cosh(x * v - y)) for w, v in terms)

    def quadratic(p):
        return sum(0.5 * jnp.sum(w * v**2) for w, v in zip(jax.tree.leaves(a), jax.tree.leaves(p)))

    return with_data, quadratic


def _trajectory(tx, fn, params, steps, **data):
    """Params and the line search's state after each of ``steps`` full-batch updates."""

    @jax.jit  # one compilation per trajectory (an eager while_loop compiles at each call)
    def step(params, state, data):
        value, grad = jax.value_and_grad(fn)(params, **data)
        updates, state = tx.update(grad, state, params, value=value, grad=grad, value_fn=fn, **data)
        return optax.apply_updates(params, updates), state

    state, out = tx.init(params), []
    for _ in range(steps):
        params, state = step(params, state, data)
        out.append((params, state[-1]))
    return out


def _compare(ours, theirs, dtype, rtol):
    for t, ((p, s), (q, r)) in enumerate(zip(ours, theirs)):
        assert_trees_close(p, q, rtol, f"step {t}: params", floor=1.0)
        np.testing.assert_allclose(s.learning_rate, r.learning_rate, rtol=rtol, err_msg=f"{t}")
        np.testing.assert_allclose(s.point.value, r.value, rtol=rtol, err_msg=f"step {t}")
        assert s.learning_rate.dtype == s.point.value.dtype == dtype


BACKTRACKING = {
    "optax-defaults": {},
    "atol-rtol-c1=0": {"atol": 1e-3, "rtol": 1e-3, "slope_rtol": 0.0},
    "restart-at-max": {"increase_factor": float("inf"), "max_learning_rate": 0.5},
    "store_grad": {"store_grad": True, "decrease_factor": 0.5, "increase_factor": 2.0},
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(BACKTRACKING))
def test_backtracking_matches_optax_step_by_step(case, dtype):
    """Same trials, same accepted steps, the data given to value_fn as keywords."""
    with precision(dtype) as dt:
        params = nested_params(dt, with_none=False)
        fn, _ = _objectives(params)
        data = {"x": jnp.asarray(1.3, dt), "y": jnp.asarray(0.2, dt)}
        kwargs = {"max_backtracking_steps": 15, **BACKTRACKING[case]}
        ours = gradtx.chain(gradtx.sgd(1.0), scale_by_backtracking_linesearch(**kwargs))
        theirs = optax.chain(optax.sgd(1.0), optax.scale_by_backtracking_linesearch(**kwargs))
        a = _trajectory(ours, fn, params, 8, **data)
        b = _trajectory(theirs, fn, params, 8, **data)
        _compare(a, b, dt, TOL[dtype])
        for (_, s), (_, r) in zip(a, b):
            assert bool(s.point.valid) == kwargs.get("store_grad", False)
            np.testing.assert_array_equal(s.decrease_error, r.info.decrease_error)
            if r.grad is not None:  # the stored gradient at the accepted point
                assert_trees_close(s.point.grad, r.grad, 10 * TOL[dtype], "grad", floor=1.0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("strategy", ["keep", "one"])
def test_zoom_matches_optax_on_a_quadratic(strategy, dtype):
    """Where both searches take the exact minimizer of the line, they agree step by step."""
    with precision(dtype) as dt:
        params = nested_params(dt, with_none=False)
        _, quadratic = _objectives(params)
        kwargs = {"max_linesearch_steps": 20, "initial_guess_strategy": strategy}
        ours = gradtx.chain(gradtx.sgd(1.0), scale_by_zoom_linesearch(**kwargs))
        theirs = optax.chain(optax.sgd(1.0), optax.scale_by_zoom_linesearch(**kwargs))
        a = _trajectory(ours, quadratic, params, 6)
        b = _trajectory(theirs, quadratic, params, 6)
        _compare(a, b, dt, {"float32": 1e-5, "float64": 1e-12}[dtype])
        for (_, s), (_, r) in zip(a, b):
            assert float(s.decrease_error) == float(r.info.decrease_error) == 0.0
            assert float(s.curvature_error) == float(r.info.curvature_error) == 0.0


@pytest.mark.parametrize("make", [scale_by_backtracking_linesearch, scale_by_zoom_linesearch])
def test_extra_arguments_go_to_value_fn_or_raise(make):
    params, d, grad = jnp.array([1.0, 2.0]), jnp.array([-0.1, -0.1]), jnp.ones(2)
    tx = make()
    value_fn = lambda p, batch: jnp.sum(p * batch)
    common = {"value": 3.0, "grad": grad, "value_fn": value_fn, "batch": jnp.ones(2)}
    with pytest.raises(TypeError, match=r"Unexpected keyword arguments.*\['unused_arg'\]"):
        tx.update(d, tx.init(params), params, **common, unused_arg=42)
    u, _ = tx.update(d, tx.init(params), params, **common)  # batch reaches value_fn
    assert float(jnp.sum(u)) < 0
    # A value_fn with **kwargs takes anything; the arguments of gradtx's transforms
    # (gradient, model_fn, ...) are never given to value_fn nor rejected.
    loose = {**common, "value_fn": lambda p, **kw: jnp.sum(p * kw["batch"]), "other": 1}
    tx.update(d, tx.init(params), params, **loose, gradient=grad, model_fn=None)


def test_value_and_grad_from_state_passes_arguments_on():
    with precision("float64"):
        fn = lambda p, x, y: jnp.sum((x * p - y) ** 2)
        x, y, params = jnp.array([1.0, 2.0]), jnp.array([3.0, -1.0]), jnp.zeros(2)
        tx = gradtx.chain(gradtx.sgd(0.5), scale_by_backtracking_linesearch(15, store_grad=True))
        vg, state = value_and_grad_from_state(fn), tx.init(params)
        for _ in range(3):
            value, grad = vg(params, x, y=y, state=state)
            np.testing.assert_allclose(value, fn(params, x, y), rtol=1e-14)
            np.testing.assert_allclose(grad, jax.grad(fn)(params, x, y), rtol=1e-12)
            u, state = tx.update(grad, state, params, value=value, grad=grad, value_fn=fn, x=x, y=y)
            params = gradtx.apply_updates(params, u)
            assert bool(state[-1].point.valid)
        with pytest.raises(ValueError, match="stores no value and gradient"):  # as Optax
            vg(params, x, y=y, state=gradtx.scale_by_adam().init(params))


def _verbose(tx, fn, w, d, guess):
    state = optax.tree.set(tx.init(w), learning_rate=guess)  # a Python float in the state
    value, grad = jax.value_and_grad(fn)(w)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        _, state = tx.update(d, state, w, value=value, grad=grad, value_fn=fn)
        jax.effects_barrier()
    return state, out.getvalue()


def test_zoom_arguments_have_optax_meaning():
    from gradtx.second_order import _linesearch as ls

    fn, u = lambda w: jnp.dot(w, w), jnp.array([1.0, 0.0])
    # increase_factor: the bracketing phase doubles the step (1, 2, 4, 8, 16), then the
    # search stops after max_linesearch_steps, keeping the sufficient-decrease step.
    tx = scale_by_zoom_linesearch(5, curv_rtol=0.5, verbose=True)
    state, out = _verbose(tx, fn, -60 * u, u, 1.0)
    assert float(state.learning_rate) == 16.0 and bool(state.failed)
    assert int(state.num_linesearch_steps) == 5 and float(state.curvature_error) > 0
    assert ls.FLAG_CURVATURE_COND_NOT_SATISFIED in out
    assert ls.FLAG_NOT_A_DESCENT_DIRECTION not in out
    assert state.learning_rate.dtype == jnp.float32 and not state.learning_rate.weak_type
    # max_learning_rate reached unbracketed: that step, with Optax's messages.
    tx = scale_by_zoom_linesearch(10, 10.0, curv_rtol=0.5, verbose=True)
    state, out = _verbose(tx, fn, -60 * u, u, 1.0)
    assert float(state.learning_rate) == 10.0
    assert ls.FLAG_INTERVAL_NOT_FOUND in out and ls.FLAG_CURVATURE_COND_NOT_SATISFIED in out
    # Not a descent direction: no step.
    state, out = _verbose(scale_by_zoom_linesearch(verbose=True), fn, 60 * u, u, 1.0)
    assert float(state.learning_rate) == 0.0 and bool(state.failed)
    assert ls.FLAG_NOT_A_DESCENT_DIRECTION in out and ls.FLAG_NO_STEPSIZE_FOUND in out
    # "keep" starts from the step in the state; tol loosens both conditions.
    _, out = _verbose(scale_by_zoom_linesearch(curv_rtol=0.5), fn, -60 * u, u, 40.0)
    state, _ = _verbose(scale_by_zoom_linesearch(curv_rtol=0.5), fn, -60 * u, u, 40.0)
    assert float(state.learning_rate) == 40.0 and out == ""
    state, _ = _verbose(scale_by_zoom_linesearch(curv_rtol=0.5, tol=50.0), fn, -60 * u, u, 16.0)
    assert float(state.learning_rate) == 16.0 and int(state.num_linesearch_steps) == 1


def test_zoom_stops_on_stepsize_precision():
    """ln(1 - 2a) is -inf at a = 1/2: the bracket shrinks onto it; the search stops when
    it is shorter than stepsize_precision, with a step that decreases f."""
    fn, w, d = jnp.log, jnp.asarray(1.0), jnp.asarray(-2.0)
    for precision_, failed in ((1e-3, False), (0.0, True)):
        tx = scale_by_zoom_linesearch(30, stepsize_precision=precision_, verbose=True)
        state, out = _verbose(tx, fn, w, d, 1.0)
        assert 0 < float(state.learning_rate) < 0.5 and bool(state.failed) == failed
        assert float(state.decrease_error) == 0 and float(state.curvature_error) > 0
        from gradtx.second_order._linesearch import FLAG_INTERVAL_TOO_SMALL

        assert FLAG_INTERVAL_TOO_SMALL in out
        if not failed:
            assert int(state.num_linesearch_steps) < 30


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("scale_init_precond", [True, False])
def test_lbfgs_scale_init_precond_matches_optax(scale_init_precond, dtype):
    """Fixed steps on a convex quadratic (every pair kept, ||g_0|| >= 1): Optax's
    directions, step by step, with and without the scaled initial inverse Hessian."""
    with precision(dtype) as dt:
        params = nested_params(dt, with_none=False)
        _, quadratic = _objectives(params)
        kwargs = {"learning_rate": 0.1, "memory_size": 3, "linesearch": None}
        ours = lbfgs(scale_init_precond=scale_init_precond, **kwargs)
        theirs = optax.lbfgs(scale_init_precond=scale_init_precond, **kwargs)
        p, q, s, r = params, params, ours.init(params), theirs.init(params)
        assert float(optax.tree.norm(jax.grad(quadratic)(params))) >= 1
        mine, optax_update, grad = jax.jit(ours.update), jax.jit(theirs.update), jax.grad(quadratic)
        for t in range(8):
            u, s = mine(grad(p), s, p)
            v, r = optax_update(grad(q), r, q)
            assert_trees_close(u, v, {"float32": 1e-5, "float64": 1e-11}[dtype], f"step {t}")
            p, q = gradtx.apply_updates(p, u), optax.apply_updates(q, v)


def test_lbfgs_and_its_searches_solve_like_optax():
    with precision("float64"):
        f = lambda x: jnp.sum(100.0 * (x[1::2] - x[0::2] ** 2) ** 2 + (1.0 - x[0::2]) ** 2)
        for search in (
            scale_by_zoom_linesearch(20, initial_guess_strategy="one"),
            scale_by_backtracking_linesearch(20),
        ):
            for scale_init_precond in (True, False):
                r = minimize(
                    f, jnp.zeros(4), lbfgs(scale_init_precond=scale_init_precond, linesearch=search)
                )
                assert bool(r.converged), (search, scale_init_precond, r.message)
                np.testing.assert_allclose(r.x, jnp.ones(4), atol=1e-4)


def test_minimize_evaluates_what_a_value_only_search_did_not():
    """Backtracking without store_grad evaluates values only: minimize evaluates the
    gradient at each new point itself (and counts it)."""
    with precision("float64"):
        f = lambda x: jnp.sum((x - 2.0) ** 2 * jnp.array([1.0, 10.0]))
        search = scale_by_backtracking_linesearch(decrease_factor=0.5)
        r = minimize(f, jnp.zeros(2), lbfgs(linesearch=search), tol=1e-8)
        stored = minimize(f, jnp.zeros(2), "lbfgs", linesearch="backtracking", tol=1e-8)
        assert bool(r.converged) and bool(stored.converged)
        assert int(r.num_grad_evals) == int(r.iterations) + 1
        assert int(r.num_fun_evals) > int(r.num_grad_evals)
        np.testing.assert_allclose(r.x, stored.x, rtol=1e-8)


@pytest.mark.parametrize("make", [scale_by_backtracking_linesearch, scale_by_zoom_linesearch])
def test_state_dtypes_never_drift_and_a_jitted_step_never_retraces(make):
    with precision("float32"):
        params = {"w": jnp.ones((2, 3), jnp.bfloat16), "b": jnp.zeros(3, jnp.bfloat16)}
        f = lambda p: jnp.sum((p["w"] - 2) ** 2) + jnp.sum(p["b"] ** 2)
        tx = gradtx.chain(gradtx.sgd(0.1), make())
        state = tx.init(params)
        assert jnp.isinf(state[-1].point.value)  # Optax's fresh value
        layout = jax.tree.map(lambda a: (a.shape, a.dtype, a.weak_type), state)
        traces = []

        @jax.jit
        def step(p, s):
            traces.append(1)
            value, grad = jax.value_and_grad(f)(p)  # a float32 value for bfloat16 params
            u, s = tx.update(grad, s, p, value=value, grad=grad, value_fn=f)
            return gradtx.apply_updates(p, u), s

        for _ in range(3):
            params, state = step(params, state)
        assert len(traces) == 1
        assert jax.tree.map(lambda a: (a.shape, a.dtype, a.weak_type), state) == layout
        assert float(f(params)) < 13.0


def test_argument_checks():
    with pytest.raises(ValueError, match=r"increase_factor must be in \(1, inf\]"):
        scale_by_zoom_linesearch(increase_factor=1.0)
    with pytest.raises(ValueError, match=r"curv_rtol must be in \(0.0001, inf\]"):
        scale_by_zoom_linesearch(curv_rtol=1e-4)
    with pytest.raises(ValueError, match=r"stepsize_precision must be in \[0, inf\)"):
        scale_by_zoom_linesearch(stepsize_precision=-1.0)
    with pytest.raises(ValueError, match=r"tol must be in \[0, inf\)"):
        scale_by_zoom_linesearch(tol=-1.0)
    with pytest.raises(ValueError, match=r"increase_factor must be in \(0, inf\]"):
        scale_by_backtracking_linesearch(increase_factor=0.0)
    with pytest.raises(ValueError, match=r"atol must be in \[0, inf\)"):
        scale_by_backtracking_linesearch(atol=-1.0)
    # Optax's documented extremes are accepted: no curvature condition, no step bound,
    # every backtracking search from the largest step.
    scale_by_zoom_linesearch(curv_rtol=jnp.inf, max_learning_rate=None, increase_factor=None)
    scale_by_backtracking_linesearch(increase_factor=float("inf"), slope_rtol=0.0)


def test_backtracking_failure_and_complex_parameters():
    """A failed search tries max_backtracking_steps + 1 steps (as Optax), takes none and
    reports the last trial's error. For complex parameters grad= is the conjugate of
    jax.grad (gradtx's and Optax's convention) and the slope is Re <grad, d>."""
    f = lambda x: jnp.sum(jnp.abs(x) ** 2)
    x = jnp.array([1.0 + 1.0j])
    g, tx = jnp.conj(jax.grad(f)(x)), scale_by_backtracking_linesearch(5)
    _, s = tx.update(g, tx.init(x), x, value=f(x), grad=g, value_fn=f)  # ascent
    assert bool(s.failed) and float(s.learning_rate) == 0 and jnp.isinf(s.decrease_error)
    assert int(s.num_linesearch_steps) == 0
    higher = lambda p: f(p) + 10.0  # no trial is below f(x)
    _, s = tx.update(-g, tx.init(x), x, value=f(x), grad=g, value_fn=higher)
    assert bool(s.failed) and int(s.num_linesearch_steps) == 6
    assert float(s.learning_rate) == 0 and float(s.decrease_error) > 0
    for tx in (scale_by_backtracking_linesearch(store_grad=True), scale_by_zoom_linesearch()):
        u, s = tx.update(-g, tx.init(x), x, value=f(x), grad=g, value_fn=f)
        assert not bool(s.failed)
        np.testing.assert_allclose(s.prev_slope, -8.0, rtol=1e-6)
        assert float(f(x + u)) < 0.75  # the searches accept 0.8 and 0.5 (the minimizer)
        np.testing.assert_allclose(s.point.grad, jax.grad(f)(x + u), rtol=1e-6)  # JAX's
