"""The loss-driven family beyond the common battery: reduce-on-plateau against Optax
(positive losses) and a NumPy reference with PyTorch's logic (negative ones); the decision
rules of the bold driver, random search and SPSA, and runs against the references of
``references/loss_driven.py`` along a true gradient; the learning-rate range test."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import precision
from references.loss_driven import BOLD, SEARCH, SPSA, plateau_reference, run_tree_reference
from references.loss_driven import BoldDriverReference as BoldRef
from references.loss_driven import RandomSearchReference as SearchRef
from references.loss_driven import SPSAReference as SPSARef

import gradtx
from gradtx import bold_driver, random_search, spsa
from gradtx.transforms import _gradient_free as gf
from gradtx.transforms import _loss_driven as ld
from gradtx.utils import lr_range_test

# --- Reduce on plateau --------------------------------------------------------


def _loss_series(n: int = 90, seed: int = 0) -> np.ndarray:
    """A fall, a noisy plateau, a second fall, a rise and a plateau: every branch."""
    t = np.arange(n, dtype=float)
    when = [t < 15, t < 40, t < 55, t < 65]  # fall, plateau, fall, rise; then a plateau
    level = np.select(when, [3 - 0.1 * t, 1.5, 1.5 - 0.05 * (t - 40), 0.8 + 0.02 * t], 0.9)
    return level + 1e-4 * np.random.default_rng(seed).normal(size=n)


def _run_plateau(tx, values, dtype):
    """The scale applied at each step and the state after it, for each row of ``values``
    (one jitted, vmapped scan)."""
    params = jnp.ones(2, dtype)

    def body(state, value):
        updates, state = tx.update(jnp.ones(2, dtype), state, params, value=value)
        return state, (updates[0], state)

    run = jax.jit(jax.vmap(lambda v: jax.lax.scan(body, tx.init(params), v)[1]))
    return jax.tree.map(np.asarray, run(jnp.asarray(np.atleast_2d(values), dtype)))


PLATEAU_SETTINGS = [
    {"patience": 3},
    {"factor": 0.5, "patience": 2, "cooldown": 3, "rtol": 1e-3, "min_scale": 0.05},
    {"factor": 0.3, "patience": 2, "accumulation_size": 4, "rtol": 0.0, "atol": 1e-3},
]


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize("kwargs", PLATEAU_SETTINGS, ids=["patience", "cooldown", "accumulate"])
def test_reduce_on_plateau_matches_optax_on_positive_losses(kwargs, dtype_name):
    """Every state field and the scale, at each of 90 steps (Optax's field names)."""
    with precision(dtype_name) as dtype:
        values = np.stack([_loss_series(seed=0), _loss_series(seed=1)])
        ours = _run_plateau(ld.reduce_on_plateau(**kwargs), values, dtype)
        theirs = _run_plateau(optax.contrib.reduce_on_plateau(**kwargs), values, dtype)
    assert len(set(ours[0][0].tolist())) >= 3, "the series should cut the scale at least twice"
    np.testing.assert_array_equal(ours[0], theirs[0])
    for name in ours[1]._fields:
        np.testing.assert_array_equal(getattr(ours[1], name), getattr(theirs[1], name), name)


@pytest.mark.parametrize("kwargs", PLATEAU_SETTINGS, ids=["patience", "cooldown", "accumulate"])
def test_reduce_on_plateau_matches_reference_on_negative_losses(kwargs):
    """Losses below zero, and losses that cross zero, against the NumPy reference."""
    values = np.stack([_loss_series() - 5.0, _loss_series(seed=2) - 1.2])
    with precision("float64") as dtype:
        scales, state = _run_plateau(ld.reduce_on_plateau(**kwargs), values, dtype)
    for k, series in enumerate(values):
        ref_scales, ref_bests = plateau_reference(series, **kwargs)
        np.testing.assert_allclose(scales[k], ref_scales, rtol=1e-14)
        np.testing.assert_allclose(state.best_value[k], ref_bests, rtol=1e-14)
    assert len(set(scales[0].tolist())) >= 3


def test_reference_is_pytorchs_logic_with_patience_shifted_by_one():
    torch = pytest.importorskip("torch")
    values = _loss_series()
    for kwargs in PLATEAU_SETTINGS[:2]:
        opt = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=1.0)
        names = {"factor": "factor", "rtol": "threshold", "cooldown": "cooldown"}
        torch_kwargs = {names[k]: v for k, v in kwargs.items() if k in names}
        torch_kwargs.update(patience=kwargs["patience"] - 1, min_lr=kwargs.get("min_scale", 0))
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, eps=0.0, **torch_kwargs)
        lrs = []
        for v in values:
            sched.step(float(v))
            lrs.append(opt.param_groups[0]["lr"])
        np.testing.assert_allclose(plateau_reference(values, **kwargs)[0], lrs, rtol=1e-12)


