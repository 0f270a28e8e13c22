"""Training loops of the case study: one jitted round at a time, a history per run.

A *round* is one call of a compiled function: for a mini-batch method, one epoch (a
``lax.scan`` of optimizer steps over shuffled batches); for a full-batch method, a few
iterations on the whole training set (a ``lax.scan`` too). Between rounds the loop records
the training loss, test accuracy, passes over the data and wall time, and stops at the first
non-finite loss. A run is reported ``nan@roundK`` when its loss became non-finite in round
K, ``diverged`` when its final loss is above the initial one, ``ok`` otherwise.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import gradtx

try:  # full-batch second-order methods (another part of the library; optional here)
    import gradtx.second_order as second_order
except ImportError:  # pragma: no cover - depends on the library's version
    second_order = None


@dataclass
class Method:
    """One run's optimizer: a transform, how its gradients are computed, and its extras."""

    name: str
    tx: Any
    batch_size: int | None  # None: full batch (the gradient of the whole empirical risk)
    needs_value: bool = False  # pass value=loss and value_fn=loss_fn to update
    linesearch: bool = False  # pass value, grad and value_fn (full-batch line searches)
    hyperparams: dict = field(default_factory=dict)  # set live with gradtx.set_hyperparams


def _evaluations(state) -> jax.Array:
    """Objective evaluations the last update made (line searches), from StepInfo records."""
    kind = getattr(second_order, "StepInfo", None)
    if kind is None:
        return jnp.zeros([], jnp.int32)
    infos = [
        x
        for x in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, kind))
        if isinstance(x, kind)
    ]
    return sum((info.num_fun_evals for info in infos), jnp.zeros([], jnp.int32))


def make_round(objective, method: Method, steps: int):
    """The jitted round ``(params, state, key, data) -> (params, state, losses, passes, acc)``.

    ``losses`` is the training loss after each full-batch iteration, or after the epoch;
    ``passes`` the passes over the training set each of them cost.
    """
    tx = method.tx

    def extras(value, grads, value_fn):
        if method.linesearch:
            return {"value": value, "grad": grads, "value_fn": value_fn}
        return {"value": value, "value_fn": value_fn} if method.needs_value else {}

    def update(params, state, value_fn):
        value, grads = jax.value_and_grad(value_fn)(params)
        updates, state = tx.update(grads, state, params, **extras(value, grads, value_fn))
        return gradtx.apply_updates(params, updates), state, value

    def round_fn(params, state, key, data):
        x_tr, y_tr, x_te, y_te = data
        n = x_tr.shape[0]
        if method.batch_size is None:  # full batch: `steps` iterations on all the data

            def step(carry, _):
                value_fn = lambda p: objective.loss(p, x_tr, y_tr)
                params, state, value = update(*carry, value_fn)
                return (params, state), (value, 1 + _evaluations(state))

            (params, state), (values, evals) = jax.lax.scan(step, (params, state), None, steps)
            loss = objective.loss(params, x_tr, y_tr)
            losses = jnp.append(values[1:], loss)  # the loss after each iteration
            passes = jnp.cumsum(evals).astype(jnp.float32)
        else:  # one epoch of mini-batches, without replacement (an online epoch may be cut)
            bs = method.batch_size
            idx = jax.random.permutation(key, n)[: steps * bs].reshape(steps, bs)

            def step(carry, batch):
                value_fn = lambda p: objective.loss(p, x_tr[batch], y_tr[batch])
                return update(*carry, value_fn)[:2], None

            (params, state), _ = jax.lax.scan(step, (params, state), idx)
            losses = objective.loss(params, x_tr, y_tr)[None]
            passes = jnp.full([1], steps * bs / n, jnp.float32)
        return params, state, losses, passes, objective.accuracy(params, x_te, y_te)

    return jax.jit(round_fn)


_COMPILED: dict = {}  # reused across runs that differ only in live hyperparameters


def train(objective, method: Method, data, rounds: int, steps: int, seed: int, bar=None):
    """Train from ``objective.params``; return the run's numbers and curves (JSON-ready)."""
    params = objective.params
    state = method.tx.init(params)
    if method.hyperparams:
        state = gradtx.set_hyperparams(state, **method.hyperparams)
    key = jax.random.PRNGKey(seed + 1)  # the same batches for every method
    start = time.perf_counter()
    cache_key = (id(objective), id(method.tx), method.batch_size, steps)
    if cache_key not in _COMPILED:
        fn = make_round(objective, method, steps)
        _COMPILED.clear()  # keep one: a sweep reuses it, a comparison moves on
        # the objects stay referenced, so the ids in the key stay theirs
        _COMPILED[cache_key] = (objective, method.tx, fn.lower(params, state, key, data).compile())
    round_fn = _COMPILED[cache_key][-1]
    jax.block_until_ready(round_fn(params, state, key, data))  # a pure warm-up, discarded
    compile_s = time.perf_counter() - start  # compilation and the first call's set-up
    history = {"passes": [], "time_s": [], "train_loss": [], "test_accuracy_per_round": []}
    passes, train_s, rounds_done = 0.0, 0.0, 0
    for r in range(rounds):
        t0 = time.perf_counter()
        params, state, losses, p, acc = round_fn(params, state, jax.random.fold_in(key, r), data)
        losses, p, acc = np.asarray(losses, float), np.asarray(p, float), float(acc)
        dt, rounds_done = time.perf_counter() - t0, r + 1
        for k, (loss, cost) in enumerate(zip(losses, p)):  # times spread evenly in the round
            history["passes"].append(passes + cost)
            history["time_s"].append(train_s + dt * (k + 1) / len(losses))
            history["train_loss"].append(float(loss) if math.isfinite(loss) else None)
        passes, train_s = passes + p[-1], train_s + dt
        history["test_accuracy_per_round"].append(100 * acc if math.isfinite(acc) else None)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.4g}")
        if not np.all(np.isfinite(losses)):
            break
    n_steps = rounds_done * steps
    initial = float(objective.loss(objective.params, data[0], data[1]))
    nonfinite = None in history["train_loss"]
    if nonfinite:  # a NaN or inf: the run stopped there
        status = f"nan@round{rounds_done}"
    else:  # a finite loss that ended above where it started
        status = "diverged" if history["train_loss"][-1] > initial else "ok"
    hyper = {k: float(np.asarray(v)) for k, v in gradtx.get_hyperparams(state).items()}
    return {
        "status": status,
        "initial_train_loss": initial,
        "batch_size": method.batch_size or int(data[0].shape[0]),
        "full_batch": method.batch_size is None,
        "hyperparams": hyper,
        "final_train_loss": None if nonfinite else history["train_loss"][-1],
        "test_accuracy": None if nonfinite else history["test_accuracy_per_round"][-1],
        "steps": n_steps,
        "passes": passes,
        "compile_s": compile_s,
        "train_s": train_s,
        "wall_s": compile_s + train_s,
        "ms_per_step": 1e3 * train_s / max(n_steps, 1),
        "curves": history,
    }


def full_batch_methods(example_lr: float) -> tuple[list[Method], list[str]]:
    """Full-batch GD, and L-BFGS and nonlinear CG when ``gradtx.second_order`` has them."""
    methods = [Method("gd_fullbatch", gradtx.gd(example_lr), None)]
    skipped = []
    for name, attr in (("lbfgs_fullbatch", "lbfgs"), ("cg_fullbatch", "nonlinear_cg")):
        factory = getattr(second_order, attr, None)
        if factory is None:
            skipped.append(name)
        else:
            methods.append(Method(name, factory(), None, linesearch=True))
    return methods, skipped
