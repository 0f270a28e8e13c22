"""Per-layer optimizers and learning rates with ``gradtx.partition`` and ``labels_by_path``.

An MLP on scikit-learn's digits: the hidden layer trains with SGD + momentum, the output
layer with Adam, each at its own rate; leaves are labelled by a regular expression on
their path (``"['hidden']['w']"``). Halfway, the hidden layer's rate is set to zero with
``gradtx.set_hyperparams``, freezing it live, without recompiling: the hidden weights stop
moving while the output layer keeps learning. Writes ``per_layer_learning_rates.json``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.datasets import load_digits

import gradtx


def init(key, sizes=(64, 32, 10)):
    k1, k2 = jax.random.split(key)
    (a, b, c) = sizes
    return {
        "hidden": {"w": jax.random.normal(k1, (a, b)) / math.sqrt(a), "b": jnp.zeros(b)},
        "out": {"w": jax.random.normal(k2, (b, c)) / math.sqrt(b), "b": jnp.zeros(c)},
    }


def logits(params, x):
    h = jnp.tanh(x @ params["hidden"]["w"] + params["hidden"]["b"])
    return h @ params["out"]["w"] + params["out"]["b"]


def loss_fn(params, x, y):
    logp = jax.nn.log_softmax(logits(params, x))
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--out", default="results/")
    p.add_argument("--quick", action="store_true", help="40 steps")
    args = p.parse_args(argv)
    steps = 40 if args.quick else args.steps
    digits = load_digits()
    x, y = jnp.asarray(digits.data / 16.0, jnp.float32), jnp.asarray(digits.target)
    params = init(jax.random.PRNGKey(0))

    labels = gradtx.labels_by_path({r"\['hidden'\]": "hidden", r"\['out'\]": "head"})
    print("labels:", labels(params))
    tx = gradtx.partition(
        {"hidden": gradtx.sgd(0.3, momentum=0.9), "head": gradtx.adam(1e-2)}, labels
    )
    state = tx.init(params)
    names = list(gradtx.get_hyperparams(state))
    print("live hyperparameters:", names)  # a name used twice is qualified by its path
    hidden_lr = next(n for n in names if "hidden" in n and n.endswith("learning_rate"))

    traces = []

    @jax.jit
    def step(params, state):
        traces.append(1)  # Python side effect: runs once per trace
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, state = tx.update(grads, state, params)
        return gradtx.apply_updates(params, updates), state, loss

    moved = {}
    for phase, lr in (("both layers train", 0.3), ("hidden layer frozen", 0.0)):
        state = gradtx.set_hyperparams(state, **{hidden_lr: lr})
        start = params
        for _ in range(steps // 2):
            params, state, loss = step(params, state)
        delta = jax.tree.map(lambda a, b: float(jnp.linalg.norm(a - b)), params, start)
        moved[phase] = {
            "loss": float(loss),
            "hidden_moved": delta["hidden"]["w"],
            "head_moved": delta["out"]["w"],
        }
        print(
            f"{phase:<20} {hidden_lr}={lr:<4} loss {float(loss):.4f}; |Δ hidden w| "
            f"{delta['hidden']['w']:.4f}, |Δ out w| {delta['out']['w']:.4f}"
        )
    accuracy = float(jnp.mean(jnp.argmax(logits(params, x), -1) == y))
    print(f"traced {len(traces)} time(s); train accuracy {100 * accuracy:.1f}%")
    result = {
        "phases": moved,
        "traces": len(traces),
        "train_accuracy": accuracy,
        "hyperparams": {k: float(np.asarray(v)) for k, v in gradtx.get_hyperparams(state).items()},
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "per_layer_learning_rates.json").write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
