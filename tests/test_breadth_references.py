"""NumPy references written from the papers, and the tests that pin where Optax differs.

Each reference has the ``(init, step)`` protocol of ``registry.rprop_reference``: one leaf
at a time, ``step(g, state, p)`` returns the update. It computes in float64, with the
hyperparameters rounded to the parameters' precision (as gradtx stores them), so that a
float32 run is compared with the exact rule for the same hyperparameters. The parity tests
(``test_breadth_parity.py``) use them through ``registry_breadth.BREADTH_CASES``; the
tests below show, on the same data, that Optax 0.2.8 departs from them where gradtx's
documentation says so.
"""

from __future__ import annotations

import warnings
from fractions import Fraction

import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import assert_trees_close, gradient_stream, nested_params, precision, tree_max_abs

import gradtx
from gradtx.transforms._second_moments import rectification


def _hp(p, value):
    """A hyperparameter as gradtx stores it for parameters like ``p``."""
    return float(np.asarray(value, dtype=p.dtype)) if p.dtype == np.float32 else float(value)


def _lr(p, learning_rate, count):
    """The learning rate at step ``count`` (0-based), a constant or a schedule."""
    value = learning_rate(count) if callable(learning_rate) else learning_rate
    return _hp(p, value)


def _one_minus_power(b, t):
    return -np.expm1(t * np.log(b)) if b > 0 else 1.0


def yogi_reference(learning_rate, b1=0.9, b2=0.999, eps=1e-3):
    """Zaheer et al. 2018, Algorithm 2 (m_0 = 0), with Optax's bias corrections and v_0 = 1e-6."""

    def init(p):
        h = {k: _hp(p, v) for k, v in {"b1": b1, "b2": b2, "eps": eps, "v0": 1e-6}.items()}
        return {"t": 0, "m": np.zeros(p.shape), "v": np.full(p.shape, h["v0"]), **h}

    def step(g, s, p):
        g = g.astype(np.float64)
        lr = _lr(p, learning_rate, s["t"])
        s["t"] += 1
        s["m"] = (1 - s["b1"]) * g + s["b1"] * s["m"]
        s["v"] = s["v"] - (1 - s["b2"]) * np.sign(s["v"] - g**2) * g**2
        m_hat = s["m"] / _one_minus_power(s["b1"], s["t"])
        v_hat = s["v"] / _one_minus_power(s["b2"], s["t"])
        return -lr * m_hat / (np.sqrt(v_hat) + s["eps"])

    return init, step


def _rho(b2, t):
    """RAdam's rho_t, from the definition (float64; error ~1e-13 relative)."""
    return 2 / (1 - b2) - 1 - 2 * t * np.exp(t * np.log(b2)) / _one_minus_power(b2, t)


def radam_reference(
    learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, threshold=5.0, nesterov=False
):
    """Liu et al. 2020, Algorithm 2 (with Optax's eps, eps_root, threshold and nesterov)."""

    def init(p):
        names = {"b1": b1, "b2": b2, "eps": eps, "eps_root": eps_root, "thr": threshold}
        h = {k: _hp(p, v) for k, v in names.items()}
        return {"t": 0, "m": np.zeros(p.shape), "v": np.zeros(p.shape), **h}

    def step(g, s, p):
        g = g.astype(np.float64)
        lr = _lr(p, learning_rate, s["t"])
        s["t"] += 1
        t, b1_, b2_ = s["t"], s["b1"], s["b2"]
        s["m"] = (1 - b1_) * g + b1_ * s["m"]
        s["v"] = (1 - b2_) * g**2 + b2_ * s["v"]
        if nesterov:
            m_hat = b1_ * s["m"] / _one_minus_power(b1_, t + 1) + (1 - b1_) * g / _one_minus_power(
                b1_, t
            )
        else:
            m_hat = s["m"] / _one_minus_power(b1_, t)
        rho, rho_inf = _rho(b2_, t), 2 / (1 - b2_) - 1
        if rho < s["thr"]:
            return -lr * m_hat
        r = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
        v_hat = s["v"] / _one_minus_power(b2_, t)
        return -lr * r * m_hat / (np.sqrt(v_hat + s["eps_root"]) + s["eps"])

    return init, step


def optimistic_adam_reference(
    learning_rate, optimism=None, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, nesterov=True
):
    """Daskalakis et al. 2018, Algorithm 1 (Optimistic Adam) with Optax's parameterization:
    w <- w - ((lr + optimism) d_t - optimism d_{t-1}), d_t Adam's (NAdam's) direction."""

    def init(p):
        h = {
            k: _hp(p, v) for k, v in {"b1": b1, "b2": b2, "eps": eps, "eps_root": eps_root}.items()
        }
        zeros = np.zeros(p.shape)
        return {"t": 0, "m": zeros, "v": zeros, "d": zeros, **h}

    def step(g, s, p):
        g = g.astype(np.float64)
        lr = _lr(p, learning_rate, s["t"])
        omega = lr if optimism is None else _hp(p, optimism)
        s["t"] += 1
        t, b1_, b2_ = s["t"], s["b1"], s["b2"]
        s["m"] = (1 - b1_) * g + b1_ * s["m"]
        s["v"] = (1 - b2_) * g**2 + b2_ * s["v"]
        if nesterov:
            m_hat = b1_ * s["m"] / _one_minus_power(b1_, t + 1) + (1 - b1_) * g / _one_minus_power(
                b1_, t
            )
        else:
            m_hat = s["m"] / _one_minus_power(b1_, t)
        v_hat = s["v"] / _one_minus_power(b2_, t)
        d = m_hat / (np.sqrt(v_hat + s["eps_root"]) + s["eps"])
        previous = d if t == 1 else s["d"]
        s["d"] = d
        return -((lr + omega) * d - omega * previous)

    return init, step


