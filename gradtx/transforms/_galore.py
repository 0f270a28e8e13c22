r"""GaLore: run an optimizer on low-rank projections of the matrix gradients.

A matrix gradient $G \in \mathbb R^{m\times n}$ is projected on the span of its top $r$
singular vectors, $R = P^\top G$ ($m \ge n$) or $R = G P$ ($m < n$); the inner optimizer
(Adam by default) sees only $R$, so its moments take $r \times n$ (or $m \times r$) entries
instead of $m \times n$, and its output is projected back. $P$ is recomputed from an SVD of
the gradient every ``update_proj_gap`` steps. Which axes of a leaf form the matrix is said
by :class:`GaLoreDimensionNumbers` (every axis must be one or the other).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, Params, Scalar, as_transform, check_state_type
from gradtx.transforms._composite import scale_by_adam
from gradtx.transforms._orthogonal import _axes, resolve_dimension_numbers


class GaLoreDimensionNumbers(NamedTuple):
    """Which axes of a parameter form the matrix that GaLore projects.

    The leaf is transposed to ``reduction_axis + output_axis`` and reshaped to a matrix
    (product of the reduction sizes) x (product of the output sizes); the two must cover
    every axis. An attention kernel ``(embed, heads, head_dim)`` is
    ``GaLoreDimensionNumbers(reduction_axis=0, output_axis=(1, 2))``.
    """

    reduction_axis: Any = 0
    output_axis: Any = 1


class GaLoreState(NamedTuple):
    """Step count, the inner optimizer's state (on the projections) and the projectors.

    A leaf that is not projected has no projector (``None``; Optax keeps a ``(0, 0)`` array,
    which checkpointers such as Orbax cannot save).
    """

    count: jax.Array
    base_optimizer_state: Any
    projector: Any


def _dims_per_leaf(spec: Any, tree: Any) -> list[Any]:
    """One dimension-numbers value (or ``None``: not projected) per leaf of ``tree``."""
    leaves = _tree.leaves_with_none(tree)
    ndim = lambda x: jnp.ndim(x) if x is not None and _tree.is_trainable(x) else -1
    if spec is None:  # the default: every 2-D leaf is a matrix (y = x W)
        dims = [GaLoreDimensionNumbers() if ndim(x) == 2 else None for x in leaves]
    elif isinstance(spec, tuple) and hasattr(spec, "reduction_axis"):  # one spec for all
        dims = [spec if ndim(x) >= 2 else None for x in leaves]
    else:
        dims = resolve_dimension_numbers(spec, tree, "galore")
    return [d if ndim(x) >= 0 else None for x, d in zip(leaves, dims)]  # never untrained


def _matrix(shape: tuple, dims: Any) -> tuple[tuple, tuple, int, int]:
    """The transpose to a matrix, its inverse and the matrix's (m, n), validated."""
    if len(shape) < 2:
        raise ValueError(f"galore projects leaves of rank >= 2, got a leaf of shape {shape}.")
    batch, reduction, output = _axes(shape, dims)
    if batch:
        raise ValueError(
            f"galore: the dimension numbers {dims} leave the axes {batch} of a leaf of shape "
            f"{shape} unassigned; every axis must be a reduction or an output axis."
        )
    order = reduction + output
    inverse = tuple(order.index(i) for i in range(len(shape)))
    m, n = math.prod(shape[a] for a in reduction), math.prod(shape[a] for a in output)
    return order, inverse, m, n


def _to_matrix(x: jax.Array, dims: Any) -> jax.Array:
    order, _, m, n = _matrix(x.shape, dims)
    return jnp.transpose(x, order).reshape(m, n)


def _from_matrix(y: jax.Array, like_shape: tuple, dims: Any) -> jax.Array:
    order, inverse, _, _ = _matrix(like_shape, dims)
    return y.reshape(tuple(like_shape[a] for a in order)).transpose(inverse)


def _shapes(shape: tuple, dims: Any, rank: int) -> tuple[tuple, tuple, bool]:
    r"""(projector shape, projection shape, left): left when $m \ge n$, $P$ is $m \times r$."""
    _, _, m, n = _matrix(shape, dims)
    r = min(rank, m, n)
    left = m >= n
    return ((m, r), (r, n), True) if left else ((n, r), (m, r), False)


