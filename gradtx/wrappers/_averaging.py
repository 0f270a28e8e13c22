"""Averages of the parameters: EMA and Polyak averages kept in the state.

:func:`ema_params` and :func:`polyak_average` pass the updates through unchanged and keep a
running average of the *parameters after the update* in their state. Place them last in a
chain, so that they see the final update, and read the average with
:func:`averaged_params` (or ``state.average``) for evaluation. Optax's function forms, for a
target network kept by hand, are :func:`incremental_update` (an EMA step) and
:func:`periodic_update` (a copy every K steps).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import (
    DTypeLike,
    GradientTransformation,
    Scalar,
    ScalarOrSchedule,
    check_state_type,
)
from gradtx._validate import check_int
from gradtx.transforms._momentum import one_minus_power


class EmaParamsState(NamedTuple):
    """State of :func:`ema_params`.

    Attributes:
      count: int32 number of updates averaged.
      average: the (debiased) exponential moving average of the parameters, one array per
        trainable leaf in the accumulator dtype (``None`` for the others).
    """

    count: jax.Array
    average: Any


class PolyakAverageState(NamedTuple):
    """State of :func:`polyak_average`.

    Attributes:
      count: int32 number of updates seen.
      average: the uniform average of the parameters since ``start_step``, one array per
        trainable leaf in the accumulator dtype (``None`` for the others).
    """

    count: jax.Array
    average: Any


def _interpolate(new: jax.Array, old: jax.Array, weight: jax.Array) -> jax.Array:
    """$w\\,\\text{new} + (1 - w)\\,\\text{old}$: exactly ``new`` at $w = 1$, ``old`` at $w = 0$."""
    return weight * new + (1 - weight) * old


def _param_average(weight, accumulator_dtype, state_type, who) -> GradientTransformation:
    """A pass-through transform with ``average <- average + w_t (params + updates - average)``."""
    accumulator_dtype = _validate.check_dtype("accumulator_dtype", accumulator_dtype)

    def init(params):
        return state_type(_tree.zero_count(), _tree.accumulator_copy(params, accumulator_dtype))

    def update(updates, state, params=None, **extra):
        del extra
        check_state_type(state, state_type, who)
        if params is None:
            raise ValueError(f"{who} needs `params`: call update(updates, state, params).")
        w = weight(state.count)

        def step(u, p, a):
            new_p = (p + u).astype(p.dtype)  # the parameter as apply_updates will produce it
            return u, _interpolate(new_p.astype(a.dtype), a, w.astype(_tree.real_dtype(a.dtype)))

        updates, average = _tree.leafwise(
            step, updates, params, state.average, names=("updates", "params", "average"), n_out=2
        )
        return updates, state_type(_tree.safe_increment(state.count), average)

    return GradientTransformation(init, update)


def ema_params(
    decay: ScalarOrSchedule = 0.999, debias: bool = True, accumulator_dtype: DTypeLike | None = None
) -> GradientTransformation:
    r"""Keep an exponential moving average of the parameters in the state; updates pass through.

    $$\bar w_t = \bar w_{t-1} + \gamma_t\,(w_t - \bar w_{t-1}),\qquad
      \gamma_t = \begin{cases} \dfrac{1-\beta}{1-\beta^t} & \text{debias} \\
      1-\beta & \text{otherwise}\end{cases}$$

    where $w_t$ = params + updates is the parameter after this step, $\beta$ = ``decay``
    and $\bar w_0$ the initial parameters. With ``debias=True`` this is exactly the debiased
    EMA $m_t / (1-\beta^t)$ of $w_1, \dots, w_t$ (the initial parameters get no weight);
    with ``debias=False`` it is the EMA started at the initial parameters.

    Place it *last* in the chain so that it sees the final update, and read the average
    with ``averaged_params(opt_state)`` or ``state.average``: in ``chain(adam(lr),
    ema_params(0.999))`` it is ``opt_state[1].average``.

    Args:
      decay: $\beta \in [0, 1)$, a constant or a schedule of the step.
      debias: use the debiased weights $\gamma_t$.
      accumulator_dtype: dtype of the average; ``None``: the parameter's dtype promoted to
        at least float32 (a bfloat16 average would lose the small increments).

    Returns:
      A :class:`~gradtx.GradientTransformation` with an :class:`EmaParamsState`; its
      ``update`` needs ``params``.

    References:
      Polyak & Juditsky, "Acceleration of Stochastic Approximation by Averaging", SIAM J.
      Control Optim. 30(4), 1992, doi:10.1137/0330046.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> from gradtx.wrappers import averaged_params, ema_params
      >>> tx = gradtx.chain(gradtx.sgd(1.0), ema_params(0.5))
      >>> params = jnp.zeros(1)
      >>> state = tx.init(params)
      >>> for g in (-2.0, -2.0):                          # w_1 = 2, w_2 = 4
      ...     u, state = tx.update(jnp.array([g]), state, params)
      ...     params = gradtx.apply_updates(params, u)
      >>> [round(x, 5) for x in averaged_params(state).tolist()]  # (0.5*2 + 4) / 1.5
      [3.33333]
    """
    _validate.check_schedule_or_range("decay", decay, _validate.check_decay)
    debias = bool(debias)

    def weight(count):
        beta = jnp.asarray(decay(count) if callable(decay) else decay, jnp.result_type(float))
        one_minus = 1 - beta
        if not debias:
            return one_minus
        return one_minus / one_minus_power(beta, _tree.safe_increment(count))

    return _param_average(weight, accumulator_dtype, EmaParamsState, "ema_params")


def polyak_average(
    start_step: int = 0, accumulator_dtype: DTypeLike | None = None
) -> GradientTransformation:
    r"""Keep the uniform (Polyak–Ruppert) average of the parameters in the state.

    $$\bar w_t = \bar w_{t-1} + \frac{w_t - \bar w_{t-1}}{\max(t - t_0, 1)}
      \quad\Longrightarrow\quad \bar w_t = \frac{1}{t - t_0}\sum_{i=t_0+1}^{t} w_i$$

    where $w_t$ = params + updates is the parameter after step $t$ and $t_0$ =
    ``start_step``: before it the average follows the parameters (a burn-in, as in
    stochastic weight averaging). Updates pass through unchanged. Place it last in the
    chain and read ``averaged_params(opt_state)`` (see :func:`ema_params`).

    Args:
      start_step: $t_0 \ge 0$, the number of steps excluded from the average.
      accumulator_dtype: dtype of the average (``None``: at least float32).

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`PolyakAverageState`; its
      ``update`` needs ``params``.

    References:
      Polyak & Juditsky, "Acceleration of Stochastic Approximation by Averaging", SIAM J.
      Control Optim. 30(4), 1992, doi:10.1137/0330046.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> from gradtx.wrappers import averaged_params, polyak_average
      >>> tx = gradtx.chain(gradtx.sgd(1.0), polyak_average())
      >>> params = jnp.zeros(1)
      >>> state = tx.init(params)
      >>> for _ in range(3):                               # w = 1, 2, 3
      ...     u, state = tx.update(jnp.array([-1.0]), state, params)
      ...     params = gradtx.apply_updates(params, u)
      >>> averaged_params(state).tolist()
      [2.0]
    """
    start_step = check_int("start_step", start_step, 0)

    def weight(count):
        # In floating point: at a saturated int32 count, count + 1 would wrap to negative
        # and restart the average.
        n = count.astype(jnp.result_type(float)) + 1 - start_step
        return 1 / jnp.maximum(n, 1)

    return _param_average(weight, accumulator_dtype, PolyakAverageState, "polyak_average")


def incremental_update(new_tensors: Any, old_tensors: Any, step_size: Scalar) -> Any:
    r"""One step of a moving average of parameters (a Polyak or "soft" target-network update).

    $$\bar w \leftarrow \tau\, w + (1 - \tau)\, \bar w,\qquad \tau = \text{step\_size}$$

    The function form of the average that :func:`ema_params` keeps in a state: for a target
    network kept by hand. ``None`` leaves of ``new_tensors`` stay ``None``; each result has
    the dtype of ``new_tensors`` (half precision computed in float32).

    Args:
      new_tensors: $w$, the latest parameters.
      old_tensors: $\bar w$, the average so far, with the structure of ``new_tensors``.
      step_size: $\tau \in [0, 1]$ (1 copies ``new_tensors``).

    Returns:
      The new average, with the structure of ``new_tensors``.

    References:
      Polyak & Juditsky, "Acceleration of Stochastic Approximation by Averaging", SIAM J.
      Control Optim. 30(4), 1992, doi:10.1137/0330046.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import incremental_update
      >>> incremental_update({"w": jnp.full(2, 2.0)}, {"w": jnp.ones(2)}, 0.25)["w"].tolist()
      [1.25, 1.25]
    """
    _validate.check_range("step_size", step_size, 0.0, 1.0)
    scalars = _tree.Scalars(tau=step_size)

    def step(new, old):
        return _interpolate(new, old.astype(new.dtype), scalars(new).tau)

    names = ("new_tensors", "old_tensors")
    return _tree.leafwise(step, new_tensors, old_tensors, names=names)


def periodic_update(
    new_tensors: Any, old_tensors: Any, steps: int | jax.Array, update_period: int | jax.Array
) -> Any:
    r"""Copy the parameters every ``update_period`` steps (a "hard" target-network update).

    $$\bar w \leftarrow \begin{cases} w & t \bmod K = 0 \\ \bar w & \text{otherwise}\end{cases}$$

    with $t$ = ``steps`` and $K$ = ``update_period``; both may be traced.

    Args:
      new_tensors: $w$, the latest parameters.
      old_tensors: $\bar w$, the slow copy, with the structure of ``new_tensors``.
      steps: $t$, the number of updates of the online parameters.
      update_period: $K \ge 1$, an integer.

    Returns:
      ``new_tensors`` or ``old_tensors``.

    References:
      Mnih et al., "Human-level control through deep reinforcement learning", Nature 518,
      2015, doi:10.1038/nature14236 (arXiv:1312.5602 for the workshop version).

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import periodic_update
      >>> [periodic_update(jnp.ones(1), jnp.zeros(1), t, 5).tolist() for t in (4, 5)]
      [[0.0], [1.0]]
    """
    if _validate.concrete_value(update_period) is not None:
        check_int("update_period", update_period, 1)
    _tree.check_same_structure(("new_tensors", "old_tensors"), (new_tensors, old_tensors))
    copy = jnp.mod(steps, update_period) == 0
    return jax.lax.cond(copy, lambda: new_tensors, lambda: old_tensors)


def _find_averages(state: Any) -> list[Any]:
    if isinstance(state, (EmaParamsState, PolyakAverageState)):
        return [state]
    if isinstance(state, dict):
        return [a for v in state.values() for a in _find_averages(v)]
    if isinstance(state, (tuple, list)):
        return [a for v in state for a in _find_averages(v)]
    return []


def averaged_params(opt_state: Any) -> Any:
    """The parameter average kept by :func:`ema_params` or :func:`polyak_average`.

    Searches a (possibly nested) optimizer state for the one averaging state in it.

    Args:
      opt_state: the state of an optimizer containing exactly one of the two transforms.

    Returns:
      The average, with the structure of the parameters (``None`` at untrained leaves), in
      the accumulator dtype: cast it to the parameters' dtypes if you need them.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> from gradtx.wrappers import averaged_params, ema_params
      >>> tx = gradtx.chain(gradtx.sgd(0.1), ema_params(0.9))
      >>> averaged_params(tx.init({"w": jnp.ones(2)}))["w"].tolist()
      [1.0, 1.0]
    """
    found = _find_averages(opt_state)
    if len(found) != 1:
        raise ValueError(
            "averaged_params expects a state with exactly one ema_params or polyak_average "
            f"state, found {len(found)}."
        )
    return found[0].average
