"""Inputs of gradtx.schedules: bad arguments raise a clear error, step arguments beyond int32
do not overflow, and for random arguments every family is finite and monotone."""

from __future__ import annotations

import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import factory_ids
from hypothesis import given, settings
from test_schedules import COUNTS, SGDR_CYCLES

from gradtx import schedules

BAD_INPUTS = [
    (schedules.constant_schedule, dict(value=float("inf")), r"value must be in"),
    (
        schedules.linear_schedule,
        dict(init_value=1.0, end_value=0.0, transition_steps=-1),
        r"transition_steps must be in \[0, inf\)",
    ),
    (
        schedules.linear_schedule,
        dict(init_value=1.0, end_value=0.0, transition_steps=10, transition_begin=-5),
        r"transition_begin must be in \[0, inf\)",
    ),
    (
        schedules.linear_schedule,
        dict(init_value=float("nan"), end_value=0.0, transition_steps=10),
        r"init_value",
    ),
    (
        schedules.polynomial_schedule,
        dict(init_value=1.0, end_value=0.0, power=-1, transition_steps=10),
        r"power must be in \[0, inf\)",
    ),
    (
        schedules.exponential_decay,
        dict(init_value=1.0, transition_steps=10, decay_rate=0.0),
        r"decay_rate must be in \(0, inf\)",
    ),
    (
        schedules.exponential_decay,
        dict(init_value=1.0, transition_steps=10, decay_rate=-0.5),
        r"decay_rate must be in \(0, inf\)",
    ),
    (
        schedules.exponential_decay,
        dict(init_value=1.0, transition_steps=-10, decay_rate=0.5),
        r"transition_steps must be in \[0, inf\)",
    ),
    (
        schedules.inverse_time_decay,
        dict(init_value=1.0, decay_rate=-1.0),
        r"decay_rate must be in \[0, inf\)",
    ),
    (
        schedules.inverse_time_decay,
        dict(init_value=1.0, decay_rate=1.0, transition_steps=0),
        r"transition_steps must be in \(0, inf\)",
    ),
    (
        schedules.piecewise_constant_schedule,
        dict(init_value=1.0, boundaries_and_scales={-1: 0.5}),
        r"boundaries_and_scales step -1 must be in \[0, inf\)",
    ),
    (
        schedules.piecewise_constant_schedule,
        dict(init_value=1.0, boundaries_and_scales={10: -0.5}),
        r"boundaries_and_scales\[10\] \(a scale\) must be in \[0, inf\)",
    ),
    (
        schedules.piecewise_interpolate_schedule,
        dict(interpolate_type="quadratic", init_value=1.0),
        r"interpolate_type must be one of \('linear', 'cosine'\)",
    ),
    (
        schedules.piecewise_interpolate_schedule,
        dict(interpolate_type="linear", init_value=1.0, boundaries_and_scales=[(10, 0.5)]),
        r"boundaries_and_scales must be a dict",
    ),
    (
        schedules.cosine_decay_schedule,
        dict(init_value=1.0, decay_steps=0),
        r"decay_steps must be in \(0, inf\)",
    ),
    (
        schedules.cosine_decay_schedule,
        dict(init_value=1.0, decay_steps=-5),
        r"decay_steps must be in \(0, inf\)",
    ),
    (
        schedules.warmup_cosine_decay_schedule,
        dict(init_value=0.0, peak_value=1.0, warmup_steps=100, decay_steps=100),
        r"decay_steps must be greater than warmup_steps=100",
    ),
    (
        schedules.warmup_cosine_decay_schedule,
        dict(init_value=0.0, peak_value=1.0, warmup_steps=-1, decay_steps=100),
        r"warmup_steps must be in \[0, inf\)",
    ),
    (
        schedules.warmup_exponential_decay_schedule,
        dict(init_value=0.0, peak_value=1.0, warmup_steps=10, transition_steps=10, decay_rate=0.0),
        r"decay_rate must be in \(0, inf\)",
    ),
    (
        schedules.warmup_constant_schedule,
        dict(init_value=0.0, peak_value=1.0, warmup_steps=-3),
        r"warmup_steps must be in \[0, inf\)",
    ),
    (
        schedules.cosine_onecycle_schedule,
        dict(transition_steps=100, peak_value=1.0, pct_start=0.0),
        r"pct_start must be in \(0, 1\)",
    ),
    (
        schedules.cosine_onecycle_schedule,
        dict(transition_steps=100, peak_value=1.0, pct_start=1.0),
        r"pct_start must be in \(0, 1\)",
    ),
    (
        schedules.cosine_onecycle_schedule,
        dict(transition_steps=0, peak_value=1.0),
        r"transition_steps must be in \(0, inf\)",
    ),
    (
        schedules.cosine_onecycle_schedule,
        dict(transition_steps=100, peak_value=1.0, div_factor=0.0),
        r"div_factor must be in \(0, inf\)",
    ),
    (
        schedules.linear_onecycle_schedule,
        dict(transition_steps=100, peak_value=1.0, pct_start=1.5),
        r"pct_start must be in \(0, 1\)",
    ),
    (
        schedules.linear_onecycle_schedule,
        dict(transition_steps=100, peak_value=1.0, pct_final=0.2),
        r"pct_final must be in \(0.3, 1\]",
    ),
    (
        schedules.linear_onecycle_schedule,
        dict(transition_steps=100, peak_value=1.0, final_div_factor=-1.0),
        r"final_div_factor must be in \(0, inf\)",
    ),
    (schedules.sgdr_schedule, dict(cosine_kwargs=[]), r"cosine_kwargs must hold at least one"),
    (
        schedules.sgdr_schedule,
        dict(cosine_kwargs=[dict(init_value=0.0, peak_value=1.0, warmup_steps=10)]),
        r"cosine_kwargs\[0\] must be a dict .* decay_steps",
    ),
    (
        schedules.sgdr_schedule,
        dict(cosine_kwargs=[SGDR_CYCLES[0], dict(SGDR_CYCLES[1], decay_steps=5)]),
        r"cosine_kwargs\[1\]: decay_steps must be greater than warmup_steps",
    ),
    (schedules.join_schedules, dict(schedules=[], boundaries=[]), r"schedules must be a non-empty"),
    (
        schedules.join_schedules,
        dict(schedules=[lambda t: t, lambda t: t], boundaries=[]),
        r"boundaries must have len\(schedules\) - 1 = 1 entries",
    ),
    (
        schedules.join_schedules,
        dict(schedules=[lambda t: t] * 3, boundaries=[50, 10]),
        r"boundaries must be sorted",
    ),
    (
        schedules.join_schedules,
        dict(schedules=[lambda t: t] * 2, boundaries=[-1]),
        r"boundaries\[0\] must be in \[0, inf\)",
    ),
    (schedules.join_schedules, dict(schedules=[0.1], boundaries=[]), r"schedules\[0\]"),
    (
        schedules.momentum_ramp,
        dict(transition_steps=10, kind="cubic"),
        r"kind must be one of \('linear', 'step', 'exponential'\)",
    ),
    (
        schedules.momentum_ramp,
        dict(init_value=1.0, transition_steps=10),
        r"init_value must be in \[0, 1\)",
    ),
    (
        schedules.momentum_ramp,
        dict(end_value=1.5, transition_steps=10),
        r"end_value must be in \[0, 1\)",
    ),
    (
        schedules.momentum_ramp,
        dict(transition_steps=-1),
        r"transition_steps must be in \[0, inf\)",
    ),
]


