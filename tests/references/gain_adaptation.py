"""References of the gain-adaptation family (``tests/cases/gain_adaptation.py``), from the
papers' pseudo-code, one leaf at a time. vSGD-g couples the leaves, so its reference
(whole-tree) is in ``test_gain_adaptation.py``."""

from __future__ import annotations

import numpy as np

from references.common import hp, lr_at


def local_gains_reference(
    learning_rate, increase=0.05, decrease=0.95, min_gain=0.1, max_gain=10.0, momentum=None
):
    """Hinton's lecture 6c: gains +increase while the gradient agrees in sign with the
    previous gradient (with momentum: the velocity), x decrease when it disagrees; the
    update is -lr * gain * (gradient or velocity)."""

    def init(p):
        names = {"up": increase, "down": decrease, "lo": min_gain, "hi": max_gain}
        h = {k: hp(p, v) for k, v in {**names, "mu": momentum or 0.0}.items()}
        zeros = np.zeros(p.shape)
        return {"t": 0, "gain": np.ones(p.shape), "prev": zeros, "v": zeros, **h}

    def step(g, s, p):
        g = g.astype(np.float64)
        lr = lr_at(p, learning_rate, s["t"])
        s["t"] += 1
        v = g if momentum is None else s["mu"] * s["v"] + g
        agree = g * s["prev"]  # the previous gradient, or the previous velocity
        gain = np.where(agree > 0, s["gain"] + s["up"], s["gain"])
        gain = np.where(agree < 0, s["gain"] * s["down"], gain)
        s["gain"] = np.clip(gain, s["lo"], s["hi"])
        s["v"] = s["prev"] = v
        return -lr * s["gain"] * v

    return init, step


def delta_bar_delta_reference(learning_rate, kappa, phi=0.1, theta=0.7, momentum=None):
    """Jacobs (1988), eqs. for the delta-bar-delta rule: per-weight rates e(t) start at the
    learning rate, e += kappa if dbar(t-1) * delta(t) > 0, e *= 1 - phi if < 0; dbar(t) =
    (1 - theta) delta(t) + theta dbar(t-1); w -= e(t) delta(t) (with momentum: a velocity of
    e(t) delta(t)). A scheduled rate rescales every e by eta_t / eta_{t-1} (gradtx keeps
    e = eta * gain)."""

    def init(p):
        h = {k: hp(p, v) for k, v in {"k": kappa, "phi": phi, "th": theta}.items()}
        zeros = np.zeros(p.shape)
        lr0 = lr_at(p, learning_rate, 0)
        return {"t": 0, "e": np.full(p.shape, lr0), "lr": lr0, "dbar": zeros, "v": zeros, **h}

    def step(g, s, p):
        delta = g.astype(np.float64)
        lr = lr_at(p, learning_rate, s["t"])
        s["t"] += 1
        e = s["e"] * (lr / s["lr"])
        s["lr"] = lr
        agree = s["dbar"] * delta
        e = np.where(agree > 0, e + s["k"], np.where(agree < 0, (1 - s["phi"]) * e, e))
        s["e"] = e
        s["dbar"] = (1 - s["th"]) * delta + s["th"] * s["dbar"]
        s["v"] = e * delta if momentum is None else hp(p, momentum) * s["v"] + e * delta
        return -s["v"]

    return init, step


def vsgd_reference(
    learning_rate=1.0,
    variant="l",
    curvature="secant",
    n0=10.0,
    c=2.0,
    eps=1e-9,
    initial_curvature=1.0,
    outlier_threshold=2.0,
    key=0,
):
    """Schaul, Zhang & LeCun (2013), Algorithm 1 (vSGD-l; vSGD-b with the leaf as block):
    outlier test, averages with fraction 1/tau, rate gbar^2 / vbar * hbar / qbar (Schaul &
    LeCun's robust form), memory update; the slow start and the secant curvature as
    documented in ``gradtx.transforms._vsgd.scale_by_vsgd``."""
    assert curvature == "secant" and variant in ("l", "b"), "per-leaf reference"
    block = (lambda x: x) if variant == "l" else np.sum

    def init(p):
        names = {"n0": n0, "c": c, "eps": eps, "h0": initial_curvature, "k": outlier_threshold}
        return {"t": 0, **{k: hp(p, v) for k, v in names.items()}}

    def step(g, s, p):
        g, p = g.astype(np.float64), p.astype(np.float64)
        lr = lr_at(p, learning_rate, s["t"])
        s["t"] += 1
        C = s["c"]
        if s["t"] == 1:  # slow start: the first sample stands for n0 of them
            s.update(gbar=g, vbar=C * block(g * g), mean=p, var=0 * p, cov=0 * p)
            s.update(hbar=C * s["h0"], qbar=(C * s["h0"]) ** 2, tau=s["n0"] + 0 * block(g))
        else:
            excess = block((g - s["gbar"]) ** 2) - s["k"] ** 2 * (s["vbar"] - block(s["gbar"] ** 2))
            s["tau"] = np.where((s["k"] > 0) & (excess > 0), s["tau"] + 1, s["tau"])
            a = 1 / s["tau"]
            d_theta, d_g = p - s["mean"], g - s["gbar"]
            s["mean"] = s["mean"] + a * d_theta
            s["gbar"] = s["gbar"] + a * d_g
            s["vbar"] = (1 - a) * s["vbar"] + a * block(g * g)
            s["var"] = (1 - a) * (s["var"] + a * d_theta**2)
            s["cov"] = (1 - a) * (s["cov"] + a * d_theta * d_g)
            num, den = block(np.abs(s["cov"])), block(s["var"])
            h = num / np.where(den > 0, den, 1)
            s["hbar"] = np.where(den > 0, (1 - a) * s["hbar"] + a * h, s["hbar"])
            s["qbar"] = np.where(den > 0, (1 - a) * s["qbar"] + a * h * h, s["qbar"])
        r = np.minimum(block(s["gbar"] ** 2) / (s["vbar"] + s["eps"]), 1)
        rate = r * s["hbar"] / (s["qbar"] + s["eps"])
        s["tau"] = (1 - r) * s["tau"] + 1
        return -lr * rate * g

    return init, step
