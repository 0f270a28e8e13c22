"""The workloads' models, in Flax NNX; each is split into a graph and a parameter pytree.

No batch normalization and no dropout: the models have no state besides their parameters,
so a training step is a pure function of (parameters, optimizer state, batch).
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
from flax import nnx


class MLP(nnx.Module):
    """Flattened image -> ``hidden`` ReLU layers -> logits."""

    def __init__(self, n_in: int, hidden: tuple[int, ...], n_out: int, *, rngs: nnx.Rngs):
        sizes = (n_in, *hidden)
        self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in itertools.pairwise(sizes)])
        self.head = nnx.Linear(sizes[-1], n_out, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.reshape(x.shape[0], -1)
        for layer in self.layers:
            x = jax.nn.relu(layer(x))
        return self.head(x)


class CNN(nnx.Module):
    """Two 3x3 convolutions (ReLU), a 2x2 average pool after each, a linear head."""

    def __init__(self, side: int, channels: tuple[int, int], n_out: int, *, rngs: nnx.Rngs):
        c1, c2 = channels
        self.conv1 = nnx.Conv(1, c1, (3, 3), rngs=rngs)
        self.conv2 = nnx.Conv(c1, c2, (3, 3), rngs=rngs)
        self.head = nnx.Linear((side // 4) ** 2 * c2, n_out, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x[..., None]  # (batch, side, side, 1)
        x = nnx.avg_pool(jax.nn.relu(self.conv1(x)), (2, 2), strides=(2, 2))
        x = nnx.avg_pool(jax.nn.relu(self.conv2(x)), (2, 2), strides=(2, 2))
        return self.head(x.reshape(x.shape[0], -1))


class Autoencoder(nnx.Module):
    """Image -> ``hidden`` -> ``code`` -> ``hidden`` -> image (sigmoid), ReLU in between."""

    def __init__(self, n_in: int, hidden: int, code: int, *, rngs: nnx.Rngs):
        self.enc1 = nnx.Linear(n_in, hidden, rngs=rngs)
        self.enc2 = nnx.Linear(hidden, code, rngs=rngs)
        self.dec1 = nnx.Linear(code, hidden, rngs=rngs)
        self.dec2 = nnx.Linear(hidden, n_in, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        shape = x.shape
        h = self.enc2(jax.nn.relu(self.enc1(x.reshape(shape[0], -1))))
        return jax.nn.sigmoid(self.dec2(jax.nn.relu(self.dec1(h)))).reshape(shape)


class Linear(nnx.Module):
    """Multinomial logistic regression: flattened image -> logits."""

    def __init__(self, n_in: int, n_out: int, *, rngs: nnx.Rngs):
        self.linear = nnx.Linear(n_in, n_out, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.linear(x.reshape(x.shape[0], -1))


class Vector(nnx.Module):
    """One parameter vector (the unknown of a least-squares problem), N(0, 1) at the start."""

    def __init__(self, n: int, *, rngs: nnx.Rngs):
        self.x = nnx.Param(jax.random.normal(rngs.params(), (n,)))

    def __call__(self) -> jax.Array:
        return self.x[...]


class Block(nnx.Module):
    """Pre-LayerNorm transformer block: causal self-attention, then a GELU MLP."""

    def __init__(self, d: int, heads: int, *, rngs: nnx.Rngs):
        self.ln1 = nnx.LayerNorm(d, rngs=rngs)
        self.attn = nnx.MultiHeadAttention(heads, d, decode=False, rngs=rngs)
        self.ln2 = nnx.LayerNorm(d, rngs=rngs)
        self.up = nnx.Linear(d, 4 * d, rngs=rngs)
        self.down = nnx.Linear(4 * d, d, rngs=rngs)

    def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
        x = x + self.attn(self.ln1(x), mask=mask)
        return x + self.down(jax.nn.gelu(self.up(self.ln2(x))))


class DecoderLM(nnx.Module):
    """A decoder-only transformer: token + learned position embeddings, blocks, a head."""

    def __init__(self, vocab: int, context: int, d: int, heads: int, layers: int, *, rngs):
        self.tokens = nnx.Embed(vocab, d, rngs=rngs)
        self.positions = nnx.Embed(context, d, rngs=rngs)
        self.blocks = nnx.List([Block(d, heads, rngs=rngs) for _ in range(layers)])
        self.ln = nnx.LayerNorm(d, rngs=rngs)
        self.head = nnx.Linear(d, vocab, rngs=rngs)

    def __call__(self, tokens: jax.Array) -> jax.Array:
        x = self.tokens(tokens) + self.positions(jnp.arange(tokens.shape[-1]))
        mask = nnx.make_causal_mask(tokens)
        for block in self.blocks:
            x = block(x, mask)
        return self.head(self.ln(x))


def split(model: nnx.Module):
    """``(graphdef, params)``: the static structure and the parameter pytree."""
    return nnx.split(model, nnx.Param)


def apply(graphdef, params, *args):
    """Call the model rebuilt from its graph and ``params``."""
    return nnx.merge(graphdef, params)(*args)
