"""Per-parameter step-size adaptation: AdaDelta's unit correction and Rprop."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _extra, _tree, _validate
from gradtx._base import DTypeLike, EmptyState, GradientTransformation, Scalar, check_state_type
from gradtx.transforms._adaptive import second_moment_step
from gradtx.transforms._momentum import ema_scalars


class ScaleByUnitCorrectionState(NamedTuple):
    """EMA of the squared updates this transform produced."""

    e_x: Any


def scale_by_unit_correction(
    rho: Scalar = 0.9, eps: Scalar = 1e-6, *, accumulator_dtype: DTypeLike | None = None
) -> GradientTransformation:
    r"""AdaDelta's unit correction: multiply by the RMS of past *updates*.

    $$u_t \leftarrow \sqrt{E[\Delta x^2]_{t-1} + \epsilon}\;u_t,\qquad
    E[\Delta x^2]_t = \rho\,E[\Delta x^2]_{t-1} + (1-\rho)\,|u_t|^2$$

    Placed after :func:`scale_by_rms` (which divides by $\sqrt{E[g^2]_t+\epsilon}$), it
    makes the step carry the units of the parameters, so that AdaDelta needs no learning
    rate: ``chain(scale_by_rms(rho, eps), scale_by_unit_correction(rho, eps))``.

    Args:
      rho: decay $\rho \in [0, 1)$ of the average of squared updates.
      eps: $\epsilon \ge 0$; it also sets the size of the very first steps.
      accumulator_dtype: dtype of the stored $E[\Delta x^2]$ (default: the parameter's real
        dtype); the arithmetic is in at least float32, rounded once on store.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`ScaleByUnitCorrectionState`.

    References:
      Zeiler, "ADADELTA: An Adaptive Learning Rate Method", 2012, arXiv:1212.5701,
      Algorithm 1.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.scale_by_unit_correction(rho=0.9, eps=0.25)
      >>> tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0].tolist()
      [1.0]
    """
    _validate.check_decay("rho", rho)
    _validate.check_nonnegative("eps", eps)
    accumulator_dtype = _validate.check_dtype("accumulator_dtype", accumulator_dtype)

    def init(params):
        return ScaleByUnitCorrectionState(_tree.zeros_like(params, accumulator_dtype, real=True))

    def update(updates, state, params=None, **extra):
        del params, extra
        check_state_type(state, ScaleByUnitCorrectionState, "scale_by_unit_correction")

        scalars = ema_scalars(rho, jnp.zeros([], jnp.int32), eps=eps)

        def step(u, e_x):
            s = scalars(u)
            u = jnp.sqrt(e_x + s.eps) * u
            return u, second_moment_step(u, e_x, s)

        updates, e_x = _tree.leafwise(step, updates, state.e_x, names=("updates", "e_x"), n_out=2)
        return updates, ScaleByUnitCorrectionState(e_x)

    return GradientTransformation(init, update)


class ScaleByRpropState(NamedTuple):
    """Per-parameter step sizes and the previous (masked) gradient."""

    step_sizes: Any
    prev_updates: Any


def scale_by_rprop(
    learning_rate: Scalar,
    eta_minus: Scalar = 0.5,
    eta_plus: Scalar = 1.2,
    min_step_size: Scalar = 1e-6,
    max_step_size: Scalar = 50.0,
) -> GradientTransformation:
    r"""Rprop (iRprop$^-$): a per-parameter step size driven by sign agreement.

    With $s_t = g_t\, g_{t-1}$ (where $g_{t-1}$ is the previous *masked* gradient):

    $$\Delta_t = \operatorname{clip}\Big(\Delta_{t-1}\cdot\begin{cases}\eta^+ & s_t>0\\
    \eta^- & s_t<0 \\ 1 & s_t = 0\end{cases},\ \Delta_{\min},\ \Delta_{\max}\Big),\qquad
    \tilde g_t = \begin{cases}0 & s_t<0\\ g_t & \text{otherwise}\end{cases},\qquad
    u_t = \operatorname{sign}(\tilde g_t)\,\Delta_t$$

    and $\tilde g_t$ is remembered as $g_{t-1}$ of the next step. $\Delta_0$ =
    ``learning_rate``. The output is the step *magnitude with the gradient's sign*, to be
    followed by ``scale(-1)``. This is the rule of ``torch.optim.Rprop``; Optax 0.2.8's
    ``scale_by_rprop`` returns the previous step's update instead (a one-step lag).

    Args:
      learning_rate: the initial step size $\Delta_0 > 0$.
      eta_minus: $\eta^- \in (0, 1]$, the shrink factor after a sign change.
      eta_plus: $\eta^+ \ge 1$, the growth factor while the sign holds.
      min_step_size: $\Delta_{\min} \ge 0$.
      max_step_size: $\Delta_{\max} \ge \Delta_{\min}$.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`ScaleByRpropState`.

    References:
      Riedmiller & Braun, "A Direct Adaptive Method for Faster Backpropagation Learning:
      The RPROP Algorithm", IEEE ICNN 1993; Igel & Hüsken, "Improving the Rprop Learning
      Algorithm", NC 2000 (iRprop$^-$).

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.scale_by_rprop(learning_rate=0.1)
      >>> s = tx.init(jnp.zeros(1))
      >>> _, s = tx.update(jnp.array([-3.0]), s)
      >>> [round(x, 6) for x in tx.update(jnp.array([-1.0]), s)[0].tolist()]
      [-0.12]
    """
    _validate.check_positive("learning_rate", learning_rate)
    _validate.check_range("eta_minus", eta_minus, 0.0, 1.0, low_open=True)
    _validate.check_range("eta_plus", eta_plus, 1.0, None)
    _validate.check_nonnegative("min_step_size", min_step_size)
    _validate.check_nonnegative("max_step_size", max_step_size)
    lo, hi = _validate.concrete_value(min_step_size), _validate.concrete_value(max_step_size)
    if lo is not None and hi is not None and hi < lo:
        raise ValueError(f"max_step_size must be >= min_step_size, got {hi} < {lo}.")

    def init(params):
        if any(jnp.iscomplexobj(x) for x in jax.tree.leaves(params)):
            raise TypeError(
                "scale_by_rprop: complex parameters are not supported (the update compares "
                "the signs of successive gradients)."
            )
        return ScaleByRpropState(_tree.full_like(params, learning_rate), _tree.zeros_like(params))

    def update(updates, state, params=None, **extra):
        del params, extra
        check_state_type(state, ScaleByRpropState, "scale_by_rprop")

        scalars = _tree.Scalars(up=eta_plus, down=eta_minus, lo=min_step_size, hi=max_step_size)

        def step(g, size, prev):
            s = scalars(g)
            agree = g * prev
            factor = jnp.where(agree > 0, s.up, jnp.where(agree < 0, s.down, 1))
            size = jnp.clip(size * factor, s.lo, s.hi)
            g = jnp.where(agree < 0, jnp.zeros_like(g), g)
            return jnp.sign(g) * size, size, g

        names = ("updates", "step_sizes", "prev_updates")
        updates, sizes, prev = _tree.leafwise(
            step, updates, state.step_sizes, state.prev_updates, names=names, n_out=3
        )
        return updates, ScaleByRpropState(sizes, prev)

    return GradientTransformation(init, update)


# Optax's threshold below which |g|^2 + eps counts as zero (float64 machine epsilon).
_TINY = float(jnp.finfo(jnp.float64).eps)


def polyak_step_size(gap: jax.Array, denominator: jax.Array, max_step: Scalar) -> jax.Array:
    r"""Polyak's step size $\min(\text{gap} / \text{denominator},\ \gamma_{\max})$, written once.

    ``gap`` is $f(w) - f^\star$ (or a model's estimate of it), ``denominator`` the squared
    norm of the direction (plus any $\epsilon$). Where the denominator is at most
    $2.2 \cdot 10^{-16}$ the step is 0 (no 0/0), as in Optax's ``polyak_sgd`` and MoMo.
    """
    tiny = denominator <= _TINY
    step = jnp.minimum(gap / jnp.where(tiny, 1, denominator), jnp.asarray(max_step, gap.dtype))
    return jnp.where(tiny, 0, step).astype(gap.dtype)


def scale_by_polyak(
    f_min: Scalar = 0.0, max_learning_rate: Scalar = 1.0, eps: Scalar = 0.0, variant: str = "sps"
) -> GradientTransformation:
    r"""Multiply by Polyak's step size $\gamma_t$, from the loss value and the update norm.

    $$\gamma_t = \min\Big(\frac{f(w_t) - f^\star}{\lVert u_t\rVert^2 + \epsilon},\
    \gamma_{\max}\Big),\qquad u_t \leftarrow \gamma_t\, u_t$$

    $f(w_t)$ is the ``value`` keyword of ``update`` (the loss at the current parameters,
    required), $f^\star$ = ``f_min``, $\gamma_{\max}$ = ``max_learning_rate``, $\epsilon$ =
    ``eps``; $\lVert u\rVert$ is the l2 norm over all leaves. With ``variant="sps+"`` the gap
    $f(w_t) - f^\star$ is replaced by its positive part. Where
    $\lVert u_t\rVert^2 + \epsilon \le 2.2 \cdot 10^{-16}$ the step is 0, as in Optax.

    Args:
      f_min: $f^\star$, a lower bound on (a guess of) the optimal loss.
      max_learning_rate: $\gamma_{\max} \ge 0$.
      eps: $\epsilon \ge 0$.
      variant: ``"sps"`` (Loizou et al.) or ``"sps+"`` (Garrigos et al.).

    Returns:
      A stateless :class:`~gradtx.GradientTransformation`; its ``update`` needs ``value``.

    References:
      Loizou, Vaswani, Laradji & Lacoste-Julien, "Stochastic Polyak Step-size for SGD: An
      Adaptive Learning Rate for Fast Convergence", AISTATS 2021, arXiv:2002.10542;
      Garrigos, Gower & Schaipp, "Function Value Learning: Adaptive Learning Rates Based on
      the Polyak Stepsize and Function Splitting in ERM", 2023, arXiv:2307.14528.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_polyak
      >>> tx = scale_by_polyak()
      >>> g = jnp.array([2.0, 0.0])                  # f = 2, |g|^2 = 4: step 0.5
      >>> tx.update(g, tx.init(g), value=jnp.array(2.0))[0].tolist()
      [1.0, 0.0]
    """
    _validate.check_finite("f_min", f_min)
    _validate.check_nonnegative("max_learning_rate", max_learning_rate)
    _validate.check_nonnegative("eps", eps)
    _validate.check_choice("variant", variant, ("sps", "sps+"))

    def update(updates, state, params=None, **extra):
        del params
        value = _extra.require(extra, "value", "scale_by_polyak")
        sq_norm = _tree.tree_sum_of_squares(updates)
        dtype = sq_norm.dtype
        gap = jnp.asarray(value, dtype) - jnp.asarray(f_min, dtype)
        if variant == "sps+":
            gap = jnp.maximum(gap, 0)
        denominator = sq_norm + jnp.asarray(eps, dtype)
        scalars = _tree.Scalars(step=polyak_step_size(gap, denominator, max_learning_rate))
        return _tree.leafwise(lambda u: u * scalars(u).step, updates), state

    return GradientTransformation(lambda params: EmptyState(), update)
