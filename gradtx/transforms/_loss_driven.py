"""Loss-driven primitives (they read ``value``): the bold driver and reduce-on-plateau.

The gradient-free ones (random search, SPSA), which read ``value_fn``, are in
``_gradient_free.py``."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _extra, _tree, _validate
from gradtx._base import GradientTransformation, Scalar, check_state_type


def scalar_dtype(params: Any) -> Any:
    """The dtype of scalar state (a loss, a scale): the widest parameter's, at least float32."""
    dtypes = [_tree.real_dtype(x.dtype) for x in jax.tree.leaves(params) if _tree.is_trainable(x)]
    return jnp.result_type(jnp.float32, *dtypes)


def _check_count(name: str, value: Any, low: int) -> None:
    v = _validate.concrete_value(value)
    if v is not None and (v != int(v) or v < low):
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")


def grow(scale: jax.Array, factor: Any) -> jax.Array:
    """``scale * factor``, or ``scale`` where that overflows."""
    grown = scale * jnp.asarray(factor, scale.dtype)
    return jnp.where(jnp.isfinite(grown), grown, scale)


class BoldDriverState(NamedTuple):
    """Scale $s_t$, the loss before the last step, the last update, whether to judge it."""

    count: jax.Array
    scale: jax.Array
    value: jax.Array
    update: Any
    judge: jax.Array


def scale_by_bold_driver(
    increase: Scalar = 1.05, decrease: Scalar = 0.5, tolerance: Scalar = 0.0, momentum: Scalar = 0.0
) -> GradientTransformation:
    r"""Bold driver: grow the step after the loss fell, undo it and shrink after it rose.

    $$\text{rose} = f(w_t) > f(w_{t-1}) + \xi\,|f(w_{t-1})|,\qquad
    s_t = \begin{cases} \beta_-\, s_{t-1} & \text{rose} \\ \beta_+\, s_{t-1} &
    f(w_t) < f(w_{t-1}) \\ s_{t-1} & \text{otherwise}\end{cases},\qquad
    u_t = \begin{cases} -u_{t-1} & \text{rose} \\ s_t\, d_t + \mu\, u_{t-1} &
    \text{otherwise}\end{cases}$$

    $d_t$ is the input (a step, e.g. $-\eta g_t$), $f(w_t)$ the ``value`` keyword of ``update``
    (the loss *after* the previous step), $\beta_\pm$ = ``increase``/``decrease``, $\xi$ =
    ``tolerance``, $\mu$ = ``momentum``. A step that raised the loss (or made it non-finite)
    is undone, up to rounding; the next step, from $w_{t-1}$ with the smaller scale, is not
    judged and has no momentum term (Vogl et al.). The scale saturates instead of
    overflowing. Put it last: ``chain(<direction>, scale_by_bold_driver())`` (an upstream
    momentum's state is not undone).

    Args:
      increase: $\beta_+ \ge 1$.
      decrease: $\beta_- \in (0, 1]$.
      tolerance: $\xi \ge 0$, a relative rise accepted without a change of scale (Vogl et
        al.: 0.01-0.05; more for mini-batch losses).
      momentum: $\mu \in [0, 1)$, on the previous update (the weight change).

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`BoldDriverState`; its
      ``update`` needs ``value``.

    References:
      Vogl, Mangis, Rigler, Zink & Alkon, "Accelerating the convergence of the
      back-propagation method", Biological Cybernetics 59, 1988; Battiti, "Accelerated
      backpropagation learning: two optimization methods", Complex Systems 3, 1989.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_bold_driver
      >>> tx = scale_by_bold_driver()
      >>> s = tx.init(jnp.zeros(1))
      >>> for loss in (2.0, 1.0, 3.0):   # not judged; fell: x 1.05; rose: undo, x 0.5
      ...     u, s = tx.update(jnp.array([-1.0]), s, value=loss)
      ...     print(round(float(u[0]), 4), round(float(s.scale), 4))
      -1.0 1.0
      -1.05 1.05
      1.05 0.525
    """
    _validate.check_range("increase", increase, 1.0)
    _validate.check_range("decrease", decrease, 0.0, 1.0, low_open=True)
    _validate.check_nonnegative("tolerance", tolerance)
    _validate.check_decay("momentum", momentum)

    def init(params):
        one, no = jnp.ones([], scalar_dtype(params)), jnp.zeros([], bool)
        return BoldDriverState(_tree.zero_count(), one, 0 * one, _tree.zeros_like(params), no)

    def update(updates, state, params=None, **extra):
        del params
        check_state_type(state, BoldDriverState, "scale_by_bold_driver")
        value = jnp.asarray(
            _extra.require(extra, "value", "scale_by_bold_driver"), state.value.dtype
        )
        last = state.value
        rose = state.judge & ~(value <= last + tolerance * jnp.abs(last))
        fell = state.judge & (value < last)
        grown = jnp.where(fell, grow(state.scale, increase), state.scale)
        scale = jnp.where(rose, state.scale * decrease, grown).astype(state.scale.dtype)
        s = _tree.Scalars(scale=scale, momentum=momentum)

        def leaf(d, previous):
            new = jnp.where(rose, -previous, s(d).scale * d + s(d).momentum * previous)
            return new, jnp.where(rose, jnp.zeros_like(new), new)

        names = ("updates", "state.update")
        updates, kept = _tree.leafwise(leaf, updates, state.update, names=names, n_out=2)
        value, count = jnp.where(rose, last, value), _tree.safe_increment(state.count)
        return updates, BoldDriverState(count, scale, value, kept, ~rose)

    return GradientTransformation(init, update)


