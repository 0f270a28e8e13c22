"""Loss-driven control and gradient-free baselines.

Methods that watch the loss itself, which they read through ``update``'s ``value`` and
``value_fn`` keywords: the bold driver grows the learning rate after a step that lowered the
loss and shrinks it (and undoes the step) after one that raised it. Random search and SPSA
use loss values only, no gradient: baselines that show what the gradient buys.
Reduce-on-plateau, which lowers the learning rate when the loss stops improving, is a
transform to chain after any optimizer (:func:`gradtx.reduce_on_plateau`), not an alias.
"""

from __future__ import annotations

import jax.numpy as jnp

from gradtx import _hyper as hp
from gradtx._base import GradientTransformation, KeyLike, ScalarOrSchedule, chain
from gradtx._registry import optimizer
from gradtx.transforms._gradient_free import random_search_step, spsa_gradient
from gradtx.transforms._loss_driven import scale_by_bold_driver
from gradtx.transforms._scaling import scale_by_learning_rate

__all__ = ["bold_driver", "random_search", "spsa"]


@optimizer(
    hyperparams={
        "increase": hp.live(1.0),
        "decrease": hp.live(0.0, 1.0, low_open=True),
        "tolerance": hp.NONNEGATIVE,
    },
    example={"learning_rate": 0.3, "tolerance": 1.0},
    needs_value=True,
    optax="—",
    pytorch="—",
)
def bold_driver(
    learning_rate: ScalarOrSchedule,
    increase: ScalarOrSchedule = 1.05,
    decrease: ScalarOrSchedule = 0.5,
    tolerance: ScalarOrSchedule = 0.0,
    momentum: ScalarOrSchedule | None = 0.0,
) -> GradientTransformation:
    r"""Bold driver: descent whose rate grows while the loss falls and halves when it rises.

    $$u_t = \begin{cases} -u_{t-1},\ s_t = \beta_- s_{t-1} & f(w_t) > f(w_{t-1}) +
    \xi\,|f(w_{t-1})| \\ -\eta_t s_t\, g_t + \mu\, u_{t-1} & \text{otherwise, with }
    s_t = \beta_+ s_{t-1} \text{ if } f(w_t) < f(w_{t-1})\end{cases}$$

    with $\eta_t$ = ``learning_rate``, $\beta_+$ = ``increase``, $\beta_-$ = ``decrease``,
    $\xi$ = ``tolerance``, $\mu$ = ``momentum`` and $f(w_t)$ the
    ``value`` keyword of ``update``, the loss at the current parameters. The rate in use
    is $\eta_t s_t$; $s_t$ starts at 1. A step that raised the loss is undone and retried
    from the previous point with the smaller rate and without momentum (Vogl et al.).
    It is ``chain(scale_by_learning_rate(lr), scale_by_bold_driver(increase, decrease,
    tolerance, momentum))``. Mini-batch losses differ from batch to batch: give it a
    ``tolerance`` of the order of their spread, or full-batch losses. Optax has no
    counterpart.

    Args:
      learning_rate: $\eta \ge 0$, the initial rate; a constant or a schedule.
      increase: $\beta_+ \ge 1$.
      decrease: $\beta_- \in (0, 1]$.
      tolerance: $\xi \ge 0$.
      momentum: $\mu \in [0, 1)$.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters; its ``update``
      needs ``value``.

    References:
      Vogl, Mangis, Rigler, Zink & Alkon, "Accelerating the convergence of the
      back-propagation method", Biological Cybernetics 59, 1988; Battiti, "Accelerated
      backpropagation learning: two optimization methods", Complex Systems 3, 1989.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from gradtx import bold_driver
      >>> f = lambda w: jnp.sum(w**2)
      >>> tx, w = bold_driver(0.01), jnp.ones(2)
      >>> s = tx.init(w)
      >>> for _ in range(100):
      ...     value, g = jax.value_and_grad(f)(w)
      ...     u, s = tx.update(g, s, w, value=value)
      ...     w = w + u
      >>> bool(f(w) < 1e-6)
      True
    """
    return chain(
        scale_by_learning_rate(learning_rate),
        scale_by_bold_driver(increase, decrease, tolerance, momentum),
    )


