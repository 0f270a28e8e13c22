"""Bad input to the breadth optimizers and primitives gets a clear ``ValueError`` naming the
argument; every new public function is documented (summary, math, Args, Returns,
References, example)."""

from __future__ import annotations

import inspect

import jax.numpy as jnp
import pytest
import registry  # noqa: F401 - first: tests/registry.py imports registry_breadth
from registry_breadth import BREADTH_ONE_CASE_PER_OPTIMIZER, FAMILY_REGISTRIES

import gradtx

OPT = {name: info.factory for name, info in gradtx.OPTIMIZERS.items()}

BAD = [
    ("sign_sgd", {"learning_rate": -1.0}, r"learning_rate must be in \[0, inf\)"),
    ("signum", {"learning_rate": 0.1, "beta": 1.0}, r"beta must be in \[0, 1\)"),
    ("signum", {"learning_rate": 0.1, "accumulator_dtype": jnp.int32}, "accumulator_dtype"),
    ("lion", {"learning_rate": 0.1, "b2": 1.5}, r"b2 must be in \[0, 1\)"),
    ("lion", {"learning_rate": 0.1, "weight_decay": -1.0}, "weight_decay must be in"),
    ("adabelief", {"learning_rate": 0.1, "eps_root": -1.0}, "eps_root must be in"),
    ("adabelief", {"learning_rate": 0.1, "nesterov": True}, "nesterov=True is not available"),
    ("yogi", {"learning_rate": 0.1, "eps": -1.0}, r"eps must be in \[0, inf\)"),
    ("radam", {"learning_rate": 0.1, "threshold": float("nan")}, "threshold must be in"),
    ("adan", {"learning_rate": 0.1, "b3": 1.0}, r"b3 must be in \[0, 1\)"),
    ("optimistic_adam", {"learning_rate": 0.1, "b1": -0.5}, r"b1 must be in \[0, 1\)"),
    ("noisy_sgd", {"learning_rate": 0.1, "eta": -0.1}, r"eta must be in \[0, inf\)"),
    ("noisy_sgd", {"learning_rate": 0.1, "key": "seed"}, "key must be an int seed"),
    ("noisy_sgd", {"learning_rate": 0.1, "key": 1, "seed": 2}, "not both"),
    ("polyak_sgd", {"max_learning_rate": -1.0}, "max_learning_rate must be in"),
    ("polyak_sgd", {"variant": "sps++"}, "variant must be one of"),
    ("optimistic_gradient_descent", {"learning_rate": 0.1, "alpha": float("inf")}, "alpha"),
    ("lamb", {"learning_rate": 0.1, "b1": 1.0}, r"b1 must be in \[0, 1\)"),
    ("lars", {"learning_rate": 0.1, "trust_coefficient": 0.0}, "trust_coefficient must be in"),
    ("lars", {"learning_rate": 0.1, "momentum": 1.0}, r"momentum must be in \[0, 1\)"),
    ("fromage", {"learning_rate": 0.1, "min_norm": -1.0}, r"min_norm must be in \[0, inf\)"),
    ("novograd", {"learning_rate": 0.1, "b2": 2.0}, r"b2 must be in \[0, 1\)"),
    ("adafactor", {"clipping_threshold": 0.0}, r"clipping_threshold must be in \(0, inf\)"),
    ("adafactor", {"weight_decay_rate": -0.1}, "weight_decay_rate must be in"),
    ("adafactor", {"min_dim_size_to_factor": 0}, "min_dim_size_to_factor must be"),
    ("adafactor", {"momentum": 1.0}, r"momentum must be in \[0, 1\)"),
    ("sm3", {"learning_rate": 0.1, "momentum": -0.1}, r"momentum must be in \[0, 1\)"),
]


for _family in FAMILY_REGISTRIES:
    BAD += _family.BAD


@pytest.mark.parametrize(
    "name, kwargs, match", BAD, ids=[f"{n}-{sorted(k)[-1]}" for n, k, _ in BAD]
)
def test_bad_hyperparameters_raise_clear_value_errors(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        OPT[name](**kwargs)


PRIMITIVES = [
    gradtx.interpolated_ema,
    gradtx.scale_by_lion,
    gradtx.scale_by_belief_rms,
    gradtx.scale_by_additive_rms,
    gradtx.scale_by_rectified_rms,
    gradtx.scale_by_optimistic_gradient,
    gradtx.scale_by_difference_moments,
    gradtx.scale_by_belief,
    gradtx.scale_by_yogi,
    gradtx.scale_by_radam,
    gradtx.scale_by_adan,
    gradtx.add_noise,
    gradtx.scale_by_polyak,
    gradtx.scale_by_trust_ratio,
    gradtx.scale_by_layerwise_rms,
    gradtx.scale_by_factored_rms,
    gradtx.scale_by_param_block_rms,
    gradtx.scale_by_cover_rss,
]

BAD_PRIMITIVES = [
    (gradtx.interpolated_ema, {"b1": 1.0}, r"b1 must be in \[0, 1\)"),
    (gradtx.scale_by_belief_rms, {"source": "grad"}, "source must be one of"),
    (gradtx.scale_by_additive_rms, {"initial_accumulator_value": -1.0}, "initial_acc"),
    (gradtx.scale_by_rectified_rms, {"decay": 1.0}, r"decay must be in \[0, 1\)"),
    (gradtx.scale_by_difference_moments, {"eps": -1.0}, "eps must be in"),
    (gradtx.add_noise, {"eta": 0.1, "gamma": -1.0}, r"gamma must be in \[0, inf\)"),
    (gradtx.scale_by_layerwise_rms, {"eps_root": -1.0}, "eps_root must be in"),
    (gradtx.scale_by_factored_rms, {"epsilon": -1.0}, "epsilon must be in"),
    (gradtx.scale_by_param_block_rms, {"min_scale": -1.0}, "min_scale must be in"),
    (gradtx.scale_by_cover_rss, {"decay": 1.5}, r"decay must be in \[0, 1\]"),
]


for _family in FAMILY_REGISTRIES:
    PRIMITIVES += _family.PRIMITIVES
    BAD_PRIMITIVES += _family.BAD_PRIMITIVES


@pytest.mark.parametrize(
    "fn, kwargs, match", BAD_PRIMITIVES, ids=lambda x: getattr(x, "__name__", "")
)
def test_bad_primitive_arguments_raise_clear_value_errors(fn, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fn(**kwargs)


def test_missing_params_or_value_say_what_is_needed():
    g = {"w": jnp.ones(2)}
    tx = OPT["polyak_sgd"]()
    with pytest.raises(ValueError, match="value=loss_value"):
        tx.update(g, tx.init(g), g)
    for name in ("lamb", "lars", "fromage", "novograd", "adafactor"):
        tx = OPT[name](learning_rate=0.1)
        with pytest.raises(ValueError, match="needs `params`"):
            tx.update(g, tx.init(g))


@pytest.mark.parametrize(
    "fn",
    [OPT[c.name] for c in BREADTH_ONE_CASE_PER_OPTIMIZER] + PRIMITIVES,
    ids=lambda fn: fn.__name__,
)
def test_public_functions_are_documented(fn):
    doc = inspect.getdoc(fn) or ""
    summary = doc.split("\n")[0]
    assert summary.endswith(".") and len(summary) <= 100, summary
    for part in ("$$", "Args:", "Returns:", "References:", ">>>"):
        assert part in doc, f"{fn.__name__}: no {part!r}"
