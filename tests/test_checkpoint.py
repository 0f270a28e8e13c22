"""Checkpoint and resume, and determinism, for every registered optimizer.

A run of ``N`` steps must equal, bit for bit, a run of ``K`` steps, a save, a load into a
fresh template, and ``N - K`` more steps; with the plain format (:mod:`gradtx.checkpoint`)
and with Orbax. The same seed and inputs must give bit-identical parameters twice.
"""

from __future__ import annotations

import functools
import json
import os
from typing import NamedTuple

import cases
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import gradient_stream, nested_params

import gradtx
from gradtx import checkpoint

CASES = cases.ONE_CASE_PER_OPTIMIZER  # every registered optimizer
IDS = [c.name for c in CASES]
N, K = 7, 3  # K is odd: with MultiSteps(every 2) the save falls mid-accumulation


def _params(seed: int = 0):
    """Nested parameters with a ``None`` leaf; few leaves, to keep the compiles short."""
    tree = nested_params(jnp.float32, seed=seed)
    return {"dense": {"w": tree["dense"]["w"]}, "emb": tree["emb"], "frozen": None}


def _wrapped_params(seed: int = 0):
    """One leaf per optimizer (under ``"w"``), one frozen leaf and a ``None``."""
    rng = np.random.default_rng(seed)
    w = {c.name: jnp.asarray(rng.normal(size=(3,)), jnp.float32) for c in CASES}
    return {"w": w, "emb": jnp.asarray(rng.normal(size=(2, 2)), jnp.float32), "none": None}


def _noise(params) -> list:
    """Seeded gradient noise, one tree per step (NumPy: no PRNG to compile)."""
    return gradient_stream(params, N, seed=1)


def _stepper(tx, nan_at=None):
    """A jitted step on the gradient of 0.5 |p - 1|^2 plus noise. At step ``nan_at`` the
    first entry of every gradient under ``"w"`` is NaN."""

    def poison(g, t):
        first = (0,) * g.ndim
        return g.at[first].set(jnp.where(t == nan_at, jnp.nan, g[first]))

    @jax.jit
    def step(params, state, noise, t):
        grads = jax.tree.map(lambda p, n: (p - 1.0) + 0.1 * n, params, noise)
        if nan_at is not None:
            grads["w"] = jax.tree.map(lambda g: poison(g, t), grads["w"])
        # The loss whose gradient (without the noise) this is: for the optimizers that
        # need `value` / `value_fn` (Polyak's step, the loss-driven methods); others ignore it.
        updates, state = tx.update(
            grads, state, params, value=_value_fn(params), value_fn=_value_fn
        )
        return gradtx.apply_updates(params, updates), state

    return step


def _value_fn(params):
    """1 + 0.5 |p - 1|^2 over the float leaves (positive, so Polyak's f* = 0 is below it)."""
    leaves = [x for x in jax.tree.leaves(params) if x is not None]
    return 1.0 + 0.5 * sum(jnp.sum((x - 1.0) ** 2) for x in leaves)


def _run(step, params, state, steps: range, noise):
    for t in steps:
        params, state = step(params, state, noise[t], jnp.int32(t))
    return params, state


def _assert_bitwise_equal(a, b, what: str) -> None:
    flat_a, tree_a = jax.tree_util.tree_flatten_with_path(a, is_leaf=lambda x: x is None)
    flat_b, tree_b = jax.tree_util.tree_flatten_with_path(b, is_leaf=lambda x: x is None)
    assert tree_a == tree_b, f"{what}: structures differ"
    for (path, x), (_, y) in zip(flat_a, flat_b):
        where = f"{what}{jax.tree_util.keystr(path)}"
        if x is None or y is None:
            assert x is None and y is None, where
            continue
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype, where
        bits = lambda v: np.atleast_1d(v).view(np.uint8)
        np.testing.assert_array_equal(bits(x), bits(y), err_msg=where)