@pytest.mark.parametrize("factory, kwargs, message", BAD_INPUTS, ids=factory_ids(BAD_INPUTS))
def test_bad_input_raises(factory, kwargs, message):
    with pytest.raises(ValueError, match=message):
        factory(**kwargs)


def test_optax_compatible_constant_fallbacks():
    # As in Optax, transition_steps == 0 disables the transition.
    assert float(schedules.linear_schedule(1.0, 0.0, transition_steps=0)(100)) == 1.0
    assert float(schedules.exponential_decay(1.0, 0, decay_rate=0.5)(100)) == 1.0


# Families whose value never increases (or, for momentum_ramp up, never decreases).
_value = st.floats(1e-4, 10.0)
_rate = st.floats(0.01, 0.99)
_steps = st.integers(1, 300)
_begin = st.integers(0, 50)
_momentum = st.floats(0.0, 0.999)


def _decreasing_exponential(draw):
    init_value = draw(_value)
    end_value = draw(st.none() | st.just(init_value * draw(_rate)))
    return -1, schedules.exponential_decay(
        init_value, draw(_steps), draw(_rate), draw(_begin), draw(st.booleans()), end_value
    )


def _decreasing_cosine(draw):
    return -1, schedules.cosine_decay_schedule(
        draw(_value), draw(_steps), draw(st.floats(0, 1)), draw(st.floats(0.1, 4.0))
    )


