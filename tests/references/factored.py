"""References of the factored family (``tests/cases/factored.py``)."""

from __future__ import annotations

import numpy as np

from references.common import hp, lr_at


def sm3_reference(learning_rate, momentum=0.9):
    """Anil et al. 2019, SM3-II with row/column covers (every axis), AdaGrad for rank <= 1,
    eps = 1e-8 inside the root and 0/0 = 0, then an EMA of the scaled gradient (Optax)."""

    def init(p):
        covers = [np.zeros(n) for n in p.shape] if p.ndim >= 2 else [np.zeros(p.shape)]
        return {"t": 0, "mu": covers, "v": np.zeros(p.shape), "b": hp(p, momentum)}

    def step(g, s, p):
        g = g.astype(np.float64)
        lr = lr_at(p, learning_rate, s["t"])
        s["t"] += 1
        if g.ndim >= 2:
            shape = lambda k: [n if i == k else 1 for i, n in enumerate(g.shape)]
            least = np.min(
                np.stack(
                    np.broadcast_arrays(*[m.reshape(shape(k)) for k, m in enumerate(s["mu"])])
                ),
                axis=0,
            )
            nu = g**2 + least
            others = lambda k: tuple(i for i in range(g.ndim) if i != k)
            s["mu"] = [nu.max(axis=others(k)) for k in range(g.ndim)]
        else:
            nu = g**2 + s["mu"][0]
            s["mu"] = [nu]
        scaled = np.where(nu > 0, g / np.sqrt(nu + hp(p, 1e-8)), 0.0)
        s["v"] = (1 - s["b"]) * scaled + s["b"] * s["v"]
        return -lr * s["v"]

    return init, step
