"""The common battery, run on every registered optimizer (the first case of each).

Optimizers that need the loss (``needs_value``) get ``value = 1 + 0.5 |w|^2`` at the
current parameters, and that function as ``value_fn``. To keep the file fast, the checks
that share a compiled step share a test: dtypes, state layout, one trace across
``set_hyperparams`` and untrained leaves in one; jit against eager and unused extra
arguments in another; every step is compiled with :data:`helpers.FAST_COMPILE`.
"""

from __future__ import annotations

import cases
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import (
    assert_trees_close,
    extra_args,
    fast_jit,
    gradient_stream,
    needs_value,
    nested_params,
    precision,
    solve,
    value_fn,
)

import gradtx

CASES = cases.ONE_CASE_PER_OPTIMIZER
IDS = [c.name for c in CASES]


def _structure_and_dtypes(state):
    leaves = jax.tree.leaves(state)
    return jax.tree.structure(state), [(np.shape(x), jnp.result_type(x)) for x in leaves]


def _with_untrained_leaves(params, grads):
    """Add an int32 counter (float0 gradient) and a bool mask (``None`` gradient)."""
    params = {**params, "count": jnp.array(7, jnp.int32), "flag": jnp.array([True])}
    grads = {**grads, "count": np.zeros((), jax.dtypes.float0), "flag": None}
    return params, grads


def _rate(case):
    """The name of the case's live rate (``learning_rate``, or ``extra["schedule"]``), or
    ``None`` where it has none or it is fixed at construction."""
    name = case.extra.get("schedule", "learning_rate")
    return None if name in gradtx.OPTIMIZERS[case.name].static_args else name