@optimizer(
    hyperparams={
        "increase": hp.live(1.0),
        "target_rate": hp.live(0.0, 1.0, low_open=True, high_open=True),
    },
    example={"learning_rate": 0.03},
    needs_value=True,
    optax="—",
    pytorch="—",
)
def random_search(
    learning_rate: ScalarOrSchedule,
    increase: ScalarOrSchedule = 1.4,
    target_rate: ScalarOrSchedule = 0.2,
    key: KeyLike = None,
) -> GradientTransformation:
    r"""Local random search: keep a Gaussian perturbation of the weights if the loss falls.

    $$u_t = \begin{cases}\sigma_t z_t & f(w_t + \sigma_t z_t) < f(w_t)\\ 0 &
    \text{otherwise}\end{cases},\quad z_t \sim \mathcal N(0, I),\quad \sigma_t = \eta_t s_t,
    \quad s_{t+1} = s_t\,\beta^{([\text{kept}] - p)/(1-p)}$$

    so $s$ grows by $\beta$ after a kept step and shrinks by $\beta^{-p/(1-p)}$ otherwise
    (the 1/5th success rule for $p = 1/5$), with $\eta_t$ = ``learning_rate``, $\beta$ =
    ``increase``, $p$ = ``target_rate``, $f$ the ``value_fn`` keyword of ``update`` and
    $f(w_t)$ its ``value``. One loss evaluation per step and no gradient (the gradient
    passed in is ignored): a baseline that shows what gradients buy. On a quadratic in
    $n$ dimensions it needs $O(n)$ evaluations to do what one gradient step does. It is
    :func:`gradtx.random_search_step`. Optax has no counterpart.

    Args:
      learning_rate: $\eta \ge 0$, the initial standard deviation of the steps; a constant
        or a schedule.
      increase: $\beta \ge 1$.
      target_rate: $p \in (0, 1)$.
      key: an int seed or a JAX random key (fixed at construction); ``None`` means 0.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters; its ``update``
      needs ``params`` and ``value_fn``.

    References:
      Schumer & Steiglitz, "Adaptive step size random search", IEEE Transactions on
      Automatic Control 13(3), 1968; Rechenberg, "Evolutionsstrategie", 1973.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import random_search
      >>> f = lambda w: jnp.sum((w - 1.0) ** 2)
      >>> tx, w = random_search(0.3, key=0), jnp.zeros(2)
      >>> s = tx.init(w)
      >>> for _ in range(200):
      ...     u, s = tx.update(jnp.zeros(2), s, w, value=f(w), value_fn=f)
      ...     w = w + u
      >>> bool(f(w) < 1e-4)
      True
    """
    return random_search_step(learning_rate, increase, target_rate, key)


@optimizer(
    hyperparams={
        "perturbation": hp.POSITIVE,
        "stability": hp.NONNEGATIVE,
        "alpha": hp.NONNEGATIVE,
        "gamma": hp.NONNEGATIVE,
    },
    example={"learning_rate": 0.3},
    needs_value=True,
    optax="—",
    pytorch="—",
)
def spsa(
    learning_rate: ScalarOrSchedule,
    perturbation: ScalarOrSchedule = 0.01,
    stability: ScalarOrSchedule = 0.0,
    alpha: ScalarOrSchedule = 0.602,
    gamma: ScalarOrSchedule = 0.101,
    key: KeyLike = None,
) -> GradientTransformation:
    r"""SPSA: descent along Spall's two-evaluation estimate of the gradient.

    $$w_{k+1} = w_k - a_k \hat g_k,\quad
    \hat g_k = \frac{f(w_k + c_k\Delta_k) - f(w_k - c_k\Delta_k)}{2c_k}\,\Delta_k^{-1},\quad
    a_k = \frac{a}{(k+1+A)^\alpha},\quad c_k = \frac{c}{(k+1)^\gamma}$$

    with $\Delta_k$ Rademacher, $a$ = ``learning_rate``, $c$ = ``perturbation``, $A$ =
    ``stability``, $\alpha$ = ``alpha``, $\gamma$ = ``gamma`` (Spall's practical 0.602 and
    0.101), $k = 0, 1, \dots$ and $f$ the ``value_fn`` keyword of ``update``. Two loss
    evaluations per step and no gradient. Spall suggests $A$ about a tenth of the
    iterations and $a$ such that the first steps have the size wanted. It is
    ``chain(spsa_gradient(c, gamma, key), scale_by_learning_rate(a_k))``. Optax has no
    counterpart.

    Args:
      learning_rate: $a \ge 0$, a constant or a schedule.
      perturbation: $c > 0$.
      stability: $A \ge 0$.
      alpha: $\alpha \ge 0$, the decay exponent of the gain.
      gamma: $\gamma \ge 0$, the decay exponent of the perturbation.
      key: an int seed or a JAX random key (fixed at construction); ``None`` means 0.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters; its ``update``
      needs ``params`` and ``value_fn``.

    References:
      Spall, "Multivariate stochastic approximation using a simultaneous perturbation
      gradient approximation", IEEE Transactions on Automatic Control 37(3), 1992; Spall,
      "Implementation of the simultaneous perturbation algorithm for stochastic
      optimization", IEEE Transactions on Aerospace and Electronic Systems 34(3), 1998.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import spsa
      >>> f = lambda w: jnp.sum((w - 1.0) ** 2)
      >>> tx, w = spsa(0.3, key=0), jnp.zeros(2)
      >>> s = tx.init(w)
      >>> for _ in range(200):
      ...     u, s = tx.update(jnp.zeros(2), s, w, value_fn=f)
      ...     w = w + u
      >>> bool(f(w) < 1e-4)
      True
    """

    def gain(count):
        return learning_rate / (jnp.asarray(count) + 1 + stability) ** alpha

    return chain(spsa_gradient(perturbation, gamma, key), scale_by_learning_rate(gain))
