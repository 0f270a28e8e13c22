"""Per-weight step sizes adapted online by sign agreement: local gains (delta-bar-delta).

:func:`scale_by_local_gains` multiplies each coordinate by a gain that grows while the
gradient keeps the sign of a reference (the previous gradient, a velocity, or an average of
past gradients) and shrinks when it flips: Hinton's local gains and Jacobs' delta-bar-delta
are this one primitive with different references and bounds. vSGD's variance-adapted rates,
the family's other member, are in ``_vsgd.py``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, Scalar, check_state_type
from gradtx.transforms._adaptive import statistic_source
from gradtx.transforms._momentum import ema_update

_SOURCES = ("updates", "gradient")


def reject_complex(params: Any, who: str) -> None:
    if any(jnp.iscomplexobj(x) for x in jax.tree.leaves(params)):
        raise TypeError(f"{who}: complex parameters are not supported (it compares signs).")


class ScaleByLocalGainsState(NamedTuple):
    """Per-weight gains and the reference whose sign the next gradient is compared with."""

    gains: Any
    reference: Any


def scale_by_local_gains(
    increase: Scalar = 0.05,
    decrease: Scalar = 0.95,
    min_gain: Scalar = 0.1,
    max_gain: Scalar | None = 10.0,
    decay: Scalar = 0.0,
    *,
    source: str = "updates",
) -> GradientTransformation:
    r"""Multiply by per-weight gains: up additively while signs agree, down multiplicatively.

    With $g_t$ the ``source`` and $u_t$ this member's input, per coordinate:

    $$\gamma_t = \operatorname{clip}\Big(\begin{cases}\gamma_{t-1} + \kappa &
    g_t\,r_{t-1} > 0\\ \gamma_{t-1}\,\delta & g_t\,r_{t-1} < 0\\ \gamma_{t-1} &
    \text{otherwise}\end{cases},\ \gamma_{\min},\ \gamma_{\max}\Big),\qquad
    r_t = (1-\theta)\,u_t + \theta\, r_{t-1},\qquad u_t \leftarrow \gamma_t\, u_t$$

    with $\gamma_0 = 1$, $r_0 = 0$; $\kappa$ = ``increase``, $\delta$ = ``decrease``,
    $\theta$ = ``decay``. With $\theta = 0$ the reference is the previous input: the
    previous gradient (Hinton's local gains), or the previous velocity when a
    :func:`gradtx.trace` comes first and ``source="gradient"`` (the lecture's momentum
    variant: the gradient is compared with the velocity). With $\theta > 0$ it is Jacobs'
    $\bar\delta$, an average of past gradients (delta-bar-delta). A zero product (the first
    step, a zero gradient) leaves the gain unchanged, as in Jacobs' rule.

    Args:
      increase: $\kappa \ge 0$, added to a gain while the signs agree.
      decrease: $\delta \in (0, 1]$, the factor applied to a gain when they disagree.
      min_gain: $\gamma_{\min} \ge 0$.
      max_gain: $\gamma_{\max} \ge \gamma_{\min}$, or ``None`` for no upper bound.
      decay: $\theta \in [0, 1)$, the decay of the reference average.
      source: ``"updates"`` (this member's input) or ``"gradient"`` (the chain's input),
        the $g_t$ compared with the reference.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`ScaleByLocalGainsState`.

    References:
      Jacobs, "Increased rates of convergence through learning rate adaptation", Neural
      Networks 1(4), 1988; Hinton, Srivastava & Swersky, "Neural Networks for Machine
      Learning", Coursera, 2012, lecture 6c.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_local_gains
      >>> tx = scale_by_local_gains()
      >>> s = tx.init(jnp.zeros(2))
      >>> _, s = tx.update(jnp.array([1.0, 1.0]), s)
      >>> [round(x, 4) for x in tx.update(jnp.array([2.0, -2.0]), s)[0].tolist()]
      [2.1, -1.9]
    """
    _validate.check_nonnegative("increase", increase)
    _validate.check_range("decrease", decrease, 0.0, 1.0, low_open=True)
    _validate.check_nonnegative("min_gain", min_gain)
    if max_gain is not None:
        _validate.check_nonnegative("max_gain", max_gain)
        lo, hi = _validate.concrete_value(min_gain), _validate.concrete_value(max_gain)
        if lo is not None and hi is not None and hi < lo:
            raise ValueError(f"max_gain must be >= min_gain, got {hi} < {lo}.")
    _validate.check_decay("decay", decay)
    _validate.check_choice("source", source, _SOURCES)

    def init(params):
        reject_complex(params, "scale_by_local_gains")
        return ScaleByLocalGainsState(_tree.full_like(params, 1.0), _tree.zeros_like(params))

    def update(updates, state, params=None, **extra):
        del params
        check_state_type(state, ScaleByLocalGainsState, "scale_by_local_gains")
        signs = statistic_source(updates, extra, source)
        hi = jnp.inf if max_gain is None else max_gain
        one_minus = 1 - jnp.asarray(decay)
        scalars = _tree.Scalars(
            up=increase, down=decrease, lo=min_gain, hi=hi, decay=decay, one_minus=one_minus
        )

        def step(u, g, gain, ref):
            s = scalars(u)
            agree = jnp.sign(g) * jnp.sign(ref)  # g * ref underflows to 0 for |g| < 1e-19
            gain = jnp.where(agree > 0, gain + s.up, jnp.where(agree < 0, gain * s.down, gain))
            gain = jnp.clip(gain, s.lo, s.hi)
            return gain * u, gain, ema_update(ref, u, s)

        names = ("updates", "gradient", "gains", "reference")
        updates, gains, ref = _tree.leafwise(
            step, updates, signs, state.gains, state.reference, names=names, n_out=3
        )
        return updates, ScaleByLocalGainsState(gains, ref)

    return GradientTransformation(init, update)
