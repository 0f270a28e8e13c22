r"""Memory-efficient second moments: Adafactor's factored RMS and SM3's cover sums.

Both replace the per-entry statistic of :func:`gradtx.scale_by_rms` /
:func:`gradtx.scale_by_rss` by statistics of rows and columns (of every axis, for SM3), so
a $n \times m$ matrix costs $n + m$ numbers instead of $nm$. Also here: Adafactor's
relative step size, :func:`scale_by_param_block_rms`, and Optax's variant with the norm,
:func:`scale_by_param_block_norm`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _extra, _tree, _validate
from gradtx._base import DTypeLike, EmptyState, GradientTransformation, Scalar, check_state_type
from gradtx.transforms._adaptive import statistic_source
from gradtx.transforms._momentum import ema_scalars, ema_update

_SOURCES = ("updates", "gradient")


def factored_dims(shape: tuple, factored: bool, min_dim_size_to_factor: int) -> tuple | None:
    """The (second largest, largest) axes to factor over, or None (Optax's choice)."""
    if not factored or len(shape) < 2:
        return None
    order = np.argsort(shape)
    if shape[order[-2]] < min_dim_size_to_factor:
        return None
    return int(order[-2]), int(order[-1])


def _decay_rate_pow(step: jax.Array, exponent: Any) -> jax.Array:
    """Adafactor's $\\hat\\beta_{2,t} = 1 - t^{-c}$ at the 0-based ``step`` ($t$ = step + 1)."""
    exponent = jnp.asarray(exponent)
    dtype = exponent.dtype if jnp.issubdtype(exponent.dtype, jnp.inexact) else float
    return 1 - (jnp.asarray(step).astype(dtype) + 1) ** -exponent


class FactoredState(NamedTuple):
    """Step count and the statistics of each leaf.

    A factored leaf has ``v_row`` (its mean over the largest axis) and ``v_col`` (over the
    second largest), and an empty ``v``; any other leaf has ``v`` and empty ``v_row`` and
    ``v_col``. The unused placeholders are zeros of shape ``(1,)``, as in Optax (Orbax cannot
    save zero-size arrays, so a ``(0,)`` placeholder would make the state unsaveable there).
    """

    count: jax.Array
    v_row: Any
    v_col: Any
    v: Any


def scale_by_factored_rms(
    factored: bool = True,
    decay_rate: Scalar = 0.8,
    step_offset: int = 0,
    min_dim_size_to_factor: int = 128,
    epsilon: Scalar = 1e-30,
    decay_rate_fn: Callable[[Any, Any], Any] | None = None,
    *,
    source: str = "updates",
    accumulator_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Divide by the root of a *factored* second moment (Adafactor).

    With $G_t = g_t^2 + \epsilon_1$ and $\hat\beta_t = 1 - t^{-c}$, for a leaf factored
    over axes $(a, b)$ ($b$ the largest axis, $a$ the second largest):

    $$R_t = \hat\beta_t R_{t-1} + (1-\hat\beta_t)\,\mathrm{mean}_b\, G_t,\quad
    C_t = \hat\beta_t C_{t-1} + (1-\hat\beta_t)\,\mathrm{mean}_a\, G_t,\quad
    u_t \leftarrow \frac{u_t}{\sqrt{R_t C_t / \mathrm{mean}_a R_t}}$$

    and for the others $V_t = \hat\beta_t V_{t-1} + (1-\hat\beta_t) G_t$,
    $u_t \leftarrow u_t / \sqrt{V_t}$. $c$ = ``decay_rate``, $\epsilon_1$ = ``epsilon``,
    $g$ the ``source``, $t$ = step + 1 - ``step_offset``. $R C / \mathrm{mean}(R)$ is the
    best rank-one approximation of the second moment in I-divergence; it is the paper's
    $R C / 1^\top R$ with means for sums. A leaf is factored when ``factored`` and its
    second largest dimension is at least ``min_dim_size_to_factor``.

    Args:
      factored: factor the statistics of matrices (and higher-rank leaves).
      decay_rate: $c$, the exponent of $\hat\beta_t$ (0.8 in the paper).
      step_offset: subtracted from the step (to restart the schedule when fine-tuning).
      min_dim_size_to_factor: the smallest second-largest dimension to factor.
      epsilon: $\epsilon_1 \ge 0$, added to $g^2$.
      decay_rate_fn: ``fn(step, decay_rate) -> beta`` replacing $1 - (\text{step}+1)^{-c}$.
      source: ``"updates"`` (this member's input) or ``"gradient"`` (the chain's input).
      accumulator_dtype: dtype of every stored statistic, factored ($R$, $C$) or not ($V$)
        (default: the parameter's real dtype); the arithmetic is in at least float32,
        rounded once on store.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`FactoredState`.

    References:
      Shazeer & Stern, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost",
      ICML 2018, arXiv:1804.04235, Algorithms 4 and 5.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_factored_rms
      >>> tx = scale_by_factored_rms(min_dim_size_to_factor=2)
      >>> g = jnp.array([[1.0, 2.0], [2.0, 4.0]])     # rank one: the factoring is exact
      >>> s = tx.init(g)
      >>> tx.update(g, s)[0].tolist(), s.v_row.shape, s.v.shape
      ([[1.0, 1.0], [1.0, 1.0]], (2,), (1,))
    """
    _validate.check_nonnegative("decay_rate", decay_rate)
    _validate.check_nonnegative("epsilon", epsilon)
    _validate.check_choice("source", source, _SOURCES)
    if not isinstance(min_dim_size_to_factor, (int, np.integer)) or min_dim_size_to_factor < 1:
        raise ValueError(
            f"min_dim_size_to_factor must be a positive int, got {min_dim_size_to_factor!r}."
        )
    beta_fn = _decay_rate_pow if decay_rate_fn is None else decay_rate_fn
    accumulator_dtype = _validate.check_dtype("accumulator_dtype", accumulator_dtype)
    dims = functools.partial(
        factored_dims, factored=factored, min_dim_size_to_factor=min_dim_size_to_factor
    )

    def init(params):
        def stats(p):
            if p is None or not _tree.is_trainable(p):
                return None, None, None
            dt = _tree.real_dtype(p.dtype if accumulator_dtype is None else accumulator_dtype)
            d, empty = dims(p.shape), jnp.zeros((1,), dt)
            if d is None:  # zeros_like: the moment keeps the parameter's sharding
                return empty, empty, jnp.zeros_like(p, dtype=dt)
            drop = lambda axis: tuple(n for i, n in enumerate(p.shape) if i != axis)
            return jnp.zeros(drop(d[1]), dt), jnp.zeros(drop(d[0]), dt), empty

        leaves, treedef = jax.tree.flatten(params, is_leaf=_tree.is_none)
        rows, cols, full = zip(*map(stats, leaves)) if leaves else ((), (), ())
        unflat = lambda xs: jax.tree.unflatten(treedef, list(xs))
        return FactoredState(_tree.zero_count(), unflat(rows), unflat(cols), unflat(full))

    def update(updates, state, params=None, **extra):
        del params
        check_state_type(state, FactoredState, "scale_by_factored_rms")
        stats = statistic_source(updates, extra, source)
        beta = beta_fn(state.count - step_offset, decay_rate)
        scalars = ema_scalars(beta, state.count, eps=epsilon)

        def step(u, g, v_row, v_col, v):
            s = scalars(u)
            g2 = _tree.abs_sq(g) + s.eps
            d = dims(g.shape)
            if d is None:
                v = ema_update(v, g2, s)
                return u * jax.lax.rsqrt(v), v_row, v_col, v
            a, b = d
            v_row = ema_update(v_row, jnp.mean(g2, axis=b), s)
            v_col = ema_update(v_col, jnp.mean(g2, axis=a), s)
            row_mean = jnp.mean(v_row, axis=a - 1 if a > b else a, keepdims=True)
            row_factor = jax.lax.rsqrt(v_row / row_mean)
            col_factor = jax.lax.rsqrt(v_col)
            u = u * jnp.expand_dims(row_factor, b) * jnp.expand_dims(col_factor, a)
            return u, v_row, v_col, v

        names = ("updates", "gradient", "v_row", "v_col", "v")
        updates, v_row, v_col, v = _tree.leafwise(
            step, updates, stats, state.v_row, state.v_col, state.v, names=names, n_out=4
        )
        return updates, FactoredState(_tree.safe_increment(state.count), v_row, v_col, v)

    return GradientTransformation(init, update)


def _scale_by_param_block(
    statistic: Callable[[jax.Array], jax.Array], min_scale: Scalar, who: str
) -> GradientTransformation:
    """Multiply each leaf by ``max(sqrt(statistic(|w|**2)), min_scale)``: its parameter's RMS
    (``statistic=jnp.mean``) or norm (``jnp.sum``), floored."""
    _validate.check_nonnegative("min_scale", min_scale)

    def update(updates, state, params=None, **extra):
        del extra
        _extra.require_params(params, who)
        scalars = _tree.Scalars(min_scale=min_scale)

        def step(u, p):
            size = jnp.sqrt(statistic(_tree.abs_sq(p))).astype(_tree.real_dtype(u.dtype))
            return u * jnp.maximum(size, scalars(u).min_scale)

        return _tree.leafwise(step, updates, params, names=("updates", "params")), state

    return GradientTransformation(lambda params: EmptyState(), update)


def scale_by_param_block_rms(min_scale: Scalar = 1e-3) -> GradientTransformation:
    r"""Multiply each leaf by the RMS of its parameters: a step size relative to the weights.

    $$u_\ell \leftarrow \max\big(\mathrm{rms}(w_\ell),\ \epsilon_2\big)\, u_\ell,\qquad
    \mathrm{rms}(w) = \Big(\tfrac1n\sum_i |w_i|^2\Big)^{1/2},\ \epsilon_2 = \text{min\_scale}$$

    A block is one leaf (a weight matrix, a bias); :func:`scale_by_param_block_norm` uses
    the norm instead of the RMS.

    Args:
      min_scale: $\epsilon_2 \ge 0$, so that zero-initialized leaves can move.

    Returns:
      A stateless :class:`~gradtx.GradientTransformation`; its ``update`` needs ``params``.

    References:
      Shazeer & Stern, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost",
      ICML 2018, arXiv:1804.04235, section 8 (relative step size).

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_param_block_rms
      >>> tx = scale_by_param_block_rms()
      >>> w = jnp.array([3.0, -3.0])
      >>> tx.update(jnp.array([1.0, 0.5]), tx.init(w), w)[0].tolist()
      [3.0, 1.5]
    """
    return _scale_by_param_block(jnp.mean, min_scale, "scale_by_param_block_rms")


def scale_by_param_block_norm(min_scale: Scalar = 1e-3) -> GradientTransformation:
    r"""Multiply each leaf by the l2 norm of its parameters (Optax's ``scale_by_param_block_norm``).

    $$u_\ell \leftarrow \max\big(\lVert w_\ell\rVert_2,\ \epsilon_2\big)\, u_\ell,\qquad
    \lVert w\rVert_2 = \Big(\sum_i |w_i|^2\Big)^{1/2},\ \epsilon_2 = \text{min\_scale}$$

    The norm of a matrix is its Frobenius norm. Like :func:`scale_by_param_block_rms`, with
    the sum in place of the mean: large leaves get larger steps.

    Args:
      min_scale: $\epsilon_2 \ge 0$, so that zero-initialized leaves can move.

    Returns:
      A stateless :class:`~gradtx.GradientTransformation`; its ``update`` needs ``params``.

    References:
      Shazeer & Stern, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost",
      ICML 2018, arXiv:1804.04235, section 8 (relative step size).

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_param_block_norm
      >>> tx = scale_by_param_block_norm()
      >>> w = jnp.array([3.0, -4.0])                    # ||w|| = 5
      >>> tx.update(jnp.array([1.0, 0.5]), tx.init(w), w)[0].tolist()
      [5.0, 2.5]
    """
    return _scale_by_param_block(jnp.sum, min_scale, "scale_by_param_block_norm")


class ScaleByCoverRssState(NamedTuple):
    """SM3's accumulators: per leaf of rank $\\ge 2$ the concatenated per-axis cover maxima
    ($\\sum_k n_k$ numbers), per leaf of rank $\\le 1$ one accumulator per entry."""

    accumulators: Any


def _cover_size(shape: tuple) -> tuple:
    return (sum(shape),) if len(shape) >= 2 else tuple(shape)


def scale_by_cover_rss(
    decay: Scalar = 1.0,
    eps: Scalar = 1e-8,
    *,
    source: str = "updates",
    accumulator_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Divide by the root of SM3's cover-wise sum of squared gradients.

    For a leaf of rank $k \ge 2$ the cover is the set of its slices along each axis (rows,
    columns, ...), with one accumulator $\mu(r)$ per slice:

    $$\nu_t(i) = |g_t(i)|^2 + \min_{r \ni i} \mu_{t-1}(r),\qquad
    \mu_t(r) = \max_{j \in r} \nu_t(j),\qquad u_t(i) \leftarrow \frac{u_t(i)}{\sqrt{\nu_t(i)
    + \epsilon}}\ (0 \text{ where } \nu_t(i) = 0)$$

    A leaf of rank $\le 1$ keeps one accumulator per entry (AdaGrad). With
    $\beta$ = ``decay`` $< 1$ the sum becomes $\nu_t = (1-\beta)|g_t|^2 + \beta\min\mu$
    (Optax's extension). $g$ is the ``source``; $\epsilon$ = ``eps``.

    Args:
      decay: $\beta \in [0, 1]$; 1 (the paper) sums.
      eps: $\epsilon \ge 0$, inside the root.
      source: ``"updates"`` (this member's input) or ``"gradient"`` (the chain's input).
      accumulator_dtype: dtype of the stored accumulators (default: the parameter's real
        dtype). With ``decay=1`` they are sums: in bfloat16 a term below $2^{-9}$ of the
        sum is lost, so prefer ``decay < 1`` or float32 for long runs.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`ScaleByCoverRssState`.

    References:
      Anil, Gupta, Koren & Singer, "Memory-Efficient Adaptive Optimization", NeurIPS 2019,
      arXiv:1901.11150, Algorithm SM3-II.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_cover_rss
      >>> tx = scale_by_cover_rss(eps=0.0)
      >>> g = jnp.array([[3.0, 0.0], [0.0, 4.0]])
      >>> s = tx.init(g)
      >>> u, s = tx.update(g, s)
      >>> u.tolist(), s.accumulators.tolist()       # row maxima, then column maxima
      ([[1.0, 0.0], [0.0, 1.0]], [9.0, 16.0, 9.0, 16.0])
    """
    _validate.check_range("decay", decay, 0.0, 1.0)
    _validate.check_nonnegative("eps", eps)
    _validate.check_choice("source", source, _SOURCES)
    accumulator_dtype = _validate.check_dtype("accumulator_dtype", accumulator_dtype)

    def init(params):
        def make(p):
            if p is None or not _tree.is_trainable(p):
                return None
            dt = _tree.real_dtype(p.dtype if accumulator_dtype is None else accumulator_dtype)
            if p.ndim < 2:  # an accumulator per entry: zeros_like keeps the parameter's sharding
                return jnp.zeros_like(p, dtype=dt)
            return jnp.zeros(_cover_size(p.shape), dt)

        return ScaleByCoverRssState(jax.tree.map(make, params, is_leaf=_tree.is_none))

    def update(updates, state, params=None, **extra):
        del params
        check_state_type(state, ScaleByCoverRssState, "scale_by_cover_rss")
        stats = statistic_source(updates, extra, source)
        b = jnp.asarray(decay)
        scalars = _tree.Scalars(new=jnp.where(b == 1, 1, 1 - b), old=b, eps=eps)

        def step(u, g, acc):
            s = scalars(u)
            if g.ndim < 2:
                nu = s.new * _tree.abs_sq(g) + s.old * acc
                new_acc = nu
            else:
                bounds = np.cumsum((0, *g.shape))
                covers = [
                    acc[lo:hi].reshape([n if i == k else 1 for i in range(g.ndim)])
                    for k, (lo, hi, n) in enumerate(zip(bounds[:-1], bounds[1:], g.shape))
                ]
                nu = s.new * _tree.abs_sq(g) + s.old * functools.reduce(jnp.minimum, covers)
                others = lambda k: tuple(i for i in range(g.ndim) if i != k)
                # initial=0 (accumulators are >= 0): a 0-size axis gives zeros, not an error
                new_acc = jnp.concatenate(
                    [jnp.max(nu, axis=others(k), initial=0) for k in range(g.ndim)]
                )
            inv = jnp.where(nu > 0, jax.lax.rsqrt(nu + s.eps), 0)
            return u * inv.astype(_tree.real_dtype(u.dtype)), new_acc

        names = ("updates", "gradient", "accumulators")
        updates, acc = _tree.leafwise(
            step, updates, stats, state.accumulators, names=names, n_out=2
        )
        return updates, ScaleByCoverRssState(acc)

    return GradientTransformation(init, update)
