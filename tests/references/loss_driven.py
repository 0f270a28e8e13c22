"""References of the loss-driven family (``tests/cases/loss_driven.py``), from the papers'
pseudo-code.

They need the loss of the *whole* tree (the parity test passes ``value = 1 + 0.5 |w|^2``
and that function as ``value_fn``), so they are written for lists of leaves
(:class:`TreeReference`) and adapted by :func:`per_leaf` to the leaf-by-leaf ``(init, step)``
protocol. The random draws are JAX's, from the same key schedule (split once per step, then
once per leaf).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np


def battery_value(leaves: list[np.ndarray]) -> Any:
    """The parity harness's ``value_fn``, ``1 + 0.5 |w|^2``, in the leaves' precision."""
    return 1.0 + 0.5 * sum(np.sum(np.abs(x) ** 2) for x in leaves)


def _at(value: Any, t: int) -> Any:
    """A hyperparameter at step ``t``: a schedule is called, a constant returned."""
    return np.asarray(value(t) if callable(value) else value)


def _key(key: Any) -> Any:
    return jax.random.key_data(jax.random.key(0 if key is None else key))


class TreeReference:
    """A reference on a list of leaves: ``begin(params)`` once per step (the decisions that
    need the loss of the whole tree), then ``leaf(i, g)`` for each leaf's update."""

    def __init__(self, value_fn=battery_value, **hyper: Any):
        self.value_fn, self.hyper, self.t = value_fn, hyper, 0

    def h(self, name: str, dtype: Any) -> Any:
        """A hyperparameter at the current step, in the working precision (as gradtx stores
        it: a float32 array when the parameters are float32)."""
        return _at(self.hyper[name], self.t).astype(dtype)

    def draws(self, params, sample) -> list[np.ndarray]:
        """One array per leaf: ``sample(key, shape, dtype)``, keys as gradtx splits them."""
        self.key, step_key = jax.random.split(self.key)
        keys = jax.random.split(step_key, len(params))
        return [np.asarray(sample(k, p.shape, p.dtype)) for k, p in zip(keys, params)]


class BoldDriverReference(TreeReference):
    """Vogl et al. (1988) / Battiti (1989): accept and grow after a fall, undo and cut after
    a rise, retry from the previous point without momentum (the step after an undo is not
    judged)."""

    def init(self, params):
        self.scale, self.last, self.judge = np.ones([], params[0].dtype), None, False
        self.previous = [np.zeros_like(p) for p in params]

    def begin(self, params):
        dt = params[0].dtype
        value, last = self.value_fn(params), self.last
        rose = self.judge and not value <= last + self.h("tolerance", dt) * abs(last)
        fell = self.judge and value < last
        if rose:
            self.scale = self.scale * self.h("decrease", dt)
        elif fell and np.isfinite(self.scale * self.h("increase", dt)):
            self.scale = self.scale * self.h("increase", dt)
        self.rose, self.judge = rose, not rose
        self.last = last if rose else value
        self.rate = -self.h("learning_rate", dt)
        self.t += 1

    def leaf(self, i, g):
        if self.rose:
            u, self.previous[i] = -self.previous[i], np.zeros_like(g)
            return u
        u = self.scale * (self.rate * g) + self.h("momentum", g.dtype) * self.previous[i]
        self.previous[i] = u
        return u


class RandomSearchReference(TreeReference):
    """Schumer & Steiglitz (1968) / Rechenberg's (1+1)-ES: a Gaussian step, kept if the loss
    falls; the step size times ``increase`` after a success, ``increase^(-p/(1-p))`` after a
    failure."""

    def init(self, params):
        self.key, self.scale = _key(self.hyper["key"]), np.ones([], params[0].dtype)

    def begin(self, params):
        dt = params[0].dtype
        sigma = self.h("learning_rate", dt) * self.scale
        steps = [sigma * z for z in self.draws(params, jax.random.normal)]
        kept = self.value_fn([p + d for p, d in zip(params, steps)]) < self.value_fn(params)
        self.updates = [d if kept else np.zeros_like(d) for d in steps]
        increase, p = self.h("increase", dt), self.h("target_rate", dt)
        self.scale = self.scale * (increase if kept else increase ** (-p / (1 - p)))
        self.t += 1

    def leaf(self, i, g):
        return self.updates[i]


