r"""Factored second moments.

Adaptive methods whose second-moment statistics take less memory than the parameters:
Adafactor keeps a row and a column average of $g^2$ for each matrix and rebuilds the rest as
their outer product (:func:`gradtx.scale_by_factored_rms`), so an $n \times m$ matrix costs
$n + m$ numbers instead of $nm$; SM3 keeps one accumulator per row and per column (per slice
of each axis) and takes the minimum cover (:func:`gradtx.scale_by_cover_rss`). The rest of
each chain is the library's usual members; the *state / param* column shows the saving.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gradtx import _hyper as hp
from gradtx._base import DTypeLike, GradientTransformation, MaskOrFn, ScalarOrSchedule, chain
from gradtx._registry import optimizer
from gradtx.transforms._decay import add_decayed_weights
from gradtx.transforms._factored import (
    scale_by_cover_rss,
    scale_by_factored_rms,
    scale_by_param_block_rms,
)
from gradtx.transforms._momentum import ema
from gradtx.transforms._scaling import scale, scale_by_learning_rate
from gradtx.wrappers import clip_by_block_rms

__all__ = ["adafactor", "sm3"]

_FLOAT32 = jnp.dtype("float32")


def relative_step_size(count: jax.Array) -> jax.Array:
    r"""Adafactor's default step size $\rho_t = \min(10^{-2}, 1/\sqrt t)$, ``count`` = $t - 1$."""
    return jnp.minimum(1e-2, jax.lax.rsqrt(jnp.asarray(count, float) + 1))


