"""Lazy rows: run a transform only on the rows that received a gradient (PyTorch's
``SparseAdam``, TensorFlow Addons' ``LazyAdam``); the other rows keep their moments."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree
from gradtx._base import GradientTransformation, Scalar, as_transform, check_state_type


class LazyRowsState(NamedTuple):
    """The inner transform's state."""

    inner_state: Any


def _leaves(tree: Any) -> list[Any]:  # with None leaves
    return jax.tree.leaves(tree, is_leaf=_tree.is_none)


def _row_flags(g: jax.Array, axis: Any) -> jax.Array:
    """True where the row (along ``axis``) of ``g`` has a nonzero entry, broadcastable to g."""
    nonzero = g != 0
    if g.ndim == 0 or axis is None:
        return jnp.any(nonzero)
    if not -g.ndim <= axis < g.ndim:
        msg = f"row_axis={axis} is out of range for a leaf of shape {g.shape}"
        raise ValueError(f"lazy_rows: {msg}; give a tree of axes (or None), one per leaf.")
    others = tuple(i for i in range(g.ndim) if i != axis % g.ndim)
    return jnp.any(nonzero, axis=others, keepdims=True)


def lazy_rows(inner: GradientTransformation, row_axis: Scalar | None = 0) -> GradientTransformation:
    r"""Update only the rows that received a gradient; the others keep their moments.

    $$r \in R_t = \{r : g_{t,r} \neq 0\}:\ (u_{t,r}, S_{t,r}) = \text{inner}(g_t)_r,
    \qquad r \notin R_t:\ u_{t,r} = 0,\ S_{t,r} = S_{t-1,r}$$

    A row is a slice along ``row_axis`` (an embedding's row); it is active when any entry
    of it is nonzero. Every floating leaf of the inner state that is shaped like its
    parameter (moments) keeps its old rows where the row is inactive; step counts and other
    state advance, so bias corrections use one global step (as PyTorch's ``SparseAdam``).
    Meant for element-wise inner transforms.

    Args:
      inner: the transform to make lazy (gradtx or Optax).
      row_axis: the row axis, ``None`` (the whole leaf is one row), or a tree of them with
        the structure of the params (or a prefix of it). 0-d leaves are one row.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`LazyRowsState`.

    References:
      PyTorch's ``torch.optim.SparseAdam``; TensorFlow Addons' ``LazyAdam``.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> from gradtx import lazy_rows
      >>> tx = lazy_rows(gradtx.ema(0.5, debias=False))
      >>> g = jnp.array([[2.0, 0.0], [0.0, 0.0]])      # row 1 has no gradient
      >>> u, s = tx.update(g, tx.init(g))
      >>> u.tolist(), tx.update(g[::-1], s)[0].tolist()
      ([[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [1.0, 0.0]])
    """
    inner = as_transform(inner, "lazy_rows")
    for axis in _leaves(row_axis):
        if axis is not None and (isinstance(axis, bool) or not isinstance(axis, int)):
            raise ValueError(f"row_axis must be an int, None or a tree of them, got {axis!r}.")

    def init(params):
        return LazyRowsState(inner.init(params))

    def update(updates, state, params=None, **extra):
        check_state_type(state, LazyRowsState, "lazy_rows")
        axes = _tree.broadcast_prefix(row_axis, updates, "row_axis", "lazy_rows")
        grads = _leaves(updates)
        trained = lambda g: g is not None and _tree.is_trainable(g)
        flags = [_row_flags(g, a) if trained(g) else None for g, a in zip(grads, axes)]
        new_updates, new_inner = inner.update(updates, state.inner_state, params, **extra)
        treedef = jax.tree.structure(updates, is_leaf=_tree.is_none)

        def per_param(x):
            return jax.tree.structure(x, is_leaf=_tree.is_none) == treedef

        def pick(flag, g, new, old):
            if flag is None or new is None or not _tree.is_trainable(new) or new.shape != g.shape:
                return new
            return jnp.where(flag, new, old)

        def keep_rows(new, old):
            if not per_param(new):
                return new
            leaves = zip(flags, grads, _leaves(new), _leaves(old))
            return jax.tree.unflatten(treedef, [pick(*x) for x in leaves])

        new_inner = jax.tree.map(keep_rows, new_inner, state.inner_state, is_leaf=per_param)
        out = [u if f is None else jnp.where(f, u, 0) for f, u in zip(flags, _leaves(new_updates))]
        return jax.tree.unflatten(treedef, out), LazyRowsState(new_inner)

    return GradientTransformation(init, update)
