"""A small CNN with BatchNorm on the 8x8 digits, trained through ``nnx.Optimizer``.

gradtx transforms speak Optax's protocol, so Flax NNX's stateful adapter takes them as they
are: ``nnx.Optimizer(model, gradtx.adamw(...), wrt=nnx.Param)``; only the parameters are
optimized, BatchNorm's running statistics are updated by the forward pass in training mode.
Writes ``flax_nnx.json`` (loss per epoch, test accuracy) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import gradtx


class CNN(nnx.Module):
    """conv 3x3 (16) - BN - relu - avg pool - conv 3x3 (32) - BN - relu - global pool - dense."""

    def __init__(self, *, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(1, 16, kernel_size=(3, 3), rngs=rngs)
        self.bn1 = nnx.BatchNorm(16, momentum=0.9, rngs=rngs)  # short warm-up
        self.conv2 = nnx.Conv(16, 32, kernel_size=(3, 3), rngs=rngs)
        self.bn2 = nnx.BatchNorm(32, momentum=0.9, rngs=rngs)
        self.head = nnx.Linear(32, 10, rngs=rngs)

    def __call__(self, x):  # x: (batch, 8, 8, 1)
        x = nnx.relu(self.bn1(self.conv1(x)))
        x = nnx.avg_pool(x, window_shape=(2, 2), strides=(2, 2))  # 4x4
        x = nnx.relu(self.bn2(self.conv2(x)))
        return self.head(x.mean(axis=(1, 2)))


def loss_fn(model, x, y):
    return optax.softmax_cross_entropy_with_integer_labels(model(x), y).mean()


@nnx.jit
def train_step(model, optimizer, x, y):
    loss, grads = nnx.value_and_grad(loss_fn)(model, x, y)  # grads of the nnx.Param leaves
    optimizer.update(model, grads)
    return loss


@nnx.jit
def accuracy(model, x, y):
    return jnp.mean(jnp.argmax(model(x), axis=-1) == y)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="results/")
    p.add_argument("--quick", action="store_true", help="1 epoch")
    args = p.parse_args(argv)
    epochs = 1 if args.quick else args.epochs
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, digits.target, test_size=0.2, stratify=digits.target, random_state=args.seed
    )
    model = CNN(rngs=nnx.Rngs(args.seed))
    optimizer = nnx.Optimizer(model, gradtx.adamw(1e-2, weight_decay=1e-4), wrt=nnx.Param)
    rng = np.random.default_rng(args.seed)
    losses = []
    for epoch in range(epochs):
        model.train()  # BatchNorm: batch statistics, update the running averages
        order = rng.permutation(len(x_tr))
        batches = [order[i : i + args.batch_size] for i in range(0, len(order), args.batch_size)]
        epoch_loss = [float(train_step(model, optimizer, x_tr[b], y_tr[b])) for b in batches]
        losses.append(float(np.mean(epoch_loss)))
        model.eval()  # BatchNorm: the running averages
        acc = float(accuracy(model, x_te, y_te))
        print(f"epoch {epoch + 1:2d}: train loss {losses[-1]:.4f}, test accuracy {100 * acc:.2f}%")
    hyper = gradtx.get_hyperparams(optimizer.opt_state)  # they live in the optimizer's state
    hyper = {k: float(np.asarray(v)) for k, v in hyper.items()}
    print("optimizer hyperparameters:", {k: f"{v:.3g}" for k, v in hyper.items()})
    steps = int(np.asarray(optimizer.step[...]))
    result = {"train_loss": losses, "test_accuracy": 100 * acc, "steps": steps}
    result["hyperparams"] = hyper
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "flax_nnx.json").write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
