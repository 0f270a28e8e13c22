"""References of the orthogonal family (``tests/cases/orthogonal.py``): Muon."""

from __future__ import annotations

import numpy as np

from references.common import hp, lr_at, one_minus_power


def _newton_schulz_reference(x, rows, eps):
    """The quintic Newton-Schulz iteration in float64, on the wide side of ``x``."""
    transposed = x.shape[0] > x.shape[1]
    x = x.T if transposed else x
    x = x / (np.linalg.norm(x) + eps)
    for c0, c1, c2 in rows:
        a = x @ x.T
        x = c0 * x + (c1 * a + c2 * a @ a) @ x
    return x.T if transposed else x


def muon_reference(
    learning_rate,
    ns_steps=5,
    beta=0.95,
    eps=1e-8,
    weight_decay=0.0,
    weight_decay_mask=None,
    nesterov=True,
    adaptive=False,
    adam_b1=0.9,
    adam_b2=0.999,
    adam_eps_root=0.0,
    adam_weight_decay=0.0,
    adam_learning_rate=None,
    consistent_rms=None,
):
    """Muon (Jordan et al. 2024) with Optax's debiased momentum and shape scaling for the
    2-D leaves, NAdamW/AdamW for the others; float64, hyperparameters rounded as gradtx
    stores them. In float32 Newton-Schulz amplifies the last-bit differences of Optax's
    float32 bias correction ``1 - b**t`` (its quintic has slope ~480 at 0) to ~1e-5."""
    rows = [(3.4445, -4.775, 2.0315)] * ns_steps

    def init(p):
        names = {"beta": beta, "eps": eps, "wd": weight_decay, "b1": adam_b1, "b2": adam_b2}
        names.update(eps_root=adam_eps_root, awd=adam_weight_decay, rms=consistent_rms or 0.0)
        h = {k: hp(p, v) for k, v in names.items()}
        decay = weight_decay_mask is None or bool(weight_decay_mask(p))
        state = {"t": 0, "m": np.zeros(p.shape), "v": np.zeros(p.shape), "decay": decay}
        return {**state, **h}

    def momentum(s, g, b, t):
        s["m"] = (1 - b) * g + b * s["m"]
        if nesterov:
            return b * s["m"] / one_minus_power(b, t + 1) + (1 - b) * g / one_minus_power(b, t)
        return s["m"] / one_minus_power(b, t)

    def step(g, s, p):
        g, t = g.astype(np.float64), s["t"] + 1
        lr = lr_at(p, learning_rate, s["t"])
        s["t"] = t
        if p.ndim == 2:
            m_hat = momentum(s, g, s["beta"], t)
            o = _newton_schulz_reference(m_hat, rows, s["eps"])
            if adaptive:
                o = np.sum(m_hat * o) * o
            fan_in, fan_out = p.shape
            if consistent_rms is None:
                o = np.sqrt(max(1.0, fan_out / fan_in)) * o
            else:
                o = np.sqrt(max(fan_in, fan_out)) * s["rms"] * o
            return -lr * (o + (s["wd"] * p if s["decay"] else 0.0))
        if adam_learning_rate is not None:
            lr = lr_at(p, adam_learning_rate, t - 1)
        m_hat = momentum(s, g, s["b1"], t)
        s["v"] = (1 - s["b2"]) * g**2 + s["b2"] * s["v"]
        v_hat = s["v"] / one_minus_power(s["b2"], t)
        return -lr * (m_hat / (np.sqrt(v_hat + s["eps_root"]) + s["eps"]) + s["awd"] * p)

    return init, step
