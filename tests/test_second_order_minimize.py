"""``minimize``: every method converges on small versions of the benchmark problems, the loop
compiles once, statuses say why it stopped, and bad input raises clear errors."""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import precision

import gradtx
from gradtx.second_order import (
    AcceptedPoint,
    Report,
    Status,
    StepInfo,
    hessian_free,
    lbfgs,
    minimize,
    newton,
    report_of,
    status_message,
)

TRACES = []


def rosenbrock(x):
    TRACES.append(1)  # runs only while tracing: counts compilations of the solve
    return jnp.sum(100.0 * (x[1::2] - x[0::2] ** 2) ** 2 + (1.0 - x[0::2]) ** 2)


def _quadratic(n, cond, seed=0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    a = jnp.asarray((q * np.logspace(0, np.log10(cond), n)) @ q.T)
    b = jnp.asarray(rng.normal(size=n))
    return (lambda x: 0.5 * x @ a @ x - b @ x), jnp.zeros(n)


def _logistic(n=150, d=6, k=3, l2=1e-2, seed=0):
    """Multinomial logistic regression on a small synthetic set; a dict of parameters."""
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.normal(size=(n, d)))
    y = jnp.asarray(rng.integers(0, k, size=n))

    def model_fn(p):
        return x @ p["w"] + p["b"], p

    def loss_of_outputs(out):
        logits, p = out
        logp = jax.nn.log_softmax(logits)
        ce = -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))
        return ce + 0.5 * l2 * (jnp.sum(p["w"] ** 2) + jnp.sum(p["b"] ** 2))

    x0 = {"w": jnp.zeros((d, k)), "b": jnp.zeros(k)}
    extra = {"model_fn": model_fn, "loss_of_outputs": loss_of_outputs}
    return (lambda p: loss_of_outputs(model_fn(p))), x0, extra


def _problem(name):
    if name == "rosenbrock":
        return rosenbrock, jnp.array([-1.2, 1.0]), {}
    if name == "quadratic":
        return (*_quadratic(20, 1e3), {})
    return _logistic()


# (method, problem, the most iterations it may take: measured, with a margin of about 10%)
TABLE = [
    ("lbfgs", "rosenbrock", 40),
    ("lbfgs", "quadratic", 165),
    ("lbfgs", "logistic", 12),
    ("bfgs", "rosenbrock", 43),  # 39
    ("bfgs", "quadratic", 80),  # 71 (L-BFGS: 148)
    ("bfgs", "logistic", 9),  # 8
    ("cg", "rosenbrock", 31),  # 28 with Powell restarts (21 before; evaluations 67 vs 66)
    ("cg", "quadratic", 250),
    ("cg", "logistic", 10),
    ("newton", "rosenbrock", 21),
    ("newton", "quadratic", 1),
    ("newton", "logistic", 4),
    ("hessian_free", "quadratic", 10),
    ("hessian_free", "logistic", 6),
]


@pytest.mark.parametrize("method,problem,max_iterations", TABLE)
def test_every_method_converges(method, problem, max_iterations):
    with precision("float64"):
        f, x0, extra = _problem(problem)
        r = minimize(f, x0, method, tol=1e-6, tol_kind="absolute", maxiter=2000,
                     extra_args=extra if method == "hessian_free" else None)  # fmt: skip
        assert bool(r.converged), r.message
        assert int(r.status) == Status.CONVERGED
        grad_inf = max(float(jnp.max(jnp.abs(g))) for g in jax.tree.leaves(jax.grad(f)(r.x)))
        assert grad_inf <= 1e-6 and float(r.grad_norm) <= 1e-6
        assert 1 <= int(r.iterations) <= max_iterations
        assert int(r.num_fun_evals) >= int(r.iterations) >= 1
        if method == "hessian_free":
            assert int(r.num_hvp_evals) >= int(r.iterations)
        if method == "newton":
            assert int(r.num_hessian_evals) == int(r.iterations)


