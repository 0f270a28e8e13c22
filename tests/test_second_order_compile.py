"""The solver loops' compilation (``second_order/_jit.py``): XLA:CPU options on a top-level
call only, a fallback where an option is unknown, and the same solve either way."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import precision

from gradtx.second_order import _minimize, minimize
from gradtx.second_order._jit import CPU_COMPILE_OPTIONS, solver_jit


def rosenbrock(x):
    return jnp.sum(100.0 * (x[1::2] - x[0::2] ** 2) ** 2 + (1.0 - x[0::2]) ** 2)


def test_solver_jit_uses_its_options_on_top_level_calls_only():
    calls = solver_jit(lambda x: x * 2.0)
    if jax.default_backend() == "cpu":
        assert calls.jitted() is calls.fast
        lowered = calls.fast.trace(jnp.ones(3)).lower()
        assert lowered.compile(compiler_options=CPU_COMPILE_OPTIONS) is not None
    assert calls(jnp.ones(3)).tolist() == [2.0] * 3
    # Under jax.jit / jax.vmap the inner jit may not carry options: the plain one is used.
    assert jax.jit(calls)(jnp.ones(2)).tolist() == [2.0] * 2
    assert jax.vmap(calls)(jnp.ones((2, 1))).tolist() == [[2.0], [2.0]]


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the options are XLA:CPU's")
def test_an_unknown_option_falls_back_to_the_plain_jit():
    calls = solver_jit(lambda x: x + 1.0, options={"xla_cpu_no_such_option_gradtx": True})
    assert calls(jnp.zeros(2)).tolist() == [1.0, 1.0]
    assert calls.jitted() is calls.plain  # learned once


def test_minimize_with_and_without_the_options_agrees():
    """The options change how XLA:CPU emits kernels, not the solve: the same iterates and
    counts (Rosenbrock has no transcendental functions, so the same bits)."""
    with precision("float64"):
        x0 = jnp.tile(jnp.array([-1.2, 1.0]), 5)
        r = minimize(rosenbrock, x0, "lbfgs", tol=1e-8, tol_kind="absolute")
        static = _minimize._Static(rosenbrock, _minimize._build("lbfgs", None), (), "absolute",
                                   float("inf"), False)  # fmt: skip
        plain = _minimize._solve_jit.plain(static, x0, np.float64(1e-8), np.int32(1000))
        assert int(r.iterations) == int(plain.iterations)
        assert int(r.num_fun_evals) == int(plain.num_fun_evals)
        np.testing.assert_array_equal(np.asarray(r.x), np.asarray(plain.x))


def test_a_nested_call_the_check_misses_still_runs(monkeypatch):
    """If the top-level test is fooled (a closure over a tracer, arguments concrete), JAX's
    refusal of options on a nested jit is caught and the plain jit runs."""
    from gradtx.second_order import _jit

    monkeypatch.setattr(_jit, "_top_level", lambda: True)
    calls = solver_jit(lambda x: x * 3.0)
    assert jax.jit(lambda y: calls(np.ones(2)) * y)(2.0).tolist() == [6.0, 6.0]


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the options are XLA:CPU's")
def test_an_error_of_the_call_itself_is_raised_and_keeps_the_options():
    calls = solver_jit(lambda x: x @ x)
    with pytest.raises(TypeError, match="dot_general"):
        calls(jnp.ones((2, 3)))
    assert calls.jitted() is calls.fast
    assert calls(jnp.eye(2)).tolist() == [[1.0, 0.0], [0.0, 1.0]]
