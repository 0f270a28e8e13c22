"""Lower the learning rate mid-training without recompiling the jitted step.

gradtx keeps hyperparameters in the optimizer state, so ``gradtx.set_hyperparams`` changes
an *input* of the compiled step, not a constant baked into it. A Python counter inside the
jitted function counts how often JAX traces it: once, though the rate changes twice. For
contrast, rebuilding the optimizer with a new constant (the usual way without live
hyperparameters) makes a new function, and JAX traces and compiles it again.

Trains logistic regression on scikit-learn's digits; writes ``live_hyperparameters.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import jax.numpy as jnp
from sklearn.datasets import load_digits

import gradtx

TRACES = {"count": 0}


def loss_fn(params, x, y):
    logp = jax.nn.log_softmax(x @ params["w"] + params["b"])
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


def make_step(tx):
    @jax.jit
    def step(params, state, x, y):
        TRACES["count"] += 1  # runs only while JAX traces, never in the compiled program
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, state = tx.update(grads, state, params)
        return gradtx.apply_updates(params, updates), state, loss

    return step


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--out", default="results/")
    p.add_argument("--quick", action="store_true", help="30 steps")
    args = p.parse_args(argv)
    steps = 30 if args.quick else args.steps
    digits = load_digits()
    x, y = jnp.asarray(digits.data / 16.0, jnp.float32), jnp.asarray(digits.target)
    params = {"w": jnp.zeros((64, 10)), "b": jnp.zeros(10)}

    tx = gradtx.sgd(learning_rate=1.0, momentum=0.9)
    state, step = tx.init(params), make_step(tx)
    TRACES["count"] = 0
    log = []
    for t in range(steps):
        if t in (steps // 3, 2 * steps // 3):  # a step decay, by hand, between steps
            lr = float(gradtx.get_hyperparams(state)["learning_rate"]) / 10
            state = gradtx.set_hyperparams(state, learning_rate=lr)
            print(f"step {t:4d}: learning rate -> {lr:g}")
        params, state, loss = step(params, state, x, y)
        lr = float(gradtx.get_hyperparams(state)["learning_rate"])
        log.append({"step": t, "loss": float(loss), "traces": TRACES["count"], "lr": lr})
        if t % max(steps // 6, 1) == 0 or t == steps - 1:
            print(f"step {t:4d}: loss {float(loss):.4f}, traced {TRACES['count']} time(s)")
    live_traces = TRACES["count"]
    print(f"live hyperparameters: the step was traced {live_traces} time(s) for 2 rate changes")

    TRACES["count"] = 0  # the contrast: a new optimizer per rate means a new jitted step
    for lr in (1.0, 0.1, 0.01):
        rebuilt = gradtx.sgd(learning_rate=lr, momentum=0.9)
        make_step(rebuilt)(params, rebuilt.init(params), x, y)
    rebuilt_traces = TRACES["count"]
    print(f"rebuilding the optimizer per rate: traced {rebuilt_traces} times for 3 rates")

    accuracy = float(jnp.mean(jnp.argmax(x @ params["w"] + params["b"], -1) == y))
    result = {
        "live_traces": live_traces,
        "rebuilt_traces": rebuilt_traces,
        "final_loss": log[-1]["loss"],
        "train_accuracy": accuracy,
        "log": log,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "live_hyperparameters.json").write_text(json.dumps(result, indent=1))
    print(f"final loss {result['final_loss']:.4f}, train accuracy {100 * accuracy:.1f}%")
    return result


if __name__ == "__main__":
    main()