def test_optax_counts_a_small_rise_of_a_negative_loss_as_an_improvement():
    """The difference from Optax 0.2.8, on its own code: the best loss goes *up*."""
    values = [-1.0, -0.99995, -0.9999, -0.99985, -0.9998]
    kwargs = {"factor": 0.5, "patience": 2}
    with precision("float64") as dtype:
        theirs = _run_plateau(optax.contrib.reduce_on_plateau(**kwargs), values, dtype)
        ours = _run_plateau(ld.reduce_on_plateau(**kwargs), values, dtype)
    assert theirs[1].best_value[0, -1] == -0.9998 and theirs[0][0, -1] == 1.0  # else: the docs
    assert ours[1].best_value[0, -1] == -1.0 and ours[0][0].tolist() == [1.0, 1.0, 0.5, 0.5, 0.25]


def test_reduce_on_plateau_chains_takes_live_hyperparameters_and_needs_value():
    plateau = gradtx.inject_hyperparams(ld.reduce_on_plateau)(factor=0.5, patience=1)
    tx, params = gradtx.chain(gradtx.sgd(0.1), plateau), {"w": jnp.ones(2, jnp.bfloat16)}
    state = tx.init(params)
    assert state[1].inner_state.scale.dtype == jnp.float32  # at least float32
    state = gradtx.set_hyperparams(state, factor=0.25)
    step = jax.jit(lambda g, s, v: tx.update(g, s, params, value=v))
    for value in (1.0, 2.0, 2.0):
        updates, state = step({"w": jnp.ones(2, jnp.bfloat16)}, state, value)
    assert updates["w"].dtype == jnp.bfloat16
    assert float(updates["w"][0]) == pytest.approx(-0.1 * 0.25**2, rel=1e-2)
    with pytest.raises(ValueError, match="value=loss_value"):
        tx.update({"w": jnp.ones(2)}, state, params)


# --- Bold driver --------------------------------------------------------------


def test_bold_driver_decisions():
    """First step not judged; a fall grows; an equal loss or a rise within the tolerance
    keeps the scale; a rise undoes the step and cuts; the retried step is not judged and has
    no momentum; a NaN loss is a rise."""
    tx = ld.scale_by_bold_driver(increase=2.0, decrease=0.5, tolerance=0.1, momentum=0.5)
    with precision("float64"):
        state = tx.init(jnp.zeros(1))
        d = jnp.array([-1.0])
        expected = [  # (value, update, scale)
            (10.0, -1.0, 1.0),  # not judged: u = d
            (9.0, -2.5, 2.0),  # fell: s = 2, u = 2 d + 0.5 (-1)
            (9.0, -3.25, 2.0),  # equal: u = 2 d + 0.5 (-2.5)
            (9.5, -3.625, 2.0),  # a rise of 5.6% < 10%: accepted
            (11.0, 3.625, 1.0),  # rose: undo, cut
            (20.0, -1.0, 1.0),  # the retry: not judged, no momentum
            (float("nan"), 1.0, 0.5),  # NaN: undo, cut
        ]
        for value, update, scale in expected:
            u, state = tx.update(d, state, value=value)
            assert float(u[0]) == pytest.approx(update) and float(state.scale) == scale, value


def _run_ours(tx, loss, params, steps):
    def body(carry, _):
        p, s = carry
        value, grad = jax.value_and_grad(loss)(p)
        u, s = tx.update(grad, s, p, value=value, value_fn=loss)
        p = gradtx.apply_updates(p, u)
        return (p, s), p

    return jax.jit(lambda p: jax.lax.scan(body, (p, tx.init(p)), None, steps)[1])(params)


def _wavy_tree(leaves):
    """sum_k (k + 1) |x_k|^2 + sum sin(3 x): a tree loss with curvature from -8 to 14."""
    return sum(np.sum((k + 1.0) * x**2 + np.sin(3 * x)) for k, x in enumerate(leaves))


def _wavy_jax(p):
    return sum(jnp.sum((k + 1.0) * x**2 + jnp.sin(3 * x)) for k, x in enumerate(p))


