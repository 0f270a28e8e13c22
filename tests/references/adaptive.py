"""References of the adaptive family (``tests/cases/adaptive.py``)."""

from __future__ import annotations

import numpy as np


def rprop_reference(
    learning_rate, eta_minus=0.5, eta_plus=1.2, min_step_size=1e-6, max_step_size=50.0
):
    """iRprop- exactly as ``torch.optim.Rprop`` (PyTorch 2.x, non-foreach) writes it."""

    def init(p):
        return {"prev": np.zeros_like(p), "step": np.full_like(p, learning_rate)}

    def step(g, state, p):
        g = g.copy()
        sign = np.sign(g * state["prev"])
        factor = np.where(sign > 0, eta_plus, np.where(sign < 0, eta_minus, 1.0))
        state["step"] = np.clip(state["step"] * factor, min_step_size, max_step_size)
        g[sign < 0] = 0
        state["prev"] = g
        return -np.sign(g) * state["step"]

    return init, step
