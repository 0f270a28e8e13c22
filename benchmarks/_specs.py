"""The three benchmarked optimizers, as each contender spells them.

An :class:`OptimizerSpec` holds, for one optimizer: the gradtx and Optax transforms, the
PyTorch optimizer (``foreach`` or ``fused``), the ideal C step, and the number of bytes a
step must move per float32 parameter (the algorithmic minimum, used for GB/s).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from _ideal import LeafArrays

ADAM_LR, SGD_LR, MOMENTUM = 1e-3, 1e-2, 0.9
B1, B2, EPS = 0.9, 0.999, 1e-8
CLIP, WEIGHT_DECAY = 1.0, 1e-4
WARMUP = {"init_value": 0.0, "peak_value": 1e-3, "warmup_steps": 100, "decay_steps": 10_000}


def warmup_cosine(t: int) -> float:
    """``warmup_cosine_decay_schedule(0, 1e-3, 100, 10000)`` (end value 0) in plain Python."""
    init, peak = WARMUP["init_value"], WARMUP["peak_value"]
    warm, total = WARMUP["warmup_steps"], WARMUP["decay_steps"]
    if t < warm:
        return init + (peak - init) * t / warm
    frac = min(t - warm, total - warm) / (total - warm)
    return peak * 0.5 * (1.0 + math.cos(math.pi * frac))


@dataclass(frozen=True)
class OptimizerSpec:
    """One optimizer: its name, bytes per parameter, and a builder per contender."""

    name: str
    title: str
    bytes_per_param: int
    gradtx: Callable[[], Any]
    optax: Callable[[], Any]
    torch: Callable[[list, str], Callable[[], None]]  # (params with .grad, impl) -> step
    ideal: Callable[..., Callable[[], None]]  # (kernel, sizes, p, g, nthreads) -> step


# ---- gradtx / Optax ------------------------------------------------------------------


def _gradtx_adam():
    import gradtx

    return gradtx.adam(ADAM_LR)


def _optax_adam():
    import optax

    return optax.adam(ADAM_LR)


def _gradtx_sgd():
    import gradtx

    return gradtx.sgd(SGD_LR, momentum=MOMENTUM, nesterov=True)


def _optax_sgd():
    import optax

    return optax.sgd(SGD_LR, momentum=MOMENTUM, nesterov=True)


def _gradtx_chain():
    import gradtx

    schedule = gradtx.warmup_cosine_decay_schedule(**WARMUP)
    return gradtx.chain(
        gradtx.clip_by_global_norm(CLIP), gradtx.adamw(schedule, weight_decay=WEIGHT_DECAY)
    )


def _optax_chain():
    import optax

    schedule = optax.warmup_cosine_decay_schedule(**WARMUP)
    return optax.chain(
        optax.clip_by_global_norm(CLIP), optax.adamw(schedule, weight_decay=WEIGHT_DECAY)
    )


# ---- PyTorch -------------------------------------------------------------------------


def _torch_adam(params: list, impl: str) -> Callable[[], None]:
    import torch

    return torch.optim.Adam(params, lr=ADAM_LR, betas=(B1, B2), eps=EPS, **{impl: True}).step


def _torch_sgd(params: list, impl: str) -> Callable[[], None]:
    import torch

    opt = torch.optim.SGD(params, lr=SGD_LR, momentum=MOMENTUM, nesterov=True, **{impl: True})
    return opt.step


def _torch_chain(params: list, impl: str) -> Callable[[], None]:
    import torch

    peak = WARMUP["peak_value"]
    opt = torch.optim.AdamW(
        params, lr=peak, betas=(B1, B2), eps=EPS, weight_decay=WEIGHT_DECAY, **{impl: True}
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: warmup_cosine(t) / peak)

    def step():
        torch.nn.utils.clip_grad_norm_(params, CLIP, foreach=True)
        opt.step()
        sched.step()

    return step


# ---- The ideal C kernel ----------------------------------------------------------------


def _bias_corrections(t: int) -> tuple[float, float]:
    """``1 - b^t`` in float32, as Optax computes them."""
    one, t32 = np.float32(1), np.float32(t)
    return float(one - np.float32(B1) ** t32), float(one - np.float32(B2) ** t32)


def _ideal_adamw(kernel, sizes, p, g, nthreads, lr_at, wd: float, clip: float | None):
    """Adam(W) in one pass; with ``clip``, a global-norm pass over ``g`` first."""
    m = LeafArrays([np.zeros_like(a) for a in p.arrays])
    v = LeafArrays([np.zeros_like(a) for a in p.arrays])
    n, size_ptr, count = len(sizes), sizes.ctypes.data, [0]

    def step():
        t = count[0]
        scale = 1.0
        if clip is not None:
            norm = math.sqrt(kernel.sumsq_tree(n, size_ptr, g.ptr, nthreads))
            scale = 1.0 if norm < clip else clip / norm
        bc1, bc2 = _bias_corrections(t + 1)
        kernel.adamw_tree(
            n, size_ptr, p.ptr, m.ptr, v.ptr, g.ptr,
            lr_at(t), B1, B2, EPS, bc1, bc2, wd, scale, nthreads,
        )  # fmt: skip
        count[0] = t + 1

    step.keep_alive = (m, v)  # the pointer arrays must outlive the closure's calls
    return step


def _ideal_adam(kernel, sizes, p, g, nthreads):
    return _ideal_adamw(kernel, sizes, p, g, nthreads, lambda t: ADAM_LR, 0.0, None)


def _ideal_chain(kernel, sizes, p, g, nthreads):
    return _ideal_adamw(kernel, sizes, p, g, nthreads, warmup_cosine, WEIGHT_DECAY, CLIP)


def _ideal_sgd(kernel, sizes, p, g, nthreads):
    vel = LeafArrays([np.zeros_like(a) for a in p.arrays])
    n, size_ptr = len(sizes), sizes.ctypes.data

    def step():
        kernel.sgd_nesterov_tree(n, size_ptr, p.ptr, vel.ptr, g.ptr, SGD_LR, MOMENTUM, nthreads)

    step.keep_alive = vel
    return step


SPECS: dict[str, OptimizerSpec] = {
    s.name: s
    for s in (
        OptimizerSpec(
            "adam", "Adam (lr 1e-3)", 28, _gradtx_adam, _optax_adam, _torch_adam, _ideal_adam
        ),
        OptimizerSpec(
            "sgd_nesterov",
            "SGD, Nesterov momentum 0.9 (lr 1e-2)",
            20,
            _gradtx_sgd,
            _optax_sgd,
            _torch_sgd,
            _ideal_sgd,
        ),
        OptimizerSpec(
            "chain",
            "clip_by_global_norm(1) + AdamW(wd 1e-4) + warmup-cosine(0→1e-3, 100, 10k)",
            32,
            _gradtx_chain,
            _optax_chain,
            _torch_chain,
            _ideal_chain,
        ),
    )
}
