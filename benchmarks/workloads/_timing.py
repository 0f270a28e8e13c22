"""Seconds per step of each optimizer on a workload, measured side by side.

Trials run one after another, so on a shared machine their wall times mix the optimizer's
cost with the load of the moment. Here every optimizer's compiled chunk of steps runs in
turn, ``rounds`` times, starting from a rotating position; the median over rounds is each
optimizer's time per step, and steps to target times it is a time to target that a change
of load during the run affects alike for all optimizers.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

import gradtx


def interleaved_ms_per_step(wl, entries: dict, rounds: int = 7) -> dict[str, float]:
    """``entries``: name -> (spec, program, point); returns name -> median ms per step."""
    carries = {}
    for name, (spec, program, point) in entries.items():
        params = wl.init(0)
        state = program.tx.init(params)
        live = {k: v for k, v in point.items() if k not in spec.static}
        if live:
            state = gradtx.set_hyperparams(state, **live)
        carries[name] = (params, state, jax.random.PRNGKey(0))
    names = list(entries)
    samples = {n: [] for n in names}
    for r in range(rounds + 1):  # round 0 warms up
        for k in range(len(names)):
            name = names[(r + k) % len(names)]
            params, state, key = carries[name]
            start = time.perf_counter()
            out = entries[name][1].chunk(params, state, key, jnp.int32(0), wl.data)
            jax.block_until_ready(out)
            if r:
                samples[name].append(1e3 * (time.perf_counter() - start) / wl.eval_every)
    return {n: float(np.median(s)) for n, s in samples.items()}
