"""Optax's plain functions in gradtx: unit-wise norms and clipping, per-example clipping,
target-network updates and MultiSteps' skip tests, each against Optax's function of the
same name, in float32 and float64 (the transforms are in ``test_optax_names.py``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import RTOL, assert_trees_close, nested_params

import gradtx

SHAPES = [(), (4,), (1, 5), (3, 4), (2, 3, 4), (2, 2, 3, 4), (2, 2, 2, 3, 4)]


def _array(shape, dtype, seed=0):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), dtype)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("axis", [None, 0, -1, "all-but-last"])
def test_unitwise_norm_matches_optax(shape, axis, dtype):
    if axis == "all-but-last":
        axis = tuple(range(len(shape) - 1))
    if axis is not None and not shape:
        pytest.skip("a scalar has no axis")
    x = _array(shape, dtype)
    got, want = gradtx.unitwise_norm(x, axis), optax.transforms.unitwise_norm(x, axis)
    assert got.shape == x.shape
    assert_trees_close(got, want, RTOL[dtype.name] * 4)


def test_unitwise_norm_needs_an_axis_past_rank_five():
    x = jnp.ones((2,) * 6)
    with pytest.raises(ValueError, match="axis"):
        gradtx.unitwise_norm(x)
    assert gradtx.unitwise_norm(x, axis=(0, 1, 2)).shape == x.shape


def test_unitwise_clip_matches_optax(dtype):
    grad = _array((3, 4), dtype) * 10
    g_norm = gradtx.unitwise_norm(grad)
    max_norm = jnp.full_like(g_norm, 5.0)
    got = gradtx.unitwise_clip(g_norm, max_norm, grad)
    assert_trees_close(
        got, optax.transforms.unitwise_clip(g_norm, max_norm, grad), RTOL[dtype.name]
    )
    assert float(jnp.max(gradtx.unitwise_norm(got))) <= 5.0 * (1 + 1e-6)
    zero = jnp.zeros((2, 2), dtype)
    assert gradtx.unitwise_clip(zero, zero, zero).tolist() == [[0.0, 0.0], [0.0, 0.0]]
    with pytest.raises(ValueError, match="same shape"):
        gradtx.unitwise_clip(g_norm, max_norm[:1], grad)


def _per_example_grads(dtype):
    """Four examples (one zero, one tiny, two large) of a nested tree with an integer leaf."""
    params = nested_params(dtype, with_none=False)
    scales = jnp.asarray([0.0, 1e-3, 1.0, 30.0], dtype)

    def batch(p, seed):
        x = _array((4, *jnp.shape(p)), dtype, seed)
        return x * scales.reshape((4,) + (1,) * jnp.ndim(p))

    leaves, treedef = jax.tree.flatten(params)
    grads = jax.tree.unflatten(treedef, [batch(p, i) for i, p in enumerate(leaves)])
    grads["count"] = jnp.asarray([[0, 1], [2, 3], [0, 0], [5, -4]], jnp.int32)
    return grads


@pytest.mark.parametrize("clip", [0.0, 0.5, 3.0, float("inf")])
def test_per_example_global_norm_clip_matches_optax(clip, dtype):
    grads = _per_example_grads(dtype)
    got, n = gradtx.per_example_global_norm_clip(grads, clip)
    want, n_ref = optax.per_example_global_norm_clip(grads, clip)
    assert_trees_close(got, want, 4 * RTOL[dtype.name])
    assert int(n) == int(n_ref) and n.dtype == jnp.int32


@pytest.mark.parametrize("uniform", [True, False])
@pytest.mark.parametrize("clip", [0.0, 0.7, 5.0])
def test_per_example_layer_norm_clip_matches_optax(clip, uniform, dtype):
    grads = _per_example_grads(dtype)
    got, n = gradtx.per_example_layer_norm_clip(grads, clip, uniform)
    want, n_ref = optax.per_example_layer_norm_clip(grads, clip, uniform)
    assert_trees_close(got, want, 4 * RTOL[dtype.name])
    assert jax.tree.map(int, n) == jax.tree.map(int, n_ref)


def test_per_example_clipping_checks_its_input():
    with pytest.raises(ValueError, match="batch dimension"):
        gradtx.per_example_global_norm_clip([jnp.ones((3, 2)), jnp.ones((4, 2))], 1.0)
    with pytest.raises(ValueError, match="batch dimension"):
        gradtx.per_example_layer_norm_clip({"s": jnp.asarray(1.0)}, 1.0)
    with pytest.raises(ValueError, match="l2_norm_clip"):
        gradtx.per_example_global_norm_clip([jnp.ones((3, 2))], -1.0)
    with pytest.raises(ValueError, match="global_l2_norm_clip"):
        gradtx.per_example_layer_norm_clip([jnp.ones((3, 2))], float("nan"))


@pytest.mark.parametrize("step_size", [0.0, 0.3, 1.0])
def test_incremental_update_matches_optax(step_size, dtype):
    new, old = nested_params(dtype, seed=1), nested_params(dtype, seed=2)
    got = jax.jit(gradtx.incremental_update)(new, old, step_size)
    assert_trees_close(got, optax.incremental_update(new, old, step_size), RTOL[dtype.name])
    if step_size == 1.0:  # a hard copy is exact, even far from the old values
        far = jax.tree.map(
            lambda x: None if x is None else x + 1e6, old, is_leaf=lambda x: x is None
        )
        assert_trees_close(gradtx.incremental_update(new, far, 1.0), new, 0.0)
    half = gradtx.incremental_update(jnp.ones(2, jnp.bfloat16), jnp.zeros(2, jnp.bfloat16), 0.5)
    assert half.dtype == jnp.bfloat16 and half.tolist() == [0.5, 0.5]
    with pytest.raises(ValueError, match="step_size"):
        gradtx.incremental_update(new, old, 1.5)


def test_periodic_update_matches_optax():
    new, old = nested_params(jnp.float32, seed=1), nested_params(jnp.float32, seed=2)
    fn = jax.jit(gradtx.periodic_update)
    for steps in range(7):
        got, want = fn(new, old, steps, 3), optax.periodic_update(new, old, steps, 3)
        assert_trees_close(got, want, 0.0)
    with pytest.raises(ValueError, match="update_period"):
        gradtx.periodic_update(new, old, 1, 0)


def test_skip_functions_match_optax():
    bad = {"a": jnp.array([1.0, jnp.inf, -jnp.inf]), "b": jnp.array([[jnp.nan, 2.0]])}
    for updates in (bad, {"a": jnp.array([3.0, 4.0]), "b": jnp.zeros((1, 2))}):
        for ours, theirs in [
            (gradtx.skip_not_finite, optax.skip_not_finite),
            (
                lambda *a: gradtx.skip_large_updates(*a, max_squared_norm=25.0),
                lambda *a: optax.skip_large_updates(*a, max_squared_norm=25.0),
            ),
        ]:
            skip, info = jax.jit(ours)(updates, jnp.int32(0), None)
            skip_ref, info_ref = theirs(updates, jnp.int32(0), None)
            assert bool(skip) == bool(skip_ref) and set(info) == set(info_ref)
            for key in info:
                np.testing.assert_array_equal(info[key], info_ref[key])
    skip, info = gradtx.skip_not_finite({}, 0, None)
    assert not bool(skip) and int(info["num_not_finite"]) == 0
    with pytest.raises(ValueError, match="max_squared_norm"):
        gradtx.skip_large_updates(bad, 0, None, max_squared_norm=-1.0)