@pytest.mark.parametrize("param_dtype", ["float32", "bfloat16", "complex64"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_dtypes_state_traces_and_untrained_leaves(case, param_dtype):
    """Updates keep the parameter dtype; the state's structure, shapes and dtypes never
    change; one trace serves every step and every ``set_hyperparams``; integer, boolean and
    ``None`` leaves pass through untouched while float32 ones move."""
    if param_dtype == "complex64" and not case.complex_ok:
        pytest.skip(f"{case.name} is not defined for complex parameters")
    with precision("float32"):
        params = nested_params(jnp.dtype(param_dtype))
        tx = case.make()
        grads = gradient_stream(params, 5)
        params, _ = _with_untrained_leaves(params, grads[0])
        start = params
        state = tx.init(params)
        before = _structure_and_dtypes(state)
        live = gradtx.get_hyperparams(state)
        assert live, f"{case.name} has no live hyperparameters"
        name = "learning_rate" if "learning_rate" in live else sorted(live)[0]

        @fast_jit
        @chex.assert_max_traces(n=1)
        def step(g, state, params):
            updates, state = tx.update(g, state, params, **extra_args(case, params))
            return updates, state, gradtx.apply_updates(params, updates)

        chex.clear_trace_counter()  # even if an earlier test failed before clearing it
        for i, g in enumerate(grads):
            _, g = _with_untrained_leaves({}, g)
            updates, state, params = step(g, state, params)
            for u, p in zip(jax.tree.leaves(updates), jax.tree.leaves(params)):
                if p.dtype == jnp.dtype(param_dtype):
                    assert u.dtype == p.dtype, (case.name, u.dtype, p.dtype)
            assert _structure_and_dtypes(state) == before
            assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(params))
            state = gradtx.set_hyperparams(state, **{name: float(live[name]) * 0.5**i})
        assert int(params["count"]) == 7 and params["count"].dtype == jnp.int32
        assert bool(params["flag"][0]) and params["frozen"] is None
        if param_dtype == "float32":
            moved = jax.tree.map(lambda a, b: not np.array_equal(a, b), params, start)
            assert any(jax.tree.leaves(moved)), f"{case.name}: no parameter moved"
        chex.clear_trace_counter()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_init_on_shape_dtype_structs(case):
    params = nested_params(jnp.float32)
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), params)
    tx = case.make()
    shapes = jax.eval_shape(tx.init, abstract)
    concrete = tx.init(params)
    assert jax.tree.structure(shapes) == jax.tree.structure(concrete)
    for s, c in zip(jax.tree.leaves(shapes), jax.tree.leaves(concrete)):
        assert (s.shape, s.dtype) == (c.shape, c.dtype)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jit_and_eager_agree_and_extra_arguments_are_ignored(case):
    """Eager steps given unused extra arguments match jitted steps given none, on the nested
    test tree; and unused extra arguments change nothing, bit for bit."""
    params = nested_params(jnp.float32)
    tx = case.make()
    s_jit = s_eager = tx.init(params)
    step = fast_jit(lambda g, s, p: tx.update(g, s, p, **extra_args(case, p)))
    rtol = case.extra.get("rtol", {}).get("float32", 1e-6)
    for t, g in enumerate(gradient_stream(params, 6)):
        u_jit, s_jit = step(g, s_jit, params)
        unused = {"grad": g, "key": None, "value_fn": value_fn, "value": value_fn(params)}
        if t == 0:  # exactly: the extra arguments are not read
            plain, _ = tx.update(g, s_eager, params, **extra_args(case, params))
        u_eager, s_eager = tx.update(g, s_eager, params, **unused)
        if t == 0:
            assert_trees_close(u_eager, plain, 0.0, what="unused extra arguments")
        assert_trees_close(u_jit, u_eager, rtol, what=f"step {t}")
        params = gradtx.apply_updates(params, u_eager)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_vmap_over_learning_rates(case):
    """One compiled step serves a batch of rates (the rate is an input, not a constant); a
    learning rate of 0 does not move."""
    name = _rate(case)
    if name is None:
        pytest.skip(f"{case.name} has no rate that is an input")
    params = {"w": jnp.ones(3)}
    grads = {"w": jnp.array([1.0, -2.0, 0.5])}

    def one(lr):
        tx = case.make(**{name: lr})
        u, _ = tx.update(grads, tx.init(params), params, **extra_args(case, params))
        return u["w"]

    lrs = jnp.array([0.0, 0.01, 0.1])
    batched, single = fast_jit(jax.vmap(one))(lrs), fast_jit(one)
    for i, lr in enumerate(lrs):
        np.testing.assert_allclose(batched[i], single(lr), rtol=1e-6, atol=1e-12)
    # Not mechanize's rate (its weight decay), nor MADGRAD's (its step is lr + eps).
    if name.endswith("learning_rate") and not case.extra.get("moves_at_zero_rate"):
        assert np.all(np.asarray(batched[0]) == 0)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_zero_gradients_for_many_steps_stay_finite(case):
    params = {"w": jnp.ones(4), "m": jnp.ones((3, 2)), "b": jnp.zeros(())}
    tx = case.make()
    zeros = jax.tree.map(jnp.zeros_like, params)

    def body(carry, _):
        p, s = carry
        u, s = tx.update(zeros, s, p, **extra_args(case, p))
        return (gradtx.apply_updates(p, u), s), None

    run = fast_jit(lambda p: jax.lax.scan(body, (p, tx.init(p)), None, length=3000)[0])
    for x in jax.tree.leaves(run(params)):
        assert bool(jnp.all(jnp.isfinite(x))), case.name


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_bfloat16_params_train(case):
    """A bf16 quadratic goes down at the optimizer's example settings (the MLP's).

    The weights start at 0.5, not 0: the trust-ratio and parameter-scale methods (LAMB,
    Fromage, Adafactor) take steps relative to the weights, which barely move weights that
    start at exactly zero.
    """
    target = jnp.linspace(-1.0, 1.0, 8).astype(jnp.bfloat16)
    params = {"w": jnp.full(8, 0.5, jnp.bfloat16)}
    loss = lambda p: jnp.sum((p["w"].astype(jnp.float32) - target) ** 2)
    info = gradtx.OPTIMIZERS[case.name]
    tx = info.factory(**info.example)
    start = float(loss(params))
    params = solve(tx, loss, params, 100, needs_value(case))
    assert params["w"].dtype == jnp.bfloat16
    assert float(loss(params)) < 0.5 * start, case.name
