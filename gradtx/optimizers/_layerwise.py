r"""Layer-wise (trust-ratio) methods.

A step per *layer* (per parameter leaf) from norms of that layer. LARS (for SGD) and LAMB
(for Adam) rescale the update by the trust ratio $\|w\| / \|u\|$
(:func:`gradtx.scale_by_trust_ratio`), so that every layer moves by about the same fraction
of itself, whatever the scale of its gradient; Fromage takes a step of relative size
$\eta$ per layer and then shrinks the weights so that their norm stays put; NovoGrad divides
each layer's gradient by the root of a running average of its squared *norm*, one scalar
per layer (:func:`gradtx.scale_by_layerwise_rms`).
"""

from __future__ import annotations

import jax.numpy as jnp

from gradtx import _hyper as hp
from gradtx._base import (
    DTypeLike,
    GradientTransformation,
    MaskOrFn,
    ScalarOrSchedule,
    chain,
    identity,
)
from gradtx._registry import optimizer
from gradtx.transforms._composite import scale_by_adam
from gradtx.transforms._decay import add_decayed_weights
from gradtx.transforms._layerwise import scale_by_layerwise_rms, scale_by_trust_ratio
from gradtx.transforms._momentum import trace
from gradtx.transforms._scaling import scale_by_learning_rate

__all__ = ["fromage", "lamb", "lars", "novograd"]