def test_gradient_descent_and_first_order_transforms_in_full_batch():
    with precision("float64"):
        f, x0 = _quadratic(5, 10.0, seed=1)
        for method, linesearch in [
            ("gd", None),
            (gradtx.adam(1e-2), None),  # fixed steps
            (optax.sgd(1e-2, momentum=0.5), "backtracking"),  # an Optax transform
        ]:
            r = minimize(f, x0, method, tol=1e-6, maxiter=5000, linesearch=linesearch)
            assert bool(r.converged), (method, r.message)
            assert float(r.grad_norm) <= 1e-6 * float(jnp.max(jnp.abs(jax.grad(f)(x0))))


# The calls below reuse the programs compiled for TABLE (same objective, method, tolerance
# kind and norm), which is also what they check.


def test_minimize_compiles_once():
    with precision("float64"):
        minimize(rosenbrock, jnp.array([-1.2, 1.0]), "lbfgs", tol_kind="absolute")
        n = len(TRACES)
        r1 = minimize(rosenbrock, jnp.array([2.0, -1.0]), "lbfgs", tol=1e-8, tol_kind="absolute")
        r2 = minimize(rosenbrock, jnp.array([0.0, 0.0]), "lbfgs", tol=1e-3, tol_kind="absolute",
                      maxiter=500)  # fmt: skip
        assert len(TRACES) == n  # new x0, tol and maxiter: the same program
        assert bool(r1.converged) and bool(r2.converged)
        tx = lbfgs(memory_size=5)
        minimize(rosenbrock, jnp.array([-1.2, 1.0]), tx)
        m = len(TRACES)
        r3 = minimize(rosenbrock, jnp.array([1.5, 1.0]), tx)
        assert len(TRACES) == m  # the same transform object: the same program
        # The relative tolerance (the default) with the infinity norm (the default).
        g0 = float(jnp.max(jnp.abs(jax.grad(rosenbrock)(jnp.array([1.5, 1.0])))))
        assert bool(r3.converged) and float(r3.grad_norm) <= 1e-5 * g0
        assert float(r3.grad_norm) == float(jnp.max(jnp.abs(r3.grad)))


def test_status_max_iterations_nonfinite_start_and_optimal_start():
    with precision("float64"):
        r = minimize(rosenbrock, jnp.array([-1.2, 1.0]), "cg", tol_kind="absolute", maxiter=3)
        assert int(r.status) == Status.MAX_ITERATIONS and int(r.iterations) == 3
        assert not bool(r.converged) and "maximum number of iterations" in r.message
        r = minimize(rosenbrock, jnp.array([1.0, 1.0]), "cg", tol_kind="absolute")
        assert bool(r.converged) and int(r.iterations) == 0
        r = minimize(rosenbrock, jnp.array([1e200, 1.0]), "cg", tol_kind="absolute")
        assert int(r.status) == Status.NONFINITE and int(r.iterations) == 0


def test_float32_unreachable_tolerance_stops_with_a_status_saying_so():
    # In float32 the gradient of this quadratic cannot get below ~1e-5 (round-off in A x - b).
    with precision("float32"):
        f, x0 = _quadratic(20, 1e3)
        for method in ["lbfgs", "hessian_free"]:
            r = minimize(f, x0, method, tol=1e-10, tol_kind="absolute", maxiter=1000)
            assert not bool(r.converged)
            assert int(r.status) in (Status.LINESEARCH_FAILED, Status.STALLED), r.message
            assert int(r.iterations) < 1000
            assert "precision" in r.message
            assert float(r.grad_norm) < 1e-3  # it got about as close as float32 allows


def test_status_message_and_codes():
    assert status_message(Status.CONVERGED).startswith("converged")
    assert status_message(np.int32(3)).startswith("stopped: the objective or its gradient")
    with pytest.raises(ValueError, match="unknown status code 9"):
        status_message(9)


