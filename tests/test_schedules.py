"""Tests of gradtx.schedules: Optax parity, NumPy references, tracing, docstrings, stateful
schedules (bad arguments and random-argument properties: ``test_schedules_inputs.py``)."""

from __future__ import annotations

import doctest
import importlib

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import factory_ids

from gradtx import schedules

# Steps 0..320 cover every phase of the schedules below (all end by step 300) and the steps
# past their end, plus a few large counts.
COUNTS = np.r_[np.arange(321), [1_000, 100_000, 2**20]]


def _cycle(**kwargs):
    return kwargs


SGDR_CYCLES = [
    _cycle(init_value=0.0, peak_value=1.0, warmup_steps=10, decay_steps=100),
    _cycle(init_value=0.1, peak_value=0.5, warmup_steps=5, decay_steps=80, end_value=0.05),
    _cycle(init_value=0.0, peak_value=0.25, warmup_steps=0, decay_steps=90, exponent=2.0),
]

# (gradtx factory, optax factory, kwargs): one row per configuration; ids come from the name.
PARITY = [
    (schedules.constant_schedule, optax.constant_schedule, dict(value=0.3)),
    (
        schedules.linear_schedule,
        optax.linear_schedule,
        dict(init_value=1.0, end_value=0.01, transition_steps=200, transition_begin=20),
    ),
    (
        schedules.linear_schedule,
        optax.linear_schedule,
        dict(init_value=0.0, end_value=2.0, transition_steps=0),
    ),
    (
        schedules.polynomial_schedule,
        optax.polynomial_schedule,
        dict(init_value=1.0, end_value=1e-3, power=2, transition_steps=150, transition_begin=30),
    ),
    (
        schedules.polynomial_schedule,
        optax.polynomial_schedule,
        dict(init_value=0.1, end_value=0.5, power=0.5, transition_steps=250),
    ),
    (
        schedules.exponential_decay,
        optax.exponential_decay,
        dict(init_value=1.0, transition_steps=50, decay_rate=0.5, transition_begin=10),
    ),
    (
        schedules.exponential_decay,
        optax.exponential_decay,
        dict(init_value=0.3, transition_steps=40, decay_rate=0.7, staircase=True, end_value=0.05),
    ),
    (
        schedules.exponential_decay,
        optax.exponential_decay,
        dict(
            init_value=0.01, transition_steps=30, decay_rate=2.0, end_value=0.5, transition_begin=7
        ),
    ),
    (
        schedules.exponential_decay,
        optax.exponential_decay,
        dict(init_value=0.2, transition_steps=0, decay_rate=0.5),
    ),
    (
        schedules.piecewise_constant_schedule,
        optax.piecewise_constant_schedule,
        dict(init_value=1.0, boundaries_and_scales={150: 0.1, 50: 0.5, 220: 3.0}),
    ),
    (
        schedules.piecewise_constant_schedule,
        optax.piecewise_constant_schedule,
        dict(init_value=0.7),
    ),
    (
        schedules.piecewise_interpolate_schedule,
        optax.piecewise_interpolate_schedule,
        dict(
            interpolate_type="linear",
            init_value=1.0,
            boundaries_and_scales={120: 0.1, 40: 0.5, 250: 3.0},
        ),
    ),
    (
        schedules.piecewise_interpolate_schedule,
        optax.piecewise_interpolate_schedule,
        dict(
            interpolate_type="cosine",
            init_value=1.0,
            boundaries_and_scales={0: 2.0, 100: 0.5, 101: 0.1, 280: 0.01},
        ),
    ),
    (
        schedules.piecewise_interpolate_schedule,
        optax.piecewise_interpolate_schedule,
        dict(interpolate_type="cosine", init_value=0.4),
    ),
    (
        schedules.cosine_decay_schedule,
        optax.cosine_decay_schedule,
        dict(init_value=1.0, decay_steps=200, alpha=0.1),
    ),
    (
        schedules.cosine_decay_schedule,
        optax.cosine_decay_schedule,
        dict(init_value=0.5, decay_steps=280, exponent=2.0),
    ),
    (
        schedules.warmup_cosine_decay_schedule,
        optax.warmup_cosine_decay_schedule,
        dict(init_value=0.0, peak_value=1.0, warmup_steps=30, decay_steps=250, end_value=1e-3),
    ),
    (
        schedules.warmup_cosine_decay_schedule,
        optax.warmup_cosine_decay_schedule,
        dict(init_value=0.1, peak_value=0.5, warmup_steps=0, decay_steps=200, exponent=0.5),
    ),
    (
        schedules.warmup_exponential_decay_schedule,
        optax.warmup_exponential_decay_schedule,
        dict(
            init_value=0.0,
            peak_value=1.0,
            warmup_steps=20,
            transition_steps=40,
            decay_rate=0.5,
            transition_begin=10,
            staircase=True,
            end_value=0.01,
        ),
    ),
    (
        schedules.warmup_constant_schedule,
        optax.warmup_constant_schedule,
        dict(init_value=0.0, peak_value=1.0, warmup_steps=50),
    ),
    (
        schedules.cosine_onecycle_schedule,
        optax.cosine_onecycle_schedule,
        dict(transition_steps=250, peak_value=1.0),
    ),
    (
        schedules.cosine_onecycle_schedule,
        optax.cosine_onecycle_schedule,
        dict(
            transition_steps=200,
            peak_value=0.3,
            pct_start=0.5,
            div_factor=10.0,
            final_div_factor=100.0,
        ),
    ),
    (
        schedules.linear_onecycle_schedule,
        optax.linear_onecycle_schedule,
        dict(transition_steps=250, peak_value=1.0),
    ),
    (
        schedules.linear_onecycle_schedule,
        optax.linear_onecycle_schedule,
        dict(
            transition_steps=280,
            peak_value=2.0,
            pct_start=0.1,
            pct_final=0.6,
            div_factor=5.0,
            final_div_factor=50.0,
        ),
    ),
    (schedules.sgdr_schedule, optax.sgdr_schedule, dict(cosine_kwargs=SGDR_CYCLES)),
    (
        schedules.join_schedules,
        optax.join_schedules,
        dict(
            schedules=[
                lambda t: 1.0 - 0.001 * t,
                lambda t: 0.5 + 0.0 * t,
                lambda t: 0.25 * 0.99**t,
            ],
            boundaries=[100, 200],
        ),
    ),
]

