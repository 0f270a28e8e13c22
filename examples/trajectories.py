"""Optimizer paths on 2-D test surfaces, drawn over their contour lines.

* an ill-conditioned quadratic: gradient descent zig-zags across the valley, momentum
  averages the zig-zag out;
* Rosenbrock's banana valley; Beale's function with its flat plateaus and steep walls;
* a saddle, f = x^2 - y^2, started just off the saddle point: gradient descent stalls where
  the gradient is tiny, sign-like adaptive methods (RMSprop, Adam) escape at once.

First-order methods run with a learning rate per surface; L-BFGS, nonlinear CG and damped
Newton (with line searches) are added when ``gradtx.second_order`` provides them. Each
method is compiled once: the surface is chosen by ``lax.switch`` and the learning rate is
set live with ``gradtx.set_hyperparams``. Writes ``trajectories_<surface>.png`` and
``trajectories.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import gradtx

try:
    import gradtx.second_order as second_order
except ImportError:  # pragma: no cover - depends on the library's version
    second_order = None


class Surface(NamedTuple):
    f: callable
    start: tuple[float, float]
    box: tuple[tuple[float, float], tuple[float, float]]
    steps: int
    log_levels: bool = True


quadratic = lambda p: 0.5 * (p[0] ** 2 + 25 * p[1] ** 2)  # condition number 25
rosenbrock = lambda p: (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2
saddle = lambda p: p[0] ** 2 - p[1] ** 2


def beale(p):
    x, y = p[0], p[1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


SURFACES = {  # f, start, plot box, steps
    "quadratic": Surface(quadratic, (-4.5, 1.2), ((-5, 1), (-1.5, 1.5)), 50),
    "rosenbrock": Surface(rosenbrock, (-1.2, 1.0), ((-2, 2), (-1, 3)), 400),
    "saddle": Surface(saddle, (1.0, 1e-3), ((-1.5, 1.5), (-1.5, 1.5)), 40, log_levels=False),
    "beale": Surface(beale, (1.0, 1.4), ((-1, 4), (-1.5, 2)), 400),
}
# name: (transform, hyperparameters per surface in SURFACES' order; a number is the rate)
FIRST_ORDER = {
    "GD": (gradtx.gd(1.0), (0.075, 1e-3, 0.05, 1e-3)),
    "momentum": (
        gradtx.sgd(1.0, momentum=0.9),
        ({"learning_rate": 0.05, "momentum": 0.6}, 2e-4, 0.01, 1e-4),
    ),
    "Nesterov": (
        gradtx.sgd(1.0, momentum=0.9, nesterov=True),
        ({"learning_rate": 0.02, "momentum": 0.8}, 2e-4, 0.01, 1e-4),
    ),
    "AdaGrad": (gradtx.adagrad(1.0), (1.0, 0.5, 0.2, 0.5)),
    "RMSprop": (gradtx.rmsprop(1.0), (0.1, 0.01, 0.05, 0.01)),
    "Adam": (gradtx.adam(1.0), (0.3, 0.05, 0.05, 0.05)),
    "NAdam": (gradtx.nadam(1.0), (0.3, 0.05, 0.05, 0.05)),
}


def methods(names):
    """(name, transform, settings or None for line-search methods); missing ones are skipped."""
    found = [(n, tx, hps) for n, (tx, hps) in FIRST_ORDER.items() if names is None or n in names]
    for name, attr in (("L-BFGS", "lbfgs"), ("CG", "nonlinear_cg"), ("Newton", "newton")):
        factory = getattr(second_order, attr, None)
        if names is not None and name not in names:
            continue
        if factory is None:
            print(f"{name}: skipped: gradtx.second_order.{attr} is not available yet")
        else:
            found.append((name, factory(), None))
    return found


def make_run(tx, linesearch: bool, steps: int):
    """A jitted ``(x0, state, surface index) -> path``, compiled once per method."""
    fns = [s.f for s in SURFACES.values()]

    @jax.jit
    def run(x0, state, which):
        f = lambda p: jax.lax.switch(which, fns, p)

        def step(carry, _):
            x, state = carry
            value, grad = jax.value_and_grad(f)(x)
            extra = {"value": value, "grad": grad, "value_fn": f} if linesearch else {}
            updates, state = tx.update(grad, state, x, **extra)
            x = gradtx.apply_updates(x, updates)
            return (x, state), x

        _, xs = jax.lax.scan(step, (x0, state), None, length=steps)
        return jnp.concatenate([x0[None], xs])

    return run


def trace_paths(steps_cap: int | None, names=None) -> dict:
    """Every method's path on every surface: {surface: {method: (steps + 1, 2) array}}."""
    paths = {s: {} for s in SURFACES}
    n_max = max(min(s.steps, steps_cap or s.steps) for s in SURFACES.values())
    for name, tx, settings in methods(names):
        run = make_run(tx, settings is None, n_max)
        for i, (sname, surface) in enumerate(SURFACES.items()):
            x0 = jnp.asarray(surface.start, jnp.float32)
            state = tx.init(x0)
            if settings is not None:  # set live: the compiled run is reused
                hp = settings[i]
                hp = hp if isinstance(hp, dict) else {"learning_rate": hp}
                state = gradtx.set_hyperparams(state, **hp)
            path = np.asarray(run(x0, state, i))[: min(surface.steps, n_max) + 1]
            finite = np.all(np.isfinite(path), axis=1)
            paths[sname][name] = path[: np.argmin(finite) if not finite.all() else len(path)]
    return paths


