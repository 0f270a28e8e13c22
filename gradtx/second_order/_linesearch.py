r"""Line searches: their common state and conventions, and backtracking Armijo.

A line search is an ordinary chain member, usually the last one. Its input ``updates`` is a
search direction $d$ (already a descent direction, e.g. $-H g$); it returns the step
$\alpha d$, with $\alpha$ found by evaluating $\varphi(\alpha) = f(x + \alpha d)$ through
the extra argument ``value_fn``. Both searches follow Optax's extra-argument convention::

    updates, state = tx.update(d, state, params, value=f(x), grad=grad_f(x), value_fn=f)

and store the value and gradient at the accepted point $x + \alpha d$ in the state
(``state.point``), with the evaluations made (``state.info``) and the outcome
(``state.failed``); ``state.report`` gives the three as the
:class:`~gradtx.second_order.Report` a driver reads (see ``_records.py``). A driver that
applies exactly the returned updates reads the point back with
:func:`value_and_grad_from_state` instead of evaluating $f$ again;
:func:`gradtx.second_order.minimize` does so. Each search runs in one
:func:`jax.lax.while_loop`, so it jits. The zoom
(strong-Wolfe) search is :func:`scale_by_zoom_linesearch`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, apply_updates, check_state_type
from gradtx.second_order import _records
from gradtx.second_order._records import AcceptedPoint, Report, StepInfo


class LineSearchState(NamedTuple):
    r"""State of a line search.

    Attributes:
      count: int32 number of searches made.
      learning_rate: the step $\alpha$ accepted by the last search (0 after a failure).
      prev_value: $f(x_k)$, the value where the last search started.
      prev_slope: $\varphi_k'(0) = \langle \nabla f(x_k), d_k\rangle$ of the last search.
      point: value and gradient at the accepted point $x_k + \alpha d_k$.
      failed: whether the last search found no acceptable step.
      info: evaluations made by the last search.
      report: (a property, not a field) ``info``, ``point`` and ``failed`` as the
        :class:`~gradtx.second_order.Report` a driver reads.
    """

    count: jax.Array
    learning_rate: jax.Array
    prev_value: jax.Array
    prev_slope: jax.Array
    point: AcceptedPoint
    failed: jax.Array
    info: StepInfo

    @property
    def report(self) -> Report:
        """The last search's evaluations, accepted point and outcome."""
        return Report(self.info, self.point, self.failed)


def init_search_state(params: Any) -> LineSearchState:
    point = _records.empty_point(params)
    zero = point.value
    return LineSearchState(
        jnp.zeros([], jnp.int32), zero, zero, zero, point, jnp.asarray(False), _records.step_info()
    )


def search_inputs(updates, params, extra, who):
    """The objective at ``params``: its value, gradient and slope along ``updates``."""
    value_fn = extra.get("value_fn")
    if value_fn is None or not callable(value_fn):
        raise ValueError(f"{who} needs the extra argument value_fn=f (a callable f(params)).")
    if params is None:
        raise ValueError(f"{who} needs params (the point the search starts from).")
    grad = extra.get("grad")
    grad = extra.get("gradient") if grad is None else grad
    if grad is None:
        raise ValueError(f"{who} needs the extra argument grad= (the gradient at params).")
    value, evals = extra.get("value"), 0
    if value is None:
        value, evals = value_fn(params), 1
    value = jnp.asarray(value)
    dtype = jnp.promote_types(_tree.result_dtype(updates), value.dtype)
    value = value.astype(dtype)
    slope = _tree.vdot(grad, updates).astype(dtype)
    return value_fn, value, grad, slope, evals


def evaluate_on_line(value_fn, params, direction, alpha, dtype):
    r"""$\varphi(\alpha)$, $\varphi'(\alpha)$, $\nabla f(x + \alpha d)$; inf/nan if not finite."""
    trial = apply_updates(params, _tree.scale(alpha, direction))
    f, g = jax.value_and_grad(value_fn)(trial)
    f = jnp.asarray(f).astype(dtype)
    df = _tree.vdot(g, direction).astype(dtype)
    ok = jnp.isfinite(f) & jnp.isfinite(df)
    return jnp.where(ok, f, jnp.inf), jnp.where(ok, df, jnp.nan), g


def finish_search(state, updates, alpha, value, grad, value0, slope0, failed, evals):
    r"""The step $\alpha d$ and the new state (scalars kept in the state's dtype)."""
    dtype = state.learning_rate.dtype
    point = AcceptedPoint(value.astype(dtype), grad, jnp.asarray(True))
    info = _records.step_info(evals, evals, 0, 0)
    new = LineSearchState(
        _tree.safe_increment(state.count),
        alpha.astype(dtype),
        value0.astype(dtype),
        slope0.astype(dtype),
        point,
        jnp.asarray(failed),
        info,
    )
    return _tree.scale(alpha, updates), new


# ---------------------------------------------------------------------------------------
# Backtracking (Armijo).


