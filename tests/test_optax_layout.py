"""Optax's ways of reading states and of calling transforms, on gradtx's objects.

Optax's own tests (and code written for Optax) read an optimizer's state the way Optax lays it
out (``state[0].trace``, ``state.m``), check ``isinstance(tx,
GradientTransformationExtraArgs)``, call ``trace(decay=1.0)``, expect a ``TypeError`` when a
required extra argument is missing, and pass ``None`` updates. Each case here is run next to
Optax's object, step by step, in float32 and float64 on a nested tree where numbers are
involved.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import RTOL, assert_trees_close, gradient_stream, nested_params, precision

import gradtx
from gradtx import checkpoint

STEPS = 12
DTYPES = ["float32", "float64"]


def _run(tx, params, grads, **extra):
    state = tx.init(params)
    step = jax.jit(tx.update)
    for g in grads:
        updates, state = step(g, state, params, **extra)
        params = jax.tree.map(
            lambda p, u: None if p is None else p + u, params, updates, is_leaf=lambda x: x is None
        )
    return params, state


# --- Optax's layout of an optimizer's state: indexing and attributes reach inner_state -----


@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_state_indexes_like_optax(dtype):
    """``state[0].trace`` of ``sgd(momentum=...)`` is Optax's, step by step."""
    with precision(dtype):
        params = nested_params(dtype, with_none=False)
        grads = gradient_stream(params, STEPS)
        ours_p, ours = _run(gradtx.sgd(0.05, momentum=0.9), params, grads)
        theirs_p, theirs = _run(optax.sgd(0.05, momentum=0.9), params, grads)
        assert_trees_close(ours[0].trace, theirs[0].trace, RTOL[dtype], "trace")
        assert_trees_close(ours_p, theirs_p, RTOL[dtype], "params")
        assert ours[0] is ours.inner_state[0]
        assert isinstance(ours[1:], tuple) and len(ours[1:]) == len(ours.inner_state) - 1


def test_inject_state_keeps_its_fields_and_pytree():
    """Forwarding changes no field, no pytree, no unpacking; a missing name is an error."""
    params = {"w": jnp.ones(3)}
    state = gradtx.adam(1e-3).init(params)
    assert state._fields == ("count", "hyperparams", "scheduled", "inner_state", "rules")
    count, _, _, inner, _ = state  # iteration: the NamedTuple's fields
    assert count is state.count and inner is state.inner_state
    leaves, treedef = jax.tree.flatten(state)
    again = jax.tree.unflatten(treedef, leaves)
    assert type(again) is gradtx.InjectState and again.hyperparams == state.hyperparams
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(state)[0]]
    assert paths[0] == ".count" and any(p.startswith(".inner_state[0][0].ema") for p in paths)
    with pytest.raises(AttributeError, match="neither has its inner_state"):
        _ = state.not_a_field
    assert not hasattr(state, "_not_forwarded")


def test_mechanize_state_reads_like_optax():
    """``state.m``/``.v``/``.s`` of ``mechanize`` reach its ``MechanicState`` as in Optax."""
    params = {"w": jnp.array([1.0, -2.0])}
    state = gradtx.mechanize(gradtx.sgd(0.1)).init(params)
    for name in ("m", "v", "s"):
        assert getattr(state, name) is getattr(state.inner_state, name)


def test_inject_state_checkpoint_round_trip(tmp_path):
    """A state saved to a checkpoint loads into the template (the file's paths and node
    types are those of the five fields), and set_hyperparams still works on it."""
    params = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}
    tx = gradtx.sgd(0.1, momentum=0.9)
    grads = jax.tree.map(jnp.ones_like, params)
    _, state = tx.update(grads, tx.init(params), params)
    checkpoint.save(tmp_path / "s.npz", state)
    paths = [r["path"] for r in checkpoint.read_header(tmp_path / "s.npz")["leaves"]]
    assert ".inner_state[0].trace['w']" in paths
    back = checkpoint.load(tmp_path / "s.npz", tx.init(params))
    assert back[0].trace["w"].tolist() == state[0].trace["w"].tolist()
    back = gradtx.set_hyperparams(back, learning_rate=0.01)
    assert float(gradtx.get_hyperparams(back)["learning_rate"]) == pytest.approx(0.01)


# --- GradientTransformationExtraArgs -------------------------------------------------------


