"""Per-weight gains.

Learning-rate adaptation per weight from the agreement of successive gradients: local gains
grow a weight's gain additively while its gradient keeps its sign and shrink it
multiplicatively when it flips; delta-bar-delta does the same against an average of past
gradients (both are :func:`gradtx.scale_by_local_gains`, with different references and
bounds); vSGD sets each weight's rate from estimates of the gradient's mean, variance and
curvature (:func:`gradtx.scale_by_vsgd`).
"""

from __future__ import annotations

import jax.numpy as jnp

from gradtx import _hyper as hp
from gradtx._base import (
    DTypeLike,
    GradientTransformation,
    KeyLike,
    ScalarOrSchedule,
    chain,
    identity,
)
from gradtx._registry import optimizer
from gradtx.transforms._gain_adaptation import scale_by_local_gains
from gradtx.transforms._momentum import trace
from gradtx.transforms._scaling import scale_by_learning_rate
from gradtx.transforms._vsgd import scale_by_vsgd

__all__ = ["delta_bar_delta", "local_gains", "vsgd"]


@optimizer(
    hyperparams={
        "increase": hp.NONNEGATIVE,
        "decrease": hp.live(0.0, 1.0, low_open=True),
        "min_gain": hp.NONNEGATIVE,
        "max_gain": hp.NONNEGATIVE,
    },
    joint=hp.ordered("min_gain", "max_gain"),
    example={"learning_rate": 0.5},
    optax="—",
    pytorch="—",
)
def local_gains(
    learning_rate: ScalarOrSchedule,
    increase: ScalarOrSchedule = 0.05,
    decrease: ScalarOrSchedule = 0.95,
    min_gain: ScalarOrSchedule = 0.1,
    max_gain: ScalarOrSchedule = 10.0,
    momentum: ScalarOrSchedule | None = None,
) -> GradientTransformation:
    r"""Local gains: SGD whose per-weight gains grow while the gradient keeps its sign.

    $$\gamma_t = \operatorname{clip}\Big(\begin{cases}\gamma_{t-1} + \kappa &
    g_t\, r_{t-1} > 0\\ \gamma_{t-1}\,\delta & g_t\, r_{t-1} < 0\\ \gamma_{t-1} &
    \text{otherwise}\end{cases},\ \gamma_{\min},\ \gamma_{\max}\Big),\qquad
    w_{t+1} = w_t - \eta_t\, \gamma_t \odot v_t$$

    with $\gamma_0 = 1$, $\kappa$ = ``increase``, $\delta$ = ``decrease``. Without
    momentum $v_t = g_t$ and the reference $r_{t-1} = g_{t-1}$ is the previous gradient;
    with momentum $\mu$, $v_t = \mu v_{t-1} + g_t$ and $r_{t-1} = v_{t-1}$: as in the
    lecture, the gradient is compared with the velocity. It is ``chain(trace(momentum),
    scale_by_local_gains(source="gradient"), lr)``. Differences from the lecture's
    pseudo-code: a zero product (the first step) leaves a gain unchanged (the lecture's
    "else" would shrink it; Jacobs' rule keeps it), and with momentum the gains scale the
    velocity, $\eta\gamma_t v_t$, where the lecture adds $\eta\gamma_t g_t$ to a velocity
    (the same while the gains are constant). ``momentum=None`` keeps no velocity, as in
    :func:`gradtx.sgd`. Meant for full batches or large mini-batches (the sign of a noisy
    gradient says little).

    Args:
      learning_rate: $\eta \ge 0$, the global rate, a constant or a schedule.
      increase: $\kappa \ge 0$, additive increase of a gain (0.05 in the lecture).
      decrease: $\delta \in (0, 1]$, multiplicative decrease (0.95 in the lecture).
      min_gain: $\gamma_{\min} \ge 0$ (the lecture suggests [0.1, 10] or [0.01, 100]).
      max_gain: $\gamma_{\max} \ge \gamma_{\min}$.
      momentum: $\mu \in [0, 1)$, or ``None`` for none.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Hinton, Srivastava & Swersky, "Neural Networks for Machine Learning", Coursera, 2012,
      lecture 6c; Jacobs, "Increased rates of convergence through learning rate
      adaptation", Neural Networks 1(4), 1988.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.local_gains(0.1)
      >>> s = tx.init(jnp.zeros(2))
      >>> _, s = tx.update(jnp.array([1.0, 1.0]), s)
      >>> [round(x, 4) for x in tx.update(jnp.array([1.0, -1.0]), s)[0].tolist()]
      [-0.105, 0.095]
    """
    return chain(
        trace(momentum) if momentum is not None else identity(),
        scale_by_local_gains(increase, decrease, min_gain, max_gain, source="gradient"),
        scale_by_learning_rate(learning_rate),
    )


