"""A Flax linen MLP trained with ``flax.training.train_state.TrainState`` and gradtx.

``TrainState.create(apply_fn=..., params=..., tx=gradtx.adam(...))`` works unchanged, since
gradtx transforms follow Optax's protocol. Halfway through, the learning rate is lowered in
``state.opt_state`` with ``gradtx.set_hyperparams``: the jitted step is not retraced.
Writes ``flax_linen.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn
from flax.training import train_state
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import gradtx


class MLP(nn.Module):
    hidden: int = 64

    @nn.compact
    def __call__(self, x):
        return nn.Dense(10)(nn.relu(nn.Dense(self.hidden)(x)))


TRACES = []


@jax.jit
def train_step(state, x, y):
    TRACES.append(1)  # once per trace

    def loss_fn(params):
        logits = state.apply_fn({"params": params}, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), loss  # calls tx.update and apply_updates


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="results/")
    p.add_argument("--quick", action="store_true", help="2 epochs")
    args = p.parse_args(argv)
    epochs = 2 if args.quick else args.epochs
    digits = load_digits()
    x, y = (digits.data / 16.0).astype(np.float32), digits.target
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    model = MLP()
    params = model.init(jax.random.PRNGKey(args.seed), x_tr[:1])["params"]
    state = train_state.TrainState.create(apply_fn=model.apply, params=params, tx=gradtx.adam(1e-2))
    rng = np.random.default_rng(args.seed)
    losses = []
    TRACES.clear()
    for epoch in range(epochs):
        if epoch == epochs // 2:  # a new value in the state, not a new program
            opt_state = gradtx.set_hyperparams(state.opt_state, learning_rate=1e-3)
            state = state.replace(opt_state=opt_state)
            print(f"epoch {epoch + 1:2d}: learning rate -> 1e-3")
        order = rng.permutation(len(x_tr))
        batch_losses = []
        for i in range(0, len(order) - args.batch_size + 1, args.batch_size):
            b = order[i : i + args.batch_size]
            state, loss = train_step(state, x_tr[b], y_tr[b])
            batch_losses.append(float(loss))
        losses.append(float(np.mean(batch_losses)))
        logits = state.apply_fn({"params": state.params}, x_te)
        acc = float(jnp.mean(jnp.argmax(logits, -1) == y_te))
        print(f"epoch {epoch + 1:2d}: train loss {losses[-1]:.4f}, test accuracy {100 * acc:.2f}%")
    print(f"train_step traced {len(TRACES)} time(s); step {int(state.step)}")
    lr = float(gradtx.get_hyperparams(state.opt_state)["learning_rate"])
    result = {
        "train_loss": losses,
        "test_accuracy": 100 * acc,
        "traces": len(TRACES),
        "steps": int(state.step),
        "final_learning_rate": lr,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "flax_linen.json").write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
