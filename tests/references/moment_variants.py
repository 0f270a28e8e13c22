"""References of the moment variants (``tests/cases/moment_variants.py``): AdEMAMix from the
paper, MADGRAD transcribed from the authors' PyTorch code and lazy Adam from
``torch.optim.SparseAdam``."""

from __future__ import annotations

import numpy as np

from references.common import hp, lr_at, one_minus_power


def ademamix_reference(
    learning_rate,
    b1=0.9,
    b2=0.999,
    b3=0.9999,
    alpha=5.0,
    eps=1e-8,
    eps_root=0.0,
    weight_decay=0.0,
):
    """Pagliardini et al. 2024, Algorithm 1, with Optax's eps, eps_root and decoupled decay.
    Compared in float32, where Optax's ``1 - b**t`` is off by up to 7e-6 (see ``tests/cases``)."""

    def init(p):
        names = {"b1": b1, "b2": b2, "eps": eps, "eps_root": eps_root, "wd": weight_decay}
        h = {k: hp(p, v) for k, v in names.items()}
        return {
            "t": 0,
            "m1": np.zeros(p.shape),
            "m2": np.zeros(p.shape),
            "nu": np.zeros(p.shape),
            **h,
        }

    def step(g, st, p):
        g, t = g.astype(np.float64), st["t"]
        lr, b3_t, alpha_t = (lr_at(p, v, t) for v in (learning_rate, b3, alpha))
        st["t"] += 1
        st["m1"] = st["b1"] * st["m1"] + (1 - st["b1"]) * g
        st["m2"] = b3_t * st["m2"] + (1 - b3_t) * g
        st["nu"] = st["b2"] * st["nu"] + (1 - st["b2"]) * g * g
        m_hat = st["m1"] / one_minus_power(st["b1"], st["t"])
        nu_hat = st["nu"] / one_minus_power(st["b2"], st["t"])
        direction = (m_hat + alpha_t * st["m2"]) / (np.sqrt(nu_hat + st["eps_root"]) + st["eps"])
        return -lr * (direction + st["wd"] * p.astype(np.float64))

    return init, step


def madgrad_reference(learning_rate, momentum=0.9, weight_decay=0.0, eps=1e-6):
    """``madgrad.MADGRAD.step`` of facebookresearch/madgrad (dense, coupled weight decay),
    one leaf at a time; with ``momentum == 0`` it recovers x0 from the current iterate."""

    def init(p):
        h = {k: hp(p, v) for k, v in {"mom": momentum, "wd": weight_decay, "eps": eps}.items()}
        return {"k": 0, "nu": np.zeros(p.shape), "s": np.zeros(p.shape), "x0": p.copy(), **h}

    def step(g, st, p):
        g, x = g.astype(np.float64), p.astype(np.float64)
        lr = lr_at(p, learning_rate, st["k"]) + st["eps"]
        lamb = lr * np.sqrt(st["k"] + 1)
        g = g + st["wd"] * x
        if st["mom"] == 0:
            x0 = x + st["s"] / (np.cbrt(st["nu"]) + st["eps"])
        else:
            x0 = st["x0"]
        st["nu"] = st["nu"] + lamb * g * g
        st["s"] = st["s"] + lamb * g
        z = x0 - st["s"] / (np.cbrt(st["nu"]) + st["eps"])
        st["k"] += 1
        ck = 1 - st["mom"]
        return x * (1 - ck) + z * ck - x

    return init, step


def lazy_adam_reference(learning_rate, b1=0.9, b2=0.999, eps=1e-8, row_axis=0):
    """``torch.optim.SparseAdam`` on the rows whose gradient is not all zero (one global
    step count; eps added to the uncorrected root; the step size carries the corrections)."""

    def init(p):
        h = {k: hp(p, v) for k, v in {"b1": b1, "b2": b2, "eps": eps}.items()}
        return {"t": 0, "m": np.zeros(p.shape), "v": np.zeros(p.shape), **h}

    def step(g, st, p):
        g = g.astype(np.float64)
        lr = lr_at(p, learning_rate, st["t"])
        st["t"] += 1
        if g.ndim == 0 or row_axis is None:
            rows = np.asarray(np.any(g != 0))
        else:
            others = tuple(i for i in range(g.ndim) if i != row_axis % g.ndim)
            rows = np.any(g != 0, axis=others, keepdims=True)
        m = st["m"] + (g - st["m"]) * (1 - st["b1"])
        v = st["v"] + (g * g - st["v"]) * (1 - st["b2"])
        st["m"], st["v"] = np.where(rows, m, st["m"]), np.where(rows, v, st["v"])
        size = lr * np.sqrt(one_minus_power(st["b2"], st["t"])) / one_minus_power(st["b1"], st["t"])
        return np.where(rows, -size * m / (np.sqrt(v) + st["eps"]), 0.0)

    return init, step
