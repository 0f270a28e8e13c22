"""The common battery of ``test_battery.py``, run on every breadth optimizer (one case each).

Optimizers that need the loss (``needs_value``) get ``value = 0.5 * |w|^2 + 1`` at the
current parameters, and that function as ``value_fn``. To keep the file fast, the checks that share a compiled step share a
test: dtypes, state layout, one trace across ``set_hyperparams`` and untrained leaves in
one; jit against eager and unused extra arguments in another. The training checks (zero
gradients, convergence, bf16 training) are in ``test_breadth_training.py``.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import registry  # noqa: F401 - first: tests/registry.py imports registry_breadth
from conftest import assert_trees_close, gradient_stream, nested_params, precision
from registry_breadth import BREADTH_ONE_CASE_PER_OPTIMIZER as CASES
from test_breadth_parity import FAST_COMPILE, needs_value, value_fn

import gradtx

IDS = [c.name for c in CASES]


def fast_jit(fn):
    """``jax.jit`` with test_breadth_parity's faster compiler options."""
    return jax.jit(fn, compiler_options=FAST_COMPILE)


def extra_args(case, params):
    return {"value": value_fn(params), "value_fn": value_fn} if needs_value(case) else {}


def _structure_and_dtypes(state):
    leaves = jax.tree.leaves(state)
    return jax.tree.structure(state), [(np.shape(x), jnp.result_type(x)) for x in leaves]


def _with_untrained_leaves(params, grads):
    """Add an int32 counter (float0 gradient) and a bool mask (``None`` gradient)."""
    params = {**params, "count": jnp.array(7, jnp.int32), "flag": jnp.array([True])}
    grads = {**grads, "count": np.zeros((), jax.dtypes.float0), "flag": None}
    return params, grads


@pytest.mark.parametrize("param_dtype", ["float32", "bfloat16", "complex64"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_dtypes_state_traces_and_untrained_leaves(case, param_dtype):
    """Updates keep the parameter dtype; the state's structure, shapes and dtypes never
    change; one trace serves every step and every ``set_hyperparams``; integer, boolean and
    ``None`` leaves pass through untouched."""
    if param_dtype == "complex64" and not case.complex_ok:
        pytest.skip(f"{case.name} is not defined for complex parameters")
    with precision("float32"):
        params = nested_params(jnp.dtype(param_dtype))
        tx = case.make()
        grads = gradient_stream(params, 4)
        params, _ = _with_untrained_leaves(params, grads[0])
        state = tx.init(params)
        before = _structure_and_dtypes(state)
        live = gradtx.get_hyperparams(state)
        assert live, f"{case.name} has no live hyperparameters"
        name = "learning_rate" if "learning_rate" in live else sorted(live)[0]

        @fast_jit
        @chex.assert_max_traces(n=1)
        def step(g, state, params):
            return tx.update(g, state, params, **extra_args(case, params))

        for i, g in enumerate(grads):
            _, g = _with_untrained_leaves({}, g)
            updates, state = step(g, state, params)
            for u, p in zip(jax.tree.leaves(updates), jax.tree.leaves(params)):
                if p.dtype == jnp.dtype(param_dtype):
                    assert u.dtype == p.dtype, (case.name, u.dtype, p.dtype)
            params = gradtx.apply_updates(params, updates)
            assert _structure_and_dtypes(state) == before
            assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(params))
            state = gradtx.set_hyperparams(state, **{name: float(live[name]) * 0.5**i})
        assert int(params["count"]) == 7 and params["count"].dtype == jnp.int32
        assert bool(params["flag"][0]) and params["frozen"] is None
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
    """Eager steps given unused extra arguments match jitted steps given none (on a small
    tree: an eager step compiles every operation for every leaf shape)."""
    params = {"dense": {"w": jnp.ones((3, 4)), "b": jnp.linspace(-1.0, 1.0, 4)}, "s": jnp.ones(())}
    tx = case.make()
    s_jit = s_eager = tx.init(params)
    step = fast_jit(lambda g, s, p: tx.update(g, s, p, **extra_args(case, p)))
    for g in gradient_stream(params, 2):
        u_jit, s_jit = step(g, s_jit, params)
        unused = {"grad": g, "key": None, "value_fn": value_fn, "value": value_fn(params)}
        u_eager, s_eager = tx.update(g, s_eager, params, **unused)
        assert_trees_close(u_jit, u_eager, case.extra.get("rtol", {}).get("float32", 1e-6))
        params = gradtx.apply_updates(params, u_eager)