# Schedules without an Optax counterpart: (factory, kwargs) checked against NumPy below.
NO_OPTAX = [
    (schedules.inverse_time_decay, dict(init_value=0.1, decay_rate=0.5, transition_steps=10)),
    (schedules.momentum_ramp, dict(init_value=0.5, end_value=0.99, transition_steps=200)),
]

ALL_SCHEDULES = [(gx, kwargs) for gx, _, kwargs in PARITY] + NO_OPTAX


def test_every_public_schedule_is_tested():
    tested = {gx.__name__ for gx, _ in ALL_SCHEDULES}
    types = {"Schedule", "StatefulSchedule", "WrappedSchedule", "WrappedScheduleState"}
    assert set(schedules.__all__) - types == tested
    assert schedules.__all__ == sorted(schedules.__all__)


@pytest.mark.parametrize("x64", [False, True], ids=["f32", "f64"])
@pytest.mark.parametrize("gx_factory, ox_factory, kwargs", PARITY, ids=factory_ids(PARITY))
def test_parity_with_optax(gx_factory, ox_factory, kwargs, x64):
    # Under x64 the counts are int64: Optax computes some schedules in float32 from int32
    # counts even under x64, while gradtx always uses the default float dtype. Both run in one
    # jitted function: one compilation per row is much faster than eager op-by-op dispatch.
    with jax.enable_x64(x64):
        counts = jnp.asarray(COUNTS, jnp.int64 if x64 else jnp.int32)
        got, want = jax.jit(
            lambda c: (jax.vmap(gx_factory(**kwargs))(c), jax.vmap(ox_factory(**kwargs))(c))
        )(counts)
        float_dtype = jnp.result_type(float)
        assert got.dtype == want.dtype == float_dtype
    # Evaluated eagerly the two agree bit for bit; under jit XLA may fuse the two versions
    # differently, which moves a value by an ulp of the schedule's scale where terms cancel.
    assert np.all(np.isfinite(got))
    # Jitted, Optax 0.2.8's polynomial_schedule with a fractional power is NaN from the end
    # of the transition on (1 - T/T rounds below 0); gradtx clamps it. Compare elsewhere.
    finite = np.isfinite(want)
    assert finite.all() or (gx_factory is schedules.polynomial_schedule and finite[0])
    got, want = np.asarray(got)[finite], np.asarray(want)[finite]
    scale = float(np.max(np.abs(want)))
    if x64:
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15 * scale)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7 * scale)


