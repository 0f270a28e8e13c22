r"""The contract between second-order transforms and a driver: each update's :class:`Report`.

A driver (:func:`~gradtx.second_order.minimize`,
:func:`~gradtx.second_order.value_and_grad_from_state`, or a user's own loop) needs three
things from each update:

* :class:`StepInfo` -- how many function, gradient, Hessian-vector and Hessian evaluations
  the update made;
* :class:`AcceptedPoint` -- the objective's value and gradient at ``params + updates``,
  evaluated by the member that chose the step (a line search, or Hessian-free's acceptance
  test), so that the next step does not evaluate them again;
* whether that member *failed* to find an acceptable step.

They travel together as a :class:`Report`, read from one known place by :func:`report_of`:
the ``report`` attribute of the state (every second-order state has one, a property
assembled from its fields, so state layouts and checkpoints do not depend on it), or, for a
:func:`~gradtx.chain` (whose state is a plain tuple of member states), its members' reports
combined: evaluations summed, failures or-ed, and the point of the *last* member only (a
member after the one that evaluated the point changes the step, so its point would be
wrong). Nothing else is looked at: a state hidden inside another transform's state (a
wrapper, ``inject_hyperparams``, a ``named_chain``'s dict) does not report, and the driver
then evaluates $f$ and $\nabla f$ itself.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _vectors
from gradtx._base import Scalar


class StepInfo(NamedTuple):
    """Evaluations made by the last ``update`` (int32 scalars).

    Attributes:
      num_fun_evals: objective evaluations (a value-and-gradient call counts one here and
        one in ``num_grad_evals``).
      num_grad_evals: gradient evaluations.
      num_hvp_evals: Hessian- or Gauss-Newton-vector products.
      num_hessian_evals: dense Hessians formed.
    """

    num_fun_evals: jax.Array
    num_grad_evals: jax.Array
    num_hvp_evals: jax.Array
    num_hessian_evals: jax.Array


def step_info(fun: Scalar = 0, grad: Scalar = 0, hvp: Scalar = 0, hessian: Scalar = 0) -> StepInfo:
    """A :class:`StepInfo` from counts."""
    return StepInfo(*(jnp.asarray(c, jnp.int32) for c in (fun, grad, hvp, hessian)))


class AcceptedPoint(NamedTuple):
    """The objective at the point the last ``update`` moved to: ``params + updates``.

    Attributes:
      value: $f(x_{k+1})$.
      grad: $\\nabla f(x_{k+1})$, a tree like the parameters.
      valid: whether ``value`` and ``grad`` are those of the point: False until the first
        ``update`` (they are placeholders), and always False for a backtracking search
        without ``store_grad`` (it evaluates values only).
    """

    value: jax.Array
    grad: Any
    valid: jax.Array


def empty_point(params: Any) -> AcceptedPoint:
    """A placeholder :class:`AcceptedPoint` (works on ``jax.ShapeDtypeStruct`` trees)."""
    dtype = _vectors.result_dtype(params)
    return AcceptedPoint(jnp.zeros([], dtype), _tree.zeros_like(params), jnp.asarray(False))


def stored_or_computed(point: AcceptedPoint, compute: Any, x: Any) -> tuple[Any, Any]:
    """``(point.value, point.grad)`` if the point is valid, else ``compute(x)`` (a value
    and a gradient, cast to the point's dtypes)."""

    def computed(x):
        value, grad = compute(x)
        return jnp.asarray(value).astype(point.value.dtype), _tree.cast_like(grad, point.grad)

    return jax.lax.cond(point.valid, lambda _: (point.value, point.grad), computed, x)


class Report(NamedTuple):
    """What one ``update`` of a second-order transform tells a driver (see the module).

    A direction (:func:`~gradtx.second_order.scale_by_newton`) reports its evaluations only;
    a member that chooses the step (a line search,
    :func:`~gradtx.second_order.hessian_free`) also reports the point it moved to and
    whether it failed.

    Attributes:
      info: the evaluations the update made (:class:`StepInfo`).
      point: $f$ and $\\nabla f$ at ``params + updates`` (:class:`AcceptedPoint`), or
        ``None`` when the transform did not evaluate them (the driver does).
      failed: bool, whether a line search found no acceptable step (its step is then 0).
    """

    info: StepInfo
    point: AcceptedPoint | None
    failed: jax.Array


def _combine(reports: list[Report | None]) -> Report | None:
    """A chain's report from its members': counts summed, failures or-ed, the last point."""
    present = [r for r in reports if r is not None]
    if not present:
        return None
    if len(present) == 1 and present[0] is reports[-1]:  # e.g. lbfgs(): only the search
        return present[0]
    info = StepInfo(*(sum(counts[1:], counts[0]) for counts in zip(*(r.info for r in present))))
    failed = jnp.any(jnp.stack([jnp.asarray(r.failed) for r in present]))
    last = reports[-1]
    return Report(info, None if last is None else last.point, failed)


def report_of(state: Any) -> Report | None:
    r"""The :class:`Report` of the update that returned ``state``, or ``None``.

    $$\text{report}(s) = \begin{cases} s.\text{report} & s \text{ has one}\\
    \big(\textstyle\sum_i \text{info}_i,\ \text{point}_K,\ \bigvee_i \text{failed}_i\big)
    & s = (s_1, \dots, s_K) \text{, a chain's state}\\ \text{None} & \text{else}
    \end{cases}$$

    with the chain rule applied to each member (nested chains included) and members without
    a report skipped in the sums. This is the whole contract a custom transform meets to
    take part in :func:`~gradtx.second_order.minimize`'s accounting: give its state a
    ``report`` (a NamedTuple field or property holding a :class:`Report`), or make it a
    :func:`~gradtx.chain` whose last member's state has one. Without it the driver still
    works: it evaluates $f$ and $\nabla f$ at each new point itself and sees no failures.

    Args:
      state: the state returned by ``update``.

    Returns:
      A :class:`Report`, or ``None`` when neither the state nor, for a chain, any member
      reports.

    Raises:
      ValueError: if ``state.report`` exists but is not a :class:`Report`.

    References:
      The search/descent split with explicit records of Optimistix: Rader, Lyons & Kidger,
      "Optimistix: modular optimisation in JAX and Equinox", arXiv:2402.09983, 2024.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from gradtx.second_order import lbfgs, report_of
      >>> f = lambda x: jnp.sum((x - 1.0) ** 2)
      >>> tx, x = lbfgs(), jnp.zeros(2)
      >>> u, state = tx.update(jax.grad(f)(x), tx.init(x), x, value=f(x), grad=jax.grad(f)(x),
      ...                      value_fn=f)
      >>> r = report_of(state)  # the chain's last member, the zoom line search, reports
      >>> int(r.info.num_fun_evals), float(r.point.value) == float(f(x + u)), bool(r.failed)
      (1, True, False)
    """
    report = getattr(state, "report", None)
    if report is not None:
        if not isinstance(report, Report):
            raise ValueError(
                f"{type(state).__name__}.report must be a gradtx.second_order.Report, got "
                f"{type(report).__name__} (see gradtx.second_order.report_of)."
            )
        return report
    if type(state) is tuple and state:  # a chain's state; a NamedTuple is not one
        return _combine([report_of(s) for s in state])
    return None
