"""Behaviours of the moment-variant optimizers that the common battery does not check.

PyTorch parity (``torch.optim.ASGD`` and ``torch.optim.SparseAdam``, float64, 60 steps, to
1e-12) runs where torch is installed; the NumPy references (``references/moment_variants.py``
and ``references/sgd_variants.py``) pin the same rules everywhere else. Also: lazy rows keep
their parameters and moments, ASGD's average is readable with ``averaged_params``, MADGRAD
matches Optax in float32 and Optax's float64 departs (its float32 ``sqrt(k + 1)``), ADOPT's
clipping threshold is a function of the step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import assert_trees_close, fast_jit, precision
from references.sgd_variants import asgd_reference

import gradtx
from gradtx import adopt, asgd, lazy_adam, madgrad
from gradtx.wrappers import averaged_params, lazy_rows

STEPS = 60


def _gradients(shapes, steps, seed=0, zero_rows=0.0):
    """Random gradients; with ``zero_rows`` > 0 that fraction of rows (axis 0) is zero, and
    every 7th step a whole leaf is zero."""
    rng = np.random.default_rng(seed)
    out = []
    for t in range(steps):
        step = []
        for shape in shapes:
            g = rng.normal(size=shape) * 10.0 ** rng.uniform(-1, 1)
            if zero_rows and len(shape) > 0:
                g[rng.random(shape[0]) < zero_rows] = 0.0
                if (t + len(step)) % 7 == 3:
                    g[:] = 0.0
            step.append(g)
        out.append(step)
    return out


def _jax_run(tx, params, grads):
    """Parameters after each step, and the final state (one jitted step)."""

    @fast_jit
    def step(g, state, params):
        updates, state = tx.update(g, state, params)
        return gradtx.apply_updates(params, updates), state

    state, history = tx.init(params), []
    for g in grads:
        params, state = step([jnp.asarray(x) for x in g], state, params)
        history.append(params)
    return history, state


@pytest.fixture
def torch64():
    torch = pytest.importorskip("torch")
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # ASGD's eta and mu are of the default dtype
    yield torch
    torch.set_default_dtype(old)


def test_asgd_matches_torch_including_the_average(torch64):
    torch = torch64
    shapes = [(3, 4), (5,), ()]
    kwargs = {"lambd": 0.05, "alpha": 0.6, "t0": 10, "weight_decay": 0.1}
    grads = _gradients(shapes, STEPS, seed=1)
    rng = np.random.default_rng(2)
    start = [rng.normal(size=s) for s in shapes]
    with precision("float64"):
        history, state = _jax_run(asgd(0.05, **kwargs), [jnp.asarray(p) for p in start], grads)
        average = averaged_params(state)
    tparams = [torch.tensor(p, requires_grad=True) for p in start]
    opt = torch.optim.ASGD(tparams, lr=0.05, foreach=False, **kwargs)
    for t, g in enumerate(grads):
        for p, gi in zip(tparams, g):
            p.grad = torch.tensor(gi)
        opt.step()
        ours = [np.asarray(p) for p in history[t]]
        assert_trees_close(ours, [p.detach().numpy() for p in tparams], 1e-12, f"step {t}")
    theirs = [opt.state[p]["ax"].numpy() for p in tparams]
    assert_trees_close([np.asarray(a) for a in average], theirs, 1e-12, "ax")


def test_asgd_average_is_the_mean_of_the_iterates_after_t0():
    """Without torch: ``averaged_params`` equals the reference's ``ax``, which is the mean of
    w_{t0+2}, ..., w_T (PyTorch's mu lags the step by one)."""
    t0, lr = 5, 0.1
    grads = _gradients([(4,)], 30, seed=3)
    with precision("float64"):
        history, state = _jax_run(asgd(lr, t0=t0), [jnp.ones(4)], grads)
        average = np.asarray(averaged_params(state)[0])
    init, step = asgd_reference(lr, t0=t0)
    p, st = np.ones(4), init(np.ones(4))
    for g in grads:
        p = p + step(g[0], st, p)
    np.testing.assert_allclose(average, st["ax"], rtol=1e-12)
    iterates = np.stack([np.asarray(h[0]) for h in history])
    np.testing.assert_allclose(average, iterates[t0 + 1 :].mean(axis=0), rtol=1e-12)
    assert not np.allclose(average, iterates[t0:].mean(axis=0), rtol=1e-6)


def test_lazy_adam_matches_torch_sparse_adam(torch64):
    torch = torch64
    shapes = [(8, 3), (6,)]
    grads = _gradients(shapes, STEPS, seed=4, zero_rows=0.5)
    rng = np.random.default_rng(5)
    start = [rng.normal(size=s) for s in shapes]
    kwargs = {"b1": 0.8, "b2": 0.99, "eps": 1e-6}
    with precision("float64"):
        tx = lazy_adam(0.05, **kwargs)
        history, _ = _jax_run(tx, [jnp.asarray(p) for p in start], grads)
    tparams = [torch.tensor(p, requires_grad=True) for p in start]
    opt = torch.optim.SparseAdam(tparams, lr=0.05, betas=(kwargs["b1"], kwargs["b2"]), eps=1e-6)
    for t, g in enumerate(grads):
        for p, gi in zip(tparams, g):
            rows = np.flatnonzero(np.any(gi.reshape(len(gi), -1) != 0, axis=1))
            index = torch.tensor(rows, dtype=torch.int64)[None]
            values = torch.tensor(gi[rows])
            p.grad = torch.sparse_coo_tensor(index, values, gi.shape, check_invariants=True)
        opt.step()
        ours = [np.asarray(p) for p in history[t]]
        assert_trees_close(ours, [p.detach().numpy() for p in tparams], 1e-12, f"step {t}")


def _ema_leaves(state):
    """The first and second moments of lazy_adam's state (the m and nu trees)."""
    lazy = state.inner_state[0]
    return lazy.inner_state[0].ema, lazy.inner_state[1].nu


def test_lazy_rows_keep_params_and_moments_and_count_every_step():
    params = {"emb": jnp.ones((4, 2)), "bias": jnp.ones(3), "scale": jnp.ones(())}
    tx = lazy_adam(0.1)
    state, update = tx.init(params), fast_jit(tx.update)
    g1 = {"emb": jnp.array([[1.0, 2.0], [0, 0], [0, 2.0], [0, 0]]),
          "bias": jnp.array([1.0, 0, 0]), "scale": jnp.array(0.0)}  # fmt: skip
    u1, state = update(g1, state, params)
    m1, nu1 = _ema_leaves(state)
    assert (np.asarray(u1["emb"])[[1, 3]] == 0).all()
    assert (np.asarray(u1["emb"])[[0, 0, 2], [0, 1, 1]] != 0).all()
    assert float(u1["scale"]) == 0 and float(m1["scale"]) == 0
    g2 = {"emb": jnp.array([[1.0, 0.0], [1.0, 1.0], [0, 0], [0, 0]]),
          "bias": jnp.zeros(3), "scale": jnp.array(1.0)}  # fmt: skip
    u2, state = update(g2, state, params)
    m2, nu2 = _ema_leaves(state)
    for tree_1, tree_2 in ((m1, m2), (nu1, nu2)):  # rows without a gradient keep their moments
        np.testing.assert_array_equal(tree_2["emb"][2:], tree_1["emb"][2:])
        np.testing.assert_array_equal(tree_2["bias"], tree_1["bias"])
    assert (np.asarray(u2["bias"]) == 0).all() and (np.asarray(u2["emb"])[2:] == 0).all()
    # an active row moves as a whole: its zero entry decays its moment and still steps
    np.testing.assert_allclose(float(m2["emb"][0, 1]), 0.9 * float(m1["emb"][0, 1]), rtol=1e-6)
    assert float(u2["emb"][0, 1]) < 0
    # one global count: the first gradient of "scale" (at step 2) is corrected with t = 2,
    # as SparseAdam's: -lr * sqrt(1 - b2^2) / (1 - b1^2) * m / (sqrt(nu) + eps)
    expected = -0.1 * np.sqrt(1 - 0.999**2) / (1 - 0.9**2) * 0.1 / (np.sqrt(0.001) + 1e-8)
    np.testing.assert_allclose(float(u2["scale"]), expected, rtol=1e-5)
    assert int(state.inner_state[0].inner_state[0].count) == 2


def test_lazy_rows_axis_options_and_an_optax_inner_transform():
    """Rows along axis 1 for "w", the whole leaf for "v" (``None``); Optax's adam inside."""
    params = {"w": jnp.zeros((2, 3)), "v": jnp.zeros(2)}
    tx = lazy_rows(optax.adam(0.1), row_axis={"w": 1, "v": None})
    update = fast_jit(tx.update)
    g1 = {"w": jnp.array([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0]]), "v": jnp.array([1.0, 3.0])}
    u, s1 = update(g1, tx.init(params))
    assert (np.asarray(u["w"])[:, 1:] == 0).all() and (np.asarray(u["w"])[:, 0] != 0).all()
    u, s2 = update({"w": jnp.zeros((2, 3)), "v": jnp.array([0.0, 2.0])}, s1)
    mu1, mu2 = s1.inner_state[0].mu, s2.inner_state[0].mu
    np.testing.assert_allclose(float(mu2["v"][0]), 0.9 * float(mu1["v"][0]), rtol=1e-6)
    assert float(u["v"][0]) != 0  # the leaf is one row: its zero entry moves too
    assert (np.asarray(u["w"]) == 0).all()
    np.testing.assert_array_equal(mu2["w"], mu1["w"])
    assert int(s2.inner_state[0].count) == 2
    tx = lazy_rows(optax.sgd(0.1), row_axis=2)
    with pytest.raises(ValueError, match="row_axis=2 is out of range"):
        tx.update(g1["w"], tx.init(g1["w"]))


