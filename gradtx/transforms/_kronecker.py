r"""Kronecker statistics: how a leaf is cut into matrices, and $L \leftarrow \beta L + G G^\top$.

Shampoo, SOAP and the graft all see a leaf through a :class:`KroneckerPlan`, decided once
from its shape by :func:`plan_leaf` (pure Python, unit-tested on its own):

1. size-1 axes are dropped; a tensor of rank > 2 has adjacent axes merged while their
   product stays $\le$ ``max_precond_dim`` (a ``(3, 3, 64, 128)`` convolution kernel becomes
   ``(576, 128)``), and at least two axes are kept;
2. an axis longer than ``block_size`` is cut into $k = \lceil n / b\rceil$ equal blocks of
   $\lceil n/k \rceil$ (784 with $b = 128$: 7 blocks of 112; zero padding only when $k \nmid n$),
   so that all the blocks of a leaf have one shape and are processed as one batch;
3. a block axis longer than ``max_precond_dim`` gets no matrix (one-sided preconditioning),
   and a leaf with no matrix left — every 0-D and 1-D leaf — is *diagonal*.

:func:`to_blocks` gives the ``(K, c_0, c_1, ...)`` stack of a leaf's blocks, :func:`axis_statistics`
the Gram matrices $G_{(i)} G_{(i)}^\top$ of each axis, and :func:`apply_factors` multiplies each
axis by a matrix (a root, an eigenbasis).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from gradtx import _tree
from gradtx.transforms._batch_dims import batch_dims_of, split_shape
from gradtx.transforms._matrix_roots import HIGHEST

_LETTERS = "abcdefghijklmnopqrstuvwxy"


@dataclasses.dataclass(frozen=True)
class KroneckerPlan:
    """How one leaf is reshaped, blocked and preconditioned (static, from its shape).

    Attributes:
      shape: the leaf's shape.
      dims: the merged shape the leaf is reshaped to.
      blocks: the number of blocks along each merged axis.
      block_dims: the block size along each merged axis (``blocks * block_dims >= dims``).
      preconditioned: whether each block axis has a matrix.
      batch: the number of leaves stacked in this one (``batch_dims``), each planned as
        ``dims`` and cut into its own blocks; the fields above describe one of them.
    """

    shape: tuple[int, ...]
    dims: tuple[int, ...]
    blocks: tuple[int, ...]
    block_dims: tuple[int, ...]
    preconditioned: tuple[bool, ...]
    batch: int = 1

    @property
    def num_blocks(self) -> int:
        return self.batch * math.prod(self.blocks)

    @property
    def diagonal(self) -> bool:
        """No axis has a matrix: the leaf is handled entry by entry."""
        return not any(self.preconditioned)

    @property
    def padded(self) -> bool:
        return any(k * c != n for k, c, n in zip(self.blocks, self.block_dims, self.dims))

    @property
    def root_order(self) -> int:
        """Shampoo's $p$: twice the number of preconditioned axes ($-1/4$ for a matrix)."""
        return 2 * sum(self.preconditioned)


def merge_dims(shape: Sequence[int], max_dim: int) -> tuple[int, ...]:
    """Drop size-1 axes and, for rank > 2, merge adjacent axes while the product is
    ``<= max_dim``; never fewer than two axes when more than one is not 1.

    Example:
      >>> from gradtx.transforms._kronecker import merge_dims
      >>> merge_dims((3, 3, 64, 128), 1024), merge_dims((1, 5, 1), 8), merge_dims((2, 3, 4), 100)
      ((576, 128), (5,), (6, 4))
    """
    dims = [int(d) for d in shape if d != 1]
    if len(dims) <= 2:
        return tuple(dims)
    out = [dims[0]]
    for d in dims[1:]:
        if out[-1] * d <= max_dim:
            out[-1] *= d
        else:
            out.append(d)
    if len(out) == 1:
        out = [math.prod(dims[:-1]), dims[-1]]
    return tuple(out)