def scale_by_galore(
    rank: int = 128,
    update_proj_gap: int = 200,
    scale: Scalar = 1.0,
    base_optimizer: GradientTransformation | None = None,
    weight_dimension_numbers: Params | Callable[[Params], Params] | None = None,
) -> GradientTransformation:
    r"""Apply ``base_optimizer`` to low-rank projections of the matrix updates (GaLore).

    $$P_t = \begin{cases}\mathrm{SVD}_r(G_t) & t \bmod T = 0\\ P_{t-1} & \text{otherwise}
    \end{cases},\qquad R_t = P_t^\top G_t\ (m \ge n)\ \text{or}\ G_t P_t\ (m < n),$$
    $$u_t = \alpha\, P_t\, \mathcal B(R_t)\ \text{or}\ \alpha\,\mathcal B(R_t)\, P_t^\top$$

    $\mathrm{SVD}_r$ keeps the top $r$ = ``min(rank, m, n)`` left (or right) singular
    vectors, computed in float32 whatever the dtype (as in Optax; the projections are in
    at least float32); $T$ = ``update_proj_gap``, $\alpha$ = ``scale``, $\mathcal B$ =
    ``base_optimizer``, which must not need the parameters (it sees projections). The
    leaves that are not projected (by default every leaf that is not 2-D) go to
    $\mathcal B$ as they are and are not multiplied by $\alpha$, as in Optax.
    For a complex leaf $P^\top$ is the conjugate transpose (Optax's plain transpose
    projects a complex gradient on the wrong subspace).

    Args:
      rank: $r \ge 1$, the rank of the projection.
      update_proj_gap: $T \ge 1$, the steps between two SVDs.
      scale: $\alpha$, a factor on the projected-back updates.
      base_optimizer: the transform applied to the projections (default
        :func:`gradtx.scale_by_adam`); a direction such as ``scale_by_adam``, not an
        optimizer that decays the weights (use :func:`galore`'s ``weight_decay``).
      weight_dimension_numbers: ``None`` (project the 2-D leaves), one
        :class:`GaLoreDimensionNumbers` (for every leaf of rank >= 2), a tree of them and
        ``None`` (a prefix of the parameters' tree), or a function of the parameters that
        returns one.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`GaLoreState`.

    References:
      Zhao, Zhang, Chen, Wang, Anandkumar & Tian, "GaLore: Memory-Efficient LLM Training
      by Gradient Low-Rank Projection", ICML 2024, arXiv:2403.03507.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.scale_by_galore(rank=1, base_optimizer=gradtx.identity())
      >>> g = jnp.array([[3.0, 0.0], [0.0, 1.0]])       # rank 1 keeps the top direction
      >>> tx.update(g, tx.init(g))[0].tolist()
      [[3.0, 0.0], [0.0, 0.0]]
    """
    rank = _validate.check_int("rank", rank, 1)
    gap = _validate.check_int("update_proj_gap", update_proj_gap, 1)
    _validate.check_finite("scale", scale)
    base = as_transform(scale_by_adam() if base_optimizer is None else base_optimizer, "base")

    def init(params):
        if not jax.tree.leaves(params):  # a placeholder (optax.tree.map_params) or no leaves
            return GaLoreState(_tree.zero_count(), base.init(params), params)
        leaves = _tree.leaves_with_none(params)
        dims = _dims_per_leaf(weight_dimension_numbers, params)
        projectors, proxies = [], []
        for p, d in zip(leaves, dims):
            if p is None or d is None:
                projectors.append(None)
                proxies.append(None if p is None else jnp.zeros_like(p))
                continue
            p_shape, r_shape, _ = _shapes(p.shape, d, rank)
            projectors.append(jnp.zeros(p_shape, p.dtype))
            proxies.append(jnp.zeros(r_shape, p.dtype))
        proxy = _tree.replace_leaves(params, proxies)
        return GaLoreState(
            _tree.zero_count(), base.init(proxy), _tree.replace_leaves(params, projectors)
        )

    def update(updates, state, params=None, **extra):
        del params
        check_state_type(state, GaLoreState, "scale_by_galore")
        refresh = state.count % gap == 0
        leaves = _tree.leaves_with_none(updates)
        dims = _dims_per_leaf(weight_dimension_numbers, updates)
        projectors = _tree.leaves_with_none(state.projector)
        low, new_projectors = [], []
        for g, d, proj in zip(leaves, dims, projectors):
            if g is None or d is None:
                low.append(g)
                new_projectors.append(proj)
                continue
            _, r_shape, left = _shapes(g.shape, d, rank)
            work = jnp.promote_types(g.dtype, jnp.float32)
            mat = _to_matrix(g, d).astype(work)
            r = r_shape[0] if left else r_shape[1]

            def svd(mat=mat, left=left, r=r, dtype=proj.dtype):
                # In single precision for every dtype, as Optax: a singular vector's sign is
                # arbitrary, and float64's SVD often picks the other one, which flips the
                # base optimizer's moments and sends the run elsewhere (tests pin this).
                single = jnp.complex64 if jnp.iscomplexobj(mat) else jnp.float32
                u, _, vh = jnp.linalg.svd(mat.astype(single), full_matrices=False)
                return (u[:, :r] if left else vh[:r, :].conj().T).astype(dtype)

            proj = jax.lax.cond(refresh, svd, lambda proj=proj: proj)
            p = proj.astype(work)
            low.append((p.conj().T @ mat if left else mat @ p).astype(g.dtype))
            new_projectors.append(proj)
        low_tree = _tree.replace_leaves(updates, low)
        low_updates, base_state = base.update(
            low_tree, state.base_optimizer_state, None, **{**extra, "gradient": low_tree}
        )
        out = []
        for g, d, proj, u in zip(leaves, dims, new_projectors, _tree.leaves_with_none(low_updates)):
            if g is None or d is None:
                out.append(u)
                continue
            _, _, left = _shapes(g.shape, d, rank)
            work = jnp.promote_types(g.dtype, jnp.float32)
            p, u = proj.astype(work), u.astype(work)
            full = _from_matrix(p @ u if left else u @ p.conj().T, g.shape, d)
            out.append((jnp.asarray(scale, work) * full).astype(g.dtype))
        new_state = GaLoreState(
            _tree.safe_increment(state.count), base_state,
            _tree.replace_leaves(state.projector, new_projectors),
        )  # fmt: skip
        return _tree.replace_leaves(updates, out), new_state

    return GradientTransformation(init, update)
