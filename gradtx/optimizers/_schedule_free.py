"""Schedule-free methods.

Schedule-free SGD and AdamW replace the learning-rate decay by an average of the iterates:
the gradient is taken at an interpolation between the base optimizer's iterate and the
average, and the average is the point to evaluate, read with
:func:`gradtx.schedule_free_eval_params`. Both are the wrapper :func:`gradtx.schedule_free`
around a base optimizer without momentum.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from gradtx import _hyper as hp
from gradtx._base import DTypeLike, GradientTransformation, ScalarOrSchedule, chain
from gradtx._registry import optimizer
from gradtx.transforms._adaptive import scale_by_rms
from gradtx.transforms._decay import add_decayed_weights
from gradtx.transforms._scaling import scale_by_learning_rate
from gradtx.wrappers._schedule_free import schedule_free

__all__ = ["schedule_free_adamw", "schedule_free_sgd"]


def _warmed_up(learning_rate: Any, warmup_steps: int | None) -> Any:
    """$\\eta \\min(1, (t+1)/T)$ at step $t = 0, 1, \\dots$ (the authors' linear warm-up)."""
    if not warmup_steps:
        return learning_rate
    lr = jnp.asarray(learning_rate)
    return lambda count: lr * jnp.minimum(1, (count + 1).astype(lr.dtype) / warmup_steps)


@optimizer(
    hyperparams={
        "weight_decay": hp.live(0.0, optional=True),
        "warmup_steps": hp.count(0, optional=True),
        "b1": hp.live(0.0, 1.0, low_open=True, high_open=True),
        "weight_lr_power": hp.NONNEGATIVE,
    },
    example={"learning_rate": 0.1},
    optax="`optax.contrib.schedule_free_sgd`",
    pytorch="—",
)
def schedule_free_sgd(
    learning_rate: ScalarOrSchedule = 1.0,
    warmup_steps: int | None = None,
    b1: ScalarOrSchedule = 0.9,
    weight_decay: ScalarOrSchedule | None = None,
    weight_lr_power: ScalarOrSchedule = 2.0,
    state_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Schedule-free SGD: SGD on $z$, evaluated at an interpolation with its average.

    With $d_t = g_t + \lambda y_t$ ($\lambda$ = ``weight_decay``):
    $$z_{t+1} = z_t - \eta_t d_t,\quad
    x_{t+1} = (1-c_{t+1}) x_t + c_{t+1} z_{t+1},\quad
    y_{t+1} = \beta_1 x_{t+1} + (1-\beta_1) z_{t+1},\quad
    c_{t+1} = \frac{\bar\eta_t^{\,p}}{\sum_{k\le t} \bar\eta_k^{\,p}}$$

    with the gradient at $y_t$, $y$ the parameters handed back and $x$ the point to evaluate,
    ``schedule_free_eval_params(state, params)``; $\bar\eta_t = \max_{k\le t}\eta_k$ and
    $\eta_t = \eta\min(1, (t+1)/T)$, $T$ = ``warmup_steps``. It is ``schedule_free(chain(
    [add_decayed_weights(wd)], scale_by_learning_rate(lr)), lr, b1, weight_lr_power)``.
    **Difference from Optax:** the authors' warm-up (Optax 0.2.8's first step is zero; see
    :func:`gradtx.schedule_free`).

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      warmup_steps: $T$, the length of the linear warm-up (``None`` or 0: none).
      b1: $\beta_1 \in (0, 1)$.
      weight_decay: $\lambda \ge 0$ at $y$, or ``None``.
      weight_lr_power: $p \ge 0$.
      state_dtype: dtype of $z$ (default: the parameters').

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky, "The Road Less Scheduled",
      NeurIPS 2024, arXiv:2405.15682.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx, p = gradtx.schedule_free_sgd(0.1), jnp.ones(1)
      >>> round(float(tx.update(jnp.array([2.0]), tx.init(p), p)[0][0]), 6)  # -0.1 * 2
      -0.2
    """
    lr = _warmed_up(learning_rate, warmup_steps)
    decay = [] if weight_decay is None else [add_decayed_weights(weight_decay)]
    base = chain(*decay, scale_by_learning_rate(lr))
    return schedule_free(base, lr, b1, weight_lr_power, state_dtype)


@optimizer(
    hyperparams={
        "warmup_steps": hp.count(0, optional=True),
        "b1": hp.live(0.0, 1.0, low_open=True, high_open=True),
        "weight_lr_power": hp.NONNEGATIVE,
    },
    example={"learning_rate": 0.05},
    optax="`optax.contrib.schedule_free_adamw`",
    pytorch="—",
)
def schedule_free_adamw(
    learning_rate: ScalarOrSchedule = 0.0025,
    warmup_steps: int | None = None,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_lr_power: ScalarOrSchedule = 2.0,
    state_dtype: DTypeLike | None = None,
    *,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Schedule-free AdamW: momentum-free AdamW on $z$, evaluated at an interpolation.

    $$d_t = \frac{g_t}{\sqrt{\nu_t/(1-\beta_2^t)} + \epsilon} + \lambda y_t,\qquad
    \nu_t = \beta_2\nu_{t-1} + (1-\beta_2) g_t^2$$

    and $z$, $x$, $y$ as in ``schedule_free_sgd`` (with its warm-up): ``schedule_free(chain(
    scale_by_rms(b2, eps, eps_in_sqrt=False, bias_correction=True), add_decayed_weights(wd),
    scale_by_learning_rate(lr)), lr, b1, weight_lr_power)``.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      warmup_steps: $T$, the length of the linear warm-up (``None`` or 0: none).
      b1: $\beta_1 \in (0, 1)$.
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$, outside the root.
      weight_decay: $\lambda \ge 0$, at $y$.
      weight_lr_power: $p \ge 0$.
      state_dtype: dtype of $z$ (default: the parameters').
      nu_dtype: dtype of $\nu$ (default: the parameters'), as in :func:`gradtx.adam`.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Defazio et al., "The Road Less Scheduled", NeurIPS 2024, arXiv:2405.15682.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx, p = gradtx.schedule_free_adamw(0.1), jnp.ones(1)
      >>> round(float(tx.update(jnp.array([2.0]), tx.init(p), p)[0][0]), 6)
      -0.1
    """
    lr = _warmed_up(learning_rate, warmup_steps)
    base = chain(
        scale_by_rms(b2, eps, eps_in_sqrt=False, bias_correction=True, accumulator_dtype=nu_dtype),
        add_decayed_weights(weight_decay),
        scale_by_learning_rate(lr),
    )
    return schedule_free(base, lr, b1, weight_lr_power, state_dtype)