BAD = [
    (dict(fun=lambda x: x**2, x0=jnp.ones(3)), "fun must return a real floating scalar"),
    (dict(fun=lambda x: jnp.sum(x) > 0, x0=jnp.ones(3)), "fun must return a real floating scalar"),
    (dict(x0=jnp.array([1.0, jnp.nan])), "x0 contains NaN or inf"),
    (dict(x0={"a": jnp.ones(2, jnp.int32)}), r"x0 must have real floating leaves; \['a'\]"),
    (dict(tol=-1e-6), r"tol must be in \[0, inf\)"),
    (dict(tol=float("nan")), "tol must be in"),
    (dict(method="trust-ncg"), "method must be one of"),
    (dict(method=42), "method must be one of"),
    (dict(tol_kind="rel"), "tol_kind must be one of"),
    (dict(norm=3), "norm must be 1, 2 or math.inf"),
    (dict(maxiter=-1), "maxiter must be an integer >= 0"),
    (dict(maxiter=1.5), "maxiter must be an integer >= 0"),
    (dict(extra_args={"model_fn": jnp.ones(2)}), "extra_args must map names to callables"),
    (dict(method="hessian_free", linesearch="zoom"), "accepts or rejects its own steps"),
]


@pytest.mark.parametrize("kwargs,match", BAD, ids=[m for _, m in BAD])
def test_bad_input_raises_clear_errors(kwargs, match):
    call = {"fun": rosenbrock, "x0": jnp.array([-1.2, 1.0]), "method": "lbfgs", **kwargs}
    with pytest.raises(ValueError, match=match):
        minimize(call.pop("fun"), call.pop("x0"), **call)


def test_pytree_x0_and_gauss_newton_extra_args():
    with precision("float64"):
        f, x0, extra = _logistic(n=60, d=3, k=2, seed=3)
        r = minimize(f, x0, "hessian_free", tol=1e-8, tol_kind="absolute", extra_args=extra)
        assert int(r.num_hvp_evals) >= int(r.iterations) >= 1
        assert bool(r.converged)
        assert jax.tree.structure(r.x) == jax.tree.structure(x0)
        assert math.isfinite(float(r.value))


def test_final_state_only_on_request():
    """The state has many arrays (L-BFGS memory, line-search state): returning it by default
    would cost a small solve as much as the solve itself, so it comes with return_state."""
    f = lambda x: jnp.sum((x - 1.0) ** 2)
    assert minimize(f, jnp.zeros(3), "lbfgs").state is None
    r = minimize(f, jnp.zeros(3), "lbfgs", return_state=True)
    lbfgs_states = [s for s in jax.tree.leaves(r.state, is_leaf=lambda s: hasattr(s, "rho"))]
    assert any(hasattr(s, "rho") for s in lbfgs_states) and bool(r.converged)


# The contract between the transforms and the driver: each update's Report, read from the
# state's `report` or, for a chain, from its members (gradtx/second_order/_records.py).


class _TwoTrialState(NamedTuple):
    point: AcceptedPoint
    info: StepInfo
    failed: jax.Array

    @property
    def report(self) -> Report:
        return Report(self.info, self.point, self.failed)


def _two_trial_search(reporting: bool):
    """A custom step search: the better of the steps d and d/2 if it decreases f, else 0."""

    def init(params):
        zero = jnp.zeros([], jnp.int32)
        point = AcceptedPoint(jnp.zeros([]), jnp.zeros_like(params), jnp.asarray(False))
        state = _TwoTrialState(point, StepInfo(zero, zero, zero, zero), jnp.asarray(False))
        return state if reporting else {"hidden": state}  # a dict state does not report

    def update(d, state, params=None, *, value, grad, value_fn, **extra):
        vg = jax.value_and_grad(value_fn)
        (f1, g1), (f2, g2) = vg(params + d), vg(params + 0.5 * d)
        half = f2 < f1
        f, g, step = jnp.where(half, f2, f1), jnp.where(half, g2, g1), jnp.where(half, 0.5, 1.0)
        ok = f < value
        point = AcceptedPoint(jnp.where(ok, f, value), jnp.where(ok, g, grad), jnp.asarray(True))
        two, zero = jnp.asarray(2, jnp.int32), jnp.zeros([], jnp.int32)
        new = _TwoTrialState(point, StepInfo(two, two, zero, zero), ~ok)
        return jnp.where(ok, step, 0.0) * d, new if reporting else {"hidden": new}

    return gradtx.GradientTransformation(init, update)


