"""Live hyperparameters, schedules for every hyperparameter, and the three momentum forms."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import precision

import gradtx


def test_get_and_set_by_name_without_retracing():
    tx = gradtx.adam(1e-3)
    params = {"w": jnp.ones(3)}
    state = tx.init(params)
    hp = gradtx.get_hyperparams(state)
    assert sorted(hp) == ["b1", "b2", "eps", "eps_root", "learning_rate"]
    assert state.hyperparams["learning_rate"] is hp["learning_rate"]  # Optax-style access

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(state):
        u, state = tx.update({"w": jnp.ones(3)}, state, params)
        return u, state

    u1, state = step(state)
    state = gradtx.set_hyperparams(state, learning_rate=1e-1, b1=0.5)
    u2, state = step(state)
    assert float(gradtx.get_hyperparams(state)["learning_rate"]) == pytest.approx(0.1)
    assert float(jnp.abs(u2["w"][0])) > 10 * float(jnp.abs(u1["w"][0]))
    chex.clear_trace_counter()


def test_set_hyperparams_errors():
    state = gradtx.sgd(0.1, momentum=0.9).init(jnp.zeros(2))
    with pytest.raises(ValueError, match="learning_rate must be in"):
        gradtx.set_hyperparams(state, learning_rate=-1.0)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\)"):
        gradtx.set_hyperparams(state, momentum=1.5)
    with pytest.raises(ValueError, match="no live hyperparameter named 'b3'"):
        gradtx.set_hyperparams(state, b3=0.1)
    sched = gradtx.sgd(gradtx.linear_schedule(0.1, 0.0, 10)).init(jnp.zeros(2))
    with pytest.raises(ValueError, match="follows a schedule"):
        gradtx.set_hyperparams(sched, learning_rate=0.5)


def test_repeated_names_are_qualified_by_path():
    tx = gradtx.chain(gradtx.sgd(0.1), gradtx.adam(0.2))
    state = tx.init(jnp.zeros(2))
    hp = gradtx.get_hyperparams(state)
    assert float(hp["0/learning_rate"]) == pytest.approx(0.1)
    assert float(hp["1/learning_rate"]) == pytest.approx(0.2)
    state = gradtx.set_hyperparams(state, **{"1/learning_rate": 0.3})
    assert float(gradtx.get_hyperparams(state)["1/learning_rate"]) == pytest.approx(0.3)
    assert float(gradtx.get_hyperparams(state)["0/learning_rate"]) == pytest.approx(0.1)


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("sgd", {"learning_rate": 0.1, "momentum": "ramp"}),
        ("adam", {"learning_rate": "sched", "b1": "ramp", "b2": 0.99}),
        ("adamw", {"learning_rate": 0.01, "weight_decay": "sched"}),
        ("rmsprop", {"learning_rate": 0.01, "decay": "ramp", "eps": "sched"}),
        ("heavy_ball", {"learning_rate": "sched", "momentum": "ramp"}),
    ],
)
def test_every_numeric_hyperparameter_accepts_a_schedule(name, kwargs):
    ramp = gradtx.momentum_ramp(0.5, 0.9, transition_steps=4)
    sched = gradtx.inverse_time_decay(0.01, 0.5)
    kwargs = {
        k: {"ramp": ramp, "sched": sched}.get(v, v) if isinstance(v, str) else v
        for k, v in kwargs.items()
    }
    tx = gradtx.OPTIMIZERS[name].factory(**kwargs)
    params = {"w": jnp.ones(2)}
    state = tx.init(params)
    step = jax.jit(tx.update)
    for t in range(6):
        _, state = step({"w": jnp.ones(2)}, state, params)
        hp = gradtx.get_hyperparams(state)
        for k, v in kwargs.items():
            if callable(v):  # the value used at step t is the schedule at t
                assert float(hp[k]) == pytest.approx(float(v(t)), rel=1e-6), (k, t)
    assert sorted(state.scheduled) == sorted(k for k, v in kwargs.items() if callable(v))


def _trajectory(tx, steps=30):
    params = {"w": jnp.array([1.0, -2.0])}
    state = tx.init(params)
    out = []
    for t in range(steps):
        g = {"w": params["w"] * jnp.array([1.0, 10.0]) + jnp.sin(t)}
        u, state = tx.update(g, state, params)
        params = gradtx.apply_updates(params, u)
        out.append(params["w"])
    return np.stack(out)


def test_three_momentum_forms():
    with precision("float64"):
        pytorch_form = _trajectory(gradtx.sgd(0.05, momentum=0.9))
        heavy = _trajectory(gradtx.heavy_ball(0.05, momentum=0.9))
        np.testing.assert_allclose(heavy, pytorch_form, rtol=1e-12, atol=1e-14)
        # The EMA form is the PyTorch form with the learning rate scaled by 1/(1 - momentum).
        ema_form = _trajectory(gradtx.ema_momentum(0.05 / (1 - 0.9), momentum=0.9))
        np.testing.assert_allclose(ema_form, pytorch_form, rtol=1e-10, atol=1e-12)
        # Under a schedule the PyTorch form rescales past gradients; the heavy ball does not.
        sched = gradtx.exponential_decay(0.05, transition_steps=1, decay_rate=0.8)
        a = _trajectory(gradtx.sgd(sched, momentum=0.9))
        b = _trajectory(gradtx.heavy_ball(sched, momentum=0.9))
        assert np.max(np.abs(a - b)) > 1e-3
        # Heavy ball as written in the course: w' = w - lr_t g + mu (w - w_prev).
        w, w_prev = np.array([1.0, -2.0]), np.array([1.0, -2.0])
        for t in range(30):
            g = w * np.array([1.0, 10.0]) + np.sin(t)
            w, w_prev = w - float(sched(t)) * g + 0.9 * (w - w_prev), w
            np.testing.assert_allclose(b[t], w, rtol=1e-12)


def test_nesterov_matches_the_lookahead_formula():
    with precision("float64"):
        traj = _trajectory(gradtx.sgd(0.05, momentum=0.9, nesterov=True))
        w, v = np.array([1.0, -2.0]), np.zeros(2)
        for t in range(30):
            g = w * np.array([1.0, 10.0]) + np.sin(t)
            v = 0.9 * v + g
            w = w - 0.05 * (g + 0.9 * v)
            np.testing.assert_allclose(traj[t], w, rtol=1e-12)


def test_adadelta_default_descends_where_optax_default_climbs():
    loss = lambda p: jnp.sum((p - 3.0) ** 2)
    for tx, should_descend in ((gradtx.adadelta(), True), (optax.adadelta(), False)):
        p = jnp.zeros(4)
        state = tx.init(p)
        for _ in range(200):
            u, state = tx.update(jax.grad(loss)(p), state, p)
            p = p + u
        assert (float(loss(p)) < float(loss(jnp.zeros(4)))) == should_descend


def test_rprop_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=5)
    grads = [rng.normal(size=5) + 0.3 for _ in range(40)]
    w_t = torch.tensor(w0.copy(), requires_grad=True)
    opt = torch.optim.Rprop([w_t], lr=0.05)
    with precision("float64"):
        tx = gradtx.rprop(0.05)
        p = jnp.asarray(w0)
        state = tx.init(p)
        for g in grads:
            w_t.grad = torch.tensor(g)
            opt.step()
            u, state = tx.update(jnp.asarray(g), state, p)
            p = gradtx.apply_updates(p, u)
            np.testing.assert_allclose(np.asarray(p), w_t.detach().numpy(), rtol=1e-12)
