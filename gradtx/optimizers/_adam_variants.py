"""Adam variants.

AdaBelief, Yogi, RAdam, Adan and Optimistic Adam each keep Adam's debiased first moment,
:func:`gradtx.ema`, and change what divides it: the variance of the gradient around its mean
(AdaBelief, :func:`gradtx.scale_by_belief_rms`), a second moment that moves by an additive,
sign-controlled step (Yogi, :func:`gradtx.scale_by_additive_rms`), Adam's second moment used
only once its variance is tractable and rectified (RAdam,
:func:`gradtx.scale_by_rectified_rms`), or moments of the differences of consecutive
gradients (Adan, :func:`gradtx.scale_by_difference_moments`). ACProp divides the
raw gradient by AdaBelief's second moment of the previous step
(:func:`gradtx.scale_by_acprop`). The names and arguments are Optax's (``scale_by_belief``,
``scale_by_yogi``, ``scale_by_radam``, ``scale_by_adan``, ``scale_by_acprop``).
"""

from __future__ import annotations

from gradtx import _hyper as hp
from gradtx._base import DTypeLike, GradientTransformation, MaskOrFn, ScalarOrSchedule, chain
from gradtx._registry import optimizer
from gradtx.transforms._adam_variants import (
    scale_by_acprop,
    scale_by_adan,
    scale_by_belief,
    scale_by_radam,
    scale_by_yogi,
)
from gradtx.transforms._decay import add_decayed_weights
from gradtx.transforms._scaling import scale_by_learning_rate

__all__ = ["acprop", "adabelief", "adan", "radam", "yogi"]