@optimizer(
    hyperparams={
        "learning_rate": hp.live(0.0, optional=True),
        "min_dim_size_to_factor": hp.count(1),
        "decay_rate": hp.NONNEGATIVE,
        "decay_offset": hp.count(0),
        "multiply_by_parameter_scale": hp.FLAG,
        "clipping_threshold": hp.live(0.0, low_open=True, optional=True),
        "weight_decay_rate": hp.live(0.0, optional=True),
        "factored": hp.FLAG,
    },
    example={"learning_rate": 0.01},
    optax="`optax.adafactor`",
    pytorch="`Adafactor` (other defaults)",
)
def adafactor(
    learning_rate: ScalarOrSchedule | None = None,
    min_dim_size_to_factor: int = 128,
    decay_rate: ScalarOrSchedule = 0.8,
    decay_offset: int = 0,
    multiply_by_parameter_scale: bool = True,
    clipping_threshold: ScalarOrSchedule | None = 1.0,
    momentum: ScalarOrSchedule | None = None,
    dtype_momentum: DTypeLike | None = _FLOAT32,
    weight_decay_rate: ScalarOrSchedule | None = None,
    eps: ScalarOrSchedule = 1e-30,
    factored: bool = True,
    weight_decay_mask: MaskOrFn = None,
    *,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Adafactor: factored second moments, update clipping and a step relative to the weights.

    $$\hat u_t = \frac{g_t}{\sqrt{\hat V_t}},\qquad
    \tilde u_t = \frac{\hat u_t}{\max(1, \mathrm{rms}(\hat u_t)/d)},\qquad
    w_{t+1} = w_t - \big(\rho_t \max(\epsilon_2, \mathrm{rms}(w_t))\,\tilde u_t
    + \lambda w_t\big)$$

    per leaf, where $\hat V_t$ is the factored second moment of
    :func:`gradtx.scale_by_factored_rms` (decay $1 - t^{-c}$),
    $d$ = ``clipping_threshold`` (no clipping when ``None``), $\rho_t$ = ``learning_rate``,
    $\epsilon_2 = 10^{-3}$ (the factor is 1 without ``multiply_by_parameter_scale``),
    $\lambda$ = ``weight_decay_rate``; with ``momentum`` $\tilde u_t$ is first averaged
    ($v_t = \mu v_{t-1} + (1-\mu)\tilde u_t$, in ``dtype_momentum``). The chain is
    ``scale_by_factored_rms``, ``clip_by_block_rms``, ``scale_by_learning_rate(flip_sign=
    False)``, ``scale_by_param_block_rms``, ``ema``, ``add_decayed_weights``, ``scale(-1)``,
    as in Optax.
    **Difference from Optax:** ``learning_rate=None`` (the default) is the paper's relative
    step size $\rho_t = \min(10^{-2}, 1/\sqrt t)$; Optax 0.2.8 then uses $\rho_t = 1$, a step
    of the size of the weights themselves.

    Args:
      learning_rate: $\rho_t \ge 0$, a constant or a schedule, or ``None`` for
        $\min(10^{-2}, 1/\sqrt t)$. With ``multiply_by_parameter_scale`` it is relative.
      min_dim_size_to_factor: factor a leaf when its second largest dimension is at least
        this (fixed).
      decay_rate: $c$, the exponent of the second-moment decay $1 - t^{-c}$.
      decay_offset: subtracted from the step in that decay (fixed; for fine-tuning).
      multiply_by_parameter_scale: scale each leaf's step by $\max(10^{-3}, \mathrm{rms}(w))$.
      clipping_threshold: $d \ge 1$ or ``None``.
      momentum: $\mu \in [0, 1)$ or ``None`` (no first moment: the memory saving).
      dtype_momentum: dtype of the first moment (fixed). Give a dtype object or name
        (``jnp.dtype("bfloat16")``, ``"bfloat16"``): a scalar type such as ``jnp.bfloat16``
        is callable, and the live-hyperparameter machinery rejects it as a schedule.
      weight_decay_rate: $\lambda \ge 0$ or ``None``; not multiplied by the step size.
      eps: $\epsilon_1 \ge 0$, added to $g^2$.
      factored: factor the second moments of matrices.
      weight_decay_mask: which leaves to decay (see :func:`gradtx.add_decayed_weights`).
      nu_dtype: dtype of the stored second moments, the factored row and column statistics
        (``v_row``, ``v_col``) and the unfactored ones (``v``) alike (default: the
        parameter's). With ``dtype_momentum`` (Optax's name and default, float32) it sets
        every moment's dtype; the arithmetic is in at least float32.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Shazeer & Stern, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost",
      ICML 2018, arXiv:1804.04235.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import adafactor
      >>> tx = adafactor()                              # rho_1 = 0.01, rms(w) = 2
      >>> w = jnp.array([2.0, -2.0])
      >>> [round(x, 4) for x in tx.update(jnp.array([0.1, 5.0]), tx.init(w), w)[0].tolist()]
      [-0.02, -0.02]
    """
    members = [
        scale_by_factored_rms(
            factored,
            decay_rate,
            decay_offset,
            min_dim_size_to_factor,
            eps,
            accumulator_dtype=nu_dtype,
        )
    ]
    if clipping_threshold is not None:
        members.append(clip_by_block_rms(clipping_threshold))
    rate = relative_step_size if learning_rate is None else learning_rate
    members.append(scale_by_learning_rate(rate, flip_sign=False))
    if multiply_by_parameter_scale:
        members.append(scale_by_param_block_rms())
    if momentum is not None:
        members.append(ema(momentum, debias=False, accumulator_dtype=dtype_momentum))
    if weight_decay_rate is not None:
        members.append(add_decayed_weights(weight_decay_rate, weight_decay_mask))
    members.append(scale(-1.0))
    return chain(*members)


@optimizer(
    example={"learning_rate": 0.1},
    optax="`optax.sm3`",
    pytorch="—",
)
def sm3(
    learning_rate: ScalarOrSchedule,
    momentum: ScalarOrSchedule | None = 0.9,
    *,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""SM3: AdaGrad with one accumulator per row and column (per slice of each axis).

    $$\nu_t(i) = g_t(i)^2 + \min_{r \ni i}\mu_{t-1}(r),\quad
    \mu_t(r) = \max_{j \in r}\nu_t(j),\quad
    v_t = \beta v_{t-1} + (1-\beta)\frac{g_t}{\sqrt{\nu_t}},\quad w_{t+1} = w_t - \eta_t v_t$$

    ($0/0 = 0$), with $\beta$ = ``momentum``. Leaves of rank $\le 1$ have one accumulator
    per entry (AdaGrad). It is ``chain(scale_by_cover_rss(), ema(momentum, debias=False),
    scale_by_learning_rate(learning_rate))``.
    **Difference from Optax:** 0-d leaves are trained as AdaGrad (Optax 0.2.8's ``sm3``
    raises ``IndexError`` on them), complex leaves are accepted, and the learning rate may
    be a schedule.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      momentum: $\beta \in [0, 1)$.
      mu_dtype: dtype of the stored momentum $v$ (default: the parameter's).
      nu_dtype: dtype of the stored accumulators $\mu$ (default: the parameter's); they are
        sums, see :func:`gradtx.scale_by_cover_rss` for when bfloat16 is safe.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Anil, Gupta, Koren & Singer, "Memory-Efficient Adaptive Optimization", NeurIPS 2019,
      arXiv:1901.11150.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import sm3
      >>> tx = sm3(1.0, momentum=0.0)
      >>> g = jnp.array([[3.0, 0.0], [0.0, -4.0]])
      >>> [round(x, 4) + 0.0 for x in tx.update(g, tx.init(g))[0].ravel().tolist()]
      [-1.0, 0.0, 0.0, 1.0]
    """
    return chain(
        scale_by_cover_rss(accumulator_dtype=nu_dtype),
        ema(momentum, debias=False, accumulator_dtype=mu_dtype),
        scale_by_learning_rate(learning_rate),
    )