def scale_by_backtracking_linesearch(
    max_backtracking_steps: int = 30,
    slope_rtol: float = 1e-4,
    decrease_factor: float = 0.5,
    increase_factor: float = 2.0,
    max_learning_rate: float = 1.0,
) -> GradientTransformation:
    r"""Scale the direction by the first step that decreases $f$ enough (Armijo).

    $$\alpha_0 = \min(\alpha_\max, \gamma\,\alpha_{k-1}),\quad \alpha_{j+1} = \tau\,\alpha_j
    \ \text{ until }\ f(x + \alpha_j d) \le f(x) + c_1\,\alpha_j\,\langle\nabla f(x), d\rangle$$

    with $c_1$ = ``slope_rtol``, $\tau$ = ``decrease_factor``, $\gamma$ =
    ``increase_factor``, $\alpha_\max$ = ``max_learning_rate`` (also the first trial of the
    first search). Each trial evaluates the value and the gradient, so the gradient at the
    accepted point is stored for the next step (:func:`value_and_grad_from_state`). If no
    trial is accepted (or $d$ is not a descent direction) the step is 0 and
    ``state.failed`` is set.

    Args:
      max_backtracking_steps: the most trials per search ($\ge 1$).
      slope_rtol: $c_1 \in (0, 1)$.
      decrease_factor: $\tau \in (0, 1)$.
      increase_factor: $\gamma \ge 1$.
      max_learning_rate: $\alpha_\max > 0$.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`LineSearchState`; its
      ``update`` needs ``value_fn`` and ``grad`` (or the chain's ``gradient``), and uses
      ``value`` when given.

    References:
      Armijo, "Minimization of functions having Lipschitz continuous first partial
      derivatives", Pacific J. Math. 16(1), 1966; Nocedal & Wright, "Numerical
      Optimization", 2nd ed., Springer 2006, Algorithm 3.1.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.second_order import scale_by_backtracking_linesearch
      >>> f = lambda x: jnp.sum(x**2)
      >>> x = jnp.array([1.0, 2.0]); tx = scale_by_backtracking_linesearch()
      >>> u, s = tx.update(-2 * x, tx.init(x), x, value=f(x), grad=2 * x, value_fn=f)
      >>> u.tolist(), float(s.learning_rate), float(s.point.value)
      ([-1.0, -2.0], 0.5, 0.0)
    """
    max_steps = _validate.check_int("max_backtracking_steps", max_backtracking_steps, 1)
    _validate.check_range("slope_rtol", slope_rtol, 0.0, 1.0, low_open=True, high_open=True)
    _validate.check_range(
        "decrease_factor", decrease_factor, 0.0, 1.0, low_open=True, high_open=True
    )
    _validate.check_range("increase_factor", increase_factor, 1.0)
    _validate.check_positive("max_learning_rate", max_learning_rate)

    def update(updates, state, params=None, **extra):
        check_state_type(state, LineSearchState, "scale_by_backtracking_linesearch")
        value_fn, f0, g0, df0, evals0 = search_inputs(updates, params, extra, "backtracking")
        dtype = f0.dtype
        amax = jnp.asarray(max_learning_rate, dtype)
        grown = jnp.minimum(amax, increase_factor * state.learning_rate)
        a0 = jnp.where(state.count > 0, grown, amax)
        a0 = jnp.where(a0 > 0, a0, amax)

        def cond(c):
            i, done, *_ = c
            return (~done) & (i < max_steps) & (df0 < 0)

        def body(c):
            i, _, a, _, _ = c
            f, _, g = evaluate_on_line(value_fn, params, updates, a, dtype)
            ok = f <= f0 + slope_rtol * a * df0
            return i + 1, ok, jnp.where(ok, a, a * decrease_factor), f, g

        init = (jnp.zeros([], jnp.int32), jnp.asarray(False), a0, f0, g0)
        i, done, a, f, g = jax.lax.while_loop(cond, body, init)
        alpha = jnp.where(done, a, 0).astype(dtype)
        value = jnp.where(done, f, f0)
        grad = _tree.where(done, g, g0)
        failed = ~done & (df0 != 0)
        return finish_search(state, updates, alpha, value, grad, f0, df0, failed, i + evals0)

    return GradientTransformation(init_search_state, update)


def value_and_grad_from_state(value_fn: Any) -> Any:
    r"""Wrap ``value_fn`` to reuse the value and gradient a line search stored in the state.

    $$\big(f(x_{k+1}), \nabla f(x_{k+1})\big) = \texttt{state.point}
    \quad\text{if valid, else computed}$$

    The returned function ``fn(params, *, state)`` reads the point of the state's
    :class:`~gradtx.second_order.Report` (:func:`~gradtx.second_order.report_of`: the
    state's own, or a chain's last member's: a line search, or :func:`hessian_free`'s
    acceptance test) and returns it when valid; otherwise (the first step, or a transform
    that reports none) it calls ``jax.value_and_grad(value_fn)(params)``. The stored point
    is only correct if ``params`` are exactly ``apply_updates(previous_params, updates)``
    for the updates the transform returned.

    Args:
      value_fn: the objective $f$, a callable of the parameters.

    Returns:
      A function ``(params, *, state) -> (value, grad)``.

    References:
      The same helper in Optax (``optax.value_and_grad_from_state``), DeepMind et al., "The
      DeepMind JAX Ecosystem", 2020, http://github.com/google-deepmind.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.second_order import lbfgs, value_and_grad_from_state
      >>> f = lambda x: jnp.sum((x - 3.0) ** 2)
      >>> tx, x = lbfgs(), jnp.zeros(2)
      >>> vg = value_and_grad_from_state(f)
      >>> state = tx.init(x)
      >>> for _ in range(3):
      ...     value, grad = vg(x, state=state)
      ...     u, state = tx.update(grad, state, x, value=value, grad=grad, value_fn=f)
      ...     x = x + u
      >>> x.tolist()
      [3.0, 3.0]
    """
    vg = jax.value_and_grad(value_fn)

    def fn(params, *, state):
        report = _records.report_of(state)
        point = None if report is None else report.point
        if point is None:
            return vg(params)

        def compute(x):
            value, grad = vg(x)
            return jnp.asarray(value).astype(point.value.dtype), grad

        return jax.lax.cond(point.valid, lambda _: (point.value, point.grad), compute, params)

    return fn
