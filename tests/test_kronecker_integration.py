"""Matrix preconditioners with the rest of the library: one trace per jitted step, checkpoints
across a refresh, MultiSteps, partition, Flax NNX, bfloat16, bad hyperparameters, PSGD-Kron
against its NumPy reference, and 10,000 float32 steps with dead units and a zero leaf."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import precision

import gradtx
from gradtx.transforms import _psgd, _psgd_fit

STACKS = {"w": 0, "conv": 1, "b": 0, "s": 0, "zero": 1}
MAKERS = {
    "shampoo": lambda: gradtx.shampoo(1e-2, block_size=4, precondition_frequency=3,
                                      start_preconditioning_step=2),
    "shampoo-newton": lambda: gradtx.shampoo(1e-2, inverse_root="newton",
                                             precondition_frequency=2, graft="sgd"),
    "soap": lambda: gradtx.soap(1e-2, weight_decay=0.0, precondition_frequency=3, block_size=4),
    "psgd_kron": lambda: gradtx.psgd_kron(1e-2, preconditioner_update_probability=0.5),
    # "conv" as a stack of three (2, 4) layers, "zero" as four stacked vectors (batch_dims)
    "shampoo, stacked": lambda: gradtx.shampoo(1e-2, block_size=4, precondition_frequency=3,
                                               start_preconditioning_step=2, batch_dims=STACKS),
    "soap, stacked": lambda: gradtx.soap(1e-2, weight_decay=0.0, precondition_frequency=3,
                                         batch_dims=STACKS),
    "psgd_kron, stacked": lambda: gradtx.psgd_kron(1e-2, preconditioner_update_probability=0.5,
                                                   batch_dims=STACKS),
}  # fmt: skip


def _params(dtype=jnp.float32):
    rng = np.random.default_rng(0)
    return {
        "w": jnp.asarray(rng.standard_normal((6, 5)), dtype),
        "conv": jnp.asarray(rng.standard_normal((3, 2, 4)), dtype),
        "b": jnp.asarray(rng.standard_normal(5), dtype),
        "s": jnp.asarray(0.5, dtype),
        "zero": jnp.zeros((4, 3), dtype),
    }


def _loss(p):
    x = jnp.linspace(0, 1, 6)  # x[0] = 0: row 0 of w gets no gradient, a dead unit
    h = jnp.tanh(x @ p["w"] + p["b"]) * p["s"]
    return jnp.sum(h**2) + jnp.sum(p["conv"] ** 2) + 0.0 * jnp.sum(p["zero"])


def _assert_resumes_bit_exactly(step, tx, p, s, path, steps):
    """Save ``s``, load it into a fresh state and run ``steps`` more steps from both: the
    same parameters and states bit for bit. Returns the uninterrupted run's parameters."""
    gradtx.checkpoint.save(path, s)
    resumed = gradtx.checkpoint.load(path, tx.init(_params()))
    pa, sa, pb, sb = p, s, p, resumed
    for _ in range(steps):
        pa, sa = step(pa, sa)
        pb, sb = step(pb, sb)
    for a, b in zip(jax.tree.leaves((pa, sa)), jax.tree.leaves((pb, sb))):
        np.testing.assert_array_equal(a, b)
    return pa


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_one_trace_checkpoint_and_resume_across_a_refresh(name, tmp_path):
    tx = MAKERS[name]()
    traces = []

    @jax.jit
    def step(p, s):
        traces.append(1)
        u, s = tx.update(jax.grad(_loss)(p), s, p)
        return gradtx.apply_updates(p, u), s

    p, s = _params(), tx.init(_params())
    for _ in range(4):  # shampoo and soap refresh at step 4 (and 7)
        p, s = step(p, s)
    pa = _assert_resumes_bit_exactly(step, tx, p, s, tmp_path / "s.npz", 5)
    assert len(traces) == 1
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(pa))