def test_f64_from_int32_counts():
    with jax.enable_x64(True):
        schedule = schedules.cosine_onecycle_schedule(250, 1.0)
        from_int32 = jax.vmap(schedule)(jnp.arange(300, dtype=jnp.int32))
        from_int64 = jax.vmap(schedule)(jnp.arange(300, dtype=jnp.int64))
        assert from_int32.dtype == jnp.float64
    np.testing.assert_array_equal(from_int32, from_int64)


def _np_inverse_time(
    t, init_value, decay_rate, transition_steps=1, staircase=False, transition_begin=0
):
    tau = np.maximum(t - transition_begin, 0) / transition_steps
    if staircase:
        tau = np.floor(tau)
    return init_value / (1 + decay_rate * tau)


def _np_momentum(
    t, init_value=0.5, end_value=0.9, *, transition_steps, transition_begin=0, kind="linear"
):
    elapsed = t - transition_begin
    if kind == "step" or transition_steps == 0:
        return np.where(elapsed >= transition_steps, end_value, init_value)
    p = np.clip(elapsed / transition_steps, 0, 1)
    if kind == "linear":
        return (1 - p) * init_value + p * end_value
    # Geometric interpolation of the gap to 1.
    return 1 - (1 - init_value) ** (1 - p) * (1 - end_value) ** p


REFERENCES = [
    (schedules.inverse_time_decay, _np_inverse_time, dict(init_value=0.1, decay_rate=1.0)),
    (
        schedules.inverse_time_decay,
        _np_inverse_time,
        dict(init_value=0.5, decay_rate=0.3, transition_steps=7, transition_begin=25),
    ),
    (
        schedules.inverse_time_decay,
        _np_inverse_time,
        dict(init_value=2.0, decay_rate=2.0, transition_steps=20, staircase=True),
    ),
    (schedules.inverse_time_decay, _np_inverse_time, dict(init_value=0.3, decay_rate=0.0)),
    (schedules.momentum_ramp, _np_momentum, dict(transition_steps=200)),
    (
        schedules.momentum_ramp,
        _np_momentum,
        dict(
            init_value=0.5,
            end_value=0.99,
            transition_steps=150,
            transition_begin=40,
            kind="exponential",
        ),
    ),
    (
        schedules.momentum_ramp,
        _np_momentum,
        dict(init_value=0.95, end_value=0.6, transition_steps=100, kind="exponential"),
    ),
    (
        schedules.momentum_ramp,
        _np_momentum,
        dict(init_value=0.5, end_value=0.9, transition_steps=100, transition_begin=50, kind="step"),
    ),
    (
        schedules.momentum_ramp,
        _np_momentum,
        dict(
            init_value=0.0,
            end_value=0.9,
            transition_steps=0,
            transition_begin=80,
            kind="exponential",
        ),
    ),
    (
        schedules.momentum_ramp,
        _np_momentum,
        dict(init_value=0.5, end_value=0.9, transition_steps=250, transition_begin=10),
    ),
]


