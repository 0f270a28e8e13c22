"""Mechanic: a learned scale for any optimizer.

Mechanic multiplies a base optimizer's updates by a scale that it learns online by coin
betting (:func:`gradtx.scale_by_mechanic`), so the base optimizer runs with its learning
rate at 1 (or a schedule that peaks at 1) and Mechanic finds the size of the steps.
"""

from __future__ import annotations

from gradtx import _hyper as hp
from gradtx._base import GradientTransformation, ScalarOrSchedule
from gradtx._registry import optimizer
from gradtx.optimizers._adam import adam
from gradtx.wrappers._mechanic import scale_by_mechanic

__all__ = ["mechanize"]

_MECHANIC_EXAMPLE = {"base_optimizer": adam(1.0), "s_init": 1e-3}  # 1e-6 steps vanish in bf16


@optimizer(
    hyperparams={"base_optimizer": hp.TRANSFORM, "s_init": hp.POSITIVE, "num_betas": hp.count(1)},
    example=_MECHANIC_EXAMPLE,
    optax="`optax.contrib.mechanize`",
    pytorch="—",
)
def mechanize(
    base_optimizer: GradientTransformation,
    weight_decay: ScalarOrSchedule = 1e-2,
    eps: ScalarOrSchedule = 1e-8,
    s_init: ScalarOrSchedule = 1e-6,
    num_betas: int = 6,
) -> GradientTransformation:
    r"""Mechanic: learn the scale of a base optimizer's updates by coin betting.

    $$x_{t+1} = x_0 + S_{t+1}\sum_{k \le t} u^\text{base}_k,\qquad
    S_{t+1} = \sum_\beta s^{(\beta)}_{t+1}$$

    where $s^{(\beta)}$ bets on $h_t = \langle g_t, \sum_k u^\text{base}_k\rangle$ (with a
    decay $\lambda$), $\beta = 1 - 10^{-k}$, $k = 1..n$: it is
    :func:`gradtx.scale_by_mechanic`, which gives the full rule.

    Args:
      base_optimizer: the optimizer to tune (fixed at construction), with its learning rate
        at 1.0 (or a schedule peaking at 1.0), e.g. ``gradtx.adam(1.0)``.
      weight_decay: $\lambda \ge 0$, on Mechanic's own gradient only.
      eps: $\epsilon \ge 0$.
      s_init: $s_\text{init} > 0$, the initial scale.
      num_betas: $n \ge 1$ (fixed at construction).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters (and the base's).

    References:
      Cutkosky, Defazio & Mehta, "Mechanic: A Learning Rate Tuner", NeurIPS 2023,
      arXiv:2306.00144.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.mechanize(gradtx.sgd(1.0))
      >>> sorted(gradtx.get_hyperparams(tx.init(jnp.ones(2))))
      ['eps', 'learning_rate', 's_init', 'weight_decay']
    """
    return scale_by_mechanic(base_optimizer, weight_decay, eps, s_init, num_betas)
