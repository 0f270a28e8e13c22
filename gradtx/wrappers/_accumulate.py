"""Gradient accumulation: emulate a k times larger batch (:class:`MultiSteps`), or sum and
apply every k steps (:func:`apply_every`). Also Optax's two tests of a mini-step for
``MultiSteps(should_skip_update_fn=...)``: :func:`skip_not_finite`, :func:`skip_large_updates`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _tree, _validate, _vectors
from gradtx._base import (
    DTypeLike,
    GradientTransformation,
    Scalar,
    as_transform,
    check_state_type,
)
from gradtx._validate import check_int


class MultiStepsState(NamedTuple):
    """State of :class:`MultiSteps` (Optax's fields).

    Attributes:
      mini_step: int32 number of mini-steps accumulated since the last inner step.
      gradient_step: int32 number of inner (emitted) steps.
      inner_opt_state: the state of the wrapped optimizer.
      acc_grads: the running mean (or sum) of the mini-step gradients, one buffer per
        trainable leaf in the accumulator dtype (``None`` for the other leaves).
      skip_state: what ``should_skip_update_fn`` returned at the last step (``()``).
    """

    mini_step: jax.Array
    gradient_step: jax.Array
    inner_opt_state: Any
    acc_grads: Any
    skip_state: Any = ()


def _check_k(every_k_schedule: Any) -> Callable[[jax.Array], Any]:
    if callable(every_k_schedule):
        try:
            first = every_k_schedule(np.int32(0))
        except Exception as err:
            raise ValueError(
                "every_k_schedule is a schedule, so it must be callable as schedule(step) -> int;"
                f" calling it at step 0 raised {type(err).__name__}: {err}"
            ) from err
        if not isinstance(first, jax.core.Tracer) and np.ndim(first) == 0:
            value = np.asarray(first)
            if not np.issubdtype(value.dtype, np.integer) or value < 1:
                raise ValueError(
                    f"every_k_schedule (schedule at step 0) must be an integer >= 1, got {first!r}."
                )
        return every_k_schedule
    k = check_int("every_k_schedule", every_k_schedule, 1)
    return lambda step: k


class MultiSteps:
    r"""Accumulate gradients over ``k`` mini-steps, then take one step of the inner optimizer.

    $$\bar g_j = \bar g_{j-1} + \frac{g_j - \bar g_{j-1}}{j}\quad (j = 1..k),\qquad
    (u, s) = \begin{cases} \mathrm{inner}(\bar g_k, s) & j = k \\ (0, s) & j < k\end{cases}$$

    With ``use_grad_mean=True`` the inner optimizer sees the mean of ``k`` mini-batch
    gradients: the gradient of a ``k`` times larger batch, so ``k`` steps of ``MultiSteps``
    emulate one step with that batch (Adam's moments are updated once per ``k``). The only
    parameter-sized memory it adds is the running mean ``acc_grads``; the inner optimizer
    runs only on the emitting mini-step (``jax.lax.cond``), and the other mini-steps return
    zero updates. Inside the inner optimizer the ``gradient`` keyword is the mean it receives.

    Differences from ``optax.MultiSteps``: the accumulator defaults to the gradient's dtype
    promoted to at least float32 (Optax: always float32, which truncates float64 and drops
    the imaginary part of complex gradients), and the inner optimizer is not evaluated on
    the accumulating mini-steps. The sequence of updates is the same.

    Args:
      opt: the inner optimizer (gradtx or Optax).
      every_k_schedule: ``k >= 1``, or a function of the inner step count returning it (to
        grow the effective batch during training).
      use_grad_mean: average the mini-step gradients (True) or sum them.
      should_skip_update_fn: optional ``fn(updates, gradient_step, params) -> (skip, info)``;
        a mini-step with ``skip`` True is ignored (Optax's protocol); ``info`` is stored in
        ``skip_state``. Optax's two are :func:`skip_not_finite` and
        :func:`skip_large_updates`.
      accumulator_dtype: dtype of ``acc_grads``; ``None`` as above.

    References:
      Optax's ``MultiSteps``; gradient accumulation as in Goyal et al., "Accurate, Large
      Minibatch SGD: Training ImageNet in 1 Hour", 2017, arXiv:1706.02677.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> from gradtx.wrappers import MultiSteps
      >>> tx = MultiSteps(gradtx.sgd(1.0), every_k_schedule=2).gradient_transformation()
      >>> state = tx.init(jnp.zeros(1))
      >>> u1, state = tx.update(jnp.array([1.0]), state)
      >>> u2, state = tx.update(jnp.array([3.0]), state)
      >>> u1.tolist(), u2.tolist(), int(state.gradient_step)
      ([0.0], [-2.0], 1)
    """

    def __init__(
        self,
        opt: Any,
        every_k_schedule: Any,
        use_grad_mean: bool = True,
        should_skip_update_fn: Callable[..., Any] | None = None,
        accumulator_dtype: Any = None,
    ):
        self._opt = as_transform(opt, "MultiSteps opt")
        self._every_k = _check_k(every_k_schedule)
        self._use_grad_mean = bool(use_grad_mean)
        self._should_skip = should_skip_update_fn
        self._acc_dtype = _validate.check_dtype("accumulator_dtype", accumulator_dtype)

    @property
    def inner_opt(self) -> GradientTransformation:
        """The wrapped optimizer."""
        return self._opt

    def init(self, params: Any) -> MultiStepsState:
        """The initial state: zero counters, the inner state, a zero accumulator."""
        gradient_step = _tree.zero_count()
        skip_state = ()
        if self._should_skip is not None:
            zeros = jax.tree.map(
                lambda p: None if p is None else jnp.zeros_like(p),
                params,
                is_leaf=_tree.is_none,
            )
            skip_state = self._should_skip(zeros, gradient_step, params)[1]
        return MultiStepsState(
            mini_step=_tree.zero_count(),
            gradient_step=gradient_step,
            inner_opt_state=self._opt.init(params),
            acc_grads=_tree.accumulator_copy(params, self._acc_dtype, zeros=True),
            skip_state=skip_state,
        )

    def update(
        self, updates: Any, state: MultiStepsState, params: Any = None, **extra: Any
    ) -> tuple[Any, MultiStepsState]:
        """Accumulate ``updates``; on every ``k``-th mini-step, return the inner step."""
        check_state_type(state, MultiStepsState, "MultiSteps")
        n = state.mini_step
        k = jnp.asarray(self._every_k(state.gradient_step)).astype(jnp.int32)
        skip, skip_state = jnp.asarray(False), state.skip_state
        if self._should_skip is not None:
            skip, skip_state = self._should_skip(updates, state.gradient_step, params)
            skip = jnp.asarray(skip)
            if (skip.dtype, skip.shape) != (jnp.bool_, ()):
                raise ValueError(
                    "should_skip_update_fn must return a boolean scalar as its first output, "
                    f"got dtype {skip.dtype} and shape {skip.shape}."
                )

        def accumulate(g, acc):
            g_acc = g.astype(acc.dtype)
            if self._use_grad_mean:
                new = acc + (g_acc - acc) / (n + 1).astype(_tree.real_dtype(acc.dtype))
            else:
                new = acc + g_acc
            return new.astype(g.dtype), new

        inner_in, acc = _tree.leafwise(
            accumulate, updates, state.acc_grads, names=("updates", "acc_grads"), n_out=2
        )
        emit = jnp.logical_and(n == k - 1, jnp.logical_not(skip))

        def run():
            out, new_inner = self._opt.update(
                inner_in, state.inner_opt_state, params, **{**extra, "gradient": inner_in}
            )
            return out, _tree.cast_like(new_inner, state.inner_opt_state)

        def wait():
            shapes = jax.eval_shape(run)[0]
            return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes), (
                state.inner_opt_state
            )

        new_updates, inner_state = jax.lax.cond(emit, run, wait)
        acc = _tree.select_tree(emit, jax.tree.map(jnp.zeros_like, acc), acc)
        new_state = MultiStepsState(
            mini_step=jnp.where(skip, n, _tree.safe_increment(n) % k).astype(jnp.int32),
            gradient_step=jnp.where(
                emit, _tree.safe_increment(state.gradient_step), state.gradient_step
            ).astype(jnp.int32),
            inner_opt_state=inner_state,
            acc_grads=_tree.select_tree(skip, state.acc_grads, acc),
            skip_state=skip_state,
        )
        return new_updates, new_state

    def has_updated(self, state: MultiStepsState) -> jax.Array:
        """Whether the last call emitted an inner step (bool scalar)."""
        return jnp.logical_and(state.mini_step == 0, state.gradient_step > 0)

    def gradient_transformation(self) -> GradientTransformation:
        """This wrapper as a plain :class:`~gradtx.GradientTransformation`."""
        return GradientTransformation(self.init, self.update)


def multi_steps(
    opt: GradientTransformation,
    every_k_schedule: int | Callable[[jax.Array], jax.Array],
    use_grad_mean: bool = True,
    should_skip_update_fn: Callable[..., Any] | None = None,
    accumulator_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Function form of :class:`MultiSteps`: accumulate ``k`` mini-steps per inner step.

    $$\bar g = \frac1k \sum_{j=1}^{k} g_j,\qquad u = \mathrm{inner}(\bar g)
      \text{ every } k \text{ calls, } 0 \text{ otherwise}$$

    Args:
      opt: the inner optimizer.
      every_k_schedule: ``k >= 1`` or a schedule of the inner step count.
      use_grad_mean: average (True) or sum the mini-step gradients.
      should_skip_update_fn: see :class:`MultiSteps`.
      accumulator_dtype: see :class:`MultiSteps`.

    Returns:
      ``MultiSteps(...).gradient_transformation()``, with a :class:`MultiStepsState`.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> from gradtx.wrappers import multi_steps
      >>> tx = multi_steps(gradtx.sgd(1.0), every_k_schedule=3)
      >>> state = tx.init(jnp.zeros(1))
      >>> outs = []
      >>> for g in (1.0, 2.0, 6.0):
      ...     u, state = tx.update(jnp.array([g]), state)
      ...     outs.append(u.tolist())
      >>> outs
      [[0.0], [0.0], [-3.0]]
    """
    return MultiSteps(
        opt, every_k_schedule, use_grad_mean, should_skip_update_fn, accumulator_dtype
    ).gradient_transformation()


def skip_not_finite(updates: Any, gradient_step: Any, params: Any) -> tuple[jax.Array, dict]:
    r"""A ``should_skip_update_fn`` for :class:`MultiSteps`: skip a mini-step with a NaN or Inf.

    $$\text{skip} = \big[\#\{i : u_i \notin \mathbb{R}\} > 0\big]$$

    counted over every entry of every trainable leaf of ``updates``.

    Args:
      updates: the mini-step's updates.
      gradient_step: the inner step count (unused; Optax's protocol).
      params: the parameters (unused).

    Returns:
      ``(should_skip, info)``: a bool scalar, and ``{"should_skip": ..., "num_not_finite":
      int32 count}``, which :class:`MultiSteps` stores in ``skip_state``.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import skip_not_finite
      >>> skip, info = skip_not_finite([jnp.array([1.0, jnp.inf, jnp.nan])], 0, None)
      >>> bool(skip), int(info["num_not_finite"])
      (True, 2)
    """
    del gradient_step, params
    counts = [
        jnp.sum(~jnp.isfinite(u), dtype=jnp.int32) for u in _vectors.trainable_leaves(updates)
    ]
    num = sum(counts, jnp.zeros([], jnp.int32))
    skip = num > 0
    return skip, {"should_skip": skip, "num_not_finite": num}


def skip_large_updates(
    updates: Any, gradient_step: Any, params: Any, max_squared_norm: Scalar
) -> tuple[jax.Array, dict]:
    r"""A ``should_skip_update_fn`` for :class:`MultiSteps`: skip a mini-step with a large norm.

    $$\text{skip} = \neg\big(\lVert u\rVert_2^2 < c\big),\qquad c = \text{max\_squared\_norm}$$

    so a NaN or infinite norm is skipped too. Bind ``max_squared_norm`` with
    ``functools.partial(skip_large_updates, max_squared_norm=c)``.

    Args:
      updates: the mini-step's updates.
      gradient_step: the inner step count (unused; Optax's protocol).
      params: the parameters (unused).
      max_squared_norm: $c \in [0, \infty]$, the largest squared global norm accepted.

    Returns:
      ``(should_skip, info)``: a bool scalar, and ``{"should_skip": ..., "norm_squared":
      ...}`` (accumulated in at least float32).

    Example:
      >>> import functools, jax.numpy as jnp
      >>> from gradtx import skip_large_updates
      >>> fn = functools.partial(skip_large_updates, max_squared_norm=100.0)
      >>> skip, info = fn([jnp.array([6.0, 8.0])], 0, None)
      >>> bool(skip), float(info["norm_squared"])
      (True, 100.0)
    """
    del gradient_step, params
    _validate.check_nonnegative_or_inf("max_squared_norm", max_squared_norm)
    norm_sq = _tree.tree_sum_of_squares(updates)
    skip = jnp.logical_not(norm_sq < max_squared_norm)
    return skip, {"should_skip": skip, "norm_squared": norm_sq}


class ApplyEveryState(NamedTuple):
    """State of :func:`apply_every` (Optax's ``ApplyEvery``).

    Attributes:
      count: int32 number of calls modulo ``k``.
      grad_acc: the sum of the updates since the last emission (``None`` for untrained leaves).
    """

    count: jax.Array
    grad_acc: Any


def apply_every(k: int = 1) -> GradientTransformation:
    r"""Sum the updates over ``k`` calls and emit the sum every ``k``-th call (zeros between).

    $$a_t = [t \bmod k \ne 0]\, a_{t-1} + u_t,\qquad
      u_t \leftarrow [t \bmod k = k-1]\, a_t$$

    Unlike :class:`MultiSteps`, the transforms before it in a chain still update their
    state on every call, so it does not emulate a larger batch for a stateful optimizer.

    Args:
      k: the period, an integer ``>= 1``.

    Returns:
      A :class:`~gradtx.GradientTransformation` with an :class:`ApplyEveryState`.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.wrappers import apply_every
      >>> tx = apply_every(2)
      >>> state = tx.init(jnp.zeros(1))
      >>> u1, state = tx.update(jnp.array([1.0]), state)
      >>> u2, state = tx.update(jnp.array([2.0]), state)
      >>> u1.tolist(), u2.tolist()
      ([0.0], [3.0])
    """
    k = check_int("k", k, 1)

    def init(params):
        return ApplyEveryState(_tree.zero_count(), _tree.zeros_like(params))

    def update(updates, state, params=None, **extra):
        del params, extra
        check_state_type(state, ApplyEveryState, "apply_every")
        c = state.count % k
        keep, emit = c != 0, c == k - 1

        def step(g, acc):
            acc = (keep * acc + g).astype(acc.dtype)
            return (emit * acc).astype(g.dtype), acc

        new_updates, grad_acc = _tree.leafwise(
            step, updates, state.grad_acc, names=("updates", "grad_acc"), n_out=2
        )
        count = (_tree.safe_increment(state.count) % k).astype(jnp.int32)
        return new_updates, ApplyEveryState(count, grad_acc)

    return GradientTransformation(init, update)