@optimizer(
    example={"learning_rate": 0.01},
    optax="`optax.lamb`",
    pytorch="—",
)
def lamb(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-6,
    eps_root: ScalarOrSchedule = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn = None,
    *,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""LAMB: AdamW's direction, rescaled per layer to the layer's weight norm.

    $$d_t = \frac{\hat m_t}{\sqrt{\hat\nu_t + \epsilon_\text{root}} + \epsilon}
    + \lambda w_t,\qquad
    w_{t+1} = w_t - \eta_t\,\frac{\lVert w_t\rVert}{\lVert d_t\rVert}\, d_t$$

    per leaf, with Adam's moments $\hat m_t$, $\hat\nu_t$ and the ratio 1 where a norm is
    zero. It is ``chain(scale_by_adam(b1, b2, eps, eps_root), add_decayed_weights(
    weight_decay, mask), scale_by_trust_ratio(), lr)``.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      b1: $\beta_1 \in [0, 1)$.
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$, outside the root.
      eps_root: $\epsilon_\text{root} \ge 0$, inside the root.
      weight_decay: $\lambda \ge 0$, a constant or a schedule.
      mask: which leaves to decay (see :func:`gradtx.add_decayed_weights`).
      mu_dtype, nu_dtype: the dtypes of Adam's moments, as in :func:`gradtx.adam`.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      You, Li, Reddi, Hseu, Kumar, Bhojanapalli, Song, Demmel, Keutzer & Hsieh, "Large
      Batch Optimization for Deep Learning: Training BERT in 76 minutes", ICLR 2020,
      arXiv:1904.00962.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import lamb
      >>> tx = lamb(0.1)
      >>> w = jnp.array([3.0, 4.0])                  # |w| = 5, Adam's |d| = sqrt(2)
      >>> [round(x, 4) for x in tx.update(jnp.array([1.0, -1.0]), tx.init(w), w)[0].tolist()]
      [-0.3536, 0.3536]
    """
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nu_dtype=nu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_trust_ratio(),
        scale_by_learning_rate(learning_rate),
    )


@optimizer(
    hyperparams={"trust_coefficient": hp.POSITIVE},
    example={"learning_rate": 0.1, "trust_coefficient": 0.03},
    optax="`optax.lars`",
    pytorch="—",
)
def lars(
    learning_rate: ScalarOrSchedule,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: MaskOrFn = True,
    trust_coefficient: ScalarOrSchedule = 0.001,
    eps: ScalarOrSchedule = 0.0,
    trust_ratio_mask: MaskOrFn = True,
    momentum: ScalarOrSchedule | None = 0.9,
    nesterov: bool = False,
    *,
    mu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""LARS: SGD with momentum whose per-layer step is a fixed fraction of the layer's norm.

    $$d_t = \frac{c\,\lVert w_t\rVert}{\lVert g_t + \lambda w_t\rVert + \epsilon}
    (g_t + \lambda w_t),\qquad v_t = \mu v_{t-1} + \eta_t d_t,\qquad w_{t+1} = w_t - v_t$$

    per leaf (ratio 1 where a norm is zero), with $c$ = ``trust_coefficient``, $\lambda$ =
    ``weight_decay``, $\mu$ = ``momentum`` ($v_t$ becomes $\eta_t d_t + \mu v_t$ with
    ``nesterov``). It is ``chain(add_decayed_weights(weight_decay, weight_decay_mask),
    scale_by_trust_ratio(trust_coefficient=c, eps=eps, mask=trust_ratio_mask), lr,
    trace(momentum, nesterov))``. Every layer moves by about $\eta c$ times its norm per
    step, so $\eta c$ (not $\eta$) is the step size to tune.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      weight_decay: $\lambda \ge 0$, a constant or a schedule.
      weight_decay_mask: which leaves to decay: ``True`` (all), ``False``, a tree of
        bools with the structure of the params, or a function of the params.
      trust_coefficient: $c > 0$.
      eps: $\epsilon \ge 0$.
      trust_ratio_mask: which leaves to rescale, in the same forms (biases and norms are
        often excluded).
      momentum: $\mu \in [0, 1)$.
      nesterov: Nesterov momentum.
      mu_dtype: dtype of the stored velocity $v$ (default: the parameter's); the arithmetic
        is in at least float32, rounded once on store.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      You, Gitman & Ginsburg, "Large Batch Training of Convolutional Networks", 2017,
      arXiv:1708.03888.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import lars
      >>> tx = lars(1.0, trust_coefficient=0.1)
      >>> w = jnp.array([3.0, 4.0])                    # a step of 0.1 * |w| = 0.5
      >>> [round(x, 4) for x in tx.update(jnp.array([0.0, 2.0]), tx.init(w), w)[0].tolist()]
      [0.0, -0.5]
    """
    if weight_decay_mask is True:
        decay = add_decayed_weights(weight_decay)
    elif weight_decay_mask is False:
        decay = identity()
    else:
        decay = add_decayed_weights(weight_decay, weight_decay_mask)
    return chain(
        decay,
        scale_by_trust_ratio(trust_coefficient=trust_coefficient, eps=eps, mask=trust_ratio_mask),
        scale_by_learning_rate(learning_rate),
        trace(momentum, nesterov, accumulator_dtype=mu_dtype),
    )


@optimizer(
    hyperparams={"min_norm": hp.NONNEGATIVE},
    example={"learning_rate": 0.01},
    optax="`optax.fromage`",
    pytorch="—",
)
def fromage(
    learning_rate: ScalarOrSchedule, min_norm: ScalarOrSchedule = 1e-6
) -> GradientTransformation:
    r"""Fromage: a step of relative size $\eta$ per layer, then a shrink that keeps norms fixed.

    $$w_{t+1} = \frac{1}{\sqrt{1+\eta_t^2}}
    \Big(w_t - \eta_t\,\frac{\max(\lVert w_t\rVert, m)}{\max(\lVert g_t\rVert, m)}\, g_t\Big)$$

    per leaf, with $m$ = ``min_norm``. The step is orthogonal-ish and of relative size
    $\eta$, and the factor $1/\sqrt{1+\eta^2}$ undoes the growth of the norm it causes.
    It is ``chain(scale_by_trust_ratio(min_norm), add_decayed_weights(\lambda_t),
    scale_by_learning_rate(\eta_t/\sqrt{1+\eta_t^2}))`` with
    $\lambda_t = \eta_t/(1+\sqrt{1+\eta_t^2})$, which is the formula above
    ($\eta\lambda/\sqrt{1+\eta^2} = 1 - 1/\sqrt{1+\eta^2}$). Optax writes the same update
    with a *negative* weight decay $1/\sqrt{1+\eta^2} - 1$ after the learning rate.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      min_norm: $m \ge 0$, a floor on both norms.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Bernstein, Vahdat, Yue & Liu, "On the distance between two neural networks and the
      stability of learning", NeurIPS 2020, arXiv:2002.03432.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import fromage
      >>> tx = fromage(0.75)                           # 1 / sqrt(1 + 0.75^2) = 0.8
      >>> w = jnp.array([3.0, 4.0])
      >>> u, _ = tx.update(jnp.array([-4.0, 3.0]), tx.init(w), w)
      >>> [round(x, 4) for x in (w + u).tolist()]     # 0.8 * (w + 0.75 * (4, -3))
      [4.8, 1.4]
    """
    root = jnp.sqrt(1 + jnp.square(jnp.asarray(learning_rate)))
    return chain(
        scale_by_trust_ratio(min_norm),
        add_decayed_weights(learning_rate / (1 + root)),
        scale_by_learning_rate(learning_rate / root),
    )


@optimizer(
    example={"learning_rate": 0.01},
    optax="`optax.novograd`",
    pytorch="—",
)
def novograd(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.25,
    eps: ScalarOrSchedule = 1e-6,
    eps_root: ScalarOrSchedule = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    *,
    mu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""NovoGrad: momentum on gradients normalized by a per-layer running norm.

    $$\nu_{\ell,t} = \beta_2\,\nu_{\ell,t-1} + (1-\beta_2)\lVert g_{\ell,t}\rVert^2
    \ (\nu_{\ell,1} = \lVert g_{\ell,1}\rVert^2),\qquad
    m_t = \beta_1 m_{t-1} + \frac{g_t}{\sqrt{\nu_t + \epsilon_\text{root}} + \epsilon}
    + \lambda w_t,\qquad w_{t+1} = w_t - \eta_t m_t$$

    per leaf $\ell$. It is ``chain(scale_by_layerwise_rms(b2, eps, eps_root),
    add_decayed_weights(weight_decay), trace(b1), lr)``: the momentum is a plain trace
    ($m_0 = 0$, so $m_1$ is the first normalized gradient, as in the paper).

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      b1: $\beta_1 \in [0, 1)$, the momentum.
      b2: $\beta_2 \in [0, 1)$, the decay of the per-layer second moment.
      eps: $\epsilon \ge 0$, outside the root.
      eps_root: $\epsilon_\text{root} \ge 0$, inside the root.
      weight_decay: $\lambda \ge 0$, a constant or a schedule.
      mu_dtype: dtype of the stored momentum $m$ (default: the parameter's; the per-layer
        $\nu$ is one number a leaf and stays as it is).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Ginsburg, Castonguay, Hrinchuk, Kuchaiev, Lavrukhin, Leary, Li, Nguyen, Zhang & Cohen,
      "Stochastic Gradient Methods with Layer-wise Adaptive Moments for Training of Deep
      Networks", 2019, arXiv:1905.11286.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import novograd
      >>> tx = novograd(0.1, eps=0.0)
      >>> p = jnp.zeros(2)
      >>> [round(x, 4) for x in tx.update(jnp.array([3.0, 4.0]), tx.init(p), p)[0].tolist()]
      [-0.06, -0.08]
    """
    return chain(
        scale_by_layerwise_rms(b2, eps, eps_root),
        add_decayed_weights(weight_decay),
        trace(b1, accumulator_dtype=mu_dtype),
        scale_by_learning_rate(learning_rate),
    )
