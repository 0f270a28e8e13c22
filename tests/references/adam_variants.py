"""References of the Adam variants (``tests/cases/adam_variants.py``): Yogi, RAdam, Optimistic
Adam and Adan, each with the paper's algorithm and Optax's conventions where the paper leaves
a choice (eps placement, bias corrections)."""

from __future__ import annotations

import numpy as np

from references.common import hp, lr_at, one_minus_power


def yogi_reference(learning_rate, b1=0.9, b2=0.999, eps=1e-3):
    """Zaheer et al. 2018, Algorithm 2 (m_0 = 0), with Optax's bias corrections and v_0 = 1e-6."""

    def init(p):
        h = {k: hp(p, v) for k, v in {"b1": b1, "b2": b2, "eps": eps, "v0": 1e-6}.items()}
        return {"t": 0, "m": np.zeros(p.shape), "v": np.full(p.shape, h["v0"]), **h}

    def step(g, s, p):
        g = g.astype(np.float64)
        lr = lr_at(p, learning_rate, s["t"])
        s["t"] += 1
        s["m"] = (1 - s["b1"]) * g + s["b1"] * s["m"]
        s["v"] = s["v"] - (1 - s["b2"]) * np.sign(s["v"] - g**2) * g**2
        m_hat = s["m"] / one_minus_power(s["b1"], s["t"])
        v_hat = s["v"] / one_minus_power(s["b2"], s["t"])
        return -lr * m_hat / (np.sqrt(v_hat) + s["eps"])

    return init, step


def _rho(b2, t):
    """RAdam's rho_t, from the definition (float64; error ~1e-13 relative)."""
    return 2 / (1 - b2) - 1 - 2 * t * np.exp(t * np.log(b2)) / one_minus_power(b2, t)


def radam_reference(
    learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, threshold=5.0, nesterov=False
):
    """Liu et al. 2020, Algorithm 2 (with Optax's eps, eps_root, threshold and nesterov)."""

    def init(p):
        names = {"b1": b1, "b2": b2, "eps": eps, "eps_root": eps_root, "thr": threshold}
        h = {k: hp(p, v) for k, v in names.items()}
        return {"t": 0, "m": np.zeros(p.shape), "v": np.zeros(p.shape), **h}

    def step(g, s, p):
        g = g.astype(np.float64)
        lr = lr_at(p, learning_rate, s["t"])
        s["t"] += 1
        t, b1_, b2_ = s["t"], s["b1"], s["b2"]
        s["m"] = (1 - b1_) * g + b1_ * s["m"]
        s["v"] = (1 - b2_) * g**2 + b2_ * s["v"]
        if nesterov:
            m_hat = b1_ * s["m"] / one_minus_power(b1_, t + 1) + (1 - b1_) * g / one_minus_power(
                b1_, t
            )
        else:
            m_hat = s["m"] / one_minus_power(b1_, t)
        rho, rho_inf = _rho(b2_, t), 2 / (1 - b2_) - 1
        if rho < s["thr"]:
            return -lr * m_hat
        r = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
        v_hat = s["v"] / one_minus_power(b2_, t)
        return -lr * r * m_hat / (np.sqrt(v_hat + s["eps_root"]) + s["eps"])

    return init, step


def optimistic_adam_reference(
    learning_rate, optimism=None, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, nesterov=True
):
    """Daskalakis et al. 2018, Algorithm 1 (Optimistic Adam) with Optax's parameterization:
    w <- w - ((lr + optimism) d_t - optimism d_{t-1}), d_t Adam's (NAdam's) direction."""

    def init(p):
        h = {k: hp(p, v) for k, v in {"b1": b1, "b2": b2, "eps": eps, "eps_root": eps_root}.items()}
        zeros = np.zeros(p.shape)
        return {"t": 0, "m": zeros, "v": zeros, "d": zeros, **h}

    def step(g, s, p):
        g = g.astype(np.float64)
        lr = lr_at(p, learning_rate, s["t"])
        omega = lr if optimism is None else hp(p, optimism)
        s["t"] += 1
        t, b1_, b2_ = s["t"], s["b1"], s["b2"]
        s["m"] = (1 - b1_) * g + b1_ * s["m"]
        s["v"] = (1 - b2_) * g**2 + b2_ * s["v"]
        if nesterov:
            m_hat = b1_ * s["m"] / one_minus_power(b1_, t + 1) + (1 - b1_) * g / one_minus_power(
                b1_, t
            )
        else:
            m_hat = s["m"] / one_minus_power(b1_, t)
        v_hat = s["v"] / one_minus_power(b2_, t)
        d = m_hat / (np.sqrt(v_hat + s["eps_root"]) + s["eps"])
        previous = d if t == 1 else s["d"]
        s["d"] = d
        return -((lr + omega) * d - omega * previous)

    return init, step


def adan_reference(
    learning_rate, b1=0.98, b2=0.92, b3=0.99, eps=1e-8, eps_root=1e-8, weight_decay=0.0
):
    """Xie et al. 2022, Algorithm 1, in the authors' code's convention (beta = decay):
    the difference enters with coefficient b2, and the weight decay is Optax's decoupled one."""

    def init(p):
        names = {"b1": b1, "b2": b2, "b3": b3, "eps": eps, "eps_root": eps_root}
        h = {k: hp(p, v) for k, v in {**names, "wd": weight_decay}.items()}
        zeros = np.zeros(p.shape)
        return {"t": 0, "m": zeros, "v": zeros, "n": zeros, "prev": zeros, **h}

    def step(g, s, p):
        g = g.astype(np.float64)
        lr = lr_at(p, learning_rate, s["t"])
        d = g - s["prev"] if s["t"] > 0 else np.zeros(g.shape)
        s["t"] += 1
        t = s["t"]
        s["m"] = (1 - s["b1"]) * g + s["b1"] * s["m"]
        s["v"] = (1 - s["b2"]) * d + s["b2"] * s["v"]
        s["n"] = (1 - s["b3"]) * (g + s["b2"] * d) ** 2 + s["b3"] * s["n"]
        s["prev"] = g
        m_hat = s["m"] / one_minus_power(s["b1"], t)
        v_hat = s["v"] / one_minus_power(s["b2"], t)
        n_hat = s["n"] / one_minus_power(s["b3"], t)
        u = (m_hat + s["b2"] * v_hat) / (np.sqrt(n_hat + s["eps_root"]) + s["eps"])
        return -lr * (u + s["wd"] * p.astype(np.float64))

    return init, step
