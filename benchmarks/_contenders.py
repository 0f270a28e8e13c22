"""The contenders behind one interface: reset, refresh, step, sync and params.

* ``gradtx`` / ``optax``: the user's jitted step ``u, s = tx.update(g, s, p);
  p = apply_updates(p, u)`` under ``jax.jit(..., donate_argnums=(0, 1))`` (params and
  state donated, gradients not), compiled ahead of time so that trace + lower + compile
  can be timed and ``compiled.memory_analysis()`` read.
* ``gradtx-grouped``: the same step with ``gradtx.wrappers.flatten(tx, max_leaf_size=65536)``,
  the opt-in multi-tensor path (leaves of at most 64k elements share one vector per dtype).
* ``torch-foreach`` / ``torch-fused``: ``torch.optim`` with ``foreach=True`` / ``fused=True``.
* ``ideal``: the single-pass in-place C kernel (``_ideal_kernel.c``).

Every contender owns its own copy of the parameters, optimizer state and gradients, and
``params()`` returns the parameter leaves in ``jax.tree.leaves`` order (sorted dict keys),
so the numbers of any two contenders can be compared leaf by leaf.

``refresh()`` (called outside the timed region, before every sample and every checked
step) restores the fixed gradients where a contender overwrote them: PyTorch's
``clip_grad_norm_`` scales ``.grad`` in place, and its foreach SGD with Nesterov momentum
adds the momentum into ``.grad`` in place, which would make reused gradients grow
geometrically.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from _ideal import Kernel, LeafArrays, sizes_of
from _specs import OptimizerSpec

JAX_CONTENDERS = ("gradtx", "optax", "gradtx-grouped")
GROUPED_MAX_LEAF_SIZE = 65536
TORCH_CONTENDERS = ("torch-foreach", "torch-fused")
ALL_CONTENDERS = (*JAX_CONTENDERS, *TORCH_CONTENDERS, "ideal")


@dataclass
class Context:
    """What contenders need besides the trees: threads, devices, the C kernel."""

    nthreads: int
    compile_repeats: int = 1
    kernel: Kernel | None = None
    torch_device: str | None = None  # None: torch unavailable
    notes: list[str] = field(default_factory=list)


def _leaves(tree) -> list[np.ndarray]:
    return jax.tree.leaves(tree)


def memory_overhead(compiled, param_bytes: int) -> dict[str, Any] | None:
    """``(temp + output - alias) / param bytes`` from XLA's memory analysis, with the parts."""
    try:
        stats = compiled.memory_analysis()
    except Exception:  # not every backend implements it
        return None
    if isinstance(stats, (list, tuple)):
        stats = stats[0] if stats else None
    if stats is None:
        return None
    temp, out = stats.temp_size_in_bytes, stats.output_size_in_bytes
    alias = stats.alias_size_in_bytes
    return {
        "temp_bytes": int(temp),
        "output_bytes": int(out),
        "alias_bytes": int(alias),
        "argument_bytes": int(stats.argument_size_in_bytes),
        "overhead": (temp + out - alias) / param_bytes,
    }


