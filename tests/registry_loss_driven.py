"""Test cases of ``gradtx.optimizers._loss_driven``, merged into ``registry_breadth``.

The same formats as ``registry_breadth`` (``CASES``, ``SETTINGS``), ``test_convergence``
(``CONVERGENCE``) and ``test_breadth_errors`` (``BAD``, ``PRIMITIVES``, ``BAD_PRIMITIVES``), so
every optimizer registered here goes through the common battery, parity, training, errors,
checkpoint and convergence tests.

Optax has none of these optimizers: each case is checked against a NumPy reference written
from the paper's pseudo-code. The references need the loss of the *whole* tree (the parity
harness passes ``value = 1 + 0.5 |w|^2`` and that function as ``value_fn``), so they are
written for lists of leaves (:class:`TreeReference`) and adapted by :func:`per_leaf` to the
registry's leaf-by-leaf ``(init, step)`` protocol. The random draws are JAX's, from the same
key schedule (split once per step, then once per leaf).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from registry import Case

from gradtx.transforms import _loss_driven as ld


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
    """Adapt a :class:`TreeReference` to the registry's ``(init, step)`` protocol, which
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

CASES: list[Case] = [
    # Against the harness's random gradients about half the steps raise the loss: with the
    # default increase the scale shrinks until the steps are at float32's rounding of the loss.
    Case("bold_driver", {"learning_rate": 0.01, "increase": 2.0}, reference=bold_driver_reference),
    Case(
        "bold_driver",
        {"learning_rate": 0.005, "decrease": 0.7, "tolerance": 0.05, "momentum": 0.6},
        reference=bold_driver_reference,
        id_suffix="tolerance-momentum",
    ),
    # Step sizes that are powers of 2 (x 2 or x 1/2): float32's pow and NumPy's differ by an
    # ulp for other factors, which the step size accumulates (to 6e-7 in 50 steps).
    Case(
        "random_search",
        {"learning_rate": 0.1, "increase": 2.0, "target_rate": 0.5, "key": 3},
        reference=random_search_reference,
    ),
    # A large perturbation: in float32 the difference of two losses near 20 then has a
    # relative error of 1e-7 (the reference and XLA round the sums differently).
    Case(
        "spsa",
        {"learning_rate": 0.02, "perturbation": 1.0, "stability": 10.0, "gamma": 1 / 6, "key": 1},
        reference=spsa_reference,
    ),
]
SETTINGS: dict[str, tuple[Any, ...]] = {  # (lr, tol[, kwargs]): registry_breadth
    "bold_driver": (0.01, 1e-9),
    "random_search": (0.1, 1e-9),
    "spsa": (1.0, 1e-9),
}
# (q_lr, q_tol, r_lr, r_tol[, kwargs]). On Rosenbrock, random search and the bold driver
# reach the valley's end within 0.03; SPSA's decaying gains (alpha = 0.602) crawl along the
# valley (its error halves in 5000 steps) and diverge at twice the rate: the gap is why
# gradients win. Its stability constant A is Spall's "a tenth of the iterations", doubled.
CONVERGENCE: dict[str, tuple[Any, ...]] = {
    "bold_driver": (0.01, 1e-9, 0.01, 0.03),
    "random_search": (0.1, 1e-9, 0.01, 0.05),
    "spsa": (3.0, 1e-12, 0.03, 1.0, {"perturbation": 1e-3, "stability": 1000.0}),
}
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("bold_driver", {"learning_rate": 0.1, "increase": 0.9}, r"increase must be in \[1, inf\)"),
    ("bold_driver", {"learning_rate": 0.1, "decrease": 0.0}, r"decrease must be in \(0, 1\]"),
    ("bold_driver", {"learning_rate": 0.1, "tolerance": -0.1}, r"tolerance must be in \[0, inf"),
    ("bold_driver", {"learning_rate": 0.1, "momentum": 1.0}, r"momentum must be in \[0, 1\)"),
    ("bold_driver", {"learning_rate": -0.1}, r"learning_rate must be in \[0, inf\)"),
    ("random_search", {"learning_rate": -0.1}, r"learning_rate must be in \[0, inf\)"),
    ("random_search", {"learning_rate": 0.1, "increase": 0.5}, r"increase must be in \[1, inf"),
    ("random_search", {"learning_rate": 0.1, "target_rate": 1.0}, r"target_rate must be in \(0, 1"),
    ("random_search", {"learning_rate": 0.1, "key": "seed"}, "key must be an int seed"),
    ("spsa", {"learning_rate": 0.1, "perturbation": 0.0}, r"perturbation must be in \(0, inf"),
    ("spsa", {"learning_rate": 0.1, "stability": -1.0}, r"stability must be in \[0, inf\)"),
    ("spsa", {"learning_rate": 0.1, "alpha": -0.5}, r"alpha must be in \[0, inf\)"),
    ("spsa", {"learning_rate": 0.1, "gamma": -1.0}, r"gamma must be in \[0, inf\)"),
]
PRIMITIVES: list[Any] = [
    ld.scale_by_bold_driver,
    ld.reduce_on_plateau,
    ld.random_search_step,
    ld.spsa_gradient,
]
BAD_PRIMITIVES: list[tuple[Any, dict[str, Any], str]] = [
    (ld.scale_by_bold_driver, {"decrease": 1.5}, r"decrease must be in \(0, 1\]"),
    (ld.reduce_on_plateau, {"factor": 1.0}, r"factor must be in \(0, 1\)"),
    (ld.reduce_on_plateau, {"patience": 0}, "patience must be an integer >= 1"),
    (ld.reduce_on_plateau, {"cooldown": 1.5}, "cooldown must be an integer >= 0"),
    (ld.reduce_on_plateau, {"accumulation_size": 0}, "accumulation_size must be an integer"),
    (ld.reduce_on_plateau, {"rtol": 1.5}, r"rtol must be in \[0, 1\]"),
    (ld.reduce_on_plateau, {"rtol": 0.0, "atol": 0.0}, "must not both be 0"),
    (ld.reduce_on_plateau, {"min_scale": -1.0}, r"min_scale must be in \[0, inf\)"),
    (ld.random_search_step, {"target_rate": 0.0}, r"target_rate must be in \(0, 1\)"),
    (ld.spsa_gradient, {"perturbation": -1.0}, r"perturbation must be in \(0, inf\)"),
]