class ReduceLROnPlateauState(NamedTuple):
    """Optax's fields: scale, best (accumulated) loss, counters and the running average."""

    scale: jax.Array
    best_value: jax.Array
    plateau_count: jax.Array
    cooldown_count: jax.Array
    count: jax.Array
    avg_value: jax.Array


def reduce_on_plateau(
    factor: Scalar = 0.1,
    patience: Scalar = 10,
    rtol: Scalar = 1e-4,
    atol: Scalar = 0.0,
    cooldown: int = 0,
    accumulation_size: Scalar = 1,
    min_scale: Scalar = 0.0,
) -> GradientTransformation:
    r"""Multiply the updates by a scale that is cut when the loss stops improving.

    $$\bar f = \text{mean of the last } m \text{ losses},\qquad
    \text{improved} = \bar f < f^\star - r\,|f^\star| - a,\qquad
    s \leftarrow \max(\rho\, s, s_{\min}) \text{ after } p \text{ means without improvement}$$

    Every $m$ = ``accumulation_size`` calls, the mean $\bar f$ of the ``value`` keywords is
    compared with the best mean $f^\star$ (replaced when improved); after $p$ = ``patience``
    comparisons in a row without improvement the scale is multiplied by $\rho$ = ``factor``
    (not below $s_{\min}$ = ``min_scale``), and the next ``cooldown`` comparisons cannot
    count. $r$ = ``rtol``, $a$ = ``atol``. This call's updates get the new scale (Optax's
    order). **Difference from Optax:** Optax 0.2.8 (and PyTorch's ``ReduceLROnPlateau``,
    ``threshold_mode="rel"``) tests $\bar f < (1-r) f^\star - a$: for $f^\star < 0$ that
    threshold is *above* the best loss, so a rise of less than $r|f^\star|$ counts as an
    improvement (and becomes the best). gradtx's test is the same for $f^\star \ge 0$.
    PyTorch cuts after ``patience`` + 1 bad epochs, Optax and gradtx after ``patience``.

    Args:
      factor: $\rho \in (0, 1)$.
      patience: $p \ge 1$, comparisons without improvement before a cut.
      rtol: $r \in [0, 1]$, the relative improvement that counts.
      atol: $a \ge 0$, the absolute improvement that counts (not both 0).
      cooldown: comparisons after a cut that cannot count as plateaus ($\ge 0$).
      accumulation_size: $m \ge 1$, losses averaged per comparison (e.g. an epoch's).
      min_scale: $s_{\min} \ge 0$.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`ReduceLROnPlateauState`; its
      ``update`` needs ``value``.

    References:
      Optax's ``optax.contrib.reduce_on_plateau``; PyTorch's
      ``torch.optim.lr_scheduler.ReduceLROnPlateau``.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import reduce_on_plateau
      >>> tx = reduce_on_plateau(factor=0.5, patience=2)
      >>> s = tx.init(jnp.zeros(1))
      >>> for loss in (-1.0, -0.99995, -0.9999):   # Optax counts these rises as gains
      ...     u, s = tx.update(jnp.ones(1), s, value=loss)
      >>> u.tolist(), float(s.best_value)
      ([0.5], -1.0)
    """
    _validate.check_range("factor", factor, 0.0, 1.0, low_open=True, high_open=True)
    _check_count("patience", patience, 1)
    _validate.check_range("rtol", rtol, 0.0, 1.0)
    _validate.check_nonnegative("atol", atol)
    if _validate.concrete_value(rtol) == 0 and _validate.concrete_value(atol) == 0:
        raise ValueError("rtol and atol must not both be 0, got rtol=0 and atol=0.")
    _check_count("cooldown", cooldown, 0)
    _check_count("accumulation_size", accumulation_size, 1)
    _validate.check_nonnegative("min_scale", min_scale)

    def init(params):
        one, count = jnp.ones([], scalar_dtype(params)), _tree.zero_count()
        return ReduceLROnPlateauState(one, jnp.inf * one, count, count, count, 0 * one)

    def update(updates, state, params=None, **extra):
        del params
        check_state_type(state, ReduceLROnPlateauState, "reduce_on_plateau")
        dtype = state.avg_value.dtype
        value = jnp.asarray(_extra.require(extra, "value", "reduce_on_plateau"), dtype)
        count = _tree.safe_increment(state.count)
        avg = (state.count.astype(dtype) * state.avg_value + value) / count.astype(dtype)
        ready = count >= accumulation_size
        best = state.best_value
        relative = jnp.where(best >= 0, 1 - rtol, 1 + rtol) * best  # (1 -+ r) f*: f* -+ r|f*|
        improved = ready & (avg < jnp.where(jnp.isinf(best), best, relative) - atol)
        plateau = jnp.where(improved, 0, _tree.safe_increment(state.plateau_count))
        cooling = state.cooldown_count > 0
        cut = ~cooling & (plateau >= patience)
        scale = jnp.where(cut, state.scale * factor, state.scale)
        scale = jnp.where(cooling, scale, jnp.maximum(scale, min_scale))
        cooldown_count = jnp.where(cooling, state.cooldown_count - 1, jnp.where(cut, cooldown, 0))
        # After a comparison every field moves (the average restarts); else count and average.
        compared = (scale, jnp.where(improved, avg, best), jnp.where(cooling | cut, 0, plateau))
        compared += (cooldown_count, 0, 0)
        old = state._replace(count=count, avg_value=avg)
        new = [jnp.where(ready, c, o).astype(o.dtype) for c, o in zip(compared, old)]
        new_state = ReduceLROnPlateauState(*new)
        s = _tree.Scalars(scale=new_state.scale)
        return _tree.leafwise(lambda u: s(u).scale * u, updates), new_state

    return GradientTransformation(init, update)