_wavy_grad = jax.jit(jax.grad(_wavy_jax))
_TREE = [np.linspace(-1.0, 1.0, 5), np.array([[0.5, -0.3], [0.2, 0.9]]), np.array(0.7)]


REFERENCE_RUNS = {  # id: (factory, reference, kwargs, steps)
    "bold_driver": (bold_driver, BoldRef, {"learning_rate": 0.01, "increase": 1.3}, 60),
    "bold_driver-tolerance-momentum": (
        bold_driver,
        BoldRef,
        {"learning_rate": 0.02, "increase": 1.2, "tolerance": 0.02, "momentum": 0.3},
        60,
    ),
    "random_search": (random_search, SearchRef, {"learning_rate": 0.3, "key": 7}, 100),
    "spsa": (
        spsa,
        SPSARef,
        {"learning_rate": 0.02, "perturbation": 0.1, "stability": 5.0, "key": 4},
        60,
    ),
}
DEFAULTS = {bold_driver: BOLD, random_search: SEARCH, spsa: SPSA}


@pytest.mark.parametrize("run", REFERENCE_RUNS.values(), ids=REFERENCE_RUNS.keys())
def test_matches_reference_on_a_loss_of_its_own(run):
    """Float64 runs along the true gradient of a non-quadratic tree loss (the harness's
    parity tests run its random gradients and a scheduled rate). The bold driver's rate
    grows, overshoots and is cut 8 and 32 times in 60 steps (not more: near the minimum,
    losses that differ by an ulp decide the steps)."""
    factory, reference, kwargs, steps = run
    kwargs = {**DEFAULTS[factory], **kwargs}
    with precision("float64"):
        ours = _run_ours(factory(**kwargs), _wavy_jax, [jnp.asarray(x) for x in _TREE], steps)
        grads = lambda leaves: [np.asarray(g) for g in _wavy_grad(leaves)]
        theirs = run_tree_reference(reference(_wavy_tree, **kwargs), _TREE, steps, grads)
    for t, expected in enumerate(theirs):
        for a, e in zip(ours, expected):
            np.testing.assert_allclose(a[t], e, rtol=1e-12, atol=1e-13, err_msg=str(t))
    assert _wavy_tree(theirs[-1]) < _wavy_tree(_TREE) - 1


def test_an_undone_step_returns_to_the_previous_point():
    with precision("float64"):
        tx, w = bold_driver(1.2), jnp.array([1.0, -2.0])  # |1 - 2 x 1.2| > 1: overshoots
        loss = lambda w: jnp.sum(w**2)
        state, history = tx.init(w), [w]
        for _ in range(6):
            value, g = jax.value_and_grad(loss)(w)
            u, state = tx.update(g, state, w, value=value)
            w = gradtx.apply_updates(w, u)
            history.append(w)
        losses = [float(loss(w)) for w in history]
    undone = [t for t in range(2, 7) if losses[t - 1] > losses[t - 2]]
    assert undone, "the rate should overshoot at least once"
    for t in undone:
        np.testing.assert_allclose(history[t], history[t - 2], rtol=0, atol=1e-15)
    assert losses[-1] < 1e-3 * losses[0]


def test_bold_driver_composes_after_a_direction():
    """``chain(adam, scale_by_bold_driver())``: the first update is Adam's; it converges."""
    tx = gradtx.chain(gradtx.adam(0.3), ld.scale_by_bold_driver())
    loss = lambda w: jnp.sum(jnp.array([1.0, 10.0]) * (w - 1) ** 2)
    w = jnp.zeros(2)
    first, _ = tx.update(jax.grad(loss)(w), tx.init(w), w, value=loss(w))
    adam_first, _ = gradtx.adam(0.3).update(jax.grad(loss)(w), gradtx.adam(0.3).init(w), w)
    np.testing.assert_array_equal(first, adam_first)
    final = _run_ours(tx, loss, w, 300)[-1]
    assert float(loss(final)) < 1e-4


# --- Gradient-free baselines --------------------------------------------------


