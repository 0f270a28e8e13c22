"""Averages of the parameters: Lookahead's slow weights, and EMA / Polyak averages in the state.

:func:`ema_params` and :func:`polyak_average` pass the updates through unchanged and keep a
running average of the *parameters after the update* in their state. Place them last in a
chain, so that they see the final update, and read the average with
:func:`averaged_params` (or ``state.average``) for evaluation.
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
    as_transform,
    check_state_type,
)
from gradtx._validate import check_int
from gradtx.transforms._momentum import one_minus_power


class LookaheadParams(NamedTuple):
    """The fast and slow weights of :func:`lookahead` (Optax's layout).

    Attributes:
      fast: the weights the gradient is computed at.
      slow: the slow weights, for evaluation.
    """

    fast: Any
    slow: Any

    @classmethod
    def init_synced(cls, params: Any) -> LookaheadParams:
        """Fast and slow weights both equal to ``params``."""
        return cls(fast=params, slow=params)


class LookaheadState(NamedTuple):
    """State of :func:`lookahead`: the fast optimizer's state and the steps since the sync."""

    fast_state: Any
    steps_since_sync: jax.Array


def lookahead(
    fast_optimizer: GradientTransformation,
    sync_period: int,
    slow_step_size: Scalar,
    reset_state: bool = False,
) -> GradientTransformation:
    r"""Lookahead: k fast steps forward, then move the slow weights part of the way there.

    $$\phi_{t+1} = \phi_t + \alpha\,(\theta_{t,k} - \phi_t),\qquad \theta_{t+1,0} = \phi_{t+1}$$

    where $\theta_{t,i}$ are the fast weights after $i$ steps of ``fast_optimizer``,
    $\phi$ the slow weights, $k$ = ``sync_period`` and $\alpha$ = ``slow_step_size``.
    The parameters are a :class:`LookaheadParams`; compute the gradient at ``params.fast``
    and apply the returned :class:`LookaheadParams` updates unmodified (Optax's semantics).
    ``init`` also accepts plain parameters (taken as the fast ones), as Optax's does.

    Args:
      fast_optimizer: the inner optimizer (gradtx or Optax).
      sync_period: $k \ge 1$.
      slow_step_size: $\alpha \in [0, 1]$.
      reset_state: re-initialise the fast optimizer's state at every synchronisation.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`LookaheadState`.

    References:
      Zhang, Lucas, Hinton & Ba, "Lookahead Optimizer: k steps forward, 1 step back",
      NeurIPS 2019, arXiv:1907.08610.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> from gradtx.wrappers import LookaheadParams, lookahead
      >>> tx = lookahead(gradtx.sgd(1.0), sync_period=2, slow_step_size=0.5)
      >>> params = LookaheadParams.init_synced(jnp.zeros(1))
      >>> state = tx.init(params)
      >>> for _ in range(2):
      ...     u, state = tx.update(jnp.array([-1.0]), state, params)
      ...     params = gradtx.apply_updates(params, u)
      >>> params.fast.tolist(), params.slow.tolist()
      ([1.0], [1.0])
    """
    fast_optimizer = as_transform(fast_optimizer, "lookahead fast_optimizer")
    sync_period = check_int("sync_period", sync_period, 1)
    _validate.check_range("slow_step_size", slow_step_size, 0.0, 1.0)

    def init(params):
        fast = params.fast if hasattr(params, "fast") else params  # plain params: the fast ones
        return LookaheadState(fast_optimizer.init(fast), _tree.zero_count())

    def update(updates, state, params=None, **extra):
        check_state_type(state, LookaheadState, "lookahead")
        if not (hasattr(params, "fast") and hasattr(params, "slow")):
            raise ValueError(
                "lookahead needs `params` with `fast` and `slow` weights (a LookaheadParams), "
                f"got {type(params).__name__}."
            )
        fast_updates, fast_state = fast_optimizer.update(
            updates, state.fast_state, params.fast, **extra
        )
        sync = state.steps_since_sync == sync_period - 1
        alpha = jnp.asarray(slow_step_size)

        def step(u, f, s):
            diff = f + u - s  # the fast weights after this step, minus the slow ones
            a, on = alpha.astype(_tree.real_dtype(diff.dtype)), sync.astype(diff.dtype)
            return (u - on * (1 - a) * diff).astype(u.dtype), (a * on * diff).astype(s.dtype)

        new_fast, new_slow = _two_outputs(step, fast_updates, params.fast, params.slow)
        if reset_state:
            fresh = _tree.cast_like(fast_optimizer.init(params.fast), fast_state)
            fast_state = jax.tree.map(lambda new, old: jnp.where(sync, new, old), fresh, fast_state)
        steps = ((state.steps_since_sync + 1) % sync_period).astype(jnp.int32)
        return LookaheadParams(fast=new_fast, slow=new_slow), LookaheadState(fast_state, steps)

    return GradientTransformation(init, update)


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
            wa = w.astype(_tree.real_dtype(a.dtype))
            return u, a + wa * (new_p.astype(a.dtype) - a)

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


def _two_outputs(step: Any, updates: Any, *others: Any) -> tuple[Any, Any]:
    """Apply ``step(u, *other_leaves) -> (a, b)`` per trainable leaf; two trees out.

    ``None`` and untrained leaves of ``updates`` pass through to both outputs.
    """
    names = ("updates", *(f"params[{i}]" for i in range(len(others))))
    _tree.check_same_structure(names, (updates, *others))
    flat, treedef = jax.tree.flatten(updates, is_leaf=_tree.is_none)
    rest = [_tree.leaves_with_none(t) for t in others]
    first, second = [], []
    for u, *more in zip(flat, *rest):
        if u is None or not _tree.is_trainable(u):
            first.append(u)
            second.append(u)
            continue
        a, b = step(u, *more)
        first.append(a)
        second.append(b)
    return jax.tree.unflatten(treedef, first), jax.tree.unflatten(treedef, second)
