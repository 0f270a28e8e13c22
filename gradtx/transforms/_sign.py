"""Sign-based primitives: Lion's interpolated momentum and its sign.

The sign itself is :func:`gradtx.scale_by_sign`; what is new in Lion is the momentum that
feeds it: the output interpolates the *previous* average and the current gradient with one
weight, while the average is updated with another.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from gradtx import _tree, _validate
from gradtx._base import DTypeLike, GradientTransformation, Scalar, chain, check_state_type
from gradtx.transforms._scaling import scale_by_sign


class InterpolatedEmaState(NamedTuple):
    """The running average $m$ of the updates."""

    ema: Any


def interpolated_ema(
    b1: Scalar = 0.9, b2: Scalar = 0.99, accumulator_dtype: DTypeLike | None = None
) -> GradientTransformation:
    r"""Output a mix of the update and the *previous* average; average with another decay.

    $$u_t \leftarrow \beta_1\, m_{t-1} + (1-\beta_1)\, g_t, \qquad
    m_t = \beta_2\, m_{t-1} + (1-\beta_2)\, g_t$$

    $g_t$ is this member's input, $\beta_1$ = ``b1`` weighs the output and $\beta_2$ = ``b2``
    the stored average. With $\beta_1 = \beta_2$ the output is the EMA of :func:`gradtx.ema`
    (without debiasing) one step late in the average and on time in the gradient; Lion uses
    $\beta_1 < \beta_2$, so the current gradient weighs more in the step than in the memory.

    Args:
      b1: $\beta_1 \in [0, 1)$, the interpolation weight of the output.
      b2: $\beta_2 \in [0, 1)$, the decay of the stored average.
      accumulator_dtype: dtype of $m$ (default: the parameter's).

    Returns:
      A :class:`~gradtx.GradientTransformation` with an :class:`InterpolatedEmaState`.

    References:
      Chen, Liang, Huang, Real, Wang, Pham, Dong, Luong, Hsieh, Lu & Le, "Symbolic Discovery
      of Optimization Algorithms", NeurIPS 2023, arXiv:2302.06675, Algorithm 2.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import interpolated_ema
      >>> tx = interpolated_ema(b1=0.5, b2=0.9)
      >>> s = tx.init(jnp.zeros(1))
      >>> u, s = tx.update(jnp.array([2.0]), s)   # 0.5 * 0 + 0.5 * 2; m = 0.2
      >>> u.tolist(), [round(x, 6) for x in s.ema.tolist()]
      ([1.0], [0.2])
    """
    _validate.check_decay("b1", b1)
    _validate.check_decay("b2", b2)
    accumulator_dtype = _validate.check_dtype("accumulator_dtype", accumulator_dtype)

    def init(params):
        return InterpolatedEmaState(_tree.zeros_like(params, accumulator_dtype))

    def update(updates, state, params=None, **extra):
        del params, extra
        check_state_type(state, InterpolatedEmaState, "interpolated_ema")
        scalars = _tree.Scalars(b1=b1, b2=b2)

        def step(g, m):
            s = scalars(g)
            out = s.b1 * m + (1 - s.b1) * g
            m = s.b2 * m + (1 - s.b2) * g
            return out.astype(g.dtype), _tree.cast_tree(m, accumulator_dtype)

        updates, m = _tree.leafwise(step, updates, state.ema, names=("updates", "ema"), n_out=2)
        return updates, InterpolatedEmaState(m)

    return GradientTransformation(init, update)


def scale_by_lion(
    b1: Scalar = 0.9,
    b2: Scalar = 0.99,
    mu_dtype: DTypeLike | None = None,
    *,
    mode: str = "hard",
    smooth_beta: Scalar = 1.0,
) -> GradientTransformation:
    r"""Lion's direction: the sign of an interpolation of the gradient and its average.

    $$u_t = \operatorname{sign}\big(\beta_1 m_{t-1} + (1-\beta_1) g_t\big),\qquad
    m_t = \beta_2 m_{t-1} + (1-\beta_2) g_t
    = \texttt{chain(interpolated\_ema(}\beta_1, \beta_2\texttt{), scale\_by\_sign())}$$

    Args:
      b1: $\beta_1 \in [0, 1)$, the interpolation weight of the step.
      b2: $\beta_2 \in [0, 1)$, the decay of the average $m$.
      mu_dtype: dtype of $m$.
      mode: ``"hard"`` (the sign), ``"smooth"`` ($\tanh(\beta x)$) or ``"refined"``
        ($x$ clipped to $[-1, 1]$), as in Optax; see :func:`gradtx.scale_by_sign`.
      smooth_beta: $\beta > 0$ of the smooth mode.

    Returns:
      A chain of :func:`interpolated_ema` and :func:`gradtx.scale_by_sign`.

    References:
      Chen et al., "Symbolic Discovery of Optimization Algorithms", NeurIPS 2023,
      arXiv:2302.06675.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_lion
      >>> tx = scale_by_lion()
      >>> tx.update(jnp.array([0.3, -2.0, 0.0]), tx.init(jnp.zeros(3)))[0].tolist()
      [1.0, -1.0, 0.0]
    """
    return chain(interpolated_ema(b1, b2, mu_dtype), scale_by_sign(mode, smooth_beta))
