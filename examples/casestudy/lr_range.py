"""Two more modes of the case study: the learning-rate range test, and why gradients win.

``--lr-range-test``: :func:`gradtx.utils.lr_range_test` for SGD and Adam on the MLP (the
rate grows exponentially over one short run on the usual mini-batches); then each is
trained for ``--epochs`` at its example rate and at the two suggested ones. Writes
``lr_range_test.png`` and ``lr_range_test.json``.

``--gradient-free``: random search and SPSA against gradient descent for the same number of
loss evaluations, on quadratics of growing dimension and on the full-batch MLP. A gradient
is counted as 3 evaluations: reverse mode costs a small constant times one, in any
dimension, while the gradient-free methods need of the order of ``n`` evaluations to learn
as much. Writes ``gradient_free.png`` and ``gradient_free.json``.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import gradtx
from gradtx.utils import lr_range_test

from . import report, train
from .model import Objective

RANGE_TESTED = ("sgd", "adam")
GRADIENT_COST = 3  # loss evaluations charged for one gradient (value and gradient)


def add_arguments(add) -> None:
    """The two flags, for ``compare_optimizers.parse_args``."""
    add("--lr-range-test", action="store_true", help="range-test sgd and adam's learning rates")
    add("--gradient-free", action="store_true", help="random search, SPSA and GD per evaluation")


def main(args, dataset, arrays) -> dict:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    objective = Objective(dataset.n_features, args.hidden, args.activation, args.seed)
    title = f"{dataset.name}: MLP {objective.shape}"
    if args.lr_range_test:
        stem, (results, curves) = "lr_range_test", range_tests(args, objective, arrays)
        plotted = _plot_range_tests(curves, out / f"{stem}.png", title)
    else:
        stem, results = "gradient_free", gradient_free(args, objective, arrays)
        plotted = _plot_gradient_free(results, out / f"{stem}.png", title)
    report.write_json(_lists(results), out / f"{stem}.json")
    print(f"wrote {out / f'{stem}.json'}" + (f" and {out / f'{stem}.png'}" if plotted else ""))
    return results


def _lists(tree):
    """NumPy arrays as lists, for the JSON."""
    if isinstance(tree, dict):
        return {k: _lists(v) for k, v in tree.items()}
    return tree.tolist() if isinstance(tree, np.ndarray) else tree


def range_tests(args, objective, arrays) -> tuple[dict, dict]:
    x, y = arrays[0], arrays[1]
    bs = min(args.batch_size, len(x))
    idx = jax.random.permutation(jax.random.PRNGKey(args.seed + 1), len(x))
    idx = idx[: len(x) // bs * bs].reshape(-1, bs)  # one epoch of batches, stacked
    batches = (x[idx], y[idx])
    loss = lambda params, batch: objective.loss(params, *batch)
    steps = 30 if args.quick else 150
    results, curves = {}, {}
    print(f"range test: {steps} steps of batch {bs}, rate 1e-5 -> 10, then {args.epochs} epochs")
    for name in RANGE_TESTED:
        info = gradtx.OPTIMIZERS[name]
        r = lr_range_test(loss, objective.params, batches, info.factory, 1e-5, 10.0, steps)
        rates = {"example": info.example["learning_rate"], "steepest": r.steepest_lr}
        rates["min/10"] = r.min_loss_lr / 10
        tx, trained = info.factory(**info.example), {}
        for label, lr in rates.items():  # the rate is live: one compilation for the three
            method = train.Method(name, tx, bs, info.needs_value, hyperparams={"learning_rate": lr})
            run = train.train(objective, method, arrays, args.epochs, len(x) // bs, args.seed)
            trained[label] = {"learning_rate": lr, "final_train_loss": run["final_train_loss"]}
            trained[label]["test_accuracy"] = run["test_accuracy"]
        diverged = None if r.diverged_at is None else float(r.lrs[r.diverged_at])
        results[name] = {
            "suggestion": r.suggestion,
            "diverged_at_lr": diverged,
            "curve": {"lrs": r.lrs, "losses": r.losses, "smoothed": r.smoothed},
            "trained": trained,
        }
        curves[name] = r
        cells = "  ".join(
            f"{k} {v['learning_rate']:.3g}: loss {_fmt(v['final_train_loss'])}"
            for k, v in trained.items()
        )
        print(f"{name:<5} diverges at lr {_fmt(diverged)};  {cells}")
    return results, curves


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3g}"


def _plot_range_tests(curves: dict, path: Path, title: str) -> bool:
    plt = _pyplot()
    if plt is None:
        return False
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for name, r in curves.items():
        r.plot(ax=ax, label=name)
    ax.set_title(f"{title}: learning-rate range test")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _curve(tx, loss, w0, steps: int, cost: int) -> dict:
    """The loss after each step of one jitted scan, against the loss evaluations spent."""

    def body(carry, _):
        w, s = carry
        value, grad = jax.value_and_grad(loss)(w)
        u, s = tx.update(grad, s, w, value=value, value_fn=loss)
        w = gradtx.apply_updates(w, u)
        return (w, s), loss(w)  # the recorded loss is not counted

    losses = jax.jit(lambda w: jax.lax.scan(body, (w, tx.init(w)), None, steps)[1])(w0)
    losses = np.concatenate([[float(loss(w0))], np.asarray(losses, float)])
    return {"evaluations": cost * np.arange(steps + 1), "loss": losses}


def gradient_free(args, objective, arrays) -> dict:
    budget = 150 if args.quick else 3000
    problems = {}
    for n in (10,) if args.quick else (10, 100, 1000):  # curvatures from 1 to 10
        curvature = jnp.logspace(0.0, 1.0, n)
        loss = lambda w, a=curvature: 0.5 * jnp.sum(a * w**2)
        spsa = {"learning_rate": 1 / (10 * n), "alpha": 0.0}  # the best constant gain ~ 1/(nL)
        problems[f"quadratic, n = {n}"] = (loss, jnp.ones(n) / jnp.sqrt(n), 0.1, spsa)
    if not args.quick:  # a smoke test runs one small quadratic
        x, y, example = arrays[0], arrays[1], gradtx.OPTIMIZERS["spsa"].example
        mlp = (lambda p: objective.loss(p, x, y), objective.params, 0.5, example)
        problems[f"MLP, n = {objective.n_params}, full batch"] = mlp
    results = {}
    for label, (loss, w0, gd_lr, spsa) in problems.items():
        methods = {
            "gradient descent": (gradtx.sgd(gd_lr), GRADIENT_COST),
            "random search": (gradtx.OPTIMIZERS["random_search"].factory(0.1), 1),
            "SPSA": (gradtx.OPTIMIZERS["spsa"].factory(**spsa), 2),
        }
        curves = {
            m: _curve(tx, loss, w0, budget // cost, cost) for m, (tx, cost) in methods.items()
        }
        results[label] = curves
        ratios = "  ".join(f"{m} {c['loss'][-1] / c['loss'][0]:.2g}" for m, c in curves.items())
        print(f"{label:<32} loss / initial loss after {budget} evaluations: {ratios}")
    return results


def _plot_gradient_free(results: dict, path: Path, title: str) -> bool:
    plt = _pyplot()
    if plt is None:
        return False
    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 4.2))
    for ax, (label, curves) in zip(np.atleast_1d(axes), results.items()):
        low = 1.0
        for method, c in curves.items():
            ratio = np.maximum(c["loss"] / c["loss"][0], 1e-12)  # gradient descent hits 0
            ax.plot(c["evaluations"], ratio, label=method, lw=1.6)
            low = min(low, float(ratio.min()))
        ax.set(title=label, xlabel="loss evaluations (a gradient = 3)", yscale="log")
        ax.set_ylim(0.5 * low, 1.5)
        ax.grid(True, which="both", alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("loss / initial loss")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.suptitle(f"Gradient-free methods against gradient descent ({title})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt
