"""Which runs the case study makes: the comparison, or one of the three sweeps."""

from __future__ import annotations

import gradtx

from .model import Objective
from .train import Method, full_batch_methods

FULL_BATCH = ("gd_fullbatch", "lbfgs_fullbatch", "cg_fullbatch")
LR_FACTORS = (100, 30, 10, 3, 1, 0.3, 0.1, 0.01)  # x the example's rate: too high to too low


def plan_runs(args, n_train: int, n_in: int):
    """The runs as (name, objective, method) triples, and the names skipped (not available).

    Without ``args.sweep``: every optimizer in ``args.names`` with its example settings, at
    batch size ``args.batch_size``, then the full-batch methods. With it, ``args.optimizer``
    at several learning rates (compiled once when the rate is live), at batch sizes 1 (a
    tenth of the rate: single-example steps are noisier), ``args.batch_size`` and the whole
    training set, or with 10 and 100 hidden units.
    """
    objective = Objective(n_in, args.hidden, args.activation, args.seed)
    bs = min(args.batch_size, n_train)
    if args.sweep is None:
        infos = gradtx.OPTIMIZERS
        full, skipped = full_batch_methods(infos["gd"].example["learning_rate"])
        methods = [
            Method(n, i.factory(**i.example), bs, i.needs_value)
            for n, i in infos.items()
            if n in args.names
        ]
        methods += [m for m in full if m.name in args.names]
        return [(m.name, objective, m) for m in methods], [s for s in skipped if s in args.names]
    info = gradtx.OPTIMIZERS[args.optimizer]
    make = lambda **kw: info.factory(**{**info.example, **kw})
    base = info.example.get("learning_rate", 1e-2)
    runs = []

    def add(name, tx, batch_size=bs, obj=objective, **hyperparams):
        runs.append(
            (name, obj, Method(name, tx, batch_size, info.needs_value, hyperparams=hyperparams))
        )

    if args.sweep == "lr":
        lrs = (
            [float(v) for v in args.lrs.split(",")] if args.lrs else [base * f for f in LR_FACTORS]
        )
        tx = make()
        live = "learning_rate" in gradtx.get_hyperparams(tx.init(objective.params))
        for lr in lrs:
            if live:  # the same transform, the rate set in its state: one compilation
                add(f"lr={lr:g}", tx, learning_rate=lr)
            else:  # a static rate (rprop): a new transform per rate
                add(f"lr={lr:g}", make(learning_rate=lr))
    elif args.sweep == "batch-size":
        add("batch=1 (lr/10)", make(learning_rate=base / 10), batch_size=1)
        add(f"batch={bs}", make())
        add(f"batch={n_train} (full)", make(), batch_size=n_train)
    else:
        for h in (10, 100):
            add(f"hidden={h}", make(), obj=Objective(n_in, h, args.activation, args.seed))
    return runs, []


def schedule(method: Method, n_train: int, args) -> tuple[int, int]:
    """(rounds, steps per round): epochs of n/B steps, or chunks of full-batch iterations."""
    if method.batch_size is None:
        chunk = min(10, args.full_batch_iters)
        return max(1, args.full_batch_iters // chunk), chunk
    if method.batch_size == 1:
        return args.epochs, min(n_train, args.online_steps)
    return args.epochs, n_train // method.batch_size
