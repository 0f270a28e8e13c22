"""Extreme inputs for every registered optimizer: huge and tiny gradients, float16 and
complex parameters, empty arrays, ``None``, integer and boolean leaves.

What each optimizer does with extreme gradients is a property of its algorithm in float32,
written down as tags in ``EXTREMES`` of its family's cases module (``tests/cases/<family>.py``,
the tags explained below; also in ``docs/reliability.md``); the tests assert exactly that
behaviour. An optimizer without an entry must take finite steps of lr x O(1) against g.
Where the algorithm itself overflows, the test that asks for a sane step is an ``xfail`` with
the reason, next to a passing test of what actually happens.
"""

from __future__ import annotations

import inspect

import cases
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx

CASES = cases.ONE_CASE_PER_OPTIMIZER  # every registered optimizer
IDS = [c.name for c in CASES]
STEPS = 20
DIRECTION = np.array([1.0, -1.0, 0.5, -2.0])  # gradient = scale * DIRECTION, every step


def _tagged(tag: str) -> set[str]:
    """The optimizers whose ``EXTREMES`` entry (``tests/cases/<family>.py``) has ``tag``."""
    return {name for name, tags in cases.EXTREMES.items() if tag in tags}


# What each tag of ``cases.EXTREMES`` means (a family's cases module says why its optimizers
# have theirs; an optimizer with no entry takes finite steps of lr x O(1), against g):
# linear: the update is linear in the gradient, |Δw| = lr |g| x a momentum-like factor.
LINEAR = _tagged("linear")
# squares: the algorithm squares |g| (a moment of g², a squared norm): at |g| = 1e30 that
# overflows float32 to +inf and the update ∝ 1 / inf is exactly 0, the parameters freeze (the
# same in Optax and PyTorch: the algorithm in float32, not a gradtx bug). The inf is in the
# state, except with no_inf_kept: the overflowing product is formed in the step.
SQUARES = _tagged("squares")
NO_INF_KEPT = _tagged("no_inf_kept")
# clipped: the step is clipped to ±lr per coordinate (sign-like at 1e30).
CLIPPED = _tagged("clipped")
# linear_then_frozen: the first steps are linear in g, then a g² takes over and freezes.
LINEAR_THEN_FROZEN = _tagged("linear_then_frozen")
# sign: the step size does not depend on |g| at all.
SIGN = _tagged("sign")
# tiny_no_step: at |g| = 1e-30 no step at all (an underflow to 0 that the algorithm treats as
# "nothing to do"); tiny_noise: the step at 1e-30 is noise (finite, any sign).
TINY_NO_STEP = _tagged("tiny_no_step")
TINY_NOISE = _tagged("tiny_noise")
# Loss-driven methods read the loss, here the test's linear 1 + g·w: at |g| = 1e30 it
# overflows float32 once |w| > 3e8, at 1e-30 it is exactly 1. loss_scaled: a step lr s g with
# a scale s set by the loss; loss_only: the method reads only the loss, so a step lowers it
# but single coordinates may move against g; gradient_free: it ignores g altogether.
LOSS_SCALED = _tagged("loss_scaled")
GRADIENT_FREE = _tagged("gradient_free")
LOSS_ONLY = _tagged("loss_only")
# relative: steps relative to the weights' norm (trust ratios, Adafactor's relative step
# size) are tiny from w = 0, so the float16 / complex training runs start them at w = 0.5.
RELATIVE = _tagged("relative")
# warm_up: parameter-free methods whose first steps are ~1e-6 and grow geometrically: the
# float16 / complex training runs use the registry's ``example`` settings (those that train the
# case study in bfloat16) and WARM_UP_STEPS steps.
WARM_UP = _tagged("warm_up")
WARM_UP_STEPS = 50
NAN_PENDING: dict[str, str] = {}
# eps = 1e-8 rounds to 0 in float16, so where a gradient entry is exactly 0 an optimizer
# computing in float16 gets 0 / (sqrt(0) + 0) = NaN (Optax does). gradtx computes half
# precision in float32, but a state *stored* in float16 can still round: COCOB's L starts at
# eps (now L >= eps at every step), D-Adaptation's d-scaled moments (now float32 state).

_STEP_CACHE: dict = {}


