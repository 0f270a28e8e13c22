"""Optax's monolithic directions of the Adam variants, each rebuilt as a short chain.

They keep Optax's names and arguments (``scale_by_belief``, ``scale_by_yogi``,
``scale_by_radam``, ``scale_by_adan``), but each is :func:`gradtx.ema` followed by one
preconditioner (:func:`gradtx.scale_by_belief_rms`, :func:`gradtx.scale_by_additive_rms`,
:func:`gradtx.scale_by_rectified_rms`, :func:`gradtx.scale_by_difference_moments`): the
first moment and its bias correction are those of Adam, written once.

ACProp's direction (``scale_by_acprop``) is AdaBelief's second moment read one step late:
its numerator is the raw gradient and its statistic needs the *previous* average, which no
member of a chain can see, so it is one primitive made of the same per-leaf steps
(:func:`~gradtx.transforms._momentum.ema_update`, ``second_moment_step``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import DTypeLike, GradientTransformation, Scalar, chain, check_state_type
from gradtx.transforms._adaptive import second_moment_step
from gradtx.transforms._difference import scale_by_difference_moments
from gradtx.transforms._momentum import bias_correction, ema, ema_scalars, ema_update
from gradtx.transforms._second_moments import (
    scale_by_additive_rms,
    scale_by_belief_rms,
    scale_by_rectified_rms,
)


def scale_by_belief(
    b1: Scalar = 0.9,
    b2: Scalar = 0.999,
    eps: Scalar = 1e-16,
    eps_root: Scalar = 1e-16,
    *,
    nesterov: bool = False,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""AdaBelief's direction: the debiased average over the root of the belief moment.

    $$u_t = \frac{\hat m_t}{\sqrt{\hat s_t} + \epsilon}
    = \texttt{chain(ema(}\beta_1\texttt{, debias=False), scale\_by\_belief\_rms(}\beta_2
    \texttt{), bias\_correction(}\beta_1\texttt{))}$$

    with $m_t$ the EMA of the gradient and $s_t$ the EMA of $|g_t - m_t|^2$ (see
    :func:`gradtx.scale_by_belief_rms`). The belief moment needs
    the raw average $m_t$, so the first moment's bias correction comes after the division
    (the two commute).

    Args:
      b1: $\beta_1 \in [0, 1)$.
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$, outside the root.
      eps_root: $\epsilon_\text{root} \ge 0$, added to $s_t$.
      nesterov: not available: the look-ahead numerator
        $\beta_1 m_t/(1-\beta_1^{t+1}) + (1-\beta_1) g_t/(1-\beta_1^t)$ cannot be formed
        after the belief division, which needs the raw $m_t$. ``True`` raises.
      mu_dtype, nu_dtype: the dtypes of $m$ and $s$, as in :func:`gradtx.scale_by_adam`.

    Returns:
      A chain of :func:`gradtx.ema`, ``scale_by_belief_rms`` and :func:`gradtx.bias_correction`.

    References:
      Zhuang et al., "AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed
      Gradients", NeurIPS 2020, arXiv:2010.07468.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_belief
      >>> tx = scale_by_belief()
      >>> round(float(tx.update(jnp.array([3.0]), tx.init(jnp.zeros(1)))[0][0]), 4)
      1.1111
    """
    if nesterov:
        raise ValueError(
            "scale_by_belief: nesterov=True is not available in gradtx (the look-ahead cannot "
            "be formed after the belief division); use nesterov=False."
        )
    return chain(
        ema(b1, debias=False, accumulator_dtype=mu_dtype),
        scale_by_belief_rms(b2, eps, eps_root, source="gradient", accumulator_dtype=nu_dtype),
        bias_correction(b1),
    )