@pytest.mark.parametrize("name", ["shampoo", "soap"])
def test_multisteps_partition_and_bfloat16(name):
    params = _params(jnp.bfloat16)
    inner = MAKERS[name]()
    tx = gradtx.partition(
        {"kron": gradtx.MultiSteps(inner, every_k_schedule=2), "sgd": gradtx.sgd(0.1)},
        {"w": "kron", "conv": "kron", "b": "sgd", "s": "sgd", "zero": "kron"},
    )
    s = tx.init(params)
    step = jax.jit(lambda p, s: tx.update(jax.grad(_loss)(p), s, p))
    for _ in range(6):
        u, s = step(params, s)
        params = gradtx.apply_updates(params, u)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(params))
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(params))


def _nnx_loss(m):
    x = jnp.ones((8, 4)) * jnp.arange(8)[:, None] / 8
    return jnp.mean((m(x) - 1) ** 2)


def test_flax_nnx_optimizer_trains_with_shampoo_and_soap():
    nnx = pytest.importorskip("flax.nnx")
    for tx in (gradtx.shampoo(3e-2, start_preconditioning_step=1), gradtx.soap(3e-2)):
        model = nnx.Linear(4, 3, rngs=nnx.Rngs(0))
        opt = nnx.Optimizer(model, tx, wrt=nnx.Param)
        start = float(_nnx_loss(model))

        @nnx.jit
        def step(model, opt):
            opt.update(model, nnx.grad(_nnx_loss)(model))

        for _ in range(40):
            step(model, opt)
        assert float(_nnx_loss(model)) < 0.5 * start


BAD = [
    (gradtx.shampoo, {"eps": -1.0}, r"eps must be in \[0, inf\)"),
    (gradtx.shampoo, {"matrix_eps": -1e-6}, r"matrix_eps must be in \[0, inf\)"),
    (gradtx.shampoo, {"block_size": 0}, "block_size must be an integer >= 1"),
    (gradtx.shampoo, {"graft": "lamb"}, "graft must be one of"),
    (gradtx.shampoo, {"inverse_root": "svd"}, "inverse_root must be one of"),
    (gradtx.shampoo, {"precondition_frequency": 0}, "precondition_frequency must be"),
    (gradtx.shampoo, {"graft": None, "start_preconditioning_step": 5}, "must be 1"),
    (gradtx.soap, {"eps": -1.0}, r"eps must be in \[0, inf\)"),
    (gradtx.soap, {"block_size": 0}, "block_size must be an integer >= 1"),
    (gradtx.soap, {"b2": 1.0}, r"b2 must be in \[0, 1\)"),
    (gradtx.psgd_kron, {"preconditioner_update_probability": 1.5}, r"must be in \[0, 1\]"),
    (gradtx.psgd_kron, {"preconditioner_update_probability": lambda t: -0.1}, r"\[0, 1\]"),
    (gradtx.psgd_kron, {"precond_lr": -0.1}, r"precond_lr must be in \[0, inf\)"),
    (gradtx.psgd_kron, {"max_size_triangular": 0}, "max_size_triangular must be"),
    (gradtx.psgd_kron, {"cache_preconditioner": 1}, "cache_preconditioner must be True or"),
]


@pytest.mark.parametrize("factory, kwargs, match", BAD)
def test_bad_hyperparameters_raise_at_construction(factory, kwargs, match):
    with pytest.raises(ValueError, match=match):
        factory(1e-2, **kwargs)


