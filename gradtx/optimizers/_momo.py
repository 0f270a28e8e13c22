r"""MoMo: momentum with a Polyak step size from a model of the loss.

MoMo and MoMo-Adam need little tuning of the learning rate: each step size is the smaller
of the learning rate and Polyak's step towards a known lower bound of the loss (0 for most
losses), computed from running averages of the gradients, the losses and
$\langle g, w\rangle$ (:func:`gradtx.scale_by_momo`). ``update`` needs the loss:
``update(g, state, params, value=loss)``. MoMo-Adam measures the step in Adam's
preconditioned norm (:func:`gradtx.scale_by_rms`, bias-corrected, $\epsilon$ outside the
root).
"""

from __future__ import annotations

from gradtx import _hyper as hp
from gradtx._base import DTypeLike, GradientTransformation, ScalarOrSchedule, chain
from gradtx._registry import optimizer
from gradtx.transforms._adaptive import scale_by_rms
from gradtx.transforms._momo import scale_by_momo
from gradtx.transforms._scaling import scale

__all__ = ["momo", "momo_adam"]

_DECLARED = {"lower_bound": hp.FINITE, "adapt_lower_bound": hp.FLAG}


@optimizer(
    hyperparams={"beta": hp.DECAY, **_DECLARED},
    example={"learning_rate": 1.0},
    needs_value=True,
    optax="`optax.contrib.momo`",
    pytorch="—",
)
def momo(
    learning_rate: ScalarOrSchedule = 1.0,
    beta: ScalarOrSchedule = 0.9,
    lower_bound: ScalarOrSchedule = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    adapt_lower_bound: bool = False,
    *,
    mu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""MoMo: SGD with momentum whose step is a capped Polyak step from a momentum model.

    $$d_t = \beta d_{t-1} + (1-\beta) g_t,\quad
    \tau_t = \min\!\Big(\alpha_t, \frac{\big[(1+\alpha_t\lambda)(\bar f_t - f^\star - \gamma_t)
    + \langle d_t, w_t\rangle\big]_+}{\lVert d_t\rVert^2}\Big),\quad
    w_{t+1} = \frac{w_t}{1+\alpha_t\lambda} - \tau_t d_t$$

    with $\bar f_t$ and $\gamma_t$ the averages (decay $\beta$) of the losses and of
    $\langle g_t, w_t\rangle$, all three averages starting at their first values;
    $\alpha_t$ = ``learning_rate``, $f^\star$ = ``lower_bound``, $\lambda$ =
    ``weight_decay``. It is ``chain(scale_by_momo(...), scale(-1))``. ``update`` needs the
    loss: ``update(g, state, params, value=f(w))``.

    Args:
      learning_rate: $\alpha \ge 0$, the largest step (a large value such as 1 is fine).
      beta: $\beta \in [0, 1)$, the momentum.
      lower_bound: $f^\star$, a lower bound of the loss.
      weight_decay: $\lambda \ge 0$.
      adapt_lower_bound: estimate the lower bound online (when no good one is known).
      mu_dtype: dtype of the stored momentum (default: the parameter's).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Schaipp, Ohana, Eickenberg, Defazio & Gower, "MoMo: Momentum Models for Adaptive
      Learning Rates", ICML 2024, arXiv:2305.07583.

    Example:
      >>> import jax, jax.numpy as jnp, gradtx
      >>> f = lambda w: jnp.sum(w ** 2)
      >>> tx, w = gradtx.momo(), jnp.array([1.0, 2.0, 3.0])
      >>> s = tx.init(w)
      >>> value, g = jax.value_and_grad(f)(w)      # f = 14, |g|^2 = 56: Polyak step 1/4
      >>> u, s = tx.update(g, s, w, value=value)
      >>> float(f(gradtx.apply_updates(w, u)))
      3.5
    """
    return chain(
        scale_by_momo(
            learning_rate, beta, lower_bound, weight_decay, adapt_lower_bound, mu_dtype=mu_dtype
        ),
        scale(-1.0),
    )


@optimizer(
    hyperparams=_DECLARED,
    example={"learning_rate": 0.1},
    needs_value=True,
    optax="`optax.contrib.momo_adam`",
    pytorch="—",
)
def momo_adam(
    learning_rate: ScalarOrSchedule = 1e-2,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    lower_bound: ScalarOrSchedule = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    adapt_lower_bound: bool = False,
    *,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""MoMo-Adam: Adam whose step size is a capped Polyak step from a momentum model.

    $$D_t = \sqrt{\hat\nu_t} + \epsilon,\quad
    \tau_t = \min\!\Big(\alpha_t, \frac{\big[(1+\alpha_t\lambda)(\hat f_t - f^\star
    - \hat\gamma_t) + \langle \hat m_t, w_t\rangle\big]_+}{\langle \hat m_t, D_t^{-1}
    \hat m_t\rangle}\Big),\quad
    w_{t+1} = \frac{w_t}{1+\alpha_t\lambda} - \tau_t\, D_t^{-1}\hat m_t$$

    with $\hat m_t$, $\hat f_t$, $\hat\gamma_t$ the debiased averages (decay $\beta_1$) of
    the gradients, the losses and $\langle g_t, w_t\rangle$, and $\hat\nu_t$ Adam's
    debiased second moment (decay $\beta_2$). It is ``chain(scale_by_momo(..., debias=True,
    preconditioner=scale_by_rms(b2, eps, eps_in_sqrt=False, bias_correction=True,
    source="gradient")), scale(-1))``. ``update`` needs the loss.

    Args:
      learning_rate: $\alpha \ge 0$, the largest step.
      b1: $\beta_1 \in [0, 1)$.
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$, outside the root.
      lower_bound: $f^\star$, a lower bound of the loss.
      weight_decay: $\lambda \ge 0$, decoupled as in AdamW.
      adapt_lower_bound: estimate the lower bound online.
      mu_dtype, nu_dtype: dtypes of the stored momentum and second moment (default: the
        parameter's).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Schaipp, Ohana, Eickenberg, Defazio & Gower, "MoMo: Momentum Models for Adaptive
      Learning Rates", ICML 2024, arXiv:2305.07583.

    Example:
      >>> import jax, jax.numpy as jnp, gradtx
      >>> f = lambda w: jnp.sum(w ** 2)
      >>> tx, w = gradtx.momo_adam(learning_rate=1.0), jnp.array([1.0, 2.0, 3.0])
      >>> value, g = jax.value_and_grad(f)(w)
      >>> u, _ = tx.update(g, tx.init(w), w, value=value)
      >>> round(float(f(gradtx.apply_updates(w, u))), 3)      # from 14
      5.0
    """
    preconditioner = scale_by_rms(
        b2,
        eps,
        eps_in_sqrt=False,
        bias_correction=True,
        source="gradient",
        accumulator_dtype=nu_dtype,
    )
    return chain(
        scale_by_momo(
            learning_rate,
            b1,
            lower_bound,
            weight_decay,
            adapt_lower_bound,
            debias=True,
            preconditioner=preconditioner,
            mu_dtype=mu_dtype,
        ),
        scale(-1.0),
    )
