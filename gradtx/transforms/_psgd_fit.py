r"""PSGD-Kron's refit: one Lie-group step of the factors $Q_i$ towards Li's fixed point.

:func:`update_factors` is the step for one leaf; :func:`refit_group` runs it, with
:func:`balance`, on a stack of leaves of one shape, and :func:`group_noise` draws the noise
$v$ of every leaf at once. :func:`gradtx.scale_by_psgd_kron` calls them with probability $p_t$.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import jax
import jax.numpy as jnp

from gradtx.transforms._kronecker import _LETTERS, einsum, groups_by, opaque_offsets

HIGHEST = jax.lax.Precision.HIGHEST


def along(q: jax.Array, x: jax.Array, axis: int, transpose: bool = False) -> jax.Array:
    """$Q$ (or $Q^\top$) applied to axis ``axis`` of ``x``; a vector factor scales it."""
    if q.ndim == 1:
        shape = [1] * x.ndim
        shape[axis] = -1
        return x * q.reshape(shape)
    sub = _LETTERS[: x.ndim]
    m = f"Z{sub[axis]}" if not transpose else f"{sub[axis]}Z"
    return einsum(f"{m},{sub}->{sub.replace(sub[axis], 'Z')}", q, x, precision=HIGHEST)


def _solve_along(q: jax.Array, x: jax.Array, axis: int) -> jax.Array:
    r"""$Q^{-\top}$ applied to axis ``axis`` of ``x`` (a triangular solve)."""
    if q.ndim == 1:
        shape = [1] * x.ndim
        shape[axis] = -1
        return x / q.reshape(shape)
    moved = jnp.moveaxis(x, axis, 0)
    flat = moved.reshape(moved.shape[0], -1)
    sol = jax.lax.linalg.triangular_solve(q, flat, left_side=True, lower=False, transpose_a=True)
    return jnp.moveaxis(sol.reshape(moved.shape), 0, axis)


def gram(x: jax.Array, axis: int, diagonal: bool) -> jax.Array:
    """$X_{(i)} X_{(i)}^\top$, or its diagonal."""
    sub = _LETTERS[: x.ndim]
    if diagonal:
        return einsum(f"{sub},{sub}->{sub[axis]}", x, x, precision=HIGHEST)
    other = sub.replace(sub[axis], "Z")
    return einsum(f"{sub},{other}->{sub[axis]}Z", x, x, precision=HIGHEST)


def spd_norm_lower_bound(a: jax.Array) -> jax.Array:
    r"""A lower bound of $\|A\|_2$ for a symmetric PSD $A$: $\|A a_j\| / \|a_j\|$ for the
    column $a_j$ of largest norm (one power step; within a factor $\sqrt n$, usually ~1)."""
    norms = jnp.sum(a * a, axis=0)
    col = a[:, jnp.argmax(norms)]
    n = jnp.sqrt(jnp.max(norms))
    return jnp.where(n > 0, jnp.linalg.norm(a @ col) / jnp.where(n > 0, n, 1), 0)


def update_factors(qs: list, h: jax.Array, v: jax.Array, lr: Any) -> list:
    r"""One Lie-group step of every factor towards $P h h^\top P = v v^\top$ (in expectation).

    With $A = h \times_i Q_i$ and $B = v \times_i Q_i^{-\top}$, for each axis $i$:
    $$Q_i \leftarrow Q_i - \frac{\mu}{\|A_{(i)}A_{(i)}^\top + B_{(i)}B_{(i)}^\top\|}
    \operatorname{triu}\big(A_{(i)}A_{(i)}^\top - B_{(i)}B_{(i)}^\top\big)\,Q_i$$
    (diagonal factors: the diagonals, normalized by their largest entry).
    """
    a, b = h, v
    for i, q in enumerate(qs):
        a = along(q, a, i)
        b = _solve_along(q, b, i)
    out = []
    for i, q in enumerate(qs):
        diag = q.ndim == 1
        t1, t2 = gram(a, i, diag), gram(b, i, diag)
        if diag:
            scale = jnp.max(jnp.abs(t1 + t2))
            step = (t1 - t2) * q
        else:
            scale = spd_norm_lower_bound(t1 + t2)
            step = jnp.triu(t1 - t2) @ q
        out.append(q - lr / (scale + jnp.finfo(q.dtype).tiny) * step)
    return out


def leaf_groups(like: list) -> list[list[int]]:
    """The indices of ``like`` grouped by ``(shape, dtype)``, in order of first appearance."""
    return groups_by(like, lambda x: (x.shape, x.dtype))


def refit_group(
    qs: list, hs: list, vs: jax.Array, lr: Any, anchor: Any, stacked: list | None = None
) -> list:
    r""":func:`update_factors` then :func:`balance` for the leaves of one shape and dtype,
    as one ``lax.map`` over their stack: ``qs[k]`` are the factors of leaf ``k``, ``hs[k]``
    its input and ``vs`` the noise $v \sim \mathcal N(0, I)$ of every member, in order. Where
    ``stacked[k]``, leaf ``k`` is itself a stack of leaves (``batch_dims``; its factors and
    input have a leading axis) and joins the group member by member.

    Leaf by leaf, a refit (triangular solves, norms, the balance) compiled about five kernels
    per leaf; over the stack it compiles one loop body per distinct shape, and the results
    are cut back out at :func:`~gradtx.transforms._kronecker.opaque_offsets` (``anchor``: an
    int32 scalar of the step). Each leaf's numbers are those of its own refit, bit for bit.
    """
    stacked = stacked or [False] * len(hs)
    if len(hs) == 1 and not stacked[0]:
        return [refit_leaf(qs[0], hs[0], vs[0], lr)]
    if len(hs) == 1:
        return [refit_stack(qs[0], hs[0], vs, lr)]
    lift = lambda xs: jnp.concatenate([x if s else x[None] for x, s in zip(xs, stacked)])
    new = refit_stack([lift(f) for f in zip(*qs)], lift(hs), vs, lr)
    sizes = [h.shape[0] if s else 1 for h, s in zip(hs, stacked)]
    starts = opaque_offsets([0, *itertools.accumulate(sizes)][:-1], anchor)
    cut = lambda f, i, n, s: (
        jax.lax.dynamic_slice_in_dim(f, i, n) if s else jax.lax.dynamic_index_in_dim(f, i, 0, False)
    )
    return [tuple(cut(f, i, n, s) for f in new) for i, n, s in zip(starts, sizes, stacked)]


def refit_leaf(qs: Any, h: jax.Array, v: jax.Array, lr: Any) -> tuple:
    """:func:`update_factors` then :func:`balance`: one leaf's refit."""
    return tuple(balance(update_factors(list(qs), h, v, lr)))


