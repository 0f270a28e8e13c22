"""Methods from online learning: schedule-free averaging and coin betting.

* :func:`schedule_free` runs a base optimizer on the sequence $z$ and hands back the
  interpolation $y$ of $z$ with a weighted average $x$ of it, so no decaying schedule is
  needed; :func:`schedule_free_eval_params` recovers $x$ for evaluation.
* :func:`scale_by_mechanic` learns, by coin betting, the scale of a base optimizer's
  updates; :func:`scale_by_cocob` bets per coordinate (COCOB-Backprop).

All need ``params`` and return the update itself (new parameters minus the current ones).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, check_state_type
from gradtx._validate import check_int
from gradtx.transforms.parameter_free import _dot, _needs_params
from gradtx.transforms.scaling import value_at
from gradtx.wrappers._common import as_inner


class ScheduleFreeState(NamedTuple):
    """State of :func:`schedule_free`.

    Attributes:
      count: int32 number of steps taken (0-based, unlike Optax's 1-based ``step_count``).
      b1: the $\\beta_1$ that formed the current $y$ (read by
        :func:`schedule_free_eval_params`).
      weight_sum: $\\sum_{k \\le t} w_k$.
      max_lr: $\\max_{k \\le t} \\eta_k$.
      base_optimizer_state: the base optimizer's state.
      z: the base optimizer's iterate $z_t$.
    """

    count: jax.Array
    b1: jax.Array
    weight_sum: jax.Array
    max_lr: jax.Array
    base_optimizer_state: Any
    z: Any


def schedule_free(
    base_optimizer: Any,
    learning_rate: Any,
    b1: Any = 0.9,
    weight_lr_power: Any = 2.0,
    state_dtype: Any = None,
) -> GradientTransformation:
    r"""Make a base optimizer schedule-free: average its iterates, evaluate at an interpolation.

    $$z_{t+1} = z_t + \Delta_t,\qquad
    c_{t+1} = \frac{w_t}{\sum_{k\le t} w_k},\quad w_t = \big(\max_{k\le t}\eta_k\big)^{p},$$
    $$x_{t+1} = (1-c_{t+1})\,x_t + c_{t+1} z_{t+1},\qquad
    y_{t+1} = \beta_1 x_{t+1} + (1-\beta_1) z_{t+1}$$

    where $\Delta_t$ is the base optimizer's update from the gradient at $y_t$ (the
    parameters it is given and hands back), $\eta$ = ``learning_rate``, $p$ =
    ``weight_lr_power`` and $x_0 = y_0 = z_0$ (the initial parameters). Only $y$ and $z$
    are stored: $y$ moves by $c_{t+1}(z_t - y_t) + (1-\beta_1(1-c_{t+1}))(z_{t+1} - z_t)$
    (the authors' form, without the cancellation of $y_{t+1} - y_t$), and
    :func:`schedule_free_eval_params` recovers $x_t = (y_t - (1-\beta_1) z_t)/\beta_1$, the
    parameters to evaluate. The base optimizer should have no momentum (the interpolation
    replaces it).

    **Difference from Optax:** a scheduled ``learning_rate`` is read at the step the base
    optimizer is at (0, 1, 2, ...), as in the authors' code; Optax 0.2.8 reads it one step
    ahead (its ``step_count`` starts at 1, optax PR #1744), so with a warm-up its first
    step is zero and its weights lag the rates. With a constant rate the two agree. The
    state keeps the $\beta_1$ that formed $y_t$, so $\beta_1$ may change while training.

    Args:
      base_optimizer: a gradtx or Optax transform producing $\Delta_t$ (learning rate
        included), e.g. ``gradtx.sgd(1.0)``.
      learning_rate: $\eta_t \ge 0$ (a constant or a schedule), for the weights only.
      b1: $\beta_1 \in (0, 1)$, the interpolation (the paper's momentum).
      weight_lr_power: $p \ge 0$.
      state_dtype: dtype of $z$ (default: the parameters').

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`ScheduleFreeState`; its
      ``update`` needs ``params`` ($y_t$) and returns $y_{t+1} - y_t$.

    References:
      Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky, "The Road Less Scheduled",
      NeurIPS 2024, arXiv:2405.15682, Algorithm 1.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> from gradtx.transforms.online_learning import schedule_free, schedule_free_eval_params
      >>> tx = schedule_free(gradtx.sgd(0.5), 0.5, b1=0.5)
      >>> y = jnp.array([2.0])
      >>> u, s = tx.update(y, tx.init(y), y)  # z = 2 - 0.5 * 2 = 1 = x (c_1 = 1)
      >>> y = gradtx.apply_updates(y, u)
      >>> y.tolist(), schedule_free_eval_params(s, y).tolist()
      ([1.0], [1.0])
    """
    base = as_inner(base_optimizer, "schedule_free base_optimizer")
    _validate.check_schedule_or_range("learning_rate", learning_rate, _validate.check_nonnegative)
    _validate.check_range("b1", b1, 0.0, 1.0, low_open=True, high_open=True)
    _validate.check_nonnegative("weight_lr_power", weight_lr_power)
    state_dtype = _tree.check_dtype("state_dtype", state_dtype)

    def init(params):
        dtype = jnp.result_type(float)
        zero = jnp.zeros([], dtype)
        b = jnp.asarray(b1, dtype)
        z = _tree.copy_trainable(params, state_dtype)
        return ScheduleFreeState(_tree.zero_count(), b, zero, zero, base.init(params), z)

    def update(updates, state, params=None, **extra):
        check_state_type(state, ScheduleFreeState, "schedule_free")
        _needs_params(params, "schedule_free")
        dtype = state.max_lr.dtype
        max_lr = jnp.maximum(state.max_lr, jnp.asarray(value_at(learning_rate, state.count), dtype))
        weight = max_lr**weight_lr_power
        total = state.weight_sum + weight
        ck = jnp.where(total == 0, 0, weight / jnp.where(total == 0, 1, total))
        delta, base_state = base.update(updates, state.base_optimizer_state, params, **extra)
        # z_{t+1}, rounded to its own dtype before it is used (as it is stored).
        z = _tree.leafwise(lambda z, u: z + u, state.z, delta, names=("z", "updates"))
        # y_{t+1} - y_t without recovering x_t: with r = b1 / b1_old (1 unless b1 changed),
        # k (z_t - y_t) + (1 - b1 (1 - c)) (z_{t+1} - z_t), k = c + (1 - r)(1 - c); it is
        # the authors' form, free of the cancellation in b1 x + (1 - b1) z - y.
        b = jnp.asarray(b1, dtype)
        k = ck + (1 - b / state.b1) * (1 - ck)
        s = _tree.Scalars(k=k, c=1 - b * (1 - ck))

        def step(u, y, z_old, z_new):
            return s(u).k * (z_old - y) + s(u).c * (z_new - z_old)

        names = ("updates", "params", "z", "z")
        updates = _tree.leafwise(step, delta, params, state.z, z, names=names)
        count = _tree.safe_increment(state.count)
        return updates, ScheduleFreeState(count, b, total, max_lr, base_state, z)

    return GradientTransformation(init, update)


def _find_schedule_free(state: Any) -> list[ScheduleFreeState]:
    if isinstance(state, ScheduleFreeState):
        return [state]
    if isinstance(state, dict):
        state = list(state.values())
    if isinstance(state, (tuple, list)):
        return [found for s in state for found in _find_schedule_free(s)]
    return []


def schedule_free_eval_params(state: Any, params: Any) -> Any:
    r"""The parameters to evaluate a schedule-free run at: the average $x_t$, not $y_t$.

    $$x_t = \frac{y_t - (1-\beta_1)\, z_t}{\beta_1}$$

    with $y_t$ = ``params`` and $z_t$, $\beta_1$ from the :class:`ScheduleFreeState` found
    in ``state`` (the state of :func:`schedule_free`, of ``schedule_free_sgd`` or
    ``schedule_free_adamw``, or of a chain holding exactly one of them).

    Args:
      state: an optimizer state containing one :class:`ScheduleFreeState`.
      params: the current parameters $y_t$.

    Returns:
      $x_t$, with the structure and dtypes of ``params``.

    References:
      Defazio et al., "The Road Less Scheduled", NeurIPS 2024, arXiv:2405.15682.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> from gradtx.transforms.online_learning import schedule_free, schedule_free_eval_params
      >>> tx = schedule_free(gradtx.sgd(1.0), 1.0, b1=0.5)
      >>> state = tx.init(jnp.zeros(1))._replace(z=jnp.array([2.0]))
      >>> schedule_free_eval_params(state, jnp.array([1.0])).tolist()  # (1 - 0.5*2) / 0.5
      [0.0]
    """
    found = _find_schedule_free(state)
    if len(found) != 1:
        raise ValueError(
            "schedule_free_eval_params needs a state holding exactly one ScheduleFreeState "
            f"(from schedule_free, schedule_free_sgd or schedule_free_adamw); found {len(found)}."
        )
    sf = found[0]
    s = _tree.Scalars(b1=sf.b1)
    names = ("params", "z")
    return _tree.leafwise(lambda y, z: (y - (1 - s(y).b1) * z) / s(y).b1, params, sf.z, names=names)


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
    base_optimizer: Any,
    weight_decay: Any = 1e-2,
    eps: Any = 1e-8,
    s_init: Any = 1e-6,
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
      >>> from gradtx.transforms.online_learning import scale_by_mechanic
      >>> tx = scale_by_mechanic(gradtx.sgd(1.0))
      >>> p = jnp.ones(2)
      >>> u, s = tx.update(jnp.ones(2), tx.init(p), p)
      >>> s.s.shape, bool(jnp.all(s.s > 0))
      ((6,), True)
    """
    base = as_inner(base_optimizer, "mechanize base_optimizer")
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
        _needs_params(params, "mechanize")
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
            lambda g, p, x: _dot(g + c(g).coef * p, (x - p) / c(g).s_sum_eps),
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


class COCOBState(NamedTuple):
    """Per coordinate: the start, $-\\sum g$, the largest $|g|$, $\\sum |g|$ and the reward."""

    init_particles: Any
    cumulative_gradients: Any
    scale: Any
    subgradients: Any
    reward: Any


def scale_by_cocob(alpha: Any = 100.0, eps: Any = 1e-8) -> GradientTransformation:
    r"""COCOB-Backprop: bet a fraction of the accumulated reward on each coordinate.

    $$L_t = \max(L_{t-1}, |g_t|),\quad G_t = G_{t-1} + |g_t|,\quad
    R_t = \max\big(R_{t-1} - g_t (x_t - x_0), 0\big),\quad \theta_t = \theta_{t-1} + g_t,$$
    $$x_{t+1} = x_0 - \frac{\theta_t}{L_t \max(G_t + L_t, \alpha L_t)}\,(L_t + R_t),
    \qquad u_t = x_{t+1} - x_t$$

    per coordinate, with $L_0 = \epsilon$ and $G_0 = R_0 = \theta_0 = 0$. The output is
    the update itself (no learning rate follows; one may precede it).

    Args:
      alpha: $\alpha > 0$, bounds the first bets (100 in the paper).
      eps: $\epsilon > 0$, the initial $L$ (used by ``init`` only).

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`COCOBState`; its ``update``
      needs ``params``. Real parameters only.

    References:
      Orabona & Tommasi, "Training Deep Networks without Learning Rates Through Coin
      Betting", NeurIPS 2017, arXiv:1705.07795, Algorithm 2.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.transforms.online_learning import scale_by_cocob
      >>> tx = scale_by_cocob()
      >>> p = jnp.zeros(1)
      >>> tx.update(jnp.array([2.0]), tx.init(p), p)[0].tolist()  # -2 / (2 * 200) * 2
      [-0.009999999776482582]
    """
    _validate.check_positive("alpha", alpha)
    _validate.check_positive("eps", eps)

    def init(params):
        zeros = _tree.zeros_like(params)
        start = _tree.copy_trainable(params)
        return COCOBState(start, zeros, _tree.full_like(params, eps), zeros, zeros)

    def update(updates, state, params=None, **extra):
        del extra
        check_state_type(state, COCOBState, "scale_by_cocob")
        _needs_params(params, "scale_by_cocob")
        if any(jnp.iscomplexobj(g) for g in jax.tree.leaves(updates)):
            raise ValueError("scale_by_cocob is defined for real parameters only (not complex).")
        scalars = _tree.Scalars(alpha=alpha, eps=eps)

        def step(g, p, p0, c, lo, gs, r):
            # L >= eps at every step, as L_0 = eps: a float16 L rounds eps = 1e-8 to 0, and a
            # coordinate with only zero gradients then bet 0 / (0 * 0) = NaN.
            lo = jnp.maximum(jnp.maximum(lo, jnp.abs(g)), scalars(g).eps)
            gs = gs + jnp.abs(g)
            r = jnp.maximum(r - g * (p - p0), 0)
            c = c - g
            bet = c / (lo * jnp.maximum(gs + lo, scalars(g).alpha * lo)) * (lo + r)
            return -p + (p0 + bet), c, lo, gs, r

        names = ("updates", "params", "init_particles", "cumulative_gradients", "scale")
        names += ("subgradients", "reward")
        updates, c, lo, gs, r = _tree.leafwise(
            step, updates, params, state.init_particles, state.cumulative_gradients,
            state.scale, state.subgradients, state.reward, names=names, n_out=5,
        )  # fmt: skip
        return updates, COCOBState(state.init_particles, c, lo, gs, r)

    return GradientTransformation(init, update)