def test_madgrad_matches_optax_in_float32_and_optax_float64_rounds_sqrt_in_float32():
    params = {"w": jnp.linspace(-1.0, 1.0, 6).reshape(2, 3), "b": jnp.ones(2)}
    grads = [jax.tree.map(lambda p, i=i: jnp.sin(3.0 * p + i), params) for i in range(20)]

    def run(tx, params):
        state, step = tx.init(params), fast_jit(tx.update)
        for g in grads:
            u, state = step(g, state, params)
            params = jax.tree.map(lambda p, u: p + u, params, u)
        return params

    with precision("float32"):
        ours = run(madgrad(0.05, weight_decay=0.01), params)
        theirs = run(optax.inject_hyperparams(optax.contrib.madgrad)(0.05, 0.9, 0.01), params)
        assert_trees_close(ours, theirs, 1e-6)
    with precision("float64"):
        p64 = jax.tree.map(lambda x: x.astype(jnp.float64), params)
        ours = run(madgrad(0.05, weight_decay=0.01), p64)
        theirs = run(optax.contrib.madgrad(0.05, 0.9, 0.01), p64)
        pairs = zip(jax.tree.leaves(ours), jax.tree.leaves(theirs))
        error = max(float(jnp.max(jnp.abs(a - b))) for a, b in pairs)
        assert 1e-12 < error < 1e-6  # Optax's sqrt(k + 1) is a float32


def test_adopt_first_update_is_zero_and_its_clipping_threshold_follows_the_step():
    tx = adopt(0.1, b2=0.5)
    params = jnp.zeros(3)
    state = tx.init(params)
    u, state = tx.update(jnp.array([1.0, -2.0, 3.0]), state, params)
    assert (np.asarray(u) == 0).all()
    for _ in range(3):
        _, state = tx.update(jnp.array([1.0, -2.0, 3.0]), state, params)
    assert "clip_value_fn" not in gradtx.get_hyperparams(state)  # a function, not live
    # an outlier is clipped at c_t: 1e6 / sqrt(nu) is cut to 4**0.25, times (1 - b1) and -lr
    u, _ = tx.update(jnp.array([1e6, 0.0, 0.0]), state, params)
    m_prev = np.asarray(state.inner_state[1].ema)[0]
    np.testing.assert_allclose(float(u[0]), -0.1 * (0.9 * m_prev + 0.1 * 4**0.25), rtol=1e-5)