class SPSAReference(TreeReference):
    """Spall (1992): a Rademacher perturbation, two loss values, the gains
    ``a / (k + 1 + A)^alpha`` and ``c / (k + 1)^gamma``."""

    def init(self, params):
        self.key = _key(self.hyper["key"])

    def begin(self, params):
        dt, k = params[0].dtype, np.asarray(self.t, params[0].dtype)
        c = self.h("perturbation", dt) / (k + 1) ** self.h("gamma", dt)
        deltas = self.draws(params, jax.random.rademacher)
        plus = [p + c * d for p, d in zip(params, deltas)]
        minus = [p - c * d for p, d in zip(params, deltas)]
        slope = (self.value_fn(plus) - self.value_fn(minus)) / (2 * c)
        a = self.h("learning_rate", dt) / (k + 1 + self.h("stability", dt)) ** self.h("alpha", dt)
        self.updates = [-a * (slope * d) for d in deltas]
        self.t += 1

    def leaf(self, i, g):
        return self.updates[i]


def per_leaf(reference: type[TreeReference], defaults: dict[str, Any]):
    """Adapt a :class:`TreeReference` to the leaf-by-leaf ``(init, step)`` protocol, which
    calls ``init`` on each leaf, then ``step`` on each leaf in the same order every step:
    the adapter keeps the current leaves (``p + u``, as the harness computes them), so that
    the first leaf's ``step`` can run ``begin`` on the whole tree."""

    def make(**kwargs: Any):
        ref, leaves = reference(**{**defaults, **kwargs}), []

        def init(p):
            leaves.append(np.asarray(p))
            return len(leaves) - 1

        def step(g, i, p):
            if i == 0:
                if ref.t == 0:
                    ref.init(leaves)
                ref.begin(list(leaves))
            u = np.asarray(ref.leaf(i, g), dtype=p.dtype)
            leaves[i] = (p + u).astype(p.dtype)
            return u

        return init, step

    return make


def run_tree_reference(ref, params, steps, grad_fn=None):
    """The reference on lists of NumPy leaves; ``grad_fn`` gives the gradients it follows."""
    leaves = [np.asarray(p) for p in params]
    ref.init(leaves)
    out = []
    for _ in range(steps):
        grads = grad_fn(leaves) if grad_fn else leaves
        ref.begin(leaves)
        leaves = [p + ref.leaf(i, g) for i, (p, g) in enumerate(zip(leaves, grads))]
        out.append(leaves)
    return out


def plateau_reference(
    values, factor=0.1, patience=10, rtol=1e-4, atol=0.0, cooldown=0, accumulation_size=1,
    min_scale=0.0,
):  # fmt: skip
    """PyTorch's ``ReduceLROnPlateau.step`` (best, bad epochs, cooldown counter) on means of
    ``accumulation_size`` values, with Optax's count (a cut after ``patience`` bad means;
    PyTorch's after ``patience + 1``) and the sign-correct threshold
    ``best - rtol * |best| - atol``. Returns the scale after each value, and the bests."""
    scale, best, bad, cool, acc, scales, bests = 1.0, np.inf, 0, 0, [], [], []
    for value in values:
        acc.append(value)
        if len(acc) == accumulation_size:
            mean, acc = np.mean(acc), []
            threshold = best - rtol * abs(best) - atol if np.isfinite(best) else np.inf
            if mean < threshold:
                best, bad = mean, 0
            else:
                bad += 1
            if cool > 0:
                cool, bad = cool - 1, 0
            elif bad >= patience:
                scale, cool, bad = max(scale * factor, min_scale), cooldown, 0
        scales.append(scale)
        bests.append(best)
    return np.array(scales), np.array(bests)


BOLD = {"increase": 1.05, "decrease": 0.5, "tolerance": 0.0, "momentum": 0.0}


SEARCH = {"increase": 1.4, "target_rate": 0.2, "key": None}


SPSA = {"perturbation": 0.01, "stability": 0.0, "alpha": 0.602, "gamma": 0.101, "key": None}


bold_driver_reference = per_leaf(BoldDriverReference, BOLD)


random_search_reference = per_leaf(RandomSearchReference, SEARCH)


spsa_reference = per_leaf(SPSAReference, SPSA)