@pytest.mark.parametrize(
    "factory, name, value, match",
    [
        (gradtx.shampoo, "eps", -1.0, r"eps must be in \[0, inf\)"),
        (gradtx.shampoo, "matrix_eps", -1.0, r"matrix_eps must be in \[0, inf\)"),
        (gradtx.soap, "eps", -1.0, r"eps must be in \[0, inf\)"),
        (gradtx.psgd_kron, "precond_lr", -1.0, r"precond_lr must be in"),
        (gradtx.shampoo, "block_size", 8, "no live hyperparameter named 'block_size'"),
        (gradtx.shampoo, "graft", "sgd", "no live hyperparameter named 'graft'"),
    ],
)
def test_bad_hyperparameters_raise_through_set_hyperparams(factory, name, value, match):
    kwargs = {"preconditioner_update_probability": 0.5} if factory is gradtx.psgd_kron else {}
    state = factory(1e-2, **kwargs).init(_params())
    with pytest.raises(ValueError, match=match):
        gradtx.set_hyperparams(state, **{name: value})
    if factory is gradtx.psgd_kron:
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            gradtx.set_hyperparams(state, preconditioner_update_probability=1.5)


# ---------------------------------------------------------------------------------------
# PSGD-Kron against NumPy (Li 2018; psgd_jax's Kronecker/Lie-group update), same noise.


def _psgd_reference(qs, h, v, lr):
    a, b = h, v
    for i, q in enumerate(qs):
        if q.ndim == 1:
            shape = [1] * h.ndim
            shape[i] = -1
            a, b = a * q.reshape(shape), b / q.reshape(shape)
        else:
            a = np.moveaxis(np.tensordot(q, a, axes=(1, i)), 0, i)
            b = np.moveaxis(np.linalg.solve(q.T, np.moveaxis(b, i, 0).reshape(len(q), -1))
                            .reshape(np.moveaxis(b, i, 0).shape), 0, i)  # fmt: skip
    new = []
    for i, q in enumerate(qs):
        ai, bi = np.moveaxis(a, i, 0).reshape(a.shape[i], -1), np.moveaxis(b, i, 0)
        bi = bi.reshape(b.shape[i], -1)
        t1, t2 = ai @ ai.T, bi @ bi.T
        if q.ndim == 1:
            t1, t2 = np.diag(t1), np.diag(t2)
            new.append(q - lr / np.abs(t1 + t2).max() * (t1 - t2) * q)
        else:
            s = t1 + t2
            j = np.argmax((s * s).sum(0))
            bound = np.linalg.norm(s @ s[:, j]) / np.linalg.norm(s[:, j])
            new.append(q - lr / bound * np.triu(t1 - t2) @ q)
    if len(new) > 1:
        norms = np.array([np.abs(q).max() for q in new])
        g = np.exp(np.log(norms).mean())
        new = [q * g / n for q, n in zip(new, norms)]
    return new


def _psgd_apply(qs, g):
    for i, q in enumerate(qs):
        if q.ndim == 1:
            shape = [1] * g.ndim
            shape[i] = -1
            g = g * (q * q).reshape(shape)
        else:
            g = np.moveaxis(np.tensordot(q.T @ q, g, axes=(1, i)), 0, i)
    return g


@pytest.mark.parametrize("cached", [False, True])
def test_psgd_kron_matches_reference(cached):
    # big: 9 > 8 gets a diagonal factor; w and w2, of one shape, are refitted as one stack
    shapes = {"w": (6, 5), "b": (4,), "big": (3, 9), "w2": (6, 5)}
    with precision("float64"):
        tx = gradtx.scale_by_psgd_kron(
            1.0, max_size_triangular=8, precond_lr=0.1, key=3, cache_preconditioner=cached
        )
        params = {k: jnp.zeros(s) for k, s in shapes.items()}
        state = tx.init(params)
        ref = {k: [np.asarray(q) for q in state.qs[k]] for k in shapes}
        rng = np.random.default_rng(0)
        update = jax.jit(tx.update)
        for _ in range(50):
            g = {k: rng.standard_normal(s) for k, s in shapes.items()}
            key = jax.random.wrap_key_data(state.key)
            _, _, noise = jax.random.split(key, 3)
            # one draw cut in the order of the shape groups: b, big, then w and w2 (sorted)
            z = np.asarray(jax.random.normal(noise, (4 + 27 + 30 + 30,), jnp.float64))
            vs = dict(zip(sorted(shapes), np.split(z, [4, 31, 61])))
            u, state = update(jax.tree.map(jnp.asarray, g), state)
            for k in sorted(shapes):
                v = vs[k].reshape(shapes[k])
                ref[k] = _psgd_reference(ref[k], g[k], v, 0.1)
                np.testing.assert_allclose(u[k], _psgd_apply(ref[k], g[k]), rtol=1e-9)
                if cached:  # the cache holds Q^T Q (q^2 for a diagonal factor) of the factors
                    for q, pq in zip(ref[k], state.ps[k]):
                        want = q * q if q.ndim == 1 else q.T @ q
                        np.testing.assert_allclose(pq, want, rtol=1e-12, atol=1e-15)
        assert (state.ps is None) == (not cached)


