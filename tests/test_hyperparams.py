"""Live hyperparameters, schedules for every hyperparameter, and the three momentum forms."""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import precision

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


# ---------------------------------------------------------------------------------------
# One declaration per hyperparameter (gradtx/_hyper.py): construction, inject_hyperparams and
# set_hyperparams read the same rules.

PROBES = [-1.0, 0.0, 1e-3, 0.5, 1.0, 1.5, 2.0, 1e30, float("nan"), float("inf"), -float("inf")]
PARAMS = {"w": jnp.ones((3, 4)), "b": jnp.ones(4)}


def _accepts(fn) -> bool:
    try:
        fn()
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("name", sorted(gradtx.OPTIMIZERS))
def test_set_hyperparams_accepts_exactly_what_the_constructor_accepts(name):
    """For every live hyperparameter and a spread of values (negative, 0, in range, 1, above
    1, huge, NaN, +-inf), ``set_hyperparams`` on a state accepts a value exactly when the
    constructor does (the other hyperparameters at the state's values)."""
    info = gradtx.OPTIMIZERS[name]
    state = info.factory(**info.example).init(PARAMS)
    assert set(state.hyperparams) <= set(info.live_args), (state.hyperparams, info.live_args)
    names = gradtx.get_hyperparams(state)  # a wrapped optimizer's own are qualified: "/eps"
    for arg in state.hyperparams:
        key = arg if arg in names else f"/{arg}"
        for value in PROBES:
            kwargs = {**info.example, arg: value}
            built = _accepts(lambda kwargs=kwargs: info.factory(**kwargs))
            set_ = _accepts(lambda kwargs={key: value}: gradtx.set_hyperparams(state, **kwargs))
            assert built == set_, (arg, value, built, set_)


@pytest.mark.parametrize("name", sorted(gradtx.OPTIMIZERS))
def test_every_argument_is_declared_and_only_live_ones_reach_the_state(name):
    info = gradtx.OPTIMIZERS[name]
    import inspect

    assert list(info.hyperparams) == list(inspect.signature(info.factory).parameters)
    state = info.factory(**info.example).init(PARAMS)
    for arg in state.hyperparams:
        assert info.hyperparams[arg].kind == "live", arg
        assert info.hyperparams[arg].describe(), arg  # the docs can say what it accepts
    for arg in info.static_args:
        assert arg not in state.hyperparams, arg


def test_integer_structural_arguments_never_become_float_hyperparameters():
    # a key and a count, through inject_hyperparams called without static_args, under jit
    tx = gradtx.inject_hyperparams(gradtx.noisy_sgd)(learning_rate=1e-3, eta=1e-4, key=0)
    state = tx.init(jnp.ones(3))
    assert "key" not in state.hyperparams and "learning_rate" in state.hyperparams
    jax.jit(tx.update)(jnp.ones(3), state, jnp.ones(3))
    tx = gradtx.inject_hyperparams(gradtx.sophia)(learning_rate=1e-3, update_interval=3)
    state = tx.init(jnp.ones(3))
    assert "update_interval" not in state.hyperparams
    value_fn = lambda p: jnp.sum(p**2)
    step = lambda g, s, p: tx.update(g, s, p, value=jnp.sum(p**2), value_fn=value_fn)
    jax.jit(step)(jnp.ones(3), state, jnp.ones(3))
    # a primitive without declarations: an integer default is a count
    tx = gradtx.inject_hyperparams(gradtx.scale_by_sophia)(update_interval=2)
    assert "update_interval" not in tx.init(jnp.ones(3)).hyperparams
    # a gradtx optimizer is live already: wrapped once, one InjectState
    state = gradtx.inject_hyperparams(gradtx.adam)(learning_rate=0.1).init(jnp.ones(2))
    assert not isinstance(state.inner_state, gradtx.InjectState)
    assert sorted(gradtx.get_hyperparams(state)) == ["b1", "b2", "eps", "eps_root", "learning_rate"]


def test_inject_hyperparams_options_and_partials():
    import functools

    factory = functools.partial(gradtx.mechanize, gradtx.sgd(0.1))
    state = gradtx.inject_hyperparams(factory)(weight_decay=0.0).init(jnp.ones(2))
    assert float(gradtx.get_hyperparams(state)["weight_decay"]) == 0.0
    tx = gradtx.inject_hyperparams(gradtx.sgd, static_args="momentum")(0.1, momentum=0.9)
    assert "momentum" not in tx.init(jnp.ones(2)).hyperparams
    with precision("float64"):
        tx = gradtx.inject_hyperparams(gradtx.adam, hyperparam_dtype=jnp.float32)(0.1)
        assert tx.init(jnp.ones(2)).hyperparams["b1"].dtype == jnp.float32
    with pytest.raises(ValueError, match="hyperparam_dtype must be a floating dtype"):
        gradtx.inject_hyperparams(gradtx.adam, hyperparam_dtype=jnp.int32)
    # a bfloat16 scalar is a real number
    b2 = jnp.asarray(0.95, jnp.bfloat16)
    assert float(gradtx.adam(1e-3, b2=b2).init(jnp.ones(2)).hyperparams["b2"]) == 0.94921875


