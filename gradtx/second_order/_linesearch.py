r"""Line searches: their common state, conventions and helpers.

A line search is an ordinary chain member, usually the last one. Its input ``updates`` is a
search direction $d$ (already a descent direction, e.g. $-H g$); it returns the step
$\alpha d$, with $\alpha$ found by evaluating $\varphi(\alpha) = f(x + \alpha d)$ through
the extra argument ``value_fn``. Both searches follow Optax's extra-argument convention::

    updates, state = tx.update(d, state, params, value=f(x), grad=grad_f(x), value_fn=f)

and, as in Optax, the update's other keyword arguments are given to ``value_fn`` when it
names them (``value_fn=fn, x=x, y=y`` evaluates ``fn(p, x=x, y=y)``); one that
``value_fn`` does not take raises a ``TypeError``, except the extra arguments that other
gradtx transforms read (:data:`CHAIN_EXTRAS`). The searches store the value and gradient at
the accepted point $x + \alpha d$ in the state (``state.point``; a fresh state's value is
$+\infty$, as in Optax), with the evaluations made (``state.info``), the outcome
(``state.failed``) and Optax's diagnostics (``num_linesearch_steps``, ``decrease_error``,
``curvature_error``); ``state.report`` gives the first three as the
:class:`~gradtx.second_order.Report` a driver reads (see ``_records.py``). A driver that
applies exactly the returned updates reads the point back with
:func:`value_and_grad_from_state` instead of evaluating $f$ again;
:func:`gradtx.second_order.minimize` does so. Each search runs in one
:func:`jax.lax.while_loop`, so it jits, and every scalar it writes to the state has the
dtype the state was initialized with (a Python float written into it, e.g. with
``optax.tree.set(state, learning_rate=0.5)``, is read as that dtype). The searches
are :func:`scale_by_backtracking_linesearch` (Armijo, ``_backtracking.py``) and
:func:`scale_by_zoom_linesearch` (strong Wolfe, ``_zoom.py``).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _extra, _tree, _validate, _vectors
from gradtx._base import apply_updates
from gradtx.second_order import _records
from gradtx.second_order._records import AcceptedPoint, Report, StepInfo

#: Extra ``update`` arguments read by gradtx transforms (``gradtx/_extra.py``): a line
#: search neither gives them to ``value_fn`` nor rejects them.
CHAIN_EXTRAS = frozenset(
    {"value", "grad", "value_fn", "gradient", "model_fn", "loss_of_outputs", "hessian_fn",
     "preconditioner_diag"}
)  # fmt: skip

# The sentences Optax's line searches print with ``verbose=True`` (kept word for word, so
# that a log parsed for them reads the same).
FLAG_INTERVAL_NOT_FOUND = (
    "No interval satisfying curvature condition. "
    "Consider increasing maximal possible stepsize of the linesearch."
)
FLAG_INTERVAL_TOO_SMALL = "Length of searched interval has been reduced below threshold."
FLAG_CURVATURE_COND_NOT_SATISFIED = (
    "Returning stepsize with sufficient decrease but curvature condition not satisfied."
)
FLAG_NO_STEPSIZE_FOUND = "Linesearch failed, no stepsize satisfying sufficient decrease found."
FLAG_NOT_A_DESCENT_DIRECTION = (
    "The linesearch failed because the provided direction is not a descent direction. "
)


class LineSearchState(NamedTuple):
    r"""State of a line search (both searches; Optax's names where Optax has them).

    Attributes:
      learning_rate: the step $\alpha$ accepted by the last search (0 after a failure; 1 in
        a fresh state, the previous step of Optax's ``"keep"`` guess).
      count: int32 number of searches made.
      prev_value: $f(x_k)$, the value where the last search started.
      prev_slope: $\varphi_k'(0) = \langle \nabla f(x_k), d_k\rangle$ of the last search.
      point: value and gradient at the accepted point $x_k + \alpha d_k$ (``point.value``
        is $+\infty$ in a fresh state).
      failed: whether the last search found no acceptable step.
      info: evaluations made by the last search.
      num_linesearch_steps: int32 trials of the last search.
      decrease_error: how far the returned step misses sufficient decrease (0 if it meets
        it, $+\infty$ if $f$ was not finite), as in Optax; after a failed backtracking
        search (step 0), the last trial's.
      curvature_error: how far it misses $|\varphi'(\alpha)| \le c_2 |\varphi'(0)|$ (0 if
        it meets it; always 0 for backtracking, which imposes no curvature condition).
      report: (a property, not a field) ``info``, ``point`` and ``failed`` as the
        :class:`~gradtx.second_order.Report` a driver reads.
    """

    learning_rate: jax.Array
    count: jax.Array
    prev_value: jax.Array
    prev_slope: jax.Array
    point: AcceptedPoint
    failed: jax.Array
    info: StepInfo
    num_linesearch_steps: jax.Array
    decrease_error: jax.Array
    curvature_error: jax.Array

    @property
    def report(self) -> Report:
        """The last search's evaluations, accepted point and outcome."""
        return Report(self.info, self.point, self.failed)


def init_search_state(params: Any) -> LineSearchState:
    point = _records.empty_point(params)
    dtype = point.value.dtype
    zero, one, inf = (jnp.asarray(v, dtype) for v in (0.0, 1.0, jnp.inf))
    return LineSearchState(
        one,
        jnp.zeros([], jnp.int32),
        zero,
        zero,
        point._replace(value=inf),
        jnp.asarray(False),
        _records.step_info(),
        jnp.zeros([], jnp.int32),
        inf,
        inf,
    )


def _keyword_names(fn: Any) -> tuple[frozenset, bool]:
    """The names ``fn`` accepts by keyword after its first argument, and whether it has
    ``**kwargs``."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature: no keywords
        return frozenset(), False
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    names = frozenset(p.name for p in parameters[1:] if p.kind in kinds)
    return names, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def value_fn_kwargs(value_fn: Any, extra: dict, who: str) -> dict:
    """The extra arguments ``value_fn`` takes; a ``TypeError`` for any other unknown one."""
    names, takes_any = _keyword_names(value_fn)
    rest = {k: v for k, v in extra.items() if k not in CHAIN_EXTRAS}
    unused = sorted(k for k in rest if not (takes_any or k in names))
    if unused:
        raise TypeError(
            f"Unexpected keyword arguments passed to `{who}.update`: {unused} are not "
            "consumed by `value_fn` (give value_fn a parameter of that name, or do not pass "
            "them)."
        )
    return rest


def search_inputs(updates, params, extra, who):
    """The objective at ``params`` (with its extra arguments bound): value, grad, slope."""
    value_fn = extra.get("value_fn")
    if value_fn is None or not callable(value_fn):
        raise _extra.MissingExtraArgError(
            f"{who} needs the extra argument value_fn=f (a callable f(params))."
        )
    if params is None:
        raise ValueError(f"{who} needs params (the point the search starts from).")
    grad = extra.get("grad")
    grad = extra.get("gradient") if grad is None else grad
    if grad is None:
        raise _extra.MissingExtraArgError(
            f"{who} needs the extra argument grad= (the gradient at params)."
        )
    kwargs = value_fn_kwargs(value_fn, extra, who)
    fn = (lambda p: value_fn(p, **kwargs)) if kwargs else value_fn
    value, evals = extra.get("value"), 0
    if value is None:
        value, evals = fn(params), 1
    value = jnp.real(jnp.asarray(value))
    dtype = _vectors.result_dtype(updates)
    if jnp.issubdtype(value.dtype, jnp.floating):
        dtype = jnp.promote_types(dtype, value.dtype)
    value = value.astype(dtype)
    slope = _vectors.vdot(grad, updates).astype(dtype)  # grad: the conjugate of jax.grad
    return fn, value, grad, slope, evals


def _conj(tree: Any) -> Any:
    return _vectors.map_trainable(lambda x: jnp.conj(x) if jnp.iscomplexobj(x) else x, tree)


def evaluate_on_line(value_fn, params, direction, alpha, dtype):
    r"""$\varphi(\alpha)$, $\varphi'(\alpha)$, $\nabla f(x + \alpha d)$; inf/nan if not finite.

    The gradient is JAX's, stored as Optax stores it (for complex parameters the conjugate
    of the ascent direction, which a caller conjugates before passing it as ``grad``), so
    the slope is $\operatorname{Re}\sum \nabla f\, d$.
    """
    trial = apply_updates(params, _vectors.scale(alpha, direction))
    f, g = jax.value_and_grad(value_fn)(trial)
    f = jnp.asarray(f).astype(dtype)
    df = _vectors.vdot(_conj(g), direction).astype(dtype)
    ok = jnp.isfinite(f) & jnp.isfinite(df)
    return jnp.where(ok, f, jnp.inf), jnp.where(ok, df, jnp.nan), g


def nonnegative_error(e):
    """``max(e, 0)``, with NaN read as $+\\infty$ (Optax's convention for the errors)."""
    return jnp.where(jnp.isnan(e), jnp.inf, jnp.maximum(e, 0))


def finish_search(state, updates, params, alpha, point, start, failed, steps, evals, errors):
    r"""The step $\alpha d$ and the new state, every scalar in the state's dtype.

    ``point`` is (value, grad, valid), ``start`` ($f(x)$, $\varphi'(0)$), ``evals`` the
    (function, gradient) evaluations and ``errors`` the decrease and curvature errors.
    """
    dtype = _vectors.result_dtype(params)  # the dtype init_search_state chose
    value0, slope0 = start
    value, grad, valid = point
    grad = _tree.cast_like(grad, state.point.grad)
    info = _records.step_info(*evals, 0, 0)
    new = LineSearchState(
        alpha.astype(dtype),
        _tree.safe_increment(state.count),
        value0.astype(dtype),
        slope0.astype(dtype),
        AcceptedPoint(value.astype(dtype), grad, jnp.asarray(valid)),
        jnp.asarray(failed),
        info,
        jnp.asarray(steps, jnp.int32),
        *(e.astype(dtype) for e in errors),
    )
    return _vectors.scale(alpha, updates), new


def as_scalars(dtype, *values):
    """Hyperparameters (Python numbers or arrays of any dtype) as scalars of ``dtype``."""
    return tuple(jnp.asarray(v).astype(dtype) for v in values)


def cond_print(flag, message: str, **values) -> None:
    """``jax.debug.print(message)`` when the traced ``flag`` holds (``verbose=True`` only)."""
    jax.lax.cond(
        flag,
        lambda v: jax.debug.print(message, **v, ordered=True),
        lambda v: None,
        values,
    )


def check_rate(name: str, value: Any, low: float = 0.0, low_open: bool = True) -> None:
    """``value`` in (low, inf] (``[low, inf]`` with ``low_open=False``): +inf is allowed."""
    v = _validate.concrete_value(value)
    if v is None:  # not concrete, or not a real scalar: the usual checks and messages
        _validate.check_range(name, value, low, None, low_open=low_open)
    elif math.isnan(v) or v < low or (low_open and v == low):
        left = "(" if low_open else "["
        raise ValueError(f"{name} must be in {left}{low:g}, inf], got {value!r}.")


def value_and_grad_from_state(value_fn: Callable[..., Any]) -> Callable[..., Any]:
    r"""Wrap ``value_fn`` to reuse the value and gradient a line search stored in the state.

    $$\big(f(x_{k+1}), \nabla f(x_{k+1})\big) = \texttt{state.point}
    \quad\text{if valid, else computed}$$

    The returned function ``fn(params, *args, state, **kwargs)`` reads the point of the
    state's :class:`~gradtx.second_order.Report`
    (:func:`~gradtx.second_order.report_of`: the state's own, or a chain's last member's: a
    line search, or :func:`hessian_free`'s acceptance test) and returns it when valid;
    otherwise (the first step, or a backtracking search without ``store_grad``, where
    Optax raises) it calls ``jax.value_and_grad(value_fn)(params, *args, **kwargs)``. As in
    Optax, a state that stores no point at all (e.g. ``scale_by_adam``'s) raises a
    ``ValueError``. The stored point is only correct if ``params`` are exactly
    ``apply_updates(previous_params, updates)`` for the updates the transform returned.

    Args:
      value_fn: the objective $f$, a callable of the parameters (and of ``args``/``kwargs``).

    Returns:
      A function ``(params, *args, state, **kwargs) -> (value, grad)``; it raises a
      ``ValueError`` for a state that stores no point.

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

    def fn(params, *args, state, **kwargs):
        report = _records.report_of(state)
        point = None if report is None else report.point
        if point is None:
            raise ValueError(
                "value_and_grad_from_state: the state stores no value and gradient (its "
                "transform, or a chain's last member, must report a point: a line search "
                "or hessian_free; see gradtx.second_order.report_of)."
            )
        return _records.stored_or_computed(point, lambda x: vg(x, *args, **kwargs), params)

    return fn
