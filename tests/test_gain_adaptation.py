"""Local gains, delta-bar-delta and vSGD beyond the common battery.

The per-leaf cases (NumPy references of the papers' pseudo-code) are in
``cases/gain_adaptation.py`` and run through ``test_parity.py``. Here: vSGD's
variants that couple the leaves (vSGD-g) or need the loss (Hutchinson's curvature) against
whole-tree NumPy references, the behaviour of the gains at their bounds, the errors, and
the two claims of the case study on the digits MLP (a reduced copy of
``examples/casestudy``: same data split, model and budget, one compilation per optimizer).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import (
    FAST_COMPILE,
    assert_trees_close,
    gradient_stream,
    nested_params,
    precision,
    tree_max_abs,
)

import gradtx
from gradtx import delta_bar_delta, local_gains, vsgd

STEPS = 30


def _quartic(params):
    """0.5 sum(a x^2) + 0.25 sum(x^4) over the leaves, a = 1 + index: Hessian diag(a + 3x^2)."""
    leaves = jax.tree.leaves(params)
    return sum(
        0.5 * jnp.sum((1.0 + jnp.arange(x.size).reshape(x.shape)) * x**2) + 0.25 * jnp.sum(x**4)
        for x in leaves
    )


def _hessian_times(x, z):
    return ((1.0 + np.arange(x.size).reshape(x.shape)) + 3 * x**2) * z


@functools.partial(jax.jit, static_argnums=(0, 2))
def _probes(key, step, shapes):
    """Hutchinson's probe vectors of step ``step``, drawn as ``scale_by_vsgd`` draws them."""
    probe = jax.random.fold_in(jax.random.key(key), step)
    return [
        jax.random.rademacher(jax.random.fold_in(probe, i), shape, jnp.float64)
        for i, shape in enumerate(shapes)
    ]


def vsgd_tree_reference(params, grads, variant, curvature, key=0, **kw):
    """Schaul, Zhang & LeCun's Algorithm 1 on the whole tree (blocks: coordinates, leaves, or
    everything), with ``scale_by_vsgd``'s slow start and curvature; Hutchinson's probe
    vectors are drawn as gradtx draws them, the Hessian products are exact (NumPy)."""
    n0, C, eps = kw.get("n0", 10.0), kw.get("c", 2.0), kw.get("eps", 1e-9)
    h0, k = kw.get("initial_curvature", 1.0), kw.get("outlier_threshold", 2.0)
    ps = [np.asarray(p, np.float64) for p in jax.tree.leaves(params)]
    if variant == "l":
        blocks = lambda xs: xs
    elif variant == "b":
        blocks = lambda xs: [np.sum(x) for x in xs]
    else:
        blocks = lambda xs: [sum(np.sum(x) for x in xs)] * len(xs)
    maxes = {"l": lambda xs: xs, "b": lambda xs: [np.max(x) for x in xs]}
    maxes["g"] = lambda xs: [max(np.max(x) for x in xs)] * len(xs)
    sq = lambda xs: blocks([x * x for x in xs])
    s, out = {}, []
    for t, g in enumerate(grads, start=1):
        g = [np.asarray(x, np.float64) for x in jax.tree.leaves(g)]
        if curvature == "hutchinson":
            z = [np.asarray(x) for x in _probes(key, t, tuple(p.shape for p in ps))]
            hs = maxes[variant]([np.abs(zi * _hessian_times(p, zi)) for p, zi in zip(ps, z)])
        if t == 1:
            s = {
                "gbar": g,
                "vbar": [C * v for v in sq(g)],
                "mean": ps,
                "tau": [n0 + 0 * v for v in sq(g)],
            }
            s["var"] = s["cov"] = [0 * p for p in ps]
            if curvature == "hutchinson":
                s["hbar"] = [C * np.maximum(h, h0) for h in hs]
                s["qbar"] = [C * C * np.maximum(h * h, h0 * h0) for h in hs]
            else:
                s["hbar"], s["qbar"] = (
                    [C * h0 + 0 * v for v in sq(g)],
                    [(C * h0) ** 2 + 0 * v for v in sq(g)],
                )
        else:
            dev = blocks([(x - m) ** 2 for x, m in zip(g, s["gbar"])])
            excess = [d - k * k * (v - n) for d, v, n in zip(dev, s["vbar"], sq(s["gbar"]))]
            tau = [np.where((k > 0) & (e > 0), ta + 1, ta) for e, ta in zip(excess, s["tau"])]
            a = [1 / ta for ta in tau]
            dth = [p - m for p, m in zip(ps, s["mean"])]
            dg = [x - m for x, m in zip(g, s["gbar"])]
            s["mean"] = [m + ai * d for m, ai, d in zip(s["mean"], a, dth)]
            s["gbar"] = [m + ai * d for m, ai, d in zip(s["gbar"], a, dg)]
            s["vbar"] = [(1 - ai) * v + ai * w for ai, v, w in zip(a, s["vbar"], sq(g))]
            s["var"] = [(1 - ai) * (v + ai * d * d) for ai, v, d in zip(a, s["var"], dth)]
            s["cov"] = [(1 - ai) * (c + ai * d * e) for ai, c, d, e in zip(a, s["cov"], dth, dg)]
            if curvature == "hutchinson":
                have, h = [True] * len(ps), hs
            else:
                num, den = blocks([np.abs(c) for c in s["cov"]]), blocks(s["var"])
                have = [d > 0 for d in den]
                h = [n / np.where(d > 0, d, 1) for n, d in zip(num, den)]
            s["hbar"] = [
                np.where(o, (1 - ai) * hb + ai * x, hb)
                for o, ai, hb, x in zip(have, a, s["hbar"], h)
            ]
            s["qbar"] = [
                np.where(o, (1 - ai) * q + ai * x * x, q)
                for o, ai, q, x in zip(have, a, s["qbar"], h)
            ]
            s["tau"] = tau
        r = [np.minimum(n / (v + eps), 1) for n, v in zip(sq(s["gbar"]), s["vbar"])]
        rate = [ri * hb / (q + eps) for ri, hb, q in zip(r, s["hbar"], s["qbar"])]
        s["tau"] = [(1 - ri) * ta + 1 for ri, ta in zip(r, s["tau"])]
        u = [-e * x for e, x in zip(rate, g)]
        ps = [p + x for p, x in zip(ps, u)]
        out.append(u)
    return out


@pytest.mark.parametrize(
    "variant, curvature",
    [("g", "secant"), ("l", "hutchinson"), ("b", "hutchinson"), ("g", "hutchinson")],
)
def test_vsgd_matches_the_whole_tree_reference(variant, curvature):
    """30 float64 steps on a nested tree, to 1e-12 of the largest update; Hutchinson's
    curvature from ``value_fn`` (a quartic whose Hessian changes along the path)."""
    with precision("float64"):
        params = nested_params(jnp.float64, with_none=False)
        params = jax.tree.map(lambda x: 0.3 * x, params)
        grads = gradient_stream(params, STEPS)
        kwargs = {"n0": 4.0, "outlier_threshold": 1.5, "key": 5}
        tx = vsgd(variant=variant, curvature=curvature, **kwargs)
        step = _fast_jit(lambda g, s, p: tx.update(g, s, p, value_fn=_quartic))
        state, p, ours = tx.init(params), params, []
        for g in grads:
            u, state = step(g, state, p)
            p = gradtx.apply_updates(p, u)
            ours.append(u)
        theirs = vsgd_tree_reference(params, grads, variant, curvature, **kwargs)
        scale = max(max(float(np.max(np.abs(x))) for x in u) for u in theirs)
        treedef = jax.tree.structure(params)
        for t, (u, ref) in enumerate(zip(ours, theirs)):
            ref = jax.tree.unflatten(treedef, [jnp.asarray(x) for x in ref])
            assert_trees_close(u, ref, 1e-12, what=f"step {t} updates", floor=scale)
        assert scale > 1e-3 * tree_max_abs(params)  # the steps are not negligible


def test_vsgd_errors_say_what_is_missing():
    w = {"w": jnp.ones(3)}
    tx = vsgd(curvature="hutchinson")
    with pytest.raises(ValueError, match="needs `value_fn`"):
        tx.update(w, tx.init(w), w)
    with pytest.raises(ValueError, match="needs `params`"):
        vsgd().update(w, vsgd().init(w))
    with pytest.raises(TypeError, match="complex"):
        vsgd().init({"w": jnp.ones(2, jnp.complex64)})
    with pytest.raises(TypeError, match="complex"):
        local_gains(0.1).init({"w": jnp.ones(2, jnp.complex64)})


def _run(tx, grads, w):
    """The last update and the state after ``grads`` (one compiled step)."""
    state, update = tx.init(w), jax.jit(tx.update)
    for g in grads:
        u, state = update(g, state, w)
        w = w + u
    return u, state


def test_gains_grow_additively_to_the_bound_and_shrink_geometrically():
    """Constant signs: +0.05 per step up to max_gain; alternating signs: x0.95 down to
    min_gain; the update is -lr * gain * g."""
    gains = lambda state: state.inner_state[1].gains  # chain(identity, gains, lr)
    u, state = _run(local_gains(0.1), [jnp.ones(2)] * 5, jnp.zeros(2))
    np.testing.assert_allclose(gains(state), 1.2, rtol=1e-6)  # the first step leaves it at 1
    np.testing.assert_allclose(u, -0.1 * 1.2, rtol=1e-6)
    _, state = _run(local_gains(0.1), [jnp.ones(2)] * 400, jnp.zeros(2))
    np.testing.assert_allclose(gains(state), 10.0, rtol=1e-6)
    flips = [jnp.full(2, (-1.0) ** t) for t in range(11)]
    _, state = _run(local_gains(0.1), flips, jnp.zeros(2))
    np.testing.assert_allclose(gains(state), 0.95**10, rtol=1e-5)
    _, state = _run(local_gains(0.1), flips * 10, jnp.zeros(2))
    np.testing.assert_allclose(gains(state), 0.1, rtol=1e-6)


