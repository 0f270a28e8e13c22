"""Memory: state_bytes, nu_dtype, block-wise quantized state, stochastic rounding."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from gradtx._quantization import dequantize, dynamic_map, quantize
from gradtx._rounding import stochastic_round

SDS = jax.ShapeDtypeStruct


# ---------------------------------------------------------------------------------------
# state_bytes


def test_state_bytes_matches_hand_counts_without_allocating():
    params = {"w": SDS((1000, 1000), jnp.float32), "b": SDS((10,), jnp.bfloat16),
              "step": SDS((), jnp.int32)}  # fmt: skip
    report = gradtx.state_bytes(gradtx.adam(1e-3, mu_dtype=jnp.bfloat16), params)
    inner = report.per_leaf.inner_state[0]
    assert inner[0].ema == {"w": 2_000_000, "b": 20, "step": None}  # bfloat16 m
    assert inner[1].nu == {"w": 4_000_000, "b": 20, "step": None}  # nu in the param dtype
    # 4 int32 counts (inject, ema, rms, lr) and 5 float32 hyperparameters
    assert report.total == 2_000_020 + 4_000_020 + 4 * 4 + 5 * 4
    assert report.num_params == 1_000_010
    assert report.bytes_per_param == pytest.approx(report.total / 1_000_010)
    huge = {"w": SDS((100_000, 100_000), jnp.float32)}  # 40 GB if it were allocated
    assert gradtx.state_bytes(gradtx.sgd(0.1, momentum=0.9), huge).bytes_per_param > 4


def test_state_bytes_of_quantized_adam_below_2_1_bytes_per_parameter():
    params = {"w": SDS((1024, 1024), jnp.float32), "b": SDS((1024,), jnp.float32)}
    report = gradtx.state_bytes(gradtx.quantize_state(gradtx.adam(1e-3)), params)
    blocks = 1024 * 1024 // 256
    codes = report.per_leaf.inner_state.inner_state[0][0].ema["w"]
    assert codes.codes == blocks * 256 and codes.scale == blocks * 4
    assert report.per_leaf.inner_state.inner_state[0][0].ema["b"] == 4096  # below min_size
    assert report.bytes_per_param <= 2.1
    four = gradtx.state_bytes(gradtx.quantize_state(gradtx.adam(1e-3), bits=4), params)
    assert four.bytes_per_param <= 1.1


# ---------------------------------------------------------------------------------------
# nu_dtype


@pytest.mark.parametrize("name", ["adam", "adamw", "nadam", "amsgrad", "adamax", "adabelief",
                                  "yogi", "radam", "lamb", "rmsprop", "adagrad", "ademamix",
                                  "simplified_ademamix", "schedule_free_adamw"])  # fmt: skip
def test_nu_dtype_stores_the_second_moment_in_that_dtype(name):
    make = gradtx.OPTIMIZERS[name].factory
    params = {"w": jnp.ones((3, 4))}
    tx = make(learning_rate=1e-2, nu_dtype=jnp.bfloat16)
    state = tx.init(params)
    grads = {"w": jnp.linspace(-1, 1, 12).reshape(3, 4)}
    for _ in range(2):
        _, state = tx.update(grads, state, params)
    flat = jax.tree_util.tree_flatten_with_path(state)[0]
    second = [x for k, x in flat if any(getattr(p, "name", "") in ("nu", "nu_max",
              "sum_of_squares") for p in k)]  # fmt: skip
    assert second and all(x.dtype == jnp.bfloat16 for x in second)
    base = make(learning_rate=1e-2)
    paths = lambda t: [k for k, _ in jax.tree_util.tree_flatten_with_path(t)[0]]
    assert paths(base.init(params)) == paths(state)  # same fields, whatever the flag


def test_nu_dtype_rounds_once_on_store_and_none_is_unchanged():
    params, g = jnp.zeros(8), jnp.linspace(0.1, 3.0, 8)
    ref, low = gradtx.scale_by_adam(), gradtx.scale_by_adam(nu_dtype=jnp.bfloat16)
    s_ref, s_low = ref.init(params), low.init(params)
    u_ref, s_ref = ref.update(g, s_ref)
    u_low, s_low = low.update(g, s_low)
    np.testing.assert_array_equal(u_low, u_ref)  # this step uses the float32 value
    np.testing.assert_array_equal(s_low[1].nu, s_ref[1].nu.astype(jnp.bfloat16))
    same, default = gradtx.adam(1e-2, nu_dtype=None), gradtx.adam(1e-2)
    u1, _ = same.update(g, same.init(params))
    np.testing.assert_array_equal(u1, default.update(g, default.init(params))[0])


# Floating state buffers that need not follow ``mu_dtype``/``nu_dtype``, by optimizer: not
# moments (iterates, copies of the parameters or of the previous gradient, step sizes,
# gains, caches) or statistics whose precision the method needs (matrix preconditioners).
# Anything else with an axis in a state must be stored in bfloat16 when every dtype
# argument of the optimizer is bfloat16, so that a new optimizer cannot forget one.
NOT_MOMENTS = {
    "adan": {"previous"},
    "asgd": {"average"},
    "bold_driver": {"update"},
    "cocob": {"cumulative_gradients", "init_particles", "reward", "scale", "subgradients"},
    "delta_bar_delta": {"gains", "reference"},
    "local_gains": {"gains", "reference"},
    "dog": {"init_params"},
    "dowg": {"init_params"},
    "galore": {"projector"},
    "madgrad": {"x0"},
    "mechanize": {"x0", "r", "m", "v", "s"},  # its own statistics are one per beta
    "optimistic_adam": {"previous"},
    "optimistic_adam_v2": {"previous"},
    "optimistic_gradient_descent": {"previous"},
    "prodigy": {"params0"},
    "rprop": {"prev_updates", "step_sizes"},
    "sam": {"cache"},
    "shampoo": {"stats", "roots", "inverse_roots"},
    "soap": {"stats", "basis"},
    "psgd_kron": {"qs"},
    "schedule_free_adamw": {"z"},
    "schedule_free_sgd": {"z"},
    "vsgd": {"mean", "tau"},
}
# Wrappers of a base optimizer: the base's dtype arguments set the moments' dtypes.
BF16 = jnp.bfloat16
WRAPPED = {
    "galore": {"base_optimizer": gradtx.scale_by_adam(mu_dtype=BF16, nu_dtype=BF16)},
    "mechanize": {"base_optimizer": gradtx.adam(1.0, mu_dtype=BF16, nu_dtype=BF16)},
    "sam": {"optimizer": gradtx.sgd(0.1, momentum=0.9, accumulator_dtype=BF16)},
}
DTYPE_ARGS = ("mu_dtype", "nu_dtype", "accumulator_dtype", "dtype_momentum")


def _dtype_args(info) -> list[str]:
    import inspect

    return [a for a in DTYPE_ARGS if a in inspect.signature(info.factory).parameters]


def _fields(path) -> set[str]:
    return {k.name for k in path if isinstance(k, jax.tree_util.GetAttrKey)}


@pytest.mark.parametrize("name", sorted(gradtx.OPTIMIZERS))
def test_every_optimizer_stores_its_moments_in_the_dtype_asked(name):
    info = gradtx.OPTIMIZERS[name]
    params = {"w": jnp.ones((4, 6)), "b": jnp.full(6, 0.5)}
    grads = {"w": jnp.linspace(-1, 1, 24).reshape(4, 6), "b": jnp.linspace(0.1, 1, 6)}
    args = _dtype_args(info)
    wrapped = WRAPPED.get(name, {})
    tx = info.factory(**{**info.example, **wrapped}, **dict.fromkeys(args, BF16))
    state = tx.init(params)
    extra = {"value": jnp.float32(1.0), "value_fn": lambda p: 1.0} if info.needs_value else {}
    if info.per_example:  # a batch of two per-example gradients
        grads = jax.tree.map(lambda g: jnp.stack([g, -g]), grads)
    for _ in range(2):
        _, state = tx.update(grads, state, params, **extra)
    exempt = NOT_MOMENTS.get(name, set())
    leaves = jax.tree_util.tree_flatten_with_path(state)[0]
    moments = [(jax.tree_util.keystr(k), x.dtype) for k, x in leaves
               if jnp.issubdtype(x.dtype, jnp.floating) and x.ndim > 0
               and not _fields(k) & exempt]  # fmt: skip
    if moments:
        assert args or wrapped, f"{name} keeps moments {moments} but takes none of {DTYPE_ARGS}"
    wrong = [(k, str(d)) for k, d in moments if d != jnp.bfloat16]
    assert not wrong, f"{name}({', '.join(a + '=bfloat16' for a in args)}) stores {wrong}"
    for k, x in leaves:  # the exempt buffers keep the parameters' dtype
        if _fields(k) & exempt and jnp.issubdtype(x.dtype, jnp.floating):
            assert x.dtype == jnp.float32, (k, x.dtype)
    base = info.factory(**info.example).init(params)
    paths = lambda t: [k for k, _ in jax.tree_util.tree_flatten_with_path(t)[0]]
    assert paths(base) == paths(state)  # same fields, whatever the dtypes


# ---------------------------------------------------------------------------------------
# block-wise quantization


@pytest.mark.parametrize("bits, signed", [(8, True), (8, False), (4, True), (4, False)])
def test_quantization_is_nearest_and_within_half_a_gap_per_block(bits, signed):
    rng = np.random.default_rng(0)
    n = 64 * 37 + 5  # a padded last block
    x = rng.standard_normal(n) * np.exp(rng.uniform(-20, 0, n))
    x[::97] = 0.0
    x = np.abs(x) if not signed else x
    x = x.astype(np.float32)
    q = quantize(jnp.asarray(x), bits, 64, signed)
    d = np.asarray(dequantize(q))
    pad = np.pad(x, (0, (-n) % 64)).reshape(-1, 64)
    scale = np.abs(pad).max(axis=1, keepdims=True)
    np.testing.assert_array_equal(np.asarray(q.scale), scale[:, 0])
    table = np.unique(dynamic_map(bits, signed))
    a = pad / scale
    nearest = table[np.abs(a[..., None] - table).argmin(-1)] * scale
    err = np.abs(np.pad(d, (0, (-n) % 64)).reshape(-1, 64) - pad)
    assert np.all(err <= np.abs(nearest - pad) * (1 + 1e-6) + 1e-30)  # the nearest value
    assert np.all(err <= scale * np.diff(table).max() / 2 * (1 + 1e-6))  # half the widest gap
    big = np.abs(pad) == scale
    np.testing.assert_array_equal(np.pad(d, (0, (-n) % 64)).reshape(-1, 64)[big], pad[big])
    assert d.shape == x.shape and d.dtype == np.float32


def test_quantization_zero_blocks_non_finite_and_unsigned_floor():
    z = dequantize(quantize(jnp.zeros(300), 8, 256, signed=False))
    np.testing.assert_array_equal(z, 0.0)
    tiny = dequantize(quantize(jnp.array([1.0, 1e-12]), 8, 2, signed=False))
    assert float(tiny[1]) > 0  # a positive second moment never becomes 0
    nan = dequantize(quantize(jnp.array([1.0, jnp.nan, 2.0, 3.0]), 8, 2, signed=True))
    assert np.isnan(nan[:2]).all() and np.isfinite(nan[2:]).all()


def _train(tx, steps, seed=0, n=64):
    key = jax.random.key(seed)
    x = jax.random.normal(key, (256, n))
    y = jnp.tanh(x @ jax.random.normal(jax.random.fold_in(key, 1), (n, n)))
    loss = lambda p: jnp.mean((jnp.tanh(x @ p["w1"]) @ p["w2"] - y) ** 2)
    params = {"w1": 0.1 * jax.random.normal(jax.random.fold_in(key, 2), (n, n)),
              "w2": jnp.zeros((n, n))}  # fmt: skip

    @jax.jit
    def step(carry, _):
        p, s = carry
        value, g = jax.value_and_grad(loss)(p)
        u, s = tx.update(g, s, p)
        return (gradtx.apply_updates(p, u), s), value

    (params, state), losses = jax.lax.scan(step, (params, tx.init(params)), None, steps)
    return params, state, np.asarray(losses)


def test_quantized_adam_trains_like_float32_adam():
    _, _, ref = _train(gradtx.adam(3e-3), 400)
    _, state, q8 = _train(gradtx.quantize_state(gradtx.adam(3e-3), min_size=1024), 400)
    _, _, q4 = _train(gradtx.quantize_state(gradtx.adam(3e-3), bits=4, min_size=1024), 400)
    assert np.isfinite(q8).all() and np.isfinite(q4).all()
    assert q8[-1] < 0.2 * q8[0] and q4[-1] < 0.2 * q4[0]
    assert abs(q8[-1] - ref[-1]) <= 0.03 * ref[-1]
    moments = state.inner_state.inner_state[0]
    assert moments[0].ema["w1"].codes.dtype == jnp.uint8  # stored quantized
    assert moments[1].nu["w1"].signed is False and moments[0].ema["w1"].signed is True


@pytest.mark.parametrize("make", [lambda: optax.adam(1e-2), lambda: gradtx.lion(1e-3),
                                  lambda: gradtx.adafactor(1e-2, min_dim_size_to_factor=8),
                                  lambda: gradtx.sgd(0.1, momentum=0.9)])  # fmt: skip
def test_quantize_state_default_rule_covers_other_families(make):
    params = {"w": jnp.zeros((64, 64))}
    tx = gradtx.quantize_state(make(), min_size=64)
    state = tx.init(params)
    leaves = jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, gradtx.QuantizedArray))
    assert any(isinstance(x, gradtx.QuantizedArray) for x in leaves)
    g = {"w": jnp.ones((64, 64))}
    u, state = jax.jit(tx.update)(g, state, params)
    assert np.isfinite(u["w"]).all()


def test_quantize_state_resumes_bit_exactly_from_a_checkpoint(tmp_path):
    params = {"w": jnp.zeros((40, 100))}
    tx = gradtx.quantize_state(gradtx.adamw(1e-2), bits=4, block_size=64, min_size=1)
    step = jax.jit(tx.update)
    grads = [{"w": jax.random.normal(jax.random.key(i), (40, 100))} for i in range(6)]
    state = tx.init(params)
    for g in grads[:3]:
        _, state = step(g, state, params)
    gradtx.checkpoint.save(tmp_path / "q.npz", state)
    restored = gradtx.checkpoint.load(tmp_path / "q.npz", jax.eval_shape(tx.init, params))
    for g in grads[3:]:
        u1, state = step(g, state, params)
        u2, restored = step(g, restored, params)
        np.testing.assert_array_equal(u1["w"], u2["w"])
    same = jax.tree.map(lambda a, b: a.dtype == b.dtype and bool((a == b).all()), state, restored)
    assert all(jax.tree.leaves(same))


def test_quantize_state_custom_rule_and_hyperparameters():
    params = {"w": jnp.zeros(4096)}
    only_nu = lambda b: "unsigned" if b.field == "nu" else None
    state = gradtx.quantize_state(gradtx.adam(0.1), rule=only_nu).init(params)
    assert isinstance(state.inner_state.inner_state[0][1].nu["w"], gradtx.QuantizedArray)
    assert not isinstance(state.inner_state.inner_state[0][0].ema["w"], gradtx.QuantizedArray)
    state = gradtx.set_hyperparams(state, learning_rate=0.5)
    assert float(gradtx.get_hyperparams(state)["learning_rate"]) == 0.5


@pytest.mark.parametrize("kwargs, match", [
    ({"bits": 3}, "bits must be 4 or 8, got 3"),
    ({"block_size": 0}, r"block_size must be an integer >= 1, got 0"),
    ({"block_size": 2.5}, "block_size must be an integer"),
    ({"bits": 4, "block_size": 33}, "block_size must be an even integer >= 2 with bits=4"),
    ({"min_size": -1}, "min_size must be an integer >= 0"),
    ({"scale_dtype": jnp.int8}, "scale_dtype must be a floating dtype"),
    ({"scale_dtype": jnp.complex64}, "scale_dtype must be a real floating dtype"),
    ({"rule": "nu"}, "rule must be a function"),
])  # fmt: skip
def test_quantize_state_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gradtx.quantize_state(gradtx.adam(1e-3), **kwargs)


def test_bad_rule_output_and_bad_nu_dtype_raise():
    tx = gradtx.quantize_state(gradtx.adam(1e-3), min_size=1, rule=lambda b: "yes")
    with pytest.raises(ValueError, match="rule returned 'yes'"):
        tx.init(jnp.zeros(4))
    with pytest.raises(ValueError, match="nu_dtype must be a floating dtype"):
        gradtx.adam(1e-3, nu_dtype=jnp.int32)


# ---------------------------------------------------------------------------------------
# stochastic rounding


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_stochastic_rounding_is_unbiased(dtype):
    n = 200_000
    # values between two neighbours of dtype, and float16 subnormals
    x = jnp.asarray([1.0 + 0.3 * 2.0**-7, -3.0 - 0.71 * 2.0**-6, 1e-6, 12345.678], jnp.float32)
    draws = jax.vmap(lambda k: stochastic_round(x, dtype, k))(
        jax.random.split(jax.random.key(1), n)
    ).astype(jnp.float32)
    lo, hi = draws.min(axis=0), draws.max(axis=0)
    spacing = np.asarray(hi - lo)
    assert np.all(spacing > 0)  # both neighbours drawn
    mean = np.asarray(draws.mean(axis=0))
    # standard error of a two-point draw is at most spacing / (2 sqrt(n)); allow 5 sigma
    assert np.all(np.abs(mean - np.asarray(x)) <= 5 * spacing / (2 * np.sqrt(n)))
    exact = jnp.asarray([1.0, -2.5, 0.0], jnp.float32)
    same = stochastic_round(exact, dtype, jax.random.key(0))
    np.testing.assert_array_equal(same.astype(jnp.float32), exact)


def test_apply_updates_with_a_rounding_key():
    p = {"w": jnp.ones(4, jnp.bfloat16), "f": jnp.ones(4), "i": jnp.arange(2), "n": None}
    u = {"w": jnp.full(4, 1e-3), "f": jnp.full(4, 1e-3), "i": jnp.zeros(2, jnp.int32),
         "n": None}  # fmt: skip
    out = gradtx.apply_updates(p, u, rounding_key=jax.random.key(0))
    assert jax.tree.map(lambda a: a.dtype, out) == jax.tree.map(lambda a: a.dtype, p)
    np.testing.assert_array_equal(out["f"], gradtx.apply_updates(p, u)["f"])  # float32: as is
    np.testing.assert_array_equal(gradtx.apply_updates(p, u)["w"], p["w"])  # nearest: stuck
    raw = gradtx.apply_updates(p, u, rounding_key=jax.random.PRNGKey(0))  # raw key data
    assert raw["w"].dtype == jnp.bfloat16
    with pytest.raises(ValueError, match="rounding_key must be a JAX random key"):
        gradtx.apply_updates(p, u, rounding_key=3)


def test_stochastic_rounding_does_not_stall_bfloat16_least_squares():
    key = jax.random.key(0)
    a = jax.random.normal(key, (256, 16))
    w_true = 1.2 + 0.1 * jax.random.normal(jax.random.fold_in(key, 1), (16,))
    b = a @ w_true
    loss = lambda w: 0.5 * jnp.mean((a @ w.astype(jnp.float32) - b) ** 2)
    lr = 2e-3  # each update (< 1.5e-3) is below half a bfloat16 spacing in [1, 2) (2**-8)

    def run(dtype, rounded):
        def step(w, k):
            u = jax.tree.map(lambda g: -lr * g, jax.grad(loss)(w))
            return gradtx.apply_updates(w, u, rounding_key=k if rounded else None), None

        keys = jax.random.split(jax.random.key(2), 500)
        w, _ = jax.lax.scan(step, (w_true + 0.5).astype(dtype), keys)
        return float(loss(w))

    f32, nearest, sr = run(jnp.float32, False), run(jnp.bfloat16, False), run(jnp.bfloat16, True)
    start = float(loss(w_true + 0.5))
    assert nearest > 0.9 * start and f32 < 0.5 * start  # to nearest: stalled
    assert abs(sr - f32) <= 0.1 * f32
