"""The protocol: interop with Optax and Flax, chains, the gradient keyword, apply_updates."""

from __future__ import annotations

import inspect

import cases
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import assert_trees_close, gradient_stream, nested_params, precision

import gradtx
import gradtx.optimizers as optimizers_module


def test_every_public_optimizer_is_registered_and_tested():
    public = {
        name
        for name, obj in vars(optimizers_module).items()
        if not name.startswith("_") and inspect.isfunction(obj) and name not in ("optimizer",)
    }
    missing = {f"{n} (gradtx/optimizers/_{i.family}.py)" for n, i in gradtx.OPTIMIZERS.items()}
    missing = {m for m in missing if m.split()[0] not in public}
    assert not missing, f"registered but not in its module's __all__: {sorted(missing)}"
    assert public == set(gradtx.OPTIMIZERS), public ^ set(gradtx.OPTIMIZERS)
    untested = set(gradtx.OPTIMIZERS) - {c.name for c in cases.CASES}
    assert not untested, f"no row in tests/cases/<family>.py: {sorted(untested)}"
    assert {c.name for c in cases.CASES} == set(gradtx.OPTIMIZERS)
    for name in gradtx.OPTIMIZERS:
        assert getattr(gradtx, name) is gradtx.OPTIMIZERS[name].factory
        assert name in gradtx.__all__


def test_every_case_is_in_the_module_of_its_family():
    """``tests/cases/<family>.py`` holds the cases of ``gradtx/optimizers/_<family>.py``."""
    families = {info.family for info in gradtx.OPTIMIZERS.values()}
    assert set(cases.FAMILIES) == families, set(cases.FAMILIES) ^ families
    for family, module in cases.MODULES.items():
        for case in module.CASES:
            assert case.family == family, f"{case.id} is in cases/{family}.py"


def test_public_names_have_docstrings_with_math_and_example():
    for name in gradtx.__all__:
        obj = getattr(gradtx, name)
        if inspect.isfunction(obj) and not name.startswith(("get_", "set_")):
            doc = obj.__doc__ or ""
            assert ">>>" in doc, f"{name} has no example"
            if name in gradtx.OPTIMIZERS or name.startswith("scale_by"):
                assert "$$" in doc, f"{name} has no math"
            if name in gradtx.OPTIMIZERS:
                assert "References" in doc, f"{name} has no reference"


def _run(tx, params, grads, apply=gradtx.apply_updates):
    state = tx.init(params)
    for g in grads:
        u, state = tx.update(g, state, params)
        params = apply(params, u)
    return params


def test_gradtx_member_in_optax_chain_and_optax_member_in_gradtx_chain():
    with precision("float64"):
        params = nested_params(jnp.float64, with_none=False)
        grads = gradient_stream(params, 20)
        reference = _run(
            optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-2)), params, grads
        )
        mixed_a = optax.chain(gradtx.clip_by_global_norm(1.0), gradtx.adam(1e-2))
        mixed_b = gradtx.chain(optax.clip_by_global_norm(1.0), gradtx.adam(1e-2))
        mixed_c = gradtx.chain(gradtx.clip_by_global_norm(1.0), optax.adam(1e-2))
        for tx in (mixed_a, mixed_b, mixed_c):
            assert_trees_close(_run(tx, params, grads), reference, 1e-12)
        # optax.apply_updates on gradtx updates
        assert_trees_close(
            _run(gradtx.adam(1e-2), params, grads, optax.apply_updates),
            _run(optax.adam(1e-2), params, grads),
            1e-12,
        )


def test_foreign_transform_without_extra_args_in_chain():
    plain = optax.GradientTransformation(lambda p: optax.EmptyState(), lambda u, s, p=None: (u, s))
    tx = gradtx.chain(plain, gradtx.scale(2.0))
    u, _ = tx.update(jnp.ones(2), tx.init(jnp.ones(2)), value=1.0)
    np.testing.assert_array_equal(u, 2 * jnp.ones(2))


def test_flax_nnx_optimizer_trains_with_gradtx():
    nnx = pytest.importorskip("flax.nnx")
    model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
    opt = nnx.Optimizer(model, gradtx.adam(1e-2), wrt=nnx.Param)
    x, y = jnp.ones((8, 3)), jnp.zeros((8, 2))

    def loss_fn(m):
        return jnp.mean((m(x) - y) ** 2)

    start = float(loss_fn(model))

    @nnx.jit
    def step(model, opt):
        loss, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        return loss

    for _ in range(50):
        step(model, opt)
    assert float(loss_fn(model)) < 0.5 * start
    hp = gradtx.get_hyperparams(nnx.as_pure(opt.opt_state))
    assert float(hp["learning_rate"]) == pytest.approx(1e-2)


