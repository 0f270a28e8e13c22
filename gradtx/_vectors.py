"""Trees as vectors, for the second-order methods and the wrappers that measure whole trees.

Only trainable leaves (floating or complex, not ``None``) take part in sums, products and
norms; the other leaves pass through from the first tree. The per-leaf lifting used by every
transform is in :mod:`gradtx._tree`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from gradtx._tree import abs_sq, is_none, is_trainable, real_dtype


def map_trainable(fn: Callable[..., Any], *trees: Any) -> Any:
    """``fn(leaf, *other_leaves)`` at the trainable leaves of the first tree."""
    keep = lambda x, *rest: x if x is None or not is_trainable(x) else fn(x, *rest)
    return jax.tree.map(keep, *trees, is_leaf=is_none)


def trainable_leaves(*trees: Any) -> list[Any]:
    """The floating and complex leaves of the trees (no ``None``, integer or ``float0``)."""
    return [x for t in trees for x in jax.tree.leaves(t) if is_trainable(x)]


def real_dot(x: jax.Array, y: jax.Array) -> jax.Array:
    """$\\operatorname{Re} \\sum \\bar x\\, y$ of two arrays."""
    return jnp.real(jnp.vdot(x, y))


def vdot(a: Any, b: Any) -> jax.Array:
    """$\\langle a, b\\rangle = \\sum_\\text{leaves} \\operatorname{Re} \\sum a\\,b$."""
    pairs = zip(jax.tree.leaves(a, is_leaf=is_none), jax.tree.leaves(b, is_leaf=is_none))
    terms = [real_dot(x, y) for x, y in pairs if x is not None and is_trainable(x)]
    return sum(terms[1:], terms[0]) if terms else jnp.zeros([])


def add_scaled(a: Any, alpha: Any, b: Any) -> Any:
    """$a + \\alpha\\, b$, with $\\alpha$ cast to each leaf's dtype."""
    return map_trainable(lambda x, y: x + jnp.asarray(alpha).astype(x.dtype) * y, a, b)


def scale(alpha: Any, a: Any) -> Any:
    """$\\alpha\\, a$."""
    return map_trainable(lambda x: jnp.asarray(alpha).astype(x.dtype) * x, a)


def sub(a: Any, b: Any) -> Any:
    """$a - b$."""
    return map_trainable(lambda x, y: x - y, a, b)


def where(cond: Any, a: Any, b: Any) -> Any:
    """``a`` where the scalar ``cond`` holds, else ``b`` (trainable leaves; the rest from ``a``)."""
    return map_trainable(lambda x, y: jnp.where(cond, x, y), a, b)


def norm(a: Any, ord: Any = 2) -> jax.Array:
    """The 1-, 2- or $\\infty$-norm of all trainable leaves taken together."""
    leaves = trainable_leaves(a)
    if not leaves:
        return jnp.zeros([])
    if ord in (jnp.inf, float("inf"), "inf"):
        return jnp.max(jnp.stack([jnp.max(jnp.abs(x), initial=0) for x in leaves]))
    if ord == 1:
        return sum(jnp.sum(jnp.abs(x)) for x in leaves)
    if ord == 2:
        return jnp.sqrt(sum(jnp.sum(abs_sq(x)) for x in leaves))
    raise ValueError(f"ord must be 1, 2 or inf, got {ord!r}.")


def all_finite(*trees: Any) -> jax.Array:
    """A boolean scalar: every trainable entry of every tree is finite (True when empty)."""
    flags = [jnp.all(jnp.isfinite(x)) for x in trainable_leaves(*trees)]
    return jnp.all(jnp.stack(flags)) if flags else jnp.asarray(True)


def result_dtype(a: Any) -> Any:
    """The real dtype of the trainable leaves (the dtype of steps and inner products)."""
    dtypes = [x.dtype for x in trainable_leaves(a)]
    return real_dtype(jnp.result_type(*dtypes)) if dtypes else jnp.result_type(float)


def trainable_or_none(tree: Any) -> Any:
    """``tree`` with every leaf that is not trained replaced by ``None`` (a state slot)."""
    return jax.tree.map(lambda x: x if x is not None and is_trainable(x) else None, tree,
                        is_leaf=is_none)  # fmt: skip
