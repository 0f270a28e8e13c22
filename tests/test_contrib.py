"""Muon, Sophia and SAM beyond the common battery: the properties of each new primitive, the
options the parity cases (``tests/cases``) do not reach, and SAM (a wrapper, not a registered
optimizer), each against ``optax.contrib`` step by step.

Float32 tolerances for Muon are wider than the battery's: its quintic Newton-Schulz map has
slope ~480 at 0 (3.4445**5), so a last-bit difference in the momentum (Optax's float32
``1 - b**t``, or an FMA that XLA fuses under ``jit`` but not eagerly) becomes ~1e-5 relative
in the update. Two implementations that agree bit for bit under ``jit`` on the same input
(checked below) cannot do better.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import FAST_COMPILE, assert_trees_close, gradient_stream, precision, tree_max_abs

import gradtx
from gradtx import muon, sophia
from gradtx.transforms import _hessian_diagonal as hd
from gradtx.transforms import _orthogonal as orth
from gradtx.transforms._orthogonal import MuonDimensionNumbers
from gradtx.wrappers._sam import normalize, sam

OptaxDims = optax.contrib.MuonDimensionNumbers
STEPS = 50


def _params(dtype, seed=0):
    """Matrices (wide, tall), a 4-D kernel, a 3-D stack, a vector and a scalar."""
    rng = np.random.default_rng(seed)
    shapes = {"w": (4, 6), "t": (6, 3), "conv": (3, 3, 2, 4), "stack": (2, 4, 5), "b": (4,)}
    tree = {k: jnp.asarray(rng.normal(size=s), dtype) for k, s in shapes.items()}
    return {**tree, "s": jnp.asarray(rng.normal(), dtype)}


def _run(tx, params, grads, **extra):
    """(updates, params) after each step of one jitted step (compiled with the battery's
    faster options); ``extra`` may hold the objective."""

    def step(g, s, p):
        u, s = tx.update(g, s, p, **extra)
        return u, s, gradtx.apply_updates(p, u)

    state, out = tx.init(params), []
    step = jax.jit(step).lower(grads[0], state, params).compile(FAST_COMPILE)
    for g in grads:
        u, state, params = step(g, state, params)
        out.append((u, params))
    return out


def _close(ours, theirs, params, rtol):
    """Params within ``rtol`` of the largest parameter, updates of the largest update."""
    floor, step_size = tree_max_abs(params), max(tree_max_abs(u) for u, _ in theirs)
    for t, ((u, p), (u_ref, p_ref)) in enumerate(zip(ours, theirs)):
        assert_trees_close(p, p_ref, rtol, what=f"step {t} params", floor=floor)
        assert_trees_close(u, u_ref, rtol, what=f"step {t} updates", floor=step_size)


# ---------------------------------------------------------------------------------------
# Newton-Schulz


def test_newton_schulz_gives_a_near_orthogonal_factor_with_the_same_singular_vectors():
    ns = jax.jit(lambda x, eps: orth.orthogonalize_via_newton_schulz(x, eps=eps))
    with precision("float64"):
        for shape in [(4, 6), (1, 7)]:
            x = jnp.asarray(np.random.default_rng(1).normal(size=shape))
            o = ns(x, 1e-8)
            u, _, vt = jnp.linalg.svd(x, full_matrices=False)
            s_o = jnp.diag(u.T @ o @ vt.T)  # o in the singular basis of x: diagonal, ~1
            assert_trees_close(u @ jnp.diag(s_o) @ vt, o, 1e-12)
            assert bool(jnp.all((s_o > 0.68) & (s_o < 1.14))), s_o
            assert_trees_close(ns(x.T, 1e-8), o.T, 1e-12)  # f(X^T) = f(X)^T
            assert_trees_close(ns(1e3 * x, 0.0), ns(x, 0.0), 1e-12)  # scale-free


def test_newton_schulz_matches_optax_bit_for_bit_under_jit():
    coeffs = jnp.asarray(orth.NS_COEFFS["standard"])
    ours = jax.jit(orth.orthogonalize_via_newton_schulz)
    theirs = jax.jit(lambda x: optax.contrib._muon.orthogonalize_via_newton_schulz(x, coeffs))
    for shape in [(3, 4), (5, 2)]:
        x = jnp.asarray(np.random.default_rng(2).normal(size=shape), jnp.float32)
        np.testing.assert_array_equal(ours(x), theirs(x))


def test_newton_schulz_variants_match_optax():
    """Every preconditioning on a 4-D kernel (fan-in = three axes), and the "dion" table on
    a stack of matrices (a batch axis), float64."""
    with precision("float64"):
        p = _params(jnp.float64)
        runs = [(p["conv"], (0, 1, 2), 3, "standard", c) for c in orth.PRECONDITIONINGS]
        runs.append((p["stack"], -1, 1, "dion", "frobenius"))  # batch axis 0
        for leaf, reduction, output, coeffs, preconditioning in runs:
            args = (5, preconditioning, 1e-8)
            a = orth.orthogonalize_via_newton_schulz(
                leaf, coeffs, *args, MuonDimensionNumbers(reduction, output)
            )
            b = optax.contrib._muon.orthogonalize_via_newton_schulz(
                leaf, jnp.asarray(orth.NS_COEFFS[coeffs]), *args, OptaxDims(reduction, output)
            )
            assert a.shape == leaf.shape
            assert_trees_close(a, b, 1e-12, what=f"{coeffs}-{preconditioning}")


def test_newton_schulz_rejects_what_it_cannot_orthogonalize():
    with pytest.raises(ValueError, match="needs a matrix or dimension_numbers"):
        orth.orthogonalize_via_newton_schulz(jnp.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="must be disjoint"):
        orth.orthogonalize_via_newton_schulz(
            jnp.ones((2, 2, 2)), dimension_numbers=(MuonDimensionNumbers(0, (0, 1)))
        )
    with pytest.raises(ValueError, match="rank 1 < 2"):
        tx = orth.scale_by_newton_schulz()
        tx.update(jnp.ones(3), tx.init(None))


def test_scale_by_shape_uses_the_fans_of_the_dimension_numbers():
    x = jnp.ones((3, 3, 2, 4))  # fan-in 18, fan-out 4
    dims = MuonDimensionNumbers((0, 1, 2), 3)
    width = orth.scale_by_shape(dims).update(x, None)[0]
    rms = orth.scale_by_shape(dims, consistent_rms=0.2).update(x, None)[0]
    assert float(width[0, 0, 0, 0]) == 1.0  # sqrt(max(1, 4 / 18))
    np.testing.assert_allclose(rms, 0.2 * np.sqrt(18.0), rtol=1e-6)


# ---------------------------------------------------------------------------------------
# Muon


def _to_optax_dims(tree):
    convert = lambda d: OptaxDims(*d) if isinstance(d, MuonDimensionNumbers) else d
    return jax.tree.map(convert, tree, is_leaf=lambda d: d is None or isinstance(d, tuple))


_DIMS = {
    "w": MuonDimensionNumbers(),
    "t": MuonDimensionNumbers(1, 0),
    "conv": MuonDimensionNumbers((0, 1, 2), 3),
    "stack": MuonDimensionNumbers(1, 2),
    "b": None,
    "s": None,
}


def test_muon_options_match_optax_on_every_kind_of_leaf():
    """Dimension numbers (a transposed matrix, a 4-D kernel, a stack with a batch axis),
    consistent RMS, the adaptive scale, no Nesterov and a masked decay, for 50 steps: float64
    to 1e-12, float32 to 3e-5 (see the module docstring)."""
    mask = {"w": True, "t": False, "conv": True, "stack": True, "b": False, "s": False}
    kwargs = {"consistent_rms": 0.2, "adaptive": True, "nesterov": False}
    kwargs.update(weight_decay=0.1, weight_decay_mask=mask, adam_learning_rate=0.003)
    for dtype_name, rtol in [("float64", 1e-12), ("float32", 3e-5)]:
        with precision(dtype_name) as dtype:
            params = _params(dtype)
            grads = gradient_stream(params, STEPS)
            ours = _run(muon(0.01, muon_weight_dimension_numbers=_DIMS, **kwargs), params, grads)
            dims = _to_optax_dims(_DIMS)
            tx = optax.contrib.muon(0.01, muon_weight_dimension_numbers=dims, **kwargs)
            _close(ours, _run(tx, params, grads), params, rtol)


def test_muon_routes_matrices_to_newton_schulz_and_the_rest_to_nadamw():
    params = _params(jnp.float32)
    grads = gradient_stream(params, 1)
    (u, _), (u_adam, _) = [_run(tx, params, grads)[0] for tx in (muon(1.0), gradtx.nadam(1.0))]
    for name in ("conv", "stack", "b", "s"):  # not 2-D: Adam with Nesterov momentum
        np.testing.assert_allclose(u[name], u_adam[name], rtol=1e-6)
    for name in ("w", "t"):  # 2-D: -sqrt(max(1, fan_out/fan_in)) * NS(m_hat)
        s = jnp.linalg.svd(u[name], compute_uv=False)
        scale = np.sqrt(max(1.0, params[name].shape[1] / params[name].shape[0]))
        assert bool(jnp.all((s > 0.6 * scale) & (s < 1.25 * scale))), (name, s)


def test_muon_dimension_numbers_as_a_function_in_the_primitive():
    params = _params(jnp.float32)
    fn = lambda tree: {**jax.tree.map(lambda _: None, tree), "w": MuonDimensionNumbers()}
    tx = orth.scale_by_muon(nesterov=False, weight_dimension_numbers=fn)
    u, _ = jax.jit(tx.update)(params, tx.init(params))
    assert_trees_close(u["b"], params["b"], 1e-6)  # no dimension numbers: momentum only
    expected = orth.orthogonalize_via_newton_schulz(params["w"])
    assert_trees_close(u["w"], expected, 1e-6)


def test_muon_dimension_numbers_as_a_function_in_the_alias():
    params = _params(jnp.float32)
    fn = lambda tree: jax.tree.map(lambda x: MuonDimensionNumbers() if x.ndim == 2 else None, tree)
    grads = gradient_stream(params, 3)
    ours = _run(muon(0.01, muon_weight_dimension_numbers=fn), params, grads)
    _close(ours, _run(muon(0.01), params, grads), params, 1e-6)


def test_muon_trains_a_least_squares_matrix_problem():
    rng = np.random.default_rng(3)
    a, target = jnp.asarray(rng.normal(size=(32, 8))), jnp.asarray(rng.normal(size=(8, 4)))
    loss = lambda p: jnp.mean((a @ p["w"] + p["b"] - a @ target) ** 2)
    params, tx = {"w": jnp.zeros((8, 4)), "b": jnp.zeros(4)}, muon(0.02)

    def body(carry, _):
        p, s = carry
        u, s = tx.update(jax.grad(loss)(p), s, p)
        return (gradtx.apply_updates(p, u), s), None

    final = jax.jit(lambda p: jax.lax.scan(body, (p, tx.init(p)), None, length=300)[0][0])(params)
    assert float(loss(final)) < 1e-3 * float(loss(params))


# ---------------------------------------------------------------------------------------
# Hutchinson and Sophia


def _objective(p):
    """Not separable and not quadratic: the probes matter."""
    a, b = p["a"], p["b"]
    return jnp.sum(jnp.cosh(a)) + jnp.sum(b**4) / 4 + a[0] * b[1] + jnp.sum(a[:-1] * a[1:])


def _tree(dtype):
    rng = np.random.default_rng(4)
    return {k: jnp.asarray(rng.normal(size=n), dtype) for k, n in (("a", 5), ("b", 3))}


def test_hutchinson_estimates_the_hessian_diagonal():
    with precision("float64"):
        h = jnp.asarray(np.random.default_rng(5).normal(size=(6, 6)))
        h = h @ h.T
        w = jnp.ones(6)

        @jax.jit
        def estimate(key, h):
            tx = hd.hutchinson_estimator_diag_hessian(key)
            return tx.update(w, tx.init(w), w, value_fn=lambda w: 0.5 * w @ h @ w)[0]

        samples = jax.vmap(estimate, (0, None))(jax.random.split(jax.random.key(0), 2048), h)
        # z * Hz = diag(H) + sum_{j != i} H_ij z_i z_j: unbiased, with a known variance
        std = jnp.sqrt((jnp.sum(h**2, axis=1) - jnp.diag(h) ** 2) / 2048)
        assert bool(jnp.all(jnp.abs(samples.mean(0) - jnp.diag(h)) < 5 * std))
        diagonal = jnp.diag(jnp.arange(1.0, 7.0))  # a diagonal Hessian: exact with one probe
        assert_trees_close(estimate(jax.random.key(7), diagonal), jnp.arange(1.0, 7.0), 0)


def test_hutchinson_probes_are_optaxs_for_the_same_key():
    with precision("float64"):
        params = _tree(jnp.float64)
        ours = hd.hutchinson_estimator_diag_hessian(jax.random.PRNGKey(3))
        theirs = optax.contrib.hutchinson_estimator_diag_hessian(jax.random.PRNGKey(3))
        s_ours, s_theirs = ours.init(params), theirs.init(params)
        step_ours = jax.jit(lambda s: ours.update(params, s, params, obj_fn=_objective))
        step_theirs = jax.jit(lambda s: theirs.update(params, s, params, obj_fn=_objective))
        for _ in range(3):  # the key advances the same way
            (u, s_ours), (v, s_theirs) = step_ours(s_ours), step_theirs(s_theirs)
            assert_trees_close(u, v, 1e-14)


def test_sophia_matches_optax_with_random_probes():
    """The probes agree, so the trajectories do, on an objective whose Hessian is not
    diagonal, for 50 steps: float64 against Optax to 1e-12, float32 against
    ``optax.inject_hyperparams`` (hyperparameters stored alike) to 1e-6."""
    kwargs = {"update_interval": 3, "gamma": 0.5, "clip_threshold": 0.3, "b2": 0.9}
    for dtype_name in ("float64", "float32"):
        with precision(dtype_name) as dtype:
            params = _tree(dtype)
            grads = gradient_stream(params, STEPS)
            ours = _run(sophia(0.05, **kwargs), params, grads, value_fn=_objective)
            if dtype_name == "float64":
                theirs = optax.contrib.sophia(0.05, **kwargs)
            else:
                inject = optax.inject_hyperparams(optax.contrib.sophia, ("update_interval",))
                theirs = inject(0.05, **kwargs)
            theirs = _run(theirs, params, grads, obj_fn=_objective)
            _close(ours, theirs, params, 1e-12 if dtype_name == "float64" else 1e-6)


def _exact_diagonal():
    """A deterministic estimator for both libraries: the exact Hessian diagonal."""

    def update(updates, state, params=None, value_fn=None, obj_fn=None, **extra):
        fn = value_fn or obj_fn
        flat, unravel = jax.flatten_util.ravel_pytree(params)
        return unravel(jnp.diag(jax.hessian(lambda x: fn(unravel(x)))(flat))), state

    return optax.GradientTransformationExtraArgs(lambda p: optax.EmptyState(), update)


def test_sophia_with_a_custom_estimator_matches_optax():
    with precision("float64"):
        params = _tree(jnp.float64)
        grads = gradient_stream(params, 20)
        kwargs = {"hessian_diagonal_fn": _exact_diagonal(), "update_interval": 2}
        ours = _run(sophia(0.05, **kwargs), params, grads, obj_fn=_objective)
        theirs = _run(optax.contrib.sophia(0.05, **kwargs), params, grads, obj_fn=_objective)
        _close(ours, theirs, params, 1e-12)


def test_sophia_refreshes_the_curvature_every_update_interval_steps():
    tx = hd.scale_by_hessian_diagonal(b2=0.5, update_interval=3)
    w = jnp.ones(2)
    step = jax.jit(lambda s: tx.update(w, s, w, value_fn=lambda w: jnp.sum(w**2))[1])  # H = 2
    state, nus = tx.init(w), []
    for _ in range(7):
        state = step(state)
        nus.append(float(state.nu[0]))
    assert nus == [1.0, 1.0, 1.0, 1.5, 1.5, 1.5, 1.75]


def test_sophia_needs_the_objective_once():
    w = jnp.ones(2)
    tx = sophia(0.1)
    with pytest.raises(ValueError, match="value_fn=lambda params"):
        tx.update(w, tx.init(w), w)
    with pytest.raises(ValueError, match="not both"):
        tx.update(w, tx.init(w), w, value_fn=jnp.sum, obj_fn=lambda p: jnp.sum(p))
    with pytest.raises(ValueError, match="complex parameters"):
        z = jnp.ones(2, jnp.complex64)
        tx.update(z, tx.init(z), z, value_fn=lambda p: jnp.sum(jnp.abs(p) ** 2))


def test_sophia_verbose_prints_the_win_rate(capfd):
    w = jnp.ones(2)
    tx = sophia(0.1, verbose=True, print_win_rate_every_n_steps=1)
    tx.update(w, tx.init(w), w, value_fn=jnp.sum)
    jax.effects_barrier()
    assert "Sophia optimizer win rate: 0.0" in capfd.readouterr().out


# ---------------------------------------------------------------------------------------
# SAM


def _quartic(p):
    return jnp.sum(p["a"] ** 4) / 4 + jnp.sum(jnp.cos(p["b"])) + p["a"][0] * p["b"][0]


def _sam_trajectory(tx, params, opaque, steps=12):
    grad = jax.grad(_quartic)
    extra = {"grad_fn": lambda q, i: grad(q)} if opaque else {}
    step = jax.jit(lambda p, s: tx.update(grad(p), s, p, **extra))
    state, out = tx.init(params), []
    for _ in range(steps):
        u, state = step(params, state)
        params = gradtx.apply_updates(params, u)
        out.append(params)
    return out


@pytest.mark.parametrize(
    "outer, sync_period, reset_state, opaque",
    [("sgd", 2, True, False), ("adam", 3, False, False), ("adam", 3, True, True)],
)
def test_sam_matches_optax(outer, sync_period, reset_state, opaque):
    """Transparent and opaque modes, float64, 12 steps, each library with its own inner
    optimizers (the paper's normalized ascent as the adversary)."""
    with precision("float64"):
        params = _tree(jnp.float64)
        lib = {"sgd": (gradtx.sgd, optax.sgd, 0.05), "adam": (gradtx.adam, optax.adam, 0.02)}
        ours_opt, theirs_opt, lr = lib[outer]
        args = (sync_period, reset_state, opaque)
        ours = sam(ours_opt(lr), gradtx.chain(normalize(), gradtx.sgd(0.1)), *args)
        adv = optax.chain(optax.contrib.normalize(), optax.sgd(0.1))
        theirs = optax.contrib.sam(theirs_opt(lr), adv, *args)
        pairs = zip(_sam_trajectory(ours, params, opaque), _sam_trajectory(theirs, params, opaque))
        for t, (a, b) in enumerate(pairs):
            assert_trees_close(a, b, 1e-12, what=f"step {t}", floor=tree_max_abs(params))


def test_sam_ascends_then_steps_from_the_cached_weights_with_the_perturbed_gradient():
    loss = lambda w: jnp.sum(w**3)
    tx = sam(gradtx.sgd(0.1), gradtx.chain(normalize(), gradtx.sgd(0.5)), sync_period=2)
    w0 = jnp.array([1.0, 2.0])
    state = tx.init(w0)
    u, state = tx.update(jax.grad(loss)(w0), state, w0)
    g0 = 3 * w0**2
    w1 = w0 + u
    assert_trees_close(w1, w0 + 0.5 * g0 / jnp.linalg.norm(g0), 1e-6)  # normalized ascent
    u, state = tx.update(jax.grad(loss)(w1), state, w1)
    assert_trees_close(w1 + u, w0 - 0.1 * 3 * w1**2, 1e-6)  # from w0, gradient at w1
    assert int(state.steps_since_sync) == 0


def test_sam_and_normalize_edge_cases():
    w = jnp.ones(2)
    np.testing.assert_array_equal(normalize().update(jnp.zeros(2), None)[0], jnp.zeros(2))
    tx = sam(gradtx.sgd(0.1), gradtx.sgd(0.1))
    with pytest.raises(ValueError, match="needs `params`"):
        tx.update(w, tx.init(w))
    tx = sam(gradtx.sgd(0.1), gradtx.sgd(0.1), opaque_mode=True)
    with pytest.raises(ValueError, match="grad_fn"):
        tx.update(w, tx.init(w), w)
    with pytest.raises(ValueError, match="sync_period must be an integer >= 1"):
        sam(gradtx.sgd(0.1), gradtx.sgd(0.1), sync_period=0)


def test_muon_on_zero_size_matrices_is_a_no_op():
    """Optax 0.2.8's muon divides by a zero fan-in on a (0, n) or (n, 0) matrix; gradtx's
    updates such leaves to nothing."""
    params = {
        "a": jnp.zeros((0, 0)),
        "b": jnp.zeros((3, 0)),
        "c": jnp.zeros((0, 2)),
        "w": jnp.ones(2),
    }
    tx = gradtx.muon(0.1)
    updates, _ = tx.update(params, tx.init(params), params)
    assert {k: v.shape for k, v in updates.items()} == {k: v.shape for k, v in params.items()}
