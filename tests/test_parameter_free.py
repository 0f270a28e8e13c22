"""What the common battery does not see in the parameter-free family: the schedule-free
average and its evaluation point, the generic wrappers, where gradtx departs from Optax on
purpose (warm-up, zero gradients), and step-by-step parity on a problem where the estimated
step sizes actually grow (the battery's random gradients barely move them).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import assert_trees_close, fast_jit, precision

import gradtx
from gradtx import scale_by_dog, scale_by_mechanic, schedule_free, schedule_free_eval_params

A = jnp.array([1.0, 3.0, 10.0])


def _quadratic_grad(params):
    return jax.tree.map(lambda w: A[: w.shape[-1]] * w, params)


def _trajectory(tx, params, steps, grad_fn=_quadratic_grad):
    """(params, state) after each of ``steps`` steps, one jitted ``lax.scan``."""

    def body(carry, _):
        p, s = carry
        u, s = tx.update(grad_fn(p), s, p)
        p = gradtx.apply_updates(p, u)
        return (p, s), (p, s)

    return fast_jit(lambda p: jax.lax.scan(body, (p, tx.init(p)), None, length=steps)[1])(params)


def _params():
    return {"a": jnp.array([1.0, -2.0, 0.5]), "b": (jnp.array([[0.3, 2.0, -1.0]]), None)}


def test_eval_params_are_the_weighted_average_even_when_b1_changes():
    """x_t from schedule_free_eval_params equals the average of the z iterates, computed
    independently, after every step; b1 is changed midway with set_hyperparams."""
    with precision("float64"):
        tx, w = gradtx.schedule_free_sgd(0.1, weight_decay=0.01), jnp.array([1.0, -2.0, 0.5])
        state, x, lr_max, wsum = tx.init(w), np.asarray(w), 0.0, 0.0
        update, evaluate = fast_jit(tx.update), fast_jit(schedule_free_eval_params)
        for t in range(12):
            if t == 5:
                state = gradtx.set_hyperparams(state, b1=0.6)
            z_old, y = np.asarray(state.inner_state.z), np.asarray(w)
            u, state = update(A * w, state, w)
            w = gradtx.apply_updates(w, u)
            z = np.asarray(state.inner_state.z)
            np.testing.assert_allclose(z, z_old - 0.1 * (A * y + 0.01 * y), rtol=1e-13)
            lr_max, wsum = max(lr_max, 0.1), wsum + 0.1**2
            x = (1 - 0.1**2 / wsum) * x + 0.1**2 / wsum * z
            np.testing.assert_allclose(evaluate(state, w), x, rtol=1e-12)
            b1 = 0.6 if t >= 5 else 0.9
            np.testing.assert_allclose(w, b1 * x + (1 - b1) * z, rtol=1e-12, atol=1e-15)


def test_wrapper_form_equals_the_aliases_and_takes_optax_members():
    """schedule_free(sgd(lr), lr) is schedule_free_sgd(lr); an Optax base works; the
    evaluation point is found inside a chain, and a state without one is rejected."""
    params = _params()
    alias = _trajectory(gradtx.schedule_free_sgd(0.05), params, 20)[0]
    generic = _trajectory(schedule_free(gradtx.sgd(0.05), 0.05), params, 20)[0]
    foreign = _trajectory(schedule_free(optax.sgd(0.05), 0.05), params, 20)[0]
    assert_trees_close(generic, alias, 1e-6)
    assert_trees_close(foreign, alias, 1e-6)
    tx = gradtx.chain(gradtx.clip_by_global_norm(10.0), gradtx.schedule_free_adamw(0.01))
    state = tx.init(params)
    u, state = fast_jit(tx.update)(_quadratic_grad(params), state, params)
    y = gradtx.apply_updates(params, u)
    x = schedule_free_eval_params(state, y)
    assert jax.tree.structure(x) == jax.tree.structure(y) and x["b"][1] is None
    with pytest.raises(ValueError, match="exactly one ScheduleFreeState"):
        schedule_free_eval_params(gradtx.adam(0.1).init(params), params)
    with pytest.raises(ValueError, match="needs `params`"):
        tx.update(_quadratic_grad(params), state)


def test_warmup_and_schedules_are_read_at_the_base_optimizers_step():
    """gradtx's warm-up is the authors' (first rate lr/T); Optax 0.2.8 reads the weight's
    rate one step ahead, so its first step is zero. Optax's wrapper given the schedule one
    step behind equals gradtx, which shows the offset is the only difference."""
    with precision("float64"):
        params, lr, warm = _params(), 0.1, 4
        ours = _trajectory(gradtx.schedule_free_sgd(lr, warmup_steps=warm), params, 10)[0]
        ramp = lambda c: lr * jnp.minimum(1.0, jnp.asarray(c, jnp.float64) / warm)
        shifted = optax.contrib.schedule_free(optax.sgd(lambda c: ramp(c + 1)), ramp)
        assert_trees_close(ours, _trajectory(shifted, params, 10)[0], 1e-12)
        plain = _trajectory(optax.contrib.schedule_free_sgd(lr, warmup_steps=warm), params, 1)
        assert_trees_close(plain[0], jax.tree.map(lambda p: p[None], params), 0.0)
        first = jax.tree.map(lambda p: p[0], ours)
        expected = jax.tree.map(lambda p, g: p - lr / warm * g, params, _quadratic_grad(params))
        assert_trees_close(first, expected, 1e-12)


def test_zero_gradients_keep_the_distance_estimate():
    """Optax's Prodigy and D-Adaptation divide 0 by 0 on a zero-gradient step (NaN); gradtx
    keeps d, as the authors' code (which skips the step) does."""
    params, zeros = _params(), jax.tree.map(jnp.zeros_like, _params())
    for name in ("prodigy", "dadapt_adamw"):
        theirs = getattr(optax.contrib, name)()
        _, state = fast_jit(theirs.update)(zeros, theirs.init(params), params)
        assert np.isnan(float(state.estim_lr)), name
        tx = getattr(gradtx, name)()
        u, state = fast_jit(tx.update)(zeros, tx.init(params), params)
        assert float(state.inner_state[0].estim_lr) == pytest.approx(1e-6), name
        assert all(bool(jnp.all(x == 0)) for x in jax.tree.leaves(u)), name


