"""Extreme inputs for every registered optimizer: huge and tiny gradients, float16 and
complex parameters, empty arrays, ``None``, integer and boolean leaves.

What each optimizer does with extreme gradients is a property of its algorithm in float32,
written down in the tables below (and in ``docs/reliability.md``); the tests assert exactly
that behaviour. Where the algorithm itself overflows, the test that asks for a sane step is
an ``xfail`` with the reason, next to a passing test of what actually happens.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from registry import ONE_CASE_PER_OPTIMIZER as CASES

import gradtx

IDS = [c.name for c in CASES]
STEPS = 20
DIRECTION = np.array([1.0, -1.0, 0.5, -2.0])  # gradient = scale * DIRECTION, every step

# Optimizers whose update is linear in the gradient: |Δw| = lr |g| x (a momentum factor).
LINEAR = {"gd", "sgd", "heavy_ball", "ema_momentum"}
# Optimizers that accumulate g²: at |g| = 1e30, g² = 1e60 overflows float32 (max 3.4e38),
# the accumulator is +inf and the update m / sqrt(inf) is exactly 0: the parameters freeze.
# The same happens in Optax and PyTorch; it is the algorithm in float32, not a gradtx bug.
SQUARES = {"adam", "adamw", "nadam", "nadamw", "amsgrad", "rmsprop", "adagrad", "adadelta"}
# Sign-based: the step size does not depend on |g| at all.
SIGN = {"rprop"}
# eps = 1e-8 rounds to 0 in float16, so where a gradient entry is exactly 0 these compute
# 0 / (sqrt(0) + 0) = NaN (Optax does the same).

_STEP_CACHE: dict = {}


def _step(case, kind: str = ""):
    """One jitted (update, apply) per case and input kind, shared by the tests."""
    key = (case.id, kind)
    if key not in _STEP_CACHE:
        tx = case.make()

        @jax.jit
        def step(params, state, grads):
            updates, state = tx.update(grads, state, params)
            return gradtx.apply_updates(params, updates), state

        _STEP_CACHE[key] = (tx, step)
    return _STEP_CACHE[key]


def _constant_gradient_run(case, scale: float):
    """20 steps from w = 0 with the gradient scale * DIRECTION (float32) at every step."""
    tx, step = _step(case, "constant")
    params = {"w": jnp.zeros(4, jnp.float32)}
    grads = {"w": jnp.asarray(DIRECTION * scale, jnp.float32)}
    state = tx.init(params)
    for _ in range(STEPS):
        params, state = step(params, state, grads)
    ratio = -np.asarray(params["w"], np.float64) / (case.kwargs["learning_rate"] * STEPS)
    return params, state, ratio  # ratio: mean step per unit learning rate, signed like g


def _floats(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]


def _assert_no_nan(tree, what):
    for x in _floats(tree):
        assert not np.any(np.isnan(x)), f"{what} has a NaN"


def _assert_sane(case, ratio, scale):
    """The documented step size: linear methods move lr |g| x O(1); sign-based and
    normalized ones lr x O(1), whatever |g|; always against the gradient."""
    assert np.all(np.sign(ratio) == np.sign(DIRECTION)), ratio
    if case.name in LINEAR:  # momentum 0.8 or 0.9 averages to a factor in [0.3, 10]
        factor = ratio / (DIRECTION * scale)
        assert np.all((factor > 0.3) & (factor < 10)), factor
    else:
        assert np.all((np.abs(ratio) > 0.3) & (np.abs(ratio) < 20)), ratio


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_huge_gradients_documented_behaviour(case):
    """|g| = 1e30 (float32) for 20 steps: never a NaN; what each optimizer does."""
    params, state, ratio = _constant_gradient_run(case, 1e30)
    _assert_no_nan((params, state), case.name)
    assert np.all(np.isfinite(np.asarray(params["w"])))
    if case.name in SQUARES:  # g² = inf in the state, the update is exactly 0: frozen
        assert np.all(ratio == 0), ratio
        assert any(np.any(np.isposinf(x)) for x in _floats(state)), "expected an inf moment"
    else:
        _assert_sane(case, ratio, 1e30)
        assert all(np.all(np.isfinite(x)) for x in _floats(state))


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            c,
            marks=pytest.mark.xfail(
                strict=True,
                reason=f"{c.name} accumulates g²: (1e30)² overflows float32 to inf, so "
                "m / sqrt(ν) = 0 and the parameters stop moving (the algorithm in float32; "
                "Optax and PyTorch do the same). Scale the loss or clip the gradient.",
            ),
        )
        if c.name in SQUARES
        else c
        for c in CASES
    ],
    ids=IDS,
)
def test_huge_gradients_move_the_parameters_sanely(case):
    _, _, ratio = _constant_gradient_run(case, 1e30)
    _assert_sane(case, ratio, 1e30)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_tiny_gradients_documented_behaviour(case):
    """|g| = 1e-30: g² underflows to 0, so in every adaptive method but Rprop the eps term
    dominates the denominator and the step is about lr |g| / eps, tiny but finite and
    against the gradient (no 0/0). Linear and sign-based methods are unaffected."""
    params, state, ratio = _constant_gradient_run(case, 1e-30)
    _assert_no_nan((params, state), case.name)
    assert all(np.all(np.isfinite(x)) for x in _floats((params, state)))
    if case.name in LINEAR or case.name in SIGN:
        _assert_sane(case, ratio, 1e-30)
    else:
        assert np.all(np.sign(ratio) == np.sign(DIRECTION)), ratio
        assert np.all(np.abs(ratio) <= 1e-30 * 1e9), ratio  # |g| / eps, eps >= 1e-9


def _loss(w, target):
    wide = jnp.complex64 if jnp.iscomplexobj(w) else jnp.float32
    return jnp.sum(jnp.abs(w.astype(wide) - target) ** 2)


def _quadratic_run(case, dtype, start, target, steps: int = STEPS):
    """Minimize sum |w - target|² from ``start``; returns (first loss, last loss, w, state)."""
    key = (case.id, f"quadratic-{jnp.dtype(dtype).name}")
    if key not in _STEP_CACHE:
        tx = case.make()

        @jax.jit
        def step(params, state, target):
            # For complex w, jax.grad of a real loss is the conjugate of the steepest-descent
            # direction (JAX's convention); optimizers take its conjugate, as in Optax.
            grads = jax.tree.map(jnp.conj, jax.grad(_loss)(params, target))
            updates, state = tx.update(grads, state, params)
            return gradtx.apply_updates(params, updates), state

        _STEP_CACHE[key] = (tx, step)
    tx, step = _STEP_CACHE[key]
    params = jnp.asarray(start, dtype)
    state = tx.init(params)
    first = float(_loss(params, target))
    for _ in range(steps):
        params, state = step(params, state, target)
    return first, float(_loss(params, target)), params, state


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_float16_params_train(case):
    target = jnp.linspace(-1.0, 1.0, 8)
    first, last, w, state = _quadratic_run(case, jnp.float16, jnp.zeros(8), target)
    assert w.dtype == jnp.float16
    _assert_no_nan((w, state), case.name)
    assert last < 0.95 * first, (first, last)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_float16_zero_gradient_entry_stays_finite(case):
    """One entry starts at its optimum: its gradient is exactly 0 at every step."""
    target = jnp.linspace(-1.0, 1.0, 8)
    start = jnp.zeros(8).at[0].set(-1.0)
    _, _, w, state = _quadratic_run(case, jnp.float16, start, target, steps=3)
    _assert_no_nan((w, state), case.name)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_complex64_params(case):
    """Complex parameters train where the algorithm is defined; elsewhere a clear error."""
    target = jnp.linspace(-1.0, 1.0, 6) * (1.0 + 0.5j)
    start = jnp.zeros(6, jnp.complex64)
    if not case.complex_ok:
        # rprop compares signs of successive gradients, undefined for complex numbers.
        with pytest.raises((TypeError, ValueError), match=r"(?i)complex"):
            _quadratic_run(case, jnp.complex64, start, target, steps=1)
        return
    first, last, w, state = _quadratic_run(case, jnp.complex64, start, target)
    assert w.dtype == jnp.complex64
    _assert_no_nan((w, state), case.name)
    assert last < 0.95 * first, (first, last)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_empty_none_integer_and_boolean_leaves(case):
    """0-size arrays train as no-ops; None, int, bool and float0 leaves pass through."""
    params = {
        "w": jnp.ones(3),
        "empty": jnp.zeros((0,)),
        "empty_2d": jnp.zeros((3, 0), jnp.bfloat16),
        "none": None,
        "step": jnp.array(7, jnp.int32),
        "mask": jnp.array([True, False]),
    }
    grads = {
        "w": jnp.array([1.0, -2.0, 0.5]),
        "empty": jnp.zeros((0,)),
        "empty_2d": jnp.zeros((3, 0), jnp.bfloat16),
        "none": None,
        "step": np.zeros((), jax.dtypes.float0),
        "mask": None,
    }
    tx, step = _step(case, "mixed")
    state = tx.init(params)
    new = params
    for _ in range(3):
        new, state = step(new, state, grads)
    assert new["empty"].shape == (0,) and new["empty_2d"].shape == (3, 0)
    assert new["empty_2d"].dtype == jnp.bfloat16 and new["none"] is None
    assert new["step"].dtype == jnp.int32 and int(new["step"]) == 7
    assert new["mask"].tolist() == [True, False]
    assert np.all(np.sign(np.asarray(new["w"] - params["w"])) == [-1, 1, -1])
    _assert_no_nan((new, state), case.name)
