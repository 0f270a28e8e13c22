"""References of the SGD variants (``tests/cases/sgd_variants.py``): ASGD."""

from __future__ import annotations

import numpy as np

from references.common import hp, lr_at


def asgd_reference(learning_rate=0.01, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0):
    """``torch.optim.ASGD``, single-tensor path: eta and mu are those computed at the end of
    the previous step (eta_0 = lr, mu_0 = 1); a scheduled lr enters eta at the current step."""

    def init(p):
        h = {k: hp(p, v) for k, v in {"lambd": lambd, "alpha": alpha, "wd": weight_decay}.items()}
        return {"step": 0, "ax": np.zeros(p.shape), "t0": float(t0), **h}

    def step(g, st, p):
        g, x = g.astype(np.float64), p.astype(np.float64)
        lr, t = lr_at(p, learning_rate, st["step"]), st["step"]
        eta = lr / (1 + st["lambd"] * lr * t) ** st["alpha"]
        mu = 1 / max(1, t - st["t0"])
        st["step"] += 1
        g = g + st["wd"] * x
        new = x * (1 - st["lambd"] * eta) - eta * g
        st["ax"] = new.copy() if mu == 1 else st["ax"] + (new - st["ax"]) * mu
        return new - x

    return init, step