def _scheduled(case):
    """The optimizer with its learning rate (or, if that is fixed, another live
    hyperparameter) given as a schedule."""
    rate = case.extra.get("schedule", "learning_rate")
    if rate in case.kwargs and rate not in gradtx.OPTIMIZERS[case.name].static_args:
        return case.make(**{rate: gradtx.exponential_decay(case.kwargs[rate], 1, 0.9)})
    # A fixed rate (rprop) or none among the case's arguments: schedule another one (sam has
    # none of its own: its inner optimizers' rates live in their states).
    hyper = gradtx.get_hyperparams(case.make().init(jnp.zeros(1)))
    hyper = {k: v for k, v in hyper.items() if "/" not in k}  # its own, not its members'
    if not hyper:
        return case.make()
    name, value = next(iter(hyper.items()))
    return case.make(**{name: gradtx.constant_schedule(float(value))})


@functools.cache
def _wrapped_all():
    """Every optimizer, with a schedule, under every wrapper whose state holds another state,
    in one partition (one program to compile instead of one per optimizer):
    ``partition({name: MultiSteps(chain(clip_by_global_norm, apply_if_finite(opt)), 2),
    "frozen": set_to_zero()})``. Returns the transform and its jitted step (NaN at step 1).
    """
    members = {
        c.name: gradtx.MultiSteps(
            gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.apply_if_finite(_scheduled(c), 3)),
            2,
        ).gradient_transformation()
        for c in CASES
    }
    members["frozen"] = gradtx.set_to_zero()
    labels = {"w": {c.name: c.name for c in CASES}, "emb": "frozen", "none": None}
    tx = gradtx.partition(members, labels)
    return tx, _stepper(tx, nan_at=1)


def _resume_check(tx, step, params0, tmp_path, abstract_template=False):
    """N steps, twice (bit-identical); then K steps, save, load, N - K steps (bit-identical)."""
    noise = _noise(params0)
    full_p, full_s = _run(step, params0, tx.init(params0), range(N), noise)
    again_p, again_s = _run(step, params0, tx.init(params0), range(N), noise)
    _assert_bitwise_equal((again_p, again_s), (full_p, full_s), "second run")

    p, s = _run(step, params0, tx.init(params0), range(K), noise)
    path = tmp_path / "ckpt.npz"
    checkpoint.save(path, {"params": p, "opt_state": s})
    init = jax.eval_shape(tx.init, params0) if abstract_template else tx.init(params0)
    loaded = checkpoint.load(path, like={"params": params0, "opt_state": init})
    _assert_bitwise_equal(loaded, {"params": p, "opt_state": s}, "loaded")
    assert gradtx.get_hyperparams(loaded["opt_state"]).keys() == gradtx.get_hyperparams(s).keys()
    p, s = _run(step, loaded["params"], loaded["opt_state"], range(K, N), noise)
    _assert_bitwise_equal(p, full_p, "params")
    _assert_bitwise_equal(s, full_s, "state")
    return full_s


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_resume_is_bitwise_identical_and_runs_are_deterministic(case, tmp_path):
    """N steps == K steps, save, load into tx.init(params), N - K steps, bit for bit; two
    runs from the same inputs agree bit for bit, and two fresh builds of the optimizer
    trace to the same program (so a new process computes the same bits too)."""
    tx = case.make()
    _resume_check(tx, _stepper(tx), _params(), tmp_path)
    params0, noise = _params(), _noise(_params())

    def program():
        tx = case.make()
        return _stepper(tx).lower(params0, tx.init(params0), noise[0], jnp.int32(0)).as_text()

    assert program() == program()


def test_resume_every_optimizer_scheduled_and_wrapped(tmp_path):
    """Every optimizer with a schedule under partition, MultiSteps, clip and apply_if_finite,
    a NaN gradient at step 1, loaded into a ``jax.eval_shape`` template. A failure names
    the path, and so the optimizer: ``.inner_states['adam']...``."""
    tx, step = _wrapped_all()
    state = _resume_check(tx, step, _wrapped_params(), tmp_path, abstract_template=True)
    for c in CASES:
        multi = state.inner_states[c.name]
        assert int(multi.gradient_step) == N // 2 and int(multi.mini_step) == N % 2, c.name
        assert int(multi.inner_opt_state[1].total_notfinite) == 1, c.name  # NaN step skipped
        hyper = gradtx.get_hyperparams(multi.inner_opt_state[1].inner_state)
        assert len(hyper) > 0, c.name