def test_joint_rules_are_checked_with_the_current_values():
    state = gradtx.rprop(1e-3).init(jnp.ones(2))  # min_step_size 1e-6 <= max_step_size 50
    with pytest.raises(ValueError, match="max_step_size must be >= min_step_size"):
        gradtx.rprop(1e-3, max_step_size=1e-9)
    with pytest.raises(ValueError, match="max_step_size must be >= min_step_size"):
        gradtx.set_hyperparams(state, max_step_size=1e-9)
    gradtx.set_hyperparams(state, max_step_size=1e-5)
    with pytest.raises(ValueError, match=r"must be a real number"):
        gradtx.set_hyperparams(gradtx.adam(0.1).init(jnp.ones(2)), b1=lambda t: 0.5)


@pytest.mark.parametrize("name", ["adam", "sgd_scheduled", "chain_clip_adamw", "rprop"])
def test_a_checkpoint_written_by_0_1_0_loads_and_resumes_identically(name):
    """tests/data/checkpoints_0.1.0 was written by gradtx 0.1.0 (before the declarations were
    kept in the state) after three steps; it loads into today's state, equal to the state
    today's code computes for the same steps."""
    import pathlib

    from gradtx import checkpoint

    params = {"dense": {"w": jnp.arange(6.0).reshape(2, 3) / 7, "b": jnp.ones(3)}, "frozen": None}
    grads = [
        jax.tree.map(
            lambda p, k=k: None if p is None else jnp.sin(p * (k + 1)),
            params,
            is_leaf=lambda x: x is None,
        )
        for k in range(3)
    ]
    make = {
        "adam": lambda: gradtx.adam(1e-2),
        "sgd_scheduled": lambda: gradtx.sgd(gradtx.cosine_decay_schedule(0.1, 100), momentum=0.9),
        "chain_clip_adamw": lambda: gradtx.chain(
            gradtx.clip_by_global_norm(1.0), gradtx.adamw(1e-3, weight_decay=0.1)
        ),
        "rprop": lambda: gradtx.rprop(1e-3),
    }[name]
    tx = make()
    state = tx.init(params)
    for g in grads:
        _, state = tx.update(g, state, params)
    path = pathlib.Path(__file__).parent / "data" / "checkpoints_0.1.0" / f"{name}.npz"
    loaded = checkpoint.load(path, like=tx.init(params))  # strict: the node types match
    assert jax.tree.structure(loaded) == jax.tree.structure(state)
    chex.assert_trees_all_equal(loaded, state)
    # it resumes: one more step gives what the uninterrupted run gives
    u1, _ = tx.update(grads[0], loaded, params)
    u2, _ = tx.update(grads[0], state, params)
    chex.assert_trees_all_equal(u1, u2)


def _annotation_for(spec) -> set:
    from gradtx import _base
    from gradtx import _hyper as hp

    if spec.kind == hp.LIVE:
        return {_base.ScalarOrSchedule, _base.ScalarOrSchedule | None}
    if spec is hp.FLAG:
        return {bool}
    if spec is hp.MASK:
        return {_base.MaskOrFn}
    if spec is hp.DTYPE:
        return {_base.DTypeLike | None}
    if spec is hp.KEY:
        return {_base.KeyLike}
    return set()  # other static and structural arguments: any precise type


@pytest.mark.parametrize("name", sorted(gradtx.OPTIMIZERS))
def test_annotations_say_what_each_argument_accepts(name):
    """The public factory's signature carries evaluated annotations that agree with the
    declarations (a live hyperparameter is Optax's ``ScalarOrSchedule``), and none is
    ``Any``: editors and type checkers (and Optax's own tests) read them."""
    import inspect
    from typing import Any

    info = gradtx.OPTIMIZERS[name]
    params = inspect.signature(info.factory).parameters
    for arg, spec in info.hyperparams.items():
        annotation = params[arg].annotation
        assert annotation is not Any and not isinstance(annotation, str), (arg, annotation)
        allowed = _annotation_for(spec)
        assert not allowed or annotation in allowed, (arg, annotation, allowed)
    lr = info.hyperparams.get("learning_rate")
    if lr is not None and lr.kind == "live" and not lr.optional:
        assert params["learning_rate"].annotation in (optax.ScalarOrSchedule, optax.Schedule)


class _Total(NamedTuple):
    total: jax.Array


class _SumOfLosses:
    """A stateful schedule whose value is the sum of the losses seen so far."""

    def init(self):
        return _Total(jnp.zeros([]))

    def update(self, state, **extra):
        return _Total(state.total + extra["value"])

    def __call__(self, state, **extra):
        return state.total


def test_stateful_schedules_see_the_extra_arguments():
    tx = gradtx.inject_hyperparams(gradtx.scale)(step_size=_SumOfLosses())
    params = jnp.ones(2)
    state = jax.jit(tx.init)(params)
    step = jax.jit(tx.update)
    u, state = step(params, state, params, value=jnp.asarray(0.5))
    np.testing.assert_allclose(u, 0.0)  # the value at the first step is the initial state's
    u, state = step(params, state, params, value=jnp.asarray(0.25))
    np.testing.assert_allclose(u, 0.5)
    assert float(state.hyperparams_states["step_size"].total) == 0.75
    with pytest.raises(ValueError, match="follows a schedule"):
        gradtx.set_hyperparams(state, step_size=1.0)
    # a schedule of the step as a stateful one: the same values
    wrapped = gradtx.schedules.WrappedSchedule(gradtx.schedules.linear_schedule(1.0, 0.0, 4))
    s = wrapped.init()
    for t in range(6):
        assert float(wrapped(s, value=1.0)) == float(
            gradtx.schedules.linear_schedule(1.0, 0.0, 4)(t)
        )
        s = wrapped.update(s, value=1.0)