def sm3_reference(learning_rate, momentum=0.9):
    """Anil et al. 2019, SM3-II with row/column covers (every axis), AdaGrad for rank <= 1,
    eps = 1e-8 inside the root and 0/0 = 0, then an EMA of the scaled gradient (Optax)."""

    def init(p):
        covers = [np.zeros(n) for n in p.shape] if p.ndim >= 2 else [np.zeros(p.shape)]
        return {"t": 0, "mu": covers, "v": np.zeros(p.shape), "b": _hp(p, momentum)}

    def step(g, s, p):
        g = g.astype(np.float64)
        lr = _lr(p, learning_rate, s["t"])
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
        scaled = np.where(nu > 0, g / np.sqrt(nu + _hp(p, 1e-8)), 0.0)
        s["v"] = (1 - s["b"]) * scaled + s["b"] * s["v"]
        return -lr * s["v"]

    return init, step


def adan_reference(
    learning_rate, b1=0.98, b2=0.92, b3=0.99, eps=1e-8, eps_root=1e-8, weight_decay=0.0
):
    """Xie et al. 2022, Algorithm 1, in the authors' code's convention (beta = decay):
    the difference enters with coefficient b2, and the weight decay is Optax's decoupled one."""

    def init(p):
        names = {"b1": b1, "b2": b2, "b3": b3, "eps": eps, "eps_root": eps_root}
        h = {k: _hp(p, v) for k, v in {**names, "wd": weight_decay}.items()}
        zeros = np.zeros(p.shape)
        return {"t": 0, "m": zeros, "v": zeros, "n": zeros, "prev": zeros, **h}

    def step(g, s, p):
        g = g.astype(np.float64)
        lr = _lr(p, learning_rate, s["t"])
        d = g - s["prev"] if s["t"] > 0 else np.zeros(g.shape)
        s["t"] += 1
        t = s["t"]
        s["m"] = (1 - s["b1"]) * g + s["b1"] * s["m"]
        s["v"] = (1 - s["b2"]) * d + s["b2"] * s["v"]
        s["n"] = (1 - s["b3"]) * (g + s["b2"] * d) ** 2 + s["b3"] * s["n"]
        s["prev"] = g
        m_hat = s["m"] / _one_minus_power(s["b1"], t)
        v_hat = s["v"] / _one_minus_power(s["b2"], t)
        n_hat = s["n"] / _one_minus_power(s["b3"], t)
        u = (m_hat + s["b2"] * v_hat) / (np.sqrt(n_hat + s["eps_root"]) + s["eps"])
        return -lr * (u + s["wd"] * p.astype(np.float64))

    return init, step


# ---------------------------------------------------------------------------------------
# Where Optax 0.2.8 departs from these references (each documented in the alias).


def _steps(tx, grads, params, **extra):
    """Apply ``tx`` eagerly along ``grads``; return the final parameters."""
    state = tx.init(params)
    for g in grads:
        updates, state = tx.update(g, state, params, **extra)
        params = optax.apply_updates(params, updates)
    return params


def _rho_exact(b2, t):
    b, bt = Fraction(float(b2)), Fraction(float(b2)) ** t
    return float((1 + b) / (1 - b) - 2 * t * bt / (1 - bt))


def test_radam_rectification_is_accurate_in_float32():
    """rho_t from the direct formula loses ~3 digits at b2 = 0.999; gradtx's does not."""
    b2 = np.float32(0.999)
    with precision("float32"):
        worst_ours = worst_direct = 0.0
        for t in [*range(6, 120), 1000, 3000]:
            exact = _rho_exact(b2, t)
            _, r = rectification(jnp.float32(b2), jnp.int32(t), 5.0)
            rho_inf = 2 / (1 - b2) - 1
            direct = rho_inf - 2 * t * b2**t / (1 - b2**t)  # Optax's formula, in float32
            r_exact = np.sqrt(
                (exact - 4)
                * (exact - 2)
                * float(rho_inf)
                / ((float(rho_inf) - 4) * (float(rho_inf) - 2) * exact)
            )
            worst_ours = max(worst_ours, abs(float(r) - r_exact) / r_exact)
            worst_direct = max(worst_direct, abs(float(direct) - exact) / exact)
        assert worst_ours < 1e-6 < 1e-5 < worst_direct


def test_radam_float64_matches_optax_to_optax_accuracy():
    """In float64 Optax's rho_t is off by up to ~2e-12: agreement to 1e-10, not 1e-12."""
    with precision("float64") as dtype:
        params = nested_params(dtype)
        grads = gradient_stream(params, 30)
        ours = _steps(gradtx.OPTIMIZERS["radam"].factory(0.01), grads, params)
        theirs = _steps(optax.radam(0.01), grads, params)
        assert_trees_close(ours, theirs, 1e-10, floor=tree_max_abs(params))


def test_adan_optax_weighs_the_gradient_difference_by_1_minus_b2():
    """With the default b2 = 0.92 Optax follows another trajectory than the paper; gradtx
    follows the paper (``adan`` cases of the parity tests), and with b2 = 0.5 both agree."""
    with precision("float64") as dtype:
        params = {"w": jnp.linspace(-1.0, 1.0, 5, dtype=dtype)}
        grads = gradient_stream(params, 10)
        init, step = adan_reference(0.01)
        w, state = np.asarray(params["w"]), init(np.asarray(params["w"]))
        for g in grads:
            w = w + step(np.asarray(g["w"]), state, w)
        ours = _steps(gradtx.OPTIMIZERS["adan"].factory(0.01), grads, params)["w"]
        theirs = _steps(optax.adan(0.01), grads, params)["w"]
        np.testing.assert_allclose(ours, w, rtol=1e-12, atol=1e-12)
        assert np.max(np.abs(np.asarray(theirs) - w)) > 1e-3


def test_yogi_optax_starts_its_first_moment_at_1e_minus_6():
    """A zero first gradient: gradtx (m_0 = 0, the paper) does not move, Optax does."""
    with precision("float64"):
        w = {"w": jnp.ones(3)}
        zero = [{"w": jnp.zeros(3)}]
        assert (
            float(
                jnp.max(jnp.abs(_steps(gradtx.OPTIMIZERS["yogi"].factory(0.1), zero, w)["w"] - 1))
            )
            == 0
        )
        assert float(jnp.max(jnp.abs(_steps(optax.yogi(0.1), zero, w)["w"] - 1))) > 1e-7


def test_sm3_trains_scalar_leaves_where_optax_raises():
    params = {"s": jnp.array(1.0), "m": jnp.ones((2, 3))}
    grads = [{"s": jnp.array(2.0), "m": jnp.full((2, 3), 0.5)}]
    with pytest.raises(IndexError):
        _steps(optax.sm3(0.1), grads, params)
    init, step = sm3_reference(0.1)
    expected = 1.0 + step(np.array(2.0), init(np.array(1.0)), np.array(1.0))
    ours = _steps(gradtx.OPTIMIZERS["sm3"].factory(0.1), grads, params)
    np.testing.assert_allclose(float(ours["s"]), expected, rtol=1e-6)


def test_polyak_scaling_follows_the_documented_formula():
    """w - s min((f - f*) / |g|^2, gamma_max) g; Optax divides by s^2 |g|^2 instead."""
    w = {"a": jnp.array([1.0, 2.0]), "b": jnp.array(3.0)}
    g = {"a": jnp.array([2.0, 4.0]), "b": jnp.array(6.0)}
    value, s = jnp.array(14.0), 0.5
    documented = 0.5 * min(14.0 / 56.0, 1.0)  # s * min(gap / |g|^2, gamma_max)
    tx = gradtx.OPTIMIZERS["polyak_sgd"].factory(scaling=s)
    u, _ = tx.update(g, tx.init(w), w, value=value)
    np.testing.assert_allclose(np.asarray(u["a"]), -documented * np.array([2.0, 4.0]), rtol=1e-6)
    theirs, _ = optax.polyak_sgd(scaling=s).update(
        g, optax.polyak_sgd(scaling=s).init(w), w, value=value
    )
    assert abs(float(theirs["b"]) - float(u["b"])) > 0.1


def test_adafactor_default_is_the_papers_relative_step_size():
    """learning_rate=None is rho_t = min(1e-2, 1/sqrt(t)) (Optax: 1, a step of |w|)."""
    w = {"w": jnp.full((3,), 2.0)}
    g = {"w": jnp.array([1.0, -1.0, 1.0])}
    ours, _ = (
        gradtx.OPTIMIZERS["adafactor"]
        .factory()
        .update(g, gradtx.OPTIMIZERS["adafactor"].factory().init(w), w)
    )
    theirs, _ = optax.adafactor().update(g, optax.adafactor().init(w), w)
    np.testing.assert_allclose(np.asarray(ours["w"]), -0.02 * np.asarray(g["w"]), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(theirs["w"]), -2.0 * np.asarray(g["w"]), rtol=1e-5)


def test_optimistic_adam_takes_a_schedule_where_optax_raises():
    schedule = lambda t: 0.01 / (1 + t)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(ValueError, match="schedules"):
            optax.optimistic_adam(schedule)
    tx = gradtx.OPTIMIZERS["optimistic_adam"].factory(schedule)
    params = {"w": jnp.ones(2)}
    assert bool(jnp.all(jnp.isfinite(_steps(tx, [params, params], params)["w"])))
