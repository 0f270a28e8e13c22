"""The learning-rate range test (Smith 2017; fast.ai's "LR finder").

Train for a short run while the rate grows exponentially from ``min_lr`` to ``max_lr``,
record the loss, stop where it blows up, and read a rate off the curve: where the smoothed
loss falls fastest (Smith), or a tenth of the rate at its minimum (fast.ai's rule of thumb).
"""

from __future__ import annotations

import collections.abc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _validate
from gradtx._base import GradientTransformation, apply_updates, chain
from gradtx._inject import get_hyperparams, set_hyperparams


@dataclass(frozen=True)
class LRRangeResult:
    """What the range test recorded, up to and including the step where it diverged.

    Attributes:
      lrs: the rate of each step.
      losses: the loss of each step's batch at the parameters before its update.
      smoothed: their debiased exponential moving average.
      steepest_lr: the rate where the smoothed loss falls fastest against $\\log\\eta$.
      min_loss_lr: the rate at the smallest smoothed loss.
      suggestion: ``steepest_lr`` (``method="steepest"``) or ``min_loss_lr / 10``
        (``method="minimum"``).
      diverged_at: the index of the step whose smoothed loss crossed the threshold (or
        was not finite), or ``None``.
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    steepest_lr: float
    min_loss_lr: float
    suggestion: float
    diverged_at: int | None

    def plot(self, path: str | Path | None = None, *, ax: Any = None, label: str = "") -> Any:
        """Draw the raw and smoothed losses against the rate (log axis) and mark the
        suggestion; with ``path``, write a PNG. Needs matplotlib (an optional dependency).

        Returns:
          The matplotlib axes.
        """
        try:
            import matplotlib

            if ax is None:
                matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as err:
            raise ImportError("LRRangeResult.plot needs matplotlib (not installed)") from err
        fig = None
        if ax is None:
            fig, ax = plt.subplots(figsize=(6.4, 4.4))
        (line,) = ax.plot(self.lrs, self.smoothed, lw=2, label=f"{label} smoothed".strip())
        ax.plot(self.lrs, self.losses, color=line.get_color(), alpha=0.3, lw=1)
        for lr, marker, what in (
            (self.steepest_lr, "o", "steepest"),
            (self.min_loss_lr / 10, "v", "min/10"),
        ):
            y = np.interp(np.log(lr), np.log(self.lrs), self.smoothed)
            ax.plot(lr, y, marker, color=line.get_color(), ms=8, label=f"{what}: {lr:.2g}")
        if self.diverged_at is not None:
            ax.axvline(self.lrs[self.diverged_at], color=line.get_color(), ls=":", lw=1)
        finite = self.smoothed[np.isfinite(self.smoothed)]
        if finite.size:
            low, start = float(finite.min()), float(finite[0])
            pad = abs(start - low) + 1e-12
            ax.set_ylim(low - 0.1 * pad, start + 0.6 * pad)
        ax.set(xscale="log", xlabel="learning rate", ylabel="training loss")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        if fig is not None:
            fig.tight_layout()
            if path is not None:
                fig.savefig(path, dpi=110)
            plt.close(fig)
        return ax


def _transform(optimizer: Any, first_lr: float, schedule: Callable[[Any], Any], params: Any):
    """The transform, and whether its ``learning_rate`` is live (set before each step)."""
    if callable(getattr(optimizer, "update", None)):  # a transform: its rate must be live
        tx = chain(optimizer)
        if "learning_rate" not in get_hyperparams(tx.init(params)):
            raise ValueError(
                "lr_range_test: a transform must have a live `learning_rate` (a gradtx "
                "optimizer); otherwise pass a factory such as `lambda lr: optax.adam(lr)`."
            )
        return tx, True
    if not callable(optimizer):
        raise ValueError(f"optimizer must be a factory of the learning rate, got {optimizer!r}.")
    tx = chain(optimizer(first_lr))
    if "learning_rate" in get_hyperparams(tx.init(params)):
        return tx, True
    return chain(optimizer(schedule)), False


def _batch_source(batches: Any) -> tuple[Any, Any]:
    """``(stacked, iterator)``: a pytree of arrays with a leading batch axis, or an iterator."""
    if batches is None:
        return None, None
    if isinstance(batches, list):
        return None, iter(batches)
    if isinstance(batches, collections.abc.Iterator):
        return None, batches
    leaves = jax.tree.leaves(batches)
    if not leaves or any(np.ndim(x) == 0 for x in leaves):
        raise ValueError("batches must be arrays stacked along a leading axis, or an iterator.")
    return batches, None


def lr_range_test(
    loss_fn: Callable[..., Any],
    params: Any,
    batches: Any,
    optimizer: GradientTransformation,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    num_steps: int = 100,
    smooth: float = 0.98,
    diverge_threshold: float = 4.0,
    *,
    method: str = "steepest",
) -> LRRangeResult:
    r"""Run the learning-rate range test: a short run whose rate grows exponentially.

    $$\eta_i = \eta_{\min}\Big(\frac{\eta_{\max}}{\eta_{\min}}\Big)^{i/(N-1)},\quad
    \bar\ell_i = \frac{\beta\,a_{i-1} + (1-\beta)\ell_i}{1 - \beta^{i+1}},\quad
    \text{stop when } \bar\ell_i - \bar\ell^\star > (\kappa - 1)|\bar\ell^\star|$$

    for $i = 0, \dots, N-1$ ($N$ = ``num_steps``), with $\ell_i$ the loss of step $i$'s batch
    before its update, $a_i$ the EMA of the $\ell$'s, $\beta$ = ``smooth``, $\bar\ell^\star$
    the smallest smoothed loss so far and $\kappa$ = ``diverge_threshold`` (fast.ai's
    $\bar\ell_i > 4\,\bar\ell^\star$ for positive losses). A non-finite loss also stops it.
    The rate is set before each step through the live hyperparameter ``learning_rate``
    (one compilation), or, for a factory whose rate is fixed in the graph (Optax's), by
    building the optimizer with the schedule $\eta_i$. With stacked batches the whole run
    is one jitted ``lax.scan`` whose parameters stop moving at the divergence; with an
    iterator, a jitted step per batch and a Python loop that stops there.

    The suggestion (``method``): ``"steepest"``, the rate where $\bar\ell$ falls fastest
    against $\log\eta$ (Smith's "where the loss starts falling fastest"), measured over
    $\pm N/20$ steps and past the first tenth of them (the EMA's warm-up); or ``"minimum"``,
    a tenth of the rate at the smallest $\bar\ell$ (fast.ai's rule of thumb, which is more
    conservative). Both are in the result.

    Args:
      loss_fn: ``loss_fn(params, batch) -> scalar`` (``loss_fn(params)`` if ``batches`` is
        ``None``).
      params: the initial parameters (not modified).
      batches: a pytree of arrays stacked along a leading axis (step $i$ uses batch
        $i \bmod B$), an iterator or a list of batches (stops when exhausted), or
        ``None`` (full batch).
      optimizer: a factory of the rate, e.g. ``gradtx.adam`` or ``lambda lr:
        gradtx.sgd(lr, momentum=0.9)``, or a gradtx transform with a live
        ``learning_rate``. Its ``update`` gets ``value`` and ``value_fn``.
      min_lr: $\eta_{\min} > 0$.
      max_lr: $\eta_{\max} > \eta_{\min}$.
      num_steps: $N \ge 2$.
      smooth: $\beta \in [0, 1)$.
      diverge_threshold: $\kappa > 1$.
      method: ``"steepest"`` or ``"minimum"``.

    Returns:
      An :class:`LRRangeResult` (``.plot(path)`` draws it).

    References:
      Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
      arXiv:1506.01186; Howard & Gugger, "Fastai: A Layered API for Deep Learning",
      Information 11(2), 2020.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> from gradtx.utils import lr_range_test
      >>> loss = lambda w: 0.5 * jnp.sum(4.0 * w**2)      # gradient descent diverges at 0.5
      >>> r = lr_range_test(loss, jnp.ones(3), None, gradtx.sgd, min_lr=1e-4, max_lr=10.0)
      >>> r.diverged_at is not None and float(r.lrs[r.diverged_at]) > 0.5
      True
      >>> 1e-3 < r.suggestion < 0.5
      True
    """
    _validate.check_positive("min_lr", min_lr)
    _validate.check_range("max_lr", max_lr, min_lr, None, low_open=True)
    if not isinstance(num_steps, (int, np.integer)) or num_steps < 2:
        raise ValueError(f"num_steps must be an integer >= 2, got {num_steps!r}.")
    _validate.check_decay("smooth", smooth)
    _validate.check_range("diverge_threshold", diverge_threshold, 1.0, None, low_open=True)
    _validate.check_choice("method", method, ("steepest", "minimum"))
    lrs = min_lr * (max_lr / min_lr) ** (np.arange(num_steps) / (num_steps - 1))
    rates = jnp.asarray(lrs, jnp.result_type(float))
    schedule = lambda count: rates[jnp.minimum(count, num_steps - 1)]
    tx, live = _transform(optimizer, float(lrs[0]), schedule, params)
    stacked, iterator = _batch_source(batches)

    def step(params, state, lr, batch):
        objective = (lambda p: loss_fn(p, batch)) if batches is not None else loss_fn
        if live:
            state = set_hyperparams(state, learning_rate=lr)
        value, grad = jax.value_and_grad(objective)(params)
        updates, state = tx.update(grad, state, params, value=value, value_fn=objective)
        return apply_updates(params, updates), state, value

    if iterator is None:
        losses, stopped = _scan(step, tx, params, rates, stacked, smooth, diverge_threshold)
        losses, stopped = np.asarray(losses), np.asarray(stopped)
        diverged_at = int(np.argmax(stopped)) if stopped.any() else None
    else:
        losses, diverged_at = _loop(step, tx, params, rates, iterator, smooth, diverge_threshold)
    return _summary(lrs, losses, smooth, diverged_at, method, num_steps)


def _diverged(smoothed: Any, best: Any, threshold: float) -> Any:
    """The smoothed loss rose above the best by more than ``threshold - 1`` times its size
    (``smoothed > threshold * best`` for a positive best), or is not finite."""
    return ~(smoothed - best <= (threshold - 1) * jnp.abs(best))


def _scan(step, tx, params, rates, stacked, smooth, threshold):
    n_batches = jax.tree.leaves(stacked)[0].shape[0] if stacked is not None else 1

    @jax.jit
    def run(params, stacked):
        def body(carry, inputs):
            params, state, avg, best, stopped = carry
            i, lr = inputs
            batch = jax.tree.map(lambda x: x[i % n_batches], stacked)
            new_params, new_state, value = step(params, state, lr, batch)
            avg = smooth * avg + (1 - smooth) * value
            smoothed = avg / (1 - smooth ** (i + 1).astype(avg.dtype))
            best = jnp.minimum(best, smoothed)
            stopped = stopped | _diverged(smoothed, best, threshold) | ~jnp.isfinite(value)
            params = jax.tree.map(lambda a, b: jnp.where(stopped, a, b), params, new_params)
            state = jax.tree.map(lambda a, b: jnp.where(stopped, a, b), state, new_state)
            return (params, state, avg, best, stopped), (value, stopped)

        zero = jnp.zeros([], rates.dtype)
        carry = (params, tx.init(params), zero, jnp.full([], jnp.inf, rates.dtype), False)
        steps = (jnp.arange(len(rates)), rates)
        return jax.lax.scan(body, carry, steps)[1]

    return run(params, stacked)


def _loop(step, tx, params, rates, iterator, smooth, threshold):
    step, state, losses = jax.jit(step), tx.init(params), []
    avg, best = 0.0, np.inf
    for i, batch in zip(range(len(rates)), iterator):
        params, state, value = step(params, state, rates[i], batch)
        losses.append(float(value))
        avg = smooth * avg + (1 - smooth) * losses[-1]
        smoothed = avg / (1 - smooth ** (i + 1))
        best = min(best, smoothed)
        if not np.isfinite(losses[-1]) or bool(_diverged(smoothed, best, threshold)):
            return np.asarray(losses), i
    return np.asarray(losses), None


def _summary(lrs, losses, smooth, diverged_at, method, num_steps) -> LRRangeResult:
    """Smooth the losses (in float64), cut them after the divergence, read off the rates."""
    end = len(losses) if diverged_at is None else diverged_at + 1
    lrs, losses = lrs[:end], losses[:end].astype(float)
    smoothed, avg = np.empty(end), 0.0
    for i, loss in enumerate(losses):
        avg = smooth * avg + (1 - smooth) * loss
        smoothed[i] = avg / (1 - smooth ** (i + 1))
    valid = smoothed[: max(1, end if diverged_at is None else diverged_at)]
    finite = np.where(np.isfinite(valid), valid, np.inf)
    min_loss_lr = float(lrs[int(np.argmin(finite))])
    # The slope over +-N/20 steps (one step's is mostly noise), past the first tenth.
    w = max(1, num_steps // 20)
    centers = np.arange(w, len(valid) - w)
    centers = centers[centers >= max(w, num_steps // 10)] if len(centers) > 1 else centers
    if len(centers):
        logs = np.log(lrs)
        slope = (finite[centers + w] - finite[centers - w]) / (
            logs[centers + w] - logs[centers - w]
        )
        steepest_lr = float(lrs[centers[int(np.argmin(np.nan_to_num(slope, nan=np.inf)))]])
    else:
        steepest_lr = min_loss_lr / 10
    suggestion = steepest_lr if method == "steepest" else min_loss_lr / 10
    return LRRangeResult(lrs, losses, smoothed, steepest_lr, min_loss_lr, suggestion, diverged_at)
