"""Per-layer treatment: labels by path, partitions, masks, freezing, and their errors."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx import wrappers as gw


def _mlp(sizes=(3, 4, 4, 2), seed=0):
    rng = np.random.default_rng(seed)
    params = {}
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        name = "head" if i == len(sizes) - 2 else f"layer_{i}"
        params[name] = {
            "w": jnp.asarray(rng.normal(size=(n_in, n_out)), jnp.float32),
            "b": jnp.zeros(n_out, jnp.float32),
        }
    return params


def test_labels_by_path_gives_per_layer_learning_rates():
    params = _mlp()
    grads = jax.tree.map(jnp.ones_like, params)
    labels = gw.labels_by_path({r"\['layer_0'\]": "first", r"head": "head"}, default="body")
    assert labels(params) == {
        "head": {"b": "head", "w": "head"},
        "layer_0": {"b": "first", "w": "first"},
        "layer_1": {"b": "body", "w": "body"},
    }
    rates = {"first": 1.0, "body": 0.1, "head": 0.01}
    tx = gw.partition({k: gradtx.sgd(lr) for k, lr in rates.items()}, labels)
    u, _ = jax.jit(tx.update)(grads, tx.init(params), params)
    for layer, label in (("layer_0", "first"), ("layer_1", "body"), ("head", "head")):
        for leaf in ("w", "b"):
            np.testing.assert_allclose(u[layer][leaf], -rates[label], rtol=1e-6)


def test_partition_with_adam_equals_separate_optimizers():
    params = _mlp()
    labels = gw.labels_by_path({"head": "head"}, default="body")
    tx = gw.partition({"head": gradtx.adam(0.1), "body": gradtx.adam(0.01)}, labels)
    head, body = gradtx.adam(0.1), gradtx.adam(0.01)
    sub = lambda p: ({"head": p["head"]}, {k: v for k, v in p.items() if k != "head"})
    state = tx.init(params)
    sh, sb = head.init(sub(params)[0]), body.init(sub(params)[1])
    rng = np.random.default_rng(1)
    for _ in range(5):
        g = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), p.dtype), params)
        u, state = tx.update(g, state, params)
        uh, sh = head.update(sub(g)[0], sh, sub(params)[0])
        ub, sb = body.update(sub(g)[1], sb, sub(params)[1])
        expected = {**ub, **uh}
        for a, b in zip(jax.tree.leaves(u), jax.tree.leaves(expected)):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)


def test_partition_unknown_label_lists_the_available_ones():
    params = _mlp()
    labels = gw.labels_by_path({"head": "head"}, default="bodyy")
    tx = gw.partition({"head": gradtx.sgd(0.1), "body": gradtx.sgd(0.1)}, labels)
    with pytest.raises(ValueError, match=r"'bodyy' of params\['layer_0'\]\['b'\].*'body', 'head'"):
        tx.init(params)


def test_labels_by_path_without_default_names_the_path():
    with pytest.raises(ValueError, match=r"no rule matches the path \"\['layer_0'\]\['b'\]\""):
        gw.labels_by_path({"head": "head"})(_mlp())
    with pytest.raises(ValueError, match="invalid pattern"):
        gw.labels_by_path({"(": "x"})


def test_mask_with_a_different_structure_names_the_path():
    params = _mlp()
    bad = {"layer_0": True, "layer_1": False, "haed": True}
    with pytest.raises(ValueError, match=r"`mask` has \['haed'\], which `params` lacks"):
        gw.masked(gradtx.sgd(0.1), bad).init(params)
    missing = {"layer_0": {"w": True}, "layer_1": False, "head": True}
    with pytest.raises(ValueError, match=r"`params` has \['layer_0'\]\['b'\], which `mask`"):
        gw.freeze(missing).init(params)
    with pytest.raises(ValueError, match="mask leaves must be static Python bools"):
        gw.masked(gradtx.sgd(0.1), {"layer_0": "yes", "layer_1": False, "head": True})


def test_freeze_and_masked_prefix_masks():
    params = _mlp()
    grads = jax.tree.map(jnp.ones_like, params)
    tx = gradtx.chain(
        gw.freeze({"layer_0": True, "layer_1": False, "head": False}), gradtx.sgd(1.0)
    )
    u, _ = tx.update(grads, tx.init(params), params)
    assert not np.any(np.asarray(u["layer_0"]["w"])) and np.all(np.asarray(u["head"]["w"]) == -1)
    everything = gw.freeze(True)
    u, _ = everything.update(grads, everything.init(params), params)
    assert all(not np.any(np.asarray(x)) for x in jax.tree.leaves(u))


def test_masked_passes_the_masked_gradient_to_a_source_gradient_primitive():
    """Inside a chain, the `gradient` keyword is masked like the updates."""
    params = _mlp()
    grads = jax.tree.map(lambda p: jnp.full_like(p, 2.0), params)
    rms = gradtx.scale_by_rms(0.5, source="gradient")
    mask = {"layer_0": True, "layer_1": False, "head": False}
    tx = gradtx.chain(gradtx.scale(3.0), gw.masked(rms, mask))
    u, _ = tx.update(grads, tx.init(params), params)
    # nu = 0.5 * 2**2 from the *gradient* (not 6**2 from the scaled updates).
    plain = gradtx.chain(gradtx.scale(3.0), rms)
    u_plain, _ = plain.update(grads, plain.init(params), params)
    np.testing.assert_allclose(u["layer_0"]["w"], u_plain["layer_0"]["w"], rtol=1e-6)
    np.testing.assert_allclose(u["head"]["w"], 6.0)


def test_labels_as_a_prefix_tree_and_none_leaves():
    params = {"enc": {"w": jnp.ones(2), "frozen": None}, "dec": jnp.ones(3)}
    tx = gw.partition({"a": gradtx.sgd(1.0), "b": gradtx.sgd(0.5)}, {"enc": "a", "dec": "b"})
    u, _ = tx.update(jax.tree.map(jnp.ones_like, params), tx.init(params), params)
    assert u["enc"]["frozen"] is None
    assert u["enc"]["w"].tolist() == [-1.0, -1.0] and u["dec"].tolist() == [-0.5] * 3


def test_partition_rejects_an_empty_mapping():
    with pytest.raises(ValueError, match="non-empty mapping"):
        gw.partition({}, lambda p: p)


def test_per_layer_learning_rates_are_live_hyperparameters():
    """A partition's learning rates can be changed by name without retracing."""
    params = _mlp()
    grads = jax.tree.map(jnp.ones_like, params)
    labels = gw.labels_by_path({"head": "head"}, default="body")
    tx = gw.partition({"head": gradtx.sgd(0.1), "body": gradtx.sgd(0.01)}, labels)
    state = tx.init(params)
    names = sorted(k for k in gradtx.get_hyperparams(state) if k.endswith("learning_rate"))
    assert names == ["inner_states.body/learning_rate", "inner_states.head/learning_rate"]
    state = gradtx.set_hyperparams(state, **{"inner_states.head/learning_rate": 1.0})
    u, _ = jax.jit(tx.update)(grads, state, params)
    np.testing.assert_allclose(u["head"]["w"], -1.0)
    np.testing.assert_allclose(u["layer_0"]["w"], -0.01, rtol=1e-6)
