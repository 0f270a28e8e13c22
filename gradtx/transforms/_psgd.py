r"""PSGD-Kron: a Kronecker-factored preconditioner $P = Q^\top Q$ fitted on a Lie group.

Each axis of a leaf has a factor $Q_i$: upper triangular, or diagonal (a vector) for an axis
longer than ``max_size_triangular``, of size 1, or of a 0-D/1-D leaf. With probability
``preconditioner_update_probability`` a step draws $v \sim \mathcal N(0, I)$ and moves each
$Q_i$ multiplicatively towards the fixed point of Li's criterion
$\mathbb E[h^\top P h + v^\top P^{-1} v]$, $P\,\mathbb E[h h^\top]\,P = I$, i.e.
$P = \mathbb E[h h^\top]^{-1/2}$; no eigendecomposition, only products and triangular solves.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _tree, _validate
from gradtx._base import (
    BatchDims,
    EmptyState,
    GradientTransformation,
    KeyLike,
    Scalar,
    ScalarOrSchedule,
    Schedule,
    check_state_type,
)
from gradtx.transforms._batch_dims import batch_dims_of, check_batch_dims, split_shape
from gradtx.transforms._kronecker import per_leaf, preconditioned_leaves
from gradtx.transforms._psgd_fit import (
    along,
    gram,
    group_noise,
    leaf_groups,
    refit_group,
)


def psgd_update_probability(
    max_prob: float = 1.0, min_prob: float = 0.03, decay: float = 0.001, flat_start: int = 250
) -> Schedule:
    r"""psgd_jax's annealed probability of refitting the preconditioner at step $t$.

    $$p_t = \operatorname{clip}\big(p_\max e^{-\delta (t - t_0)}, p_\min, p_\max\big)$$
    (1 for the first $t_0 = 250$ steps, 0.03 by step ~3750).

    Args:
      max_prob: $p_\max$, the probability at the start, in $[0, 1]$.
      min_prob: $p_\min$, the floor, in $[0, 1]$.
      decay: $\delta$, the exponential decay rate per step, $\ge 0$.
      flat_start: $t_0$, the steps before the decay starts, $\ge 0$.

    Returns:
      A schedule ``schedule(count) -> probability``.

    References:
      Li, "Preconditioned stochastic gradient descent", IEEE TNNLS 2018
      (arXiv:1512.04202); the annealing of psgd_jax (Evan Walters, 2024).

    Example:
      >>> import gradtx
      >>> s = gradtx.psgd_update_probability()
      >>> s = psgd_update_probability()
      >>> [round(float(s(t)), 3) for t in (0, 250, 1000, 5000)]
      [1.0, 1.0, 0.472, 0.03]
    """

    _validate.check_range("max_prob", max_prob, 0.0, 1.0)
    _validate.check_range("min_prob", min_prob, 0.0, 1.0)
    _validate.check_nonnegative("decay", decay)
    _validate.check_int("flat_start", flat_start, 0)

    def schedule(count):
        p = max_prob * jnp.exp(-decay * (jnp.asarray(count, jnp.float32) - flat_start))
        return jnp.clip(p, min_prob, max_prob)

    return schedule


def soft_trust_region(scale: ScalarOrSchedule = 1.5) -> GradientTransformation:
    r"""Squash each entry smoothly to about $[-s, s]$ (psgd_jax's trust region).

    $$u \leftarrow s\,\Big(0.1\,\operatorname{sign}(x)\log(1 + |x|) + 0.9 \tanh x\Big),
    \qquad x = u / s$$

    Near 0 it is the identity ($\approx u$ for $|u| \ll s$); far out it grows only
    logarithmically, so one large preconditioned entry cannot blow a step up.

    Args:
      scale: $s > 0$.

    Returns:
      A stateless :class:`~gradtx.GradientTransformation`.

    References:
      psgd_jax (Evan Walters), ``kron``'s ``trust_region_scale``, 2024.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.soft_trust_region(1.0)
      >>> [round(x, 3) for x in tx.update(jnp.array([0.01, 100.0]), tx.init(None))[0].tolist()]
      [0.01, 1.362]
    """
    _validate.check_positive("scale", scale)

    def update(updates, state, params=None, **extra):
        del params, extra
        sc = _tree.Scalars(scale=scale)

        def squash(u):
            s = sc(u).scale
            x = u / s
            return s * (0.1 * jnp.sign(x) * jnp.log1p(jnp.abs(x)) + 0.9 * jnp.tanh(x))

        return _tree.leafwise(squash, updates), state

    return GradientTransformation(lambda params: EmptyState(), update)


class PSGDKronState(NamedTuple):
    """Step count, random key data and the factors: a tuple per trained leaf, one
    ``(n, n)`` upper-triangular or ``(n,)`` diagonal factor per axis (``(1,)`` for 0-D);
    ``ps``: with ``cache_preconditioner``, the products $Q_i^\top Q_i$ in the same layout
    (symmetric ``(n, n)``, or the squared diagonal), else ``None``."""

    count: jax.Array
    key: jax.Array
    qs: Any
    ps: Any = None


def _triangular(shape: tuple, max_size: int) -> list[bool]:
    return [len(shape) >= 2 and 1 < n <= max_size for n in shape]


def precondition(qs: list, g: jax.Array) -> jax.Array:
    r"""$P g = g \times_i Q_i^\top Q_i$."""
    for i, q in enumerate(qs):
        g = along(q, along(q, g, i), i, transpose=True)
    return g


def products(qs: tuple, stacked: bool = False) -> tuple:
    r"""The factors of $P$ itself, $Q_i^\top Q_i$ (a diagonal factor: $q_i^2$), to apply
    $P$ with one product per axis (:func:`precondition_cached`) instead of two; ``stacked``:
    the factors of a stack of leaves (a leading axis)."""
    if stacked:
        return jax.vmap(products)(tuple(qs))
    return tuple(gram(q, q.ndim - 1, q.ndim == 1) for q in qs)  # Q^T Q: Gram of the columns


def precondition_cached(ps: list, g: jax.Array) -> jax.Array:
    r"""$P g = g \times_i P_i$ from the cached $P_i = Q_i^\top Q_i$ (symmetric)."""
    for i, p in enumerate(ps):
        g = along(p, g, i)
    return g


def inputs(g: jax.Array, k: int, dtype: Any) -> jax.Array:
    """A leaf as the preconditioner sees it: at least 1-D, in ``dtype``; with ``k`` batch
    axes, a ``(b, *rest)`` stack."""
    h = g.astype(dtype)
    if k:
        b, rest = split_shape(g.shape, k)
        return h.reshape((b, *(rest or (1,))))
    return h.reshape(1) if h.ndim == 0 else h


def scale_by_psgd_kron(
    preconditioner_update_probability: ScalarOrSchedule = 1.0,
    max_size_triangular: int = 8192,
    precond_lr: ScalarOrSchedule = 0.1,
    precond_init_scale: Scalar = 1.0,
    key: KeyLike = 0,
    cache_preconditioner: bool = False,
    batch_dims: BatchDims = None,
) -> GradientTransformation:
    r"""Precondition by $P = Q^\top Q$, a Kronecker product of factors fitted on a Lie group.

    $$u_t = P_t h_t,\qquad P_t = \textstyle\bigotimes_i Q_{i,t}^\top Q_{i,t}$$

    where $h_t$ is this primitive's input (in :func:`gradtx.psgd_kron`, the debiased momentum)
    and, with probability $p_t$ (``preconditioner_update_probability``, a constant or a
    schedule such as :func:`psgd_update_probability`), each $Q_i$ first takes one step of
    :func:`~gradtx.transforms._psgd_fit.update_factors` with step size $\mu$ = ``precond_lr``
    on a fresh $v\sim\mathcal N(0, I)$ (one draw for the whole tree,
    :func:`~gradtx.transforms._psgd_fit.group_noise`), after which the factors are balanced
    (:func:`~gradtx.transforms._psgd_fit.balance`); leaves of one shape are refitted as one
    stack (:func:`~gradtx.transforms._psgd_fit.refit_group`). The random key is in the
    state, so a run is reproducible and resumable. Factors start at $s^{1/r} I$ ($s$ =
    ``precond_init_scale``, $r$ the leaf's rank) and are kept in float32 or wider.

    **Cost and** ``cache_preconditioner``. Applying $P$ to an $m\times n$ leaf takes four
    products, $Q_1^\top (Q_1 H) Q_2^\top Q_2$: $4mn(m+n)$ FLOPs a step. With
    ``cache_preconditioner=True`` the state also keeps $P_i = Q_i^\top Q_i$, recomputed
    only when the factors are ($2(m^3+n^3)$ FLOPs, with probability $p_t$), and a step applies
    $P_1 H P_2$ in two products: half the work of every step, for as many more state bytes
    as the factors take (heavyball's ``cached=True``). The result is the same up to rounding.

    Args:
      preconditioner_update_probability: $p \in [0, 1]$, a constant or a schedule.
      max_size_triangular: axes longer than this get a diagonal factor.
      precond_lr: $\mu \ge 0$, the step of the factors (0.1 in psgd_jax).
      precond_init_scale: $s > 0$, the initial scale of $P$.
      key: an int seed or a JAX key for the noise and the coin flips.
      cache_preconditioner: keep $Q_i^\top Q_i$ in the state and apply $P$ with one
        product per axis (see above).
      batch_dims: leading axes that index a stack of independent leaves, each with its own
        factors (stacked in the state; see :mod:`~gradtx.transforms._batch_dims`).

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`PSGDKronState`.

    References:
      Li, "Preconditioned Stochastic Gradient Descent", IEEE TNNLS 29(5), 2018,
      arXiv:1512.04202; Li, "Preconditioner on Matrix Lie Group for SGD", ICLR 2019,
      arXiv:1809.10232; psgd_torch and psgd_jax (``kron``).

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.scale_by_psgd_kron(precond_lr=0.0)   # P stays I
      >>> g = jnp.array([[1.0, 2.0], [3.0, 4.0]])
      >>> tx.update(g, tx.init(g))[0].tolist()
      [[1.0, 2.0], [3.0, 4.0]]
    """
    _validate.check_schedule_or_range(
        "preconditioner_update_probability",
        preconditioner_update_probability,
        lambda n, v: _validate.check_range(n, v, 0.0, 1.0),
    )
    _validate.check_int("max_size_triangular", max_size_triangular, 1)
    _validate.check_nonnegative("precond_lr", precond_lr)
    _validate.check_positive("precond_init_scale", precond_init_scale)
    key_data = _validate.key_data("key", key)
    if not isinstance(cache_preconditioner, (bool, np.bool_)):
        what = repr(cache_preconditioner)
        raise ValueError(f"cache_preconditioner must be True or False, got {what}.")
    check_batch_dims(batch_dims)

    def factors_of(x, k):
        """The factors of a leaf, stacked along a first axis if it has ``k`` batch axes."""
        dtype, (b, shape) = jnp.promote_types(x.dtype, jnp.float32), split_shape(x.shape, k)
        if not shape:
            qs = (jnp.full((1,), precond_init_scale, dtype),)
        else:
            s = precond_init_scale ** (1.0 / len(shape))
            tri = _triangular(shape, max_size_triangular)
            qs = tuple(
                s * jnp.eye(n, dtype=dtype) if t else jnp.full((n,), s, dtype)
                for n, t in zip(shape, tri)
            )
        return tuple(jnp.tile(q, (b,) + (1,) * q.ndim) for q in qs) if k else qs

    def batches(tree):
        return batch_dims_of(batch_dims, tree, "scale_by_psgd_kron")

    def init(params):
        leaves = preconditioned_leaves(params, "scale_by_psgd_kron")
        ks = batches(params)
        qs = [None if x is None else factors_of(x, k) for x, k in zip(leaves, ks)]
        ps = None
        if cache_preconditioner:
            ps = [None if q is None else products(q, k > 0) for q, k in zip(qs, ks)]
        return PSGDKronState(
            _tree.zero_count(),
            key_data,
            _tree.replace_leaves(params, qs),
            None if ps is None else _tree.replace_leaves(params, ps),
        )

    def update(updates, state, params=None, **extra):
        del params, extra
        check_state_type(state, PSGDKronState, "scale_by_psgd_kron")
        if (state.ps is not None) != cache_preconditioner:
            raise ValueError(
                f"scale_by_psgd_kron(cache_preconditioner={cache_preconditioner}) got a state "
                f"made with cache_preconditioner={not cache_preconditioner}; create the state "
                "with this transform's init."
            )
        leaves, ks = _tree.leaves_with_none(updates), batches(updates)
        treedef = jax.tree.structure(updates, is_leaf=_tree.is_none)
        qs = per_leaf(updates, state.qs)
        key = jax.random.wrap_key_data(state.key)
        key, coin, noise = jax.random.split(key, 3)
        count = _tree.safe_increment(state.count)
        prob = preconditioner_update_probability
        prob = prob(count) if callable(prob) else prob
        do_update = jax.random.uniform(coin) < prob
        trained = [j for j, x in enumerate(leaves) if qs[j] is not None]
        hs = {j: inputs(leaves[j], ks[j], qs[j][0].dtype) for j in trained}

        def refit(factors):
            qs, ps = factors
            new = list(qs)
            member = lambda j: (
                jax.ShapeDtypeStruct(hs[j].shape[1:], hs[j].dtype) if ks[j] else hs[j]
            )
            size = lambda j: hs[j].shape[0] if ks[j] else 1
            groups = [[trained[k] for k in g] for g in leaf_groups([member(j) for j in trained])]
            like = [[member(j) for j in idx for _ in range(size(j))] for idx in groups]
            for idx, v in zip(groups, group_noise(noise, like)):
                lr = jnp.asarray(precond_lr, hs[idx[0]].dtype)
                stacked = [ks[j] > 0 for j in idx]
                fits = refit_group(
                    [qs[j] for j in idx], [hs[j] for j in idx], v, lr, count, stacked
                )
                for j, q in zip(idx, fits):
                    new[j] = q
            if ps is not None:
                ps = [None if q is None else products(q, k > 0) for q, k in zip(new, ks)]
            return new, ps

        ps = per_leaf(updates, state.ps) if cache_preconditioner else None
        qs, ps = jax.lax.cond(do_update, refit, lambda f: f, (qs, ps))
        out = []
        for j, (g, q) in enumerate(zip(leaves, qs)):
            if q is None:
                out.append(g)
                continue
            if ps is None:
                apply, f = lambda f, h: precondition(list(f), h), q
            else:
                apply, f = lambda f, h: precondition_cached(list(f), h), ps[j]
            u = jax.vmap(apply)(f, hs[j]) if ks[j] else apply(f, hs[j])
            out.append(u.reshape(g.shape).astype(g.dtype))
        new_state = PSGDKronState(
            count,
            jax.random.key_data(key),
            jax.tree.unflatten(treedef, qs),
            None if ps is None else jax.tree.unflatten(treedef, ps),
        )
        return jax.tree.unflatten(treedef, out), new_state

    return GradientTransformation(init, update)
