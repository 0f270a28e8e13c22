"""What the references share: hyperparameters as gradtx stores them, the exact bias
correction, and the adapter of whole-tree references to the leaf-by-leaf protocol."""

from __future__ import annotations

import numpy as np


def hp(p, value):
    """A hyperparameter as gradtx stores it for parameters like ``p``."""
    return float(np.asarray(value, dtype=p.dtype)) if p.dtype == np.float32 else float(value)


def lr_at(p, learning_rate, count):
    """The learning rate at step ``count`` (0-based), a constant or a schedule."""
    value = learning_rate(count) if callable(learning_rate) else learning_rate
    return hp(p, value)


def one_minus_power(b, t):
    """``1 - b**t``, exact to an ulp (as gradtx computes it)."""
    return -np.expm1(t * np.log(b)) if b > 0 else 1.0


class _Deferred:
    """One leaf's update of a whole-tree reference step, computed when first read."""

    def __init__(self, value):
        self._value = value

    def __array__(self, dtype=None, copy=None):
        out = np.asarray(self._value())
        return out if dtype is None else out.astype(dtype)


def whole_tree(make_step):
    """The per-leaf ``(init, step)`` protocol for a reference that needs the whole tree (the
    D-adaptation sums): the parity test calls ``step`` on every leaf, then reads the updates;
    each ``step`` records its leaf and returns a value computed, by ``step_all``, on read.
    ``make_step(params0, dtype)`` returns ``step_all(grads, params) -> updates`` (lists)."""
    params0: list = []
    rounds: list = []
    step_all = None

    def init(p):
        params0.append(p.astype(np.float64))
        return {"index": len(params0) - 1}

    def step(g, s, p):
        nonlocal step_all
        if step_all is None:
            step_all = make_step(params0, p.dtype)
        if s["index"] == 0:
            rounds.append({"gs": [], "ps": [], "us": None})
        r = rounds[-1]
        r["gs"].append(g.astype(np.float64))
        r["ps"].append(p.astype(np.float64))

        def value(i=s["index"]):
            if r["us"] is None:
                r["us"] = step_all(r["gs"], r["ps"])
            return r["us"][i]

        return _Deferred(value)

    return init, step