def _step(case, kind: str = ""):
    """One jitted (update, apply) per case and input kind, shared by the tests."""
    key = (case.id, kind)
    if key not in _STEP_CACHE:
        tx = case.make()

        @jax.jit
        def step(params, state, grads):
            # The linear loss whose gradient ``grads`` is, for the optimizers that need the
            # loss (``value`` / ``value_fn``); the others ignore it.
            value_fn = lambda p: (
                1.0 + sum(jnp.sum(jnp.real(g * p)) for g, p in zip(_floats(grads), _floats(p)))
            )
            updates, state = tx.update(
                grads, state, params, value=value_fn(params), value_fn=value_fn
            )
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
    rate = _rate(case)
    ratio = -np.asarray(params["w"], np.float64) / (rate * STEPS)
    return params, state, ratio  # ratio: mean step per unit learning rate, signed like g


def _rate(case) -> float:
    """The case's learning rate (Polyak's max_learning_rate), or the factory's default."""
    name = case.extra.get("schedule", "learning_rate")
    if name is None:  # no rate of its own (sam): that of its outer optimizer
        return get_hyperparams_rate(case)
    if name in case.kwargs:
        return case.kwargs[name]
    return inspect.signature(gradtx.OPTIMIZERS[case.name].factory).parameters[name].default


def get_hyperparams_rate(case) -> float:
    """The learning rate of the outer optimizer of a wrapper such as sam."""
    inner = case.kwargs["optimizer"]
    return float(gradtx.get_hyperparams(inner.init(jnp.zeros(1)))["learning_rate"])


def _floats(tree):
    return [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]


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


def _xfail(reasons):
    """CASES, with a strict xfail on those named in ``reasons`` (name -> reason)."""
    mark = lambda name: pytest.mark.xfail(strict=True, reason=reasons[name])
    return [pytest.param(c, marks=mark(c.name)) if c.name in reasons else c for c in CASES]


@pytest.mark.parametrize("case", _xfail(NAN_PENDING), ids=IDS)
def test_huge_gradients_documented_behaviour(case):
    """|g| = 1e30 (float32) for 20 steps: never a NaN; what each optimizer does."""
    params, state, ratio = _constant_gradient_run(case, 1e30)
    _assert_no_nan((params, state), case.name)
    assert np.all(np.isfinite(np.asarray(params["w"])))
    if case.name in SQUARES:  # g² = inf in the state, the update is exactly 0: frozen
        assert np.all(ratio == 0), ratio
        if case.name not in NO_INF_KEPT:
            assert any(np.any(np.isposinf(x)) for x in _floats(state)), "expected an inf moment"
    elif case.name in LINEAR_THEN_FROZEN:
        factor = ratio / (DIRECTION * 1e30)
        assert np.all((factor > 0.01) & (factor <= 1.0)), factor
    elif case.name in LOSS_SCALED:  # its state keeps the loss, -inf
        factor = ratio / (DIRECTION * 1e30)
        assert np.all((factor > 0) & (factor < 2.0**STEPS)), factor
    elif case.name in LOSS_ONLY:  # the loss 1 + g·w fell; random search: by O(lr) steps
        assert np.dot(DIRECTION, ratio) > 0, ratio
        assert case.name not in GRADIENT_FREE or np.all(np.abs(ratio) < 20), ratio
    else:
        _assert_sane(case, ratio, 1e30)
        assert all(np.all(np.isfinite(x)) for x in _floats(state))
        if case.name in CLIPPED:
            np.testing.assert_allclose(np.abs(ratio), 1.0, rtol=1e-4)  # and decay 1e-4


_SQUARES_REASON = (
    "squares |g| (a moment of g², a squared norm; COCOB's L max(G + L, αL)): at |g| = 1e30 that "
    "overflows float32 to inf, the update ∝ 1 / inf is exactly 0 and the parameters stop "
    "moving (the algorithm in float32; Optax and PyTorch do the same). Scale the loss or clip "
    "the gradient."
)
_NOT_SANE = {name: f"{name} {_SQUARES_REASON}" for name in SQUARES | LINEAR_THEN_FROZEN}
_NOT_SANE |= dict.fromkeys(
    LOSS_SCALED,
    "its scale follows the test's loss 1 + g·w, which overflows float32 to -inf after one "
    "step at |g| = 1e30; -inf against -inf is a rise, and every other step is undone",
)
_NOT_SANE |= dict.fromkeys(
    GRADIENT_FREE,
    "it ignores |g|: steps of O(lr), kept when the loss falls, whatever each coordinate does",
)
_NOT_SANE["spsa"] = (
    "its estimate (g·Δ) Δ moves single coordinates against g, and the loss overflows float32 "
    "after its first step (then its estimate is 0)"
)


