"""D-Adaptation and Prodigy.

Prodigy and D-Adaptation Adam estimate $D$, the distance from the starting point to the
solution, from the gradients seen so far, and scale Adam's step by it
(:func:`gradtx.scale_by_prodigy`, :func:`gradtx.scale_by_dadapt_adam`); their
``learning_rate`` multiplies the estimated step (1 is the method as published).
"""

from __future__ import annotations

from typing import Any

from gradtx import _hyper as hp
from gradtx._base import DTypeLike, GradientTransformation, ScalarOrSchedule, chain
from gradtx._registry import optimizer
from gradtx.transforms._d_adaptation import scale_by_dadapt_adam, scale_by_prodigy
from gradtx.transforms._scaling import scale

__all__ = ["dadapt_adamw", "prodigy"]


@optimizer(
    hyperparams={
        "betas": hp.BETAS,
        "beta3": hp.live(0.0, 1.0, high_open=True, optional=True),
        "estim_lr0": hp.POSITIVE,
        "estim_lr_coef": hp.POSITIVE,
        "safeguard_warmup": hp.FLAG,
    },
    example={"learning_rate": 1.0, "estim_lr0": 1e-3},
    optax="`optax.contrib.prodigy`",
    pytorch="—",
)
def prodigy(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple[Any, Any] = (0.9, 0.999),
    beta3: ScalarOrSchedule | None = None,
    eps: ScalarOrSchedule = 1e-8,
    estim_lr0: ScalarOrSchedule = 1e-6,
    estim_lr_coef: ScalarOrSchedule = 1.0,
    weight_decay: ScalarOrSchedule = 0.0,
    safeguard_warmup: bool = False,
    *,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Prodigy: Adam whose step $d_t$ estimates the distance to the solution, fast.

    $$d_{t+1} = \max\Big(d_t,\ c\,\frac{\sum_{k\le t}\beta_3^{t-k}\,\tfrac{d_k}{d_0}\gamma_k
    \langle g_k, x_0 - x_k\rangle}{\lVert s_t\rVert_1}\Big),\qquad
    x_{t+1} = x_t - \gamma_t\Big(\frac{m_t}{\sqrt{v_t} + d_{t+1}\epsilon} + \lambda x_t\Big)$$

    with $m_t$, $v_t$ the EMAs of $d_t g_t$, $d_t^2 g_t^2$, $s_t$ the $\beta_3$-EMA of
    $\frac{d_t}{d_0}\gamma_t g_t$ and $\gamma_t = \eta_t d_t\sqrt{1-\beta_2^t}/(1-\beta_1^t)$:
    ``chain(scale_by_prodigy(...), scale(-1))``, see
    :func:`gradtx.scale_by_prodigy` (and for the NaN Optax gives).

    Args:
      learning_rate: $\eta_t \ge 0$, the multiplier of the estimated step, or a schedule.
      betas: $(\beta_1, \beta_2)$, each in $[0, 1)$ (fixed at construction).
      beta3: $\beta_3 \in [0, 1)$, or ``None`` for $\sqrt{\beta_2}$.
      eps: $\epsilon \ge 0$.
      estim_lr0: $d_0 > 0$.
      estim_lr_coef: $c > 0$.
      weight_decay: $\lambda \ge 0$ (decoupled).
      safeguard_warmup: leave $\eta_t$ out of $s_t$.
      mu_dtype, nu_dtype: dtypes of the stored first moments $m$, $s$ and of $v$ (default:
        the parameter's); see :func:`gradtx.scale_by_prodigy`.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Mishchenko & Defazio, "Prodigy: An Expeditiously Adaptive Parameter-Free Learner",
      ICML 2024, arXiv:2306.06101.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx, p = gradtx.prodigy(), jnp.ones(1)
      >>> round(float(tx.update(jnp.array([2.0]), tx.init(p), p)[0][0]), 9)  # -d0
      -1e-06
    """
    args = (eps, estim_lr0, estim_lr_coef, weight_decay, safeguard_warmup, mu_dtype, nu_dtype)
    return chain(scale_by_prodigy(learning_rate, betas, beta3, *args), scale(-1.0))


@optimizer(
    hyperparams={"betas": hp.BETAS, "estim_lr0": hp.POSITIVE},
    example={"learning_rate": 1.0},
    optax="`optax.contrib.dadapt_adamw`",
    pytorch="—",
)
def dadapt_adamw(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple[Any, Any] = (0.9, 0.999),
    eps: ScalarOrSchedule = 1e-8,
    estim_lr0: ScalarOrSchedule = 1e-6,
    weight_decay: ScalarOrSchedule = 0.0,
    *,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""D-Adapted AdamW: Adam whose step $d_t$ is a lower bound on the distance to the solution.

    $$d_{t+1} = \max\Big(d_t,\ \frac{\sum_{k\le t}\sqrt{\beta_2}^{\,t-k}(1-\sqrt{\beta_2})
    \gamma_k \langle g_k, s_{k-1}/(\sqrt{v_{k-1}}+\epsilon)\rangle}{(1-\sqrt{\beta_2})
    \lVert s_t\rVert_1}\Big),\qquad
    x_{t+1} = x_t - \frac{m_t}{\sqrt{v_t} + \epsilon} - \lambda\gamma_t x_t$$

    with $m_t$, $v_t$ the EMAs of $\gamma_t g_t$, $g_t^2$, $s_t$ the $\sqrt{\beta_2}$-EMA of
    $\gamma_t g_t$, $\gamma_t = \eta_t d_t \sqrt{1-\beta_2^t}/(1-\beta_1^t)$: ``chain(
    scale_by_dadapt_adam(...), scale(-1))``, see
    :func:`gradtx.scale_by_dadapt_adam`.

    Args:
      learning_rate: $\eta_t \ge 0$, the multiplier of the estimated step, or a schedule.
      betas: $(\beta_1, \beta_2)$, each in $[0, 1)$ (fixed at construction).
      eps: $\epsilon \ge 0$.
      estim_lr0: $d_0 > 0$.
      weight_decay: $\lambda \ge 0$ (decoupled).
      mu_dtype, nu_dtype: dtypes of the stored first moments $m$, $s$ and of $v$ (default:
        the parameter's); see :func:`gradtx.scale_by_prodigy`.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Defazio & Mishchenko, "Learning-Rate-Free Learning by D-Adaptation", ICML 2023,
      arXiv:2301.07733.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx, p = gradtx.dadapt_adamw(eps=0.0), jnp.ones(1)
      >>> round(float(tx.update(jnp.array([2.0]), tx.init(p), p)[0][0]), 9)  # -d0
      -1e-06
    """
    tx = scale_by_dadapt_adam(
        learning_rate, betas, eps, estim_lr0, weight_decay, mu_dtype, nu_dtype
    )
    return chain(tx, scale(-1.0))
