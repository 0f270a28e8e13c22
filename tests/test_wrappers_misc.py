"""Every wrapper: stable state layout, jit == eager, extras forwarded, bad input rejected;
plus accumulation, averaging, flattening and monitoring checked against hand computations."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import gradient_stream, nested_params, precision

import gradtx
from gradtx import wrappers as gw
from gradtx._base import EmptyState, GradientTransformation


def _params():
    return {**nested_params(jnp.float32), "step": jnp.int32(3)}


# Each entry builds a transform for the params above (lookahead gets LookaheadParams).
WRAPPERS = {
    "clip_by_block_rms": lambda: gw.clip_by_block_rms(0.5),
    "adaptive_grad_clip": lambda: gw.adaptive_grad_clip(0.05),
    "keep_params_nonnegative": lambda: gradtx.chain(gradtx.sgd(0.1), gw.keep_params_nonnegative()),
    "apply_if_finite": lambda: gw.apply_if_finite(gradtx.adam(0.01), 2),
    "skip_nonfinite_steps": lambda: gw.skip_nonfinite_steps(gradtx.adam(0.01), 3, on_limit="stop"),
    "zero_nans": lambda: gw.zero_nans(),
    "masked": lambda: gw.masked(
        gradtx.adam(0.01),
        {"dense": True, "pair": False, "emb": True, "frozen": False, "step": False},
    ),
    "partition": lambda: gw.partition(
        {"a": gradtx.adam(0.01), "s": gradtx.sgd(0.1, momentum=0.9)},
        gw.labels_by_path({"dense": "a"}, default="s"),
    ),
    "freeze": lambda: gw.freeze(
        {"dense": True, "pair": False, "emb": False, "frozen": False, "step": False}
    ),
    "MultiSteps": lambda: gw.MultiSteps(gradtx.adam(0.01), 2).gradient_transformation(),
    "apply_every": lambda: gw.apply_every(2),
    "flatten": lambda: gw.flatten(gradtx.adam(0.01)),
    "lookahead": lambda: gw.lookahead(gradtx.adam(0.01), 2, 0.5, reset_state=True),
    "ema_params": lambda: gradtx.chain(gradtx.sgd(0.1), gw.ema_params(0.9)),
    "polyak_average": lambda: gradtx.chain(gradtx.sgd(0.1), gw.polyak_average(1)),
    "monitor": lambda: gw.monitor_norms(gradtx.adam(0.01)),
    "lazy_rows": lambda: gw.lazy_rows(gradtx.adam(0.01)),
}


def _setup(name):
    params = _params()
    if name == "lookahead":
        params = gw.LookaheadParams.init_synced(params)
    grads = gradient_stream(nested_params(jnp.float32), 3)
    grads = [{**g, "step": jnp.int32(0)} for g in grads]
    grads[2] = {**grads[2], "emb": grads[2]["emb"].at[0, 0].set(jnp.nan)}
    return WRAPPERS[name](), params, grads


def _layout(tree):
    return jax.tree.structure(tree), [
        (np.shape(x), jnp.result_type(x), getattr(x, "weak_type", False))
        for x in jax.tree.leaves(tree)
    ]


def _steps(tx, params, grads, update):
    state, out = tx.init(params), []
    for g in grads:
        u, state = update(g, state, params)
        out.append((u, state))
    return out


@pytest.mark.parametrize("name", list(WRAPPERS))
def test_state_layout_is_stable_and_jit_matches_eager(name):
    tx, params, grads = _setup(name)
    init_layout = _layout(tx.init(params))
    assert _layout(jax.eval_shape(tx.init, params)) == init_layout  # init works abstractly
    jitted = _steps(tx, params, grads, jax.jit(tx.update))
    eager = _steps(tx, params, grads, tx.update)
    for (u, s), (u_e, s_e) in zip(jitted, eager):
        assert _layout(s) == init_layout
        assert jax.tree.structure(u) == jax.tree.structure(u_e)
        for a, b in zip(jax.tree.leaves((u, s)), jax.tree.leaves((u_e, s_e))):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-6, atol=1e-7)


def _needs_value() -> GradientTransformation:
    """A stateless transform that adds the `value` extra argument to every update."""

    def update(updates, state, params=None, *, value, **extra):
        return jax.tree.map(lambda u: u + value, updates), state

    return GradientTransformation(lambda params: EmptyState(), update)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda t: gw.masked(t, True),
        lambda t: gw.partition({"x": t}, "x"),
        lambda t: gw.apply_if_finite(t, 1),
        lambda t: gw.skip_nonfinite_steps(t),
        lambda t: gw.MultiSteps(t, 1).gradient_transformation(),
        lambda t: gw.flatten(t),
        lambda t: gw.monitor_norms(t),
    ],
    ids=[
        "masked",
        "partition",
        "apply_if_finite",
        "skip_nonfinite_steps",
        "MultiSteps",
        "flatten",
        "monitor_norms",
    ],
)
def test_extra_arguments_reach_the_inner_transform(wrap):
    tx = wrap(_needs_value())
    params = {"a": jnp.zeros(2), "b": jnp.zeros(())}
    u, _ = jax.jit(tx.update)(params, tx.init(params), params, value=jnp.float32(3.0))
    assert u["a"].tolist() == [3.0, 3.0] and float(u["b"]) == 3.0


BAD = [
    (
        lambda: gw.MultiSteps(gradtx.sgd(0.1), -1),
        r"every_k_schedule must be an integer >= 1, got -1",
    ),
    (lambda: gw.multi_steps(gradtx.sgd(0.1), 0), "every_k_schedule must be an integer >= 1"),
    (
        lambda: gw.multi_steps(gradtx.sgd(0.1), lambda s: 0),
        r"every_k_schedule \(schedule at step 0\)",
    ),
    (lambda: gw.multi_steps(gradtx.sgd(0.1), 2, accumulator_dtype=jnp.int32), "accumulator_dtype"),
    (lambda: gw.apply_every(-2), "k must be an integer >= 1, got -2"),
    (lambda: gw.apply_every(1.5), "k must be an integer >= 1"),
    (
        lambda: gw.apply_if_finite(gradtx.sgd(0.1), -1),
        "max_consecutive_errors must be an integer >= 0",
    ),
    (lambda: gw.skip_nonfinite_steps(gradtx.sgd(0.1), -1), "max_skipped must be an integer >= 0"),
    (
        lambda: gw.skip_nonfinite_steps(gradtx.sgd(0.1), 3, on_limit="warn"),
        "on_limit must be one of",
    ),
    (lambda: gw.lookahead(gradtx.sgd(0.1), 0, 0.5), "sync_period must be an integer >= 1"),
    (lambda: gw.lookahead(gradtx.sgd(0.1), 5, 1.5), r"slow_step_size must be in \[0, 1\]"),
    (lambda: gw.clip_by_block_rms(0.0), r"threshold must be in \(0, inf\)"),
    (lambda: gw.adaptive_grad_clip(-1.0), r"clipping must be in \(0, inf\)"),
    (lambda: gw.adaptive_grad_clip(0.1, eps=-1.0), r"eps must be in \[0, inf\)"),
    (lambda: gw.ema_params(1.0), r"decay must be in \[0, 1\)"),
    (lambda: gw.polyak_average(-1), "start_step must be an integer >= 0"),
    (lambda: gw.masked(object(), True), "masked inner must be a gradient transformation"),
    (lambda: gw.lazy_rows(gradtx.identity(), row_axis=0.5), "row_axis must be an int"),
]


@pytest.mark.parametrize("make, match", BAD)
def test_bad_arguments_raise_clear_errors(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_params_are_required_where_needed():
    for tx in (gw.adaptive_grad_clip(0.1), gw.keep_params_nonnegative(), gw.ema_params(0.9)):
        with pytest.raises(ValueError, match="needs `params`"):
            tx.update(jnp.ones(2), tx.init(jnp.ones(2)))
    tx = gw.lookahead(gradtx.sgd(0.1), 2, 0.5)
    with pytest.raises(ValueError, match="LookaheadParams"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)), jnp.ones(2))


def test_monitor_numbers_equal_hand_computed_norms():
    params = nested_params(jnp.float32, with_none=False)
    grads = gradient_stream(params, 3)
    tx = gw.monitor_norms(gradtx.sgd(0.1, momentum=0.9))
    plain = gradtx.sgd(0.1, momentum=0.9)
    state, ps = tx.init(params), plain.init(params)
    norm = lambda t: np.sqrt(
        sum(np.sum(np.asarray(x, np.float64) ** 2) for x in jax.tree.leaves(t))
    )
    for g in grads:
        u, state = jax.jit(tx.update)(g, state, params)
        u_ref, ps = plain.update(g, ps, params)
        for a, b in zip(jax.tree.leaves(u), jax.tree.leaves(u_ref)):  # updates pass through
            np.testing.assert_allclose(a, b, rtol=1e-6)  # (jit vs eager: an ulp)
        np.testing.assert_allclose(state.grad_norm, norm(g), rtol=1e-6)
        np.testing.assert_allclose(state.update_norm, norm(u), rtol=1e-6)
        np.testing.assert_allclose(state.param_norm, norm(params), rtol=1e-6)
        np.testing.assert_allclose(state.update_ratio, norm(u) / norm(params), rtol=1e-6)
        params = gradtx.apply_updates(params, u)
    assert int(state.count) == 3 and int(state.notfinite_count) == 0
    # No parameter-sized buffer: everything beside the inner state is a scalar.
    assert all(np.ndim(x) == 0 for x in jax.tree.leaves(state._replace(inner_state=())))
    _, s = tx.update(grads[0], tx.init(params))  # without params the ratio is NaN
    assert np.isnan(s.update_ratio) and np.isfinite(s.update_norm)


@pytest.mark.parametrize("debias", [True, False])
def test_ema_params_matches_a_numpy_reference(debias):
    params = nested_params(jnp.float32, with_none=False)
    grads = gradient_stream(params, 6)
    beta = 0.8
    tx = gradtx.chain(gradtx.sgd(0.1), gw.ema_params(beta, debias=debias))
    state = tx.init(params)
    avg = jax.tree.map(lambda p: np.asarray(p, np.float64), params)
    m = jax.tree.map(lambda p: np.zeros(p.shape), params)
    for t, g in enumerate(grads, start=1):
        u, state = tx.update(g, state, params)
        params = gradtx.apply_updates(params, u)
        if debias:
            m = jax.tree.map(
                lambda m, p: beta * m + (1 - beta) * np.asarray(p, np.float64), m, params
            )
            avg = jax.tree.map(lambda m, t=t: m / (1 - beta**t), m)
        else:
            avg = jax.tree.map(
                lambda a, p: beta * a + (1 - beta) * np.asarray(p, np.float64), avg, params
            )
        for a, b in zip(jax.tree.leaves(gw.averaged_params(state)), jax.tree.leaves(avg)):
            np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-6)


def test_polyak_average_is_the_mean_of_the_iterates_after_start_step():
    params = {"w": jnp.zeros(2)}
    tx = gradtx.chain(gradtx.sgd(1.0), gw.polyak_average(start_step=2))
    state, iterates = tx.init(params), []
    for t in range(6):
        u, state = tx.update({"w": -jnp.array([1.0, 2.0]) * t}, state, params)
        params = gradtx.apply_updates(params, u)
        iterates.append(np.asarray(params["w"]))
    np.testing.assert_allclose(gw.averaged_params(state)["w"], np.mean(iterates[2:], axis=0))
    with pytest.raises(ValueError, match="exactly one"):
        gw.averaged_params(gradtx.sgd(0.1).init(params))


def test_multi_steps_emulates_a_k_times_larger_batch():
    params = nested_params(jnp.float32, with_none=False)
    micro = gradient_stream(params, 12, seed=3)
    k = 3
    ms = gw.MultiSteps(gradtx.adam(0.05), k)
    tx, big = ms.gradient_transformation(), gradtx.adam(0.05)
    state, big_state = tx.init(params), big.init(params)
    update = jax.jit(tx.update)
    p_ms, p_big = params, params
    for j in range(0, 12, k):
        for g in micro[j : j + k]:
            u, state = update(g, state, p_ms)
            p_ms = gradtx.apply_updates(p_ms, u)
        assert bool(ms.has_updated(state))
        mean = jax.tree.map(lambda *gs: sum(gs) / k, *micro[j : j + k])
        u_big, big_state = big.update(mean, big_state, p_big)
        p_big = gradtx.apply_updates(p_big, u_big)
        for a, b in zip(jax.tree.leaves(p_ms), jax.tree.leaves(p_big)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # Memory: the inner state plus exactly one parameter-sized accumulator.
    n_params = sum(np.size(x) for x in jax.tree.leaves(params))
    n_inner = sum(np.size(x) for x in jax.tree.leaves(state.inner_opt_state))
    n_all = sum(np.size(x) for x in jax.tree.leaves(state))
    assert n_all - n_inner - 2 == n_params  # 2 = the two int32 counters


def test_multi_steps_should_skip_update_fn_ignores_a_mini_step():
    def skip_nonfinite(updates, gradient_step, params):
        del gradient_step, params
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(updates)]))
        return jnp.logical_not(finite), {"skipped": jnp.logical_not(finite)}

    tx = gw.multi_steps(gradtx.sgd(1.0), 2, should_skip_update_fn=skip_nonfinite)
    state = tx.init(jnp.zeros(1))
    outs = []
    for g in (1.0, jnp.nan, 3.0):
        u, state = tx.update(jnp.array([g]), state)
        outs.append(u.tolist())
    assert outs == [[0.0], [0.0], [-2.0]] and not bool(state.skip_state["skipped"])


def test_flatten_groups_by_dtype_and_passes_untrained_leaves():
    params = {
        "a": jnp.ones((2, 3)),
        "h": jnp.ones(4, jnp.bfloat16),
        "i": jnp.arange(3),
        "n": None,
        "b": jnp.ones(2),
    }
    grads = {**jax.tree.map(lambda p: None if p is None else p * 0.5, params), "i": jnp.arange(3)}
    tx = gw.flatten(gradtx.adam(0.1))
    state = tx.init(params)
    mu = state.inner_state[0][0].ema
    assert sorted(mu) == ["bfloat16", "float32"] and mu["float32"].shape == (8,)
    u, _ = jax.jit(tx.update)(grads, state, params)
    ref = gradtx.adam(0.1)
    u_ref, _ = ref.update(grads, ref.init(params), params)
    for key in ("a", "h", "b"):
        assert u[key].dtype == params[key].dtype
        np.testing.assert_allclose(
            np.asarray(u[key], np.float32), np.asarray(u_ref[key], np.float32), rtol=1e-2
        )
    assert u["n"] is None and u["i"].tolist() == [0, 1, 2]


@pytest.mark.parametrize("max_leaf_size", [0, 3, 6, 100])
def test_flatten_groups_only_small_leaves(max_leaf_size):
    """With ``max_leaf_size`` the small leaves share a vector per dtype and the large ones
    reach the inner transform as they are; the steps equal the unflattened optimizer's."""
    with precision("float64"):
        params = {
            "w": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4),
            "b": jnp.array([0.5, -0.25, 1.0]),
            "s": jnp.array(2.0),
            "h": jnp.ones(6, jnp.float32),
            "i": jnp.arange(3),
            "n": None,
        }
        tx, ref = gw.flatten(gradtx.adam(0.1), max_leaf_size=max_leaf_size), gradtx.adam(0.1)
        state, ref_state = tx.init(params), ref.init(params)
        mu = state.inner_state[0][0].ema
        large = [k for k in ("w", "b", "s", "h") if params[k].size > max_leaf_size]
        assert len(mu.get("large", ())) == len(large)
        small64 = sum(params[k].size for k in ("w", "b", "s") if k not in large)
        assert mu["float64"].shape == (small64,) if small64 else "float64" not in mu
        update = jax.jit(tx.update)
        p = params
        for k in range(3):
            g = jax.tree.map(
                lambda x, k=k: (
                    None if x is None else (x if x.dtype.kind == "i" else jnp.sin(x + k))
                ),
                p,
                is_leaf=lambda x: x is None,
            )
            u, state = update(g, state, p)
            u_ref, ref_state = ref.update(g, ref_state, p)
            for key in ("w", "b", "s", "h"):
                assert u[key].shape == params[key].shape and u[key].dtype == params[key].dtype
                np.testing.assert_allclose(u[key], u_ref[key], rtol=1e-6, atol=0)
            assert u["n"] is None and u["i"].tolist() == [0, 1, 2]
            p = gradtx.apply_updates(p, u)
        assert jax.tree.structure(state) == jax.tree.structure(tx.init(params))


def test_flatten_rejects_a_bad_max_leaf_size():
    with pytest.raises(ValueError, match="max_leaf_size must be an integer >= 0"):
        gw.flatten(gradtx.adam(0.1), max_leaf_size=-1)
    with pytest.raises(ValueError, match="max_leaf_size must be an integer >= 0"):
        gw.flatten(gradtx.adam(0.1), max_leaf_size=2.5)


def test_polyak_average_survives_a_saturated_step_count():
    """At the largest int32 count the average keeps its weight ~1/2^31 (count + 1 in int32
    would wrap to negative and restart the average at the current parameters)."""
    tx = gradtx.polyak_average()
    w = jnp.ones(2)
    state = tx.init(w)
    state = state._replace(
        count=jnp.array(np.iinfo(np.int32).max, jnp.int32), average=jnp.full(2, 5.0)
    )
    _, state = tx.update(jnp.zeros(2), state, w)
    np.testing.assert_allclose(np.asarray(state.average), 5.0, rtol=1e-6)
