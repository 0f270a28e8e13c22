"""Schedule-free training: average a base optimizer's iterates, evaluate at an interpolation.

:func:`schedule_free` wraps any optimizer; :func:`schedule_free_eval_params` recovers the
averaged parameters for evaluation. The authors' two optimizers built with it are the
aliases :func:`gradtx.schedule_free_sgd` and :func:`gradtx.schedule_free_adamw`.
:func:`schedule_free` needs ``params`` and returns the update itself (the new parameters
minus the current ones).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _extra, _tree, _validate
from gradtx._base import (
    DTypeLike,
    GradientTransformation,
    Scalar,
    ScalarOrSchedule,
    as_transform,
    check_state_type,
)
from gradtx.transforms._scaling import value_at


class ScheduleFreeState(NamedTuple):
    """State of :func:`schedule_free`.

    Attributes:
      count: int32 number of steps taken (0-based, unlike Optax's 1-based ``step_count``).
      b1: the $\\beta_1$ that formed the current $y$ (read by
        :func:`schedule_free_eval_params`).
      weight_sum: $\\sum_{k \\le t} w_k$.
      max_lr: $\\max_{k \\le t} \\eta_k$.
      base_optimizer_state: the base optimizer's state.
      z: the base optimizer's iterate $z_t$.
    """

    count: jax.Array
    b1: jax.Array
    weight_sum: jax.Array
    max_lr: jax.Array
    base_optimizer_state: Any
    z: Any


def schedule_free(
    base_optimizer: GradientTransformation,
    learning_rate: ScalarOrSchedule,
    b1: Scalar = 0.9,
    weight_lr_power: Scalar = 2.0,
    state_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Make a base optimizer schedule-free: average its iterates, evaluate at an interpolation.

    $$z_{t+1} = z_t + \Delta_t,\qquad
    c_{t+1} = \frac{w_t}{\sum_{k\le t} w_k},\quad w_t = \big(\max_{k\le t}\eta_k\big)^{p},$$
    $$x_{t+1} = (1-c_{t+1})\,x_t + c_{t+1} z_{t+1},\qquad
    y_{t+1} = \beta_1 x_{t+1} + (1-\beta_1) z_{t+1}$$

    where $\Delta_t$ is the base optimizer's update from the gradient at $y_t$ (the
    parameters it is given and hands back), $\eta$ = ``learning_rate``, $p$ =
    ``weight_lr_power`` and $x_0 = y_0 = z_0$ (the initial parameters). Only $y$ and $z$
    are stored: $y$ moves by $c_{t+1}(z_t - y_t) + (1-\beta_1(1-c_{t+1}))(z_{t+1} - z_t)$
    (the authors' form, without the cancellation of $y_{t+1} - y_t$), and
    :func:`schedule_free_eval_params` recovers $x_t = (y_t - (1-\beta_1) z_t)/\beta_1$, the
    parameters to evaluate. The base optimizer should have no momentum (the interpolation
    replaces it).

    **Difference from Optax:** a scheduled ``learning_rate`` is read at the step the base
    optimizer is at (0, 1, 2, ...), as in the authors' code; Optax 0.2.8 reads it one step
    ahead (its ``step_count`` starts at 1, optax PR #1744), so with a warm-up its first
    step is zero and its weights lag the rates. With a constant rate the two agree. The
    state keeps the $\beta_1$ that formed $y_t$, so $\beta_1$ may change while training.

    Args:
      base_optimizer: a gradtx or Optax transform producing $\Delta_t$ (learning rate
        included), e.g. ``gradtx.sgd(1.0)``.
      learning_rate: $\eta_t \ge 0$ (a constant or a schedule), for the weights only.
      b1: $\beta_1 \in (0, 1)$, the interpolation (the paper's momentum).
      weight_lr_power: $p \ge 0$.
      state_dtype: dtype of $z$ (default: the parameters').

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`ScheduleFreeState`; its
      ``update`` needs ``params`` ($y_t$) and returns $y_{t+1} - y_t$.

    References:
      Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky, "The Road Less Scheduled",
      NeurIPS 2024, arXiv:2405.15682, Algorithm 1.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> from gradtx import schedule_free, schedule_free_eval_params
      >>> tx = schedule_free(gradtx.sgd(0.5), 0.5, b1=0.5)
      >>> y = jnp.array([2.0])
      >>> u, s = tx.update(y, tx.init(y), y)  # z = 2 - 0.5 * 2 = 1 = x (c_1 = 1)
      >>> y = gradtx.apply_updates(y, u)
      >>> y.tolist(), schedule_free_eval_params(s, y).tolist()
      ([1.0], [1.0])
    """
    base = as_transform(base_optimizer, "schedule_free base_optimizer")
    _validate.check_schedule_or_range("learning_rate", learning_rate, _validate.check_nonnegative)
    _validate.check_range("b1", b1, 0.0, 1.0, low_open=True, high_open=True)
    _validate.check_nonnegative("weight_lr_power", weight_lr_power)
    state_dtype = _validate.check_dtype("state_dtype", state_dtype)

    def init(params):
        dtype = jnp.result_type(float)
        zeros = jnp.zeros([], dtype), jnp.zeros([], dtype)  # two buffers: a state is donatable
        b = jnp.asarray(b1, dtype)
        z = _tree.copy_trainable(params, state_dtype)
        return ScheduleFreeState(_tree.zero_count(), b, *zeros, base.init(params), z)

    def update(updates, state, params=None, **extra):
        check_state_type(state, ScheduleFreeState, "schedule_free")
        _extra.require_params(params, "schedule_free")
        dtype = state.max_lr.dtype
        max_lr = jnp.maximum(state.max_lr, jnp.asarray(value_at(learning_rate, state.count), dtype))
        weight = max_lr**weight_lr_power
        total = state.weight_sum + weight
        ck = jnp.where(total == 0, 0, weight / jnp.where(total == 0, 1, total))
        delta, base_state = base.update(updates, state.base_optimizer_state, params, **extra)
        # z_{t+1}, rounded to its own dtype before it is used (as it is stored).
        z = _tree.leafwise(lambda z, u: z + u, state.z, delta, names=("z", "updates"))
        # y_{t+1} - y_t without recovering x_t: with r = b1 / b1_old (1 unless b1 changed),
        # k (z_t - y_t) + (1 - b1 (1 - c)) (z_{t+1} - z_t), k = c + (1 - r)(1 - c); it is
        # the authors' form, free of the cancellation in b1 x + (1 - b1) z - y.
        b = jnp.asarray(b1, dtype)
        k = ck + (1 - b / state.b1) * (1 - ck)
        s = _tree.Scalars(k=k, c=1 - b * (1 - ck))

        def step(u, y, z_old, z_new):
            return s(u).k * (z_old - y) + s(u).c * (z_new - z_old)

        names = ("updates", "params", "z", "z")
        updates = _tree.leafwise(step, delta, params, state.z, z, names=names)
        count = _tree.safe_increment(state.count)
        return updates, ScheduleFreeState(count, b, total, max_lr, base_state, z)

    return GradientTransformation(init, update)


def _find_schedule_free(state: Any) -> list[ScheduleFreeState]:
    if isinstance(state, ScheduleFreeState):
        return [state]
    if isinstance(state, dict):
        state = list(state.values())
    if isinstance(state, (tuple, list)):
        return [found for s in state for found in _find_schedule_free(s)]
    return []


def schedule_free_eval_params(state: Any, params: Any) -> Any:
    r"""The parameters to evaluate a schedule-free run at: the average $x_t$, not $y_t$.

    $$x_t = \frac{y_t - (1-\beta_1)\, z_t}{\beta_1}$$

    with $y_t$ = ``params`` and $z_t$, $\beta_1$ from the :class:`ScheduleFreeState` found
    in ``state`` (the state of :func:`schedule_free`, of ``schedule_free_sgd`` or
    ``schedule_free_adamw``, or of a chain holding exactly one of them).

    Args:
      state: an optimizer state containing one :class:`ScheduleFreeState`.
      params: the current parameters $y_t$.

    Returns:
      $x_t$, with the structure and dtypes of ``params``.

    References:
      Defazio et al., "The Road Less Scheduled", NeurIPS 2024, arXiv:2405.15682.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> from gradtx import schedule_free, schedule_free_eval_params
      >>> tx = schedule_free(gradtx.sgd(1.0), 1.0, b1=0.5)
      >>> state = tx.init(jnp.zeros(1))._replace(z=jnp.array([2.0]))
      >>> schedule_free_eval_params(state, jnp.array([1.0])).tolist()  # (1 - 0.5*2) / 0.5
      [0.0]
    """
    found = _find_schedule_free(state)
    if len(found) != 1:
        raise ValueError(
            "schedule_free_eval_params needs a state holding exactly one ScheduleFreeState "
            f"(from schedule_free, schedule_free_sgd or schedule_free_adamw); found {len(found)}."
        )
    sf = found[0]
    s = _tree.Scalars(b1=sf.b1)
    names = ("params", "z")
    return _tree.leafwise(lambda y, z: (y - (1 - s(y).b1) * z) / s(y).b1, params, sf.z, names=names)