def test_set_hyperparams_survive_the_round_trip(tmp_path):
    params = nested_params(jnp.float32)
    tx = gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.adam(1e-3, b1=0.8))
    state = gradtx.set_hyperparams(tx.init(params), learning_rate=3e-4, b2=0.95)
    checkpoint.save(tmp_path / "s.npz", state)
    loaded = checkpoint.load(tmp_path / "s.npz", like=tx.init(params))
    before, after = gradtx.get_hyperparams(state), gradtx.get_hyperparams(loaded)
    assert before.keys() == after.keys()
    for name in before:
        assert after[name].dtype == before[name].dtype
        assert float(after[name]) == float(before[name]), name
    assert float(after["learning_rate"]) == np.float32(3e-4)

    sched = gradtx.sgd(gradtx.exponential_decay(0.1, 1, 0.5), momentum=0.9)
    s = sched.update(params, sched.init(params), params)[1]
    checkpoint.save(tmp_path / "t.npz", s)
    loaded = checkpoint.load(tmp_path / "t.npz", like=sched.init(params))
    assert loaded.scheduled == {"learning_rate": None}
    assert float(gradtx.get_hyperparams(loaded)["learning_rate"]) == np.float32(0.1)


def test_bfloat16_state_round_trips_bit_for_bit(tmp_path):
    params = {"w": jnp.asarray([1.0, -0.0, 3e-40, 65504.0, 1e38], jnp.bfloat16)}
    tx = gradtx.adam(1e-2)
    _, state = tx.update(params, tx.init(params), params)
    special = jnp.asarray([jnp.nan, jnp.inf, -jnp.inf, -0.0, 1e-40], jnp.bfloat16)
    tree = {"state": state, "special": special, "f8": jnp.ones(3, jnp.float8_e4m3fn)}
    checkpoint.save(tmp_path / "bf16.npz", tree)
    header = checkpoint.read_header(tmp_path / "bf16.npz")
    stored = {r["path"]: r for r in header["leaves"]}
    assert stored["['special']"]["dtype"] == "bfloat16"
    assert stored["['special']"]["stored_as"] == "uint16"
    loaded = checkpoint.load(tmp_path / "bf16.npz", like=tree)
    assert loaded["special"].dtype == jnp.bfloat16
    _assert_bitwise_equal(loaded, tree, "bf16")


def test_none_float0_empty_integer_and_scalar_leaves(tmp_path):
    tree = {
        "none": None,
        "float0": np.zeros((2, 3), jax.dtypes.float0),
        "empty": jnp.zeros((0, 4)),
        "int": jnp.arange(3, dtype=jnp.int32),
        "bool": jnp.asarray([True, False]),
        "complex": jnp.asarray([1 + 2j], jnp.complex64),
        "python": 2.5,
        "nested": (None, {"x": jnp.ones(())}),
    }
    checkpoint.save(tmp_path / "misc.npz", tree)
    loaded = checkpoint.load(tmp_path / "misc.npz", like=tree)
    assert loaded["none"] is None and loaded["nested"][0] is None
    assert loaded["float0"].dtype == jax.dtypes.float0 and loaded["float0"].shape == (2, 3)
    assert loaded["python"] == 2.5 and isinstance(loaded["python"], float)
    _assert_bitwise_equal(
        {k: v for k, v in loaded.items() if k not in ("float0", "python")},
        {k: v for k, v in tree.items() if k not in ("float0", "python")},
        "misc",
    )
    assert [f for f in os.listdir(tmp_path) if f != "misc.npz"] == []  # no temporary left


