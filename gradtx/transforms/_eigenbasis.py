r"""Shampoo's eigenbasis, refreshed by subspace iteration: the rotation SOAP runs Adam in.

:func:`kronecker_eigenbasis` is a *basis* for :func:`gradtx.change_basis`: an object with
``init(params) -> state``, ``update(updates, state) -> (state, refreshed)`` and
``factors(state) -> one tuple of orthogonal (K, c, c) matrices (or None) per leaf``, plus the
``plans`` that say how each leaf is cut into blocks. Any object with these members can be
given to :func:`gradtx.change_basis`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from gradtx import _tree, _validate
from gradtx._base import BatchDims, ScalarOrSchedule
from gradtx.transforms import _kronecker as kron
from gradtx.transforms._batch_dims import check_batch_dims
from gradtx.transforms._matrix_roots import eigenbasis, power_qr_step
from gradtx.transforms._shampoo import check_kronecker_args


class KroneckerBasisState(NamedTuple):
    """Step count, Kronecker statistics and their (approximate) eigenvectors.

    ``stats`` and ``basis`` have the structure of the parameters with, at each trained leaf,
    one ``(K, c, c)`` array per merged axis (``None`` for an axis without a matrix, and for
    every axis of a diagonal leaf).
    """

    count: jax.Array
    stats: Any
    basis: Any


class KroneckerBasis(NamedTuple):
    """A basis for :func:`gradtx.change_basis` (see the module docstring)."""

    init: Callable[[Any], Any]
    update: Callable[[Any, Any], tuple[Any, jax.Array]]
    factors: Callable[[Any, Any], list[Any]]
    plans: Callable[[Any], list[Any]]


def kronecker_eigenbasis(
    b2: ScalarOrSchedule = 0.95,
    precondition_frequency: int = 10,
    max_precond_dim: int = 10000,
    block_size: int | None = None,
    batch_dims: BatchDims = None,
) -> KroneckerBasis:
    r"""The eigenvectors of each block's Kronecker statistics, as SOAP computes them.

    $$L_t = \beta L_{t-1} + (1-\beta) G_t G_t^\top,\qquad Q_L \leftarrow \begin{cases}
    \operatorname{eigh}(L_1) & t = 1 \\
    \operatorname{QR}(L_{t-1} Q_L) & t > 1,\ (t-1) \bmod f = 0 \end{cases}$$

    (the same for $R = \sum G^\top G$ and every axis of a tensor), where the QR step is
    :func:`~gradtx.transforms._matrix_roots.power_qr_step` (sorted by estimated eigenvalue,
    columns kept in place). The basis used at step $t$ is computed from the statistics up to
    $t - 1$ (up to $t$ at the first step), as in the paper. ``refreshed`` is true at the
    steps where the basis changed, when :func:`gradtx.change_basis` re-expresses the inner
    state.

    Args:
      b2: $\beta \in [0, 1)$, the EMA of the statistics (SOAP's ``shampoo_beta``).
      precondition_frequency: $f \ge 1$, steps between two QR refreshes.
      max_precond_dim: the longest block axis that is rotated (and the merging bound).
      block_size: cut axes longer than this into blocks (``None``: no blocking).
      batch_dims: leading axes that index a stack of independent leaves, each with its own
        basis (see :mod:`~gradtx.transforms._batch_dims`).

    Returns:
      A :class:`KroneckerBasis`.

    References:
      Vyas, Morwani, Zhao, Shapira, Brandfonbrener, Janson & Kakade, "SOAP: Improving and
      Stabilizing Shampoo using Adam", ICLR 2025, arXiv:2409.11321, Algorithms 3 and 4.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> basis = gradtx.kronecker_eigenbasis()
      >>> g = jnp.array([[0.0, 1.0], [2.0, 0.0]])
      >>> state, refreshed = basis.update(g, basis.init(g))
      >>> q_left, q_right = basis.factors(state, g)[0]
      >>> bool(refreshed), abs(q_left[0]).round(3).tolist()   # L = diag(1, 4)
      (True, [[0.0, 1.0], [1.0, 0.0]])
    """
    _validate.check_decay("b2", b2)
    check_kronecker_args(block_size, max_precond_dim, precondition_frequency)
    check_batch_dims(batch_dims)

    def plans(tree):
        return kron.leaf_plans(
            tree, block_size, max_precond_dim, "kronecker_eigenbasis", batch_dims
        )

    def matrices(plan, x, value):
        if plan is None:
            return None
        if plan.diagonal:
            return (None,)
        return kron.init_matrices(plan, kron.work_dtype(x), value)

    def init(params):
        leaves = _tree.leaves_with_none(params)
        stats = [matrices(p, x, "zeros") for p, x in zip(plans(params), leaves)]
        basis = [matrices(p, x, "eye") for p, x in zip(plans(params), leaves)]
        return KroneckerBasisState(
            _tree.zero_count(),
            _tree.replace_leaves(params, stats),
            _tree.replace_leaves(params, basis),
        )

    def update(updates, state):
        leaves, leaf_plans = _tree.leaves_with_none(updates), plans(updates)
        stats, basis = kron.per_leaf(updates, state.stats), kron.per_leaf(updates, state.basis)
        t = state.count + 1
        due = (t > 1) & ((t - 1) % precondition_frequency == 0)
        # The bases are refreshed as one concatenated array per block size (both lax.conds
        # carry those few arrays, not one per leaf) and split back once at the end: splitting
        # costs a compiled kernel per array, so splitting after each cond cost twice that.
        where = [(j, i) for j, b in enumerate(basis) if b for i, q in enumerate(b) if q is not None]
        old_q = [basis[j][i] for j, i in where]
        groups = kron.shape_groups(old_q)
        cat = lambda tree: kron.concat_groups([tree[j][i] for j, i in where], groups)
        qr = lambda a, q: power_qr_step(a, q)
        q = jax.lax.cond(
            due, lambda s, q: kron.run_groups(qr, cat(s), q), lambda s, q: q, stats, cat(basis)
        )
        w_old, w_new = kron.statistic_weights(b2)
        new_stats = []
        for g, plan, st in zip(leaves, leaf_plans, stats):
            if plan is None or plan.diagonal:
                new_stats.append(st)
                continue
            xb = kron.to_blocks(g.astype(kron.work_dtype(g)), plan)
            new_stats.append(kron.update_statistics(st, xb, plan, w_old, w_new))
        first = lambda a, q: eigenbasis(a).astype(q.dtype)
        q = jax.lax.cond(
            t == 1, lambda s, q: kron.run_groups(first, cat(s), q), lambda s, q: q, new_stats, q
        )
        basis = kron.set_matrices(basis, where, kron.split_groups(q, groups, old_q, t))
        treedef = jax.tree.structure(updates, is_leaf=_tree.is_none)
        new_state = KroneckerBasisState(
            _tree.safe_increment(state.count),
            jax.tree.unflatten(treedef, new_stats),
            jax.tree.unflatten(treedef, basis),
        )
        return new_state, due | (t == 1)

    def factors(state, tree):
        return kron.per_leaf(tree, state.basis)

    return KroneckerBasis(init, update, factors, plans)
