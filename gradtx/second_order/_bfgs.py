r"""BFGS: the dense quasi-Newton inverse-Hessian approximation and its alias.

:func:`scale_by_bfgs` keeps $H_k \approx \nabla^2 f(x_k)^{-1}$ as one dense $n \times n$
matrix over the trained leaves, flattened in ``jax.tree.leaves`` order (integer leaves pass
through untrained), so it is for problems of up to a few thousand parameters; L-BFGS
(:func:`~gradtx.second_order.lbfgs`) is the same update with the last $m$ pairs only.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _vectors
from gradtx._base import GradientTransformation, Scalar, chain, check_state_type
from gradtx.second_order._lbfgs import pair_is_taken, unit_step_scale
from gradtx.second_order._zoom import resolve_linesearch
from gradtx.transforms._scaling import scale, scale_by_learning_rate


class ScaleByBfgsState(NamedTuple):
    r"""State of :func:`scale_by_bfgs`.

    Attributes:
      count: int32 number of updates.
      params: $x_{k-1}$, the parameters of the previous update.
      updates: $g_{k-1}$, the gradient (the input updates) of the previous update.
      inverse_hessian: $H_k$, $n \times n$ over the flattened trained leaves.
      pairs: int32 number of pairs $(s, y)$ taken into $H_k$ (skipped pairs not counted).
    """

    count: jax.Array
    params: Any
    updates: Any
    inverse_hessian: jax.Array
    pairs: jax.Array


def _flatten(tree: Any, dtype: Any) -> jax.Array:
    leaves = _vectors.trainable_leaves(tree)
    if not leaves:
        return jnp.zeros([0], dtype)
    return jnp.concatenate([x.ravel().astype(dtype) for x in leaves])


def _unflatten(vector: jax.Array, like: Any) -> Any:
    """``vector`` cut into the trained leaves of ``like`` (their shapes and dtypes); the other
    leaves of ``like`` are returned as they are."""
    leaves, treedef = jax.tree.flatten(like, is_leaf=_tree.is_none)
    out, start = [], 0
    for x in leaves:
        if x is not None and _tree.is_trainable(x):
            out.append(vector[start : start + x.size].reshape(x.shape).astype(x.dtype))
            start += x.size
        else:
            out.append(x)
    return jax.tree.unflatten(treedef, out)


def _check_real(params: Any) -> None:
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        if jnp.iscomplexobj(leaf):
            raise ValueError(
                "scale_by_bfgs needs real parameters; "
                f"{jax.tree_util.keystr(path)} has dtype {leaf.dtype}."
            )


def bfgs_inverse_update(h: jax.Array, s: jax.Array, y: jax.Array) -> jax.Array:
    r"""$H^+ = (I - \rho s y^\top) H (I - \rho y s^\top) + \rho s s^\top$, $\rho = 1/s^\top y$,
    for a symmetric $H$, in $O(n^2)$ (Nocedal & Wright, eq. 6.17).

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.second_order import bfgs_inverse_update
      >>> h = bfgs_inverse_update(jnp.eye(2), jnp.array([1.0, 0.0]), jnp.array([4.0, 0.0]))
      >>> h.tolist()  # the secant equation H y = s along the first axis
      [[0.25, 0.0], [0.0, 1.0]]
    """
    rho = 1 / jnp.dot(s, y)
    hy = h @ y
    return (
        h
        - rho * (jnp.outer(s, hy) + jnp.outer(hy, s))
        + (rho * rho * jnp.dot(y, hy) + rho) * jnp.outer(s, s)
    )


def scale_by_bfgs(scale_init_precond: bool = True) -> GradientTransformation:
    r"""Precondition the gradient by the BFGS inverse-Hessian approximation.

    $$u_k = H_k\, g_k,\qquad H_{k+1} = (I - \rho_k s_k y_k^\top) H_k (I - \rho_k y_k s_k^\top)
    + \rho_k s_k s_k^\top,\quad \rho_k = \frac{1}{s_k^\top y_k}$$

    with $s_k = x_{k+1} - x_k$, $y_k = g_{k+1} - g_k$ (:func:`bfgs_inverse_update`). A pair is
    skipped when $s^\top y \le \varepsilon\,\|s\|\,\|y\|$ ($\varepsilon$ the dtype's machine
    epsilon), which keeps $H$ positive definite, as in :func:`scale_by_lbfgs`. With
    ``scale_init_precond`` (the default) the first step is $g / \|g\|_2$ (unit length) and
    $H_0 = \frac{s^\top y}{y^\top y} I$ just before the first update (Nocedal & Wright,
    eq. 6.20); without it $H_0 = I$ from the start, as in SciPy's ``BFGS``. $H$ is dense over
    the flattened trained leaves and kept in their widest float dtype: $O(n^2)$ memory and
    time per step. The output has the sign of the gradient (see :func:`bfgs`). Needs
    ``params``.

    Args:
      scale_init_precond: the unit first step and the scaled $H_0$ (else $H_0 = I$).

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`ScaleByBfgsState`.

    References:
      Nocedal & Wright, "Numerical Optimization", 2nd ed., Springer 2006, section 6.1
      (Algorithm 6.1). Broyden 1970, Fletcher 1970, Goldfarb 1970, Shanno 1970.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.second_order import scale_by_bfgs
      >>> tx = scale_by_bfgs()  # on f(x) = 2 x0^2 + x1^2, g(x) = (4 x0, 2 x1)
      >>> x0, x1 = jnp.array([1.0, 0.0]), jnp.array([0.5, 0.0])
      >>> _, s = tx.update(jnp.array([4.0, 0.0]), tx.init(x0), x0)
      >>> u, s = tx.update(jnp.array([2.0, 0.0]), s, x1)  # H y = s: the Newton step in x0
      >>> u.tolist(), int(s.pairs)
      ([0.5, 0.0], 1)
    """

    def init(params):
        _check_real(params)
        dtype = _vectors.result_dtype(params)
        n = sum(x.size for x in _vectors.trainable_leaves(params))
        return ScaleByBfgsState(
            jnp.zeros([], jnp.int32),
            _tree.zeros_like(params),
            _tree.zeros_like(params),
            jnp.eye(n, dtype=dtype),
            jnp.zeros([], jnp.int32),
        )

    def update(updates, state, params=None, **extra):
        del extra
        check_state_type(state, ScaleByBfgsState, "scale_by_bfgs")
        if params is None:
            raise ValueError("scale_by_bfgs needs params (to form s = x_k - x_{k-1}).")
        _tree.check_same_structure(("params", "updates"), (params, updates))
        h = state.inverse_hessian
        dtype = h.dtype
        x, g = _flatten(params, dtype), _flatten(updates, dtype)
        s = x - _flatten(state.params, dtype)
        y = g - _flatten(state.updates, dtype)
        sy, yy = jnp.dot(s, y), jnp.dot(y, y)
        ok = pair_is_taken(state.count, sy, yy, jnp.linalg.norm(s))
        if scale_init_precond:  # H_0 = (s'y / y'y) I, just before the first update
            gamma = sy / jnp.where(ok, yy, 1)
            h = jnp.where(ok & (state.pairs == 0), gamma * jnp.eye(h.shape[0], dtype=dtype), h)
        h = jnp.where(ok, bfgs_inverse_update(h, s, y), h)  # a skipped pair's NaN unused
        pairs = jnp.where(ok, state.pairs + 1, state.pairs).astype(jnp.int32)
        direction = h @ g
        if scale_init_precond:  # a unit-length first step
            direction = jnp.where(pairs > 0, direction, unit_step_scale(jnp.linalg.norm(g)) * g)
        new = ScaleByBfgsState(
            _tree.safe_increment(state.count),
            _vectors.trainable_or_none(params),
            _vectors.trainable_or_none(updates),
            h,
            pairs,
        )
        return _unflatten(direction, updates), new

    return GradientTransformation(init, update)


def bfgs(
    learning_rate: Scalar | None = None,
    scale_init_precond: bool = True,
    linesearch: GradientTransformation | str | None = "zoom",
) -> GradientTransformation:
    r"""BFGS: the dense quasi-Newton direction followed by a strong-Wolfe line search.

    $$x_{k+1} = x_k - \alpha_k\, H_k\, \nabla f(x_k)$$

    with $H_k$ from :func:`scale_by_bfgs` and $\alpha_k$ from the line search (first trial
    1), times ``learning_rate`` when one is given: ``chain(scale_by_bfgs(...), scale(-1) or
    scale_by_learning_rate(lr), linesearch)``. The update needs ``value``, ``grad`` and
    ``value_fn``, as :func:`lbfgs`'s. For small problems (dense $H$, $O(n^2)$); the method of
    SciPy's and ``jax.scipy.optimize``'s ``minimize(method="BFGS")``.

    Args:
      learning_rate: $\eta \ge 0$ multiplying the direction, or ``None`` (1).
      scale_init_precond: see :func:`scale_by_bfgs`.
      linesearch: ``"zoom"`` (strong Wolfe, $c_2 = 0.9$, first trial 1), ``"backtracking"``,
        ``None``, or any line-search transform.

    Returns:
      A :class:`~gradtx.GradientTransformation` (a chain).

    References:
      Nocedal & Wright, "Numerical Optimization", 2nd ed., Springer 2006, Algorithm 6.1.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from gradtx.second_order import bfgs
      >>> f = lambda x: jnp.sum((x - 2.0) ** 2) + x[0] * x[1]
      >>> tx, x = bfgs(), jnp.zeros(2)
      >>> state = tx.init(x)
      >>> for _ in range(5):
      ...     value, grad = jax.value_and_grad(f)(x)
      ...     u, state = tx.update(grad, state, x, value=value, grad=grad, value_fn=f)
      ...     x = x + u
      >>> [round(v, 5) for v in x.tolist()]
      [1.33333, 1.33333]
    """
    step = scale(-1.0) if learning_rate is None else scale_by_learning_rate(learning_rate)
    search = resolve_linesearch(linesearch, "bfgs", initial_guess_strategy="one")
    return chain(scale_by_bfgs(scale_init_precond), step, search)
