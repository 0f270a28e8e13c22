r"""Gradient descent and momentum.

The plainest update, $w_{t+1} = w_t - \eta_t\, g_t$ (``gd``), and the three ways of adding a
velocity to it. They differ only in the order of two primitives and in whether the velocity
is a sum or an average: ``sgd`` is ``chain(trace(momentum), scale_by_learning_rate(lr))``,
PyTorch's form, in which the learning rate multiplies the velocity; ``heavy_ball`` swaps the
two, so that a new learning rate scales only the gradients still to come (Polyak's form);
``ema_momentum`` averages with :func:`gradtx.ema` instead of summing with
:func:`gradtx.trace`, so the step keeps the scale of the gradient.
"""

from __future__ import annotations

from gradtx import _hyper as hp
from gradtx._base import DTypeLike, GradientTransformation, ScalarOrSchedule, chain, identity
from gradtx._registry import optimizer
from gradtx.transforms._momentum import ema, trace
from gradtx.transforms._scaling import scale_by_learning_rate

__all__ = ["ema_momentum", "gd", "heavy_ball", "sgd"]


@optimizer(
    example={"learning_rate": 0.5},
    optax="`optax.sgd(lr)`",
    pytorch="`SGD(lr=lr)`",
)
def gd(learning_rate: ScalarOrSchedule) -> GradientTransformation:
    r"""Gradient descent: step against the gradient.

    $$w_{t+1} = w_t - \eta_t\, g_t$$

    The update is the same as :func:`sgd` without momentum; the name says how ``g`` is
    computed. In *full-batch* gradient descent $g$ is the gradient of the loss over the
    whole training set (use it with :func:`gradtx.minimize`-style loops and line
    searches); in *stochastic* gradient descent it is the gradient on a mini-batch.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Cauchy, "Méthode générale pour la résolution des systèmes d'équations simultanées",
      C. R. Acad. Sci. Paris 25, 1847.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.gd(0.1)
      >>> tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0].tolist()
      [-0.20000000298023224]
    """
    return chain(scale_by_learning_rate(learning_rate))


@optimizer(
    example={"learning_rate": 0.1, "momentum": 0.9},
    optax="`optax.sgd`",
    pytorch="`SGD` (`dampening=0`)",
)
def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: ScalarOrSchedule | None = None,
    nesterov: bool = False,
    accumulator_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Stochastic gradient descent, with optional (Nesterov) momentum in the PyTorch form.

    $$v_t = \mu\, v_{t-1} + g_t,\qquad w_{t+1} = w_t - \eta_t\,\begin{cases}
    g_t + \mu v_t & \text{nesterov} \\ v_t & \text{otherwise}\end{cases}$$

    with $\mu$ = ``momentum`` (no momentum when ``None``). This is the form of PyTorch and
    Optax: the learning rate multiplies the velocity, so a schedule rescales past
    gradients too. The *heavy-ball* form multiplies the gradient before it enters the
    velocity (:func:`heavy_ball`); the *EMA* form averages instead of summing
    (:func:`ema_momentum`). With a constant rate, ``sgd`` and ``heavy_ball`` give the same
    iterates.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      momentum: $\mu \in [0, 1)$ or ``None``; may be a schedule (e.g. a momentum ramp).
      nesterov: use Nesterov's look-ahead (needs ``momentum``).
      accumulator_dtype: dtype of the velocity.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Robbins & Monro, "A Stochastic Approximation Method", Ann. Math. Stat. 1951;
      Sutskever, Martens, Dahl & Hinton, "On the importance of initialization and momentum
      in deep learning", ICML 2013.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.sgd(0.1, momentum=0.9)
      >>> s = tx.init(jnp.zeros(1))
      >>> _, s = tx.update(jnp.ones(1), s)
      >>> round(float(tx.update(jnp.ones(1), s)[0][0]), 6)
      -0.19
    """
    if nesterov and momentum is None:
        raise ValueError("sgd: nesterov=True needs a momentum in [0, 1), got momentum=None.")
    return chain(
        trace(momentum, nesterov, accumulator_dtype) if momentum is not None else identity(),
        scale_by_learning_rate(learning_rate),
    )


@optimizer(
    example={"learning_rate": 0.1, "momentum": 0.9},
    optax="`chain(scale_by_learning_rate, trace)`",
    pytorch="—",
)
def heavy_ball(
    learning_rate: ScalarOrSchedule,
    momentum: ScalarOrSchedule | None = 0.9,
    *,
    accumulator_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Polyak's heavy-ball method: the learning rate enters before the momentum.

    $$w_{t+1} = w_t - \eta_t\, g_t + \mu\,(w_t - w_{t-1})
    \iff v_t = \mu v_{t-1} + \eta_t g_t,\ w_{t+1} = w_t - v_t$$

    It is ``chain(scale_by_learning_rate(lr), trace(momentum))``: :func:`sgd` with the two
    members swapped. Identical to :func:`sgd` under a constant rate; under a schedule each
    gradient keeps the rate it was taken with.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      momentum: $\mu \in [0, 1)$, a constant or a schedule.
      accumulator_dtype: dtype of the velocity (as in :func:`sgd`).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Polyak, "Some methods of speeding up the convergence of iteration methods", USSR
      Computational Mathematics and Mathematical Physics 4(5), 1964.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.heavy_ball(0.1, momentum=0.9)
      >>> s = tx.init(jnp.zeros(1))
      >>> _, s = tx.update(jnp.ones(1), s)
      >>> round(float(tx.update(jnp.ones(1), s)[0][0]), 6)
      -0.19
    """
    return chain(
        scale_by_learning_rate(learning_rate), trace(momentum, accumulator_dtype=accumulator_dtype)
    )


@optimizer(
    hyperparams={"debias": hp.FLAG},
    example={"learning_rate": 0.5, "momentum": 0.9},
    optax="`chain(ema(debias=False), scale_by_learning_rate)`",
    pytorch="`SGD`, `dampening=momentum` (first step differs)",
)
def ema_momentum(
    learning_rate: ScalarOrSchedule,
    momentum: ScalarOrSchedule | None = 0.9,
    debias: bool = False,
    *,
    accumulator_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Momentum as an exponential moving average of gradients.

    $$v_t = \mu\, v_{t-1} + (1-\mu)\, g_t,\qquad w_{t+1} = w_t - \eta_t\, v_t$$

    The velocity is an average rather than a sum, so it is $1-\mu$ times the PyTorch
    form's: use a learning rate $1/(1-\mu)$ times larger for the same steps.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      momentum: $\mu \in [0, 1)$, a constant or a schedule.
      debias: divide $v_t$ by $1 - \mu^t$ (as Adam's first moment).
      accumulator_dtype: dtype of the velocity (as in :func:`sgd`).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Goodfellow, Bengio & Courville, "Deep Learning", MIT Press 2016, section 8.3.2.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.ema_momentum(1.0, momentum=0.9)
      >>> round(float(tx.update(jnp.ones(1), tx.init(jnp.zeros(1)))[0][0]), 6)
      -0.1
    """
    velocity = ema(momentum, debias=debias, accumulator_dtype=accumulator_dtype)
    return chain(velocity, scale_by_learning_rate(learning_rate))