def test_mismatches_name_the_first_differing_path(tmp_path):
    params = {"w": jnp.ones((3, 4)), "b": jnp.ones(4)}
    path = tmp_path / "adam.npz"
    checkpoint.save(path, gradtx.adam(1e-3).init(params))
    with pytest.raises(ValueError, match=r"no entry for \.hyperparams\['momentum'\]"):
        checkpoint.load(path, like=gradtx.sgd(0.1, momentum=0.9).init(params))
    with pytest.raises(ValueError, match=r"has \.hyperparams\['b1'\], which the template lacks"):
        checkpoint.load(path, like=gradtx.sgd(0.1).init(params))
    chained = gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.adam(1e-3))
    with pytest.raises(ValueError, match=r"no entry for \[1\]\.count.*another version"):
        checkpoint.load(path, like=chained.init(params))
    wider = {"w": jnp.ones((3, 5)), "b": jnp.ones(4)}
    with pytest.raises(
        ValueError,
        match=r"\['w'\] is float32\[3, 4\] in the checkpoint but "
        r"float32\[3, 5\] in the template",
    ):
        checkpoint.load(path, like=gradtx.adam(1e-3).init(wider))
    half = jax.tree.map(lambda x: x.astype(jnp.bfloat16), params)
    with pytest.raises(ValueError, match=r"float32\[4\] in the checkpoint but bfloat16\[4\]"):
        checkpoint.load(path, like=gradtx.adam(1e-3).init(half))
    scheduled = gradtx.adam(gradtx.constant_schedule(1e-3)).init(params)
    checkpoint.save(tmp_path / "scheduled.npz", scheduled)
    with pytest.raises(ValueError, match=r"has \.scheduled\['learning_rate'\], which the template"):
        checkpoint.load(tmp_path / "scheduled.npz", like=gradtx.adam(1e-3).init(params))
    frozen = {"w": jnp.ones((3, 4)), "b": None}
    with pytest.raises(ValueError, match=r"\['b'\] is float32\[4\] in the checkpoint but None"):
        checkpoint.load(path, like=gradtx.adam(1e-3).init(frozen))


def test_node_types_are_checked_unless_not_strict(tmp_path):
    class A(NamedTuple):
        x: jax.Array

    class B(NamedTuple):
        x: jax.Array

    checkpoint.save(tmp_path / "a.npz", A(jnp.ones(2)))
    with pytest.raises(ValueError, match="node types differ"):
        checkpoint.load(tmp_path / "a.npz", like=B(jnp.zeros(2)))
    loaded = checkpoint.load(tmp_path / "a.npz", like=B(jnp.zeros(2)), strict=False)
    assert isinstance(loaded, B) and loaded.x.tolist() == [1.0, 1.0]


def test_foreign_and_future_files_are_refused(tmp_path):
    np.savez(tmp_path / "plain.npz", x=np.ones(2))
    with pytest.raises(ValueError, match="not a gradtx checkpoint"):
        checkpoint.load(tmp_path / "plain.npz", like={"x": jnp.ones(2)})
    header = {"format": checkpoint.FORMAT, "version": checkpoint.VERSION + 1, "leaves": []}
    np.savez(tmp_path / "new.npz", **{checkpoint.HEADER_KEY: np.array(json.dumps(header))})
    with pytest.raises(ValueError, match="format version 2"):
        checkpoint.load(tmp_path / "new.npz", like={})


def test_orbax_round_trip_and_resume(tmp_path):
    """Orbax's StandardCheckpointer saves and restores gradtx states (None leaves,
    NamedTuples, schedules, every wrapper, every optimizer) into a ``jax.eval_shape``
    template; the resumed run is bit-identical."""
    ocp = pytest.importorskip("orbax.checkpoint")
    tx, step = _wrapped_all()
    params0 = _wrapped_params()
    noise = _noise(params0)
    full_p, full_s = _run(step, params0, tx.init(params0), range(N), noise)
    p, s = _run(step, params0, tx.init(params0), range(K), noise)
    ckpt = ocp.StandardCheckpointer()
    ckpt.save(tmp_path / "orbax", {"params": p, "opt_state": s})
    ckpt.wait_until_finished()
    like = jax.eval_shape(lambda: {"params": params0, "opt_state": tx.init(params0)})
    loaded = ckpt.restore(tmp_path / "orbax", like)
    _assert_bitwise_equal(loaded, {"params": p, "opt_state": s}, "orbax")
    p, s = _run(step, loaded["params"], loaded["opt_state"], range(K, N), noise)
    _assert_bitwise_equal(p, full_p, "params")
    _assert_bitwise_equal(s, full_s, "state")
