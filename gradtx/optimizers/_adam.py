r"""Adam.

Adam, AdamW, NAdam(W), AMSGrad and Adamax(W): momentum and an RMSprop-like scaling, both
debiased:
$u_t = -\eta_t\, \hat m_t / (\sqrt{\hat\nu_t} + \epsilon)$ with
$m_t = \mathrm{EMA}_{\beta_1}(g)$ and $\nu_t = \mathrm{EMA}_{\beta_2}(g^2)$. Each is
``chain(<first moment>, <preconditioner of the gradient>, [weight decay], lr)``, and only the
preconditioner (or the Nesterov flag of the first moment) changes from one method to the
next: the maximum of the second moments (AMSGrad, :func:`gradtx.scale_by_max_rms`), the
infinity norm (Adamax, :func:`gradtx.scale_by_infinity_norm`), a look-ahead first moment
(NAdam). A ``W`` suffix adds decoupled weight decay, :func:`gradtx.add_decayed_weights`,
after the scaling. The variants with a new preconditioner (AdaBelief, Yogi, RAdam, Adan) are
the family ``adam_variants``.
"""

from __future__ import annotations

from gradtx import _hyper as hp
from gradtx._base import DTypeLike, GradientTransformation, MaskOrFn, ScalarOrSchedule, chain
from gradtx._registry import optimizer
from gradtx.transforms._composite import scale_by_adam, scale_by_adamax, scale_by_amsgrad
from gradtx.transforms._decay import add_decayed_weights
from gradtx.transforms._scaling import scale_by_learning_rate

__all__ = ["adam", "adamax", "adamaxw", "adamw", "amsgrad", "nadam", "nadamw"]

_ADAM_MATH = r"""
    $$m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad
    \nu_t = \beta_2 \nu_{t-1} + (1-\beta_2) g_t^2,\quad
    \hat m_t = \frac{m_t}{1-\beta_1^t},\quad \hat\nu_t = \frac{\nu_t}{1-\beta_2^t}$$
"""


