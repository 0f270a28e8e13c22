"""Helpers shared by the wrappers: inner transforms, finiteness, selection, prefix trees."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx import _tree
from gradtx._base import GradientTransformation, _as_transform
from gradtx._tree import broadcast_prefix as broadcast_prefix


def as_inner(tx: Any, who: str) -> GradientTransformation:
    """Accept a gradtx or Optax transform as the inner one; foreign ones get ``**extra``."""
    return _as_transform(tx, who)


def trainable_leaves(tree: Any) -> list[jax.Array]:
    """The floating and complex leaves of ``tree`` (no ``None``, integer or ``float0``)."""
    return [x for x in jax.tree.leaves(tree) if _tree.is_trainable(x)]


def all_finite(*trees: Any) -> jax.Array:
    """A boolean scalar: every trainable entry of every tree is finite (True when empty)."""
    flags = [jnp.all(jnp.isfinite(x)) for t in trees for x in trainable_leaves(t)]
    if not flags:
        return jnp.asarray(True)
    return jnp.all(jnp.stack(flags))


def zeros_updates(updates: Any) -> Any:
    """Zero every trainable update; ``None`` and untrained leaves pass through unchanged."""
    return _tree.leafwise(jnp.zeros_like, updates)


def select_tree(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
    """``jnp.where(pred, a, b)`` leaf by leaf, keeping each leaf of ``on_false``'s dtype."""

    def pick(a, b):
        if b is None:
            return None
        return jnp.where(pred, a, b).astype(jnp.result_type(b))

    return jax.tree.map(pick, on_true, on_false, is_leaf=_tree.is_none)


def cast_like(tree: Any, ref: Any) -> Any:
    """Cast each array leaf of ``tree`` to the dtype of the matching leaf of ``ref``."""

    def cast(x, r):
        if x is None or r is None:
            return x
        return jax.lax.convert_element_type(x, jnp.result_type(r))

    return jax.tree.map(cast, tree, ref, is_leaf=_tree.is_none)


def accumulator_dtype_for(leaf_dtype: Any, accumulator_dtype: Any) -> Any:
    """The dtype of a parameter-sized accumulator.

    ``None`` gives the leaf's dtype promoted to at least float32 (bfloat16 -> float32,
    float64 stays float64, complex stays complex). A given real dtype is made complex for a
    complex leaf, so the imaginary part is never dropped.
    """
    if accumulator_dtype is None:
        return jnp.promote_types(leaf_dtype, jnp.float32)
    if jnp.issubdtype(leaf_dtype, jnp.complexfloating) and not jnp.issubdtype(
        accumulator_dtype, jnp.complexfloating
    ):
        return jnp.promote_types(accumulator_dtype, jnp.complex64)
    return jnp.dtype(accumulator_dtype)


def accumulator_copy(params: Any, accumulator_dtype: Any, *, zeros: bool = False) -> Any:
    """Each trainable leaf (or zeros shaped like it) in its accumulator dtype; ``None`` elsewhere.

    On ``jax.ShapeDtypeStruct`` leaves it gives zeros of the right layout.
    """

    def make(p):
        if p is None or not _tree.is_trainable(p):
            return None
        dtype = accumulator_dtype_for(p.dtype, accumulator_dtype)
        if zeros or isinstance(p, jax.ShapeDtypeStruct):  # a layout has no values to copy
            return jnp.zeros_like(p, dtype=dtype)
        return jnp.asarray(p).astype(dtype)

    return jax.tree.map(make, params, is_leaf=_tree.is_none)


def replace_leaves(tree: Any, values: list[Any]) -> Any:
    """``tree`` with its leaves (``None`` included) replaced by ``values``, in order."""
    return jax.tree.unflatten(jax.tree.structure(tree, is_leaf=_tree.is_none), values)


def leaves_with_none(tree: Any) -> list[Any]:
    """The leaves of ``tree``, keeping ``None`` as a leaf."""
    return jax.tree.leaves(tree, is_leaf=_tree.is_none)
