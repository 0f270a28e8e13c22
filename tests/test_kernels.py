"""XLA compiles gradtx's per-leaf kernels once per leaf shape where it does Optax's.

XLA:CPU compiles each distinct fused kernel once and reuses it for every leaf of the same
shape and dtype, so the compile time of a step on many leaves grows with the number of
*distinct* kernels. A live hyperparameter reaches the kernels as a runtime scalar. When a
select on it was copied into each kernel, or a kernel took its operands in an order that
depended on where the scalar's (shared) broadcast sat in the graph, the first leaf of each
shape got a kernel of its own: twice the compile work for that kernel.

What is checked: SGD with momentum compiles to as many distinct kernels as Optax's, and
Adam's last kernel (the new parameters from p, m, v: ``p - lr m̂/(√v̂ + ε)``) is one per leaf
shape. In both, the tree's very first leaf may get a kernel of its own (its kernel is the
first to meet the learning rate's scalar): one extra kernel per step, not one per shape.
Not yet met: Adam's moment kernels (and NAdam's parameter kernel) still come in two operand
orders (the first leaf of each shape differs), because keeping Optax's rounding fixes the
order of the two terms of ``(1-β) g + β m`` and XLA:CPU contracts one of them into a fused
multiply-add.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import optax
import pytest

import gradtx

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "compile_time.py"
_SPEC = importlib.util.spec_from_file_location("gradtx_bench_compile_time", _PATH)
compile_time = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(compile_time)

SIZES = (5, 9, 17, 33)
PARAMS = {f"w{i:02d}": jnp.zeros((SIZES[i % len(SIZES)],)) for i in range(24)}


def kernels(tx) -> list[str]:
    """The kernels of ``p + tx.update(g, s, p)`` jitted on ``PARAMS``, normalized by
    ``benchmarks/compile_time.kernel_bodies`` (equal strings: one compiled kernel)."""
    state = tx.init(PARAMS)

    def step(p, s, g):
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s

    text = jax.jit(step).lower(PARAMS, state, PARAMS).compile().as_text()
    return compile_time.kernel_bodies(text)


def test_sgd_momentum_has_as_many_distinct_kernels_as_optax():
    ours = kernels(gradtx.sgd(1e-2, momentum=0.9, nesterov=True))
    theirs = kernels(optax.sgd(1e-2, momentum=0.9, nesterov=True))
    assert len(ours) >= 2 * len(PARAMS)  # the velocity and the parameters, per leaf
    # gradtx has one more scalar kernel (its step counter) and may have one for the first leaf.
    assert len(set(ours)) <= len(set(theirs)) + 2


@pytest.mark.parametrize("name", ["adam", "adamw", "amsgrad"])
def test_adam_parameter_kernel_is_one_per_leaf_shape(name):
    body = kernels(gradtx.OPTIMIZERS[name].factory(1e-3))
    # The kernel that writes the new parameters reads p, m and v (three leaf-shaped arrays).
    last = {b for b in body if len(re.findall(r"param: f32\[\d+\]", b.split("\n")[0])) >= 3}
    shapes = {re.search(r"-> f32\[(\d+)\]", b.split("\n")[0]).group(1) for b in last}
    assert shapes == {str(s) for s in SIZES}
    assert len(last) <= len(SIZES) + 1, f"{name}: {len(last)} parameter kernels for 4 shapes"
