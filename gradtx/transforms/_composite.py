"""Optax's monolithic ``scale_by_*`` transforms, each rebuilt as a short chain of primitives.

These keep Optax's names and arguments so that ``optax.chain(..., optax.scale_by_adam(),
...)`` moves over by changing the import, but each is a chain of the primitives in
:mod:`gradtx.transforms`, so the moment, the bias correction and the preconditioner are
each written once.
"""

from __future__ import annotations

from gradtx._base import DTypeLike, GradientTransformation, Scalar, chain
from gradtx.transforms._adaptive import scale_by_rms
from gradtx.transforms._max_moments import scale_by_infinity_norm, scale_by_max_rms
from gradtx.transforms._momentum import ema
from gradtx.transforms._stepsize import scale_by_unit_correction


def scale_by_adam(
    b1: Scalar = 0.9,
    b2: Scalar = 0.999,
    eps: Scalar = 1e-8,
    eps_root: Scalar = 0.0,
    mu_dtype: DTypeLike | None = None,
    *,
    nu_dtype: DTypeLike | None = None,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""Adam's direction: the debiased first moment over the root of the debiased second.

    $$u_t = \frac{\hat m_t}{\sqrt{\hat \nu_t + \epsilon_\text{root}} + \epsilon}
    = \texttt{chain(ema(}\beta_1\texttt{), scale\_by\_rms(}\beta_2\texttt{, source="gradient"))}$$

    Args:
      b1: $\beta_1 \in [0, 1)$, decay of the first moment $m$.
      b2: $\beta_2 \in [0, 1)$, decay of the second moment $\nu$.
      eps: $\epsilon \ge 0$, outside the root (as in the paper and PyTorch).
      eps_root: $\epsilon_\text{root} \ge 0$, inside the root.
      mu_dtype: dtype of $m$ (default: the parameter's).
      nu_dtype: dtype of $\nu$ (default: the parameter's real dtype). Either moment may be
        stored in ``jnp.bfloat16`` to halve its memory: the arithmetic is done in at least
        float32 and the result rounded once on store.
      nesterov: NAdam's look-ahead first moment (see :func:`gradtx.ema`).

    Returns:
      A chain of :func:`gradtx.ema` and :func:`gradtx.scale_by_rms`.

    References:
      Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, arXiv:1412.6980.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.scale_by_adam()
      >>> u, _ = tx.update(jnp.array([0.5, -2.0]), tx.init(jnp.zeros(2)))
      >>> [round(x, 4) for x in u.tolist()]
      [1.0, -1.0]
    """
    return chain(
        ema(b1, debias=True, accumulator_dtype=mu_dtype, nesterov=nesterov),
        scale_by_rms(
            b2,
            eps,
            eps_in_sqrt=False,
            bias_correction=True,
            eps_root=eps_root,
            source="gradient",
            accumulator_dtype=nu_dtype,
        ),
    )


def scale_by_amsgrad(
    b1: Scalar = 0.9,
    b2: Scalar = 0.999,
    eps: Scalar = 1e-8,
    eps_root: Scalar = 0.0,
    mu_dtype: DTypeLike | None = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
    *,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""AMSGrad's direction: Adam with the running maximum of the second moment.

    $$u_t = \frac{\hat m_t}{\sqrt{\max_{s\le t}\hat\nu_s + \epsilon_\text{root}} + \epsilon}
    = \texttt{chain(ema(}\beta_1\texttt{), scale\_by\_max\_rms(}\beta_2\texttt{))}$$

    Args as in :func:`scale_by_adam` (``nu_dtype`` is the dtype of $\nu$ and of its
    maximum); ``bias_correction_mu``/``bias_correction_nu`` turn the
    corrections off (the paper has none; Optax and PyTorch correct both).

    Returns:
      A chain of :func:`gradtx.ema` and :func:`gradtx.scale_by_max_rms`.

    References:
      Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond", ICLR 2018.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.scale_by_amsgrad()
      >>> round(float(tx.update(jnp.array([3.0]), tx.init(jnp.zeros(1)))[0][0]), 4)
      1.0
    """
    return chain(
        ema(b1, debias=bias_correction_mu, accumulator_dtype=mu_dtype),
        scale_by_max_rms(
            b2,
            eps,
            eps_root,
            bias_correction=bias_correction_nu,
            source="gradient",
            accumulator_dtype=nu_dtype,
        ),
    )


def scale_by_adamax(
    b1: Scalar = 0.9,
    b2: Scalar = 0.999,
    eps: Scalar = 1e-8,
    *,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Adamax's direction: the debiased first moment over a weighted infinity norm.

    $$u_t = \frac{\hat m_t}{\max(\beta_2 \nu_{t-1}, |g_t| + \epsilon)}
    = \texttt{chain(ema(}\beta_1\texttt{), scale\_by\_infinity\_norm(}\beta_2\texttt{))}$$

    ``mu_dtype``/``nu_dtype``: the dtypes of $m$ and $\nu$, as in :func:`scale_by_adam`.

    Returns:
      A chain of :func:`gradtx.ema` and :func:`gradtx.scale_by_infinity_norm`.

    References:
      Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, section 7.1.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.scale_by_adamax(eps=0.0)
      >>> round(float(tx.update(jnp.array([-5.0]), tx.init(jnp.zeros(1)))[0][0]), 6)
      -1.0
    """
    return chain(
        ema(b1, debias=True, accumulator_dtype=mu_dtype),
        scale_by_infinity_norm(b2, eps, source="gradient", accumulator_dtype=nu_dtype),
    )


def scale_by_adadelta(
    rho: Scalar = 0.9, eps: Scalar = 1e-6, *, nu_dtype: DTypeLike | None = None
) -> GradientTransformation:
    r"""AdaDelta's direction: RMS of past updates over RMS of gradients.

    $$u_t = \frac{\sqrt{E[\Delta x^2]_{t-1} + \epsilon}}{\sqrt{E[g^2]_t + \epsilon}}\, g_t
    = \texttt{chain(scale\_by\_rms(}\rho\texttt{), scale\_by\_unit\_correction(}\rho\texttt{))}$$

    Args:
      rho: $\rho \in [0, 1)$, the decay of both averages.
      eps: $\epsilon \ge 0$.
      nu_dtype: dtype of both stored second moments, $E[g^2]$ and $E[\Delta x^2]$ (default:
        the parameter's); the arithmetic is in at least float32, rounded once on store.

    Returns:
      A chain of :func:`gradtx.scale_by_rms` and :func:`gradtx.scale_by_unit_correction`.

    References:
      Zeiler, "ADADELTA: An Adaptive Learning Rate Method", 2012, arXiv:1212.5701.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.scale_by_adadelta(rho=0.0, eps=1.0)
      >>> round(float(tx.update(jnp.array([0.0]), tx.init(jnp.zeros(1)))[0][0]), 4)
      0.0
    """
    return chain(
        scale_by_rms(rho, eps, eps_in_sqrt=True, accumulator_dtype=nu_dtype),
        scale_by_unit_correction(rho, eps, accumulator_dtype=nu_dtype),
    )