@optimizer(
    example={"learning_rate": 0.01},
    optax="`optax.adabelief`",
    pytorch="—",
)
def adabelief(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-16,
    eps_root: ScalarOrSchedule = 1e-16,
    *,
    nesterov: bool = False,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""AdaBelief: Adam whose second moment is that of the prediction error $g - m$.

    $$m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad
    s_t = \beta_2 s_{t-1} + (1-\beta_2)(g_t - m_t)^2 + \epsilon_\text{root},\quad
    w_{t+1} = w_t - \eta_t\,\frac{m_t/(1-\beta_1^t)}{\sqrt{s_t/(1-\beta_2^t)} + \epsilon}$$

    It is ``chain(ema(b1, debias=False), scale_by_belief_rms(b2, source="gradient"),
    bias_correction(b1), lr)``. Optax's defaults $\epsilon = \epsilon_\text{root} =
    10^{-16}$; the paper uses $\epsilon = 10^{-8}$, $\epsilon_\text{root} = 0$.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      b1: $\beta_1 \in [0, 1)$.
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$, outside the root.
      eps_root: $\epsilon_\text{root} \ge 0$, added to $s_t$.
      nesterov: kept for Optax's signature; ``True`` raises ``ValueError`` (see
        :func:`gradtx.scale_by_belief`).
      mu_dtype, nu_dtype: the dtypes of the two moments, as in :func:`gradtx.adam`.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Zhuang, Tang, Ding, Tatikonda, Dvornek, Papademetris & Duncan, "AdaBelief Optimizer:
      Adapting Stepsizes by the Belief in Observed Gradients", NeurIPS 2020,
      arXiv:2010.07468.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import adabelief
      >>> tx = adabelief(0.1)
      >>> round(float(tx.update(jnp.array([3.0]), tx.init(jnp.zeros(1)))[0][0]), 4)
      -0.1111
    """
    return chain(
        scale_by_belief(
            b1, b2, eps, eps_root, nesterov=nesterov, mu_dtype=mu_dtype, nu_dtype=nu_dtype
        ),
        scale_by_learning_rate(learning_rate),
    )


@optimizer(
    example={"learning_rate": 0.003},
    optax="`optax.contrib.acprop`",
    pytorch="—",
)
def acprop(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-16,
    eps_root: ScalarOrSchedule = 1e-16,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn = None,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""ACProp: AdaBelief's second moment, applied one step late to the raw gradient.

    $$s_t = \beta_2 s_{t-1} + (1-\beta_2)(g_t - m_{t-1})^2 + \epsilon_\text{root},\quad
    w_{t+1} = w_t - \eta_t\Big(\frac{g_t}{\sqrt{s_{t-1}/(1-\beta_2^{t-1})} + \epsilon}
    + \lambda w_t\Big)$$

    with $m_t$ the EMA of the gradient (decay $\beta_1$) and the first step's denominator 1.
    It is ``chain(scale_by_acprop(b1, b2, eps, eps_root), add_decayed_weights(weight_decay,
    mask), lr)``, Optax's form (the numerator is the gradient, as in the authors' code).

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      b1: $\beta_1 \in [0, 1)$, the decay of the mean that centers the second moment.
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$, outside the root.
      eps_root: $\epsilon_\text{root} \ge 0$, added to $s_t$.
      weight_decay: $\lambda \ge 0$, multiplied by the learning rate as in Optax.
      mask: which leaves to decay (see :func:`gradtx.add_decayed_weights`).
      mu_dtype, nu_dtype: dtypes of the stored $m$ and $s$ (default: the parameter's).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Zhuang, Ding, Tang, Tatikonda, Dvornek, Papademetris & Duncan, "Momentum Centering
      and Asynchronous Update for Adaptive Gradient Methods", NeurIPS 2021,
      arXiv:2110.05454.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import acprop
      >>> tx = acprop(0.1)
      >>> p = jnp.zeros(1)
      >>> [round(x, 4) for x in tx.update(jnp.array([3.0]), tx.init(p), p)[0].tolist()]
      [-0.3]
    """
    return chain(
        scale_by_acprop(b1, b2, eps, eps_root, mu_dtype, nu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


@optimizer(
    example={"learning_rate": 0.01},
    optax="`optax.yogi`",
    pytorch="—",
)
def yogi(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-3,
    *,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Yogi: Adam with an additive, sign-controlled second moment.

    $$m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad
    \nu_t = \nu_{t-1} - (1-\beta_2)\operatorname{sign}(\nu_{t-1} - g_t^2)\, g_t^2,\quad
    w_{t+1} = w_t - \eta_t\,\frac{m_t/(1-\beta_1^t)}{\sqrt{\nu_t/(1-\beta_2^t)} + \epsilon}$$

    with $m_0 = 0$ and $\nu_0 = 10^{-6}$. It is ``chain(ema(b1),
    scale_by_additive_rms(b2, source="gradient"), lr)``. **Difference from Optax:** Optax
    0.2.8 also starts $m$ at $10^{-6}$ (as TensorFlow Addons does); gradtx starts it at 0,
    as Algorithm 2 of the paper and every other EMA of the library. The bias corrections
    are Optax's (the paper has none).

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      b1: $\beta_1 \in [0, 1)$.
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$, outside the root.
      mu_dtype, nu_dtype: the dtypes of the two moments, as in :func:`gradtx.adam`.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Zaheer, Reddi, Sachan, Kale & Kumar, "Adaptive Methods for Nonconvex Optimization",
      NeurIPS 2018.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import yogi
      >>> tx = yogi(0.1)
      >>> round(float(tx.update(jnp.array([3.0]), tx.init(jnp.zeros(1)))[0][0]), 4)
      -0.1
    """
    return chain(
        scale_by_yogi(b1, b2, eps, mu_dtype=mu_dtype, nu_dtype=nu_dtype),
        scale_by_learning_rate(learning_rate),
    )


@optimizer(
    hyperparams={"threshold": hp.FINITE},
    example={"learning_rate": 0.03},
    optax="`optax.radam`",
    pytorch="`RAdam`",
)
def radam(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    threshold: ScalarOrSchedule = 5.0,
    *,
    nesterov: bool = False,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""RAdam: Adam that falls back to momentum SGD while its variance is intractable.

    $$\rho_t = \rho_\infty - \frac{2t\beta_2^t}{1-\beta_2^t},\quad
    w_{t+1} = w_t - \eta_t \begin{cases} r_t\,\dfrac{\hat m_t}{\sqrt{\hat\nu_t +
    \epsilon_\text{root}} + \epsilon} & \rho_t \ge \tau \\ \hat m_t & \text{otherwise}
    \end{cases}$$

    with $\hat m_t$, $\hat\nu_t$ Adam's moments, $\rho_\infty = 2/(1-\beta_2) - 1$, $\tau$ =
    ``threshold`` and $r_t$ the rectification term of
    :func:`gradtx.scale_by_rectified_rms`. It is ``chain(ema(b1),
    scale_by_rectified_rms(b2, source="gradient"), lr)``. $\rho_t$ is computed without
    the cancellation of the direct formula: in float32, over the first 200 steps, Optax's
    $r_t$ is off by up to 4e-3, gradtx's by 1.2e-7.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      b1: $\beta_1 \in [0, 1)$.
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$, outside the root.
      eps_root: $\epsilon_\text{root} \ge 0$, inside the root.
      threshold: $\tau$, the smallest $\rho_t$ at which the adaptive step is used.
      nesterov: NAdam's look-ahead first moment.
      mu_dtype, nu_dtype: the dtypes of the two moments, as in :func:`gradtx.adam`.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Liu, Jiang, He, Chen, Liu, Gao & Han, "On the Variance of the Adaptive Learning Rate
      and Beyond", ICLR 2020, arXiv:1908.03265.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import radam
      >>> tx = radam(0.1)
      >>> round(float(tx.update(jnp.array([3.0]), tx.init(jnp.zeros(1)))[0][0]), 4)
      -0.3
    """
    return chain(
        scale_by_radam(
            b1,
            b2,
            eps,
            eps_root,
            threshold,
            nesterov=nesterov,
            mu_dtype=mu_dtype,
            nu_dtype=nu_dtype,
        ),
        scale_by_learning_rate(learning_rate),
    )


@optimizer(
    hyperparams={"b3": hp.DECAY},
    example={"learning_rate": 0.01},
    optax="`optax.adan`",
    pytorch="—",
)
def adan(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.98,
    b2: ScalarOrSchedule = 0.92,
    b3: ScalarOrSchedule = 0.99,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn = None,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Adan: adaptive Nesterov momentum from averaged gradient differences.

    $$d_t = g_t - g_{t-1},\quad m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad
    v_t = \beta_2 v_{t-1} + (1-\beta_2) d_t,$$
    $$n_t = \beta_3 n_{t-1} + (1-\beta_3)(g_t + \beta_2 d_t)^2,\quad
    w_{t+1} = w_t - \eta_t\Big(\frac{\hat m_t + \beta_2 \hat v_t}{\sqrt{\hat n_t +
    \epsilon_\text{root}} + \epsilon} + \lambda w_t\Big)$$

    with $d_1 = 0$ and hats the bias corrections by $1-\beta_i^t$. It is
    ``chain(ema(b1), scale_by_difference_moments(b2, b3, source="gradient"),
    add_decayed_weights(weight_decay, mask), lr)``.
    **Difference from Optax:** the coefficient of the difference is $\beta_2$ (0.92), as
    in the paper ($1-\beta_2^\text{paper}$, with the paper's $\beta$ weighing the new term)
    and the authors' code; Optax 0.2.8 uses $1-\beta_2$ (0.08). With $\beta_2 = 0.5$ the
    two agree, which the tests use to compare with Optax. The weight decay is Optax's
    decoupled $\eta\lambda w$; the authors' default is the proximal
    $w \leftarrow w/(1+\eta\lambda)$, equal to first order.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      b1: $\beta_1 \in [0, 1)$, decay of the gradient average.
      b2: $\beta_2 \in [0, 1)$, decay of the difference average.
      b3: $\beta_3 \in [0, 1)$, decay of the second moment.
      eps: $\epsilon \ge 0$, outside the root.
      eps_root: $\epsilon_\text{root} \ge 0$, inside the root.
      weight_decay: $\lambda \ge 0$, a constant or a schedule.
      mask: which leaves to decay (see :func:`gradtx.add_decayed_weights`).
      mu_dtype, nu_dtype: dtypes of the stored $m$, $v$ and of $n$ (see
        :func:`gradtx.scale_by_adan`; default: the parameter's).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Xie, Zhou, Li, Lin & Yan, "Adan: Adaptive Nesterov Momentum Algorithm for Faster
      Optimizing Deep Models", IEEE TPAMI 2024, arXiv:2208.06677.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import adan
      >>> tx = adan(0.1)
      >>> p = jnp.zeros(1)
      >>> round(float(tx.update(jnp.array([3.0]), tx.init(p), p)[0][0]), 4)
      -0.1
    """
    return chain(
        scale_by_adan(b1, b2, b3, eps, eps_root, mu_dtype, nu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