@optimizer(
    hyperparams={"kappa": hp.NONNEGATIVE, "phi": hp.DECAY, "theta": hp.DECAY},
    example={"learning_rate": 0.1, "kappa": 0.05},
    optax="—",
    pytorch="—",
)
def delta_bar_delta(
    learning_rate: ScalarOrSchedule,
    kappa: ScalarOrSchedule,
    phi: ScalarOrSchedule = 0.1,
    theta: ScalarOrSchedule = 0.7,
    momentum: ScalarOrSchedule | None = None,
) -> GradientTransformation:
    r"""Delta-bar-delta: per-weight rates that grow while the gradient agrees with its average.

    Each rate grows by $\kappa$ while the gradient has the sign of its running average
    $\bar\delta$ and loses a fraction $\phi$ when it has not:

    $$\epsilon_t = \begin{cases}\epsilon_{t-1} + \kappa & \bar\delta_{t-1}\,\delta_t > 0\\
    (1-\phi)\,\epsilon_{t-1} & \bar\delta_{t-1}\,\delta_t < 0\\ \epsilon_{t-1} &
    \text{otherwise}\end{cases},\qquad \bar\delta_t = (1-\theta)\,\delta_t +
    \theta\,\bar\delta_{t-1},\qquad w_{t+1} = w_t - \epsilon_t \odot \delta_t$$

    with $\delta_t$ the gradient, $\bar\delta_0 = 0$ and $\epsilon_0 = \eta$ for every
    weight (Jacobs' equations: the rate that moves $w$ at step $t$ is already updated with
    $\delta_t$). It is ``chain(scale_by_local_gains(increase=kappa / lr, decrease=1 - phi,
    min_gain=0, max_gain=None, decay=theta), lr, [trace(momentum)])``: the rates are
    $\epsilon_t = \eta\gamma_t$ with gains $\gamma_0 = 1$, so with a constant $\eta$ this is
    Jacobs' rule exactly, and a changed or scheduled $\eta$ rescales every rate.
    ``momentum`` adds heavy-ball momentum to the steps, $\Delta w_t = \mu\,\Delta w_{t-1} -
    \epsilon_t \odot \delta_t$.

    Args:
      learning_rate: $\eta \ge 0$, the initial rate of every weight (a constant or a
        schedule).
      kappa: $\kappa \ge 0$, the additive increase, in units of the rate (no default: it
        scales with $\eta$).
      phi: $\phi \in [0, 1)$, the fraction a rate loses when the signs disagree.
      theta: $\theta \in [0, 1)$, the decay of the gradient average $\bar\delta$.
      momentum: $\mu \in [0, 1)$, or ``None`` for none.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Jacobs, "Increased rates of convergence through learning rate adaptation", Neural
      Networks 1(4):295-307, 1988.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.delta_bar_delta(0.1, kappa=0.01)
      >>> s = tx.init(jnp.zeros(1))
      >>> _, s = tx.update(jnp.array([1.0]), s)
      >>> round(float(tx.update(jnp.array([1.0]), s)[0][0]), 4)
      -0.11
    """
    eta = jnp.asarray(learning_rate)
    increase = jnp.where(eta > 0, kappa / jnp.where(eta > 0, eta, 1), 0)
    return chain(
        scale_by_local_gains(increase, 1 - jnp.asarray(phi), 0.0, None, theta),
        scale_by_learning_rate(learning_rate),
        trace(momentum) if momentum is not None else identity(),
    )