def test_psgd_refit_of_a_stack_is_the_per_leaf_refit_bit_for_bit():
    """Leaves of one shape are refitted as one ``lax.map`` over their stack (one compiled
    body per shape); each result is what the leaf's own update and balance give."""
    rng = np.random.default_rng(0)
    eye = 3 * np.eye(6)
    qs = [(jnp.asarray(np.triu(rng.standard_normal((6, 6))) + eye, jnp.float32),
           jnp.asarray(1 + rng.random(7), jnp.float32)) for _ in range(4)]  # fmt: skip
    hs = [jnp.asarray(rng.standard_normal((6, 7)), jnp.float32) for _ in range(4)]
    vs = jnp.asarray(rng.standard_normal((4, 6, 7)), jnp.float32)
    lr = jnp.float32(0.1)
    stacked = jax.jit(lambda qs, hs, vs, t: _psgd_fit.refit_group(qs, hs, vs, lr, t))
    one = jax.jit(lambda q, h, v: tuple(_psgd_fit.balance(_psgd_fit.update_factors(q, h, v, lr))))
    for k, new in enumerate(stacked(qs, hs, vs, jnp.int32(3))):
        for a, b in zip(new, one(list(qs[k]), hs[k], vs[k])):
            np.testing.assert_array_equal(a, b)
            assert not np.array_equal(a, qs[k][0 if a.ndim == 2 else 1])  # it moved


def test_psgd_refit_solves_one_matrix_at_a_time():
    """The stacked refit loops over its leaves: a batched triangular solve runs its matrices
    as parallel LAPACK tasks on XLA:CPU and deadlocked OpenBLAS (24 leaves of 256x256 hung
    when the refit was a vmap)."""
    tx = gradtx.scale_by_psgd_kron(1.0)
    params = {k: jnp.zeros((6, 5)) for k in "abc"}

    def solves(jaxpr):
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "triangular_solve":
                yield eqn.invars[0].aval.ndim
            for v in eqn.params.values():
                for j in v if isinstance(v, tuple) else (v,):
                    inner = getattr(j, "jaxpr", None)
                    if inner is not None:
                        yield from solves(getattr(inner, "jaxpr", inner))

    jaxpr = jax.make_jaxpr(tx.update)(params, tx.init(params)).jaxpr
    ndims = list(solves(jaxpr))
    assert ndims and set(ndims) == {2}, ndims