def scale_by_yogi(
    b1: Scalar = 0.9,
    b2: Scalar = 0.999,
    eps: Scalar = 1e-3,
    eps_root: Scalar = 0.0,
    initial_accumulator_value: Scalar = 1e-6,
    *,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Yogi's direction: the debiased average over the root of the additive second moment.

    $$u_t = \frac{\hat m_t}{\sqrt{\hat\nu_t + \epsilon_\text{root}} + \epsilon}
    = \texttt{chain(ema(}\beta_1\texttt{), scale\_by\_additive\_rms(}\beta_2\texttt{))}$$

    $m_0 = 0$ as in the paper (Optax 0.2.8 starts $m$ at ``initial_accumulator_value``
    too, as the TensorFlow Addons code does); $\nu_0$ = ``initial_accumulator_value``.

    Args:
      b1: $\beta_1 \in [0, 1)$.
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$, outside the root.
      eps_root: $\epsilon_\text{root} \ge 0$, inside the root.
      initial_accumulator_value: $\nu_0 \ge 0$.
      mu_dtype, nu_dtype: the dtypes of $m$ and $\nu$, as in :func:`gradtx.scale_by_adam`.

    Returns:
      A chain of :func:`gradtx.ema` and ``scale_by_additive_rms``.

    References:
      Zaheer, Reddi, Sachan, Kale & Kumar, "Adaptive Methods for Nonconvex Optimization",
      NeurIPS 2018.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_yogi
      >>> tx = scale_by_yogi(eps=0.0, initial_accumulator_value=0.0)
      >>> round(float(tx.update(jnp.array([-3.0]), tx.init(jnp.zeros(1)))[0][0]), 4)
      -1.0
    """
    return chain(
        ema(b1, debias=True, accumulator_dtype=mu_dtype),
        scale_by_additive_rms(
            b2,
            eps,
            eps_root,
            initial_accumulator_value,
            source="gradient",
            accumulator_dtype=nu_dtype,
        ),
    )


def scale_by_radam(
    b1: Scalar = 0.9,
    b2: Scalar = 0.999,
    eps: Scalar = 1e-8,
    eps_root: Scalar = 0.0,
    threshold: Scalar = 5.0,
    *,
    nesterov: bool = False,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""RAdam's direction: the debiased average, divided by Adam's denominator once rectified.

    $$u_t = \begin{cases} r_t\,\dfrac{\hat m_t}{\sqrt{\hat\nu_t + \epsilon_\text{root}}
    + \epsilon} & \rho_t \ge \tau \\ \hat m_t & \text{otherwise}\end{cases}
    = \texttt{chain(ema(}\beta_1\texttt{), scale\_by\_rectified\_rms(}\beta_2\texttt{))}$$

    Args:
      b1: $\beta_1 \in [0, 1)$.
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$, outside the root.
      eps_root: $\epsilon_\text{root} \ge 0$, inside the root.
      threshold: $\tau$, see ``scale_by_rectified_rms``.
      nesterov: NAdam's look-ahead first moment (see :func:`gradtx.ema`).
      mu_dtype, nu_dtype: the dtypes of $m$ and $\nu$, as in :func:`gradtx.scale_by_adam`.

    Returns:
      A chain of :func:`gradtx.ema` and ``scale_by_rectified_rms``.

    References:
      Liu et al., "On the Variance of the Adaptive Learning Rate and Beyond", ICLR 2020,
      arXiv:1908.03265.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_radam
      >>> tx = scale_by_radam()
      >>> round(float(tx.update(jnp.array([3.0]), tx.init(jnp.zeros(1)))[0][0]), 4)
      3.0
    """
    return chain(
        ema(b1, debias=True, nesterov=nesterov, accumulator_dtype=mu_dtype),
        scale_by_rectified_rms(
            b2, eps, eps_root, threshold, source="gradient", accumulator_dtype=nu_dtype
        ),
    )


def scale_by_adan(
    b1: Scalar = 0.98,
    b2: Scalar = 0.92,
    b3: Scalar = 0.99,
    eps: Scalar = 1e-8,
    eps_root: Scalar = 0.0,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Adan's direction: the debiased average plus the averaged gradient difference, normalized.

    $$u_t = \frac{\hat m_t + \beta_2 \hat v_t}{\sqrt{\hat n_t + \epsilon_\text{root}}
    + \epsilon}
    = \texttt{chain(ema(}\beta_1\texttt{), scale\_by\_difference\_moments(}\beta_2,
    \beta_3\texttt{))}$$

    See :func:`gradtx.scale_by_difference_moments` for $v$, $n$ and
    the coefficient $\beta_2$ of the difference (Optax 0.2.8 uses $1-\beta_2$).

    Args:
      b1: $\beta_1 \in [0, 1)$, decay of the gradient average $m$.
      b2: $\beta_2 \in [0, 1)$, decay of the difference average $v$.
      b3: $\beta_3 \in [0, 1)$, decay of the second moment $n$.
      eps: $\epsilon \ge 0$, outside the root.
      eps_root: $\epsilon_\text{root} \ge 0$, inside the root.
      mu_dtype: dtype of the stored first moments $m$ and $v$ (default: the parameter's).
      nu_dtype: dtype of the stored second moment $n$ (default: the parameter's). The
        arithmetic is in at least float32, each moment rounded once on store.

    Returns:
      A chain of :func:`gradtx.ema` and ``scale_by_difference_moments``.

    References:
      Xie, Zhou, Li, Lin & Yan, "Adan: Adaptive Nesterov Momentum Algorithm for Faster
      Optimizing Deep Models", IEEE TPAMI 2024, arXiv:2208.06677.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_adan
      >>> tx = scale_by_adan(eps=0.0)
      >>> round(float(tx.update(jnp.array([3.0]), tx.init(jnp.zeros(1)))[0][0]), 4)
      1.0
    """
    return chain(
        ema(b1, debias=True, accumulator_dtype=mu_dtype),
        scale_by_difference_moments(
            b2, b3, eps, eps_root, source="gradient", mu_dtype=mu_dtype, nu_dtype=nu_dtype
        ),
    )


class ScaleByAcpropState(NamedTuple):
    """Step count, the EMA of the gradient $m$ and the EMA of the prediction error $s$."""

    count: jax.Array
    mu: Any
    nu: Any


def scale_by_acprop(
    b1: Scalar = 0.9,
    b2: Scalar = 0.999,
    eps: Scalar = 1e-16,
    eps_root: Scalar = 1e-16,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""ACProp's direction: the gradient over the root of the *previous* belief moment.

    $$u_t = \frac{g_t}{\sqrt{\hat s_{t-1}} + \epsilon},\qquad
    \hat s_{t-1} = \frac{s_{t-1}}{1-\beta_2^{t-1}}\ (\hat s_0 = 1),$$
    $$s_t = \beta_2 s_{t-1} + (1-\beta_2)\,|g_t - m_{t-1}|^2 + \epsilon_\text{root},\qquad
    m_t = \beta_1 m_{t-1} + (1-\beta_1)\, g_t$$

    $\beta_1$ = ``b1``, $\beta_2$ = ``b2``, $\epsilon$ = ``eps``, $\epsilon_\text{root}$ =
    ``eps_root``. The second moment is AdaBelief's (the variance of the gradient around its
    running mean, :func:`gradtx.scale_by_belief_rms`), but the step divides the *current*
    gradient by the moment of the *previous* steps ("asynchronous"), so numerator and
    denominator are independent; the first step is the gradient itself (Optax's rule).

    Args:
      b1: $\beta_1 \in [0, 1)$, the decay of the mean $m$.
      b2: $\beta_2 \in [0, 1)$, the decay of the second moment $s$.
      eps: $\epsilon \ge 0$, outside the root.
      eps_root: $\epsilon_\text{root} \ge 0$, added to $s_t$ at every step.
      mu_dtype, nu_dtype: dtypes of the stored $m$ and $s$ (default: the parameter's);
        the arithmetic is in at least float32, each rounded once on store.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`ScaleByAcpropState`.

    References:
      Zhuang, Ding, Tang, Tatikonda, Dvornek, Papademetris & Duncan, "Momentum Centering
      and Asynchronous Update for Adaptive Gradient Methods", NeurIPS 2021,
      arXiv:2110.05454.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_acprop
      >>> tx = scale_by_acprop(b1=0.5, b2=0.5, eps=0.0, eps_root=0.0)
      >>> u, s = tx.update(jnp.array([4.0]), tx.init(jnp.zeros(1)))  # m = 2, s = 8
      >>> u.tolist(), tx.update(jnp.array([4.0]), s)[0].tolist()     # 4 / sqrt(8 / 0.5)
      ([4.0], [1.0])
    """
    _validate.check_decay("b1", b1)
    _validate.check_decay("b2", b2)
    _validate.check_nonnegative("eps", eps)
    _validate.check_nonnegative("eps_root", eps_root)
    mu_dtype = _validate.check_dtype("mu_dtype", mu_dtype)
    nu_dtype = _validate.check_dtype("nu_dtype", nu_dtype)

    def init(params):
        mu = _tree.zeros_like(params, mu_dtype)
        nu = _tree.zeros_like(params, nu_dtype, real=True)
        return ScaleByAcpropState(_tree.zero_count(), mu, nu)

    def update(updates, state, params=None, **extra):
        del params, extra
        check_state_type(state, ScaleByAcpropState, "scale_by_acprop")
        first = state.count == 0
        mean = ema_scalars(b1, state.count)
        second = ema_scalars(b2, state.count, eps=eps, eps_root=eps_root)

        def step(g, m, nu):
            s = second(g)
            nu_hat = jnp.where(first, 1, nu / jnp.where(first, 1, s.correction))
            u = g / (jnp.sqrt(nu_hat) + s.eps)
            new_nu = second_moment_step(g - m, nu, s) + s.eps_root
            return u, ema_update(m, g, mean(g)), new_nu

        names = ("updates", "mu", "nu")
        updates, mu, nu = _tree.leafwise(step, updates, state.mu, state.nu, names=names, n_out=3)
        return updates, ScaleByAcpropState(_tree.safe_increment(state.count), mu, nu)

    return GradientTransformation(init, update)
