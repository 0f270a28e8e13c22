r"""Sign-based methods.

Steps of a fixed size per weight in the direction of the sign of a (smoothed) gradient:
$u_t = -\eta_t \operatorname{sign}(\cdot)$, ``chain(<direction>, scale_by_sign(), lr)``.
They differ only in the direction: the gradient (``sign_sgd``), its EMA (``signum``), or
Lion's interpolation between the gradient and its previous EMA
(:func:`gradtx.scale_by_lion`). Every weight moves by exactly $\eta_t$, so these methods
want smaller learning rates than Adam.
"""

from __future__ import annotations

from gradtx import _hyper as hp
from gradtx._base import DTypeLike, GradientTransformation, MaskOrFn, ScalarOrSchedule, chain
from gradtx._registry import optimizer
from gradtx.transforms._decay import add_decayed_weights
from gradtx.transforms._momentum import ema
from gradtx.transforms._scaling import scale_by_learning_rate, scale_by_sign
from gradtx.transforms._sign import scale_by_lion

__all__ = ["lion", "sign_sgd", "signum"]


@optimizer(
    example={"learning_rate": 0.003},
    optax="`optax.sign_sgd`",
    pytorch="—",
)
def sign_sgd(learning_rate: ScalarOrSchedule) -> GradientTransformation:
    r"""signSGD: step by the sign of the gradient.

    $$w_{t+1} = w_t - \eta_t \operatorname{sign}(g_t)$$

    It is ``chain(scale_by_sign(), scale_by_learning_rate(learning_rate))``. Every
    coordinate moves by $\eta_t$ whatever the gradient's scale, so the rate is in the units
    of the parameters.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Bernstein, Wang, Azizzadenesheli & Anandkumar, "signSGD: Compressed Optimisation for
      Non-Convex Problems", ICML 2018, arXiv:1802.04434.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import sign_sgd
      >>> tx = sign_sgd(0.1)
      >>> u, _ = tx.update(jnp.array([3.0, -0.01]), tx.init(jnp.zeros(2)))
      >>> [round(x, 6) for x in u.tolist()]
      [-0.1, 0.1]
    """
    return chain(scale_by_sign(), scale_by_learning_rate(learning_rate))


@optimizer(
    hyperparams={"beta": hp.DECAY},
    example={"learning_rate": 0.003},
    optax="`optax.signum`",
    pytorch="—",
)
def signum(
    learning_rate: ScalarOrSchedule,
    beta: ScalarOrSchedule = 0.9,
    accumulator_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Signum: step by the sign of an exponential moving average of the gradient.

    $$m_t = \beta\, m_{t-1} + (1-\beta)\, g_t,\qquad
    w_{t+1} = w_t - \eta_t\operatorname{sign}(m_t)$$

    It is ``chain(ema(beta, debias=False), scale_by_sign(), lr)``: a debiasing factor is
    positive, so it cannot change a sign and is left out.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      beta: $\beta \in [0, 1)$, the decay of the average.
      accumulator_dtype: dtype of $m$.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Bernstein, Wang, Azizzadenesheli & Anandkumar, "signSGD: Compressed Optimisation for
      Non-Convex Problems", ICML 2018, arXiv:1802.04434, Algorithm 3 (Signum).

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import signum
      >>> tx = signum(0.1)
      >>> s = tx.init(jnp.zeros(1))
      >>> _, s = tx.update(jnp.array([1.0]), s)        # m = 0.1
      >>> [round(x, 6) for x in tx.update(jnp.array([-0.5]), s)[0].tolist()]   # m = 0.04
      [-0.1]
    """
    return chain(
        ema(beta, debias=False, accumulator_dtype=accumulator_dtype),
        scale_by_sign(),
        scale_by_learning_rate(learning_rate),
    )


@optimizer(
    example={"learning_rate": 0.003},
    optax="`optax.lion`",
    pytorch="—",
)
def lion(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.99,
    mu_dtype: DTypeLike | None = None,
    weight_decay: ScalarOrSchedule = 1e-3,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    r"""Lion: the sign of an interpolated momentum, with decoupled weight decay.

    $$u_t = \operatorname{sign}\big(\beta_1 m_{t-1} + (1-\beta_1) g_t\big),\qquad
    m_t = \beta_2 m_{t-1} + (1-\beta_2) g_t,\qquad
    w_{t+1} = w_t - \eta_t\,(u_t + \lambda w_t)$$

    It is ``chain(scale_by_lion(b1, b2), add_decayed_weights(weight_decay, mask), lr)``.
    Its steps have unit size per coordinate, so its learning rate is typically 3-10 times
    smaller than Adam's (and its weight decay as many times larger).

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      b1: $\beta_1 \in [0, 1)$, the interpolation weight of the step.
      b2: $\beta_2 \in [0, 1)$, the decay of the momentum $m$.
      mu_dtype: dtype of $m$.
      weight_decay: $\lambda \ge 0$, a constant or a schedule.
      mask: which leaves to decay (see :func:`gradtx.add_decayed_weights`).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Chen, Liang, Huang, Real, Wang, Pham, Dong, Luong, Hsieh, Lu & Le, "Symbolic Discovery
      of Optimization Algorithms", NeurIPS 2023, arXiv:2302.06675.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import lion
      >>> tx = lion(0.1, weight_decay=0.0)
      >>> p = jnp.zeros(2)
      >>> u, _ = tx.update(jnp.array([5.0, -0.2]), tx.init(p), p)
      >>> [round(x, 6) for x in u.tolist()]
      [-0.1, 0.1]
    """
    return chain(
        scale_by_lion(b1, b2, mu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
