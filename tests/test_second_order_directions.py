"""Search directions against dense NumPy references: L-BFGS (two-loop = dense BFGS), BFGS,
nonlinear CG (linear CG on a quadratic, PR+ restarts), damped Newton (modified Cholesky)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import precision

import gradtx
from gradtx.second_order import (
    cg_beta,
    damped_newton_solve,
    scale_by_bfgs,
    scale_by_lbfgs,
    scale_by_newton,
    scale_by_nonlinear_cg,
)


def _spd(n, cond, seed):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return (q * np.logspace(0, np.log10(cond), n)) @ q.T, rng.normal(size=n)


def _dense_bfgs(pairs, g):
    """H g with H built from gamma I by the BFGS update, oldest pair first."""
    s, y = pairs[-1]
    n = len(g)
    h = (s @ y) / (y @ y) * np.eye(n)
    for s, y in pairs:
        rho = 1.0 / (s @ y)
        v = np.eye(n) - rho * np.outer(y, s)
        h = v.T @ h @ v + rho * np.outer(s, s)
    return h @ g


def test_lbfgs_two_loop_equals_dense_bfgs_on_its_pairs():
    # 7 steps with memory 3: the ring buffer wraps, only the last 3 pairs count.
    with precision("float64"):
        n, m = 6, 3
        rng = np.random.default_rng(0)
        a, _ = _spd(n, 50.0, 1)
        tx = scale_by_lbfgs(memory_size=m)
        update = jax.jit(tx.update)
        xs = [rng.normal(size=n) for _ in range(7)]
        state = tx.init(jnp.zeros(n))
        for k, x in enumerate(xs):
            u, state = update(jnp.asarray(a @ x), state, jnp.asarray(x))
            if k >= 1:
                pairs = [(xs[i + 1] - xs[i], a @ (xs[i + 1] - xs[i])) for i in range(k)][-m:]
                np.testing.assert_allclose(u, _dense_bfgs(pairs, a @ x), rtol=1e-10)
        assert int(state.size) == m


def _bfgs_directions(xs, gs, scaled):
    """BFGS's H_k g_k at each (x_k, g_k) and the number of pairs used, from Nocedal & Wright's
    Algorithm 6.1: H_0 = I, or (scaled) a unit first step and H_0 = (s'y / y'y) I just before
    the first update (eq. 6.20); a pair with s'y <= eps |s| |y| is skipped."""
    n = len(xs[0])
    h, pairs, out = np.eye(n), 0, []
    for k, g in enumerate(gs):
        if k:
            s, y = xs[k] - xs[k - 1], g - gs[k - 1]
            if s @ y > np.finfo(float).eps * np.linalg.norm(s) * np.linalg.norm(y):
                if scaled and pairs == 0:
                    h = (s @ y) / (y @ y) * np.eye(n)
                rho = 1.0 / (s @ y)
                v = np.eye(n) - rho * np.outer(y, s)
                h = v.T @ h @ v + rho * np.outer(s, s)
                pairs += 1
        out.append(g / np.linalg.norm(g) if scaled and pairs == 0 else h @ g)
    return out, pairs


@pytest.mark.parametrize("scaled", [True, False])
def test_bfgs_matches_the_dense_reference_on_a_pytree(scaled):
    # A quadratic f = x'Ax/2 on {"w": (2, 2), "b": (3,)} plus an integer leaf, fixed steps of
    # 0.3 along -H g (no line search), 8 updates; at update 4 the gradient is replaced by one
    # with y = -2 A s, so that pair has s'y < 0 and must be skipped.
    with precision("float64"):
        n = 7
        a, _ = _spd(n, 30.0, 4)
        tx = scale_by_bfgs(scale_init_precond=scaled)
        update = jax.jit(tx.update)
        to_tree = lambda v: {"w": jnp.asarray(v[:4].reshape(2, 2)), "b": jnp.asarray(v[4:]),
                             "n": jnp.asarray(5, jnp.int32)}  # fmt: skip
        x = np.linspace(-1.0, 1.0, n)
        state = tx.init(to_tree(x))
        xs, gs, got = [], [], []
        for k in range(8):
            g = a @ x if k != 4 else gs[-1] - 2 * a @ (x - xs[-1])
            u, state = update(to_tree(g), state, to_tree(x))
            assert u["n"].dtype == jnp.int32 and int(u["n"]) == 5  # passes through
            xs.append(x), gs.append(g)
            got.append(np.concatenate([np.ravel(u["w"]), np.ravel(u["b"])]))
            x = x - 0.3 * got[-1]
        want, pairs = _bfgs_directions(xs, gs, scaled)
        for k, (u, w) in enumerate(zip(got, want)):
            np.testing.assert_allclose(u, w, rtol=1e-10, atol=1e-14, err_msg=f"update {k}")
        assert pairs < 7 and int(state.pairs) == pairs  # the pair (3, 4) was skipped
        assert state.inverse_hessian.shape == (n, n)


