"""Parameter-free methods.

COCOB, DoG and DoWG set their own step size: COCOB bets on each coordinate like a gambler on
coins (:func:`gradtx.scale_by_cocob`); DoG and DoWG divide the largest distance from the
initial point by the root of the summed squared gradient norms (:func:`gradtx.scale_by_dog`,
:func:`gradtx.scale_by_dowg`). Their ``learning_rate`` multiplies the step they find (1 is
the method as published).
"""

from __future__ import annotations

from typing import Any

from gradtx import _hyper as hp
from gradtx._base import GradientTransformation, MaskOrFn, ScalarOrSchedule, chain
from gradtx._registry import optimizer
from gradtx.transforms._decay import add_decayed_weights
from gradtx.transforms._parameter_free import scale_by_cocob, scale_by_dog, scale_by_dowg
from gradtx.transforms._scaling import scale_by_learning_rate

__all__ = ["cocob", "dog", "dowg"]


@optimizer(
    hyperparams={
        "alpha": hp.POSITIVE,
        "eps": hp.fixed(0.0, low_open=True),
    },
    example={"learning_rate": 1.0},
    optax="`optax.contrib.cocob`",
    pytorch="—",
)
def cocob(
    learning_rate: ScalarOrSchedule = 1.0,
    alpha: ScalarOrSchedule = 100.0,
    eps: float = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    r"""COCOB-Backprop: a coin-betting optimizer without a learning rate.

    $$x_{t+1} = x_0 - \frac{\sum_{k\le t} g_k}{L_t \max(G_t + L_t, \alpha L_t)}\,(L_t + R_t)$$

    per coordinate, with $g_k$ the gradient times $\eta_k$ plus $\lambda x_k$, $L_t$ the
    largest $|g_k|$, $G_t = \sum |g_k|$ and $R_t$ the reward (see
    :func:`gradtx.scale_by_cocob`). It is
    ``chain(add_decayed_weights(wd, mask), scale_by_learning_rate(lr, flip_sign=False),
    scale_by_cocob(alpha, eps))``, as in Optax.

    Args:
      learning_rate: $\eta_t \ge 0$, a multiplier of the gradients, or a schedule.
      alpha: $\alpha > 0$.
      eps: $\epsilon > 0$, the initial $L$ (fixed at construction).
      weight_decay: $\lambda \ge 0$ (L2, in the gradient).
      mask: which leaves to decay (see :func:`gradtx.add_decayed_weights`).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Orabona & Tommasi, "Training Deep Networks without Learning Rates Through Coin
      Betting", NeurIPS 2017, arXiv:1705.07795.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx, p = gradtx.cocob(), jnp.zeros(1)
      >>> round(float(tx.update(jnp.array([2.0]), tx.init(p), p)[0][0]), 6)
      -0.01
    """
    lr = scale_by_learning_rate(learning_rate, flip_sign=False)
    return chain(add_decayed_weights(weight_decay, mask), lr, scale_by_cocob(alpha, eps))


@optimizer(
    hyperparams={
        "init_step": hp.structural(allowed="a (tag, value) pair"),
        "weight_decay": hp.live(0.0, optional=True),
    },
    example={"learning_rate": 1.0, "init_step": ("heuristic", 1e-3)},
    optax="`optax.contrib.dog`",
    pytorch="—",
)
def dog(
    learning_rate: ScalarOrSchedule = 1.0,
    init_step: tuple[str, Any] = ("heuristic", 1e-6),
    eps: ScalarOrSchedule = 1e-8,
    weight_decay: ScalarOrSchedule | None = None,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    r"""DoG: SGD whose step is the largest distance travelled over the root of $\sum\|g\|^2$.

    $$x_{t+1} = x_t - \eta_t\,\frac{\max_{k\le t}\lVert x_k - x_0\rVert \vee r_\epsilon}
    {\sqrt{\sum_{k\le t}\lVert g_k\rVert^2 + \epsilon}}\, g_t$$

    with $\lambda x$ in $g$ if ``weight_decay`` is set: ``chain([add_decayed_weights(wd,
    mask)], scale_by_dog(init_step, eps), lr)``, see
    :func:`gradtx.scale_by_dog` for ``init_step``.

    Args:
      learning_rate: $\eta_t \ge 0$, a multiplier, or a schedule.
      init_step: ``(tag, value)`` setting $r_\epsilon$ or the first step (fixed).
      eps: $\epsilon \ge 0$.
      weight_decay: $\lambda \ge 0$ or ``None``.
      mask: which leaves to decay (see :func:`gradtx.add_decayed_weights`).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Ivgi, Hinder & Carmon, "DoG is SGD's Best Friend: A Parameter-Free Dynamic Step Size
      Schedule", ICML 2023, arXiv:2302.12022.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx, p = gradtx.dog(init_step=("learning_rate", 0.1)), jnp.zeros(1)
      >>> round(float(tx.update(jnp.array([2.0]), tx.init(p), p)[0][0]), 6)
      -0.2
    """
    decay = [] if weight_decay is None else [add_decayed_weights(weight_decay, mask)]
    return chain(*decay, scale_by_dog(init_step, eps), scale_by_learning_rate(learning_rate))


@optimizer(
    hyperparams={
        "init_estim_sq_dist": hp.fixed(0.0, low_open=True, optional=True),
        "eps": hp.NONNEGATIVE,
        "weight_decay": hp.live(0.0, optional=True),
    },
    joint=hp.positive_unless("eps", "init_estim_sq_dist"),
    example={"learning_rate": 1.0},
    optax="`optax.contrib.dowg`",
    pytorch="—",
)
def dowg(
    learning_rate: ScalarOrSchedule = 1.0,
    init_estim_sq_dist: float | None = None,
    eps: ScalarOrSchedule = 1e-4,
    weight_decay: ScalarOrSchedule | None = None,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    r"""DoWG: DoG with the squared gradient norms weighted by the squared distance.

    $$\bar r_t^2 = \max_{k\le t}\lVert x_k - x_0\rVert^2,\qquad
    x_{t+1} = x_t - \eta_t\,\frac{\bar r_t^2}
    {\sqrt{\sum_{k\le t}\bar r_k^2\lVert g_k\rVert^2} + \epsilon}\, g_t$$

    It is ``chain([add_decayed_weights(wd, mask)], scale_by_dowg(init_estim_sq_dist, eps),
    lr)``; see :func:`gradtx.scale_by_dowg`.

    Args:
      learning_rate: $\eta_t \ge 0$, a multiplier, or a schedule.
      init_estim_sq_dist: $\bar r_0^2 > 0$, or ``None`` for $\epsilon$ (fixed).
      eps: $\epsilon \ge 0$.
      weight_decay: $\lambda \ge 0$ or ``None``.
      mask: which leaves to decay (see :func:`gradtx.add_decayed_weights`).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Khaled, Mishchenko & Jin, "DoWG Unleashed: An Efficient Universal Parameter-Free
      Gradient Descent Method", NeurIPS 2023, arXiv:2305.16284.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx, p = gradtx.dowg(init_estim_sq_dist=1.0, eps=0.0), jnp.zeros(1)
      >>> round(float(tx.update(jnp.array([2.0]), tx.init(p), p)[0][0]), 6)  # -1/2 * 2
      -1.0
    """
    decay = [] if weight_decay is None else [add_decayed_weights(weight_decay, mask)]
    lr = scale_by_learning_rate(learning_rate)
    return chain(*decay, scale_by_dowg(init_estim_sq_dist, eps), lr)