def test_chain_and_inject_are_extra_args_transforms():
    plain = gradtx.GradientTransformation(lambda p: (), lambda u, s, p=None: (u, s))
    for tx in (
        gradtx.chain(plain, plain),
        gradtx.named_chain(("a", plain)),
        gradtx.adam(1e-3),
        gradtx.inject_hyperparams(gradtx.trace)(decay=0.5),
        gradtx.with_extra_args_support(plain),
    ):
        assert isinstance(tx, gradtx.GradientTransformationExtraArgs)
        assert isinstance(tx, gradtx.GradientTransformation)
    wrapped = gradtx.with_extra_args_support(plain)
    assert wrapped.update(jnp.ones(2), (), None, value=1.0)[0].tolist() == [1.0, 1.0]
    assert gradtx.with_extra_args_support(gradtx.adam(0.1)).update is not None


# --- trace(decay=1.0) ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nesterov", [False, True])
def test_trace_decay_one_matches_optax(dtype, nesterov):
    with precision(dtype):
        params = nested_params(dtype, with_none=False)
        grads = gradient_stream(params, STEPS)
        ours_p, ours = _run(gradtx.trace(1.0, nesterov), params, grads)
        theirs_p, theirs = _run(optax.trace(1.0, nesterov), params, grads)
        assert_trees_close(ours.trace, theirs.trace, RTOL[dtype], "trace")
        assert_trees_close(ours_p, theirs_p, RTOL[dtype], "params")
        injected = gradtx.inject_hyperparams(gradtx.trace)(decay=1.0, nesterov=nesterov)
        inj_p, _ = _run(injected, params, grads)
        assert_trees_close(inj_p, theirs_p, RTOL[dtype], "injected")


@pytest.mark.parametrize("decay", [1.0 + 1e-6, -0.1, float("nan")])
def test_trace_rejects_decay_outside_zero_one(decay):
    with pytest.raises(ValueError, match=r"decay must be in \[0, 1\]"):
        gradtx.trace(decay)
    with pytest.raises(ValueError, match="decay"):
        gradtx.inject_hyperparams(gradtx.trace)(decay=decay)


# --- a missing extra argument: TypeError (Optax) and ValueError (gradtx) -------------------


@pytest.mark.parametrize(
    "make", [gradtx.scale_by_polyak, lambda: gradtx.polyak_sgd(1.0), gradtx.scale_by_momo]
)
def test_missing_value_is_type_and_value_error(make):
    tx, params = make(), jnp.array([1.0, -1.0])
    state = tx.init(params)
    for kind in (TypeError, ValueError):
        with pytest.raises(kind, match="value"):
            tx.update(jnp.ones(2), state, params)


def test_missing_value_fn_in_line_search_is_type_error():
    tx, params = gradtx.scale_by_backtracking_linesearch(max_backtracking_steps=5), jnp.ones(2)
    with pytest.raises(TypeError, match="value_fn"):
        tx.update(jnp.ones(2), tx.init(params), params)


@pytest.mark.parametrize("dtype", DTYPES)
def test_polyak_l1_one_step_as_optax(dtype):
    """Optax's ``test_scale_by_polyak_l1_norm``: one Polyak step solves |x|_1 exactly."""
    with precision(dtype):
        f = lambda x: jnp.abs(x).sum()
        x = jnp.array([1.0, -1.0], dtype)
        value, grad = jax.value_and_grad(f)(x)
        ours = gradtx.scale_by_polyak()
        theirs = optax.scale_by_polyak()
        u, _ = ours.update(grad, ours.init(x), x, value=value)
        v, _ = theirs.update(grad, theirs.init(x), x, value=value)
        np.testing.assert_allclose(u, v, rtol=RTOL[dtype])
        assert float(f(x - u)) < 1e-10


# --- add_decayed_weights with no updates ---------------------------------------------------


def test_add_decayed_weights_none_updates_does_not_read_the_state():
    params = (jnp.ones(2), {"a": jnp.ones(2), "b": jnp.ones(2)})
    for mask in (None, (True, {"a": True, "b": False})):
        tx = gradtx.add_decayed_weights(0.1, mask=mask)
        assert tx.update(None, 0, params) == (None, 0)
        assert optax.add_decayed_weights(0.1, mask=None).update(None, 0, params)[0] is None
    with pytest.raises(ValueError, match="params"):
        gradtx.add_decayed_weights(0.1).update(None, 0, None)