@pytest.mark.parametrize("case", _xfail(_NOT_SANE), ids=IDS)
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
    if case.name in TINY_NO_STEP:
        assert np.all(ratio == 0), ratio
    elif case.name in TINY_NOISE:
        pass  # finite, checked above
    elif case.name in LOSS_SCALED:  # the loss is 1 in float32 at every step: s = 1, GD
        np.testing.assert_allclose(ratio / (DIRECTION * 1e-30), 1.0, rtol=1e-6)
    elif case.name in LINEAR or case.name in SIGN:
        _assert_sane(case, ratio, 1e-30)
    else:
        assert np.all(np.sign(ratio) == np.sign(DIRECTION)), ratio
        # |g| / eps with eps >= 1e-9; Adafactor's eps = 1e-30 is inside the root: |g| / 1e-15
        bound = 1e-30 / (1e-15 if case.name == "adafactor" else 1e-9)
        if case.name == "simplified_ademamix":  # its momentum is a sum: |g| / (eps (1 - b1))
            bound *= 100
        assert np.all(np.abs(ratio) <= bound), ratio


def _loss(w, target):
    wide = jnp.complex64 if jnp.iscomplexobj(w) else jnp.float32
    return jnp.sum(jnp.abs(w.astype(wide) - target) ** 2)


def _train_settings(case):
    """Overrides for the training runs: the registry's example for WARM_UP."""
    return gradtx.OPTIMIZERS[case.name].example if case.name in WARM_UP else {}


def _train_steps(case) -> int:
    return WARM_UP_STEPS if case.name in WARM_UP else STEPS


def _quadratic_run(case, dtype, start, target, steps: int = STEPS):
    """Minimize sum |w - target|² from ``start``; returns (first loss, last loss, w, state)."""
    key = (case.id, f"quadratic-{jnp.dtype(dtype).name}")
    if key not in _STEP_CACHE:
        tx = case.make(**_train_settings(case))

        @jax.jit
        def step(params, state, target):
            # For complex w, jax.grad of a real loss is the conjugate of the steepest-descent
            # direction (JAX's convention); optimizers take its conjugate, as in Optax.
            grads = jax.tree.map(jnp.conj, jax.grad(_loss)(params, target))
            value_fn = lambda p: _loss(p, target)
            updates, state = tx.update(
                grads, state, params, value=value_fn(params), value_fn=value_fn
            )
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
    start = jnp.full(8, 0.5 if case.name in RELATIVE else 0.0)
    first, last, w, state = _quadratic_run(case, jnp.float16, start, target, _train_steps(case))
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
        # rprop, local gains, delta-bar-delta and vSGD compare signs or squares of successive
        # gradients, COCOB bets on each real coordinate, Sophia's Hessian probe is real.
        with pytest.raises((TypeError, ValueError), match=r"(?i)complex"):
            _quadratic_run(case, jnp.complex64, start, target, steps=1)
        return
    if case.name in RELATIVE:
        start = jnp.full(6, 0.5 + 0.5j, jnp.complex64)
    first, last, w, state = _quadratic_run(case, jnp.complex64, start, target, _train_steps(case))
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
    # SAM's parameters after an odd number of steps sit at its ascent point: end on an outer step.
    for _ in range(4 if case.name == "sam" else 3):
        new, state = step(new, state, grads)
    assert new["empty"].shape == (0,) and new["empty_2d"].shape == (3, 0)
    assert new["empty_2d"].dtype == jnp.bfloat16 and new["none"] is None
    assert new["step"].dtype == jnp.int32 and int(new["step"]) == 7
    assert new["mask"].tolist() == [True, False]
    if case.name in LOSS_ONLY:  # the loss 1 + g·w did not rise (random search: may not fall)
        assert np.dot(np.asarray(grads["w"]), np.asarray(new["w"] - params["w"])) <= 0
    else:
        assert np.all(np.sign(np.asarray(new["w"] - params["w"])) == [-1, 1, -1])
    _assert_no_nan((new, state), case.name)