def plot(sname: str, surface: Surface, paths: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (x0, x1), (y0, y1) = surface.box
    X, Y = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
    Z = np.asarray(jax.vmap(jax.vmap(lambda a, b: surface.f(jnp.stack([a, b]))))(X, Y))
    fig, ax = plt.subplots(figsize=(8.5, 6))
    if surface.log_levels:
        levels = np.logspace(math.log10(max(Z.min(), 1e-3)), math.log10(Z.max()), 25)
        ax.contour(X, Y, Z, levels=levels, cmap="Greys", linewidths=0.7, norm="log")
    else:
        ax.contour(X, Y, Z, levels=25, cmap="Greys", linewidths=0.7)
    # tab10 without its grey (the contours are grey), then black; dashed after ten methods
    colors = [c for k, c in enumerate(plt.get_cmap("tab10").colors) if k != 7] + ["black"]
    for i, (name, xy) in enumerate(paths.items()):
        style = "-o" if i < len(colors) else "--o"
        ax.plot(xy[:, 0], xy[:, 1], style, color=colors[i % len(colors)], ms=2, lw=1.3, label=name)
    ax.plot(*surface.start, "k*", ms=12)
    ax.set(
        xlim=(x0, x1),
        ylim=(y0, y1),
        xlabel="x",
        ylabel="y",
        title=f"{sname}: {surface.steps} steps from {surface.start}",
    )
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="results/")
    p.add_argument("--quick", action="store_true", help="at most 15 steps per surface")
    known = [*FIRST_ORDER, "L-BFGS", "CG", "Newton"]
    p.add_argument("--methods", help=f"comma list of {known} (default all)")
    args = p.parse_args(argv)
    names = args.methods.split(",") if args.methods else None
    if names and set(names) - set(known):
        p.error(f"unknown methods {sorted(set(names) - set(known))}; choose from {known}")
    paths = trace_paths(15 if args.quick else None, names)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {}
    for sname, surface in SURFACES.items():
        plot(sname, surface, paths[sname], out / f"trajectories_{sname}.png")
        summary[sname] = {}
        for name, xy in paths[sname].items():
            value = float(surface.f(jnp.asarray(xy[-1])))
            summary[sname][name] = {"steps": len(xy) - 1, "end": xy[-1].tolist(), "f": value}
        best = sorted(summary[sname].items(), key=lambda kv: kv[1]["f"])
        print(f"{sname:<11}" + "  ".join(f"{n} {r['f']:.3g}" for n, r in best))
    (out / "trajectories.json").write_text(json.dumps(summary, indent=1))
    print(f"wrote {len(SURFACES)} PNGs and trajectories.json into {out}")
    return summary


if __name__ == "__main__":
    main()
