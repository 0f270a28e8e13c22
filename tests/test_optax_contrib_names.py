"""Optax.contrib's names in gradtx, step by step against ``optax.contrib``.

ACProp, MoMo, MoMo-Adam, GaLore, DP-SGD, ``differentially_private_aggregate`` and
``split_real_and_imaginary``: each runs next to Optax's object of the same name on a nested
tree, jitted, in float32 and float64, and the updates and parameters must agree after every
step. The losses are real functions, so MoMo's model (which reads the loss value and the
parameters) follows the same trajectory. In float32 the Adam-based ones (MoMo-Adam, GaLore
over Adam) get a wider tolerance: Optax's bias correction ``1 - b2**t`` loses up to 7e-6
relative at ``b2 = 0.999`` and gradtx's does not (docs/differences.md), and the loss-driven
step sizes amplify it; float64 checks the same formulas to 1e-11.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import assert_trees_close, precision, tree_max_abs

import gradtx

STEPS = 20
RTOL = {"float32": 2e-5, "float64": 1e-11}
ADAM_RTOL = {"float32": 1e-4, "float64": 1e-11}  # see the module docstring


def _params(dtype, seed=0):
    """A nested tree: a tall and a wide matrix, a 3-D kernel, a vector and a scalar."""
    rng = np.random.default_rng(seed)
    arr = lambda *s: jnp.asarray(rng.normal(size=s), dtype)
    return {"dense": {"w": arr(6, 4), "b": arr(4)}, "head": (arr(3, 5), arr()), "k": arr(4, 2, 3)}


def _loss(params):
    """A smooth, non-quadratic loss >= 0 whose curvature differs between leaves."""
    leaves = jax.tree.leaves(params)
    return sum(
        jnp.sum((1 + i) * (x - 0.3) ** 2 + 0.1 * jnp.sin(x) ** 2) for i, x in enumerate(leaves)
    )


def _trajectory(tx, params, steps=STEPS, value=False):
    """(updates, params) after each jitted step on ``_loss``."""

    @jax.jit
    def step(p, s):
        v, g = jax.value_and_grad(_loss)(p)
        u, s = tx.update(g, s, p, **({"value": v} if value else {}))
        return u, optax.apply_updates(p, u), s

    state, out = tx.init(params), []
    for _ in range(steps):
        u, params, state = step(params, state)
        out.append((u, params))
    return out


def _assert_same(ours, theirs, dtype, rtol=None):
    rtol = RTOL[jnp.dtype(dtype).name] if rtol is None else rtol
    floor = max(tree_max_abs(p) for _, p in theirs)
    step = max(tree_max_abs(u) for u, _ in theirs)
    for t, ((u, p), (u_ref, p_ref)) in enumerate(zip(ours, theirs)):
        assert_trees_close(p, p_ref, rtol, f"params at step {t}", floor=floor)
        assert_trees_close(u, u_ref, rtol, f"updates at step {t}", floor=step)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "kwargs", [{}, {"b1": 0.5, "b2": 0.99, "weight_decay": 0.1, "eps": 1e-8, "eps_root": 1e-12}]
)
def test_acprop_matches_optax(dtype, kwargs):
    with precision(dtype) as dt:
        params = _params(dt)
        mask = jax.tree.map(lambda x: x.ndim > 1, params)
        ours = _trajectory(gradtx.acprop(0.02, mask=mask, **kwargs), params)
        theirs = _trajectory(optax.contrib.acprop(0.02, mask=mask, **kwargs), params)
        _assert_same(ours, theirs, dt)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("adapt", [False, True])
@pytest.mark.parametrize("kwargs", [{}, {"weight_decay": 0.05, "lower_bound": 0.5}])
def test_momo_matches_optax(dtype, adapt, kwargs):
    with precision(dtype) as dt:
        params = _params(dt)
        args = {"learning_rate": 0.2, "beta": 0.8, "adapt_lower_bound": adapt, **kwargs}
        ours = _trajectory(gradtx.momo(**args), params, value=True)
        theirs = _trajectory(optax.contrib.momo(**args), params, value=True)
        _assert_same(ours, theirs, dt)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("adapt", [False, True])
@pytest.mark.parametrize("kwargs", [{}, {"weight_decay": 0.05, "lower_bound": 0.5, "b2": 0.9}])
def test_momo_adam_matches_optax(dtype, adapt, kwargs):
    with precision(dtype) as dt:
        params = _params(dt)
        args = {"learning_rate": 0.05, "adapt_lower_bound": adapt, **kwargs}
        ours = _trajectory(gradtx.momo_adam(**args), params, value=True)
        theirs = _trajectory(optax.contrib.momo_adam(**args), params, value=True)
        _assert_same(ours, theirs, dt, rtol=ADAM_RTOL[dtype])


@pytest.mark.parametrize("make", [gradtx.momo, gradtx.momo_adam])
def test_momo_passes_untrained_leaves_and_keeps_its_state_structure(make):
    params = {"w": jnp.ones(3), "n": jnp.array(7, jnp.int32), "none": None}
    grads = {"w": jnp.array([1.0, -2.0, 0.5]), "n": np.zeros((), jax.dtypes.float0), "none": None}
    tx = make()
    state = tx.init(params)
    u, new_state = jax.jit(tx.update)(grads, state, params, value=jnp.array(2.0))
    assert jax.tree.structure(new_state) == jax.tree.structure(state)
    assert u["none"] is None and u["n"].dtype == jax.dtypes.float0
    assert bool(jnp.all(jnp.isfinite(u["w"])))


def test_momo_adapts_its_lower_bound():
    """The adaptive bound moves above ``lower_bound`` when the loss stays above it."""
    params = _params(jnp.float32)
    tx = gradtx.scale_by_momo(0.1, 0.9, lower_bound=-5.0, adapt_lower_bound=True)
    state = tx.init(params)
    for _ in range(5):
        value, g = jax.value_and_grad(_loss)(params)
        u, state = tx.update(g, state, params, value=value)
        params = gradtx.apply_updates(params, jax.tree.map(lambda x: -x, u))
    assert float(state.lb) > -5.0


GALORE_CASES = {
    "default": ({"rank": 2, "update_proj_gap": 3}, None),
    "decay": ({"rank": 8, "update_proj_gap": 1, "weight_decay": 0.01, "scale": 0.5}, None),
    "dims": ({"rank": 3, "update_proj_gap": 4}, "dims"),
    "lion": ({"rank": 2, "update_proj_gap": 5}, "lion"),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(GALORE_CASES))
def test_galore_matches_optax(dtype, case):
    kwargs, extra = GALORE_CASES[case]
    with precision(dtype) as dt:
        params = _params(dt)
        ours_kw, theirs_kw = dict(kwargs), dict(kwargs)
        if extra == "dims":
            for kw, dims in ((ours_kw, gradtx.GaLoreDimensionNumbers),
                             (theirs_kw, optax.contrib.GaLoreDimensionNumbers)):  # fmt: skip
                kw["weight_dimension_numbers"] = {
                    "dense": {"w": None, "b": None}, "head": (None, None), "k": dims(0, (1, 2))
                }  # fmt: skip
        if extra == "lion":
            ours_kw["base_optimizer"] = gradtx.scale_by_lion(b1=0.8)
            theirs_kw["base_optimizer"] = optax.scale_by_lion(b1=0.8)
        ours = _trajectory(gradtx.galore(0.05, **ours_kw), params)
        theirs = _trajectory(optax.contrib.galore(0.05, **theirs_kw), params)
        # In float64 too: both take the SVD in float32, so they pick the same signs for the
        # singular vectors (a float64 SVD flips some here, and the runs part by 1e-1).
        _assert_same(ours, theirs, dt, rtol=ADAM_RTOL[dtype])


def test_galore_keeps_low_rank_moments_and_orthonormal_projectors():
    params = {"tall": jnp.ones((12, 4)), "wide": jnp.ones((3, 9)), "b": jnp.ones(5)}
    tx = gradtx.scale_by_galore(rank=2, update_proj_gap=2)
    state = tx.init(params)
    assert state.projector["tall"].shape == (12, 2) and state.projector["wide"].shape == (9, 2)
    assert state.projector["b"] is None  # Optax: a (0, 0) array, which Orbax cannot save
    nu = state.base_optimizer_state[1].nu
    assert nu["tall"].shape == (2, 4) and nu["wide"].shape == (3, 2) and nu["b"].shape == (5,)
    g = jax.tree.map(lambda x: jax.random.normal(jax.random.key(x.size), x.shape), params)
    _, state = tx.update(g, state)
    for key in ("tall", "wide"):
        p = state.projector[key]
        np.testing.assert_allclose(p.T @ p, np.eye(2), atol=1e-5)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5)])
def test_galore_projects_complex_leaves_with_the_conjugate_transpose(shape):
    rng = np.random.default_rng(1)
    g = jnp.asarray(rng.normal(size=shape) + 1j * rng.normal(size=shape), jnp.complex64)
    full = gradtx.scale_by_galore(rank=3, base_optimizer=gradtx.identity())
    np.testing.assert_allclose(full.update(g, full.init(g))[0], g, atol=1e-5)  # P P^H G = G
    top = gradtx.scale_by_galore(rank=1, base_optimizer=gradtx.identity())
    u, sv, vh = np.linalg.svd(np.asarray(g))
    expected = sv[0] * np.outer(u[:, 0], vh[0])  # the best rank-1 approximation
    np.testing.assert_allclose(top.update(g, top.init(g))[0], expected, atol=1e-5)


def test_galore_rejects_a_spec_that_leaves_an_axis_out():
    tx = gradtx.scale_by_galore(weight_dimension_numbers=gradtx.GaLoreDimensionNumbers(0, 1))
    with pytest.raises(ValueError, match="unassigned"):
        tx.init(jnp.zeros((2, 3, 4)))


def _per_example(dtype, batch=6):
    rng = np.random.default_rng(3)
    shapes = {"a": (3, 2), "b": (4,), "c": ()}
    tree = {k: jnp.asarray(rng.normal(size=(batch, *s)) * (1 + i), dtype) for i, (k, s) in
            enumerate(shapes.items())}  # fmt: skip
    return {"x": (tree["a"], tree["b"]), "y": tree["c"]}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("noise", [0.0, 1.5])
@pytest.mark.parametrize("clip", [0.5, 1e6])
def test_differentially_private_aggregate_matches_optax(dtype, noise, clip):
    with precision(dtype) as dt:
        grads = _per_example(dt)
        ours = gradtx.differentially_private_aggregate(clip, noise, key=11)
        theirs = optax.contrib.differentially_private_aggregate(clip, noise, key=11)
        s_ours, s_theirs = ours.init(None), theirs.init(None)
        for t in range(3):
            u, s_ours = jax.jit(ours.update)(grads, s_ours)
            u_ref, s_theirs = jax.jit(theirs.update)(grads, s_theirs)
            assert_trees_close(u, u_ref, RTOL[dt.name], f"step {t}", floor=tree_max_abs(u_ref))


def test_differentially_private_aggregate_needs_per_example_gradients():
    tx = gradtx.differentially_private_aggregate(1.0, 1.0, key=0)
    with pytest.raises(ValueError, match="per-example"):
        tx.update({"a": jnp.ones((3, 2)), "b": jnp.ones(2)}, tx.init(None))


@pytest.mark.filterwarnings("ignore:.*seed.*deprecated:DeprecationWarning")  # Optax's dpsgd
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("momentum", [None, 0.9])
def test_dpsgd_matches_optax(dtype, momentum):
    with precision(dtype) as dt:
        grads, params = _per_example(dt), jax.tree.map(lambda x: x[0], _per_example(dt))
        args = dict(l2_norm_clip=1.0, noise_multiplier=0.7, seed=5, momentum=momentum)
        ours = gradtx.dpsgd(0.1, nesterov=momentum is not None, **args)
        theirs = optax.contrib.dpsgd(0.1, nesterov=momentum is not None, **args)
        s_ours, s_theirs = ours.init(params), theirs.init(params)
        for t in range(4):
            u, s_ours = jax.jit(ours.update)(grads, s_ours, params)
            u_ref, s_theirs = jax.jit(theirs.update)(grads, s_theirs, params)
            assert_trees_close(u, u_ref, RTOL[dt.name], f"step {t}", floor=tree_max_abs(u_ref))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_split_real_and_imaginary_matches_optax(dtype):
    with precision(dtype) as dt:
        cdt = jnp.result_type(dt, jnp.complex64)
        rng = np.random.default_rng(0)
        params = {
            "z": jnp.asarray(rng.normal(size=(3, 2)) + 1j * rng.normal(size=(3, 2)), cdt),
            "r": (jnp.asarray(rng.normal(size=4), dt),),
        }
        loss = lambda p: jnp.sum(jnp.abs(p["z"] - 1j) ** 4) + jnp.sum(p["r"][0] ** 2)
        runs = []
        for make, wrap in ((gradtx.adam, gradtx.split_real_and_imaginary),
                           (optax.adam, optax.contrib.split_real_and_imaginary)):  # fmt: skip
            tx, p, out = wrap(make(0.05)), params, []
            state = tx.init(p)
            step = jax.jit(tx.update)
            for _ in range(10):
                g = jax.tree.map(jnp.conj, jax.grad(loss)(p))
                u, state = step(g, state, p)
                p = optax.apply_updates(p, u)
                out.append((u, p))
            runs.append(out)
        _assert_same(*runs, dt)


def test_split_real_and_imaginary_treats_a_complex_leaf_as_two_real_ones():
    x, y = jnp.array([0.3, -1.0]), jnp.array([2.0, 0.5])
    tx = gradtx.split_real_and_imaginary(gradtx.adam(0.1))
    u, state = tx.update(x + 1j * y, tx.init(x + 1j * y))
    ref = gradtx.adam(0.1)
    (ux, uy), _ = ref.update((x, y), ref.init((x, y)))
    np.testing.assert_allclose(u, ux + 1j * uy, rtol=1e-6)
    assert isinstance(state, gradtx.SplitRealAndImaginaryState)


@pytest.mark.parametrize(
    "make, arg",
    [
        (lambda: gradtx.acprop(0.1, b1=1.0), "b1"),
        (lambda: gradtx.acprop(0.1, eps=-1.0), "eps"),
        (lambda: gradtx.momo(beta=1.5), "beta"),
        (lambda: gradtx.momo(learning_rate=-1.0), "learning_rate"),
        (lambda: gradtx.momo_adam(b2=-0.1), "b2"),
        (lambda: gradtx.galore(0.1, rank=0), "rank"),
        (lambda: gradtx.galore(0.1, update_proj_gap=0), "update_proj_gap"),
        (lambda: gradtx.dpsgd(0.1, -1.0, 1.0, 0), "l2_norm_clip"),
        (lambda: gradtx.dpsgd(0.1, 1.0, -1.0, 0), "noise_multiplier"),
        (lambda: gradtx.dpsgd(0.1, 1.0, 1.0, 0, nesterov=True), "nesterov"),
        (lambda: gradtx.differentially_private_aggregate(1.0, 1.0, key=0, seed=1), "seed"),
    ],
)
def test_bad_arguments_raise_value_errors_naming_them(make, arg):
    with pytest.raises(ValueError, match=arg):
        make()


def test_momo_needs_the_loss_and_the_params():
    params = _params(jnp.float32)
    tx = gradtx.momo()
    with pytest.raises(ValueError, match="value"):
        tx.update(params, tx.init(params), params)
    with pytest.raises(ValueError, match="params"):
        tx.update(params, tx.init(params), value=jnp.array(1.0))


def test_live_hyperparameters():
    params = _params(jnp.float32)
    for tx, name in ((gradtx.momo(), "lower_bound"), (gradtx.acprop(0.1), "b2"),
                     (gradtx.galore(0.1, rank=2), "scale"),
                     (gradtx.dpsgd(0.1, 1.0, 1.0, 0), "noise_multiplier")):  # fmt: skip
        assert name in gradtx.get_hyperparams(tx.init(params))