_GROWING = [
    ("prodigy", {}),
    ("prodigy", {"safeguard_warmup": True, "weight_decay": 1e-3, "estim_lr_coef": 2.0}),
    ("dadapt_adamw", {}),
    ("dog", {}),
    ("dowg", {}),
    ("cocob", {}),
    ("mechanize", {"base_optimizer": gradtx.adam(1.0)}),
]


@pytest.mark.parametrize("name, kwargs", _GROWING, ids=[f"{n}-{len(k)}" for n, k in _GROWING])
def test_parity_with_optax_while_the_step_size_grows(name, kwargs):
    """60 float64 steps on the quadratic from far away, where the estimated steps grow by
    orders of magnitude: gradtx follows Optax step by step (the same base optimizer object
    for Mechanic)."""
    with precision("float64"):
        params = jax.tree.map(lambda p: 10.0 * p, _params())
        ours = _trajectory(getattr(gradtx, name)(**kwargs), params, 60)[0]
        theirs = _trajectory(getattr(optax.contrib, name)(**kwargs), params, 60)[0]
        assert_trees_close(ours, theirs, 1e-10, floor=20.0)
        moved = float(jnp.max(jnp.abs(ours["a"][-1] - params["a"])))
        assert moved > 1.0, f"{name} barely moved ({moved:.3g}): not a growing-step test"


@pytest.mark.parametrize("name", ["prodigy", "dadapt_adamw"])
def test_d_adaptation_at_rate_one_finds_the_scale(name):
    """At the defaults the D-adaptation methods reach 1e-8 on the quadratic within 1000 steps
    from d0 = 1e-6 (test_convergence runs them at a smaller rate: at rate 1 they then cycle)."""
    with precision("float64"):
        ws = _trajectory(getattr(gradtx, name)(), jnp.ones(3), 1000)[0]
        assert float(jnp.min(jnp.max(jnp.abs(ws), axis=1))) < 1e-8


def test_mechanic_and_dog_read_the_first_parameters():
    """Mechanic's x0 is the parameters of the first step, not those given to init (as in
    Optax); DoG's heuristic r_eps is computed from the parameters given to init."""
    w, g = jnp.array([3.0, -4.0]), jnp.array([1.0, 2.0])
    tx = scale_by_mechanic(gradtx.sgd(1.0))
    update = fast_jit(tx.update)
    from_zeros, _ = update(g, tx.init(jnp.zeros(2)), w)
    from_w, _ = update(g, tx.init(w), w)
    np.testing.assert_array_equal(from_zeros, from_w)
    state = scale_by_dog(("heuristic", 1e-6)).init(w)
    assert float(state.max_dist) == pytest.approx(1e-6 * 6.0)


def test_complex_parameters_with_real_values_match_the_real_run():
    """Complex leaves are handled through |.|^2 and Re<.,.>: with real values they give the
    real trajectory (float64: in float32, XLA's different fusions of the two programs differ
    by an ulp, which DoWG's first steps amplify). COCOB, a per-coordinate bet, rejects them."""
    with precision("float64"):
        _check_complex()
    tx, c = gradtx.cocob(), jnp.array([1.0, -2.0], jnp.complex64)
    with pytest.raises(ValueError, match="real parameters only"):
        tx.update(c, tx.init(c), c)


def _check_complex():
    real = jnp.array([1.0, -2.0, 0.5])
    grad = lambda w: A * w
    for name, kwargs in [("prodigy", {}), ("dadapt_adamw", {}), ("dowg", {}),
                         ("mechanize", {"base_optimizer": gradtx.sgd(1.0)})]:  # fmt: skip
        tx = getattr(gradtx, name)(**kwargs)
        ours = _trajectory(tx, real, 15, grad)[0]
        cplx = _trajectory(tx, real.astype(jnp.complex128), 15, grad)[0]
        np.testing.assert_allclose(cplx.real, ours, rtol=1e-9, atol=1e-12, err_msg=name)
        assert float(jnp.max(jnp.abs(cplx.imag))) == 0.0, name
