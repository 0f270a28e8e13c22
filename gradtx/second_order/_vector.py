"""Pytrees as vectors: inner products, scaled sums, norms, and the evaluation bookkeeping.

Second-order methods treat the parameters as one vector $x \\in \\mathbb{R}^n$ made of every
trainable leaf. These helpers do the vector algebra on the tree without flattening it
(``None`` and non-float leaves are skipped, like everywhere in gradtx), and define the two
small records that every second-order state carries so that a driver can read them without
knowing the method:

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


def _map(fn, *trees):
    """Apply ``fn`` to trainable leaves; other leaves of the first tree pass through."""

    def leaf(x, *rest):
        if x is None or not _tree.is_trainable(x):
            return x
        return fn(x, *rest)

    return jax.tree.map(leaf, *trees, is_leaf=_tree.is_none)


def _pairs(a, b):
    la = jax.tree.leaves(a, is_leaf=_tree.is_none)
    lb = jax.tree.leaves(b, is_leaf=_tree.is_none)
    return [(x, y) for x, y in zip(la, lb) if x is not None and _tree.is_trainable(x)]


def vdot(a: Any, b: Any) -> jax.Array:
    """$\\langle a, b\\rangle = \\sum_\\text{leaves} \\operatorname{Re} \\sum a\\,b$."""
    terms = [jnp.real(jnp.vdot(x, y)) for x, y in _pairs(a, b)]
    if not terms:
        return jnp.zeros([])
    return sum(terms[1:], terms[0])


def add_scaled(a: Any, alpha: Any, b: Any) -> Any:
    """$a + \\alpha\\, b$, with $\\alpha$ cast to each leaf's dtype."""
    return _map(lambda x, y: x + jnp.asarray(alpha).astype(x.dtype) * y, a, b)


def scale(alpha: Any, a: Any) -> Any:
    """$\\alpha\\, a$."""
    return _map(lambda x: jnp.asarray(alpha).astype(x.dtype) * x, a)


def sub(a: Any, b: Any) -> Any:
    """$a - b$."""
    return _map(lambda x, y: x - y, a, b)


def mul(a: Any, b: Any) -> Any:
    """The elementwise product $a \\odot b$."""
    return _map(lambda x, y: x * y, a, b)


def where(cond: Any, a: Any, b: Any) -> Any:
    """``a`` where the scalar ``cond`` holds, else ``b``."""
    return _map(lambda x, y: jnp.where(cond, x, y), a, b)


def zeros_like(a: Any) -> Any:
    """Zeros with the structure and dtypes of ``a``."""
    return _map(jnp.zeros_like, a)


def norm(a: Any, ord: Any = 2) -> jax.Array:
    """The 1-, 2- or $\\infty$-norm of all trainable leaves taken together."""
    leaves = [x for x, _ in _pairs(a, a)]
    if not leaves:
        return jnp.zeros([])
    if ord in (jnp.inf, float("inf"), "inf"):
        return jnp.max(jnp.stack([jnp.max(jnp.abs(x), initial=0) for x in leaves]))
    if ord == 1:
        return sum(jnp.sum(jnp.abs(x)) for x in leaves)
    if ord == 2:
        return jnp.sqrt(sum(jnp.sum(_tree.abs_sq(x)) for x in leaves))
    raise ValueError(f"ord must be 1, 2 or inf, got {ord!r}.")


def all_finite(a: Any) -> jax.Array:
    """True when every trainable entry is finite."""
    leaves = [jnp.all(jnp.isfinite(x)) for x, _ in _pairs(a, a)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def result_dtype(a: Any) -> Any:
    """The real dtype of the trainable leaves (the dtype of steps and inner products)."""
    dtypes = [x.dtype for x, _ in _pairs(a, a)]
    if not dtypes:
        return jnp.result_type(float)
    return _tree.real_dtype(jnp.result_type(*dtypes))


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
    dtype = result_dtype(params)
    return AcceptedPoint(jnp.zeros([], dtype), _tree.zeros_like(params), jnp.asarray(False))


def find(state: Any, kind: type) -> list[Any]:
    """Every record of type ``kind`` (e.g. :class:`StepInfo`) in a nested optimizer state."""
    leaves = jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, kind))
    return [x for x in leaves if isinstance(x, kind)]


def trainable(tree: Any) -> Any:
    """``tree`` with every leaf that is not trained replaced by ``None`` (a state slot)."""

    def leaf(x):
        return x if x is not None and _tree.is_trainable(x) else None

    return jax.tree.map(leaf, tree, is_leaf=_tree.is_none)
