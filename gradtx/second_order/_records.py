"""The records every second-order state carries, so that a driver can read them.

* :class:`StepInfo` -- how many function, gradient, Hessian-vector and Hessian evaluations
  the last ``update`` made;
* :class:`AcceptedPoint` -- the objective's value and gradient at ``params + updates``,
  evaluated by a line search (or by Hessian-free's acceptance test), so that the next step
  does not evaluate them again.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree


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


def step_info(fun: Any = 0, grad: Any = 0, hvp: Any = 0, hessian: Any = 0) -> StepInfo:
    """A :class:`StepInfo` from counts."""
    return StepInfo(*(jnp.asarray(c, jnp.int32) for c in (fun, grad, hvp, hessian)))


class AcceptedPoint(NamedTuple):
    """The objective at the point the last ``update`` moved to: ``params + updates``.

    Attributes:
      value: $f(x_{k+1})$.
      grad: $\\nabla f(x_{k+1})$, a tree like the parameters.
      valid: False until the first ``update`` (then ``value`` and ``grad`` are placeholders).
    """

    value: jax.Array
    grad: Any
    valid: jax.Array


def empty_point(params: Any) -> AcceptedPoint:
    """A placeholder :class:`AcceptedPoint` (works on ``jax.ShapeDtypeStruct`` trees)."""
    dtype = _tree.result_dtype(params)
    return AcceptedPoint(jnp.zeros([], dtype), _tree.zeros_like(params), jnp.asarray(False))


def find(state: Any, kind: type) -> list[Any]:
    """Every record of type ``kind`` (e.g. :class:`StepInfo`) in a nested optimizer state."""
    leaves = jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, kind))
    return [x for x in leaves if isinstance(x, kind)]
