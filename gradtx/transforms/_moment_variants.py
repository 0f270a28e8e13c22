"""Primitives of ADOPT, AdEMAMix and MADGRAD: normalizing by the *previous* second moment,
adding a slow EMA or the raw gradient to a momentum, and cube-root dual averaging. Lazy
Adam's wrapper, updating only the rows that received a gradient, is
:func:`gradtx.wrappers.lazy_rows`."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import (
    DTypeLike,
    GradientTransformation,
    Scalar,
    ScalarOrSchedule,
    Schedule,
    check_state_type,
)
from gradtx.transforms._adaptive import statistic_source
from gradtx.transforms._momentum import ema_scalars, ema_update
from gradtx.transforms._scaling import value_at

_SOURCES = ("updates", "gradient")


def quarter_power(count: Any) -> Any:
    """ADOPT's default clipping threshold $c_t = t^{1/4}$ at the 0-based step ``count``."""
    return count**0.25


def _clip_modulus(x: jax.Array, c: jax.Array) -> jax.Array:
    """Clip to $[-c, c]$; a complex entry keeps its phase and has its modulus clipped."""
    if not jnp.iscomplexobj(x):
        return jnp.clip(x, -c, c)
    r = jnp.abs(x)
    return jnp.where(r > c, x * (c / jnp.where(r > 0, r, 1)), x)


class LaggedRmsState(NamedTuple):
    """Step count and EMA of squared gradients (up to the previous step when read)."""

    count: jax.Array
    nu: Any