class JaxContender:
    """A jitted, donated step of a gradtx or Optax transform."""

    def __init__(self, name: str, spec: OptimizerSpec, params_np, grads_np, ctx: Context):
        if name == "gradtx":
            import gradtx

            make_tx, self._apply = spec.gradtx, gradtx.apply_updates
        elif name == "gradtx-grouped":
            import gradtx

            def make_tx():
                return gradtx.wrappers.flatten(spec.gradtx(), max_leaf_size=GROUPED_MAX_LEAF_SIZE)

            self._apply = gradtx.apply_updates
        else:
            import optax

            make_tx, self._apply = spec.optax, optax.apply_updates
        self.name, self._params_np = name, params_np
        self._grads = jax.tree.map(jnp.array, grads_np)
        param_bytes = sum(x.nbytes for x in _leaves(params_np))
        best = None
        for _ in range(max(1, ctx.compile_repeats)):
            # A fresh transform and a fresh step function each time: nothing is cached.
            tx = make_tx()
            step = self._make_step(tx)
            params = self._fresh_params()
            state = tx.init(params)
            t0 = time.perf_counter()
            lowered = jax.jit(step, donate_argnums=(0, 1)).lower(params, state, self._grads)
            t1 = time.perf_counter()
            compiled = lowered.compile()
            t2 = time.perf_counter()
            if best is None or t2 - t0 < sum(best):
                best = (t1 - t0, t2 - t1)
        self.lower_s, self.xla_s = best
        self.compile_s = sum(best)
        self._tx, self._compiled = tx, compiled
        self.memory = memory_overhead(compiled, param_bytes)
        self.donation_warnings: list[str] = []
        self.reset()

    def _make_step(self, tx):
        apply_updates = self._apply

        def step(params, state, grads):
            updates, state = tx.update(grads, state, params)
            return apply_updates(params, updates), state

        return step

    def _fresh_params(self):
        return jax.tree.map(lambda x: jnp.array(x, copy=True), self._params_np)

    def reset(self) -> None:
        """Back to the initial parameters and a freshly initialised state."""
        self._p = self._fresh_params()
        self._s = self._tx.init(self._p)

    def refresh(self) -> None:
        pass  # the gradients are never donated

    def step(self) -> None:
        self._p, self._s = self._compiled(self._p, self._s, self._grads)

    def first_step(self) -> None:
        """One step that records JAX's warnings, e.g. about unusable donated buffers."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self.step()
            self.sync()
        self.donation_warnings = [str(w.message) for w in caught]

    def sync(self) -> None:
        jax.block_until_ready((self._p, self._s))

    def params(self) -> list[np.ndarray]:
        return [np.array(x) for x in _leaves(self._p)]


class TorchContender:
    """``torch.optim`` with ``foreach=True`` or ``fused=True`` on fixed ``.grad`` tensors."""

    compile_s = lower_s = xla_s = memory = None

    def __init__(self, name: str, spec: OptimizerSpec, params_np, grads_np, ctx: Context):
        import torch

        self.name, self._torch, self._device = name, torch, ctx.torch_device
        self._impl = name.split("-", 1)[1]
        self._spec, self._params_np, self._grads_np = spec, params_np, grads_np
        self.reset()

    def reset(self) -> None:
        torch, dev = self._torch, self._device
        self._params = [
            torch.nn.Parameter(torch.tensor(x, device=dev)) for x in _leaves(self._params_np)
        ]
        self._grads_ref = [torch.tensor(g, device=dev) for g in _leaves(self._grads_np)]
        for p, g in zip(self._params, self._grads_ref):
            p.grad = g.clone()
        self._step = self._spec.torch(self._params, self._impl)

    def refresh(self) -> None:
        with self._torch.no_grad():
            for p, g in zip(self._params, self._grads_ref):
                p.grad.copy_(g)

    def step(self) -> None:
        self._step()

    first_step = step

    def sync(self) -> None:
        if self._device != "cpu":
            self._torch.cuda.synchronize()

    def params(self) -> list[np.ndarray]:
        return [p.detach().cpu().numpy().copy() for p in self._params]


class IdealContender:
    """The single-pass in-place C kernel, one ctypes call per tree."""

    compile_s = lower_s = xla_s = memory = None

    def __init__(self, name: str, spec: OptimizerSpec, params_np, grads_np, ctx: Context):
        self.name, self._spec, self._ctx = name, spec, ctx
        self._params_np = params_np
        self._g = LeafArrays([np.array(x) for x in _leaves(grads_np)])
        self._sizes = sizes_of(self._g.arrays)
        self.reset()

    def reset(self) -> None:
        self._p = LeafArrays([np.array(x) for x in _leaves(self._params_np)])
        args = (self._ctx.kernel, self._sizes, self._p, self._g, self._ctx.nthreads)
        self._step = self._spec.ideal(*args)

    def refresh(self) -> None:
        pass  # the kernel never writes the gradients

    def step(self) -> None:
        self._step()

    first_step = step

    def sync(self) -> None:
        pass

    def params(self) -> list[np.ndarray]:
        return [a.copy() for a in self._p.arrays]


def build(name: str, spec: OptimizerSpec, params_np, grads_np, ctx: Context):
    """The contender called ``name``, or ``None`` (with a note in ``ctx``) if unavailable."""
    if name in JAX_CONTENDERS:
        return JaxContender(name, spec, params_np, grads_np, ctx)
    if name in TORCH_CONTENDERS:
        if ctx.torch_device is None:
            return None
        try:
            return TorchContender(name, spec, params_np, grads_np, ctx)
        except Exception as e:  # e.g. an optimizer without a fused kernel on this device
            ctx.notes.append(f"{name} unavailable for {spec.name}: {type(e).__name__}: {e}")
            return None
    if name == "ideal":
        if ctx.kernel is None:
            return None
        return IdealContender(name, spec, params_np, grads_np, ctx)
    raise ValueError(f"unknown contender {name!r}; known: {', '.join(ALL_CONTENDERS)}")
