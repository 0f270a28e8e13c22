"""Sophia and SAM beyond the common battery: the Hutchinson estimator, the options the parity
cases (``tests/cases``) do not reach, and SAM (a wrapper, not a registered optimizer), each
against ``optax.contrib`` step by step. Newton-Schulz and Muon: ``test_orthogonal.py``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import (
    assert_run_close,
    assert_trees_close,
    gradient_stream,
    precision,
    run_jitted,
    tree_max_abs,
)

import gradtx
from gradtx import sophia
from gradtx.transforms import _hessian_diagonal as hd
from gradtx.wrappers._sam import normalize, sam

STEPS = 50


# ---------------------------------------------------------------------------------------
# Hutchinson and Sophia


def _objective(p):
    """Not separable and not quadratic: the probes matter."""
    a, b = p["a"], p["b"]
    return jnp.sum(jnp.cosh(a)) + jnp.sum(b**4) / 4 + a[0] * b[1] + jnp.sum(a[:-1] * a[1:])


def _tree(dtype):
    rng = np.random.default_rng(4)
    return {k: jnp.asarray(rng.normal(size=n), dtype) for k, n in (("a", 5), ("b", 3))}


def test_hutchinson_estimates_the_hessian_diagonal():
    with precision("float64"):
        h = jnp.asarray(np.random.default_rng(5).normal(size=(6, 6)))
        h = h @ h.T
        w = jnp.ones(6)

        @jax.jit
        def estimate(key, h):
            tx = hd.hutchinson_estimator_diag_hessian(key)
            return tx.update(w, tx.init(w), w, value_fn=lambda w: 0.5 * w @ h @ w)[0]

        samples = jax.vmap(estimate, (0, None))(jax.random.split(jax.random.key(0), 2048), h)
        # z * Hz = diag(H) + sum_{j != i} H_ij z_i z_j: unbiased, with a known variance
        std = jnp.sqrt((jnp.sum(h**2, axis=1) - jnp.diag(h) ** 2) / 2048)
        assert bool(jnp.all(jnp.abs(samples.mean(0) - jnp.diag(h)) < 5 * std))
        diagonal = jnp.diag(jnp.arange(1.0, 7.0))  # a diagonal Hessian: exact with one probe
        assert_trees_close(estimate(jax.random.key(7), diagonal), jnp.arange(1.0, 7.0), 0)


def test_hutchinson_probes_are_optaxs_for_the_same_key():
    with precision("float64"):
        params = _tree(jnp.float64)
        ours = hd.hutchinson_estimator_diag_hessian(jax.random.PRNGKey(3))
        theirs = optax.contrib.hutchinson_estimator_diag_hessian(jax.random.PRNGKey(3))
        s_ours, s_theirs = ours.init(params), theirs.init(params)
        step_ours = jax.jit(lambda s: ours.update(params, s, params, obj_fn=_objective))
        step_theirs = jax.jit(lambda s: theirs.update(params, s, params, obj_fn=_objective))
        for _ in range(3):  # the key advances the same way
            (u, s_ours), (v, s_theirs) = step_ours(s_ours), step_theirs(s_theirs)
            assert_trees_close(u, v, 1e-14)


def test_sophia_matches_optax_with_random_probes():
    """The probes agree, so the trajectories do, on an objective whose Hessian is not
    diagonal, for 50 steps: float64 against Optax to 1e-12, float32 against
    ``optax.inject_hyperparams`` (hyperparameters stored alike) to 1e-6."""
    kwargs = {"update_interval": 3, "gamma": 0.5, "clip_threshold": 0.3, "b2": 0.9}
    for dtype_name in ("float64", "float32"):
        with precision(dtype_name) as dtype:
            params = _tree(dtype)
            grads = gradient_stream(params, STEPS)
            ours = run_jitted(sophia(0.05, **kwargs), params, grads, value_fn=_objective)
            if dtype_name == "float64":
                theirs = optax.contrib.sophia(0.05, **kwargs)
            else:
                inject = optax.inject_hyperparams(optax.contrib.sophia, ("update_interval",))
                theirs = inject(0.05, **kwargs)
            theirs = run_jitted(theirs, params, grads, obj_fn=_objective)
            assert_run_close(ours, theirs, params, 1e-12 if dtype_name == "float64" else 1e-6)


def _exact_diagonal():
    """A deterministic estimator for both libraries: the exact Hessian diagonal."""

    def update(updates, state, params=None, value_fn=None, obj_fn=None, **extra):
        fn = value_fn or obj_fn
        flat, unravel = jax.flatten_util.ravel_pytree(params)
        return unravel(jnp.diag(jax.hessian(lambda x: fn(unravel(x)))(flat))), state

    return optax.GradientTransformationExtraArgs(lambda p: optax.EmptyState(), update)


def test_sophia_with_a_custom_estimator_matches_optax():
    with precision("float64"):
        params = _tree(jnp.float64)
        grads = gradient_stream(params, 20)
        kwargs = {"hessian_diagonal_fn": _exact_diagonal(), "update_interval": 2}
        ours = run_jitted(sophia(0.05, **kwargs), params, grads, obj_fn=_objective)
        theirs = run_jitted(optax.contrib.sophia(0.05, **kwargs), params, grads, obj_fn=_objective)
        assert_run_close(ours, theirs, params, 1e-12)


def test_sophia_refreshes_the_curvature_every_update_interval_steps():
    tx = hd.scale_by_hessian_diagonal(b2=0.5, update_interval=3)
    w = jnp.ones(2)
    step = jax.jit(lambda s: tx.update(w, s, w, value_fn=lambda w: jnp.sum(w**2))[1])  # H = 2
    state, nus = tx.init(w), []
    for _ in range(7):
        state = step(state)
        nus.append(float(state.nu[0]))
    assert nus == [1.0, 1.0, 1.0, 1.5, 1.5, 1.5, 1.75]


def test_sophia_needs_the_objective_once():
    w = jnp.ones(2)
    tx = sophia(0.1)
    with pytest.raises(ValueError, match="value_fn=lambda params"):
        tx.update(w, tx.init(w), w)
    with pytest.raises(ValueError, match="not both"):
        tx.update(w, tx.init(w), w, value_fn=jnp.sum, obj_fn=lambda p: jnp.sum(p))
    with pytest.raises(ValueError, match="complex parameters"):
        z = jnp.ones(2, jnp.complex64)
        tx.update(z, tx.init(z), z, value_fn=lambda p: jnp.sum(jnp.abs(p) ** 2))


def test_sophia_verbose_prints_the_win_rate(capfd):
    w = jnp.ones(2)
    tx = sophia(0.1, verbose=True, print_win_rate_every_n_steps=1)
    tx.update(w, tx.init(w), w, value_fn=jnp.sum)
    jax.effects_barrier()
    assert "Sophia optimizer win rate: 0.0" in capfd.readouterr().out


# ---------------------------------------------------------------------------------------
# SAM


def _quartic(p):
    return jnp.sum(p["a"] ** 4) / 4 + jnp.sum(jnp.cos(p["b"])) + p["a"][0] * p["b"][0]


def _sam_trajectory(tx, params, opaque, steps=12):
    grad = jax.grad(_quartic)
    extra = {"grad_fn": lambda q, i: grad(q)} if opaque else {}
    step = jax.jit(lambda p, s: tx.update(grad(p), s, p, **extra))
    state, out = tx.init(params), []
    for _ in range(steps):
        u, state = step(params, state)
        params = gradtx.apply_updates(params, u)
        out.append(params)
    return out


@pytest.mark.parametrize(
    "outer, sync_period, reset_state, opaque",
    [("sgd", 2, True, False), ("adam", 3, False, False), ("adam", 3, True, True)],
)
def test_sam_matches_optax(outer, sync_period, reset_state, opaque):
    """Transparent and opaque modes, float64, 12 steps, each library with its own inner
    optimizers (the paper's normalized ascent as the adversary)."""
    with precision("float64"):
        params = _tree(jnp.float64)
        lib = {"sgd": (gradtx.sgd, optax.sgd, 0.05), "adam": (gradtx.adam, optax.adam, 0.02)}
        ours_opt, theirs_opt, lr = lib[outer]
        args = (sync_period, reset_state, opaque)
        ours = sam(ours_opt(lr), gradtx.chain(normalize(), gradtx.sgd(0.1)), *args)
        adv = optax.chain(optax.contrib.normalize(), optax.sgd(0.1))
        theirs = optax.contrib.sam(theirs_opt(lr), adv, *args)
        pairs = zip(_sam_trajectory(ours, params, opaque), _sam_trajectory(theirs, params, opaque))
        for t, (a, b) in enumerate(pairs):
            assert_trees_close(a, b, 1e-12, what=f"step {t}", floor=tree_max_abs(params))


def test_sam_ascends_then_steps_from_the_cached_weights_with_the_perturbed_gradient():
    loss = lambda w: jnp.sum(w**3)
    tx = sam(gradtx.sgd(0.1), gradtx.chain(normalize(), gradtx.sgd(0.5)), sync_period=2)
    w0 = jnp.array([1.0, 2.0])
    state = tx.init(w0)
    u, state = tx.update(jax.grad(loss)(w0), state, w0)
    g0 = 3 * w0**2
    w1 = w0 + u
    assert_trees_close(w1, w0 + 0.5 * g0 / jnp.linalg.norm(g0), 1e-6)  # normalized ascent
    u, state = tx.update(jax.grad(loss)(w1), state, w1)
    assert_trees_close(w1 + u, w0 - 0.1 * 3 * w1**2, 1e-6)  # from w0, gradient at w1
    assert int(state.steps_since_sync) == 0


def test_sam_and_normalize_edge_cases():
    w = jnp.ones(2)
    np.testing.assert_array_equal(normalize().update(jnp.zeros(2), None)[0], jnp.zeros(2))
    tx = sam(gradtx.sgd(0.1), gradtx.sgd(0.1))
    with pytest.raises(ValueError, match="needs `params`"):
        tx.update(w, tx.init(w))
    tx = sam(gradtx.sgd(0.1), gradtx.sgd(0.1), opaque_mode=True)
    with pytest.raises(ValueError, match="grad_fn"):
        tx.update(w, tx.init(w), w)
    with pytest.raises(ValueError, match="sync_period must be an integer >= 1"):
        sam(gradtx.sgd(0.1), gradtx.sgd(0.1), sync_period=0)
