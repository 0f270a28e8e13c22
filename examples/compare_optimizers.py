"""Compare every optimizer in ``gradtx.OPTIMIZERS`` on scikit-learn's handwritten digits.

Each trains the same MLP (64 -> hidden -> 10, tanh, softmax cross-entropy) from the same
initialization on the same mini-batches, with the settings in ``OPTIMIZERS[name].example``;
one epoch is one jitted ``jax.lax.scan``. Writes ``compare.json`` and ``loss_curves.png``
(if matplotlib is installed) into ``--out``. Try ``--quick --optimizers sgd,adam``.
"""

import argparse
import json
import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import gradtx


def load_data(seed: int):
    """80/20 stratified split of the 1,797 digits, pixels scaled from 0..16 to [0, 1]."""
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int32)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=y, random_state=seed)
    return tuple(jnp.asarray(a) for a in (x_tr, y_tr, x_te, y_te))


def init_mlp(key, sizes):
    """LeCun-normal weights and zero biases, one dict per layer."""
    keys = jax.random.split(key, len(sizes) - 1)
    layers = zip(keys, sizes[:-1], sizes[1:], strict=True)
    f32 = jnp.float32
    return [
        {"w": jax.random.normal(k, (m, n), f32) / math.sqrt(m), "b": jnp.zeros(n, f32)}
        for k, m, n in layers
    ]


