"""Compile one optimizer's training program for a workload, and run trials with it.

A *program* is two compiled functions: ``chunk`` (``eval_every`` optimizer steps in one
``lax.scan``, or a Python loop over a compiled step where ``Workload.scan`` is false: XLA:CPU
runs a convolution inside a loop about ten times slower than outside) and ``evaluate`` (the
validation metrics). Its hyperparameters are inputs
(they live in the optimizer state), so every trial of an optimizer on a workload reuses one
program; only ``Spec.static`` hyperparameters (L-BFGS's memory) compile another.

Time to target counts the compiled chunks only (``block_until_ready`` around each call):
evaluations are free, as in AlgoPerf, and compilation, shared by all trials, is reported
apart (``compile_s``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import gradtx
from gradtx.second_order import value_and_grad_from_state

from ._optimizers import WARMUP, Spec
from ._workloads import Workload


def multiplier(step: jax.Array, budget: int) -> jax.Array:
    """Linear warm-up over the first ``WARMUP * budget`` steps, then cosine decay to 0."""
    warm = max(1, int(WARMUP * budget))
    t = step.astype(jnp.float32)
    progress = jnp.clip((t - warm) / max(budget - warm, 1), 0.0, 1.0)
    return jnp.where(t < warm, (t + 1) / warm, 0.5 * (1 + jnp.cos(jnp.pi * progress)))


@dataclass
class Program:
    """The compiled step chunk and evaluation of one (workload, optimizer, static point)."""

    tx: Any
    chunk: Any
    evaluate: Any
    compile_s: float


def build_tx(wl: Workload, spec: Spec, point: dict) -> Any:
    """The transform for a point; its live hyperparameters are set again per trial."""
    kwargs = {**spec.fixed, **point}
    if spec.warmup_arg:
        kwargs[spec.warmup_arg] = max(1, int(WARMUP * wl.budget))
    return spec.factory(**kwargs)


def compile_program(wl: Workload, spec: Spec, point: dict) -> Program:
    """Trace and compile ``chunk`` and ``evaluate`` for ``point``'s static values."""
    tx = build_tx(wl, spec, point)

    def one(carry, i, data):
        params, state, key = carry
        key, sub = jax.random.split(key)
        batch = wl.sample(data, sub)
        value_fn = lambda p: wl.loss(p, batch)
        if spec.linesearch:
            value, grads = value_and_grad_from_state(value_fn)(params, state=state)
            extra = {"value": value, "grad": grads, "value_fn": value_fn}
        else:
            value, grads = jax.value_and_grad(value_fn)(params)
            extra = {}
        updates, state = tx.update(grads, state, params, **extra)
        if spec.schedule:
            m = multiplier(i, wl.budget)
            updates = jax.tree.map(lambda u: u * m.astype(u.dtype), updates)
        return (gradtx.apply_updates(params, updates), state, key), value

    def scanned(params, state, key, step0, data):
        steps = step0 + jnp.arange(wl.eval_every, dtype=jnp.int32)
        body = lambda carry, i: one(carry, i, data)
        (params, state, key), losses = jax.lax.scan(body, (params, state, key), steps)
        return params, state, key, losses

    def single(params, state, key, step, data):
        (params, state, key), loss = one((params, state, key), step, data)
        return params, state, key, loss

    def evaluate(params, state, data):
        if spec.eval_params is not None:
            params = spec.eval_params(state, params)
        return wl.evaluate(params, data)

    params = wl.init(0)
    state = tx.init(params)
    args = (params, state, jax.random.PRNGKey(0), jnp.int32(0), wl.data)
    start = time.perf_counter()
    compiled = jax.jit(scanned if wl.scan else single).lower(*args).compile()
    compiled_eval = jax.jit(evaluate).lower(params, state, wl.data).compile()
    compile_s = time.perf_counter() - start
    if wl.scan:
        return Program(tx, compiled, compiled_eval, compile_s)

    def loop(params, state, key, step0, data):  # XLA:CPU runs convolutions in loops slowly
        losses = []
        for i in range(wl.eval_every):
            params, state, key, loss = compiled(params, state, key, step0 + i, data)
            losses.append(loss)
        return params, state, key, jnp.stack(losses)

    return Program(tx, loop, compiled_eval, compile_s)


def run_trial(
    wl: Workload, spec: Spec, program: Program, point: dict, seed: int, max_steps=None
) -> dict:
    """Train from ``seed`` with ``point`` until the target, divergence or the budget.

    Returns a JSON-ready record: ``reached``, ``steps_to_target`` and ``time_to_target_s``
    (``None`` when not reached), ``status`` (``"reached"``, ``"not reached"`` or
    ``"diverged"``), the best and final metric, and the validation curve.
    """
    params = wl.init(seed)
    state = program.tx.init(params)
    live = {k: v for k, v in point.items() if k not in spec.static}
    if live:
        state = gradtx.set_hyperparams(state, **live)
    key = jax.random.PRNGKey(seed)
    limit = wl.budget if max_steps is None else min(wl.budget, max_steps)
    first = float(program.evaluate(params, state, wl.data)[wl.metric])
    curve = [(0, 0.0, first, None)]
    step, elapsed, status, reached_at = 0, 0.0, "not reached", None
    while step < limit:
        start = time.perf_counter()
        params, state, key, losses = program.chunk(params, state, key, jnp.int32(step), wl.data)
        jax.block_until_ready((params, state, losses))
        elapsed += time.perf_counter() - start
        step += wl.eval_every
        metrics = {k: float(v) for k, v in program.evaluate(params, state, wl.data).items()}
        loss = float(np.mean(np.asarray(losses)))
        curve.append((step, round(elapsed, 4), metrics[wl.metric], loss))
        if not (math.isfinite(loss) and math.isfinite(metrics[wl.metric])):
            status = "diverged"
            break
        if wl.reached(metrics[wl.metric]):
            status, reached_at = "reached", (step, elapsed)
            break
    values = [c[2] for c in curve if math.isfinite(c[2])]
    return {
        "reached": reached_at is not None,
        "status": status,
        "steps_to_target": reached_at[0] if reached_at else None,
        "time_to_target_s": round(reached_at[1], 4) if reached_at else None,
        "steps_run": step,
        "train_s": round(elapsed, 4),
        "ms_per_step": round(1e3 * elapsed / max(step, 1), 4),
        "best_metric": min(values) if values else None,
        "final_metric": curve[-1][2] if math.isfinite(curve[-1][2]) else None,
        "curve": [list(c) for c in curve],
    }


def rescore(rec: dict, wl: Workload) -> dict:
    """``rec`` with reached / steps and time to target read again from its curve by
    ``wl.reached`` (so that a stored trial follows the current rule)."""
    if rec.get("status") == "error":
        return rec
    for step, elapsed, value, _ in rec["curve"]:
        if wl.reached(value):
            return {**rec, "reached": True, "status": "reached", "steps_to_target": step,
                    "time_to_target_s": elapsed}  # fmt: skip
    return rec
