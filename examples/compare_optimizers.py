"""Compare optimizers on the course's problem: an MLP's empirical risk on handwritten digits.

The model is 784-10-10 on MNIST (``--data-dir`` with the four IDX files, gzipped or not) or
64-10-10 on scikit-learn's bundled 8x8 digits (the default: no download): one hidden layer
of ``--hidden`` units (``--activation`` tanh, relu or sigmoid), softmax cross-entropy
averaged over the training set. It is a Flax NNX module, split with ``nnx.split`` into a
graph definition and a parameter pytree; the pytree is trained by a pure, jitted
``lax.scan`` over each epoch (faster here than stepping an ``nnx.Optimizer`` from Python,
which ``examples/flax_nnx.py`` shows).

Runs every first-order optimizer in ``gradtx.OPTIMIZERS`` with its ``example`` settings on
the same mini-batches from the same initialization (``--seed``), then full-batch GD, L-BFGS
and nonlinear CG (the last two when ``gradtx.second_order`` provides them). A run whose loss
ends above where it started is reported ``diverged``, one that reaches NaN ``nan@roundK``.
``--sweep lr|batch-size|hidden`` instead varies one setting of ``--optimizer``. Prints a
table and writes ``compare.json`` and ``loss_curves.png`` (``sweep_<kind>.*`` for a sweep)
into ``--out``; beyond ten runs the figure has one panel per optimizer family under a
summary of the best of each family. The default takes under a minute on two CPU cores;
for a smoke test try ``--quick --optimizers sgd,adam,lbfgs_fullbatch``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax.numpy as jnp

import gradtx

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the casestudy helpers
from casestudy import data as datasets
from casestudy import lr_range, report, train
from casestudy.model import ACTIVATIONS
from casestudy.plan import FULL_BATCH, plan_runs, schedule


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = p.add_argument
    add("--data", choices=["digits", "mnist", "tfds"], help="default: mnist with --data-dir")
    add("--data-dir", help="folder with MNIST's IDX files (train-images-idx3-ubyte[.gz], ...)")
    add("--optimizers", default="all", help=f"comma list of OPTIMIZERS names and {FULL_BATCH}")
    add("--sweep", choices=["lr", "batch-size", "hidden"], help="vary one setting instead")
    add("--optimizer", default="sgd", help="the optimizer a sweep varies (default sgd)")
    add("--lrs", help="comma list for --sweep lr (default: the example's rate x 100 ... x 0.01)")
    add("--epochs", type=int, help="default 30 on the digits, 10 on MNIST")
    add("--full-batch-iters", type=int, default=100, help="iterations of full-batch methods")
    add("--batch-size", type=int, default=64)
    add("--online-steps", type=int, default=2000, help="steps in an epoch of batch size 1")
    add("--hidden", type=int, default=10)
    add("--activation", choices=sorted(ACTIVATIONS), default="tanh")
    add("--seed", type=int, default=0)
    add("--out", default="results/", help="folder for the JSON and the PNG")
    add("--quick", action="store_true", help="2 epochs, 4 full-batch iterations: a smoke test")
    add("--no-progress", action="store_true", help="no progress bars")
    lr_range.add_arguments(add)  # --lr-range-test, --gradient-free (casestudy/lr_range.py)
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.full_batch_iters, args.online_steps = 2, 4, min(args.online_steps, 100)
    args.data = args.data or ("mnist" if args.data_dir else "digits")
    if args.epochs is None:
        args.epochs = 30 if args.data == "digits" else 10
    if args.data == "mnist" and not args.data_dir:
        p.error("--data mnist needs --data-dir, the folder with the four IDX files")
    if args.data == "tfds" and not datasets.tfds_available():
        p.error(
            "--data tfds needs tensorflow_datasets, which is not installed (skipped); "
            "use --data-dir with MNIST's IDX files instead"
        )
    sizes = (args.epochs, args.full_batch_iters, args.batch_size, args.online_steps, args.hidden)
    if min(sizes) < 1:
        p.error("--epochs, --full-batch-iters, --batch-size, --online-steps, --hidden must be >= 1")
    known = (*gradtx.OPTIMIZERS, *FULL_BATCH)
    # Per-example optimizers (DP-SGD) need a gradient per example, not the batch's gradient.
    every = [n for n in known if n in FULL_BATCH or not gradtx.OPTIMIZERS[n].per_example]
    chosen = every if args.optimizers == "all" else args.optimizers.split(",")
    args.names = list(dict.fromkeys(n.strip() for n in chosen))
    unknown = [n for n in [*args.names, args.optimizer] if n not in known]
    if unknown or args.optimizer in FULL_BATCH:
        p.error(f"unknown optimizers {unknown}; choose from {list(known)} (sweeps: first-order)")
    return args


def load(args) -> datasets.Dataset:
    try:
        if args.data == "mnist":
            return datasets.load_mnist(args.data_dir)
        return datasets.load_tfds() if args.data == "tfds" else datasets.load_digits(args.seed)
    except (OSError, ValueError) as err:
        raise SystemExit(f"compare_optimizers: {err}") from None


def progress_bar(name: str, total: int, args):
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    off = args.no_progress or not sys.stderr.isatty()
    return tqdm(total=total, desc=f"{name:<16}", unit="round", leave=False, disable=off)


def main(argv=None) -> dict:
    args = parse_args(argv)
    dataset = load(args)
    arrays = tuple(
        jnp.asarray(a) for a in (dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test)
    )
    if args.lr_range_test or args.gradient_free:  # the modes of casestudy/lr_range.py
        return lr_range.main(args, dataset, arrays)
    n_train = len(dataset.x_train)
    plan, skipped = plan_runs(args, n_train, dataset.n_features)
    shape = plan[0][1].shape if args.sweep != "hidden" else f"{dataset.n_features}-h-10"
    what = f"sweep {args.sweep} of {args.optimizer}" if args.sweep else "comparison"
    full = any(m.batch_size is None for _, _, m in plan)
    budget = f"{args.epochs} epochs of batch {args.batch_size}"
    budget += f", {args.full_batch_iters} full-batch iterations" if full else ""
    print(f"{dataset.describe()}; MLP {shape}; {what}: {budget}")
    for name in skipped:
        print(f"{name}: skipped: not available yet (gradtx.second_order lacks it)")
    runs, start = {}, time.perf_counter()
    for i, (name, objective, method) in enumerate(plan, 1):
        rounds, steps = schedule(method, n_train, args)
        bar = progress_bar(name, rounds, args)
        try:
            r = train.train(objective, method, arrays, rounds, steps, args.seed, bar)
        except Exception as err:  # report it in the table, keep comparing the others
            r = {
                "status": "error",
                "error": f"{type(err).__name__}: {err}",
                "steps": 0,
                "final_train_loss": None,
                "passes": 0.0,
                "compile_s": 0.0,
                "train_s": 0.0,
                "wall_s": 0.0,
                "ms_per_step": 0.0,
                "test_accuracy": None,
                "curves": {},
            }
        finally:
            if bar is not None:
                bar.close()
        runs[name] = {"model": objective.shape, "n_params": objective.n_params, **r}
        acc = r["test_accuracy"]
        done = f"{r['status']}, test acc {acc:6.2f}%" if acc is not None else r["status"]
        print(
            f"[{i:2d}/{len(plan)}] {name:<16} {done} {r.get('error', '')} ({r['wall_s']:.2f} s)",
            flush=True,
        )
    total_s = time.perf_counter() - start
    if args.sweep is None:  # best empirical risk first, failures last
        rank = lambda kv: kv[1].get("final_train_loss") or float("inf")
        runs = dict(sorted(runs.items(), key=rank))
    table = report.print_table(runs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"sweep_{args.sweep.replace('-', '_')}" if args.sweep else "compare"
    config = {k: v for k, v in vars(args).items() if k != "names"}
    results = {
        "config": {**config, "optimizers": args.names},
        "dataset": dataset.describe(),
        "model": shape,
        "total_s": total_s,
        "skipped": skipped,
        "runs": runs,
        "table": table,
    }
    report.write_json(results, out / f"{stem}.json")
    png = out / ("loss_curves.png" if stem == "compare" else f"{stem}.png")
    title = f"{dataset.name}: MLP {shape}, {what}, batch {args.batch_size}"
    plotted = report.plot_curves(runs, png, title)
    print(
        f"\ntotal {total_s:.1f} s; wrote {out / f'{stem}.json'}"
        + (f" and {png}" if plotted else " (no matplotlib: no plot)")
    )
    return results


if __name__ == "__main__":
    main()
