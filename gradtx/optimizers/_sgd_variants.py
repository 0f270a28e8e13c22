"""Variants of gradient descent.

Gradient descent with one more primitive in front of or behind the learning rate: annealed
Gaussian noise (:func:`gradtx.add_noise`, ``noisy_sgd``), Polyak's step size computed from
the loss value (:func:`gradtx.scale_by_polyak`, ``polyak_sgd``), an extrapolation with the
previous gradient (:func:`gradtx.scale_by_optimistic_gradient`,
``optimistic_gradient_descent``), or a decaying rate and a running average of the iterates
(:func:`gradtx.polyak_average`, ``asgd``, PyTorch's ``ASGD``).
"""

from __future__ import annotations

import jax.numpy as jnp

from gradtx import _hyper as hp
from gradtx._base import GradientTransformation, KeyLike, ScalarOrSchedule, chain
from gradtx._registry import optimizer
from gradtx.transforms._decay import add_decayed_weights
from gradtx.transforms._difference import scale_by_optimistic_gradient
from gradtx.transforms._noise import add_noise
from gradtx.transforms._scaling import scale_by_learning_rate
from gradtx.transforms._stepsize import scale_by_polyak
from gradtx.wrappers._averaging import polyak_average

__all__ = ["asgd", "noisy_sgd", "optimistic_gradient_descent", "polyak_sgd"]


@optimizer(
    hyperparams={"eta": hp.NONNEGATIVE, "gamma": hp.NONNEGATIVE, "seed": hp.KEY},
    example={"learning_rate": 0.5},
    optax="`optax.noisy_sgd`",
    pytorch="—",
)
def noisy_sgd(
    learning_rate: ScalarOrSchedule,
    eta: ScalarOrSchedule = 0.01,
    gamma: ScalarOrSchedule = 0.55,
    key: KeyLike = None,
    *,
    seed: KeyLike = None,
) -> GradientTransformation:
    r"""SGD with annealed Gaussian gradient noise.

    $$w_{t+1} = w_t - \eta_t\,(g_t + \sigma_t \xi_t),\qquad \xi_t \sim \mathcal N(0, I),
    \qquad \sigma_t^2 = \frac{\eta_\text{noise}}{t^{\gamma}}$$

    with $\eta_t$ = ``learning_rate``, $\eta_\text{noise}$ = ``eta`` and $\gamma$ =
    ``gamma``. It is ``chain(add_noise(eta, gamma, key), scale_by_learning_rate(lr))``;
    the same key gives the same noise as Optax.

    Args:
      learning_rate: $\eta_t \ge 0$, a constant or a schedule.
      eta: $\eta_\text{noise} \ge 0$, the initial variance of the noise.
      gamma: $\gamma \ge 0$, the decay exponent of the variance.
      key: an int seed or a JAX random key (fixed at construction); ``None`` means 0.
      seed: Optax's deprecated name for ``key``.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Neelakantan, Vilnis, Le, Sutskever, Kaiser, Kurach & Martens, "Adding Gradient Noise
      Improves Learning for Very Deep Networks", 2015, arXiv:1511.06807.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import noisy_sgd
      >>> tx = noisy_sgd(0.1, eta=0.0)
      >>> tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0].tolist()
      [-0.20000000298023224]
    """
    return chain(add_noise(eta, gamma, key, seed=seed), scale_by_learning_rate(learning_rate))