def test_a_custom_transform_reports_through_its_state_or_the_driver_evaluates():
    with precision("float64"):
        f = lambda x: 0.5 * jnp.sum(jnp.array([1.0, 4.0]) * x**2)
        x0 = jnp.array([1.0, -1.0])
        descend = lambda reporting: gradtx.chain(gradtx.scale(-0.3), _two_trial_search(reporting))
        told = minimize(f, x0, descend(True), tol=1e-8, tol_kind="absolute")
        quiet = minimize(f, x0, descend(False), tol=1e-8, tol_kind="absolute")
        assert bool(told.converged) and bool(quiet.converged)
        np.testing.assert_array_equal(told.x, quiet.x)  # the same steps, the same values
        assert int(told.iterations) == int(quiet.iterations) >= 5
        # Reported: its 2 evaluations per step, and no more. Not reported: the driver's own.
        assert int(told.num_fun_evals) == 1 + 2 * int(told.iterations)
        assert int(quiet.num_fun_evals) == 1 + int(quiet.iterations)
        # An ascent direction: a reported failure stops the loop; without a report, the
        # driver cannot tell, and it runs to maxiter.
        ascend = lambda reporting: gradtx.chain(gradtx.scale(0.3), _two_trial_search(reporting))
        r = minimize(f, x0, ascend(True), tol=1e-8, maxiter=5)
        assert int(r.status) == Status.LINESEARCH_FAILED and int(r.iterations) == 1
        r = minimize(f, x0, ascend(False), tol=1e-8, maxiter=5)
        assert int(r.status) == Status.MAX_ITERATIONS


def _one_update(tx, f, x):
    value, grad = jax.value_and_grad(f)(x)
    return tx.update(grad, tx.init(x), x, value=value, grad=grad, value_fn=f)


def test_report_of_reads_the_state_or_a_chains_members_and_nothing_else():
    with precision("float64"):
        f = lambda x: jnp.sum((x - 1.0) ** 4) + x[0] * x[1]
        x = jnp.array([-1.2, 1.0])
        _, state = _one_update(newton(), f, x)  # (newton, scale(-1), zoom search)
        r = report_of(state)
        assert r.point is state[-1].point and r.failed is not None and not bool(r.failed)
        assert int(r.info.num_hessian_evals) == 1  # the direction's Hessian, summed in
        assert int(r.info.num_fun_evals) == int(state[-1].info.num_fun_evals) >= 1
        nested = report_of(_one_update(gradtx.chain(newton()), f, x)[1])  # a chain in a chain
        assert jax.tree.structure(nested) == jax.tree.structure(r)
        for a, b in zip(jax.tree.leaves(nested), jax.tree.leaves(r)):
            np.testing.assert_array_equal(a, b)
        # A member after the search changes the step: its point is no longer the new point.
        after = report_of(_one_update(gradtx.chain(lbfgs(), gradtx.scale(0.5)), f, x)[1])
        assert after.point is None and int(after.info.num_fun_evals) >= 1
        _, hf_state = _one_update(hessian_free(), f, x)
        assert report_of(hf_state).point is hf_state.point
        # No report: first-order states, a direction's NamedTuple state (not a chain), and
        # a state inside another transform's state (a named_chain's dict).
        assert report_of(gradtx.adam(0.1).init(x)) is None
        assert report_of(gradtx.second_order.scale_by_lbfgs().init(x)) is None
        assert report_of(_one_update(gradtx.named_chain(("s", lbfgs())), f, x)[1]) is None


def test_a_report_that_is_not_a_report_raises():
    class Odd(NamedTuple):
        report: tuple

    with pytest.raises(ValueError, match=r"Odd\.report must be a gradtx\.second_order\.Report"):
        report_of(Odd((1, 2)))