def scale_by_lagged_rms(
    decay: Scalar = 0.9999,
    eps: Scalar = 1e-6,
    clip_value_fn: Schedule | float | None = quarter_power,
    *,
    source: str = "updates",
    accumulator_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Divide by the root of the *previous* second moment, then clip (ADOPT's normalization).

    $$u_t \leftarrow \operatorname{clip}_{c_t}\!\Big(\frac{u_t}{\max(\sqrt{\nu_{t-1}},
    \epsilon)}\Big),\qquad \nu_t = \beta\,\nu_{t-1} + (1-\beta)\,|g_t|^2,\qquad
    u_0 \leftarrow 0,\ \nu_0 = |g_0|^2$$

    The first step only initializes $\nu$ and outputs zeros. $c_t$ = ``clip_value_fn(t)``
    with $t$ the 0-based step ($c_t = t^{1/4}$ by default); a complex entry has its modulus
    clipped. $\epsilon$ bounds the root from below (it is not added to it).

    Args:
      decay: $\beta \in [0, 1)$.
      eps: $\epsilon \ge 0$, the smallest divisor.
      clip_value_fn: $c_t$, a callable of the step count, a constant, or ``None`` (no clip).
      source: ``"updates"`` (this member's input) or ``"gradient"`` (the chain's input).
      accumulator_dtype: dtype of the stored $\nu$ (default: the parameter's real dtype);
        the arithmetic is in at least float32 and $\nu$ rounded once on store.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`LaggedRmsState`.

    References:
      Taniguchi et al., "ADOPT: Modified Adam Can Converge with Any $\beta_2$ with the
      Optimal Rate", NeurIPS 2024, arXiv:2411.02853.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_lagged_rms
      >>> tx = scale_by_lagged_rms(decay=0.5, clip_value_fn=None)
      >>> u, s = tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))  # nu = 4, u = 0
      >>> tx.update(jnp.array([3.0]), s)[0].tolist()                  # 3 / sqrt(4)
      [1.5]
    """
    _validate.check_decay("decay", decay)
    _validate.check_nonnegative("eps", eps)
    _validate.check_choice("source", source, _SOURCES)
    if clip_value_fn is not None and not callable(clip_value_fn):
        _validate.check_nonnegative("clip_value_fn", clip_value_fn)
    accumulator_dtype = _validate.check_dtype("accumulator_dtype", accumulator_dtype)

    def init(params):
        nu = _tree.zeros_like(params, accumulator_dtype, real=True)
        return LaggedRmsState(_tree.zero_count(), nu)

    def update(updates, state, params=None, **extra):
        del params
        check_state_type(state, LaggedRmsState, "scale_by_lagged_rms")
        first = state.count == 0
        d = jnp.where(first, 0, jnp.asarray(decay))  # nu_0 = |g_0|^2
        clip = 0.0 if clip_value_fn is None else value_at(clip_value_fn, state.count)
        scalars = _tree.Scalars(decay=d, one_minus=1 - d, eps=eps, clip=clip)
        stats = statistic_source(updates, extra, source)

        def step(u, g, nu):
            s = scalars(u)
            x = u / jnp.maximum(jnp.sqrt(nu), s.eps)
            if clip_value_fn is not None:
                x = _clip_modulus(x, s.clip)
            return jnp.where(first, 0, x), ema_update(nu, _tree.abs_sq(g), s)

        names = ("updates", "gradient", "nu")
        updates, nu = _tree.leafwise(step, updates, stats, state.nu, names=names, n_out=2)
        return updates, LaggedRmsState(_tree.safe_increment(state.count), nu)

    return GradientTransformation(init, update)


class SlowEmaState(NamedTuple):
    """Step count and the slow EMA."""

    count: jax.Array
    ema: Any


def add_slow_ema(
    decay: ScalarOrSchedule = 0.9999,
    alpha: ScalarOrSchedule = 5.0,
    accumulator_dtype: DTypeLike | None = None,
    *,
    source: str = "updates",
) -> GradientTransformation:
    r"""Add a multiple of a slow, uncorrected EMA of the source (AdEMAMix's second momentum).

    $$\tilde m_t = \beta\,\tilde m_{t-1} + (1-\beta)\,g_t,\qquad
    u_t \leftarrow u_t + \alpha\,\tilde m_t$$

    $\tilde m$ is not bias-corrected: with $\beta$ close to 1 it grows slowly, so old
    gradients come in gradually. $\beta$ and $\alpha$ may be schedules of the step (the
    paper warms both up).

    Args:
      decay: $\beta \in [0, 1)$, a constant or a schedule.
      alpha: $\alpha$, the weight of the slow EMA, a constant or a schedule.
      accumulator_dtype: dtype of $\tilde m$ (default: the parameter's).
      source: ``"updates"`` (this member's input) or ``"gradient"`` (the chain's input).

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`SlowEmaState`.

    References:
      Pagliardini, Ablin & Grangier, "The AdEMAMix Optimizer: Better, Faster, Older",
      2024, arXiv:2409.03137, Algorithm 1.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import add_slow_ema
      >>> tx = add_slow_ema(decay=0.9, alpha=2.0)
      >>> [round(x, 6) for x in tx.update(jnp.ones(1), tx.init(jnp.zeros(1)))[0].tolist()]
      [1.2]
    """
    _validate.check_schedule_or_range("decay", decay, _validate.check_decay)
    _validate.check_schedule_or_range("alpha", alpha, _validate.check_finite)
    _validate.check_choice("source", source, _SOURCES)
    accumulator_dtype = _validate.check_dtype("accumulator_dtype", accumulator_dtype)

    def init(params):
        return SlowEmaState(_tree.zero_count(), _tree.zeros_like(params, accumulator_dtype))

    def update(updates, state, params=None, **extra):
        del params
        check_state_type(state, SlowEmaState, "add_slow_ema")
        count = state.count
        beta, a = value_at(decay, count), value_at(alpha, count)
        scalars = ema_scalars(beta, _tree.safe_increment(count), alpha=a)

        def step(u, g, m):
            s = scalars(u)
            m = ema_update(m, g, s)
            return u + s.alpha * m, _tree.cast_tree(m, accumulator_dtype)

        stats = statistic_source(updates, extra, source)
        names = ("updates", "gradient", "ema")
        updates, m = _tree.leafwise(step, updates, stats, state.ema, names=names, n_out=2)
        return updates, SlowEmaState(_tree.safe_increment(count), m)

    return GradientTransformation(init, update)


class AddScaledGradientState(NamedTuple):
    """Step count (for a scheduled ``alpha``)."""

    count: jax.Array


def add_scaled_gradient(alpha: ScalarOrSchedule = 0.0) -> GradientTransformation:
    r"""Add a multiple of the enclosing chain's gradient to the updates.

    $$u_t \leftarrow u_t + \alpha\, g_t$$

    $g_t$ is the chain's input (this member's own input when used alone). In simplified
    AdEMAMix it mixes the current gradient back into a long momentum.

    Args:
      alpha: $\alpha$, a constant or a schedule of the step.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a step count.

    References:
      Morwani et al., "Connections between Schedule-Free Optimizers,
      AdEMAMix, and Accelerated SGD Variants", 2025, arXiv:2502.02431.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> from gradtx import add_scaled_gradient
      >>> tx = gradtx.chain(gradtx.scale(10.0), add_scaled_gradient(0.5))
      >>> tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0].tolist()
      [21.0]
    """
    _validate.check_schedule_or_range("alpha", alpha, _validate.check_finite)

    def init(params):
        del params
        return AddScaledGradientState(_tree.zero_count())

    def update(updates, state, params=None, **extra):
        del params
        check_state_type(state, AddScaledGradientState, "add_scaled_gradient")
        scalars = _tree.Scalars(alpha=value_at(alpha, state.count))
        g = statistic_source(updates, extra, "gradient")
        step = lambda u, g: u + scalars(u).alpha * g
        updates = _tree.leafwise(step, updates, g, names=("updates", "gradient"))
        return updates, AddScaledGradientState(_tree.safe_increment(state.count))

    return GradientTransformation(init, update)


class DualAveragingState(NamedTuple):
    """Step count, MADGRAD's weighted sums of $|g|^2$ (real) and of $g$, and $x_0$."""

    count: jax.Array
    nu: Any
    s: Any
    x0: Any


def scale_by_dual_averaging(
    learning_rate: ScalarOrSchedule,
    eps: Scalar = 1e-6,
    *,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Step to MADGRAD's dual-averaging point, with cube-root adaptivity.

    $$\lambda_k = (\eta_k + \epsilon)\sqrt{k+1},\quad s_{k+1} = s_k + \lambda_k g_k,\quad
    \nu_{k+1} = \nu_k + \lambda_k |g_k|^2,\quad
    u_k \leftarrow x_0 - \frac{s_{k+1}}{\nu_{k+1}^{1/3} + \epsilon} - x_k$$

    The output moves the parameters $x_k$ to the dual-averaging point $z_{k+1}$; $k$ is the
    0-based step. $\eta + \epsilon$ in $\lambda_k$ is the authors' (and Optax's) guard
    against $\eta = 0$. $x_0$ is taken from ``init(params)``.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      eps: $\epsilon \ge 0$.
      mu_dtype: dtype of the stored sum $s$ (default: the parameter's).
      nu_dtype: dtype of the stored sum $\nu$ (default: the parameter's real dtype). Both
        are sums whose terms grow like $\sqrt{k}$: in bfloat16 a term below $2^{-9}$ of the
        sum is lost, so narrow dtypes suit short runs only. $x_0$ keeps the parameter's
        dtype (an iterate, not a moment).

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`DualAveragingState`; its
      ``update`` needs ``params``.

    References:
      Defazio & Jelassi, "Adaptivity without Compromise: A Momentumized, Adaptive, Dual
      Averaged Gradient Method for Stochastic Optimization", arXiv:2101.11075, Algorithm 1.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_dual_averaging
      >>> tx = scale_by_dual_averaging(1.0, eps=0.0)
      >>> p = jnp.zeros(1)
      >>> tx.update(jnp.array([8.0]), tx.init(p), p)[0].tolist()  # -8 / (64)^(1/3)
      [-2.0]
    """
    _validate.check_schedule_or_range("learning_rate", learning_rate, _validate.check_nonnegative)
    _validate.check_nonnegative("eps", eps)
    mu_dtype = _validate.check_dtype("mu_dtype", mu_dtype)
    nu_dtype = _validate.check_dtype("nu_dtype", nu_dtype)

    def init(params):
        zeros = _tree.zeros_like
        return DualAveragingState(
            _tree.zero_count(),
            zeros(params, nu_dtype, real=True),
            zeros(params, mu_dtype),
            _tree.copy_trainable(params),
        )

    def update(updates, state, params=None, **extra):
        del extra
        check_state_type(state, DualAveragingState, "scale_by_dual_averaging")
        if params is None:
            who = "scale_by_dual_averaging"
            raise ValueError(f"{who} needs `params`: call update(updates, state, params).")
        lr = jnp.asarray(value_at(learning_rate, state.count))
        k = state.count.astype(jnp.result_type(lr, float))
        scalars = _tree.Scalars(lam=(lr + eps) * jnp.sqrt(k + 1), eps=eps)

        def step(g, p, x0, nu, s_sum):
            s = scalars(g)
            nu = nu + s.lam * _tree.abs_sq(g)
            s_sum = s_sum + s.lam * g
            # z - x as (x0 - x) - s/sigma: x0 - x is exact when x is within 2x of x0, so the
            # update does not inherit the rounding error of z (of the size of |x|).
            return (x0 - p) - s_sum / (jnp.cbrt(nu) + s.eps), nu, s_sum

        names = ("updates", "params", "x0", "nu", "s")
        updates, nu, s_sum = _tree.leafwise(
            step, updates, params, state.x0, state.nu, state.s, names=names, n_out=3
        )
        return updates, DualAveragingState(_tree.safe_increment(state.count), nu, s_sum, state.x0)

    return GradientTransformation(init, update)