def split_dim(n: int, block_size: int | None) -> tuple[int, int]:
    """``(k, c)``: ``n`` cut into ``k`` blocks of ``c`` (``k * c >= n``, as little padding as
    possible); one block when ``block_size`` is None or ``n <= block_size``.

    Example:
      >>> from gradtx.transforms._kronecker import split_dim
      >>> split_dim(784, 128), split_dim(1001, 128), split_dim(100, 128)
      ((7, 112), (8, 126), (1, 100))
    """
    if block_size is None or n <= block_size:
        return 1, n
    k = -(-n // block_size)
    return k, -(-n // k)


def plan_leaf(
    shape: Sequence[int], block_size: int | None, max_precond_dim: int, batch_dims: int = 0
) -> KroneckerPlan:
    """The :class:`KroneckerPlan` of a leaf (see the module docstring); the first
    ``batch_dims`` axes index a stack of leaves of the shape that follows (``batch``).

    Example:
      >>> from gradtx.transforms._kronecker import plan_leaf
      >>> p = plan_leaf((784, 512), block_size=256, max_precond_dim=1024)
      >>> p.blocks, p.block_dims, p.preconditioned, p.num_blocks
      ((4, 2), (196, 256), (True, True), 8)
      >>> plan_leaf((10, 5000), None, 1024).preconditioned, plan_leaf((64,), 128, 1024).diagonal
      ((True, False), True)
    """
    shape = tuple(int(d) for d in shape)
    if batch_dims:
        b, rest = split_shape(shape, batch_dims)
        one = plan_leaf(rest, block_size, max_precond_dim)
        return dataclasses.replace(one, shape=shape, batch=b)
    dims = merge_dims(shape, max_precond_dim)
    size = math.prod(shape)
    if len(dims) < 2:
        return KroneckerPlan(shape, (size,), (1,), (size,), (False,))
    splits = [split_dim(n, block_size) for n in dims]
    blocks, block_dims = tuple(k for k, _ in splits), tuple(c for _, c in splits)
    precond = tuple(1 < c <= max_precond_dim for c in block_dims)
    if not any(precond):
        return KroneckerPlan(shape, (size,), (1,), (size,), (False,))
    return KroneckerPlan(shape, dims, blocks, block_dims, precond)


def to_blocks(x: jax.Array, plan: KroneckerPlan) -> jax.Array:
    """The ``(K, *block_dims)`` stack of the blocks of ``x`` (zero-padded where needed; for a
    stack of leaves, the blocks of each leaf in turn)."""
    x = x.reshape((plan.batch, *plan.dims))
    if plan.num_blocks == plan.batch and not plan.padded:
        return x
    if plan.padded:
        pads = [(0, k * c - n) for k, c, n in zip(plan.blocks, plan.block_dims, plan.dims)]
        x = jnp.pad(x, [(0, 0), *pads])
    r = len(plan.dims)
    x = x.reshape([plan.batch, *(v for kc in zip(plan.blocks, plan.block_dims) for v in kc)])
    x = x.transpose([0, *(2 * i + 1 for i in range(r)), *(2 * i + 2 for i in range(r))])
    return x.reshape((plan.num_blocks, *plan.block_dims))


def from_blocks(xb: jax.Array, plan: KroneckerPlan) -> jax.Array:
    """The inverse of :func:`to_blocks`: the leaf, shape ``plan.shape``."""
    if plan.num_blocks == plan.batch and not plan.padded:
        return xb.reshape(plan.shape)
    r = len(plan.dims)
    x = xb.reshape((plan.batch, *plan.blocks, *plan.block_dims))
    x = x.transpose([0, *(j + 1 for i in range(r) for j in (i, r + i))])
    x = x.reshape([plan.batch, *(k * c for k, c in zip(plan.blocks, plan.block_dims))])
    if plan.padded:
        x = x[(slice(None), *(slice(0, n) for n in plan.dims))]
    return x.reshape(plan.shape)


@functools.lru_cache(maxsize=1024)
def _einsum_jaxpr(spec: str, avals: tuple, precision: Any) -> Any:
    structs = [jax.ShapeDtypeStruct(shape, dtype) for shape, dtype in avals]
    return jax.make_jaxpr(lambda *xs: jnp.einsum(spec, *xs, precision=precision))(*structs)


def einsum(spec: str, *operands: Any, precision: Any = None) -> jax.Array:
    """``jnp.einsum(spec, *operands, precision=precision)``, traced once per signature.

    ``jnp.einsum`` plans its contraction in Python at every call (about 1 ms), and the
    Kronecker optimizers call it a few times per leaf and step: 370 times in one SOAP
    update of a 196-leaf model. Here the plan is traced once per (spec, shapes, dtypes,
    precision) and replayed, binding the same operations, so the program is the same.
    """
    avals = tuple((tuple(x.shape), jnp.dtype(x.dtype)) for x in operands)
    closed = _einsum_jaxpr(spec, avals, precision)
    return jax.core.eval_jaxpr(closed.jaxpr, closed.consts, *operands)[0]


def axis_statistics(xb: jax.Array, axis: int) -> jax.Array:
    r"""$G_{(i)} G_{(i)}^\top$ of every block: ``(K, c_i, c_i)``, the contraction of the
    stack ``(K, c_0, ..., c_{r-1})`` with itself over every axis but block axis ``axis``."""
    r = xb.ndim - 1
    a = "z" + _LETTERS[:r]
    b = a.replace(_LETTERS[axis], "Z")
    return einsum(f"{a},{b}->z{_LETTERS[axis]}Z", xb, xb, precision=HIGHEST)


def apply_factors(
    xb: jax.Array, factors: Sequence[Any], *, transpose: bool = False, precision: Any = None
) -> jax.Array:
    r"""$X \times_0 M_0 \times_1 M_1 \cdots$ on every block: axis $i$ is multiplied by
    ``factors[i]`` (``(K, c_i, c_i)``, or ``None`` for the identity), or by its transpose.

    For a matrix block this is $M_0 X M_1^\top$; Shampoo's $L^{-1/4} G R^{-1/4}$ has symmetric
    factors, and a rotation into a basis $Q$ is ``transpose=True`` ($Q_0^\top X Q_1$).
    """
    r = xb.ndim - 1
    x_sub = "z" + _LETTERS[:r]
    for i, m in enumerate(factors):
        if m is None:
            continue
        letter = _LETTERS[i]
        m_sub = f"z{letter}Z" if transpose else f"zZ{letter}"
        out = x_sub.replace(letter, "Z")
        xb = einsum(f"{m_sub},{x_sub}->{out}", m.astype(xb.dtype), xb, precision=precision)
    return xb


def statistic_weights(b2: Any) -> tuple[Any, Any]:
    r"""$(\beta, 1-\beta)$ of the statistics' EMA, and $(1, 1)$ for $\beta = 1$ (the sum,
    AdaGrad's form), as in Distributed Shampoo."""
    b2 = jnp.asarray(b2)
    return b2, jnp.where(b2 == 1, jnp.ones_like(b2), 1 - b2)


def preconditioned_leaves(tree: Any, who: str) -> list[Any]:
    """The leaves of ``tree`` (``None`` leaves included) that a Kronecker preconditioner
    trains, ``None`` in place of the others (``None``, not trained, empty); a complex leaf
    raises a ``ValueError`` naming ``who``."""
    out = []
    for x in _tree.leaves_with_none(tree):
        if x is not None and jnp.issubdtype(x.dtype, jnp.complexfloating):
            raise ValueError(f"{who} does not support complex parameters (got {x.dtype}).")
        trained = x is not None and _tree.is_trainable(x) and math.prod(x.shape) > 0
        out.append(x if trained else None)
    return out


def leaf_plans(
    tree: Any, block_size: int | None, max_precond_dim: int, who: str, batch_dims: Any = None
) -> list[KroneckerPlan | None]:
    """One plan per leaf of ``tree`` (``None`` for the leaves :func:`preconditioned_leaves`
    leaves out; ``batch_dims``: see :mod:`~gradtx.transforms._batch_dims`); complex leaves
    raise a ``ValueError``."""
    batch = batch_dims_of(batch_dims, tree, who)
    return [
        None if x is None else plan_leaf(x.shape, block_size, max_precond_dim, k)
        for x, k in zip(preconditioned_leaves(tree, who), batch)
    ]


def per_leaf(tree: Any, state_tree: Any) -> list[Any]:
    """The per-leaf containers of ``state_tree`` (a tree with a container at each leaf of
    ``tree``), each as a tuple (``None`` stays ``None``).

    A container may come back as another pytree node: Flax NNX stores a tuple inside an
    optimizer variable as a ``State`` keyed 0, 1, ...; its leaves, in order, are the tuple.
    """
    treedef = jax.tree.structure(tree, is_leaf=_tree.is_none)
    out = []
    for c in treedef.flatten_up_to(state_tree):
        out.append(None if c is None else tuple(jax.tree.leaves(c, is_leaf=_tree.is_none)))
    return out


def work_dtype(x: Any) -> Any:
    """The dtype of statistics and roots: at least float32."""
    return jnp.promote_types(x.dtype, jnp.float32)


def init_matrices(plan: KroneckerPlan, dtype: Any, value: str) -> tuple[Any, ...]:
    """One ``(K, c, c)`` array per preconditioned axis (``None`` for the others): zeros, or
    identities (``value="eye"``)."""
    out = []
    for c, on in zip(plan.block_dims, plan.preconditioned):
        if not on:
            out.append(None)
        elif value == "eye":
            out.append(jnp.broadcast_to(jnp.eye(c, dtype=dtype), (plan.num_blocks, c, c)))
        else:
            out.append(jnp.zeros((plan.num_blocks, c, c), dtype))
    return tuple(out)


def update_statistics(
    stats: tuple[Any, ...], xb: jax.Array, plan: KroneckerPlan, w_old: Any, w_new: Any
) -> tuple[Any, ...]:
    r"""$L_i \leftarrow w_\text{old} L_i + w_\text{new} G_{(i)} G_{(i)}^\top$ on every
    preconditioned axis."""
    out = []
    for i, s in enumerate(stats):
        if s is None:
            out.append(None)
            continue
        gram = axis_statistics(xb.astype(s.dtype), i)
        out.append(w_old.astype(s.dtype) * s + w_new.astype(s.dtype) * gram)
    return tuple(out)


def groups_by(items: Sequence[Any], key: Any) -> list[list[int]]:
    """The indices of ``items`` grouped by ``key(item)``, in order of first appearance."""
    keys: dict[Any, list[int]] = {}
    for j, item in enumerate(items):
        keys.setdefault(key(item), []).append(j)
    return list(keys.values())


def shape_groups(arrays: Sequence[Any]) -> list[list[int]]:
    """The indices of ``arrays`` (``(K, c, c)`` each) grouped by ``(c, dtype)``, in order of
    first appearance."""
    return groups_by(arrays, lambda a: (a.shape[1:], a.dtype))


def concat_groups(arrays: Sequence[Any], groups: list[list[int]]) -> list[Any]:
    """One array per group: its members concatenated along ``K``."""
    return [arrays[idx[0]] if len(idx) == 1 else jnp.concatenate([arrays[j] for j in idx])
            for idx in groups]  # fmt: skip


def opaque_offsets(offsets: Sequence[int], anchor: Any) -> tuple[Any, ...]:
    """``offsets`` as int32 scalars whose values XLA cannot see when it compiles.

    XLA:CPU compiles a kernel for every distinct fused computation, and a slice at a constant
    offset is distinct for every offset: splitting a concatenation back into its 148 members
    (Shampoo's roots on a 196-leaf model) compiled 148 kernels at 30-70 ms each, most of the
    compile time. A dynamic slice at an offset the compiler cannot fold is the same kernel for
    every member of one shape. The offsets come out of a ``while_loop`` that never runs
    (``0 < min(anchor, 0)`` is false for every ``anchor``) and whose body XLA cannot
    summarize, so the values are always ``offsets``; ``anchor`` is any int32 scalar of the
    step (a step count), which keeps the loop from being folded away.
    """
    if not offsets:
        return ()
    init = (jnp.int32(0), tuple(jnp.int32(o) for o in offsets))
    stop = jnp.minimum(jnp.asarray(anchor, jnp.int32), 0)
    body = lambda c: (c[0] + 1, tuple(o * 2 + 1 for o in c[1]))
    return jax.lax.while_loop(lambda c: c[0] < stop, body, init)[1]


def split_groups(
    stacked: Sequence[Any], groups: list[list[int]], arrays: Sequence[Any], anchor: Any
) -> list[Any]:
    """The inverse of :func:`concat_groups`: one array per member, the ``K`` of ``arrays``,
    sliced at :func:`opaque_offsets` (``anchor``: an int32 scalar of the step)."""
    out: list[Any] = [None] * len(arrays)
    for result, idx in zip(stacked, groups):
        sizes = [arrays[j].shape[0] for j in idx]
        starts = opaque_offsets([0, *itertools.accumulate(sizes)][:-1], anchor)
        for j, start, k in zip(idx, starts, sizes):
            out[j] = result if len(idx) == 1 else jax.lax.dynamic_slice_in_dim(result, start, k)
    return out


def run_groups(fn: Any, *stacked: Sequence[Any]) -> list[Any]:
    """``fn(*inputs)`` on each group's concatenated inputs, one group after the other.

    Each group's inputs wait for the previous group's result behind an optimization barrier:
    on XLA:CPU two LAPACK calls running at once in one program can deadlock inside OpenBLAS
    (seen with jaxlib 0.10 and OpenBLAS 0.3.30 on two cores).
    """
    out, previous = [], None
    for inputs in zip(*stacked):
        inputs = list(inputs)
        if previous is not None:
            inputs, _ = jax.lax.optimization_barrier((inputs, previous))
        out.append(previous := fn(*inputs))
    return out


def batched_by_shape(fn: Any, *groups: list[Any], anchor: Any) -> list[Any]:
    """``fn`` applied to matrices grouped by shape and dtype: the arrays of ``groups[0]``
    (``(K, c, c)`` each, aligned with the other lists) of one ``(c, dtype)`` are concatenated
    along ``K``, ``fn(*concatenated)`` runs once per group (:func:`run_groups`, one group after
    the other), and the results are split back (:func:`split_groups`; ``anchor``: an int32
    scalar of the step; a constant would let XLA fold the offsets again).

    One batched ``eigh`` (or QR) per distinct block size instead of one per leaf, and a split
    that compiles one kernel per distinct block count, keep the number of LAPACK calls and of
    compiled kernels independent of the depth of a model.
    """
    idx = shape_groups(groups[0])
    stacked = [concat_groups(g, idx) for g in groups]
    return split_groups(run_groups(fn, *stacked), idx, groups[0], anchor)


def set_matrices(per_leaf: list[Any], where: list[tuple[int, int]], values: list[Any]) -> list[Any]:
    """``per_leaf`` (a tuple of matrices, or ``None``, per leaf) with matrix ``i`` of leaf
    ``j`` replaced by the next of ``values``, for each ``(j, i)`` of ``where``."""
    new = [list(m) if isinstance(m, tuple) else m for m in per_leaf]
    for (j, i), value in zip(where, values):
        new[j][i] = value
    return [tuple(m) if isinstance(m, list) else m for m in new]
