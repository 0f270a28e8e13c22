"""NaN/Inf injection: skipped steps keep the inner state, counters count, limits act."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import gradient_stream, nested_params

import gradtx
from gradtx import wrappers as gw


def _params():
    return nested_params(jnp.float32)


def _poison(tree, value=jnp.nan):
    """The same tree with one entry of one leaf set to ``value``."""
    return {**tree, "dense": {**tree["dense"], "b": tree["dense"]["b"].at[0].set(value)}}


def _assert_same(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _zero(tree):
    return all(not np.any(np.asarray(x)) for x in jax.tree.leaves(tree))


@pytest.mark.parametrize("bad", [jnp.nan, jnp.inf, -jnp.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize(
    "make",
    [
        lambda: gw.apply_if_finite(gradtx.adam(1e-2), max_consecutive_errors=5),
        lambda: gw.skip_nonfinite_steps(gradtx.adam(1e-2)),
    ],
    ids=["apply_if_finite", "skip_nonfinite_steps"],
)
def test_a_bad_step_is_skipped_and_keeps_the_state(make, bad):
    tx, params = make(), _params()
    update = jax.jit(tx.update)
    grads = gradient_stream(params, 4)
    state = tx.init(params)
    _, state = update(grads[0], state, params)
    before = state
    u, state = update(_poison(grads[1], bad), state, params)
    assert _zero(u)
    _assert_same(state.inner_state, before.inner_state)
    assert (int(state.notfinite_count), int(state.total_notfinite)) == (1, 1)
    assert not bool(state.last_finite)
    u, state = update(_poison(grads[2], bad), state, params)
    assert _zero(u) and int(state.notfinite_count) == 2
    _assert_same(state.inner_state, before.inner_state)
    u, state = update(grads[3], state, params)  # a good step: applied, consecutive reset
    assert not _zero(u)
    assert (int(state.notfinite_count), int(state.total_notfinite)) == (0, 2)
    assert bool(state.last_finite)


def test_skip_not_finite_catches_a_non_finite_update_from_finite_gradients():
    # float32 overflow inside the inner transform: finite gradient, infinite update.
    tx = gw.skip_nonfinite_steps(gradtx.chain(gradtx.trace(0.9), gradtx.scale(1e30)))
    params = jnp.zeros(2)
    state = tx.init(params)
    u, state = tx.update(jnp.array([1.0, 1e10]), state, params)
    assert _zero(u) and int(state.total_notfinite) == 1
    _assert_same(state.inner_state, tx.init(params).inner_state)
    # apply_if_finite (Optax's semantics) only checks the incoming gradient.
    tx2 = gw.apply_if_finite(gradtx.chain(gradtx.trace(0.9), gradtx.scale(1e30)), 3)
    u2, _ = tx2.update(jnp.array([1.0, 1e10]), tx2.init(params), params)
    assert np.isinf(np.asarray(u2)).any()


def test_skip_not_finite_stop_returns_zero_updates_forever():
    tx = gw.skip_nonfinite_steps(gradtx.sgd(0.1), max_skipped=2, on_limit="stop")
    params = _params()
    update = jax.jit(tx.update)
    grads = gradient_stream(params, 8)
    state = tx.init(params)
    stopped = []
    for t, g in enumerate(grads):
        g = _poison(g) if t in (1, 3, 5) else g
        u, state = update(g, state, params)
        stopped.append(bool(state.stopped))
        assert _zero(u) == (t in (1, 3) or t >= 5), t
    assert stopped == [False] * 5 + [True] * 3
    assert int(state.total_notfinite) == 3


def test_skip_not_finite_raise_past_the_limit():
    tx = gw.skip_nonfinite_steps(gradtx.sgd(0.1), max_skipped=1, on_limit="raise")
    params = jnp.zeros(2)
    state = tx.init(params)
    for step in (jax.jit(tx.update), tx.update):
        s = state
        _, s = step(jnp.array([jnp.nan, 1.0]), s, params)  # one skip is tolerated
        u, s = step(jnp.ones(2), s, params)
        assert not _zero(u)
        with pytest.raises(RuntimeError, match="skip_nonfinite_steps: 2 steps"):
            out = step(jnp.array([jnp.inf, 1.0]), s, params)
            jax.block_until_ready(out)


def test_skip_not_finite_without_a_limit_never_stops():
    tx = gw.skip_nonfinite_steps(gradtx.sgd(0.1), max_skipped=None)
    state = tx.init(jnp.zeros(1))
    update = jax.jit(tx.update)
    for _ in range(5):
        _, state = update(jnp.array([jnp.nan]), state)
    u, state = update(jnp.array([1.0]), state)
    assert not bool(state.stopped) and int(state.total_notfinite) == 5
    assert u.tolist() == pytest.approx([-0.1])


def test_zero_nans_counts():
    tx = gw.zero_nans()
    g = {"a": jnp.array([jnp.nan, 1.0, jnp.nan]), "b": jnp.ones(2), "i": jnp.arange(2), "n": None}
    state = tx.init(g)
    assert state.found_nan["i"] is None and state.found_nan["n"] is None
    u, state = jax.jit(tx.update)(g, state)
    assert u["a"].tolist() == [0.0, 1.0, 0.0] and u["i"].tolist() == [0, 1]
    assert (bool(state.found_nan["a"]), bool(state.found_nan["b"])) == (True, False)
    assert (int(state.nan_count), int(state.total_nan_steps)) == (2, 1)
    _, state = tx.update({**g, "a": jnp.ones(3)}, state)
    assert (int(state.nan_count), int(state.total_nan_steps)) == (0, 1)


def test_monitor_counts_non_finite_steps():
    tx = gw.monitor_norms(gradtx.sgd(0.1))
    state = tx.init(jnp.ones(2))
    for g in ([1.0, 1.0], [jnp.nan, 1.0], [1.0, jnp.inf], [1.0, 2.0]):
        _, state = tx.update(jnp.array(g), state, jnp.ones(2))
    assert (int(state.notfinite_count), int(state.count)) == (2, 4)
