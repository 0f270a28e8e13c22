"""Scaling primitives: a fixed factor, the learning rate, a schedule, the sign."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import (
    EmptyState,
    GradientTransformation,
    Scalar,
    ScalarOrSchedule,
    Schedule,
    check_state_type,
)


def value_at(value: ScalarOrSchedule, count: jax.Array) -> Any:
    """A hyperparameter's value at step ``count``: a schedule is called, a constant returned."""
    return value(count) if callable(value) else value


def scale(step_size: Scalar) -> GradientTransformation:
    r"""Multiply every update by a fixed scalar.

    $$u \leftarrow \alpha\, u, \qquad \alpha = \text{step\_size}$$

    Args:
      step_size: the factor $\alpha$ (any finite real, negative allowed).

    Returns:
      A stateless :class:`~gradtx.GradientTransformation`.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> gradtx.scale(-2.0).update(jnp.array([1.0, 3.0]), gradtx.EmptyState())[0].tolist()
      [-2.0, -6.0]
    """
    _validate.check_finite("step_size", step_size)

    def update(updates, state, params=None, **extra):
        del params, extra
        scalars = _tree.Scalars(step=step_size)
        return _tree.leafwise(lambda g: g * scalars(g).step, updates), state

    return GradientTransformation(lambda params: EmptyState(), update)


class ScaleByScheduleState(NamedTuple):
    """Step counter of a scheduled scale."""

    count: jax.Array


def scale_by_schedule(step_size_fn: Schedule) -> GradientTransformation:
    r"""Multiply every update by a schedule of the step.

    $$u_t \leftarrow \alpha(t)\, u_t, \qquad t = 0, 1, 2, \dots$$

    Args:
      step_size_fn: the schedule $\alpha$, a callable of the int32 step count.

    Returns:
      A :class:`~gradtx.GradientTransformation` whose state is the step count.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.scale_by_schedule(lambda t: 1.0 / (1 + t))
      >>> s = tx.init(jnp.zeros(1))
      >>> _, s = tx.update(jnp.ones(1), s)
      >>> float(tx.update(jnp.ones(1), s)[0][0])
      0.5
    """
    if not callable(step_size_fn):
        raise ValueError(f"step_size_fn must be a callable schedule, got {step_size_fn!r}.")
    return _scaled(step_size_fn, sign=1.0, who="scale_by_schedule")


def _scaled(value: Any, sign: float, who: str) -> GradientTransformation:
    def init(params):
        del params
        return ScaleByScheduleState(_tree.zero_count())

    def update(updates, state, params=None, **extra):
        del params, extra
        check_state_type(state, ScaleByScheduleState, who)
        scalars = _tree.Scalars(step=sign * jnp.asarray(value_at(value, state.count)))
        updates = _tree.leafwise(lambda g: g * scalars(g).step, updates)
        return updates, ScaleByScheduleState(_tree.safe_increment(state.count))

    return GradientTransformation(init, update)


def scale_by_learning_rate(
    learning_rate: ScalarOrSchedule, *, flip_sign: bool = True
) -> GradientTransformation:
    r"""Multiply by the negative learning rate (a constant or a schedule).

    $$u_t \leftarrow -\eta_t\, u_t$$

    The minus sign turns a descent direction into an update for
    :func:`gradtx.apply_updates`. The state always holds a step count, whether
    ``learning_rate`` is a constant or a schedule, so its layout never depends on the
    argument's type.

    Args:
      learning_rate: $\eta$, a non-negative scalar or a schedule of the step.
      flip_sign: multiply by $-\eta$ (default) or by $+\eta$.

    Returns:
      A :class:`~gradtx.GradientTransformation`.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.scale_by_learning_rate(0.5)
      >>> tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0].tolist()
      [-1.0]
    """
    _validate.check_schedule_or_range("learning_rate", learning_rate, _validate.check_nonnegative)
    return _scaled(learning_rate, sign=-1.0 if flip_sign else 1.0, who="scale_by_learning_rate")


def scale_by_sign(
    mode: str = "hard", smooth_beta: ScalarOrSchedule = 1.0
) -> GradientTransformation:
    r"""Replace each update by its sign (signSGD), or by a smooth version of it.

    $$u \leftarrow \begin{cases} \operatorname{sign}(u) & \text{mode "hard"} \\
    \tanh(\beta u) & \text{mode "smooth"} \\
    \operatorname{clip}(u, -1, 1) & \text{mode "refined"} \end{cases}$$

    with $\beta$ = ``smooth_beta``; "refined" keeps $|u| < 1$ as it is and saturates the rest
    to its sign (Optax's ``scale_by_lion(mode=)``).

    Args:
      mode: ``"hard"``, ``"smooth"`` or ``"refined"``.
      smooth_beta: $\beta > 0$ of the smooth mode, a constant or a schedule.

    Returns:
      A stateless :class:`~gradtx.GradientTransformation`.

    References:
      Bernstein, Wang, Azizzadenesheli & Anandkumar, "signSGD: Compressed Optimisation for
      Non-Convex Problems", ICML 2018, arXiv:1802.04434.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.scale_by_sign()
      >>> tx.update(jnp.array([-3.0, 0.0, 2.0]), tx.init(None))[0].tolist()
      [-1.0, 0.0, 1.0]
      >>> gradtx.scale_by_sign("refined").update(jnp.array([-3.0, 0.5]), None)[0].tolist()
      [-1.0, 0.5]
    """
    _validate.check_choice("mode", mode, ("hard", "smooth", "refined"))
    _validate.check_schedule_or_range("smooth_beta", smooth_beta, _validate.check_positive)

    def update(updates, state, params=None, **extra):
        del params, extra
        if mode == "hard":
            return _tree.leafwise(jnp.sign, updates), state
        if mode == "refined":
            return _tree.leafwise(lambda u: jnp.clip(u, -1, 1), updates), state
        s = _tree.Scalars(beta=smooth_beta)
        return _tree.leafwise(lambda u: jnp.tanh(s(u).beta * u), updates), state

    return GradientTransformation(lambda params: EmptyState(), update)
