"""Optimistic Adam.

Optimistic methods extrapolate: they step along the current direction plus its change since
the previous step, $(1 + \alpha) d_t - \alpha d_{t-1}$, which damps the rotation that plain
gradient steps show on min-max (saddle-point) problems such as GAN training. Optimistic Adam
takes $d_t$ to be Adam's direction, through :func:`gradtx.scale_by_optimistic_gradient`,
with Optax's two interfaces: ``optimistic_adam`` (the optimism as a rate) and
``optimistic_adam_v2`` (the extrapolation weights ``alpha`` and ``beta``). The same
extrapolation on the raw gradient is :func:`gradtx.optimistic_gradient_descent`.
"""

from __future__ import annotations

from gradtx import _hyper as hp
from gradtx._base import DTypeLike, GradientTransformation, ScalarOrSchedule, chain
from gradtx._registry import optimizer
from gradtx.transforms._composite import scale_by_adam
from gradtx.transforms._difference import scale_by_optimistic_gradient
from gradtx.transforms._scaling import scale, scale_by_learning_rate

__all__ = ["optimistic_adam", "optimistic_adam_v2"]


@optimizer(
    hyperparams={"optimism": hp.live(optional=True)},
    example={"learning_rate": 0.01},
    optax="`optax.optimistic_adam`",
    pytorch="—",
)
def optimistic_adam(
    learning_rate: ScalarOrSchedule,
    optimism: ScalarOrSchedule | None = None,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: DTypeLike | None = None,
    *,
    nu_dtype: DTypeLike | None = None,
    nesterov: bool = True,
) -> GradientTransformation:
    r"""Optimistic Adam: Adam's direction, extrapolated with the previous one.

    $$d_t = \frac{\hat m_t}{\sqrt{\hat\nu_t + \epsilon_\text{root}} + \epsilon},\qquad
    w_{t+1} = w_t - \big((\eta_t + \omega)\, d_t - \omega\, d_{t-1}\big),\qquad d_0 := d_1$$

    with $\omega$ = ``optimism`` (default: $\eta_t$, giving $2\eta d_t - \eta d_{t-1}$) and
    NAdam's look-ahead $\hat m_t$ when ``nesterov`` (the default, as in Optax). It is
    ``chain(scale_by_adam(..., nesterov), scale_by_optimistic_gradient(alpha=learning_rate,
    beta=optimism), scale(-1))``. Made for min-max problems (GANs).
    **Difference from Optax:** the learning rate may be a schedule (Optax 0.2.8's
    ``optimistic_adam`` rejects one and is deprecated for ``optimistic_adam_v2``).

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      optimism: $\omega$, the weight of the extrapolation, or ``None`` for $\eta_t$.
      b1: $\beta_1 \in [0, 1)$.
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$, outside the root.
      eps_root: $\epsilon_\text{root} \ge 0$, inside the root.
      mu_dtype: dtype of the first moment.
      nu_dtype: dtype of the second moment (see :func:`gradtx.adam`).
      nesterov: use NAdam's look-ahead first moment.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Daskalakis, Ilyas, Syrgkanis & Zeng, "Training GANs with Optimism", ICLR 2018,
      arXiv:1711.00141, Algorithm 1.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import optimistic_adam
      >>> tx = optimistic_adam(0.1, nesterov=False)
      >>> round(float(tx.update(jnp.array([3.0]), tx.init(jnp.zeros(1)))[0][0]), 4)
      -0.1
    """
    beta = learning_rate if optimism is None else optimism
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nu_dtype=nu_dtype, nesterov=nesterov),
        scale_by_optimistic_gradient(alpha=learning_rate, beta=beta),
        scale(-1.0),
    )


@optimizer(
    hyperparams={"alpha": hp.FINITE, "beta": hp.FINITE},
    example={"learning_rate": 0.01},
    optax="`optax.optimistic_adam_v2`",
    pytorch="—",
)
def optimistic_adam_v2(
    learning_rate: ScalarOrSchedule,
    *,
    alpha: ScalarOrSchedule = 1.0,
    beta: ScalarOrSchedule = 1.0,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
    nesterov: bool = True,
) -> GradientTransformation:
    r"""Optimistic Adam with Optax's newer interface: the optimism as ``alpha`` and ``beta``.

    $$r_t = \frac{\hat m_t}{\sqrt{\hat\nu_t + \epsilon_\text{root}} + \epsilon},\qquad
    w_{t+1} = w_t - \eta_t\big((\alpha + \beta)\, r_t - \beta\, r_{t-1}\big),\qquad
    r_0 := r_1$$

    with NAdam's look-ahead $\hat m_t$ when ``nesterov`` (the default, as in Optax). It is
    ``chain(scale_by_adam(..., nesterov), scale_by_optimistic_gradient(alpha, beta),
    scale_by_learning_rate(learning_rate))``: Optax's ``optimistic_adam_v2``, the same
    algorithm as :func:`optimistic_adam` with the learning rate outside the optimism
    (``optimistic_adam(lr, optimism=w)`` is ``alpha = 1``, ``beta = w / lr``).

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      alpha: $\alpha$, the weight of the current direction (any finite real).
      beta: $\beta$, the weight of the extrapolation (any finite real).
      b1: $\beta_1 \in [0, 1)$.
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$, outside the root.
      eps_root: $\epsilon_\text{root} \ge 0$, inside the root.
      mu_dtype: dtype of the first moment.
      nu_dtype: dtype of the second moment (see :func:`gradtx.adam`).
      nesterov: use NAdam's look-ahead first moment.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Daskalakis, Ilyas, Syrgkanis & Zeng, "Training GANs with Optimism", ICLR 2018,
      arXiv:1711.00141, Algorithm 1.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import optimistic_adam_v2
      >>> tx = optimistic_adam_v2(0.1, nesterov=False)
      >>> state = tx.init(jnp.zeros(1))
      >>> u, state = tx.update(jnp.array([3.0]), state)    # r_1 = 1: -0.1 * (2 - 1)
      >>> round(float(u[0]), 4)
      -0.1
    """
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nu_dtype=nu_dtype, nesterov=nesterov),
        scale_by_optimistic_gradient(alpha=alpha, beta=beta),
        scale_by_learning_rate(learning_rate),
    )
