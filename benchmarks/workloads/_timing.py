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


def interleaved_ms_per_step(
    wl, entries: dict, rounds: int = 11, min_sample_s: float = 0.2
) -> dict[str, float]:
    """``entries``: name -> (spec, program, point); returns name -> median ms per step.

    A sample runs whole chunks until it has lasted ``min_sample_s`` (a short sample is all
    noise on a busy machine); the warm-up round sets how many chunks that takes.
    """
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
    repeats = dict.fromkeys(names, 1)
    for r in range(rounds + 1):  # round 0 warms up and sets the repeats
        for k in range(len(names)):
            name = names[(r + k) % len(names)]
            params, state, key = carries[name]
            start = time.perf_counter()
            for _ in range(repeats[name]):
                out = entries[name][1].chunk(params, state, key, jnp.int32(0), wl.data)
                jax.block_until_ready(out)
            elapsed = time.perf_counter() - start
            if r:
                samples[name].append(1e3 * elapsed / (repeats[name] * wl.eval_every))
            else:
                repeats[name] = max(1, int(np.ceil(min_sample_s / max(elapsed, 1e-6))))
    return {n: float(np.median(s)) for n, s in samples.items()}
