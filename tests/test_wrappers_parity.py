"""Step-by-step float64 parity of the wrappers with their Optax counterparts."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import RTOL, assert_trees_close, gradient_stream, nested_params, precision

import gradtx
from gradtx import wrappers as gw

STEPS = 24
NAN_STEPS = (3, 7, 8, 15)


def _mask_fn(p):
    return jax.tree.map(lambda x: x.ndim != 1, p)


PREFIX_MASK = {"dense": True, "pair": False, "emb": True, "frozen": False}
LABELS = {"dense": {"w": "adam", "b": "sgd"}, "pair": "sgd", "emb": "adam", "frozen": "sgd"}


def _labels_fn(p):
    return jax.tree.map(lambda x: "adam" if x.ndim > 1 else "sgd", p)


def _case(name, ours, theirs, positive=False, inject_nan=False):
    return pytest.param(ours, theirs, positive, inject_nan, id=name)


# (our transform, Optax's transform, params made positive, NaN injected)
CASES = [
    _case(
        "masked-tree",
        lambda: gw.masked(gradtx.adam(0.01), _mask_fn(nested_params(jnp.float64))),
        lambda: optax.masked(optax.adam(0.01), _mask_fn(nested_params(jnp.float64))),
    ),
    _case(
        "masked-fn",
        lambda: gw.masked(gradtx.sgd(0.1, momentum=0.9), _mask_fn),
        lambda: optax.masked(optax.sgd(0.1, momentum=0.9), _mask_fn),
    ),
    _case(
        "masked-prefix",
        lambda: gw.masked(gradtx.adam(0.01), PREFIX_MASK),
        lambda: optax.masked(optax.adam(0.01), PREFIX_MASK),
    ),
    _case(
        "partition-tree",
        lambda: gw.partition(
            {"adam": gradtx.adam(0.01), "sgd": gradtx.sgd(0.1, momentum=0.9)}, LABELS
        ),
        lambda: optax.partition(
            {"adam": optax.adam(0.01), "sgd": optax.sgd(0.1, momentum=0.9)}, LABELS
        ),
    ),
    _case(
        "multi_transform-fn",
        lambda: gw.multi_transform(
            {"adam": gradtx.adam(0.01), "sgd": gradtx.sgd(0.1, momentum=0.9)}, _labels_fn
        ),
        lambda: optax.multi_transform(
            {"adam": optax.adam(0.01), "sgd": optax.sgd(0.1, momentum=0.9)}, _labels_fn
        ),
    ),
    _case(
        "MultiSteps-k3",
        lambda: gw.MultiSteps(gradtx.adam(0.01), 3).gradient_transformation(),
        lambda: optax.MultiSteps(
            optax.adam(0.01), 3, accumulator_dtype=jnp.float64
        ).gradient_transformation(),
    ),
    _case(
        "MultiSteps-schedule-sum",
        lambda: gw.multi_steps(gradtx.sgd(0.05, momentum=0.9), lambda s: 1 + s % 3, False),
        lambda: optax.MultiSteps(
            optax.sgd(0.05, momentum=0.9),
            lambda s: 1 + s % 3,
            use_grad_mean=False,
            accumulator_dtype=jnp.float64,
        ).gradient_transformation(),
    ),
    _case(
        "apply_every",
        lambda: gradtx.chain(gw.apply_every(3), gradtx.sgd(0.1)),
        lambda: optax.chain(optax.apply_every(3), optax.sgd(0.1)),
    ),
    _case(
        "apply_if_finite",
        lambda: gw.apply_if_finite(gradtx.adam(0.01), max_consecutive_errors=2),
        lambda: optax.apply_if_finite(optax.adam(0.01), max_consecutive_errors=2),
        inject_nan=True,
    ),
    _case(
        "zero_nans",
        lambda: gradtx.chain(gw.zero_nans(), gradtx.adam(0.01)),
        lambda: optax.chain(optax.zero_nans(), optax.adam(0.01)),
        inject_nan=True,
    ),
    _case(
        "flatten",
        lambda: gw.flatten(gradtx.adam(0.01)),
        lambda: optax.flatten(optax.adam(0.01)),
    ),
    _case(
        "clip_by_block_rms",
        lambda: gradtx.chain(gw.clip_by_block_rms(1.0), gradtx.sgd(0.1)),
        lambda: optax.chain(optax.clip_by_block_rms(1.0), optax.sgd(0.1)),
    ),
    _case(
        "adaptive_grad_clip",
        lambda: gradtx.chain(gw.adaptive_grad_clip(0.1), gradtx.adam(0.01)),
        lambda: optax.chain(optax.adaptive_grad_clip(0.1), optax.adam(0.01)),
    ),
    _case(
        "keep_params_nonnegative",
        lambda: gradtx.chain(gradtx.sgd(0.3), gw.keep_params_nonnegative()),
        lambda: optax.chain(optax.sgd(0.3), optax.keep_params_nonnegative()),
        positive=True,
    ),
]


def _grads(params, inject_nan):
    grads = gradient_stream(params, STEPS)
    if inject_nan:
        for t in NAN_STEPS:
            grads[t] = {**grads[t], "emb": grads[t]["emb"].at[1, 0].set(jnp.nan)}
    return grads


def _run(tx, params, grads, add=gradtx.apply_updates):
    update = jax.jit(tx.update)
    state = tx.init(params)
    out = []
    for g in grads:
        u, state = update(g, state, params)
        params = add(params, u)
        out.append((u, params, state))
    return out


@pytest.mark.parametrize("ours, theirs, positive, inject_nan", CASES)
def test_wrapper_parity_float64(ours, theirs, positive, inject_nan):
    with precision("float64") as dtype:
        params = nested_params(dtype)
        if positive:
            params = jax.tree.map(jnp.abs, params)
        grads = _grads(params, inject_nan)
        mine, ref = _run(ours(), params, grads), _run(theirs(), params, grads)
        floor = max(float(np.max(np.abs(x))) for x in jax.tree.leaves(params))
        for t, ((u, p, _), (u_ref, p_ref, _)) in enumerate(zip(mine, ref)):
            assert_trees_close(p, p_ref, RTOL["float64"], what=f"step {t} params", floor=floor)
            assert_trees_close(u, u_ref, 5 * RTOL["float64"], what=f"step {t} updates")


def test_apply_if_finite_counters_match_optax():
    with precision("float64") as dtype:
        params = nested_params(dtype)
        grads = _grads(params, inject_nan=True)
        ours = _run(gw.apply_if_finite(gradtx.sgd(0.1), 2), params, grads)
        theirs = _run(optax.apply_if_finite(optax.sgd(0.1), 2), params, grads)
        for (_, _, s), (_, _, s_ref) in zip(ours, theirs):
            for field in ("notfinite_count", "last_finite", "total_notfinite"):
                assert int(getattr(s, field)) == int(getattr(s_ref, field)), field
        assert int(ours[-1][2].total_notfinite) == len(NAN_STEPS)


def test_apply_if_finite_gives_up_like_optax():
    """After more than max_consecutive_errors bad steps in a row, both apply the step."""
    with precision("float64") as dtype:
        params = nested_params(dtype, with_none=False)
        grads = gradient_stream(params, 4)
        grads[1] = jax.tree.map(lambda g: g * jnp.nan, grads[1])
        grads[2] = jax.tree.map(lambda g: g * jnp.nan, grads[2])
        ours = _run(gw.apply_if_finite(gradtx.sgd(0.1), 1), params, grads)
        theirs = _run(optax.apply_if_finite(optax.sgd(0.1), 1), params, grads)
        for t in range(4):
            a, b = jax.tree.leaves(ours[t][1]), jax.tree.leaves(theirs[t][1])
            for x, y in zip(a, b):
                np.testing.assert_array_equal(np.isnan(x), np.isnan(y))
        assert np.isnan(np.asarray(ours[2][1]["emb"])).all()  # the third step was applied


def test_zero_nans_found_nan_matches_optax():
    with precision("float64") as dtype:
        params = nested_params(dtype, with_none=False)
        grads = _grads(params, inject_nan=True)
        ours = _run(gw.zero_nans(), params, grads)
        theirs = _run(optax.zero_nans(), params, grads)
        for t, ((_, _, s), (_, _, s_ref)) in enumerate(zip(ours, theirs)):
            assert jax.tree.map(bool, s.found_nan) == jax.tree.map(bool, s_ref.found_nan)
            assert int(s.nan_count) == (t in NAN_STEPS)
        assert int(ours[-1][2].total_nan_steps) == len(NAN_STEPS)


def _lookahead_add(lib):
    def add(params, updates):
        return type(params)(*[lib.apply_updates(p, u) for p, u in zip(params, updates)])

    return add


@pytest.mark.parametrize("reset_state", [False, True])
def test_lookahead_parity_float64(reset_state):
    with precision("float64") as dtype:
        base = nested_params(dtype)
        grads = gradient_stream(base, STEPS)
        ours = _run(
            gw.lookahead(gradtx.adam(0.05), 5, 0.5, reset_state=reset_state),
            gw.LookaheadParams.init_synced(base),
            grads,
            add=_lookahead_add(gradtx),
        )
        theirs = _run(
            optax.lookahead(optax.adam(0.05), 5, 0.5, reset_state=reset_state),
            optax.LookaheadParams.init_synced(base),
            grads,
            add=_lookahead_add(optax),
        )
        floor = max(float(np.max(np.abs(x))) for x in jax.tree.leaves(base))
        for t, ((_, p, _), (_, p_ref, _)) in enumerate(zip(ours, theirs)):
            for field in ("fast", "slow"):
                assert_trees_close(
                    getattr(p, field),
                    getattr(p_ref, field),
                    RTOL["float64"],
                    what=f"step {t} {field}",
                    floor=floor,
                )


def test_masked_state_covers_only_the_masked_leaves():
    with precision("float32") as dtype:
        params = nested_params(dtype)
        state = gw.masked(gradtx.adam(0.01), PREFIX_MASK).init(params)
        selected = {"dense": params["dense"], "emb": params["emb"]}
        plain = gradtx.adam(0.01).init(selected)
        sizes = lambda s: sorted(np.size(x) for x in jax.tree.leaves(s))
        assert sizes(state) == sizes(plain)
        theirs = optax.masked(optax.adam(0.01), PREFIX_MASK).init(params)
        mu = theirs.inner_state[0].mu
        assert sorted(np.size(x) for x in jax.tree.leaves(mu)) == sorted(
            np.size(x) for x in jax.tree.leaves(selected)
        )
