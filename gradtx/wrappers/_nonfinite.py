"""Protection against non-finite gradients: skip the step, stop, raise, or zero the NaNs.

* :func:`apply_if_finite` is Optax's wrapper: a step whose incoming updates contain a NaN
  or an Inf is skipped (zero updates, inner state kept), unless more than
  ``max_consecutive_errors`` such steps came in a row, in which case it is applied.
* :func:`skip_nonfinite_steps` is stricter: it also skips a step whose *outgoing* updates are
  not finite, never applies a bad step, and after ``max_skipped`` skipped steps either
  raises or stops training.
* :func:`zero_nans` replaces NaN entries by zeros and records where it did so.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate, _vectors
from gradtx._base import GradientTransformation, as_transform, check_state_type
from gradtx._validate import check_int


class ApplyIfFiniteState(NamedTuple):
    """State of :func:`apply_if_finite` (Optax's fields and meaning).

    Attributes:
      notfinite_count: int32 number of consecutive non-finite steps (0 after a finite one).
      last_finite: bool, whether the last step's updates were finite.
      total_notfinite: int32 number of non-finite steps since ``init`` (never reset).
      inner_state: the state of the wrapped transform.
    """

    notfinite_count: jax.Array
    last_finite: jax.Array
    total_notfinite: jax.Array
    inner_state: Any


def _counters(finite: jax.Array, state: Any) -> tuple[jax.Array, jax.Array]:
    """The consecutive and total non-finite counts after a step."""
    consecutive = jnp.where(finite, 0, _tree.safe_increment(state.notfinite_count))
    total = jnp.where(finite, state.total_notfinite, _tree.safe_increment(state.total_notfinite))
    return consecutive.astype(jnp.int32), total.astype(jnp.int32)


def apply_if_finite(
    inner: GradientTransformation, max_consecutive_errors: int
) -> GradientTransformation:
    r"""Skip steps whose updates contain a NaN or an Inf, as Optax's ``apply_if_finite``.

    $$(u_t, s_t) = \begin{cases}
      \mathrm{inner}(g_t, s_{t-1}) & g_t \text{ finite, or } c_t > N \\
      (0,\ s_{t-1}) & \text{otherwise}\end{cases}$$

    where $c_t$ is the number of consecutive non-finite steps up to $t$ and
    $N$ = ``max_consecutive_errors``. After more than $N$ bad steps in a row the wrapper
    gives up and applies the step (Optax's semantics; :func:`skip_nonfinite_steps` never does).
    Only the incoming updates $g_t$ are checked, and a skipped step does not evaluate the
    inner transform (``jax.lax.cond``).

    Args:
      inner: the transform to protect (gradtx or Optax).
      max_consecutive_errors: $N \ge 0$, the number of consecutive bad steps to skip.

    Returns:
      A :class:`~gradtx.GradientTransformation` with an :class:`ApplyIfFiniteState`.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> from gradtx.wrappers import apply_if_finite
      >>> tx = apply_if_finite(gradtx.sgd(0.1), max_consecutive_errors=3)
      >>> state = tx.init(jnp.zeros(2))
      >>> u, state = tx.update(jnp.array([1.0, jnp.nan]), state)
      >>> u.tolist(), int(state.notfinite_count), bool(state.last_finite)
      ([0.0, 0.0], 1, False)
    """
    inner = as_transform(inner, "apply_if_finite inner")
    check_int("max_consecutive_errors", max_consecutive_errors, 0)

    def init(params):
        return ApplyIfFiniteState(
            notfinite_count=_tree.zero_count(),
            last_finite=jnp.asarray(True),
            total_notfinite=_tree.zero_count(),
            inner_state=inner.init(params),
        )

    def update(updates, state, params=None, **extra):
        check_state_type(state, ApplyIfFiniteState, "apply_if_finite")
        finite = _vectors.all_finite(updates)
        consecutive, total = _counters(finite, state)

        def do_update():
            new_updates, new_inner = inner.update(updates, state.inner_state, params, **extra)
            return new_updates, _tree.cast_like(new_inner, state.inner_state)

        def reject():
            shapes = jax.eval_shape(do_update)[0]
            zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
            return zeros, state.inner_state

        accept = jnp.logical_or(finite, consecutive > max_consecutive_errors)
        new_updates, inner_state = jax.lax.cond(accept, do_update, reject)
        return new_updates, ApplyIfFiniteState(consecutive, finite, total, inner_state)

    return GradientTransformation(init, update)


class SkipNonfiniteStepsState(NamedTuple):
    """State of :func:`skip_nonfinite_steps`.

    Attributes:
      notfinite_count: int32 number of consecutive skipped steps (0 after a good one).
      last_finite: bool, whether the last step was finite (and so applied, unless stopped).
      total_notfinite: int32 number of skipped steps since ``init``; the limit applies to it.
      stopped: bool, True once the limit was passed with ``on_limit="stop"``.
      inner_state: the state of the wrapped transform, as of the last applied step.
    """

    notfinite_count: jax.Array
    last_finite: jax.Array
    total_notfinite: jax.Array
    stopped: jax.Array
    inner_state: Any


def _raise_limit(total: Any, max_skipped: int) -> None:
    raise FloatingPointError(
        f"skip_nonfinite_steps: {int(total)} steps with non-finite gradients or updates were "
        f"skipped, more than max_skipped={max_skipped}."
    )


def skip_nonfinite_steps(
    inner: GradientTransformation, max_skipped: int | None = None, on_limit: str = "raise"
) -> GradientTransformation:
    r"""Skip every step whose gradients or updates are not finite; raise or stop past a limit.

    $$(u_t, s_t) = \begin{cases}
      (\hat u_t, \hat s_t) & g_t \text{ and } \hat u_t \text{ finite, not stopped} \\
      (0,\ s_{t-1}) & \text{otherwise}\end{cases}
      \qquad (\hat u_t, \hat s_t) = \mathrm{inner}(g_t, s_{t-1})$$

    Both the incoming updates $g_t$ and the inner transform's output $\hat u_t$ are checked,
    so an overflow inside the optimizer is caught too. A skipped step leaves the inner state
    exactly as it was. Once more than ``max_skipped`` steps have been skipped in total:

    * ``on_limit="raise"``: the step raises. The check runs on the device; the error is
      raised from the host through ``jax.debug.callback`` inside a ``jax.lax.cond`` (no
      ``checkify``), so it surfaces as a ``jax.errors.JaxRuntimeError`` (a ``RuntimeError``)
      whose message contains ``"skip_nonfinite_steps"``, when the step's outputs are
      computed (immediately on CPU; on an accelerator at the next synchronisation, such as
      reading a value or ``block_until_ready``).
    * ``on_limit="stop"``: ``state.stopped`` becomes True and every later step returns
      zero updates with the inner state frozen; read the flag to end the training loop.

    Args:
      inner: the transform to protect (gradtx or Optax).
      max_skipped: the number of skipped steps tolerated (``>= 0``), or ``None`` to skip
        forever without a limit.
      on_limit: ``"raise"`` or ``"stop"``.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`SkipNonfiniteStepsState`.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> from gradtx.wrappers import skip_nonfinite_steps
      >>> tx = skip_nonfinite_steps(gradtx.sgd(0.1), max_skipped=1, on_limit="stop")
      >>> state = tx.init(jnp.zeros(1))
      >>> for g in [1.0, jnp.inf, 1.0, jnp.nan, 1.0]:
      ...     u, state = tx.update(jnp.array([g]), state)
      ...     print(u.tolist(), bool(state.stopped))
      [-0.10000000149011612] False
      [0.0] False
      [-0.10000000149011612] False
      [0.0] True
      [0.0] True
    """
    inner = as_transform(inner, "skip_nonfinite_steps inner")
    if max_skipped is not None:
        check_int("max_skipped", max_skipped, 0)
    _validate.check_choice("on_limit", on_limit, ("raise", "stop"))

    def init(params):
        return SkipNonfiniteStepsState(
            notfinite_count=_tree.zero_count(),
            last_finite=jnp.asarray(True),
            total_notfinite=_tree.zero_count(),
            stopped=jnp.asarray(False),
            inner_state=inner.init(params),
        )

    def update(updates, state, params=None, **extra):
        check_state_type(state, SkipNonfiniteStepsState, "skip_nonfinite_steps")
        new_updates, new_inner = inner.update(updates, state.inner_state, params, **extra)
        finite = jnp.logical_and(_vectors.all_finite(updates), _vectors.all_finite(new_updates))
        consecutive, total = _counters(finite, state)
        stopped = state.stopped
        if max_skipped is not None:
            over = total > max_skipped
            if on_limit == "stop":
                stopped = jnp.logical_or(stopped, over)
            else:
                jax.lax.cond(
                    jnp.logical_and(over, jnp.logical_not(finite)),
                    lambda: jax.debug.callback(_raise_limit, total, max_skipped),
                    lambda: None,
                )
        apply = jnp.logical_and(finite, jnp.logical_not(stopped))
        out = _tree.select_tree(apply, new_updates, _tree.leafwise(jnp.zeros_like, new_updates))
        inner_state = _tree.select_tree(apply, new_inner, state.inner_state)
        return out, SkipNonfiniteStepsState(consecutive, finite, total, stopped, inner_state)

    return GradientTransformation(init, update)


class ZeroNansState(NamedTuple):
    """State of :func:`zero_nans` (Optax's ``found_nan``, plus two counters).

    Attributes:
      found_nan: one bool per trainable leaf (``None`` for the others): whether that leaf
        had a NaN at the last step.
      nan_count: int32 number of NaN entries replaced at the last step.
      total_nan_steps: int32 number of steps with at least one NaN since ``init``.
    """

    found_nan: Any
    nan_count: jax.Array
    total_nan_steps: jax.Array


def zero_nans() -> GradientTransformation:
    r"""Replace NaN entries of the updates by zero, and record where that happened.

    $$u_i \leftarrow \begin{cases} 0 & u_i = \mathrm{NaN} \\ u_i & \text{otherwise}\end{cases}$$

    Infinities are left alone (clip them, or use :func:`skip_nonfinite_steps`).

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`ZeroNansState`.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.wrappers import zero_nans
      >>> tx = zero_nans()
      >>> g = {"a": jnp.array([1.0, jnp.nan, jnp.nan]), "b": jnp.ones(2)}
      >>> u, state = tx.update(g, tx.init(g))
      >>> u["a"].tolist(), state.found_nan, int(state.nan_count)
      ([1.0, 0.0, 0.0], {'a': Array(True, dtype=bool), 'b': Array(False, dtype=bool)}, 2)
    """

    def init(params):
        def flag(p):
            return jnp.asarray(False) if p is not None and _tree.is_trainable(p) else None

        found = jax.tree.map(flag, params, is_leaf=_tree.is_none)
        return ZeroNansState(found, _tree.zero_count(), _tree.zero_count())

    def update(updates, state, params=None, **extra):
        del params, extra
        check_state_type(state, ZeroNansState, "zero_nans")
        _tree.check_same_structure(("updates", "found_nan"), (updates, state.found_nan))
        flat, treedef = jax.tree.flatten(updates, is_leaf=_tree.is_none)
        out, found, nan_count = [], [], jnp.zeros([], jnp.int32)
        for u in flat:
            if u is None or not _tree.is_trainable(u):
                out.append(u)
                found.append(None)
                continue
            nan = jnp.isnan(u)
            out.append(jnp.where(nan, jnp.zeros_like(u), u))
            found.append(jnp.any(nan))
            nan_count = nan_count + jnp.sum(nan, dtype=jnp.int32)
        total = jnp.where(
            nan_count > 0, _tree.safe_increment(state.total_nan_steps), state.total_nan_steps
        )
        new_state = ZeroNansState(
            jax.tree.unflatten(treedef, found), nan_count, total.astype(jnp.int32)
        )
        return jax.tree.unflatten(treedef, out), new_state

    return GradientTransformation(init, update)
