"""Primitives that use the *previous* gradient: optimism and Adan's gradient-difference moments.

Both keep the last value of their source and work with the difference
$g_t - g_{t-1}$: optimistic gradient descent extrapolates with it, Adan averages it.
At the first step there is no previous gradient; both take the difference to be zero.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import DTypeLike, GradientTransformation, Scalar, check_state_type
from gradtx.transforms._adaptive import second_moment_step, statistic_source
from gradtx.transforms._momentum import ema_scalars, one_minus_power


class OptimisticGradientState(NamedTuple):
    """Step count and the previous input."""

    count: jax.Array
    previous: Any


def scale_by_optimistic_gradient(alpha: Scalar = 1.0, beta: Scalar = 1.0) -> GradientTransformation:
    r"""Extrapolate with the previous update (optimism).

    $$u_t \leftarrow (\alpha + \beta)\, g_t - \beta\, g_{t-1},\qquad g_0 := g_1$$

    $g_t$ is this member's input, $\alpha$ = ``alpha`` and $\beta$ = ``beta``. With
    $\alpha = \beta = 1$ this is $g_t + (g_t - g_{t-1})$: the gradient plus a prediction of
    its next change. At the first step the previous input is taken to be the current one,
    so the update is $\alpha g_1$.

    Args:
      alpha: $\alpha$, the weight of the current input (any finite real).
      beta: $\beta$, the weight of the extrapolation (any finite real).

    Returns:
      A :class:`~gradtx.GradientTransformation` with an :class:`OptimisticGradientState`.

    References:
      Daskalakis, Ilyas, Syrgkanis & Zeng, "Training GANs with Optimism", ICLR 2018,
      arXiv:1711.00141; Mokhtari, Ozdaglar & Pattathil, "A Unified Analysis of Extra-gradient
      and Optimistic Gradient Methods for Saddle Point Problems", AISTATS 2020,
      arXiv:1901.08511.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_optimistic_gradient
      >>> tx = scale_by_optimistic_gradient()
      >>> s = tx.init(jnp.zeros(1))
      >>> u, s = tx.update(jnp.array([1.0]), s)      # 2 * 1 - 1
      >>> v, s = tx.update(jnp.array([3.0]), s)      # 2 * 3 - 1
      >>> u.tolist(), v.tolist()
      ([1.0], [5.0])
    """
    _validate.check_finite("alpha", alpha)
    _validate.check_finite("beta", beta)

    def init(params):
        return OptimisticGradientState(_tree.zero_count(), _tree.zeros_like(params))

    def update(updates, state, params=None, **extra):
        del params, extra
        check_state_type(state, OptimisticGradientState, "scale_by_optimistic_gradient")
        scalars = _tree.Scalars(alpha=alpha, beta=beta, first=state.count == 0)

        def step(g, prev):
            s = scalars(g)
            prev = jnp.where(s.first > 0, g, prev)
            return (s.alpha + s.beta) * g - s.beta * prev, g

        updates, prev = _tree.leafwise(
            step, updates, state.previous, names=("updates", "previous"), n_out=2
        )
        return updates, OptimisticGradientState(_tree.safe_increment(state.count), prev)

    return GradientTransformation(init, update)


class DifferenceMomentsState(NamedTuple):
    """Step count, the previous gradient, and the moments of Adan.

    Attributes:
      count: int32 number of updates.
      previous: $g_{t-1}$.
      diff: $v$, the EMA of the gradient difference $g_t - g_{t-1}$.
      nu: $n$, the EMA of $|g_t + \\beta_2 (g_t - g_{t-1})|^2$ (real dtype).
    """

    count: jax.Array
    previous: Any
    diff: Any
    nu: Any


def scale_by_difference_moments(
    b2: Scalar = 0.92,
    b3: Scalar = 0.99,
    eps: Scalar = 1e-8,
    eps_root: Scalar = 0.0,
    *,
    source: str = "updates",
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Adan's gradient-difference moments: add the averaged difference, divide by its RMS.

    With $d_t = g_t - g_{t-1}$ ($d_1 = 0$) of the ``source`` $g$:

    $$v_t = \beta_2 v_{t-1} + (1-\beta_2)\, d_t,\qquad
    n_t = \beta_3 n_{t-1} + (1-\beta_3)\,|g_t + \beta_2 d_t|^2,$$
    $$u_t \leftarrow \frac{u_t + \beta_2\, \hat v_t}{\sqrt{\hat n_t + \epsilon_\text{root}}
    + \epsilon},\qquad \hat v_t = \frac{v_t}{1-\beta_2^t},\ \hat n_t = \frac{n_t}{1-\beta_3^t}$$

    $u_t$ is this member's input (Adan's debiased first moment $\hat m_t$, from an
    :func:`gradtx.ema` before it). $\beta_2$ = ``b2``, $\beta_3$ = ``b3``. The coefficient of
    the difference is $\beta_2$: in the paper's notation, where $\beta$ weighs the *new*
    term, it is $1-\beta_2^\text{paper}$ (Algorithm 1), as in the authors' code. Optax
    0.2.8's ``scale_by_adan`` uses $1-\beta_2$ instead (0.08 instead of 0.92).

    Args:
      b2: $\beta_2 \in [0, 1)$, the decay of the difference average.
      b3: $\beta_3 \in [0, 1)$, the decay of the second moment.
      eps: $\epsilon \ge 0$, outside the root.
      eps_root: $\epsilon_\text{root} \ge 0$, inside the root.
      source: ``"updates"`` (this member's input) or ``"gradient"`` (the chain's input).
      mu_dtype: dtype of the stored $v$ (default: the parameter's).
      nu_dtype: dtype of the stored $n$ (default: the parameter's real dtype). The previous
        gradient stays in the parameter's dtype: $g_t - g_{t-1}$ of two nearby bfloat16
        values would lose most of its digits. The arithmetic is in at least float32.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`DifferenceMomentsState`.

    References:
      Xie, Zhou, Li, Lin & Yan, "Adan: Adaptive Nesterov Momentum Algorithm for Faster
      Optimizing Deep Models", IEEE TPAMI 2024, arXiv:2208.06677, Algorithm 1.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_difference_moments
      >>> tx = scale_by_difference_moments(eps=0.0)
      >>> tx.update(jnp.array([-2.0]), tx.init(jnp.zeros(1)))[0].tolist()   # d = 0: -2 / 2
      [-1.0]
    """
    _validate.check_decay("b2", b2)
    _validate.check_decay("b3", b3)
    _validate.check_nonnegative("eps", eps)
    _validate.check_nonnegative("eps_root", eps_root)
    _validate.check_choice("source", source, ("updates", "gradient"))
    mu_dtype = _validate.check_dtype("mu_dtype", mu_dtype)
    nu_dtype = _validate.check_dtype("nu_dtype", nu_dtype)

    def init(params):
        return DifferenceMomentsState(
            _tree.zero_count(),
            _tree.zeros_like(params),
            _tree.zeros_like(params, mu_dtype),
            _tree.zeros_like(params, nu_dtype, real=True),
        )

    def update(updates, state, params=None, **extra):
        del params
        check_state_type(state, DifferenceMomentsState, "scale_by_difference_moments")
        count = _tree.safe_increment(state.count)
        stats = statistic_source(updates, extra, source)
        scalars = ema_scalars(
            b3,
            count,
            b2=b2,
            b2_correction=one_minus_power(b2, count),
            first=state.count == 0,
            eps=eps,
            eps_root=eps_root,
        )

        def step(u, g, prev, v, n):
            s = scalars(u)
            d = jnp.where(s.first > 0, jnp.zeros_like(g), g - prev)
            v = (1 - s.b2) * d + s.b2 * v
            n = second_moment_step(g + s.b2 * d, n, s)
            direction = u + s.b2 * (v / s.b2_correction)
            return direction / (jnp.sqrt(n / s.correction + s.eps_root) + s.eps), g, v, n

        names = ("updates", "gradient", "previous", "diff", "nu")
        updates, prev, v, n = _tree.leafwise(
            step, updates, stats, state.previous, state.diff, state.nu, names=names, n_out=4
        )
        return updates, DifferenceMomentsState(count, prev, v, n)

    return GradientTransformation(init, update)