@pytest.mark.parametrize("x64", [False, True], ids=["f32", "f64"])
@pytest.mark.parametrize("factory, reference, kwargs", REFERENCES, ids=factory_ids(REFERENCES))
def test_against_numpy_reference(factory, reference, kwargs, x64):
    with jax.enable_x64(x64):
        got = jax.vmap(factory(**kwargs))(jnp.asarray(COUNTS, jnp.int32))
        assert got.dtype == jnp.result_type(float)
    want = reference(COUNTS.astype(np.float64), **kwargs)
    np.testing.assert_allclose(got, want, rtol=1e-12 if x64 else 1e-6, atol=1e-15)


def test_momentum_ramp_exponential_shape():
    # The horizon 1/(1 - mu) grows by a constant factor per step: 2 -> 4 -> 8 for 0.5 -> 0.875.
    ramp = schedules.momentum_ramp(0.5, 0.875, transition_steps=100, kind="exponential")
    horizons = [1 / (1 - float(ramp(t))) for t in (0, 50, 100)]
    np.testing.assert_allclose(horizons, [2.0, 4.0, 8.0], rtol=1e-6)


@pytest.mark.parametrize("factory, kwargs", ALL_SCHEDULES, ids=factory_ids(ALL_SCHEDULES))
def test_jit_matches_eager_without_retracing(factory, kwargs):
    schedule = factory(**kwargs)
    chex.clear_trace_counter()
    jitted = jax.jit(chex.assert_max_traces(lambda count: schedule(count), n=1))
    for step in (0, 1, 29, 30, 77, 150, 249, 250, 300, 5_000, 2**31 - 1):
        count = jnp.int32(step)
        value = jitted(count)
        # XLA fuses and reorders float32 arithmetic under jit, so the two may differ by an ulp
        # of the schedule's scale (all values here are at most 2) where terms cancel.
        np.testing.assert_allclose(value, schedule(count), rtol=1e-6, atol=1e-7)
        assert value.shape == ()
        assert np.isfinite(value)


@pytest.mark.parametrize("factory, kwargs", ALL_SCHEDULES, ids=factory_ids(ALL_SCHEDULES))
def test_vmap_and_dtype(factory, kwargs):
    schedule = factory(**kwargs)
    counts = jnp.asarray(COUNTS, jnp.int32)
    batched = jax.vmap(schedule)(counts)
    assert batched.shape == counts.shape
    picks = np.arange(0, len(COUNTS), 29)
    np.testing.assert_allclose(
        batched[picks], [schedule(counts[i]) for i in picks], rtol=1e-6, atol=1e-7
    )
    # A schedule of Python floats returns a weak float: it does not promote bf16 updates.
    assert (schedule(jnp.int32(3)) * jnp.ones(2, jnp.bfloat16)).dtype == jnp.bfloat16


def test_warmup_constant_without_warmup_is_peak():
    # Deliberate difference: Optax returns init_value forever here.
    schedule = schedules.warmup_constant_schedule(0.0, 1.0, warmup_steps=0)
    assert [float(schedule(t)) for t in (0, 10)] == [1.0, 1.0]


def test_linear_onecycle_colliding_boundaries_keep_every_phase():
    # int(0.2 * 3) == int(0.3 * 3) == 0: the rise and the fall have zero length, so the value
    # jumps to peak / div_factor and the last phase still ends at the final value.
    schedule = schedules.linear_onecycle_schedule(
        3, 1.0, pct_start=0.2, pct_final=0.3, div_factor=4.0, final_div_factor=2.0
    )
    np.testing.assert_allclose(
        [schedule(t) for t in (0, 1, 2, 3, 9)],
        [0.25, 0.25 - 0.125 / 3, 0.25 - 0.25 / 3, 0.125, 0.125],
        rtol=1e-6,
    )


@pytest.mark.parametrize("module", ["_basic", "_piecewise", "_combine", "_cosine", "_stateful"])
def test_docstring_examples(module):
    mod = importlib.import_module(f"gradtx.schedules.{module}")
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