def test_chain_hands_the_chain_input_as_gradient():
    seen = {}

    def spy(updates, state, params=None, *, gradient=None, **extra):
        seen["gradient"], seen["updates"] = gradient, updates
        return updates, state

    spy_tx = gradtx.GradientTransformation(lambda p: gradtx.EmptyState(), spy)
    tx = gradtx.chain(gradtx.scale(3.0), spy_tx)
    tx.update(jnp.ones(2), tx.init(jnp.ones(2)))
    np.testing.assert_array_equal(seen["gradient"], jnp.ones(2))
    np.testing.assert_array_equal(seen["updates"], 3 * jnp.ones(2))


def test_nested_chain_starts_a_new_gradient():
    """Adam after a clip sees the clipped gradient, as in Optax."""
    with precision("float64"):
        p = {"w": jnp.zeros(2)}
        ours = gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.scale_by_adam())
        theirs = optax.chain(optax.clip_by_global_norm(1.0), optax.scale_by_adam())
        s1, s2 = ours.init(p), theirs.init(p)
        for t in range(5):
            g = {"w": jnp.array([30.0, -40.0 + 50 * t])}
            u1, s1 = ours.update(g, s1, p)
            u2, s2 = theirs.update(g, s2, p)
            assert_trees_close(u1, u2, 1e-12)


def test_named_chain_and_bad_members():
    tx = gradtx.named_chain(("clip", gradtx.clip(1.0)), ("sgd", gradtx.sgd(0.1)))
    state = tx.init(jnp.zeros(2))
    assert set(state) == {"clip", "sgd"}
    u, _ = tx.update(jnp.array([5.0, -5.0]), state)
    np.testing.assert_allclose(u, [-0.1, 0.1], rtol=1e-6)
    with pytest.raises(ValueError, match="unique"):
        gradtx.named_chain(("a", gradtx.identity()), ("a", gradtx.identity()))
    with pytest.raises(TypeError, match="chain member 1"):
        gradtx.chain(gradtx.identity(), "adam")


def test_apply_updates_casts_and_passes_none():
    params = {"a": jnp.ones(2, jnp.bfloat16), "b": None, "c": jnp.ones(1, jnp.float16)}
    updates = {"a": jnp.full(2, 0.5, jnp.float32), "b": None, "c": None}
    new = gradtx.apply_updates(params, updates)
    assert new["a"].dtype == jnp.bfloat16 and new["b"] is None
    np.testing.assert_array_equal(new["c"], params["c"])


def test_identity_set_to_zero_stateless():
    x = {"a": jnp.arange(3.0)}
    assert_trees_close(gradtx.identity().update(x, None)[0], x, 0.0)
    assert float(jnp.sum(gradtx.set_to_zero().update(x, None)[0]["a"])) == 0.0
    double = gradtx.stateless(lambda u, p: jax.tree.map(lambda t: 2 * t, u))
    np.testing.assert_array_equal(double.update(x, double.init(x))[0]["a"], 2 * x["a"])


def test_counts_saturate_instead_of_wrapping():
    tx = gradtx.adam(1e-3)
    params = {"w": jnp.ones(2)}
    state = tx.init(params)
    big = jnp.iinfo(jnp.int32).max
    state = jax.tree.map(lambda x: jnp.full_like(x, big) if x.dtype == jnp.int32 else x, state)
    u, state = tx.update({"w": jnp.ones(2)}, state, params)
    counts = [x for x in jax.tree.leaves(state) if x.dtype == jnp.int32]
    assert counts and all(int(c) == big for c in counts)
    assert bool(jnp.all(jnp.isfinite(u["w"])))


def test_weight_decay_mask_may_be_a_prefix_or_a_function():
    params = {"enc": {"w": jnp.ones(2), "b": jnp.ones(1)}, "dec": jnp.ones(3)}
    zeros = jax.tree.map(jnp.zeros_like, params)
    for mask in (
        {"enc": True, "dec": False},
        lambda p: {"enc": {"w": True, "b": True}, "dec": False},
    ):
        tx = gradtx.add_decayed_weights(0.5, mask=mask)
        u, _ = tx.update(zeros, tx.init(params), params)
        assert u["enc"]["w"].tolist() == [0.5, 0.5] and u["enc"]["b"].tolist() == [0.5]
        assert u["dec"].tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="neither that of `params` nor a prefix"):
        tx = gradtx.add_decayed_weights(0.5, mask={"enc": True, "oops": False})
        tx.update(zeros, tx.init(params), params)