def test_delta_bar_delta_rates_follow_jacobs_and_survive_a_zero_rate():
    """Rates start at the learning rate, grow by kappa while the gradient agrees with its
    average; setting the live rate to 0 gives zero updates, not NaN."""
    tx = delta_bar_delta(0.1, kappa=0.02)
    u, state = _run(tx, [jnp.ones(1)] * 4, jnp.zeros(1))
    np.testing.assert_allclose(u, -(0.1 + 3 * 0.02), rtol=1e-6)
    state = gradtx.set_hyperparams(state, learning_rate=0.0)
    u, _ = tx.update(jnp.ones(1), state, jnp.zeros(1))
    assert float(u[0]) == 0.0


# ---------------------------------------------------------------------------------------
# The case study's claims, on a reduced copy of examples/casestudy (digits, 64-10-10 tanh,
# mean cross-entropy, 30 epochs of batch 64 without replacement, the same batches for all).

EPOCHS, BATCH, SEEDS = 30, 64, tuple(range(8))


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x, y = (d.data / 16.0).astype(np.float32), d.target.astype(np.int32)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    return tuple(jnp.asarray(a) for a in (xtr, ytr, xte, yte))


def _mlp_params(key, sizes=(64, 10, 10)):
    keys = jax.random.split(key, len(sizes) - 1)
    init = jax.nn.initializers.lecun_normal()
    return [
        {"w": init(k, (m, n), jnp.float32), "b": jnp.zeros(n, jnp.float32)}
        for k, m, n in zip(keys, sizes[:-1], sizes[1:])
    ]


def _logits(params, x):
    (l1, l2) = params
    return jnp.tanh(x @ l1["w"] + l1["b"]) @ l2["w"] + l2["b"]


def _loss(params, x, y):
    logp = jax.nn.log_softmax(_logits(params, x))
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


def _fast_jit(fn):
    return jax.jit(fn, compiler_options=FAST_COMPILE)


def _train(tx, data, learning_rates=(None,), seeds=SEEDS):
    """Final (train loss, test accuracy %) per learning rate, each the mean over ``seeds``
    (initialization and batch order); the rate is set live, rates and seeds are vmapped."""
    xtr, ytr, xte, yte = data
    steps = xtr.shape[0] // BATCH

    def run(lr, seed):
        params = _mlp_params(jax.random.fold_in(jax.random.key(0), seed))
        state = tx.init(params)
        if lr is not None:
            state = gradtx.set_hyperparams(state, learning_rate=lr)
        keys = jax.random.split(jax.random.fold_in(jax.random.key(1), seed), EPOCHS)
        order = jax.vmap(lambda k: jax.random.permutation(k, xtr.shape[0]))(keys)
        batches = order[:, : steps * BATCH].reshape(EPOCHS * steps, BATCH)

        def step(carry, idx):
            p, s = carry
            g = jax.grad(_loss)(p, xtr[idx], ytr[idx])
            u, s = tx.update(g, s, p)
            return (gradtx.apply_updates(p, u), s), None

        (params, _), _ = jax.lax.scan(step, (params, state), batches)
        acc = 100 * jnp.mean(jnp.argmax(_logits(params, xte), -1) == yte)
        return _loss(params, xtr, ytr), acc

    seeds = jnp.asarray(seeds)
    if learning_rates == (None,):
        loss, acc = _fast_jit(jax.vmap(lambda seed: run(None, seed)))(seeds)
        return [(float(jnp.mean(loss)), float(jnp.mean(acc)))]
    lrs = jnp.asarray(learning_rates, jnp.float32)
    by_lr = jax.vmap(lambda lr: jax.vmap(lambda seed: run(lr, seed))(seeds))
    loss, acc = _fast_jit(by_lr)(lrs)
    return list(zip(np.mean(loss, 1).tolist(), np.mean(acc, 1).tolist()))


def test_case_study_claims(digits):
    """vSGD with no tuning is within 2 points of the best SGD / Adam of a learning-rate sweep
    (test accuracy); local gains reach a lower training loss than plain SGD at the same base
    rate. Every number is the mean over eight initializations and batch orders."""
    sweep = _train(gradtx.sgd(0.1, momentum=0.9), digits, [0.03, 0.1, 0.3])
    sweep += _train(gradtx.adam(0.01), digits, [0.003, 0.01, 0.03])
    best = max(acc for _, acc in sweep)
    [(_, acc)] = _train(vsgd(), digits)
    assert acc >= best - 2.0, (acc, best)
    rates = [0.1, 0.3, 0.5]
    plain = _train(gradtx.gd(0.1), digits, rates)
    gains = _train(local_gains(0.1), digits, rates)
    for lr, (loss_sgd, _), (loss_gains, _) in zip(rates, plain, gains):
        assert loss_gains < loss_sgd, (lr, loss_gains, loss_sgd)