@optimizer(
    example={"learning_rate": 0.01},
    optax="`optax.adam`",
    pytorch="`Adam`",
)
def adam(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: DTypeLike | None = None,
    *,
    nu_dtype: DTypeLike | None = None,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""Adam: debiased first moment over the root of the debiased second moment.

    $$w_{t+1} = w_t - \eta_t\,\frac{\hat m_t}{\sqrt{\hat\nu_t + \epsilon_\text{root}} + \epsilon}$$
    ADAM_MATH
    It is ``chain(ema(b1), scale_by_rms(b2, source="gradient"), scale_by_learning_rate)``.
    $\epsilon$ is outside the root, as in the paper, PyTorch and Optax.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      b1: $\beta_1 \in [0, 1)$.
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$.
      eps_root: $\epsilon_\text{root} \ge 0$.
      mu_dtype: dtype of $m$ (e.g. ``jnp.bfloat16`` to halve its memory; default: the
        parameter's).
      nu_dtype: dtype of $\nu$ (default: the parameter's). The arithmetic is done in at
        least float32 and each moment rounded once on store; see ``docs/memory.md`` for
        when bfloat16 moments are safe, and :func:`gradtx.quantize_state` for 8 bits.
      nesterov: use NAdam's look-ahead (see :func:`nadam`).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, arXiv:1412.6980.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.adam(0.1)
      >>> u, _ = tx.update(jnp.array([3.0, -0.01]), tx.init(jnp.zeros(2)))
      >>> [round(x, 4) for x in u.tolist()]
      [-0.1, 0.1]
    """
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nu_dtype=nu_dtype, nesterov=nesterov),
        scale_by_learning_rate(learning_rate),
    )


@optimizer(
    example={"learning_rate": 0.01},
    optax="`optax.adamw`",
    pytorch="`AdamW`",
)
def adamw(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: DTypeLike | None = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: MaskOrFn = None,
    *,
    nu_dtype: DTypeLike | None = None,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""AdamW: Adam with weight decay decoupled from the adaptive scaling.

    $$w_{t+1} = w_t - \eta_t\Big(\frac{\hat m_t}{\sqrt{\hat\nu_t+\epsilon_\text{root}}+\epsilon}
    + \lambda w_t\Big)$$
    ADAM_MATH
    It is ``chain(scale_by_adam, add_decayed_weights(weight_decay, mask), lr)``. As in
    Optax, the decay is multiplied by the learning rate ($\eta\lambda$), whereas the paper
    schedules it separately.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      b1, b2, eps, eps_root, mu_dtype, nu_dtype, nesterov: as in :func:`adam`.
      weight_decay: $\lambda \ge 0$, a constant or a schedule.
      mask: which leaves to decay (see :func:`gradtx.add_decayed_weights`).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019,
      arXiv:1711.05101.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.adamw(0.1, weight_decay=0.5)
      >>> p = jnp.array([2.0])
      >>> round(float(tx.update(jnp.array([0.0]), tx.init(p), p)[0][0]), 4)
      -0.1
    """
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nu_dtype=nu_dtype, nesterov=nesterov),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


@optimizer(
    example={"learning_rate": 0.01},
    optax="`optax.nadam`",
    pytorch="`NAdam` (differs: momentum decay)",
)
def nadam(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: DTypeLike | None = None,
    *,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""NAdam: Adam with a Nesterov look-ahead first moment.

    $$w_{t+1} = w_t - \eta_t\,\frac{\beta_1 \frac{m_t}{1-\beta_1^{t+1}}
    + (1-\beta_1)\frac{g_t}{1-\beta_1^t}}{\sqrt{\hat\nu_t + \epsilon_\text{root}}+\epsilon}$$
    ADAM_MATH
    It is :func:`adam` with ``nesterov=True`` (Optax's formulation; PyTorch's ``NAdam``
    adds a momentum-decay schedule $\mu_t$ and differs slightly).

    Args:
      learning_rate, b1, b2, eps, eps_root, mu_dtype, nu_dtype: as in :func:`adam`.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Dozat, "Incorporating Nesterov Momentum into Adam", ICLR workshop 2016.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.nadam(0.1)
      >>> float(tx.update(jnp.array([1.0]), tx.init(jnp.zeros(1)))[0][0]) < 0
      True
    """
    return adam.__wrapped__(
        learning_rate, b1, b2, eps, eps_root, mu_dtype, nu_dtype=nu_dtype, nesterov=True
    )


@optimizer(
    example={"learning_rate": 0.01},
    optax="`optax.nadamw`",
    pytorch="`NAdam`, `decoupled_weight_decay=True`",
)
def nadamw(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: DTypeLike | None = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: MaskOrFn = None,
    *,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""NAdamW: NAdam with decoupled weight decay (:func:`adamw` with ``nesterov=True``).

    $$w_{t+1} = w_t - \eta_t\Big(\frac{\beta_1 \frac{m_t}{1-\beta_1^{t+1}}
    + (1-\beta_1)\frac{g_t}{1-\beta_1^t}}{\sqrt{\hat\nu_t+\epsilon_\text{root}}+\epsilon}
    + \lambda w_t\Big)$$

    Args:
      learning_rate, b1, b2, eps, eps_root, mu_dtype, nu_dtype, weight_decay, mask: as in
        :func:`adamw`.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Dozat 2016; Loshchilov & Hutter, ICLR 2019.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.nadamw(0.1)
      >>> p = jnp.ones(1)
      >>> float(tx.update(jnp.array([1.0]), tx.init(p), p)[0][0]) < 0
      True
    """
    return adamw.__wrapped__(
        learning_rate,
        b1,
        b2,
        eps,
        eps_root,
        mu_dtype,
        weight_decay,
        mask,
        nu_dtype=nu_dtype,
        nesterov=True,
    )


@optimizer(
    hyperparams={"bias_correction_mu": hp.FLAG, "bias_correction_nu": hp.FLAG},
    example={"learning_rate": 0.01},
    optax="`optax.amsgrad`",
    pytorch="`Adam`, `amsgrad=True`",
)
def amsgrad(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: DTypeLike | None = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
    *,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""AMSGrad: Adam whose denominator never decreases.

    $$w_{t+1} = w_t - \eta_t\,\frac{\hat m_t}
    {\sqrt{\max_{s \le t}\hat\nu_s + \epsilon_\text{root}} + \epsilon}$$
    ADAM_MATH
    It is ``chain(ema(b1), scale_by_max_rms(b2, source="gradient"), lr)``.

    Args:
      learning_rate, b1, b2, eps, eps_root, mu_dtype: as in :func:`adam`.
      nu_dtype: dtype of $\nu$ and of its running maximum.
      bias_correction_mu: debias $m$ (the paper does not).
      bias_correction_nu: debias $\nu$ before the maximum (the paper does not).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond", ICLR 2018.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.amsgrad(0.1)
      >>> [round(x, 4) for x in tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0].tolist()]
      [-0.1]
    """
    return chain(
        scale_by_amsgrad(
            b1,
            b2,
            eps,
            eps_root,
            mu_dtype,
            bias_correction_mu,
            bias_correction_nu,
            nu_dtype=nu_dtype,
        ),
        scale_by_learning_rate(learning_rate),
    )


@optimizer(
    example={"learning_rate": 0.01},
    optax="`optax.adamax`",
    pytorch="`Adamax`",
)
def adamax(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    *,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Adamax: Adam with the infinity norm in place of the second moment.

    $$u_t = \max(\beta_2 u_{t-1}, |g_t| + \epsilon),\qquad
    w_{t+1} = w_t - \eta_t\,\frac{\hat m_t}{u_t}$$

    It is ``chain(ema(b1), scale_by_infinity_norm(b2, source="gradient"), lr)``.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      b1: $\beta_1 \in [0, 1)$.
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$.
      mu_dtype, nu_dtype: the dtypes of $m$ and $u$, as in :func:`adam`.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, section 7.1.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.adamax(0.1)
      >>> [round(x, 4) for x in tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0].tolist()]
      [-0.1]
    """
    return chain(
        scale_by_adamax(b1, b2, eps, mu_dtype=mu_dtype, nu_dtype=nu_dtype),
        scale_by_learning_rate(learning_rate),
    )


@optimizer(
    example={"learning_rate": 0.01},
    optax="`optax.adamaxw`",
    pytorch="—",
)
def adamaxw(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: MaskOrFn = None,
    *,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""AdamaxW: Adamax with decoupled weight decay.

    $$w_{t+1} = w_t - \eta_t\Big(\frac{\hat m_t}{u_t} + \lambda w_t\Big)$$

    Args:
      learning_rate, b1, b2, eps, mu_dtype, nu_dtype: as in :func:`adamax`.
      weight_decay: $\lambda \ge 0$, a constant or a schedule.
      mask: which leaves to decay.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Kingma & Ba, ICLR 2015; Loshchilov & Hutter, ICLR 2019.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.adamaxw(0.1, weight_decay=0.0)
      >>> p = jnp.ones(1)
      >>> [round(x, 4) for x in tx.update(jnp.array([2.0]), tx.init(p), p)[0].tolist()]
      [-0.1]
    """
    return chain(
        scale_by_adamax(b1, b2, eps, mu_dtype=mu_dtype, nu_dtype=nu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


for _fn in (adam, adamw, nadam, amsgrad):  # the shared moment definitions, written once
    _fn.__doc__ = _fn.__doc__.replace("    ADAM_MATH\n", _ADAM_MATH)