@optimizer(
    hyperparams={
        "max_learning_rate": hp.NONNEGATIVE,
        "scaling": hp.NONNEGATIVE,
        "f_min": hp.FINITE,
        "variant": hp.choice("sps", "sps+"),
    },
    example={"max_learning_rate": 1.0},
    needs_value=True,
    optax="`optax.polyak_sgd`",
    pytorch="—",
)
def polyak_sgd(
    max_learning_rate: ScalarOrSchedule = 1.0,
    scaling: ScalarOrSchedule = 1.0,
    f_min: ScalarOrSchedule = 0.0,
    eps: ScalarOrSchedule = 0.0,
    variant: str = "sps",
) -> GradientTransformation:
    r"""SGD with Polyak's step size: the step that would reach $f^\star$ on a linear model.

    $$w_{t+1} = w_t - s_t\,\min\Big(\frac{f(w_t) - f^\star}{\lVert g_t\rVert^2 + \epsilon},
    \ \gamma_{\max}\Big)\, g_t$$

    with $s_t$ = ``scaling``, $f^\star$ = ``f_min``, $\gamma_{\max}$ =
    ``max_learning_rate``, $\epsilon$ = ``eps``; ``variant="sps+"`` uses the positive part
    of $f(w_t) - f^\star$. ``update`` needs the loss: ``update(g, state, params,
    value=f(w))``. It is ``chain(scale_by_polyak(f_min, max_learning_rate, eps, variant),
    scale_by_learning_rate(scaling))``.
    **Difference from Optax:** Optax 0.2.8 applies ``scaling`` *before* the Polyak step, so
    its step is $s\min\big(\frac{f - f^\star}{s^2\lVert g\rVert^2 + \epsilon},
    \gamma_{\max}\big)$, not the formula its documentation gives (the one above). The two
    agree for the default $s = 1$.

    Args:
      max_learning_rate: $\gamma_{\max} \ge 0$.
      scaling: $s_t \ge 0$, a constant or a schedule.
      f_min: $f^\star$, a lower bound on the loss (0 for non-negative losses).
      eps: $\epsilon \ge 0$.
      variant: ``"sps"`` or ``"sps+"``.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters; its ``update``
      needs ``value``.

    References:
      Loizou, Vaswani, Laradji & Lacoste-Julien, "Stochastic Polyak Step-size for SGD: An
      Adaptive Learning Rate for Fast Convergence", AISTATS 2021, arXiv:2002.10542;
      Garrigos, Gower & Schaipp, "Function Value Learning: Adaptive Learning Rates Based on
      the Polyak Stepsize and Function Splitting in ERM", 2023, arXiv:2307.14528.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from gradtx import polyak_sgd
      >>> f = lambda w: jnp.sum(w**2)
      >>> w = jnp.array([1.0, 2.0, 3.0])
      >>> tx = polyak_sgd()
      >>> value, g = jax.value_and_grad(f)(w)          # 14 / |2w|^2 = 1/4
      >>> tx.update(g, tx.init(w), w, value=value)[0].tolist()
      [-0.5, -1.0, -1.5]
    """
    return chain(
        scale_by_polyak(f_min, max_learning_rate, eps, variant),
        scale_by_learning_rate(scaling),
    )


@optimizer(
    hyperparams={"alpha": hp.FINITE, "beta": hp.FINITE},
    example={"learning_rate": 0.1},
    optax="`optax.optimistic_gradient_descent`",
    pytorch="—",
)
def optimistic_gradient_descent(
    learning_rate: ScalarOrSchedule, alpha: ScalarOrSchedule = 1.0, beta: ScalarOrSchedule = 1.0
) -> GradientTransformation:
    r"""Optimistic gradient descent: step along the gradient extrapolated one step ahead.

    $$w_{t+1} = w_t - \eta_t\big((\alpha + \beta)\, g_t - \beta\, g_{t-1}\big),\qquad
    g_0 := g_1$$

    with $\alpha$ = ``alpha``, $\beta$ = ``beta``. With $\alpha = \beta = 1$ this is
    $w_{t+1} = w_t - 2\eta g_t + \eta g_{t-1}$, which converges on bilinear min-max
    problems where gradient descent-ascent cycles. It is
    ``chain(scale_by_optimistic_gradient(alpha, beta), scale_by_learning_rate(lr))``.

    Args:
      learning_rate: $\eta_t \ge 0$, a constant or a schedule.
      alpha: $\alpha$, the weight of the current gradient.
      beta: $\beta$, the weight of the extrapolation.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Popov, "A modification of the Arrow-Hurwicz method for search of saddle points",
      Mathematical Notes of the Academy of Sciences of the USSR 28(5), 1980; Mokhtari,
      Ozdaglar & Pattathil, "A Unified Analysis of Extra-gradient and Optimistic Gradient
      Methods for Saddle Point Problems", AISTATS 2020, arXiv:1901.08511.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import optimistic_gradient_descent
      >>> tx = optimistic_gradient_descent(0.1)
      >>> s = tx.init(jnp.zeros(1))
      >>> _, s = tx.update(jnp.array([1.0]), s)
      >>> [round(x, 6) for x in tx.update(jnp.array([2.0]), s)[0].tolist()]   # 2*2 - 1
      [-0.3]
    """
    return chain(scale_by_optimistic_gradient(alpha, beta), scale_by_learning_rate(learning_rate))