def logits(params, x):
    for layer in params[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def loss_fn(params, x, y):
    logp = jax.nn.log_softmax(logits(params, x))
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


def make_epoch(tx, needs_value: bool, batch_size: int):
    """One jitted epoch: shuffle, scan the optimizer over the batches, then evaluate."""

    def step(carry, batch):
        params, state = carry
        loss, grads = jax.value_and_grad(loss_fn)(params, *batch)
        extra = {"value": loss} if needs_value else {}
        updates, state = tx.update(grads, state, params, **extra)
        return (gradtx.apply_updates(params, updates), state), loss

    @jax.jit
    def epoch(params, state, key, index, data):
        x_tr, y_tr, x_te, y_te = data
        n = (x_tr.shape[0] // batch_size) * batch_size  # drop the ragged last batch
        idx = jax.random.permutation(jax.random.fold_in(key, index), x_tr.shape[0])[:n]
        batches = (
            x_tr[idx].reshape(-1, batch_size, x_tr.shape[1]),
            y_tr[idx].reshape(-1, batch_size),
        )
        (params, state), _ = jax.lax.scan(step, (params, state), batches)
        accuracy = jnp.mean(jnp.argmax(logits(params, x_te), axis=-1) == y_te)
        return params, state, loss_fn(params, x_tr, y_tr), accuracy

    return epoch


def run_one(info, params, data, args):
    """Train one optimizer; the loss curve stops at the first non-finite loss."""
    tx = info.factory(**info.example)
    state = tx.init(params)
    key = jax.random.PRNGKey(args.seed + 1)  # the same batches for every optimizer
    start = time.perf_counter()
    epoch = make_epoch(tx, info.needs_value, args.batch_size)
    epoch = epoch.lower(params, state, key, np.int32(0), data).compile()
    compile_s = time.perf_counter() - start
    curve, accuracy = [], float("nan")
    for e in range(args.epochs):
        params, state, loss, acc = epoch(params, state, key, np.int32(e), data)
        curve.append(float(loss))
        accuracy = float(acc)
        if not math.isfinite(curve[-1]):
            break
    wall_s = time.perf_counter() - start
    steps = len(curve) * (data[0].shape[0] // args.batch_size)
    diverged = not math.isfinite(curve[-1])
    return {
        "status": f"diverged@{len(curve)}" if diverged else "ok",
        "example": info.example,
        "hyperparams": {k: float(v) for k, v in gradtx.get_hyperparams(state).items()},
        "final_train_loss": None if diverged else curve[-1],
        "test_accuracy": None if diverged else 100 * accuracy,
        "steps": steps,
        "compile_s": compile_s,
        "wall_s": wall_s,
        "ms_per_step": 1e3 * (wall_s - compile_s) / max(steps, 1),
        "train_loss_curve": [v if math.isfinite(v) else None for v in curve],
    }


def print_table(runs):
    print(
        f"\n{'optimizer':<14}{'train loss':>12}{'test acc %':>12}{'steps':>8}"
        f"{'wall s':>9}{'ms/step':>9}"
    )
    for name, r in runs.items():
        if r["status"] == "ok":
            cells = f"{r['final_train_loss']:>12.4f}{r['test_accuracy']:>12.2f}"
        else:
            cells = f"{r['status']:>12}{'-':>12}"
        print(f"{name:<14}{cells}{r['steps']:>8}{r['wall_s']:>9.2f}{r['ms_per_step']:>9.3f}")


def plot_curves(runs, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, (name, r) in enumerate(runs.items()):
        curve = [math.nan if v is None else v for v in r["train_loss_curve"]]
        style = "-" if i < 10 else "--"  # the default cycle has 10 colors
        ax.plot(range(1, len(curve) + 1), curve, style, label=name)
    ax.set(yscale="log", xlabel="epoch", ylabel="train loss", title="gradtx on digits (MLP)")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--optimizers", default="all", help="comma list, e.g. sgd,adam (default all)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--quick", action="store_true", help="2 epochs, for smoke tests")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="results/", help="folder for compare.json and the plot")
    args = p.parse_args(argv)
    if args.quick:
        args.epochs = 2
    chosen = gradtx.OPTIMIZERS if args.optimizers == "all" else args.optimizers.split(",")
    names = list(dict.fromkeys(n.strip() for n in chosen))
    unknown = [n for n in names if n not in gradtx.OPTIMIZERS]
    if unknown:
        p.error(f"unknown optimizers {unknown}; choose from {sorted(gradtx.OPTIMIZERS)}")
    if min(args.epochs, args.batch_size, args.hidden) < 1:
        p.error("--epochs, --batch-size and --hidden must be positive")
    return args, names


def main(argv=None):
    args, names = parse_args(argv)
    data = load_data(args.seed)
    params = init_mlp(jax.random.PRNGKey(args.seed), (64, args.hidden, 10))
    print(
        f"digits: {data[0].shape[0]} train / {data[2].shape[0]} test, MLP 64-{args.hidden}-10,"
        f" {args.epochs} epochs of batch {args.batch_size}, jax {jax.__version__} "
        f"on {jax.default_backend()}"
    )
    runs, start = {}, time.perf_counter()
    for i, name in enumerate(names, 1):
        info = gradtx.OPTIMIZERS[name]
        try:
            r = run_one(info, params, data, args)
        except Exception as err:  # report it in the table, keep comparing the others
            r = {
                "status": "error",
                "error": f"{type(err).__name__}: {err}",
                "steps": 0,
                "compile_s": 0.0,
                "wall_s": 0.0,
                "ms_per_step": 0.0,
                "train_loss_curve": [],
            }
        r = runs[name] = {"example": info.example, "test_accuracy": None, **r}
        acc = f"test acc {r['test_accuracy']:6.2f}%" if r["status"] == "ok" else r["status"]
        acc += f" ({r['error']})" if "error" in r else ""
        print(
            f"[{i:2d}/{len(names)}] {name:<14} {r['example']!s:<42} {acc}"
            f"  ({r['wall_s']:.2f} s, compile {r['compile_s']:.2f} s)",
            flush=True,
        )
    total_s = time.perf_counter() - start
    rank = {n: r["test_accuracy"] if r["status"] == "ok" else -1.0 for n, r in runs.items()}
    runs = dict(sorted(runs.items(), key=lambda kv: -rank[kv[0]]))  # best test accuracy first
    print_table(runs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {"config": {**vars(args), "optimizers": names}, "total_s": total_s, "runs": runs}
    (out / "compare.json").write_text(json.dumps(results, indent=2, default=str))
    plotted = plot_curves(runs, out / "loss_curves.png")
    print(
        f"\ntotal {total_s:.1f} s; wrote {out / 'compare.json'}"
        + (f" and {out / 'loss_curves.png'}" if plotted else " (no matplotlib: no plot)")
    )
    return results


if __name__ == "__main__":
    main()