def test_lbfgs_skips_pairs_without_positive_curvature_and_works_on_pytrees():
    with precision("float64"):
        tx = scale_by_lbfgs(memory_size=4)
        p0 = {"w": jnp.array([1.0, 2.0]), "n": jnp.asarray(3, jnp.int32)}
        g0 = {"w": jnp.array([1.0, 1.0]), "n": jnp.asarray(0, jnp.int32)}
        u, s = tx.update(g0, tx.init(p0), p0)
        np.testing.assert_allclose(u["w"], g0["w"] / np.sqrt(2))  # unit first step
        assert u["n"].dtype == jnp.int32  # an integer leaf passes through untrained
        p1 = {"w": jnp.array([0.0, 2.0]), "n": p0["n"]}
        g1 = {"w": jnp.array([2.0, 1.0]), "n": g0["n"]}  # s.y = -1 < 0: skipped
        _, s = tx.update(g1, s, p1)
        assert int(s.size) == 0
        g2 = {"w": jnp.array([3.0, 1.0]), "n": g0["n"]}
        p2 = {"w": jnp.array([-1.0, 2.0]), "n": p0["n"]}  # s.y = -1 again: skipped
        _, s = tx.update(g2, s, p2)
        assert int(s.size) == 0
        # A pair at the eps guard: s orthogonal to y to round-off.
        p3 = {"w": jnp.array([-1.0, 2.0 + 1e-8]), "n": p0["n"]}
        g3 = {"w": jnp.array([3.0 + 1e-8, 1.0]), "n": g0["n"]}
        _, s = tx.update(g3, s, p3)
        assert int(s.size) == 0


@pytest.mark.parametrize(
    "variant", ["polak_ribiere", "fletcher_reeves", "hestenes_stiefel", "dai_yuan"]
)
def test_cg_with_exact_line_search_solves_a_quadratic_in_n_steps(variant):
    with precision("float64"):
        n = 8
        a, b = _spd(n, 100.0, 2)
        a, b = jnp.asarray(a), jnp.asarray(b)
        tx = scale_by_nonlinear_cg(variant)
        x, state = jnp.zeros(n), tx.init(jnp.zeros(n))
        for _ in range(n):  # n steps at most
            g = a @ x - b
            if float(jnp.linalg.norm(g)) <= 1e-10 * float(jnp.linalg.norm(b)):
                break
            p, state = tx.update(g, state, x)
            x = x - (g @ p) / (p @ a @ p) * p  # the exact line minimizer along -p
        np.testing.assert_allclose(a @ x, b, atol=1e-9)
        assert int(state.count) <= n


def test_polak_ribiere_plus_restarts_when_beta_is_negative():
    with precision("float64"):
        g_prev, g = jnp.array([1.0, 0.0]), jnp.array([0.5, 0.1])  # g.(g - g_prev) < 0
        assert float(cg_beta("polak_ribiere", g, g_prev, g_prev)) == 0.0
        tx = scale_by_nonlinear_cg("polak_ribiere")
        _, state = tx.update(g_prev, tx.init(g), g)
        p, state = tx.update(g, state, g)
        np.testing.assert_array_equal(p, g)
        assert bool(state.restarted) and float(state.beta) == 0.0
        # Without the "+", beta < 0 would have been used.
        y = g - g_prev
        assert float(g @ y / (g_prev @ g_prev)) < 0


def test_cg_restarts_when_the_direction_does_not_descend():
    with precision("float64"):
        # Hestenes-Stiefel with a previous direction that makes p = g + beta p_prev = 0.
        tx = scale_by_nonlinear_cg("hestenes_stiefel")
        _, state = tx.update(jnp.array([1.0, 0.0]), tx.init(jnp.zeros(2)), None)
        state = state._replace(direction=jnp.array([-1.0, 0.0]))
        g = jnp.array([0.5, 0.0])
        assert float(cg_beta("hestenes_stiefel", g, state.grad, state.direction)) == 0.5
        p, state = tx.update(g, state, None)
        np.testing.assert_array_equal(p, g)
        assert bool(state.restarted)


