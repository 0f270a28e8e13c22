"""Drop-in compatibility with Optax: the protocol corners found by running Optax's own tests.

Each test is one bug that Optax's test suite (run against gradtx by
``../shared/optax_conformance``) found, pinned here so that it stays fixed.
"""

from __future__ import annotations

import cases
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx

PARAMS = {"w": jnp.ones((3, 4)), "b": jnp.ones(4), "s": jnp.ones(())}


@pytest.mark.parametrize("name", cases.NAMES)
def test_every_state_can_be_donated(name):
    """No two state leaves (or a state leaf and a parameter) share a buffer, so a jitted step
    with ``donate_argnums`` accepts the state (schedule-free's two scalar zeros did not)."""
    info = gradtx.OPTIMIZERS[name]
    tx = info.factory(**info.example)
    state = tx.init(PARAMS)
    buffers = [x.unsafe_buffer_pointer() for x in jax.tree.leaves((state, PARAMS))]
    assert len(set(buffers)) == len(buffers)
    value_fn = lambda p: sum(jnp.sum(x**2) for x in jax.tree.leaves(p))

    def step(g, s, p):
        extra = {"value": value_fn(p), "value_fn": value_fn} if info.needs_value else {}
        return tx.update(g, s, p, **extra)

    jax.jit(step, donate_argnums=(1,))(PARAMS, state, PARAMS)


def test_a_hand_built_transform_without_extra_arguments_works_in_a_chain():
    def update(updates, state, params=None):  # no **extra
        return jax.tree.map(lambda u: 2 * u, updates), state

    tx = gradtx.chain(gradtx.GradientTransformation(lambda p: (), update), gradtx.scale(0.5))
    u, _ = tx.update(jnp.ones(2), tx.init(jnp.ones(2)), value=1.0)
    np.testing.assert_allclose(u, 1.0)


def test_a_callable_pytree_is_a_mask_not_a_mask_function():
    """Optax issue #913: an Equinox-style module (a pytree that is also callable) holding bools
    is a mask tree; only an object whose leaves are all callables is called."""

    @jax.tree_util.register_pytree_node_class
    class Module:
        def __init__(self, w, b):
            self.w, self.b = w, b

        def __call__(self, *args):
            raise AssertionError("a mask tree must not be called")

        def tree_flatten(self):
            return (self.w, self.b), None

        @classmethod
        def tree_unflatten(cls, aux, children):
            return cls(*children)

    params = Module(jnp.ones(2), jnp.ones(3))
    mask = Module(True, False)
    grads = jax.tree.map(lambda x: 3 * x, params)
    tx = gradtx.masked(gradtx.scale(-1.0), mask)  # w scaled, b passed through
    u, _ = tx.update(grads, tx.init(params), params)
    np.testing.assert_allclose(u.w, -3.0)
    np.testing.assert_allclose(u.b, 3.0)
    tx = gradtx.add_decayed_weights(1.0, mask)  # w decayed, b not
    u, _ = tx.update(grads, tx.init(params), params)
    np.testing.assert_allclose(u.w, 4.0)
    np.testing.assert_allclose(u.b, 3.0)


def test_optax_map_params_sees_through_masks_and_partitions():
    params = {"w": jnp.ones(3), "b": jnp.ones(2)}
    for tx in (
        gradtx.masked(gradtx.adam(0.1), {"w": True, "b": False}),
        gradtx.partition({"a": gradtx.adam(0.1), "b": gradtx.sgd(0.1, 0.9)}, {"w": "a", "b": "b"}),
    ):
        state = tx.init(params)
        mapped = optax.tree.map_params(tx, lambda v: v + 1, state)
        assert jax.tree.structure(mapped) == jax.tree.structure(state)
        moments = [x for x in jax.tree.leaves(mapped) if x.ndim == 1]
        assert moments and all(np.all(np.asarray(x) == 1.0) for x in moments)


def test_add_decayed_weights_passes_none_updates_through():
    """``None`` updates (no step), as Optax: ``None`` back and the state as it was (the count
    of a scheduled rate does not advance)."""
    tx = gradtx.add_decayed_weights(0.1)
    state = tx.init(PARAMS)
    u, new_state = tx.update(None, state, PARAMS)
    assert u is None and new_state is state


@pytest.mark.parametrize("mode", ["hard", "smooth", "refined"])
def test_lion_modes_match_optax(mode):
    ours, theirs = (m.scale_by_lion(mode=mode, smooth_beta=2.0) for m in (gradtx, optax))
    g = jnp.array([0.3, -2.0, 0.0, 0.9])
    s1, s2 = ours.init(g), theirs.init(g)
    for t in range(4):
        u1, s1 = ours.update(g * (t - 1.5), s1)
        u2, s2 = theirs.update(g * (t - 1.5), s2)
        np.testing.assert_allclose(u1, u2, rtol=1e-6)
    with pytest.raises(ValueError, match="mode must be one of"):
        gradtx.scale_by_lion(mode="soft")
