r"""Adaptive learning rates.

One step size per weight, from the history of that weight's gradient. AdaGrad divides by the
root of the *sum* of squared gradients, $\sqrt{\sum_s g_s^2}$, so its steps only shrink;
RMSprop divides by the root of an exponential *average*, $\sqrt{\mathrm{EMA}_\rho(g^2)}$, so
it forgets; AdaDelta multiplies by the root of an average of past squared *updates* as well,
which gives the update the units of the weights; Rprop ignores the gradient's magnitude and
grows or shrinks each weight's step by the sign agreement of consecutive gradients.
"""

from __future__ import annotations

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
from gradtx.transforms._adaptive import scale_by_rms, scale_by_rss, scale_by_stddev
from gradtx.transforms._composite import scale_by_adadelta
from gradtx.transforms._decay import add_decayed_weights
from gradtx.transforms._momentum import trace
from gradtx.transforms._scaling import scale, scale_by_learning_rate
from gradtx.transforms._stepsize import scale_by_rprop

__all__ = ["adadelta", "adagrad", "rmsprop", "rprop"]


@optimizer(
    hyperparams={"initial_accumulator_value": hp.fixed(0.0)},
    example={"learning_rate": 0.1},
    optax="`optax.adagrad`",
    pytorch="`Adagrad`",
)
def adagrad(
    learning_rate: ScalarOrSchedule,
    initial_accumulator_value: float = 0.1,
    eps: ScalarOrSchedule = 1e-7,
    *,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""AdaGrad: per-parameter rates that shrink with the sum of squared gradients.

    $$G_t = G_{t-1} + g_t^2,\qquad w_{t+1} = w_t - \eta_t\,\frac{g_t}{\sqrt{G_t + \epsilon}}$$

    ``chain(scale_by_rss(G_0, eps), scale_by_learning_rate(lr))``. Optax's defaults
    ($G_0 = 0.1$, $\epsilon = 10^{-7}$ inside the root); PyTorch uses $G_0 = 0$ and puts
    $\epsilon = 10^{-10}$ outside the root.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      initial_accumulator_value: $G_0 \ge 0$ (fixed: it only sets the initial state).
      eps: $\epsilon \ge 0$.
      nu_dtype: dtype of $G$ (default: the parameter's), as in :func:`gradtx.adam`.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online Learning and
      Stochastic Optimization", JMLR 12, 2011.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.adagrad(1.0, initial_accumulator_value=0.0, eps=0.0)
      >>> tx.update(jnp.array([-3.0]), tx.init(jnp.zeros(1)))[0].tolist()
      [1.0]
    """
    return chain(
        scale_by_rss(initial_accumulator_value, eps, accumulator_dtype=nu_dtype),
        scale_by_learning_rate(learning_rate),
    )


@optimizer(
    example={"learning_rate": 1.0},
    optax="`optax.adadelta`",
    pytorch="`Adadelta`",
)
def adadelta(
    learning_rate: ScalarOrSchedule = 1.0,
    rho: ScalarOrSchedule = 0.9,
    eps: ScalarOrSchedule = 1e-6,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: MaskOrFn = None,
    *,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""AdaDelta: rates from the ratio of the RMS of past updates to the RMS of gradients.

    $$E[g^2]_t = \rho E[g^2]_{t-1} + (1-\rho) g_t^2,\quad
    \Delta_t = \frac{\sqrt{E[\Delta^2]_{t-1}+\epsilon}}{\sqrt{E[g^2]_t+\epsilon}}\,g_t,\quad
    E[\Delta^2]_t = \rho E[\Delta^2]_{t-1} + (1-\rho)\Delta_t^2,\quad
    w_{t+1} = w_t - \eta_t \Delta_t$$

    where $g_t$ includes $\lambda w_t$ when ``weight_decay`` $= \lambda > 0$.
    **Difference from Optax:** the default ``learning_rate`` is 1.0 (the paper's rule, and
    PyTorch's default), so the default configuration *descends*. Optax 0.2.8 defaults to
    ``None``, which skips the sign flip and climbs the loss. ``None`` is accepted here and
    means 1.0.

    Args:
      learning_rate: $\eta \ge 0$ (1.0 is the paper's AdaDelta), a constant or a schedule.
      rho: $\rho \in [0, 1)$.
      eps: $\epsilon \ge 0$.
      weight_decay: $\lambda \ge 0$ (L2, added to the gradient).
      weight_decay_mask: which leaves to decay (see :func:`gradtx.add_decayed_weights`).
      nu_dtype: dtype of both stored second moments, $E[g^2]$ and $E[\Delta^2]$ (default:
        the parameter's); see :func:`gradtx.scale_by_adadelta`.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Zeiler, "ADADELTA: An Adaptive Learning Rate Method", 2012, arXiv:1212.5701.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.adadelta()
      >>> p = jnp.zeros(1)
      >>> float(tx.update(jnp.array([5.0]), tx.init(p), p)[0][0]) < 0
      True
    """
    return chain(
        add_decayed_weights(weight_decay, weight_decay_mask),
        scale_by_adadelta(rho, eps, nu_dtype=nu_dtype),
        scale_by_learning_rate(1.0 if learning_rate is None else learning_rate),
    )


@optimizer(
    hyperparams={
        "initial_scale": hp.fixed(0.0),
        "eps_in_sqrt": hp.FLAG,
        "centered": hp.FLAG,
        "bias_correction": hp.FLAG,
    },
    example={"learning_rate": 0.003},
    optax="`optax.rmsprop`",
    pytorch="`RMSprop` (with `eps_in_sqrt=False`)",
)
def rmsprop(
    learning_rate: ScalarOrSchedule,
    decay: ScalarOrSchedule = 0.9,
    eps: ScalarOrSchedule = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: ScalarOrSchedule | None = None,
    nesterov: bool = False,
    bias_correction: bool = False,
    *,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""RMSprop: divide by a running RMS of the gradient; optionally centred, with momentum.

    $$\nu_t = \beta\nu_{t-1} + (1-\beta)g_t^2,\qquad
    d_t = \frac{g_t}{\sqrt{\nu_t - [\mu_t^2] + \epsilon}},\qquad
    v_t = \mu v_{t-1} + \eta_t d_t,\qquad w_{t+1} = w_t - v_t$$

    $\beta$ = ``decay``; the bracket term (running mean $\mu_t$ of $g$) only when
    ``centered``; $\epsilon$ moves outside the root with ``eps_in_sqrt=False`` (PyTorch's
    placement); the velocity only with ``momentum`` $=\mu$. It is
    ``chain(scale_by_rms | scale_by_stddev, scale_by_learning_rate, trace)``.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      decay: $\beta \in [0, 1)$.
      eps: $\epsilon \ge 0$.
      initial_scale: initial $\nu_0 \ge 0$ (fixed; TensorFlow uses 1.0).
      eps_in_sqrt: $\epsilon$ inside (Optax default) or outside (PyTorch) the root.
      centered: divide by the standard deviation instead of the RMS (Graves 2013).
      momentum: $\mu \in [0, 1)$ or ``None``.
      nesterov: Nesterov momentum (needs ``momentum``).
      bias_correction: debias the moments as Adam does.
      nu_dtype: dtype of $\nu$ (and of $\mu$ when ``centered``), as in :func:`gradtx.adam`.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Tieleman & Hinton, "Lecture 6.5 - RMSProp", COURSERA: Neural Networks for Machine
      Learning, 2012; Graves, "Generating Sequences With Recurrent Neural Networks", 2013.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.rmsprop(0.1, decay=0.0, eps=0.0)
      >>> [round(x, 6) for x in tx.update(jnp.array([4.0]), tx.init(jnp.zeros(1)))[0].tolist()]
      [-0.1]
    """
    if nesterov and momentum is None:
        raise ValueError("rmsprop: nesterov=True needs a momentum in [0, 1), got momentum=None.")
    kwargs = dict(
        eps_in_sqrt=eps_in_sqrt, bias_correction=bias_correction, accumulator_dtype=nu_dtype
    )
    if centered:
        precondition = scale_by_stddev(decay, eps, initial_scale, **kwargs)
    else:
        precondition = scale_by_rms(decay, eps, initial_scale, **kwargs)
    return chain(
        precondition,
        scale_by_learning_rate(learning_rate),
        trace(momentum, nesterov) if momentum is not None else identity(),
    )


@optimizer(
    hyperparams={
        "learning_rate": hp.fixed(0.0, low_open=True),
        "eta_minus": hp.live(0.0, 1.0, low_open=True),
        "eta_plus": hp.live(1.0),
        "min_step_size": hp.NONNEGATIVE,
        "max_step_size": hp.NONNEGATIVE,
    },
    joint=hp.ordered("min_step_size", "max_step_size"),
    example={"learning_rate": 0.001},
    optax="`optax.rprop`",
    pytorch="`Rprop`",
)
def rprop(
    learning_rate: float,
    eta_minus: ScalarOrSchedule = 0.5,
    eta_plus: ScalarOrSchedule = 1.2,
    min_step_size: ScalarOrSchedule = 1e-6,
    max_step_size: ScalarOrSchedule = 50.0,
) -> GradientTransformation:
    r"""Rprop (iRprop$^-$): per-parameter step sizes from gradient sign agreement.

    $$w_{t+1} = w_t - \operatorname{sign}(\tilde g_t)\,\Delta_t$$

    with $\Delta_t$ and $\tilde g_t$ as in :func:`gradtx.scale_by_rprop`. Rprop ignores the
    gradient's magnitude, so it is meant for full-batch training.
    **Difference from Optax:** Optax 0.2.8's ``rprop`` applies the previous step's update;
    gradtx follows the paper and ``torch.optim.Rprop`` (tested against both).
    ``learning_rate`` is the initial step size $\Delta_0$; it is fixed at construction
    (changing it later would have no effect, so it is not a live hyperparameter).

    Args:
      learning_rate: $\Delta_0 > 0$.
      eta_minus: $\eta^- \in (0, 1]$.
      eta_plus: $\eta^+ \ge 1$.
      min_step_size: $\Delta_{\min} \ge 0$.
      max_step_size: $\Delta_{\max} \ge \Delta_{\min}$.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Riedmiller & Braun, "A Direct Adaptive Method for Faster Backpropagation Learning:
      The RPROP Algorithm", IEEE ICNN 1993; Igel & Hüsken, NC 2000.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.rprop(0.01)
      >>> tx.update(jnp.array([5.0, -0.1]), tx.init(jnp.zeros(2)))[0].tolist()
      [-0.009999999776482582, 0.009999999776482582]
    """
    return chain(
        scale_by_rprop(learning_rate, eta_minus, eta_plus, min_step_size, max_step_size),
        scale(-1.0),
    )
