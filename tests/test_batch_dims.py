"""``batch_dims``: a stack of layers in one leaf is preconditioned as that many leaves.

Every Kronecker method (Shampoo, the graft, SOAP's eigenbasis, PSGD-Kron) on a tree whose
layers are stacked along a leading axis gives, step by step, the updates it gives on the
same layers as separate leaves: its statistics bit for bit, its updates up to the rounding
of elementwise operations, which XLA may vectorize differently for different shapes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx

# A tree in its stacked form: a (6, 5) matrix, three (5,) biases, one vector, three more
# (6, 5) matrices stacked (keys in this order, so that the unstacked tree lists its leaves in
# the same order; PSGD-Kron refits the plain matrix and the stack as one group of four).
SPEC = {"a": 0, "b": 1, "v": 0, "w": 1}

MAKERS = {
    "scale_by_shampoo": lambda bd: gradtx.scale_by_shampoo(block_size=4, batch_dims=bd),
    "scale_by_shampoo, newton": lambda bd: gradtx.scale_by_shampoo(
        0.9, inverse_root="newton", batch_dims=bd
    ),
    "graft": lambda bd: gradtx.graft(
        gradtx.scale_by_shampoo(block_size=4, batch_dims=bd),
        gradtx.scale_by_adam(),
        block_size=4,
        batch_dims=bd,
    ),
    "shampoo": lambda bd: gradtx.shampoo(
        0.1, block_size=4, precondition_frequency=2, start_preconditioning_step=2, batch_dims=bd
    ),
    "soap": lambda bd: gradtx.soap(0.1, block_size=4, precondition_frequency=2, batch_dims=bd),
    "psgd_kron": lambda bd: gradtx.psgd_kron(0.1, max_size_triangular=5, batch_dims=bd),
    "psgd_kron, cached": lambda bd: gradtx.psgd_kron(
        0.1, preconditioner_update_probability=0.5, cache_preconditioner=True, batch_dims=bd
    ),
}


def stacked_tree(seed: int, dtype=jnp.float32) -> dict:
    k = jax.random.split(jax.random.key(seed), 4)
    return {
        "a": jax.random.normal(k[3], (6, 5), dtype),
        "b": jax.random.normal(k[0], (3, 5), dtype),
        "v": jax.random.normal(k[1], (7,), dtype),
        "w": jax.random.normal(k[2], (3, 6, 5), dtype),
    }


def unstacked(tree: dict) -> dict:
    return {
        "a": tree["a"],
        **{f"b{i}": tree["b"][i] for i in range(3)},
        "v": tree["v"],
        **{f"w{i}": tree["w"][i] for i in range(3)},
    }


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_a_stack_of_layers_is_preconditioned_as_separate_layers(name):
    stacked_tx, plain_tx = MAKERS[name](SPEC), MAKERS[name](None)
    params = stacked_tree(0)
    s1, s2 = stacked_tx.init(params), plain_tx.init(unstacked(params))
    step1, step2 = jax.jit(stacked_tx.update), jax.jit(plain_tx.update)
    for t in range(6):  # across refreshes (every 2 steps) and the first root
        g = stacked_tree(t + 1)
        u1, s1 = step1(g, s1, params)
        u2, s2 = step2(unstacked(g), s2, unstacked(params))
        got, want = unstacked(u1), u2
        for k in want:
            np.testing.assert_allclose(
                got[k], want[k], rtol=1e-6, atol=1e-7, err_msg=f"{name}, step {t}, {k}"
            )


@pytest.mark.parametrize(
    "shape, k", [((3, 7, 9), 1), ((1, 6, 5), 1), ((2, 3, 6, 5), 2), ((3, 4, 5, 6), 1), ((3,), 1)]
)
@pytest.mark.parametrize("name", ["scale_by_shampoo", "soap"])
def test_the_statistics_of_a_stack_are_those_of_its_leaves_bit_for_bit(name, shape, k):
    """Shapes whose blocks an extra size-1 axis would have contracted in another order."""
    make = {
        "scale_by_shampoo": lambda bd: gradtx.scale_by_shampoo(batch_dims=bd),
        "soap": lambda bd: gradtx.soap(0.1, batch_dims=bd),
    }[name]
    n = int(np.prod(shape[:k]))
    split = lambda x: {f"m{i}": x.reshape((n, *shape[k:]))[i] for i in range(n)}
    w = jax.random.normal(jax.random.key(0), shape)
    tx1, tx2 = make(k), make(None)
    s1, s2 = tx1.init(w), tx2.init(split(w))
    for t in range(2):
        g = jax.random.normal(jax.random.key(t + 1), shape)
        u1, s1 = tx1.update(g, s1, w)
        u2, s2 = tx2.update(split(g), s2, split(w))
        np.testing.assert_allclose(split(u1)["m0"], u2["m0"], rtol=1e-5, atol=1e-6)
    stats = s1.stats if name == "scale_by_shampoo" else s1.inner_state[0].basis.stats
    per_leaf = s2.stats if name == "scale_by_shampoo" else s2.inner_state[0].basis.stats
    for axis, stat in enumerate(stats):
        if stat is not None:
            want = np.concatenate([np.ravel(per_leaf[f"m{i}"][axis]) for i in range(n)])
            np.testing.assert_array_equal(np.ravel(stat), want)


def test_batch_dims_as_a_function_and_as_an_int():
    params = {"w": stacked_tree(0)["w"]}
    g = {"w": stacked_tree(1)["w"]}
    outs = []
    for bd in ({"w": 1}, 1, lambda p: jax.tree.map(lambda x: x.ndim - 2, p)):
        tx = gradtx.shampoo(0.1, start_preconditioning_step=1, batch_dims=bd)
        outs.append(tx.update(g, tx.init(params), params)[0]["w"])
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])


def test_without_batch_dims_a_stack_is_a_tensor():
    """The default is unchanged: a (3, 6, 5) leaf is one tensor, its first two axes merged
    (an 18x18 statistic that mixes the layers)."""
    params = stacked_tree(0)
    stats = gradtx.scale_by_shampoo().init(params).stats["w"]
    assert [None if s is None else s.shape for s in stats] == [(1, 18, 18), (1, 5, 5)]
    stats = gradtx.scale_by_shampoo(batch_dims=SPEC).init(params).stats["w"]
    assert [None if s is None else s.shape for s in stats] == [(3, 6, 6), (3, 5, 5)]


@pytest.mark.parametrize(
    "factory",
    [
        lambda bd: gradtx.shampoo(0.1, batch_dims=bd),
        lambda bd: gradtx.soap(0.1, batch_dims=bd),
        lambda bd: gradtx.psgd_kron(0.1, batch_dims=bd),
        lambda bd: gradtx.scale_by_shampoo(batch_dims=bd),
        lambda bd: gradtx.kronecker_eigenbasis(batch_dims=bd),
        lambda bd: gradtx.graft(gradtx.identity(), gradtx.identity(), batch_dims=bd),
    ],
)
@pytest.mark.parametrize("bad", [-1, 1.5, True, "1", {"w": -2}])
def test_bad_batch_dims_raise_at_construction(factory, bad):
    with pytest.raises(ValueError, match="batch_dims"):
        factory(bad)


@pytest.mark.parametrize(
    "bd, match",
    [
        (4, r"batch_dims=4 for a leaf of shape \(3, 6, 5\)"),
        (lambda p: {"w": 1.5}, r"batch_dims\(params\) must be an integer >= 0 or a tree"),
        ({"x": 1}, "structure of `batch_dims`"),
        (lambda p: -1, "batch_dims"),
    ],
)
@pytest.mark.parametrize("name", ["shampoo", "soap", "psgd_kron", "graft"])
def test_batch_dims_that_do_not_fit_the_tree_raise_at_init(name, bd, match):
    if name == "graft":
        tx = gradtx.graft(gradtx.identity(), gradtx.identity(), batch_dims=bd)
    else:
        tx = getattr(gradtx, name)(0.1, batch_dims=bd)
    with pytest.raises(ValueError, match=match):
        tx.init({"w": jnp.zeros((3, 6, 5))})


def test_an_int_batch_dims_skips_leaves_that_are_not_trained():
    params = {"w": jnp.zeros((3, 6, 5)), "step": jnp.zeros((), jnp.int32), "e": jnp.zeros((0,))}
    for tx in (gradtx.shampoo(0.1, batch_dims=1), gradtx.psgd_kron(0.1, batch_dims=1)):
        tx.update(params, tx.init(params), params)  # no error for the scalar counter
    tx = gradtx.shampoo(0.1, batch_dims=np.int64(1))  # a NumPy integer is an integer
    tx.init({"w": jnp.zeros((3, 6, 5))})
