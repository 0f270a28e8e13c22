r"""Orthogonalized updates (Muon): Newton–Schulz iterations on the matrix parameters.

A matrix update $G = U S V^\top$ is replaced by (approximately) $U V^\top$, the steepest
descent direction under the spectral norm. The polar factor is approached with a few
quintic Newton–Schulz iterations, which need only matrix products. Which axes of a leaf
form the matrix is said by :class:`MuonDimensionNumbers`; the other axes are batch axes.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _tree, _validate
from gradtx._base import DTypeLike, EmptyState, GradientTransformation, Scalar, chain
from gradtx.transforms._momentum import ema

PRECONDITIONINGS = ("frobenius", "spectral", "aol", "schatten")
NS_COEFFS = {
    "standard": (3.4445, -4.775, 2.0315),
    # One row per step (Ahn et al., "Dion", 2025), as Optax's preset of the same name.
    "dion": (
        (4.0848, -6.8946, 2.9270),
        (3.9505, -6.3029, 2.6377),
        (3.7418, -5.5913, 2.3037),
        (2.8769, -3.1427, 1.2046),
        (2.8366, -3.0525, 1.2012),
    ),
}
_RESCALING_FLOOR = 1e-8  # the floor of the AOL and Schatten rescalings (Optax's)


class MuonDimensionNumbers(NamedTuple):
    """Which axes of a parameter form the matrix that is orthogonalized.

    ``reduction_axis`` (the fan-in) and ``output_axis`` (the fan-out) are an int or a tuple
    of ints (negative ones count from the end); every other axis is a batch axis, whose
    slices are orthogonalized independently. The default is a matrix $W$ in $y = x W$.
    A 4-D convolution kernel ``(h, w, c_in, c_out)`` is
    ``MuonDimensionNumbers(reduction_axis=(0, 1, 2), output_axis=3)``.
    """

    reduction_axis: Any = 0
    output_axis: Any = 1


def _is_dims(x: Any) -> bool:
    """``None`` or dimension numbers (ours, or any NamedTuple with the same fields: Optax's)."""
    fields = getattr(type(x), "_fields", ())
    return x is None or ("reduction_axis" in fields and "output_axis" in fields)


def resolve_dimension_numbers(spec: Any, tree: Any, who: str) -> list[Any]:
    """One :class:`MuonDimensionNumbers` or ``None`` per leaf of ``tree`` (``None`` included).

    ``spec`` is ``None`` (every leaf is a matrix, axes ``(0, 1)``), a tree of dimension
    numbers and ``None`` with the structure of ``tree`` or of a prefix of it, or a function
    of ``tree`` returning one.
    """
    n = len(jax.tree.leaves(tree, is_leaf=_tree.is_none))
    if spec is None:
        return [MuonDimensionNumbers()] * n
    resolved = spec(tree) if callable(spec) else spec
    treedef = jax.tree.structure(resolved, is_leaf=_is_dims)
    try:
        subtrees = treedef.flatten_up_to(tree)
    except (ValueError, TypeError):
        raise ValueError(
            f"{who}: the weight dimension numbers must have the structure of the params or "
            f"of a prefix of it.\n  dimension numbers: {treedef}\n"
            f"  params: {jax.tree.structure(tree, is_leaf=_tree.is_none)}"
        ) from None
    out: list[Any] = []
    for dims, sub in zip(jax.tree.leaves(resolved, is_leaf=_is_dims), subtrees):
        if not _is_dims(dims):
            raise ValueError(f"{who}: expected MuonDimensionNumbers or None, got {dims!r}.")
        out.extend([dims] * len(jax.tree.leaves(sub, is_leaf=_tree.is_none)))
    return out


def _axes(shape: tuple, dims: MuonDimensionNumbers) -> tuple[tuple, tuple, tuple]:
    """(batch, reduction, output) axes of a leaf of ``shape``, validated."""
    ndim = len(shape)
    if ndim < 2:
        raise ValueError(
            f"Muon orthogonalizes matrices: a leaf of shape {shape} (rank {ndim} < 2) needs "
            "`None` dimension numbers (muon routes such leaves to Adam)."
        )
    as_tuple = lambda a: (a,) if isinstance(a, (int, np.integer)) else tuple(a)
    reduction = tuple(ax % ndim for ax in as_tuple(dims.reduction_axis))
    output = tuple(ax % ndim for ax in as_tuple(dims.output_axis))
    if set(reduction) & set(output):
        raise ValueError(
            f"reduction and output axes must be disjoint, got {reduction} and {output} for "
            f"a leaf of shape {shape} ({dims})."
        )
    batch = tuple(ax for ax in range(ndim) if ax not in reduction + output)
    return batch, reduction, output


def _fans(shape: tuple, dims: MuonDimensionNumbers) -> tuple[int, int]:
    _, reduction, output = _axes(shape, dims)
    return math.prod(shape[a] for a in reduction), math.prod(shape[a] for a in output)


def _coefficient_rows(ns_coeffs: Any, ns_steps: Any) -> tuple[tuple[float, float, float], ...]:
    """The coefficients of each Newton–Schulz step, validated: ``ns_steps`` copies of one
    triple, or the rows of an ``(n, 3)`` table (``n <= ns_steps``), or a preset's."""
    if isinstance(ns_steps, bool) or not isinstance(ns_steps, (int, np.integer)) or ns_steps < 1:
        raise ValueError(f"ns_steps must be an integer >= 1, got {ns_steps!r}.")
    if isinstance(ns_coeffs, str):
        if ns_coeffs not in NS_COEFFS:
            raise ValueError(f"ns_coeffs must be one of {tuple(NS_COEFFS)!r}, got {ns_coeffs!r}.")
        ns_coeffs = NS_COEFFS[ns_coeffs]
    table = np.asarray(ns_coeffs, dtype=np.float64)
    if table.ndim not in (1, 2) or table.shape[-1] != 3 or not np.all(np.isfinite(table)):
        raise ValueError(
            f"ns_coeffs must be finite, of shape (3,) or (n, 3), got {np.shape(ns_coeffs)}."
        )
    if table.ndim == 1:
        return (tuple(table.tolist()),) * int(ns_steps)
    if table.shape[0] > ns_steps:
        raise ValueError(
            f"ns_coeffs has {table.shape[0]} rows (one per step) but ns_steps is {ns_steps}."
        )
    return tuple(tuple(row) for row in table.tolist())


def _newton_schulz_step(x: jax.Array, c: tuple, rescale: str | None) -> jax.Array:
    """$X \\leftarrow c_0 X + (c_1 A + c_2 A^2) X$, $A = X X^H$ (after a first rescaling)."""
    a = x @ x.T.conj()
    if rescale == "aol":  # Almost-Orthogonal-Layer row scaling, folded into A
        s = jax.lax.rsqrt(jnp.clip(jnp.abs(a).sum(axis=-1), min=_RESCALING_FLOOR))[:, None]
        x, a = x * s, a * s * s.T
    elif rescale == "schatten":  # divide by the root of ||A||_F = ||X||_{S4}^2
        s = jax.lax.rsqrt(jnp.clip(jnp.linalg.norm(a, ord="fro"), min=_RESCALING_FLOOR))
        x, a = x * s, a * s**2
    b = c[1] * a + c[2] * a @ a
    return c[0] * x + b @ x


def _orthogonalize_matrix(x: jax.Array, rows: tuple, preconditioning: str, eps: Any) -> jax.Array:
    transposed = x.shape[0] > x.shape[1]  # iterate on the wide side: A is the smaller Gram
    if transposed:
        x = x.T
    if preconditioning == "frobenius":
        x = x / (jnp.linalg.norm(x, ord="fro") + eps)
    elif preconditioning == "spectral":
        x = x / (jnp.linalg.norm(x, ord=2) + eps)
    for i, c in enumerate(rows):
        x = _newton_schulz_step(x, c, preconditioning if i == 0 else None)
    return x.T if transposed else x


def orthogonalize_via_newton_schulz(
    x: jax.Array,
    ns_coeffs: Any = NS_COEFFS["standard"],
    ns_steps: int = 5,
    preconditioning: str = "frobenius",
    eps: Scalar = 1e-8,
    dimension_numbers: MuonDimensionNumbers | None = None,
) -> jax.Array:
    r"""Map a matrix $G = U S V^H$ to approximately $U V^H$ with Newton–Schulz iterations.

    $$X_0 = \frac{G}{\lVert G\rVert_F + \epsilon},\qquad
    X_{k+1} = c_0 X_k + \big(c_1 A_k + c_2 A_k^2\big) X_k,\quad A_k = X_k X_k^H$$

    The quintic coefficients $(c_0, c_1, c_2)$ = ``ns_coeffs`` maximize the slope at zero
    rather than converge: after 5 steps the singular values above 5% of the Frobenius norm
    end in $[0.68, 1.14]$, not at 1, which does not hurt training (Jordan 2024). The
    iteration runs on the wide side ($G^H$ if $G$ is tall). ``preconditioning`` rescales
    $G$ first: by its Frobenius or spectral norm, or (``"aol"``, ``"schatten"``) inside the
    first iteration by the AOL row scaling or the Schatten-4 norm (floored at $10^{-8}$),
    as in Optax. The slope of the map at 0 is $c_0^5 \approx 480$: in float32, a last-bit
    change of a small singular direction of $G$ moves the result by up to ~1e-5 relative.

    Args:
      x: a matrix, or an array whose matrix axes ``dimension_numbers`` names.
      ns_coeffs: $(c_0, c_1, c_2)$, an ``(n, 3)`` table (one row per step, then ``n`` steps
        are made), or a preset name: ``"standard"`` (the default) or ``"dion"``.
      ns_steps: the number of iterations $\ge 1$ (at least the table's rows).
      preconditioning: one of ``"frobenius"``, ``"spectral"``, ``"aol"``, ``"schatten"``.
      eps: $\epsilon \ge 0$, added to the norm.
      dimension_numbers: a :class:`MuonDimensionNumbers` for arrays of other ranks.

    Returns:
      An array of the shape and dtype of ``x``.

    References:
      Jordan, Jin, Boza, You, Cesista, Newhouse & Bernstein, "Muon: An optimizer for hidden
      layers in neural networks", 2024, kellerjordan.github.io/posts/muon; Bernstein &
      Newhouse, "Old Optimizer, New Norm: An Anthology", 2024, arXiv:2409.20325.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import orthogonalize_via_newton_schulz
      >>> o = orthogonalize_via_newton_schulz(jnp.array([[3.0, 0.0], [0.0, 0.5]]))
      >>> [round(float(s), 1) for s in jnp.linalg.svd(o, compute_uv=False)]  # 3 and 0.5 -> ~1
      [1.0, 0.7]
    """
    _validate.check_choice("preconditioning", preconditioning, PRECONDITIONINGS)
    rows = _coefficient_rows(ns_coeffs, ns_steps)
    if x.ndim == 2 or dimension_numbers is None:
        if x.ndim != 2:
            raise ValueError(
                f"orthogonalize_via_newton_schulz needs a matrix or dimension_numbers, got "
                f"shape {x.shape}."
            )
        dimension_numbers = MuonDimensionNumbers()
    batch, reduction, output = _axes(x.shape, dimension_numbers)
    order = batch + reduction + output
    sizes = lambda axes: tuple(x.shape[a] for a in axes)
    flat = x.transpose(order).reshape(
        math.prod(sizes(batch)), math.prod(sizes(reduction)), math.prod(sizes(output))
    )
    out = jax.vmap(lambda m: _orthogonalize_matrix(m, rows, preconditioning, eps))(flat)
    return out.reshape(sizes(order)).transpose(np.argsort(order))


def _map_leaves(fn: Any, updates: Any, dims: list[Any]) -> Any:
    """``fn(leaf, dims)`` on every trainable leaf whose dimension numbers are not ``None``."""
    leaves, treedef = jax.tree.flatten(updates, is_leaf=_tree.is_none)
    out = [
        g if d is None else _tree.leafwise(lambda x, d=d: fn(x, d), g) for g, d in zip(leaves, dims)
    ]
    return jax.tree.unflatten(treedef, out)


def scale_by_newton_schulz(
    ns_coeffs: Any = NS_COEFFS["standard"],
    ns_steps: int = 5,
    eps: Scalar = 1e-8,
    *,
    adaptive: bool = False,
    preconditioning: str = "frobenius",
    weight_dimension_numbers: Any = None,
) -> GradientTransformation:
    r"""Replace each matrix update by its approximate orthogonal polar factor.

    $$u \leftarrow \operatorname{NS}(u) \approx U V^H\ \ (u = U S V^H),\qquad
    \text{adaptive: } u \leftarrow \langle u, \operatorname{NS}(u)\rangle\,\operatorname{NS}(u)$$

    with $\operatorname{NS}$ = :func:`orthogonalize_via_newton_schulz`. The adaptive form
    multiplies by the dual (nuclear) norm of the update, as in Bernstein & Newhouse.

    Args:
      ns_coeffs, ns_steps, preconditioning: as in :func:`orthogonalize_via_newton_schulz`.
      eps: $\epsilon \ge 0$, added to the norm of the rescaling.
      adaptive: multiply by $\langle u, \operatorname{NS}(u)\rangle$.
      weight_dimension_numbers: ``None`` (every leaf is a matrix) or a tree (prefix) of
        :class:`MuonDimensionNumbers`, or a function of the updates returning one; leaves
        whose dimension numbers are ``None`` pass through unchanged.

    Returns:
      A stateless :class:`~gradtx.GradientTransformation`.

    References:
      Jordan et al., "Muon: An optimizer for hidden layers in neural networks", 2024;
      Bernstein & Newhouse, "Old Optimizer, New Norm: An Anthology", 2024, arXiv:2409.20325.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_newton_schulz
      >>> tx = scale_by_newton_schulz()
      >>> u, _ = tx.update(jnp.array([[0.0, 4.0], [-4.0, 0.0]]), tx.init(None))
      >>> [[round(x, 2) for x in row] for row in u.tolist()]
      [[0.0, 1.11], [-1.11, 0.0]]
    """
    _validate.check_choice("preconditioning", preconditioning, PRECONDITIONINGS)
    _validate.check_nonnegative("eps", eps)
    rows = _coefficient_rows(ns_coeffs, ns_steps)

    def orthogonalize(g, dims):
        o = orthogonalize_via_newton_schulz(g, rows, len(rows), preconditioning, eps, dims)
        return jnp.sum(g.conj() * o) * o if adaptive else o

    def update(updates, state, params=None, **extra):
        del params, extra
        dims = resolve_dimension_numbers(
            weight_dimension_numbers, updates, "scale_by_newton_schulz"
        )
        return _map_leaves(orthogonalize, updates, dims), state

    return GradientTransformation(lambda params: EmptyState(), update)


def scale_by_shape(
    weight_dimension_numbers: Any = None, consistent_rms: Any = None
) -> GradientTransformation:
    r"""Scale each matrix update by a factor of its shape (fan-in $n$, fan-out $m$).

    $$u \leftarrow \sqrt{\max(1, m/n)}\; u \quad\text{or}\quad
    u \leftarrow \rho\,\sqrt{\max(n, m)}\; u\ \ (\rho = \text{consistent\_rms})$$

    The first (Jordan's width scaling) keeps the spectral norm of the update of a layer
    independent of its width; the second gives an orthogonal update the RMS $\rho$ whatever
    its shape (Liu et al. recommend $\rho = 0.2$, AdamW's typical RMS).

    Args:
      weight_dimension_numbers: as in :func:`scale_by_newton_schulz` (it names $n$ and $m$).
      consistent_rms: $\rho \ge 0$, or ``None`` for the width scaling.

    Returns:
      A stateless :class:`~gradtx.GradientTransformation`.

    References:
      Jordan et al., "Muon: An optimizer for hidden layers in neural networks", 2024;
      Liu et al., "Muon is Scalable for LLM Training", 2025, arXiv:2502.16982.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_shape
      >>> tx = scale_by_shape()
      >>> tx.update(jnp.ones((1, 4)), tx.init(None))[0].tolist()
      [[2.0, 2.0, 2.0, 2.0]]
    """
    if consistent_rms is not None:
        _validate.check_nonnegative("consistent_rms", consistent_rms)

    def rescale(g, dims):
        fan_in, fan_out = _fans(g.shape, dims)
        if consistent_rms is None:  # a 0-size matrix (fan_in 0) has nothing to scale
            return jnp.sqrt(max(1, fan_out / fan_in if fan_in else 1)) * g
        return jnp.sqrt(jnp.maximum(fan_in, fan_out)) * consistent_rms * g

    def update(updates, state, params=None, **extra):
        del params, extra
        dims = resolve_dimension_numbers(weight_dimension_numbers, updates, "scale_by_shape")
        return _map_leaves(rescale, updates, dims), state

    return GradientTransformation(lambda params: EmptyState(), update)


def scale_by_muon(
    ns_coeffs: Any = NS_COEFFS["standard"],
    ns_steps: int = 5,
    beta: Scalar = 0.95,
    eps: Scalar = 1e-8,
    mu_dtype: DTypeLike | None = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: str = "frobenius",
    weight_dimension_numbers: Any = None,
) -> GradientTransformation:
    r"""Muon's direction: orthogonalized (Nesterov) momentum of matrix updates.

    $$m_t = \beta m_{t-1} + (1-\beta) g_t,\quad
    \hat m_t = \begin{cases}\beta\frac{m_t}{1-\beta^{t+1}} + (1-\beta)\frac{g_t}{1-\beta^t}
    & \text{Nesterov}\\ \frac{m_t}{1-\beta^t} & \text{otherwise}\end{cases},\quad
    u_t = \operatorname{NS}(\hat m_t)$$

    It is ``chain(ema(beta, nesterov=nesterov), scale_by_newton_schulz(...))``: the
    debiased EMA of Optax's ``scale_by_muon`` (the paper's heavy-ball momentum
    $m \leftarrow \beta m + g$ differs by the factor $1-\beta$, which the orthogonalization
    removes, and by the debiasing of the first steps).

    Args:
      ns_coeffs, ns_steps, eps, adaptive, preconditioning, weight_dimension_numbers: as in
        :func:`scale_by_newton_schulz`.
      beta: $\beta \in [0, 1)$, the momentum decay.
      mu_dtype: dtype of $m$.
      nesterov: use the Nesterov look-ahead $\hat m_t$.

    Returns:
      A :class:`~gradtx.GradientTransformation` (a chain of an :class:`~gradtx.EmaState` and
      an empty state).

    References:
      Jordan et al., "Muon: An optimizer for hidden layers in neural networks", 2024;
      Bernstein & Newhouse, "Old Optimizer, New Norm: An Anthology", 2024, arXiv:2409.20325.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_muon
      >>> tx = scale_by_muon()
      >>> u, _ = tx.update(jnp.array([[0.0, 4.0], [-4.0, 0.0]]), tx.init(jnp.zeros((2, 2))))
      >>> [[round(x, 2) for x in row] for row in u.tolist()]
      [[0.0, 1.11], [-1.11, 0.0]]
    """
    _validate.check_decay("beta", beta)
    return chain(
        ema(beta, debias=True, accumulator_dtype=mu_dtype, nesterov=nesterov),
        scale_by_newton_schulz(
            ns_coeffs,
            ns_steps,
            eps,
            adaptive=adaptive,
            preconditioning=preconditioning,
            weight_dimension_numbers=weight_dimension_numbers,
        ),
    )