@optimizer(
    hyperparams={"lambd": hp.NONNEGATIVE, "alpha": hp.NONNEGATIVE, "t0": hp.WHOLE},
    example={"learning_rate": 0.1},
    optax="—",
    pytorch="`ASGD`",
)
def asgd(
    learning_rate: ScalarOrSchedule = 0.01,
    lambd: ScalarOrSchedule = 1e-4,
    alpha: ScalarOrSchedule = 0.75,
    t0: float = 1e6,
    weight_decay: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    r"""Averaged SGD (PyTorch's ``ASGD``): decaying-rate SGD and a running average of iterates.

    $$\eta_t = \frac{\eta}{(1 + \lambda\eta t)^{\alpha}},\quad
    w_{t+1} = w_t - \eta_t\big(g_t + (\lambda + \lambda_\text{wd})\, w_t\big),\quad
    \bar w_{t+1} = \bar w_t + \mu_t\,(w_{t+1} - \bar w_t),\quad \mu_t = \frac{1}{\max(1,
    t - t_0)}$$

    with $t$ the 0-based step: step $t$ uses the $\eta_t$ and $\mu_t$ that PyTorch computes
    at the end of step $t-1$. So $\bar w$ follows $w$ for $t_0 + 1$ steps, then is the
    Polyak–Ruppert average: after $T$ steps, the mean of $w_{t_0+2}, \dots, w_T$ ($w_i$ the
    parameters after $i$ steps). Read it with ``gradtx.wrappers.averaged_params(state)``.
    It is ``chain(add_decayed_weights(lambd + weight_decay), scale_by_learning_rate(eta_t),
    polyak_average(t0 + 1))``, with ``torch.optim.ASGD``'s argument names and defaults
    (``lr`` is ``learning_rate``).
    **Differences from PyTorch:** a scheduled $\eta$ enters $\eta_t$ at the current step
    (PyTorch uses the rate of the previous step); $t_0$ must be a whole number; $\bar w$
    starts at the initial parameters (PyTorch: zeros; the first step overwrites it in both).

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      lambd: $\lambda \ge 0$, the decay term of the rate and of the weights.
      alpha: $\alpha \ge 0$, the power of the rate's decay.
      t0: $t_0$, a whole number $\ge 0$: the step after which averaging starts.
      weight_decay: $\lambda_\text{wd} \ge 0$, added to the gradient (L2).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters; its ``update``
      needs ``params``.

    References:
      Polyak & Juditsky, "Acceleration of Stochastic Approximation by Averaging", SIAM J.
      Control Optim. 30(4), 1992; Bottou, "Stochastic Gradient Descent Tricks", Neural
      Networks: Tricks of the Trade, 2012; Xu, "Towards Optimal One Pass Large Scale
      Learning with Averaged Stochastic Gradient Descent", arXiv:1107.2490, 2011.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import asgd
      >>> from gradtx.wrappers import averaged_params
      >>> tx = asgd(0.5, lambd=0.0, t0=0)
      >>> p = jnp.zeros(1)
      >>> s = tx.init(p)
      >>> for _ in range(3):                    # w = 1, 2, 3
      ...     u, s = tx.update(jnp.array([-2.0]), s, p)
      ...     p = p + u
      >>> p.tolist(), averaged_params(s).tolist()   # the mean of w_2 and w_3
      ([3.0], [2.5])
    """
    start_step = min(int(t0) + 1, int(jnp.iinfo(jnp.int32).max))

    def eta(count):
        t = jnp.asarray(count).astype(jnp.result_type(learning_rate, lambd, alpha, float))
        return learning_rate / (1 + lambd * learning_rate * t) ** alpha

    return chain(
        add_decayed_weights(lambd + weight_decay),
        scale_by_learning_rate(eta),
        polyak_average(start_step),
    )
