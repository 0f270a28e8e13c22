r"""Shampoo's preconditioner: Kronecker statistics and their inverse roots, as one primitive.

:func:`scale_by_shampoo` keeps, for every block of every leaf (see
:func:`~gradtx.transforms._kronecker.plan_leaf`), one statistic per preconditioned axis and its
inverse root, refreshed every ``precondition_frequency`` steps inside a ``lax.cond``; the roots
of all the leaves are computed together, one batched ``eigh`` (or Newton iteration) per
distinct block size. Its output is only a *direction*: the magnitude of a Shampoo step comes
from grafting (:func:`gradtx.graft`), as in :func:`gradtx.shampoo`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import (
    BatchDims,
    GradientTransformation,
    ScalarOrSchedule,
    check_state_type,
)
from gradtx.transforms import _kronecker as kron
from gradtx.transforms._batch_dims import check_batch_dims
from gradtx.transforms._matrix_roots import METHODS, refresh_roots


class ShampooState(NamedTuple):
    """Step count, statistics and inverse roots of each leaf.

    ``stats`` and ``roots`` have the structure of the parameters with a tuple at each
    trained leaf: one ``(K, c, c)`` array per merged axis of its
    :class:`~gradtx.transforms._kronecker.KroneckerPlan` (``None`` for an axis without a
    matrix); a diagonal leaf has ``(s,)``, the running sum or average of $g^2$, and ``(None,)``.
    """

    count: jax.Array
    stats: Any
    roots: Any


def check_kronecker_args(
    block_size: Any, max_precond_dim: Any, precondition_frequency: Any = 1
) -> None:
    """The structural arguments shared by Shampoo, SOAP and the graft."""
    if block_size is not None:
        _validate.check_int("block_size", block_size, 1)
    _validate.check_int("max_precond_dim", max_precond_dim, 1)
    _validate.check_int("precondition_frequency", precondition_frequency, 1)


def diagonal_root(s: jax.Array, eps: Any, plan: kron.KroneckerPlan) -> jax.Array:
    r"""$(s + \epsilon \max s)^{-1/2}$ entry by entry, 0 where that is $0^{-1/2}$; the max is
    over each leaf of a stack (``plan``'s blocks), over the whole leaf otherwise."""
    sb = kron.to_blocks(s, plan)
    d = kron.from_blocks(sb + eps * jnp.max(sb, axis=tuple(range(1, sb.ndim)), keepdims=True), plan)
    return jnp.where(d > 0, jax.lax.rsqrt(jnp.where(d > 0, d, 1)), 0)


def scale_by_shampoo(
    b2: ScalarOrSchedule = 1.0,
    matrix_eps: ScalarOrSchedule = 1e-6,
    block_size: int | None = None,
    max_precond_dim: int = 1024,
    precondition_frequency: int = 1,
    start_preconditioning_step: int = 1,
    inverse_root: str = "eigh",
    exponent_override: int | None = None,
    batch_dims: BatchDims = None,
) -> GradientTransformation:
    r"""Precondition each block by the inverse roots of its Kronecker statistics (Shampoo).

    For a block $G_t$ (a matrix here; a tensor gets one statistic per axis):

    $$L_t = \beta L_{t-1} + w\, G_t G_t^\top,\quad R_t = \beta R_{t-1} + w\, G_t^\top G_t,\qquad
    u_t = \tilde L^{-1/p} G_t \tilde R^{-1/p}$$

    with $w = 1-\beta$ ($w = 1$ for $\beta = 1$, AdaGrad's sum), $p = 2 \times$ (the number
    of preconditioned axes) (4 for a matrix, 2 one-sided) unless ``exponent_override``, and
    $\tilde L^{-1/p} = (L + \epsilon\lambda_\max(L) I)^{-1/p}$ recomputed at steps
    $t_0, t_0 + f, t_0 + 2f, \dots$ ($t_0$ = ``start_preconditioning_step``, $f$ =
    ``precondition_frequency``), a new root replacing the old one only if it fits the current
    statistic at least as well (:func:`~gradtx.transforms._matrix_roots.refresh_roots`). A
    diagonal leaf (0-D, 1-D, or with every axis above ``max_precond_dim``) has
    $u_t = g_t \odot (s_t + \epsilon \max s_t)^{-1/2}$ with $s_t = \beta s_{t-1} + w g_t^2$, the
    diagonal case of the same rule. Before $t_0$ the output is **zero** (no root yet), which
    :func:`gradtx.graft` replaces by its magnitude transform's update. Statistics and roots
    are float32 or wider whatever the parameter dtype.

    Args:
      b2: $\beta \in [0, 1]$; 1 sums the statistics (Gupta et al.), below 1 averages them.
      matrix_eps: $\epsilon \ge 0$, the ridge relative to the largest eigenvalue.
      block_size: cut axes longer than this into blocks (``None``: no blocking).
      max_precond_dim: the longest block axis that gets a matrix; also the merging bound.
      precondition_frequency: $f \ge 1$, steps between two root computations.
      start_preconditioning_step: $t_0 \ge 1$, the step of the first root.
      inverse_root: ``"eigh"`` or ``"newton"`` (coupled Newton iteration).
      exponent_override: $p$ for every matrix leaf instead of the rule above.
      batch_dims: leading axes that index a stack of independent leaves (stacked layers):
        an integer, a tree of them or a function of the parameters (see
        :mod:`~gradtx.transforms._batch_dims`); ``None``: none.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`ShampooState`.

    References:
      Gupta, Koren & Singer, "Shampoo: Preconditioned Stochastic Tensor Optimization",
      ICML 2018, arXiv:1802.09568; Anil, Gupta, Koren, Regan & Singer, "Scalable Second Order
      Optimization for Deep Learning", 2020, arXiv:2002.09018.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.scale_by_shampoo(matrix_eps=0.0)
      >>> g = jnp.array([[4.0, 0.0], [0.0, 1.0]])   # L = R = diag(16, 1): u = L^-1/4 g R^-1/4
      >>> tx.update(g, tx.init(g))[0].tolist()
      [[1.0, 0.0], [0.0, 1.0]]
    """
    _validate.check_range("b2", b2, 0.0, 1.0)
    _validate.check_nonnegative("matrix_eps", matrix_eps)
    check_kronecker_args(block_size, max_precond_dim, precondition_frequency)
    _validate.check_int("start_preconditioning_step", start_preconditioning_step, 1)
    _validate.check_choice("inverse_root", inverse_root, METHODS)
    if exponent_override is not None:
        _validate.check_int("exponent_override", exponent_override, 1)
    check_batch_dims(batch_dims)

    def plans_of(tree):
        return kron.leaf_plans(tree, block_size, max_precond_dim, "scale_by_shampoo", batch_dims)

    def init(params):
        stats, roots = [], []
        for x, plan in zip(_tree.leaves_with_none(params), plans_of(params)):
            if plan is None:
                stats.append(None)
                roots.append(None)
            elif plan.diagonal:
                stats.append((jnp.zeros(x.shape, kron.work_dtype(x)),))
                roots.append((None,))
            else:
                stats.append(kron.init_matrices(plan, kron.work_dtype(x), "zeros"))
                roots.append(kron.init_matrices(plan, kron.work_dtype(x), "zeros"))
        return ShampooState(
            _tree.zero_count(),
            _tree.replace_leaves(params, stats),
            _tree.replace_leaves(params, roots),
        )

    def order(plan):
        return exponent_override or plan.root_order

    def refresh(stats, roots, plans, t):
        """New roots of every matrix statistic, batched by (block size, p)."""
        where = [
            (j, i)
            for j, plan in enumerate(plans)
            if plan is not None and not plan.diagonal
            for i, on in enumerate(plan.preconditioned)
            if on
        ]
        new = roots
        for p in sorted({order(plans[j]) for j, _ in where}):
            sel = [(j, i) for j, i in where if order(plans[j]) == p]
            fn = lambda a, old, p=p: refresh_roots(a, old, p, matrix_eps, inverse_root)
            outs = kron.batched_by_shape(
                fn, [stats[j][i] for j, i in sel], [roots[j][i] for j, i in sel], anchor=t
            )
            new = kron.set_matrices(new, sel, outs)
        return new

    def update(updates, state, params=None, **extra):
        del params, extra
        check_state_type(state, ShampooState, "scale_by_shampoo")
        leaves = _tree.leaves_with_none(updates)
        plans = plans_of(updates)
        treedef = jax.tree.structure(updates, is_leaf=_tree.is_none)
        stats = kron.per_leaf(updates, state.stats)
        roots = kron.per_leaf(updates, state.roots)
        t = state.count + 1
        w_old, w_new = kron.statistic_weights(b2)
        new_stats, blocks = [], []
        for g, plan, st in zip(leaves, plans, stats):
            if plan is None:
                new_stats.append(st)
                blocks.append(None)
                continue
            g = g.astype(kron.work_dtype(g))
            if plan.diagonal:
                new_stats.append((w_old.astype(g.dtype) * st[0] + w_new.astype(g.dtype) * g * g,))
                blocks.append(g)
            else:
                xb = kron.to_blocks(g, plan)
                new_stats.append(kron.update_statistics(st, xb, plan, w_old, w_new))
                blocks.append(xb)
        due = (t >= start_preconditioning_step) & (
            (t - start_preconditioning_step) % precondition_frequency == 0
        )
        roots = jax.lax.cond(
            due, lambda s, r: refresh(s, r, plans, t), lambda s, r: r, new_stats, roots
        )
        started = t >= start_preconditioning_step
        out = []
        for g, plan, st, rt, xb in zip(leaves, plans, new_stats, roots, blocks):
            if plan is None:
                out.append(g)
            elif plan.diagonal:
                u = jnp.where(started, xb * diagonal_root(st[0], matrix_eps, plan), 0)
                out.append(u.astype(g.dtype))
            else:
                out.append(kron.from_blocks(kron.apply_factors(xb, rt), plan).astype(g.dtype))
        new_state = ShampooState(
            _tree.safe_increment(state.count),
            jax.tree.unflatten(treedef, new_stats),
            jax.tree.unflatten(treedef, roots),
        )
        return jax.tree.unflatten(treedef, out), new_state

    return GradientTransformation(init, update)
