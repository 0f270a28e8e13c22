"""Plot every schedule in ``gradtx.schedules`` over 1,000 steps (one PNG grid).

A schedule is a function of the step count; give one in place of a hyperparameter
(``gradtx.adam(learning_rate=schedule)``) and it is evaluated inside the jitted update.
Writes ``schedules.png`` and ``schedules.json`` (a few values of each) into ``--out``; a
schedule added to the library without an example here is listed as missing, not plotted.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import schedules as sch

T = 1000  # steps shown


def examples() -> dict:
    """One example per public schedule: a title and the schedule."""
    cos = {"init_value": 0.0, "peak_value": 1.0, "warmup_steps": 50, "decay_steps": 300}
    return {
        "constant_schedule": ("constant(0.5)", sch.constant_schedule(0.5)),
        "linear_schedule": (
            "linear 1 -> 0.1, steps 100 to 900",
            sch.linear_schedule(1.0, 0.1, 800, 100),
        ),
        "polynomial_schedule": ("polynomial, power 2", sch.polynomial_schedule(1.0, 0.0, 2, T)),
        "exponential_decay": (
            "exponential, rate 0.5 / 200 (staircase)",
            sch.exponential_decay(1.0, 200, 0.5, staircase=True),
        ),
        "inverse_time_decay": ("inverse time, rate 0.01", sch.inverse_time_decay(1.0, 0.01)),
        "piecewise_constant_schedule": (
            "piecewise constant: x0.1 at 400, 800",
            sch.piecewise_constant_schedule(1.0, {400: 0.1, 800: 0.1}),
        ),
        "piecewise_interpolate_schedule": (
            "piecewise cosine interpolation",
            sch.piecewise_interpolate_schedule("cosine", 0.2, {200: 5.0, 700: 0.1}),
        ),
        "cosine_decay_schedule": ("cosine decay to 0.1", sch.cosine_decay_schedule(1.0, T, 0.1)),
        "warmup_constant_schedule": (
            "warm-up 100, constant",
            sch.warmup_constant_schedule(0.0, 1.0, 100),
        ),
        "warmup_cosine_decay_schedule": (
            "warm-up 100 + cosine decay",
            sch.warmup_cosine_decay_schedule(0.0, 1.0, 100, T, end_value=0.05),
        ),
        "warmup_exponential_decay_schedule": (
            "warm-up 100 + exponential decay",
            sch.warmup_exponential_decay_schedule(0.0, 1.0, 100, 150, 0.5, end_value=0.05),
        ),
        "cosine_onecycle_schedule": ("one-cycle (cosine)", sch.cosine_onecycle_schedule(T, 1.0)),
        "linear_onecycle_schedule": ("one-cycle (linear)", sch.linear_onecycle_schedule(T, 1.0)),
        "sgdr_schedule": (
            "SGDR: warm restarts",
            sch.sgdr_schedule([cos, {**cos, "decay_steps": 700}]),
        ),
        "join_schedules": (
            "join: constant, then linear decay",
            sch.join_schedules(
                [sch.constant_schedule(1.0), sch.linear_schedule(1.0, 0.0, 500)], [500]
            ),
        ),
        "momentum_ramp": (
            "momentum ramp 0.5 -> 0.99 (linear)",
            sch.momentum_ramp(0.5, 0.99, transition_steps=600),
        ),
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="results/")
    p.add_argument("--quick", action="store_true", help="the same plot (it is fast already)")
    args = p.parse_args(argv)
    # Schedules are functions; the classes (Schedule, StatefulSchedule, ...) are their types.
    public = [n for n in sch.__all__ if inspect.isfunction(getattr(sch, n))]
    shown = examples()
    missing = sorted(set(public) - set(shown))
    if missing:
        print(f"no example yet for {missing}: not plotted")
    shown = {k: v for k, v in shown.items() if k in public}
    steps = jnp.arange(T + 1)
    values = {name: np.asarray(jax.jit(jax.vmap(fn))(steps)) for name, (_, fn) in shown.items()}

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 4
    rows = math.ceil(len(shown) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), sharex=True)
    for ax, (name, (title, _)) in zip(axes.flat, shown.items()):
        ax.plot(np.asarray(steps), values[name], lw=1.8)
        ax.set_title(f"{name}\n{title}", fontsize=9)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(shown) :]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("step")
    fig.tight_layout()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "schedules.png", dpi=90)
    plt.close(fig)
    at = [0, 100, 500, T]
    summary = {n: {str(t): float(v[t]) for t in at} for n, v in values.items()}
    record = {"values": summary, "missing": missing}
    (out / "schedules.json").write_text(json.dumps(record, indent=1))
    for name, row in summary.items():
        print(f"{name:<36}" + "  ".join(f"t={t}: {v:.4g}" for t, v in row.items()))
    print(f"wrote {out / 'schedules.png'}")
    return summary


if __name__ == "__main__":
    main()