def test_random_search_one_fifth_rule_and_monotone_loss():
    """The scale is beta^(kept - failed p/(1-p)); the loss never rises; ``value`` defaults to
    ``value_fn(params)``; the same seed gives the same run, another seed another run."""
    with precision("float64"):
        w0 = jnp.linspace(-1.0, 1.0, 6)
        loss = lambda w: jnp.sum(jnp.cos(3 * w) + w**2)

        def run(tx, with_value=True):
            state, w, losses = tx.init(w0), w0, []
            value = loss if with_value else lambda w: None
            step = jax.jit(lambda w, s: tx.update(w, s, w, value_fn=loss, value=value(w)))
            for _ in range(40):
                u, state = step(w, state)
                w = gradtx.apply_updates(w, u)
                losses.append(float(loss(w)))
            return w, state, losses

        w, state, losses = run(gf.random_search_step(0.5, increase=1.3, target_rate=0.25, key=1))
        kept, failed = int(state.accepted), int(state.count) - int(state.accepted)
        assert 0 < kept < 40
        assert float(state.scale) == pytest.approx(1.3 ** (kept - failed / 3), rel=1e-12)
        assert all(b <= a for a, b in itertools.pairwise(losses))
        np.testing.assert_array_equal(
            run(gf.random_search_step(0.5, 1.3, 0.25, key=1), False)[0], w
        )
        assert not np.array_equal(run(gf.random_search_step(0.5, 1.3, 0.25, key=2))[0], w)


def _sphere_progress(tx, n, steps):
    """log(f0 / f) per step on the sphere 0.5 |w|^2 in n dimensions, from |w| = 1."""
    loss = lambda w: 0.5 * jnp.sum(w**2)
    w0 = jnp.ones(n) / jnp.sqrt(n)
    final = _run_ours(tx, loss, w0, steps)[-1]
    return float(jnp.log(loss(w0) / loss(final))) / steps


def test_gradient_free_progress_falls_like_one_over_the_dimension():
    """Why gradients win: per loss evaluation, random search (step size adapted) and SPSA
    (at its best constant gain, 1/n: its estimate's variance grows like n) make O(1/n)
    progress on the sphere, while gradient descent solves it in one step in any dimension."""
    for make in (lambda n: random_search(0.1), lambda n: spsa(1.0 / n, alpha=0.0)):
        small, large = (_sphere_progress(make(n), n, 100) for n in (4, 400))
        assert small > 30 * large > 0
    assert _sphere_progress(gradtx.sgd(1.0), 400, 1) > 10


def test_spsa_estimate_is_unbiased_and_chains_with_any_optimizer():
    """On a quadratic the estimate is Delta Delta^T grad f exactly, whose mean is grad f;
    ``chain(spsa_gradient(), sgd(a))`` is ``spsa(a, alpha=0)``, bit for bit."""
    a = jnp.array([1.0, 2.0, -1.0, 0.5, 3.0])
    loss = lambda w: 0.5 * jnp.sum(a * w**2) + jnp.sum(w)
    w = jnp.linspace(-1.0, 1.0, 5)
    tx = gf.spsa_gradient(perturbation=0.3)
    keys = jax.random.key_data(jax.random.split(jax.random.key(0), 2000))
    at = lambda k: tx.update(w, tx.init(w)._replace(rng_key=k), w, value_fn=loss)[0]
    estimate = jax.vmap(at)(keys)
    grad = jax.grad(loss)(w)
    spread = jnp.std(estimate, axis=0) / jnp.sqrt(len(keys))
    assert bool(jnp.all(jnp.abs(jnp.mean(estimate, axis=0) - grad) < 5 * spread))
    chained = gradtx.chain(gf.spsa_gradient(0.1, 0.2, key=3), gradtx.sgd(0.05))
    np.testing.assert_array_equal(
        _run_ours(chained, loss, w, 20),
        _run_ours(spsa(0.05, 0.1, alpha=0.0, gamma=0.2, key=3), loss, w, 20),
    )


def test_loss_evaluations_per_step_and_missing_arguments():
    calls = []

    def loss(w):
        calls.append(1)
        return jnp.sum(w**2)

    w = jnp.ones(3)
    for tx, expected in ((random_search(0.1), 1), (spsa(0.1), 2)):
        calls.clear()
        tx.update(w, tx.init(w), w, value=2.0, value_fn=loss)
        assert len(calls) == expected
        with pytest.raises(ValueError, match="value_fn=loss_fn"):
            tx.update(w, tx.init(w), w, value=2.0)
        with pytest.raises(ValueError, match="needs `params`"):
            tx.update(w, tx.init(w), value=2.0, value_fn=loss)
    with pytest.raises(ValueError, match="value=loss_value"):
        tx = bold_driver(0.1)
        tx.update(w, tx.init(w), w)


# --- Learning-rate range test -------------------------------------------------


