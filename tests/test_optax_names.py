"""Optax's transform and wrapper names in gradtx: step-by-step parity with Optax's objects.

Each name is run next to Optax's object of the same name on a nested tree (dicts, tuples, a
scalar leaf, a ``None`` leaf), in float32 and float64, for tens of steps; the updates, the
parameters and the recorded measurements must agree to the dtype's tolerance. The plain
functions (unit-wise norms, per-example clipping, target updates, skip tests) are in
``test_optax_name_functions.py``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import RTOL, assert_trees_close, gradient_stream, nested_params, tree_max_abs

import gradtx

STEPS = 20
MASK = {"dense": {"w": False, "b": True}, "pair": True, "emb": False, "frozen": True}
NAN_STEPS = (4, 9)


def _decaying(count):
    """A schedule in the default float dtype (Optax's ``linear_schedule`` of an int32 count
    is float32 even under x64, gradtx's is not)."""
    return 0.02 / (1.0 + 0.1 * count)


def _every_third(step):
    return step % 3 != 1


def _loss_above(step, value, **extra):
    del step, extra
    return value > 0.5


# (id, factory of the module (gradtx or optax), options)
CASES = [
    ("centralize", lambda m: m.chain(m.centralize(), m.sgd(0.1)), {}),
    ("normalize_by_update_norm", lambda m: m.normalize_by_update_norm(), {}),
    ("normalize_by_update_norm-scaled", lambda m: m.normalize_by_update_norm(-0.05, 0.1), {}),
    (
        "scale_by_param_block_norm",
        lambda m: m.chain(m.scale_by_param_block_norm(), m.sgd(0.01)),
        {},
    ),
    ("scale_by_param_block_norm-floor", lambda m: m.scale_by_param_block_norm(3.0), {}),
    ("scale_by_param_block_rms", lambda m: m.chain(m.scale_by_param_block_rms(), m.sgd(0.1)), {}),
    ("scale_by_param_block_rms-floor", lambda m: m.scale_by_param_block_rms(1.5), {}),
    (
        "scale_by_distance_over_gradients",
        lambda m: m.scale_by_distance_over_gradients(global_scale=-1.0),
        {"reshape": True},
    ),
    (
        "scale_by_distance_over_gradients-options",
        lambda m: m.scale_by_distance_over_gradients(1e-3, 1e-6, None, -0.5),
        {"reshape": True},
    ),
    ("selective_transform", lambda m: m.selective_transform(m.adam(0.01), freeze_mask=MASK), {}),
    (
        "selective_transform-prefix",
        lambda m: m.selective_transform(m.sgd(0.1, 0.9), freeze_mask={**MASK, "dense": True}),
        {},
    ),
    ("selective_transform-all", lambda m: m.selective_transform(m.adam(0.1), freeze_mask=True), {}),
    (
        "conditionally_transform",
        lambda m: m.conditionally_transform(m.adam(0.01), _every_third),
        {},
    ),
    ("conditionally_mask", lambda m: m.conditionally_mask(m.adam(0.01), _every_third), {}),
    (
        "conditionally_mask-extra",
        lambda m: m.conditionally_mask(m.sgd(0.1, 0.9), _loss_above, forward_extra_args=True),
        {"value": True},
    ),
    (
        "snapshot",
        lambda m: m.chain(m.sgd(0.1, 0.9), m.snapshot("norm", optax.tree.norm), m.clip(0.05)),
        {"measure": "norm"},
    ),
    (
        "monitor",
        lambda m: m.chain(
            m.sgd(0.1, 0.9),
            m.monitor(
                {
                    "norm": optax.tree.norm,
                    "norm_ema": m.measure_with_ema(optax.tree.norm, 0.9),
                    "max_ema": m.measure_with_ema(
                        lambda u: jax.tree.map(jnp.max, u), 0.5, debias=False
                    ),
                }
            ),
            m.clip_by_global_norm(0.05),
        ),
        {"measure": ("norm", "norm_ema", "max_ema")},
    ),
    ("optimistic_adam_v2", lambda m: m.optimistic_adam_v2(0.01), {"live": True}),
    (
        "optimistic_adam_v2-options",
        lambda m: m.optimistic_adam_v2(0.02, alpha=0.5, beta=2.0, b1=0.8, nesterov=False),
        {"live": True},
    ),
    (
        "optimistic_adam_v2-schedule",
        lambda m: m.optimistic_adam_v2(_decaying, eps_root=1e-8),
        {"live": True},
    ),
    (
        "MultiSteps-skip_not_finite",
        lambda m: m.MultiSteps(
            m.adam(0.01),
            2,
            should_skip_update_fn=m.skip_not_finite,
            accumulator_dtype=jnp.result_type(float),
        ).gradient_transformation(),
        {"nan": True, "skip": "num_not_finite"},
    ),
    (
        "MultiSteps-skip_large_updates",
        lambda m: m.MultiSteps(
            m.sgd(0.1),
            3,
            should_skip_update_fn=functools.partial(m.skip_large_updates, max_squared_norm=30.0),
            accumulator_dtype=jnp.result_type(float),
        ).gradient_transformation(),
        {"skip": "norm_squared"},
    ),
]


class _LiveOptax:
    """Optax with its optimizers under ``inject_hyperparams``: float32 hyperparameters stored
    as arrays, as gradtx's live ones are (constant-folded Python floats round differently)."""

    def __getattr__(self, name):
        fn = getattr(optax, name)
        return optax.inject_hyperparams(fn) if name.startswith("optimistic") else fn


def _grads(params, options):
    grads = gradient_stream(params, STEPS)
    if options.get("nan"):
        for t in NAN_STEPS:
            grads[t] = {**grads[t], "emb": grads[t]["emb"].at[0, 1].set(jnp.inf)}
    return grads


def _run(tx, params, grads, options):
    update = jax.jit(tx.update)
    state = jax.jit(tx.init)(params)
    out = []
    for t, g in enumerate(grads):
        extra = {"value": jnp.asarray(1.0 if t % 2 else 0.0)} if options.get("value") else {}
        u, state = update(g, state, params, **extra)
        if options.get("reshape"):  # Optax's LDoG turns a scalar's update into shape (1,)
            u = jax.tree.map(lambda x, p: jnp.reshape(x, jnp.shape(p)), u, params)
        params = gradtx.apply_updates(params, u)
        out.append((u, params, state))
    return out


def _measurements(state, options):
    names = options.get("measure", ())
    names = (names,) if isinstance(names, str) else names
    return {n: optax.tree.get(state, n) for n in names}


@pytest.mark.parametrize("make, options", [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_parity_with_optax(make, options, dtype):
    params = nested_params(dtype)
    grads = _grads(params, options)
    mine = _run(make(gradtx), params, grads, options)
    live = options.get("live") and dtype == jnp.float32
    ref = _run(make(_LiveOptax() if live else optax), params, grads, options)
    rtol = RTOL[dtype.name] * (1 if dtype == jnp.float64 else 20)  # f32: 20 steps of rounding
    floor = tree_max_abs(params)
    for t, ((u, p, s), (u_ref, p_ref, s_ref)) in enumerate(zip(mine, ref)):
        assert_trees_close(p, p_ref, rtol, what=f"step {t} params", floor=floor)
        assert_trees_close(u, u_ref, 5 * rtol, what=f"step {t} updates", floor=tree_max_abs(u_ref))
        got, want = _measurements(s, options), _measurements(s_ref, options)
        assert_trees_close(got, want, rtol, what=f"step {t} measurements")
        if "skip" in options:
            info, info_ref = s.skip_state, s_ref.skip_state
            assert bool(info["should_skip"]) == bool(info_ref["should_skip"]), t
            key = options["skip"]
            np.testing.assert_allclose(info[key], info_ref[key], rtol=rtol)


def test_param_block_scalings_need_params_and_check_min_scale():
    for fn in (gradtx.scale_by_param_block_norm, gradtx.scale_by_param_block_rms):
        tx = fn()
        with pytest.raises(ValueError, match="needs `params`"):
            tx.update(jnp.ones(2), tx.init(jnp.ones(2)))
        with pytest.raises(ValueError, match="min_scale"):
            fn(-1.0)


def test_distance_over_gradients_state_and_validation():
    params = {"w": jnp.ones((2, 3)), "s": jnp.asarray(2.0), "i": jnp.arange(2), "n": None}
    tx = gradtx.scale_by_distance_over_gradients()
    state = tx.init(params)
    assert state.max_dist["w"].shape == () and state.grad_sum_of_squares["s"].shape == ()
    assert state.max_dist["i"] is None and state.init_params["i"] is None
    assert state.init_params["w"].dtype == jnp.float32
    grads = jax.tree.map(lambda p: None if p is None else jnp.ones_like(p), params)
    u, new = jax.jit(tx.update)(grads, state, params)
    assert u["s"].shape == () and u["i"].dtype == params["i"].dtype
    assert jax.tree.structure(new) == jax.tree.structure(state)
    for kwargs, name in [({"reps_rel": 0.0}, "reps_rel"), ({"eps": -1.0}, "eps"),
                         ({"param_dtype": jnp.int32}, "param_dtype")]:  # fmt: skip
        with pytest.raises(ValueError, match=name):
            gradtx.scale_by_distance_over_gradients(**kwargs)


def test_selective_transform_keeps_no_state_for_frozen_leaves():
    params = nested_params(jnp.float32)
    state = gradtx.selective_transform(gradtx.adam(0.1), freeze_mask=MASK).init(params)
    mu = state.inner_states["train"].inner_state[0][0].ema
    assert isinstance(mu["pair"][0], gradtx.MaskedNode) and mu["emb"].shape == (5, 2)
    with pytest.raises(ValueError, match="bools"):
        gradtx.selective_transform(gradtx.adam(0.1), freeze_mask={"w": "yes"})


def test_conditional_wrappers_keep_the_inner_state_and_count_steps():
    tx = gradtx.conditionally_transform(gradtx.zero_nans(), lambda step: step < 1)
    state = tx.init(jnp.zeros(2))
    u, state = tx.update(jnp.array([jnp.nan, 1.0]), state)
    u2, state2 = tx.update(jnp.array([jnp.nan, 1.0]), state)
    assert u.tolist() == [0.0, 1.0] and np.isnan(np.asarray(u2[0]))
    assert bool(state2.inner_state.found_nan) and int(state2.step) == 2
    assert isinstance(state2, gradtx.ConditionallyTransformState)
    mask = gradtx.conditionally_mask(gradtx.sgd(1.0), lambda step: step > 5)
    state = mask.init(jnp.zeros(1))
    assert mask.update(jnp.ones(1), state)[0].tolist() == [0.0]
    assert state._fields == ("step", "inner_state")
    bad = gradtx.conditionally_mask(gradtx.sgd(1.0), lambda step: jnp.ones(2, bool))
    with pytest.raises(ValueError, match="boolean scalar"):
        bad.update(jnp.ones(1), bad.init(jnp.zeros(1)))
    with pytest.raises(ValueError, match="should_transform_fn"):
        gradtx.conditionally_transform(gradtx.sgd(1.0), "step < 3")


def test_conditional_wrappers_do_not_pass_gradtx_gradient_keyword():
    seen = []

    def fn(step, **extra):
        seen.append(sorted(extra))
        return step >= 0

    tx = gradtx.chain(gradtx.conditionally_mask(gradtx.sgd(0.1), fn, forward_extra_args=True))
    tx.update(jnp.ones(1), tx.init(jnp.zeros(1)), value=1.0)
    assert seen == [["value"]]


def test_monitor_state_keeps_its_structure_and_scans():
    tx = gradtx.chain(
        gradtx.sgd(0.1, 0.9),
        gradtx.monitor({"norm": optax.tree.norm,
                        "norm_ema": gradtx.measure_with_ema(optax.tree.norm, 0.9)}),
    )  # fmt: skip
    params = {"w": jnp.ones(3)}
    state = tx.init(params)
    assert float(optax.tree.get(state, "norm")) == 0.0

    def step(carry, g):
        p, s = carry
        u, s = tx.update({"w": g}, s, p)
        return (gradtx.apply_updates(p, u), s), optax.tree.get(s, "norm_ema")

    grads = jnp.arange(12.0).reshape(4, 3)
    (_, final), emas = jax.lax.scan(step, (params, state), grads)
    assert jax.tree.structure(final) == jax.tree.structure(state)
    assert emas.shape == (4,) and float(emas[0]) == pytest.approx(0.1 * np.linalg.norm([0, 1, 2]))


def test_measure_with_ema_averages_an_indicator_as_a_frequency():
    tx = gradtx.measure_with_ema(lambda u: optax.tree.norm(u) > 1.0, decay=0.9)
    ref = optax.measure_with_ema(lambda u: optax.tree.norm(u) > 1.0, decay=0.9)
    s, s_ref = tx.init(jnp.zeros(2)), ref.init(jnp.zeros(2))
    for g in ([3.0, 0.0], [0.1, 0.0], [0.0, 5.0]):
        m, s = tx.update(jnp.array(g), s)
        m_ref, s_ref = ref.update(jnp.array(g), s_ref)
        assert m.dtype == jnp.float32
        np.testing.assert_allclose(m, m_ref, rtol=1e-6)


def test_snapshot_and_monitor_check_their_arguments():
    with pytest.raises(ValueError, match="measure"):
        gradtx.snapshot("x", 3.0)
    with pytest.raises(ValueError, match="mapping"):
        gradtx.monitor([optax.tree.norm])
    with pytest.raises(ValueError, match="measure"):
        gradtx.measure_with_ema("norm", 0.9)
    with pytest.raises(ValueError, match="decay"):
        gradtx.measure_with_ema(optax.tree.norm, 1.5)


def test_normalizations_check_their_arguments_and_keep_zero():
    with pytest.raises(ValueError, match="eps"):
        gradtx.normalize_by_update_norm(eps=-1.0)
    with pytest.raises(ValueError, match="scale_factor"):
        gradtx.normalize_by_update_norm(scale_factor=float("nan"))
    tx = gradtx.normalize_by_update_norm()
    assert tx.update(jnp.zeros(3), tx.init(None))[0].tolist() == [0.0] * 3
    u = gradtx.centralize().update(jnp.ones((2, 3), jnp.bfloat16), {})[0]
    assert u.dtype == jnp.bfloat16 and float(jnp.max(jnp.abs(u))) == 0.0


def test_optimistic_adam_v2_is_registered_with_live_hyperparameters():
    info = gradtx.OPTIMIZERS["optimistic_adam_v2"]
    assert info.family == "optimistic" and {"alpha", "beta"} <= set(info.live_args)
    tx = gradtx.optimistic_adam_v2(0.1, alpha=0.5)
    state = gradtx.set_hyperparams(tx.init(jnp.zeros(2)), beta=0.25)
    assert float(gradtx.get_hyperparams(state)["beta"]) == 0.25
    with pytest.raises(ValueError, match="alpha"):
        gradtx.optimistic_adam_v2(0.1, alpha=float("inf"))
    with pytest.raises(TypeError):
        gradtx.optimistic_adam_v2(0.1, 1.0)  # alpha is keyword-only, as in Optax
