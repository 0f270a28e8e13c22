"""Mechanic: learn the scale of any optimizer's updates by coin betting (the alias
:func:`gradtx.mechanize` is this wrapper with its defaults)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _extra, _tree, _validate, _vectors
from gradtx._base import GradientTransformation, Scalar, as_transform, check_state_type
from gradtx._validate import check_int


class MechanicState(NamedTuple):
    """The base optimizer's state, a step count, the betting statistics (one per $\\beta$)
    and the reference point $x_0$."""

    base_optimizer_state: Any
    count: jax.Array
    r: jax.Array
    m: jax.Array
    v: jax.Array
    s: jax.Array
    x0: Any


def scale_by_mechanic(
    base_optimizer: GradientTransformation,
    weight_decay: Scalar = 1e-2,
    eps: Scalar = 1e-8,
    s_init: Scalar = 1e-6,
    num_betas: int = 6,
) -> GradientTransformation:
    r"""Mechanic: learn the scale $S_t$ of a base optimizer's summed updates by coin betting.

    $$\Delta_{t+1} = \Delta_t + u^\text{base}_t,\quad
    h_t = \big\langle g_t + \lambda \textstyle\sum s_t \tfrac{\lVert g_t\rVert}
    {\lVert x_t\rVert + \epsilon} x_t,\ \Delta_t \big\rangle,\quad
    m_t = \max(\beta m_{t-1}, |h_t| + \epsilon),$$
    $$v_t = \beta^2 v_{t-1} + h_t^2,\quad
    r_t = \beta r_{t-1} - s_t\,\mathrm{clip}(h_t, \pm m_{t-1}),\quad
    s_{t+1} = \frac{\tfrac{s_\text{init}}{n} m_t + \max(r_t, 0)}{\sqrt{v_t} + \epsilon},\quad
    x_{t+1} = x_0 + \textstyle\sum s_{t+1}\, \Delta_{t+1}$$

    for each of the $n$ = ``num_betas`` values $\beta = 1 - 10^{-k}$, $k = 1..n$, with
    $\lambda$ = ``weight_decay`` (on Mechanic's own gradient only) and $x_0$ the
    parameters of the first step. $\Delta_t = (x_t - x_0)/(\sum s_t + \epsilon)$ is
    recomputed rather than stored. As Optax's (written by the authors), with the clipping
    of $h$ that their code added after the paper.

    Args:
      base_optimizer: a gradtx or Optax transform; its learning rate is a multiplier
        (1.0, or a schedule peaking at 1.0).
      weight_decay: $\lambda \ge 0$.
      eps: $\epsilon \ge 0$.
      s_init: $s_\text{init} > 0$, the initial total scale.
      num_betas: $n \ge 1$.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`MechanicState`; its
      ``update`` needs ``params`` and returns $x_{t+1} - x_t$.

    References:
      Cutkosky, Defazio & Mehta, "Mechanic: A Learning Rate Tuner", NeurIPS 2023,
      arXiv:2306.00144, Algorithm 1.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> from gradtx import scale_by_mechanic
      >>> tx = scale_by_mechanic(gradtx.sgd(1.0))
      >>> p = jnp.ones(2)
      >>> u, s = tx.update(jnp.ones(2), tx.init(p), p)
      >>> s.s.shape, bool(jnp.all(s.s > 0))
      ((6,), True)
    """
    base = as_transform(base_optimizer, "mechanize base_optimizer")
    _validate.check_nonnegative("weight_decay", weight_decay)
    _validate.check_nonnegative("eps", eps)
    _validate.check_positive("s_init", s_init)
    n = check_int("num_betas", num_betas, 1)

    def init(params):
        dtype = jnp.result_type(float)
        zeros = jnp.zeros([n], dtype)
        s = jnp.full([n], s_init, dtype)
        return MechanicState(base.init(params), _tree.zero_count(), zeros, zeros, zeros, s,
                             _tree.copy_trainable(params))  # fmt: skip

    def update(updates, state, params=None, **extra):
        check_state_type(state, MechanicState, "mechanize")
        _extra.require_params(params, "mechanize")
        base_updates, base_state = base.update(updates, state.base_optimizer_state, params, **extra)
        first = state.count == 0  # x0 = the parameters of the first step (not of `init`)
        x0 = jax.tree.map(
            lambda p, x: None if x is None else jnp.where(first, p, x).astype(x.dtype),
            params, state.x0, is_leaf=_tree.is_none,
        )  # fmt: skip
        s_sum = jnp.sum(state.s)
        grad_norm, param_norm = _norm(updates), _norm(params)
        coef = weight_decay * s_sum * grad_norm / (param_norm + eps)
        c = _tree.Scalars(coef=coef, s_sum_eps=s_sum + eps)
        h = _tree.tree_total(
            lambda g, p, x: _vectors.real_dot(g + c(g).coef * p, (x - p) / c(g).s_sum_eps),
            updates, params, x0,
        )  # fmt: skip
        dtype = state.s.dtype
        betas = jnp.asarray([1.0 - 0.1**k for k in range(1, n + 1)], dtype)
        m = jnp.maximum(betas * state.m, jnp.abs(h) + eps)
        v = betas**2 * state.v + h**2
        r = betas * state.r + jnp.clip(h, -state.m, state.m) * state.s
        wealth = (s_init / n) * m + jnp.maximum(0.0, r)
        s = wealth / (jnp.sqrt(v) + eps)
        # h ~ |g| |Delta| is a squared scale: where h^2 overflows (an SGD base at |g| = 1e20 in
        # float32), s = inf / inf = NaN (in Optax too). Those bets keep their state, so the
        # step is the base optimizer's at the last scale S.
        ok, old = jnp.isfinite(v), (state.m, state.v, state.r, state.s)
        m, v, r, s = (jnp.where(ok, a, b) for a, b in zip((m, v, r, s), old))
        out = _tree.Scalars(s_sum_eps=s_sum + eps, total=jnp.sum(s))

        def step(u, p, x):
            o = out(u)
            delta = (x - p) / o.s_sum_eps - u
            return x - o.total * delta - p

        updates = _tree.leafwise(step, base_updates, params, x0, names=("updates", "params", "x0"))
        return updates, MechanicState(base_state, _tree.safe_increment(state.count), r, m, v, s, x0)

    return GradientTransformation(init, update)


def _norm(tree: Any) -> jax.Array:
    """The l2 norm of the trainable leaves, over-/underflow-free: the leaves are scaled by
    $2^{-e}$, $2^e$ just above the largest $|x|$, before they are squared (exact, so the
    result is bitwise $\\sqrt{\\sum |x|^2}$ wherever that does not overflow). A plain
    $\\sum |x|^2$ is inf for $|g| > 2 \\cdot 10^{19}$ in float32, and Mechanic's decay
    coefficient inf, times a zero $x$ or $\\Delta$: NaN (also in Optax 0.2.8)."""
    top = jnp.zeros([], jnp.result_type(float))
    for x in jax.tree.leaves(tree):
        if _tree.is_trainable(x):
            top = jnp.maximum(top, jnp.max(jnp.abs(x), initial=0).astype(top.dtype))
    e = jnp.frexp(top)[1]  # 0 for top = 0 and inf: no scaling
    return jnp.ldexp(jnp.sqrt(_tree.tree_total(lambda x: jnp.ldexp(jnp.abs(x), -e) ** 2, tree)), e)
