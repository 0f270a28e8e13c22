"""Data- and model-parallel training of a small MLP with gradtx.adam on a (4, 2) device mesh.

The batch is split over the mesh axis ``"data"`` (4 ways) and the hidden layer over
``"model"`` (2 ways): ``w1`` by columns, ``w2`` by rows (Megatron-style). The optimizer
state follows the parameters (``gradtx.sharding.state_shardings``); with ``--zero`` it is
also split over ``"data"`` (ZeRO stage 1), so each device keeps a quarter of Adam's
moments. One ``jax.jit`` program does the step; XLA inserts the collectives. The script then
trains the same model on one device and checks that the numbers agree to 1e-6 (relative,
float32): sharding changes only the order of floating-point sums.

On a CPU-only machine the 8 devices are simulated with
``XLA_FLAGS=--xla_force_host_platform_device_count=8``, set below *before* JAX is imported.

Run:  python examples/sharded_training.py [--steps 100] [--zero] [--quick] [--out results]
"""

from __future__ import annotations

import os

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count=8".strip()

import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import gradtx
from gradtx.sharding import state_shardings

# How each parameter is split: hidden units over "model", the rest replicated.
PARAM_SPECS = {"w1": P(None, "model"), "b1": P("model"), "w2": P("model", None), "b2": P()}
BATCH_SPEC = P("data")  # examples over "data"


def make_data(n: int = 512, d_in: int = 16, d_out: int = 4, seed: int = 0):
    """A smooth regression problem: y = tanh(x A) B + noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d_in)).astype(np.float32)
    a = rng.normal(size=(d_in, 8)) / np.sqrt(d_in)
    b = rng.normal(size=(8, d_out))
    y = np.tanh(x @ a) @ b + 0.05 * rng.normal(size=(n, d_out))
    return x, y.astype(np.float32)


def init_params(d_in: int = 16, hidden: int = 64, d_out: int = 4, seed: int = 1):
    rng = np.random.default_rng(seed)
    return {
        "w1": (rng.normal(size=(d_in, hidden)) / np.sqrt(d_in)).astype(np.float32),
        "b1": np.zeros(hidden, np.float32),
        "w2": (rng.normal(size=(hidden, d_out)) / np.sqrt(hidden)).astype(np.float32),
        "b2": np.zeros(d_out, np.float32),
    }


def loss_fn(params, x, y):
    h = jax.nn.relu(x @ params["w1"] + params["b1"])
    return jnp.mean((h @ params["w2"] + params["b2"] - y) ** 2)


def train(tx, params, data, steps: int, batch: int, mesh: Mesh | None = None, zero=False):
    """Train for ``steps`` steps; on one device if ``mesh`` is None, else sharded on it."""

    def step(params, state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, state = tx.update(grads, state, params)
        return gradtx.apply_updates(params, updates), state, loss

    if mesh is None:
        device = jax.devices(mesh_platform())[0]
        params = jax.device_put(params, device)
        state = jax.jit(tx.init)(params)
        put_batch = lambda a: jax.device_put(a, device)
        jitted = jax.jit(step)
    else:
        p_sh = {k: NamedSharding(mesh, spec) for k, spec in PARAM_SPECS.items()}
        params = jax.device_put(params, p_sh)
        s_sh = state_shardings(tx, params, mesh, zero_axis="data" if zero else None)
        state = jax.jit(tx.init, out_shardings=s_sh)(params)  # no gather on one device
        b_sh = NamedSharding(mesh, BATCH_SPEC)
        put_batch = lambda a: jax.device_put(a, b_sh)
        jitted = jax.jit(
            step,
            in_shardings=(p_sh, s_sh, b_sh, b_sh),
            out_shardings=(p_sh, s_sh, NamedSharding(mesh, P())),
            donate_argnums=(0, 1),
        )
    x, y = data
    losses = []
    for t in range(steps):
        lo = (t * batch) % (len(x) - batch + 1)
        params, state, loss = jitted(
            params, state, put_batch(x[lo : lo + batch]), put_batch(y[lo : lo + batch])
        )
        losses.append(float(loss))
    return params, state, losses


def mesh_platform() -> str:
    """The platform with at least 8 devices: the default one, else the (simulated) CPUs."""
    return jax.default_backend() if len(jax.devices()) >= 8 else "cpu"


def make_mesh() -> Mesh:
    """A (4, 2) mesh; smaller, e.g. (1, 1), if JAX was imported before XLA_FLAGS was set."""
    devices = jax.devices(mesh_platform())
    n = min(8, 1 << (len(devices).bit_length() - 1))  # a power of two
    shape = (min(n, 4), n // min(n, 4))
    if shape != (4, 2):
        print(f"note: {len(devices)} device(s); run in a fresh process for a (4, 2) mesh")
    return Mesh(np.array(devices[:n]).reshape(shape), ("data", "model"))


def state_bytes_per_device(state) -> int:
    """Bytes of optimizer state held by the first device."""
    return sum(x.addressable_shards[0].data.nbytes for x in jax.tree.leaves(state))


def max_relative_difference(a, b) -> float:
    """max over leaves of max|a - b| / max|b|: a norm-wise relative error."""
    errs = [
        float(np.max(np.abs(np.asarray(u) - np.asarray(v))) / np.max(np.abs(np.asarray(v))))
        for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b))
    ]
    return max(errs)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=64, help="global batch (multiple of 4)")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--zero", action="store_true", help="ZeRO-1: shard the state over data")
    parser.add_argument("--quick", "--smoke", action="store_true", help="5 steps, for tests")
    parser.add_argument("--out", default=None, help="folder for sharded_training.json")
    args = parser.parse_args(argv)
    steps = 5 if args.quick else args.steps

    mesh = make_mesh()
    data, params = make_data(), init_params()
    tx = gradtx.adam(args.lr)
    p_mesh, s_mesh, l_mesh = train(tx, params, data, steps, args.batch, mesh, args.zero)
    p_one, _, l_one = train(tx, params, data, steps, args.batch)

    result = {
        "mesh": dict(mesh.shape),
        "zero": args.zero,
        "steps": steps,
        "loss_first": l_mesh[0],
        "loss_last": l_mesh[-1],
        "max_rel_param_diff": max_relative_difference(p_mesh, p_one),
        "max_rel_loss_diff": max(abs(a - b) / abs(b) for a, b in zip(l_mesh, l_one)),
        "state_bytes_per_device": state_bytes_per_device(s_mesh),
        "state_bytes_total": sum(x.nbytes for x in jax.tree.leaves(s_mesh)),
        "moment_spec_w1": str(s_mesh.inner_state[0][0].ema["w1"].sharding.spec),
    }
    print(json.dumps(result, indent=2))
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "sharded_training.json"), "w") as f:
            json.dump(result, f, indent=2)
    assert result["max_rel_param_diff"] <= 1e-6, result
    assert result["max_rel_loss_diff"] <= 1e-6, result
    return result


if __name__ == "__main__":
    main()
