r"""``batch_dims``: the leading axes of a leaf that index a stack of independent parameters.

A model whose layers are stacked (``nnx.scan``, ``jax.vmap`` over an initializer, Equinox's
stacked layers) stores, say, twelve ``(384, 384)`` attention weights as one ``(12, 384, 384)``
leaf. For the Kronecker preconditioners (:func:`gradtx.scale_by_shampoo`,
:func:`gradtx.kronecker_eigenbasis`, :func:`gradtx.graft` and the ``shampoo`` and ``soap``
aliases) such a leaf is a 3-tensor unless told otherwise; with ``batch_dims=1`` for it, each
of the twelve matrices gets its own statistics, roots, bases and graft norms, exactly as if
they were twelve leaves, and the whole stack is processed as one batch (one compiled
computation instead of twelve).

The argument is, like a mask, one of: ``None`` (no batch axes), an integer for every leaf,
a tree of integers (``None`` for 0) with the structure of the parameters or of a prefix of
it (``{"layers": 1, "embed": 0}``), or a function of the parameters that returns one.
"""

from __future__ import annotations

from typing import Any

import jax

from gradtx import _tree, _validate

ALLOWED = "an integer >= 0, a tree of them (None for 0), or a function params -> such a tree"


def check_batch_dims(value: Any, name: str = "batch_dims") -> None:
    """A ``ValueError`` naming ``name`` unless ``value`` is an allowed ``batch_dims``
    (a function is checked when it is called, on the parameters)."""
    if value is None or _tree.is_function_of_params(value):
        return
    for leaf in jax.tree.leaves(value):
        if isinstance(leaf, bool) or not isinstance(leaf, int) or leaf < 0:
            raise ValueError(f"{name} must be {ALLOWED}; got {value!r}.")


def batch_dims_of(spec: Any, tree: Any, who: str) -> list[int]:
    """The number of batch axes of every leaf of ``tree`` (aligned with
    ``_tree.leaves_with_none(tree)``; 0 for ``None`` leaves)."""
    leaves = _tree.leaves_with_none(tree)
    if spec is None:
        return [0] * len(leaves)
    if _tree.is_function_of_params(spec):
        spec = spec(tree)
        check_batch_dims(spec, f"{who}: batch_dims(params)")
    values = _tree.broadcast_prefix(spec, tree, "batch_dims", who)
    out = []
    for x, k in zip(leaves, values):
        k = 0 if k is None or x is None else _validate.check_int("batch_dims", k, 0)
        if x is not None and k > len(x.shape):
            raise ValueError(
                f"{who}: batch_dims={k} for a leaf of shape {tuple(x.shape)}, which has only "
                f"{len(x.shape)} axes."
            )
        out.append(k)
    return out