def test_cached_psgd_kron_resumes_bit_exactly_and_refits_under_its_coin(tmp_path):
    """The cache is refreshed with the factors (only when the coin says so) and is part of
    the checkpoint; a resumed run is the uninterrupted one bit for bit."""
    tx = gradtx.psgd_kron(
        1e-2, preconditioner_update_probability=0.5, key=1, cache_preconditioner=True
    )  # key 1: coins 0.40 0.83 0.54 0.77 0.07 0.21, so steps 1, 5 and 6 refit
    step = jax.jit(lambda p, s: (lambda u, s: (gradtx.apply_updates(p, u), s))(
        *tx.update(jax.grad(_loss)(p), s, p)))  # fmt: skip
    p, s = _params(), tx.init(_params())
    inner = lambda s: s[1]  # chain(ema, scale_by_psgd_kron, ...): the PSGD-Kron state
    changed = []
    for _ in range(6):
        before = inner(s).ps["w"][0]
        p, s = step(p, s)
        changed.append(not np.array_equal(before, inner(s).ps["w"][0]))
        q = inner(s).qs["w"][0]
        np.testing.assert_allclose(inner(s).ps["w"][0], q.T @ q, rtol=1e-5, atol=1e-6)
    assert changed == [True, False, False, False, True, True]
    _assert_resumes_bit_exactly(step, tx, p, s, tmp_path / "s.npz", 3)
    plain = gradtx.psgd_kron(1e-2, preconditioner_update_probability=0.5, key=1)
    for a, b in ((tx, plain), (plain, tx)):  # a state of the other kind: a clear error
        with pytest.raises(ValueError, match="made with cache_preconditioner"):
            a.update(_params(), b.init(_params()), _params())


def test_psgd_factors_approach_the_inverse_root_of_a_kronecker_covariance():
    """Li's fixed point: P E[h h^T] P = I, so P -> (C1 kron C2)^(-1/2)."""
    rng = np.random.default_rng(1)
    c1, c2 = (np.diag(np.linspace(0.2, 3.0, n)) for n in (4, 3))
    tx = gradtx.scale_by_psgd_kron(1.0, precond_lr=0.02)
    state = tx.init(jnp.zeros((4, 3)))
    update = jax.jit(tx.update)
    for _ in range(3000):
        h = np.sqrt(c1) @ rng.standard_normal((4, 3)) @ np.sqrt(c2)
        _, state = update(jnp.asarray(h, jnp.float32), state)
    q1, q2 = (np.asarray(q, np.float64) for q in state.qs)
    p = np.kron(q1.T @ q1, q2.T @ q2)
    target = np.kron(np.diag(np.diag(c1) ** -0.5), np.diag(np.diag(c2) ** -0.5))
    assert np.linalg.norm(p - target) / np.linalg.norm(target) < 0.15


def test_probability_schedule_matches_psgd_jax():
    s = _psgd.psgd_update_probability()
    assert float(s(0)) == 1.0 and float(s(250)) == 1.0
    assert float(s(1000)) == pytest.approx(np.exp(-0.75), rel=1e-6)
    assert float(s(10_000)) == pytest.approx(0.03)


# ---------------------------------------------------------------------------------------
# Robustness: 10,000 float32 steps, dead units and an all-zero leaf, one compilation.


@pytest.mark.parametrize("name", ["psgd_kron", "shampoo", "soap"])
def test_ten_thousand_float32_steps_stay_finite(name):
    tx = MAKERS[name]()
    traces = []

    @jax.jit
    def run(p, s):
        traces.append(1)

        def body(carry, t):
            p, s = carry
            g = jax.grad(_loss)(p)
            g = jax.tree.map(lambda x: x * (1 + jnp.sin(t)), g)  # a wandering scale
            u, s = tx.update(g, s, p)
            return (gradtx.apply_updates(p, u), s), None

        return jax.lax.scan(body, (p, s), jnp.arange(2500.0))[0]

    p, s = _params(), tx.init(_params())
    for _ in range(4):
        p, s = run(p, s)
    assert len(traces) == 1
    for x in jax.tree.leaves((p, s)):
        if jnp.issubdtype(x.dtype, jnp.floating):
            assert bool(jnp.all(jnp.isfinite(x))), name
    np.testing.assert_array_equal(p["zero"], 0.0)
    if name == "shampoo":  # L^(-1/4) maps a zero row to a zero row; SOAP's and PSGD's
        # rotations and triangular factors mix rows, so their dead unit drifts slightly
        np.testing.assert_array_equal(p["w"][0], _params()["w"][0])
