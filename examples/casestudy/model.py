"""The case study's model: a one-hidden-layer MLP in Flax NNX, trained as a pure function.

``nnx.split`` turns the module into a static graph definition and a pytree of parameters;
the loss merges them back inside the jitted step, so the optimizer sees an ordinary pytree.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

ACTIVATIONS = {"tanh": jnp.tanh, "relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid}


class MLP(nnx.Module):
    """inputs -> hidden (activation) -> 10 logits; LeCun-normal weights, zero biases."""

    def __init__(self, n_in: int, hidden: int, n_out: int, activation: str, *, rngs: nnx.Rngs):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.hidden = nnx.Linear(n_in, hidden, rngs=rngs)
        self.out = nnx.Linear(hidden, n_out, rngs=rngs)
        self.activation = activation

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.out(ACTIVATIONS[self.activation](self.hidden(x)))


class Objective:
    """The empirical risk of an MLP as pure functions of its parameter pytree."""

    def __init__(self, n_in: int, hidden: int, activation: str, seed: int, n_out: int = 10):
        model = MLP(n_in, hidden, n_out, activation, rngs=nnx.Rngs(seed))
        self.graphdef, self.params = nnx.split(model, nnx.Param)
        self.n_params = sum(x.size for x in jax.tree.leaves(self.params))
        self.shape = f"{n_in}-{hidden}-{n_out} {activation}"

    def logits(self, params, x):
        return nnx.merge(self.graphdef, params)(x)

    def loss(self, params, x, y):
        """Mean softmax cross-entropy."""
        logp = jax.nn.log_softmax(self.logits(params, x))
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    def accuracy(self, params, x, y):
        return jnp.mean(jnp.argmax(self.logits(params, x), axis=-1) == y)
