r"""L-BFGS: the limited-memory BFGS direction (two-loop recursion) and its alias."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate, _vectors
from gradtx._base import GradientTransformation, Scalar, chain, check_state_type
from gradtx.second_order._zoom import resolve_linesearch
from gradtx.transforms._scaling import scale, scale_by_learning_rate


class ScaleByLbfgsState(NamedTuple):
    r"""State of :func:`scale_by_lbfgs`.

    Attributes:
      count: int32 number of updates.
      params: $x_{k-1}$, the parameters of the previous update.
      updates: $g_{k-1}$, the gradient (the input updates) of the previous update.
      s: the stored $s_i = x_{i+1} - x_i$, each leaf with a leading axis of length $m$.
      y: the stored $y_i = g_{i+1} - g_i$, same layout.
      rho: $\rho_i = 1 / s_i^\top y_i$, shape $(m,)$.
      head: int32 slot the next pair is written to (a ring buffer).
      size: int32 number of stored pairs ($\le m$).
      gamma: $\gamma = s^\top y / y^\top y$ of the newest pair (the initial inverse Hessian).
    """

    count: jax.Array
    params: Any
    updates: Any
    s: Any
    y: Any
    rho: jax.Array
    head: jax.Array
    size: jax.Array
    gamma: jax.Array


def _stacked_zeros(params: Any, m: int) -> Any:
    def make(x):
        if x is None or not _tree.is_trainable(x):
            return None
        return jnp.zeros((m, *x.shape), x.dtype)

    return jax.tree.map(make, params, is_leaf=_tree.is_none)


def _row(memory: Any, i: jax.Array) -> Any:
    return jax.tree.map(lambda a: a[i], memory)


def _put(memory: Any, i: jax.Array, tree: Any, ok: jax.Array) -> Any:
    def leaf(a, x):
        return a if a is None else jnp.where(ok, a.at[i].set(x.astype(a.dtype)), a)

    return jax.tree.map(leaf, memory, tree, is_leaf=_tree.is_none)


def pair_is_taken(count: jax.Array, sy: jax.Array, yy: jax.Array, s_norm: jax.Array) -> Any:
    r"""The quasi-Newton skip rule (L-BFGS and BFGS): take the pair $(s, y)$ when it is not
    the first update, is finite and $s^\top y > \varepsilon\,\|s\|\,\|y\|$ ($\varepsilon$ the
    machine epsilon of ``sy``'s dtype), which keeps the inverse Hessian positive definite."""
    bound = jnp.finfo(sy.dtype).eps * s_norm * jnp.sqrt(yy)
    return (count > 0) & jnp.isfinite(sy) & jnp.isfinite(yy) & (sy > bound)


def unit_step_scale(g_norm: jax.Array) -> jax.Array:
    r"""$1 / \|g\|_2$ (1 where that is not finite): the scale of the unit-length first step."""
    first = 1 / g_norm
    return jnp.where(jnp.isfinite(first), first, 1).astype(g_norm.dtype)


def two_loop(g: Any, s: Any, y: Any, rho: jax.Array, head: Any, size: Any, gamma: Any) -> Any:
    r"""The L-BFGS product $H_k g$ by the two-loop recursion (Nocedal & Wright, Alg. 7.4).

    $$q \leftarrow g;\ \ a_i = \rho_i s_i^\top q,\ q \leftarrow q - a_i y_i\ (i\text{ newest}
    \to\text{oldest});\ \ r \leftarrow \gamma q;\ \ r \leftarrow r + (a_i - \rho_i y_i^\top r)
    s_i\ (i\text{ oldest}\to\text{newest})$$

    Args:
      g: the vector (a tree).
      s, y: ring buffers of pairs (leaves with a leading axis of length $m$).
      rho: $1/s_i^\top y_i$, shape $(m,)$.
      head: the slot after the newest pair.
      size: how many slots hold pairs.
      gamma: the initial inverse Hessian $\gamma I$.

    Returns:
      $H g$, a tree like ``g``.

    References:
      Nocedal, "Updating quasi-Newton matrices with limited storage", Math. Comp. 35(151),
      1980, doi:10.1090/S0025-5718-1980-0572855-7.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.second_order import two_loop
      >>> s, y = jnp.array([[1.0, 0.0]]), jnp.array([[4.0, 0.0]])  # one pair, f = 2 x^2 + ...
      >>> two_loop(jnp.array([4.0, 2.0]), s, y, 1 / (s * y).sum(1), 1, 1, 0.25).tolist()
      [1.0, 0.5]
    """
    m = rho.shape[0]

    def newest_first(i, carry):
        q, alphas = carry
        k = (head - 1 - i) % m
        a = jnp.where(i < size, rho[k] * _vectors.vdot(_row(s, k), q), 0).astype(rho.dtype)
        return _vectors.add_scaled(q, -a, _row(y, k)), alphas.at[k].set(a)

    q, alphas = jax.lax.fori_loop(0, m, newest_first, (g, jnp.zeros_like(rho)))
    r = _vectors.scale(gamma, q)

    def oldest_first(i, r):
        k = (head - size + i) % m
        b = rho[k] * _vectors.vdot(_row(y, k), r)
        return _vectors.add_scaled(r, jnp.where(i < size, alphas[k] - b, 0), _row(s, k))

    return jax.lax.fori_loop(0, m, oldest_first, r)


def scale_by_lbfgs(
    memory_size: int = 10, scale_init_precond: bool = True
) -> GradientTransformation:
    r"""Precondition the gradient by the L-BFGS inverse-Hessian approximation.

    $$u_k = H_k\, g_k, \qquad H_k = V_{k-1}^\top H_{k-1} V_{k-1} + \rho_{k-1} s_{k-1}
    s_{k-1}^\top,\quad V = I - \rho\, y s^\top,\quad H^{(0)}_k = \gamma_k I,\quad
    \gamma_k = \frac{s^\top y}{y^\top y},$$

    from the last $m$ = ``memory_size`` pairs $s_i = x_{i+1} - x_i$,
    $y_i = g_{i+1} - g_i$, computed by the two-loop recursion (:func:`two_loop`) in
    $O(mn)$. A pair is skipped when $s^\top y \le \varepsilon\,\|s\|\,\|y\|$ ($\varepsilon$
    the dtype's machine epsilon): a relative guard that keeps $H_k$ positive definite and
    that does not depend on the scale of $f$. Before the first stored pair the output is
    $g / \|g\|_2$ (a unit-length first step, as in L-BFGS-B; Optax caps the scale at 1,
    $\min(1, 1/\|g\|_2)$). With ``scale_init_precond=False`` the initial inverse Hessian is
    $H^{(0)}_k = I$ ($\gamma_k = 1$, also before the first pair), as in Optax. The output
    has the sign of the gradient: follow it by ``scale(-1)`` or a learning rate (see
    :func:`lbfgs`). Needs ``params`` (to form $s$).

    Args:
      memory_size: $m \ge 1$.
      scale_init_precond: scale the initial inverse Hessian by $\gamma_k$ (else $I$).

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`ScaleByLbfgsState`.

    References:
      Nocedal, "Updating quasi-Newton matrices with limited storage", Math. Comp. 35(151),
      1980, doi:10.1090/S0025-5718-1980-0572855-7; Liu & Nocedal, "On the limited memory
      BFGS method for large scale optimization", Math. Program. 45, 1989,
      doi:10.1007/BF01589116.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.second_order import scale_by_lbfgs
      >>> tx = scale_by_lbfgs(memory_size=3)  # on f(x) = 2 x^2, g(x) = 4 x
      >>> x0, x1 = jnp.array([1.0]), jnp.array([0.5])
      >>> _, s = tx.update(4 * x0, tx.init(x0), x0)
      >>> u, s = tx.update(4 * x1, s, x1)  # one pair: H = 1/4, the Newton step
      >>> u.tolist(), int(s.size)
      ([0.5], 1)
    """
    m = _validate.check_int("memory_size", memory_size, 1)

    def init(params):
        dtype = _vectors.result_dtype(params)
        return ScaleByLbfgsState(
            jnp.zeros([], jnp.int32),
            _tree.zeros_like(params),
            _tree.zeros_like(params),
            _stacked_zeros(params, m),
            _stacked_zeros(params, m),
            jnp.zeros([m], dtype),
            jnp.zeros([], jnp.int32),
            jnp.zeros([], jnp.int32),
            jnp.ones([], dtype),
        )

    def update(updates, state, params=None, **extra):
        del extra
        check_state_type(state, ScaleByLbfgsState, "scale_by_lbfgs")
        if params is None:
            raise ValueError("scale_by_lbfgs needs params (to form s = x_k - x_{k-1}).")
        dtype = state.rho.dtype
        _tree.check_same_structure(("params", "updates"), (params, updates))
        s, y = _vectors.sub(params, state.params), _vectors.sub(updates, state.updates)
        sy, yy = _vectors.vdot(s, y).astype(dtype), _vectors.vdot(y, y).astype(dtype)
        ok = pair_is_taken(state.count, sy, yy, _vectors.norm(s).astype(dtype))
        mem_s = _put(state.s, state.head, s, ok)
        mem_y = _put(state.y, state.head, y, ok)
        rho = jnp.where(ok, state.rho.at[state.head].set(1 / jnp.where(ok, sy, 1)), state.rho)
        head = jnp.where(ok, (state.head + 1) % m, state.head).astype(jnp.int32)
        size = jnp.where(ok, jnp.minimum(state.size + 1, m), state.size).astype(jnp.int32)
        gamma = jnp.where(ok, sy / jnp.where(ok, yy, 1), state.gamma)
        if scale_init_precond:
            first = unit_step_scale(_vectors.norm(updates).astype(dtype))  # unit first step
            h0 = jnp.where(size > 0, gamma, first)
        else:
            h0 = jnp.ones([], dtype)
        direction = two_loop(updates, mem_s, mem_y, rho, head, size, h0)
        new = ScaleByLbfgsState(
            _tree.safe_increment(state.count),
            _vectors.trainable_or_none(params),
            _vectors.trainable_or_none(updates),
            mem_s,
            mem_y,
            rho,
            head,
            size,
            gamma,
        )
        return direction, new

    return GradientTransformation(init, update)


def lbfgs(
    learning_rate: Scalar | None = None,
    memory_size: int = 10,
    scale_init_precond: bool = True,
    linesearch: GradientTransformation | str | None = "zoom",
) -> GradientTransformation:
    r"""L-BFGS: the limited-memory BFGS direction followed by a strong-Wolfe line search.

    $$x_{k+1} = x_k - \alpha_k\, H_k\, \nabla f(x_k)$$

    with $H_k$ from :func:`scale_by_lbfgs` and $\alpha_k$ from the line search (first trial
    1), times ``learning_rate`` when one is given. It is ``chain(scale_by_lbfgs(m,
    scale_init_precond), scale(-1) or scale_by_learning_rate(lr), linesearch)``: the
    update needs the extra arguments ``value``, ``grad`` and ``value_fn`` (see
    :func:`scale_by_zoom_linesearch`), as in ``optax.lbfgs``. With ``linesearch=None`` it
    takes fixed steps (then give a ``learning_rate``).

    Args:
      learning_rate: $\eta \ge 0$ multiplying the direction, or ``None`` (1).
      memory_size: $m \ge 1$, the number of stored pairs.
      scale_init_precond: scale the initial inverse Hessian by $\gamma_k = s^\top y /
        y^\top y$ (else the identity); see :func:`scale_by_lbfgs`.
      linesearch: ``"zoom"`` (strong Wolfe, $c_2 = 0.9$, first trial 1), ``"backtracking"``,
        ``None``, or any line-search transform.

    Returns:
      A :class:`~gradtx.GradientTransformation` (a chain).

    References:
      Liu & Nocedal, "On the limited memory BFGS method for large scale optimization",
      Math. Program. 45, 1989, doi:10.1007/BF01589116; Nocedal & Wright, "Numerical
      Optimization", 2nd ed., Springer 2006, Algorithm 7.5.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from gradtx.second_order import lbfgs
      >>> f = lambda x: jnp.sum((x - 2.0) ** 2) + x[0] * x[1]
      >>> tx, x = lbfgs(), jnp.zeros(2)
      >>> state = tx.init(x)
      >>> for _ in range(5):
      ...     value, grad = jax.value_and_grad(f)(x)
      ...     u, state = tx.update(grad, state, x, value=value, grad=grad, value_fn=f)
      ...     x = x + u
      >>> [round(v, 5) for v in x.tolist()]
      [1.33333, 1.33333]
    """
    step = scale(-1.0) if learning_rate is None else scale_by_learning_rate(learning_rate)
    search = resolve_linesearch(linesearch, "lbfgs", initial_guess_strategy="one")
    return chain(scale_by_lbfgs(memory_size, scale_init_precond), step, search)