def _decreasing_inverse_time(draw):
    return -1, schedules.inverse_time_decay(
        draw(_value), draw(st.floats(0, 10)), draw(_steps), draw(st.booleans()), draw(_begin)
    )


def _decreasing_polynomial(draw):
    init_value = draw(_value)
    return -1, schedules.polynomial_schedule(
        init_value, init_value * draw(_rate), draw(st.floats(0.1, 4.0)), draw(_steps), draw(_begin)
    )


def _increasing_momentum(draw):
    low, high = sorted([draw(_momentum), draw(_momentum)])
    kind = draw(st.sampled_from(["linear", "step", "exponential"]))
    return 1, schedules.momentum_ramp(
        low,
        high,
        transition_steps=draw(st.integers(0, 300)),
        transition_begin=draw(_begin),
        kind=kind,
    )


def _any_warmup_cosine(draw):
    warmup = draw(st.integers(0, 100))
    return 0, schedules.warmup_cosine_decay_schedule(
        draw(_value), draw(_value), warmup, warmup + draw(_steps), draw(_value)
    )


def _any_onecycle(draw):
    return 0, schedules.cosine_onecycle_schedule(
        draw(_steps),
        draw(_value),
        draw(st.floats(0.05, 0.95)),
        draw(st.floats(1.0, 100.0)),
        draw(st.floats(1.0, 1e4)),
    )


FAMILIES = [
    _decreasing_exponential,
    _decreasing_cosine,
    _decreasing_inverse_time,
    _decreasing_polynomial,
    _increasing_momentum,
    _any_warmup_cosine,
    _any_onecycle,
]


@pytest.mark.parametrize("family", FAMILIES, ids=[f.__name__.strip("_") for f in FAMILIES])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_finite_and_monotone(family, data):
    direction, schedule = family(data.draw)
    values = np.asarray(schedule(jnp.asarray(COUNTS, jnp.int32)))
    assert values.shape == COUNTS.shape
    assert np.all(np.isfinite(values))
    if direction:
        # Monotone up to one rounding of the value (a float32 ulp), never more.
        steps = direction * np.diff(values)
        assert np.all(steps >= -np.spacing(np.abs(values[1:]).astype(values.dtype)))


def test_step_arguments_beyond_int32_do_not_overflow_under_jit():
    """A Python int too large for int32 (decay_steps=10**10) is taken as a float (Optax's
    value: 975.53 at step 10**9)."""
    got = jax.jit(schedules.cosine_decay_schedule(1000.0, decay_steps=int(1e10)))(int(1e9))
    want = optax.cosine_decay_schedule(1000.0, decay_steps=int(1e10))(int(1e9))
    np.testing.assert_allclose(got, want, rtol=1e-5)
    big = int(1e10)
    for schedule in (
        schedules.linear_schedule(1.0, 0.0, big),
        schedules.exponential_decay(1.0, big, 0.5),
        schedules.piecewise_constant_schedule(1.0, {big: 0.5}),
        schedules.join_schedules([schedules.constant_schedule(1.0)] * 2, [big]),
        schedules.warmup_cosine_decay_schedule(0.0, 1.0, int(1e9), big),
        schedules.momentum_ramp(0.5, 0.9, transition_steps=big),
    ):
        assert np.isfinite(float(jax.jit(schedule)(int(1e9))))