@optimizer(
    hyperparams={
        "variant": hp.choice("l", "b", "g"),
        "curvature": hp.choice("secant", "hutchinson"),
        "n0": hp.live(1.0),
        "c": hp.live(1.0),
        "initial_curvature": hp.POSITIVE,
        "outlier_threshold": hp.NONNEGATIVE,
    },
    example={},
    optax="—",
    pytorch="—",
)
def vsgd(
    learning_rate: ScalarOrSchedule = 1.0,
    variant: str = "l",
    curvature: str = "secant",
    n0: ScalarOrSchedule = 10.0,
    c: ScalarOrSchedule = 2.0,
    eps: ScalarOrSchedule = 1e-9,
    initial_curvature: ScalarOrSchedule = 1.0,
    outlier_threshold: ScalarOrSchedule = 2.0,
    key: KeyLike = 0,
    *,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""vSGD: SGD whose rates are set from the gradient's signal-to-noise ratio and curvature.

    $$w_{t+1} = w_t - \eta_t\,\eta^*_t \odot g_t,\qquad
    \eta^* = \frac{\bar g^2}{\bar v}\cdot\frac{\bar h}{\bar q}\ \Big(\approx
    \frac{\bar g^2}{\bar h\, \bar v}\Big),\qquad \tau \leftarrow \Big(1 -
    \frac{\bar g^2}{\bar v}\Big)\tau + 1$$

    $\bar g$, $\bar v$, $\bar h$, $\bar q$ are running averages of the gradient, its
    square, a curvature estimate $h$ and its square over an adaptive memory $\tau$: the
    rate is the one that minimizes the expected loss after the step on a local quadratic
    model, so it grows while the gradient is consistent and anneals like $1/t$ when it is
    mostly noise. Everything, including the slow start, the outlier test and the
    curvature $h$, is :func:`gradtx.scale_by_vsgd`; the chain is
    ``chain(scale_by_vsgd(...), lr)``. ``learning_rate`` is a multiplier of $\eta^*$,
    1 in the paper (no tuning); it is there for schedules and warm restarts.

    **Curvature from gradients alone.** The paper uses bbprop (a Gauss-Newton diagonal
    from a second backward pass) and its sequel a finite difference of two gradients on
    the same sample; an optimizer gets one gradient per step, and the loss function only
    if it asks for it. The default ``curvature="secant"`` therefore fits the
    slope of the gradient against the parameter over vSGD's own memory (a least-squares
    finite difference whose sampling noise averages out, see ``scale_by_vsgd``);
    ``curvature="hutchinson"`` uses one Hessian-vector product of the ``value_fn`` extra
    argument per step instead (on the digits MLP a step then costs about three gradients).

    Args:
      learning_rate: $\eta \ge 0$, a multiplier of the adapted rates (default 1).
      variant: ``"l"`` per coordinate (vSGD-l), ``"b"`` per leaf (vSGD-b) or ``"g"`` one
        rate for all (vSGD-g).
      curvature: ``"secant"`` (gradients only) or ``"hutchinson"`` (needs ``value_fn``).
      n0: $n_0 \ge 1$, the initial memory (the paper's number of initial samples).
      c: $C \ge 1$, the slow-start factor (the authors' code uses 2; the paper's rule of
        thumb is $d/10$).
      eps: $\epsilon \ge 0$, in the denominators.
      initial_curvature: $h_0 > 0$, the curvature assumed until the first estimate.
      outlier_threshold: $k \ge 0$ standard deviations (0: no outlier test).
      key: seed of Hutchinson's probe vectors.
      mu_dtype, nu_dtype: dtypes of the stored averages (see :func:`gradtx.scale_by_vsgd`;
        default: the parameter's).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Schaul, Zhang & LeCun, "No More Pesky Learning Rates", ICML 2013, arXiv:1206.1106;
      Schaul & LeCun, "Adaptive learning rates and parallelization for stochastic, sparse,
      non-smooth gradients", ICLR 2013, arXiv:1301.3764.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.vsgd()
      >>> w = jnp.ones(1)
      >>> tx.update(jnp.array([2.0]), tx.init(w), w)[0].tolist()
      [-0.5]
    """
    return chain(
        scale_by_vsgd(
            variant,
            curvature,
            n0,
            c,
            eps,
            initial_curvature,
            outlier_threshold,
            key=key,
            mu_dtype=mu_dtype,
            nu_dtype=nu_dtype,
        ),
        scale_by_learning_rate(learning_rate),
    )
