r"""``batch_dims``: the leading axes of a leaf that index a stack of independent parameters.

A model whose layers are stacked (``nnx.scan``, ``jax.vmap`` over an initializer, Equinox's
stacked layers) stores, say, twelve ``(384, 384)`` attention weights as one ``(12, 384, 384)``
leaf. For the Kronecker preconditioners (:func:`gradtx.scale_by_shampoo`,
:func:`gradtx.kronecker_eigenbasis`, :func:`gradtx.graft`, :func:`gradtx.scale_by_psgd_kron`
and the ``shampoo``, ``soap`` and ``psgd_kron`` aliases) such a leaf is a 3-tensor unless
told otherwise; with ``batch_dims=1`` for it, each of the twelve matrices gets its own
statistics, roots, bases, factors and graft norms, as if they were twelve leaves (the same
statistics bit for bit, the same updates up to rounding), and the whole stack is processed
as one batch (one compiled computation instead of twelve).

The argument is, like a mask, one of: ``None`` (no batch axes), an integer for every leaf,
a tree of integers (``None`` for 0) with the structure of the parameters or of a prefix of
it (``{"layers": 1, "embed": 0}``), or a function of the parameters that returns one (it
is called on the tree a transform sees: the parameters at ``init``, the updates at each
step; only the shapes should matter to it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from gradtx import _tree, _validate

ALLOWED = "an integer >= 0, a tree of them (None for 0), or a function params -> such a tree"


def check_batch_dims(value: Any, name: str = "batch_dims", function: bool = True) -> None:
    """A ``ValueError`` naming ``name`` unless ``value`` is an allowed ``batch_dims`` (a
    function, if ``function``, is checked when it is called)."""
    if value is None or (function and _tree.is_function_of_params(value)):
        return
    for leaf in jax.tree.leaves(value):
        if isinstance(leaf, bool) or not isinstance(leaf, (int, np.integer)) or leaf < 0:
            allowed = ALLOWED if function else "an integer >= 0 or a tree of them (None for 0)"
            raise ValueError(f"{name} must be {allowed}; got {value!r}.")


def split_shape(shape: Sequence[int], batch_dims: int) -> tuple[int, tuple[int, ...]]:
    """``(b, rest)``: a leaf of ``shape`` with ``batch_dims`` batch axes is a stack of ``b``
    leaves of shape ``rest``."""
    return math.prod(shape[:batch_dims]), tuple(shape[batch_dims:])


def batch_dims_of(spec: Any, tree: Any, who: str) -> list[int]:
    """The number of batch axes of every leaf of ``tree`` (aligned with
    ``_tree.leaves_with_none(tree)``; 0 for ``None`` leaves)."""
    leaves = _tree.leaves_with_none(tree)
    if spec is None:
        return [0] * len(leaves)
    if _tree.is_function_of_params(spec):
        spec = spec(tree)
        check_batch_dims(spec, f"{who}: batch_dims(params)", function=False)
    values = _tree.broadcast_prefix(spec, tree, "batch_dims", who)
    out = []
    for x, k in zip(leaves, values):
        if k is None or x is None or not _tree.is_trainable(x) or not x.size:
            k = 0  # a leaf no preconditioner trains
        k = _validate.check_int("batch_dims", k, 0)
        if k > len(x.shape):
            raise ValueError(
                f"{who}: batch_dims={k} for a leaf of shape {tuple(x.shape)}, which has only "
                f"{len(x.shape)} axes."
            )
        out.append(k)
    return out