def refit_stack(qs: list, h: jax.Array, v: jax.Array, lr: Any) -> tuple:
    """:func:`refit_leaf` for each member of a stack: ``qs`` the stacked factors (a leading
    axis), ``h`` and ``v`` the stacked inputs and noise."""
    # lax.map, not vmap: a batched triangular solve runs its matrices as parallel LAPACK
    # tasks on XLA:CPU, which deadlocked OpenBLAS (the 256x256 factors of 24 leaves hung)
    return jax.lax.map(lambda a: refit_leaf(*a, lr), (list(qs), h, v))


def group_noise(key: jax.Array, groups: list[list[Any]]) -> list[jax.Array]:
    r"""The noise $v \sim \mathcal N(0, I)$ of every leaf, stacked by group: one draw of the
    total size (in the widest dtype) cut into consecutive ``(n, *shape)`` chunks, one per
    group of ``n`` leaves of one shape and dtype (``groups``: the leaves, grouped).

    One draw for the whole tree: a draw per distinct shape compiled a random-bits kernel of
    about 100 ms each (36 of them on a 196-leaf transformer).
    """
    if not groups:
        return []
    sizes = [len(g) * g[0].size for g in groups]
    dtype = functools.reduce(jnp.promote_types, [g[0].dtype for g in groups])
    z = jax.random.normal(key, (sum(sizes),), dtype)
    out, start = [], 0
    for g, n in zip(groups, sizes):
        out.append(z[start : start + n].reshape(len(g), *g[0].shape).astype(g[0].dtype))
        start += n
    return out


def leaf_noise(key: jax.Array, like: list) -> list[jax.Array]:
    """The noise of every leaf of ``like`` (in its order) as :func:`group_noise` draws it:
    what a refit with noise key ``key`` uses (for tests and reference implementations)."""
    groups = leaf_groups(like)
    vs = group_noise(key, [[like[k] for k in g] for g in groups])
    out: list[Any] = [None] * len(like)
    for g, v in zip(groups, vs):
        for r, k in enumerate(g):
            out[k] = v[r]
    return out


def balance(qs: list) -> list:
    """Rescale the factors to equal largest entries (their product, and so $P$, unchanged)."""
    if len(qs) < 2:
        return qs
    norms = jnp.stack([jnp.max(jnp.abs(q)) for q in qs])
    gmean = jnp.exp(jnp.mean(jnp.log(norms)))
    ok = jnp.all(norms > 0)
    return [q * jnp.where(ok, gmean / jnp.where(ok, n, 1), 1) for q, n in zip(qs, norms)]
