"""Newton-Schulz and Muon beyond the common battery: the properties of the orthogonalization,
the options the parity cases (``tests/cases/orthogonal.py``) do not reach, each against
``optax.contrib`` step by step.

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
from helpers import (
    assert_run_close,
    assert_trees_close,
    gradient_stream,
    precision,
    run_jitted,
)

import gradtx
from gradtx import muon
from gradtx.transforms import _orthogonal as orth
from gradtx.transforms._orthogonal import MuonDimensionNumbers

OptaxDims = optax.contrib.MuonDimensionNumbers
STEPS = 50


def _params(dtype, seed=0):
    """Matrices (wide, tall), a 4-D kernel, a 3-D stack, a vector and a scalar."""
    rng = np.random.default_rng(seed)
    shapes = {"w": (4, 6), "t": (6, 3), "conv": (3, 3, 2, 4), "stack": (2, 4, 5), "b": (4,)}
    tree = {k: jnp.asarray(rng.normal(size=s), dtype) for k, s in shapes.items()}
    return {**tree, "s": jnp.asarray(rng.normal(), dtype)}


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
            ours = run_jitted(
                muon(0.01, muon_weight_dimension_numbers=_DIMS, **kwargs), params, grads
            )
            dims = _to_optax_dims(_DIMS)
            tx = optax.contrib.muon(0.01, muon_weight_dimension_numbers=dims, **kwargs)
            assert_run_close(ours, run_jitted(tx, params, grads), params, rtol)


def test_muon_routes_matrices_to_newton_schulz_and_the_rest_to_nadamw():
    params = _params(jnp.float32)
    grads = gradient_stream(params, 1)
    (u, _), (u_adam, _) = [
        run_jitted(tx, params, grads)[0] for tx in (muon(1.0), gradtx.nadam(1.0))
    ]
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
    ours = run_jitted(muon(0.01, muon_weight_dimension_numbers=fn), params, grads)
    assert_run_close(ours, run_jitted(muon(0.01), params, grads), params, 1e-6)


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