def _regression(n_batches=8, batch=32, dim=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_batches, batch, dim)).astype(np.float32)
    y = x @ rng.normal(size=dim).astype(np.float32) + 0.1 * rng.normal(size=(n_batches, batch))
    loss = lambda w, b: 0.5 * jnp.mean((b[0] @ w - b[1]) ** 2)
    curvature = float(np.linalg.eigvalsh(np.einsum("kbi,kbj->ij", x, x) / x.shape[0] / batch)[-1])
    return loss, (jnp.asarray(x), jnp.asarray(y, jnp.float32)), curvature


def test_lr_range_test_finds_the_stable_range():
    loss, batches, curvature = _regression()
    r = lr_range_test(loss, jnp.zeros(5), batches, gradtx.sgd, min_lr=1e-4, max_lr=100.0)
    assert r.diverged_at is not None and r.lrs[r.diverged_at] > 1 / curvature  # 2/L unstable
    assert len(r.lrs) == len(r.losses) == len(r.smoothed) == r.diverged_at + 1
    for lr in (r.suggestion, r.steepest_lr, r.min_loss_lr / 10):
        assert 0.03 / curvature < lr < 1 / curvature
    ratio = (100.0 / 1e-4) ** (1 / 99)
    np.testing.assert_allclose(r.lrs, 1e-4 * ratio ** np.arange(len(r.lrs)), rtol=1e-12)
    beta, i = 0.98, np.arange(len(r.losses))
    weights = (1 - beta) * beta ** (i[:, None] - i[None, :]) * (i[:, None] >= i[None, :])
    smoothed = weights @ r.losses / (1 - beta ** (i + 1))
    np.testing.assert_allclose(r.smoothed, smoothed, rtol=1e-10)
    minimum = lr_range_test(loss, jnp.zeros(5), batches, gradtx.sgd, 1e-4, 100.0, method="minimum")
    assert minimum.suggestion == pytest.approx(r.min_loss_lr / 10)


def test_lr_range_test_iterator_schedule_and_value_paths_agree():
    loss, batches, _ = _regression()
    kwargs = {"min_lr": 1e-3, "max_lr": 1.0, "num_steps": 30}
    scan = lr_range_test(loss, jnp.zeros(5), batches, gradtx.adam, **kwargs)
    assert scan.diverged_at is None and len(scan.losses) == 30
    batch_list = [jax.tree.map(lambda x, k=k: x[k % 8], batches) for k in range(30)]
    looped = lr_range_test(loss, jnp.zeros(5), batch_list, gradtx.adam, **kwargs)
    np.testing.assert_allclose(looped.losses, scan.losses, rtol=1e-4)
    fixed = lr_range_test(loss, jnp.zeros(5), batches, lambda lr: optax.adam(lr), **kwargs)
    np.testing.assert_allclose(fixed.losses, scan.losses, rtol=1e-4)
    live = lr_range_test(loss, jnp.zeros(5), batches, gradtx.adam(1.0), **kwargs)
    np.testing.assert_allclose(live.losses, scan.losses, rtol=1e-4)
    bold = lr_range_test(loss, jnp.zeros(5), batches, bold_driver, **kwargs)  # needs value
    assert np.all(np.isfinite(bold.losses))


def test_lr_range_test_plot_and_bad_arguments(tmp_path):
    pytest.importorskip("matplotlib")
    loss = lambda w: jnp.sum(w**2)
    r = lr_range_test(loss, jnp.ones(2), None, gradtx.sgd, min_lr=1e-3, num_steps=40)
    r.plot(tmp_path / "lr.png")
    assert (tmp_path / "lr.png").stat().st_size > 5_000
    bad = [
        ({"min_lr": 0.0}, r"min_lr must be in \(0, inf\)"),
        ({"min_lr": 1.0, "max_lr": 1.0}, "max_lr must be in"),
        ({"num_steps": 1}, "num_steps must be an integer >= 2"),
        ({"smooth": 1.0}, r"smooth must be in \[0, 1\)"),
        ({"diverge_threshold": 1.0}, "diverge_threshold must be in"),
        ({"method": "valley"}, "method must be one of"),
    ]
    for kwargs, match in bad:
        with pytest.raises(ValueError, match=match):
            lr_range_test(loss, jnp.ones(2), None, gradtx.sgd, **kwargs)
    with pytest.raises(ValueError, match="live `learning_rate`"):
        lr_range_test(loss, jnp.ones(2), None, optax.sgd(0.1))
