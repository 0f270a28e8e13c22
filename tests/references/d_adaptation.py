"""References of the D-adaptation family (``tests/cases/d_adaptation.py``): Prodigy and
D-Adapt Adam, whole-tree references (their estimates sum over every leaf)."""

from __future__ import annotations

import numpy as np

from references.common import hp, lr_at, whole_tree


def _betas_terms(betas, k):
    (b1, b2), t = betas, k + 1
    return b1, b2, np.sqrt(1 - b2**t) / (1 - b1**t)


def prodigy_reference(
    learning_rate=1.0,
    betas=(0.9, 0.999),
    beta3=None,
    eps=1e-8,
    estim_lr0=1e-6,
    estim_lr_coef=1.0,
    weight_decay=0.0,
    safeguard_warmup=False,
):
    """The authors' ProdigyReference (arXiv:2306.06101) with use_bias_correction=True and
    decoupled decay, d kept when sum |s| = 0; in float64, live values rounded as stored."""

    def make_step(params0, dtype):
        q = np.zeros((), dtype)
        h = {k: hp(q, v) for k, v in dict(eps=eps, d0=estim_lr0, c=estim_lr_coef).items()}
        h["wd"], st = hp(q, weight_decay), {"k": 0, "d": hp(q, estim_lr0), "num": 0.0}
        b3 = np.sqrt(betas[1]) if beta3 is None else hp(q, beta3)
        zeros = [np.zeros_like(p) for p in params0]
        st.update(m=list(zeros), v=list(zeros), s=list(zeros))

        def step_all(gs, ps):
            b1, b2, bc = _betas_terms(betas, st["k"])
            d, d0 = st["d"], h["d0"]
            dlr = d * lr_at(q, learning_rate, st["k"]) * bc
            acc = sum(np.dot(g.ravel(), (p0 - p).ravel()) for g, p0, p in zip(gs, params0, ps))
            st["num"] = b3 * st["num"] + (d / d0) * dlr * acc
            gain = d if safeguard_warmup else dlr
            for i, g in enumerate(gs):
                st["m"][i] = b1 * st["m"][i] + (1 - b1) * d * g
                st["v"][i] = b2 * st["v"][i] + (1 - b2) * d**2 * g**2
                st["s"][i] = b3 * st["s"][i] + (d / d0) * gain * g
            denom = sum(np.abs(s).sum() for s in st["s"])
            st["d"] = max(d, h["c"] * st["num"] / denom) if denom > 0 else d
            st["k"] += 1
            return [
                -dlr * h["wd"] * p - dlr * m / (np.sqrt(v) + st["d"] * h["eps"])
                for p, m, v in zip(ps, st["m"], st["v"])
            ]

        return step_all

    return whole_tree(make_step)


def dadapt_reference(
    learning_rate=1.0, betas=(0.9, 0.999), eps=1e-8, estim_lr0=1e-6, weight_decay=0.0
):
    """The authors' DAdaptAdam (arXiv:2301.07733, sqrt(b2) averaging) with Optax's bias
    correction and decoupled decay, d kept when sum |s| = 0; float64, live values rounded."""

    def make_step(params0, dtype):
        q = np.zeros((), dtype)
        eps_, wd = hp(q, eps), hp(q, weight_decay)
        zeros = [np.zeros_like(p) for p in params0]
        st = {"k": 0, "d": hp(q, estim_lr0), "num": 0.0, "m": list(zeros), "v": list(zeros)}
        st["s"] = list(zeros)

        def step_all(gs, ps):
            b1, b2, bc = _betas_terms(betas, st["k"])
            sb2, d = np.sqrt(b2), st["d"]
            dlr = d * lr_at(q, learning_rate, st["k"]) * bc
            acc = sum(
                np.dot(g.ravel(), (s / (np.sqrt(v) + eps_)).ravel())
                for g, s, v in zip(gs, st["s"], st["v"])
            )
            st["num"] = sb2 * st["num"] + (1 - sb2) * dlr * acc
            for i, g in enumerate(gs):
                st["m"][i] = b1 * st["m"][i] + (1 - b1) * dlr * g
                st["v"][i] = b2 * st["v"][i] + (1 - b2) * g**2
                st["s"][i] = sb2 * st["s"][i] + (1 - sb2) * dlr * g
            l1 = sum(np.abs(s).sum() for s in st["s"])
            st["d"] = max(d, st["num"] / ((1 - sb2) * l1)) if l1 > 0 else d
            st["k"] += 1
            return [
                -wd * dlr * p - m / (np.sqrt(v) + eps_) for p, m, v in zip(ps, st["m"], st["v"])
            ]

        return step_all

    return whole_tree(make_step)
