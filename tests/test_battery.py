"""The common battery, run on every registered optimizer (one case per optimizer)."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_trees_close, gradient_stream, nested_params, precision
from registry import ONE_CASE_PER_OPTIMIZER as CASES

import gradtx

IDS = [c.name for c in CASES]


def _structure_and_dtypes(state):
    leaves = jax.tree.leaves(state)
    return jax.tree.structure(state), [(np.shape(x), jnp.result_type(x)) for x in leaves]


@pytest.mark.parametrize("param_dtype", ["float32", "bfloat16", "complex64"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_dtypes_and_state_are_stable(case, param_dtype):
    """Updates keep the gradient dtype; state structure, shapes and dtypes never change."""
    if param_dtype == "complex64" and not case.complex_ok:
        pytest.skip(f"{case.name} is not defined for complex parameters")
    with precision("float32"):
        params = nested_params(jnp.dtype(param_dtype))
        tx = case.make()
        state = tx.init(params)
        before = _structure_and_dtypes(state)
        step = jax.jit(tx.update)
        for g in gradient_stream(params, 5):
            updates, state = step(g, state, params)
            for u, p in zip(jax.tree.leaves(updates), jax.tree.leaves(params)):
                assert u.dtype == p.dtype, (case.name, u.dtype, p.dtype)
            params = gradtx.apply_updates(params, updates)
            assert _structure_and_dtypes(state) == before
            assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(params))


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
def test_jit_and_eager_agree(case):
    params = nested_params(jnp.float32)
    grads = gradient_stream(params, 6)
    tx = case.make()
    s_jit = s_eager = tx.init(params)
    step = jax.jit(tx.update)
    for g in grads:
        u_jit, s_jit = step(g, s_jit, params)
        u_eager, s_eager = tx.update(g, s_eager, params)
        assert_trees_close(u_jit, u_eager, 1e-6)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_one_trace_for_steps_and_hyperparameter_changes(case):
    params = nested_params(jnp.float32)
    tx = case.make()
    state = tx.init(params)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(grads, state, params):
        updates, state = tx.update(grads, state, params)
        return gradtx.apply_updates(params, updates), state

    live = gradtx.get_hyperparams(state)
    for i, g in enumerate(gradient_stream(params, 6)):
        params, state = step(g, state, params)
        if "learning_rate" in live:
            state = gradtx.set_hyperparams(state, learning_rate=0.5**i * 0.01)
    chex.clear_trace_counter()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_extra_arguments_are_ignored(case):
    params = nested_params(jnp.float32)
    g = gradient_stream(params, 1)[0]
    tx = case.make()
    state = tx.init(params)
    plain, _ = tx.update(g, state, params)
    extra, _ = tx.update(g, state, params, value=jnp.array(1.0), grad=g, key=None)
    assert_trees_close(extra, plain, 0.0)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_vmap_over_learning_rates(case):
    if "learning_rate" in gradtx.OPTIMIZERS[case.name].static_args:
        pytest.skip(f"{case.name}'s learning_rate is fixed at construction")
    params = {"w": jnp.ones(3)}
    grads = {"w": jnp.array([1.0, -2.0, 0.5])}

    def one(lr):
        tx = case.make(learning_rate=lr)
        u, _ = tx.update(grads, tx.init(params), params)
        return u["w"]

    lrs = jnp.array([0.0, 0.01, 0.1])
    batched = jax.vmap(one)(lrs)
    for i, lr in enumerate([0.0, 0.01, 0.1]):
        np.testing.assert_allclose(batched[i], one(lr), rtol=1e-6, atol=1e-12)
    assert np.all(np.asarray(batched[0]) == 0)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_zero_gradients_for_many_steps_stay_finite(case):
    params = {"w": jnp.ones(4), "b": jnp.zeros(())}
    tx = case.make()
    zeros = jax.tree.map(jnp.zeros_like, params)

    def body(carry, _):
        p, s = carry
        u, s = tx.update(zeros, s, p)
        return (gradtx.apply_updates(p, u), s), None

    (p, state), _ = jax.lax.scan(body, (params, tx.init(params)), None, length=3000)
    for x in jax.tree.leaves((p, state)):
        assert bool(jnp.all(jnp.isfinite(x))), case.name


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_integer_and_none_leaves_pass_through(case):
    params = {
        "w": jnp.ones(3),
        "step": jnp.array(7, jnp.int32),
        "mask": jnp.array([True]),
        "x": None,
    }
    grads = {"w": jnp.ones(3), "step": jnp.zeros((), jax.dtypes.float0), "mask": None, "x": None}
    tx = case.make()
    updates, _ = jax.jit(tx.update)(grads, tx.init(params), params)
    new = gradtx.apply_updates(params, updates)
    assert new["step"].dtype == jnp.int32 and int(new["step"]) == 7
    assert bool(new["mask"][0]) and new["x"] is None
    assert not np.allclose(new["w"], params["w"])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_bfloat16_params_train(case):
    """A bf16 quadratic goes down with every optimizer at its example settings."""
    target = jnp.linspace(-1.0, 1.0, 8).astype(jnp.bfloat16)
    params = {"w": jnp.zeros(8, jnp.bfloat16)}
    loss = lambda p: jnp.sum((p["w"].astype(jnp.float32) - target) ** 2)
    tx = gradtx.OPTIMIZERS[case.name].factory(**gradtx.OPTIMIZERS[case.name].example)
    state = tx.init(params)
    start = float(loss(params))

    @jax.jit
    def step(params, state):
        u, state = tx.update(jax.grad(loss)(params), state, params)
        return gradtx.apply_updates(params, u), state

    for _ in range(100):
        params, state = step(params, state)
    assert params["w"].dtype == jnp.bfloat16
    assert float(loss(params)) < 0.5 * start, case.name
