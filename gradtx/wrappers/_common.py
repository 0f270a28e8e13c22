"""Helpers shared by the wrappers: inner transforms, finiteness, selection, prefix trees."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _tree
from gradtx._base import GradientTransformation, _as_transform


def as_inner(tx: Any, who: str) -> GradientTransformation:
    """Accept a gradtx or Optax transform as the inner one; foreign ones get ``**extra``."""
    return _as_transform(tx, who)


def check_int(name: str, value: Any, low: int) -> int:
    """A Python (or NumPy) integer ``>= low``, with a ``ValueError`` naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
    if value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
    return int(value)


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

    Works on ``jax.ShapeDtypeStruct`` trees when ``zeros=True``.
    """

    def make(p):
        if p is None or not _tree.is_trainable(p):
            return None
        dtype = accumulator_dtype_for(p.dtype, accumulator_dtype)
        return jnp.zeros(p.shape, dtype) if zeros else jnp.asarray(p).astype(dtype)

    return jax.tree.map(make, params, is_leaf=_tree.is_none)


def _key_paths(tree: Any) -> list[tuple]:
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree, is_leaf=_tree.is_none)
    return [path for path, _ in leaves]


def _first_mismatch(prefix: Any, full: Any, what: str) -> str:
    keystr = jax.tree_util.keystr
    ppaths, fpaths = _key_paths(prefix), _key_paths(full)
    for mp in ppaths:
        if not any(fp[: len(mp)] == mp for fp in fpaths):
            return f"`{what}` has {keystr(mp) or 'a leaf at the root'}, which `params` lacks"
    for fp in fpaths:
        if not any(fp[: len(mp)] == mp for mp in ppaths):
            return f"`params` has {keystr(fp)}, which `{what}` does not cover"
    return "the containers have the same keys but different types"


def broadcast_prefix(prefix: Any, full: Any, what: str, who: str) -> list[Any]:
    """One value per leaf of ``full`` from ``prefix``, a tree whose leaves label subtrees.

    ``prefix`` has the structure of ``full`` or of a prefix of it (a single value labels
    the whole tree, ``{"encoder": x, "decoder": y}`` labels two subtrees). The result is
    aligned with ``jax.tree.leaves(full, is_leaf=lambda x: x is None)``.

    Raises:
      ValueError: naming the first path where the two trees disagree.
    """
    treedef = jax.tree.structure(prefix, is_leaf=_tree.is_none)
    try:
        subtrees = treedef.flatten_up_to(full)
    except (ValueError, TypeError):
        raise ValueError(
            f"{who}: the structure of `{what}` is neither that of `params` nor a prefix of "
            f"it: {_first_mismatch(prefix, full, what)}.\n"
            f"  {what}: {treedef}\n"
            f"  params: {jax.tree.structure(full, is_leaf=_tree.is_none)}"
        ) from None
    values = jax.tree.leaves(prefix, is_leaf=_tree.is_none)
    out: list[Any] = []
    for value, sub in zip(values, subtrees):
        out.extend([value] * len(jax.tree.leaves(sub, is_leaf=_tree.is_none)))
    return out


def replace_leaves(tree: Any, values: list[Any]) -> Any:
    """``tree`` with its leaves (``None`` included) replaced by ``values``, in order."""
    return jax.tree.unflatten(jax.tree.structure(tree, is_leaf=_tree.is_none), values)


def leaves_with_none(tree: Any) -> list[Any]:
    """The leaves of ``tree``, keeping ``None`` as a leaf."""
    return jax.tree.leaves(tree, is_leaf=_tree.is_none)