def test_cg_guards_use_no_absolute_clamp():
    # Gradients of order 1e-5: an absolute clamp of ||g||^2 at 1e-6 would shrink beta 1e4-fold.
    with precision("float64"):
        g_prev, g, p = jnp.array([2e-5, 0.0]), jnp.array([1e-5, 1e-5]), jnp.array([2e-5, 0.0])
        np.testing.assert_allclose(float(cg_beta("fletcher_reeves", g, g_prev, p)), 0.5)
        assert float(cg_beta("fletcher_reeves", g, jnp.zeros(2), p)) == 0.0  # 0/0 -> restart


def test_damped_newton_solve_on_definite_and_indefinite_hessians():
    with precision("float64"):
        solve = jax.jit(damped_newton_solve)
        a, b = _spd(5, 10.0, 3)
        p, tau = solve(jnp.asarray(a), jnp.asarray(b))
        assert float(tau) == 0.0
        np.testing.assert_allclose(a @ p, b, rtol=1e-10)
        q, _ = np.linalg.qr(np.random.default_rng(4).normal(size=(5, 5)))
        h = (q * np.array([-3.0, -0.5, 1.0, 2.0, 4.0])) @ q.T
        p, tau = solve(jnp.asarray(h), jnp.asarray(b))
        assert float(tau) > 3.0  # H + tau I is positive definite
        np.testing.assert_allclose((h + float(tau) * np.eye(5)) @ p, b, rtol=1e-8)
        assert float(b @ p) > 0  # -p descends: not steepest descent, but curvature-aware
        assert abs(float(b @ p) / (np.linalg.norm(b) * np.linalg.norm(p))) < 0.999


def test_newton_step_from_value_fn_equals_hessian_fn_on_a_pytree():
    with precision("float64"):
        f = lambda p: jnp.sum(jnp.exp(p["a"])) + p["b"] @ p["b"] * p["a"][0] ** 2
        x = {"a": jnp.array([0.3, -0.2]), "b": jnp.array([1.0, 2.0, 0.5])}
        _, unravel = jax.flatten_util.ravel_pytree(x)
        h = jax.hessian(lambda v: f(unravel(v)))
        tx = scale_by_newton()
        g = jax.grad(f)(x)
        u1, s = jax.jit(lambda g, s, x: tx.update(g, s, x, value_fn=f))(g, tx.init(x), x)
        hessian_fn = lambda p: h(jax.flatten_util.ravel_pytree(p)[0])
        u2, _ = jax.jit(lambda g, s, x: tx.update(g, s, x, hessian_fn=hessian_fn))(g, tx.init(x), x)
        for a, b in zip(jax.tree.leaves(u1), jax.tree.leaves(u2)):
            np.testing.assert_allclose(a, b, rtol=1e-12)
        assert int(s.info.num_hessian_evals) == 1
        with pytest.raises(ValueError, match="value_fn=f or hessian_fn"):
            tx.update(g, tx.init(x), x)
        with pytest.raises(ValueError, match="real float leaves"):
            tx.update(
                {"n": jnp.ones(1, jnp.int32)}, tx.init(x), {"n": jnp.ones(1, jnp.int32)}, value_fn=f
            )


def test_direction_factories_validate_arguments():
    with pytest.raises(ValueError, match="variant must be one of"):
        scale_by_nonlinear_cg("polak")
    with pytest.raises(ValueError, match=r"restart_threshold must be in \(0, inf\)"):
        scale_by_nonlinear_cg(restart_threshold=0.0)
    with pytest.raises(ValueError, match="memory_size must be an integer >= 1"):
        scale_by_lbfgs(memory_size=0)
    with pytest.raises(ValueError, match=r"min_damping_rtol must be in \(0, inf\)"):
        scale_by_newton(min_damping_rtol=0.0)


def test_each_direction_trains_in_a_users_own_jitted_loop():
    # Fixed steps, no line search: the transforms are ordinary gradtx members.
    with precision("float32"):
        f = lambda p: jnp.sum((p["w"] - 1.0) ** 2 * jnp.array([1.0, 4.0]))
        for direction, lr in [(scale_by_lbfgs(), 0.5), (scale_by_nonlinear_cg(), 0.05)]:
            tx = gradtx.chain(direction, gradtx.scale_by_learning_rate(lr))
            x = {"w": jnp.zeros(2)}
            state = tx.init(x)

            @jax.jit
            def step(x, state, tx=tx):
                u, state = tx.update(jax.grad(f)(x), state, x)
                return gradtx.apply_updates(x, u), state

            for _ in range(60):
                x, state = step(x, state)
            assert float(f(x)) < 1e-4, direction
