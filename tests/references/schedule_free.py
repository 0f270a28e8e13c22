"""References of the schedule-free family (``tests/cases/schedule_free.py``)."""

from __future__ import annotations

import numpy as np

from references.common import hp, lr_at


def schedule_free_reference(
    learning_rate=1.0,
    warmup_steps=None,
    b1=0.9,
    b2=None,
    eps=1e-8,
    weight_decay=None,
    weight_lr_power=2.0,
    state_dtype=None,
):
    """The authors' SGDScheduleFree / AdamWScheduleFree step (AdamW if ``b2`` is given),
    with y updated in place as in their code: y <- (1-c) y + c z + lr (b1 (1-c) - 1) d."""
    del state_dtype

    def init(p):
        raw = dict(b1=b1, b2=b2 or 0.0, eps=eps, wd=weight_decay or 0.0, pow=weight_lr_power)
        h = {k: hp(p, v) for k, v in raw.items()}
        zeros = np.zeros(p.shape)
        return {"k": 0, "lr_max": 0.0, "wsum": 0.0, "z": p.astype(np.float64), "v": zeros, **h}

    def step(g, s, p):
        g, y, k = g.astype(np.float64), p.astype(np.float64), s["k"]
        lr = lr_at(p, learning_rate, k)
        if warmup_steps and k < warmup_steps:
            lr = lr * (k + 1) / warmup_steps
        s["lr_max"] = max(s["lr_max"], lr)
        weight = s["lr_max"] ** s["pow"]
        s["wsum"] += weight
        c = weight / s["wsum"] if s["wsum"] else 0.0
        if b2 is not None:
            s["v"] = s["b2"] * s["v"] + (1 - s["b2"]) * g**2
            g = g / (np.sqrt(s["v"] / (1 - s["b2"] ** (k + 1))) + s["eps"])
        d = g + s["wd"] * y
        new_y = (1 - c) * y + c * s["z"] + lr * (s["b1"] * (1 - c) - 1) * d
        s["z"] = s["z"] - lr * d
        s["k"] = k + 1
        return new_y - y

    return init, step
