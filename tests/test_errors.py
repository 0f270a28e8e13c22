"""Bad input gets a clear error naming the argument and its range, or the tree path."""

from __future__ import annotations

import jax.numpy as jnp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradtx

BAD = [
    (gradtx.sgd, {"learning_rate": -0.1}, r"learning_rate must be in \[0, inf\)"),
    (gradtx.sgd, {"learning_rate": float("nan")}, "learning_rate must be in"),
    (gradtx.sgd, {"learning_rate": float("inf")}, "learning_rate must be in"),
    (gradtx.sgd, {"learning_rate": 0.1, "momentum": 1.0}, r"momentum must be in \[0, 1\)"),
    (gradtx.sgd, {"learning_rate": 0.1, "nesterov": True}, "nesterov=True needs a momentum"),
    (gradtx.sgd, {"learning_rate": 0.1, "accumulator_dtype": jnp.int32}, "accumulator_dtype"),
    (gradtx.adam, {"learning_rate": 1e-3, "b1": -0.1}, r"b1 must be in \[0, 1\)"),
    (gradtx.adam, {"learning_rate": 1e-3, "b2": 1.0}, r"b2 must be in \[0, 1\)"),
    (gradtx.adam, {"learning_rate": 1e-3, "eps": -1e-8}, r"eps must be in \[0, inf\)"),
    (gradtx.adam, {"learning_rate": 1e-3, "eps_root": -1.0}, "eps_root must be in"),
    (gradtx.adam, {"learning_rate": "0.1"}, "learning_rate must be a real scalar"),
    (gradtx.adam, {"learning_rate": jnp.ones(2)}, "learning_rate must be a real scalar"),
    (gradtx.adamw, {"learning_rate": 1e-3, "weight_decay": -1e-4}, "weight_decay must be in"),
    (gradtx.rmsprop, {"learning_rate": 1e-3, "decay": 1.5}, "decay must be in"),
    (gradtx.rmsprop, {"learning_rate": 1e-3, "nesterov": True}, "nesterov=True needs a momentum"),
    (gradtx.rmsprop, {"learning_rate": 1e-3, "initial_scale": -1.0}, "initial_scale must be in"),
    (
        gradtx.adagrad,
        {"learning_rate": 0.1, "initial_accumulator_value": -1.0},
        "initial_accumulator_value must be in",
    ),
    (gradtx.adadelta, {"rho": 1.0}, r"rho must be in \[0, 1\)"),
    (gradtx.rprop, {"learning_rate": 0.0}, r"learning_rate must be in \(0, inf\)"),
    (gradtx.rprop, {"learning_rate": 0.1, "eta_minus": 1.5}, r"eta_minus must be in \(0, 1\]"),
    (gradtx.rprop, {"learning_rate": 0.1, "eta_plus": 0.5}, "eta_plus must be in"),
    (
        gradtx.rprop,
        {"learning_rate": 0.1, "min_step_size": 2.0, "max_step_size": 1.0},
        "max_step_size must be >= min_step_size",
    ),
    (gradtx.rprop, {"learning_rate": lambda t: 0.1}, "learning_rate must be a fixed number"),
    (gradtx.amsgrad, {"learning_rate": 1e-3, "b1": 2}, "b1 must be in"),
    (gradtx.adamax, {"learning_rate": 1e-3, "b2": -0.5}, "b2 must be in"),
    (gradtx.clip_by_global_norm, {"max_norm": 0.0}, r"max_norm must be in \(0, inf\)"),
    (gradtx.clip, {"max_delta": -1.0}, "max_delta must be in"),
    (gradtx.trace, {"decay": 1.2}, "decay must be in"),
    (gradtx.ema, {"decay": 0.9, "debias": False, "nesterov": True}, "requires debias=True"),
    (gradtx.scale_by_rms, {"source": "grads"}, "source must be one of"),
    (gradtx.sgd, {"learning_rate": lambda t: -0.1}, r"learning_rate \(schedule at step 0\)"),
    (gradtx.sgd, {"learning_rate": lambda: 0.1}, "must be callable as schedule"),
    (gradtx.adam, {"learning_rate": 1e-3, "mu_dtype": "not-a-dtype"}, "mu_dtype"),
]


@pytest.mark.parametrize("factory, kwargs, match", BAD, ids=lambda x: getattr(x, "__name__", ""))
def test_bad_hyperparameters_raise_clear_value_errors(factory, kwargs, match):
    with pytest.raises(ValueError, match=match):
        factory(**kwargs)


def test_unknown_argument_names_the_factory():
    with pytest.raises(TypeError, match="adam"):
        gradtx.adam(1e-3, beta1=0.9)


def test_mismatched_tree_names_the_first_differing_path():
    tx = gradtx.adam(1e-3)
    state = tx.init({"w": jnp.ones(2), "b": jnp.ones(1)})
    with pytest.raises(ValueError, match=r"`updates` has \['c'\] where `ema` has \['b'\]"):
        tx.update({"w": jnp.ones(2), "c": jnp.ones(1)}, state)
    with pytest.raises(ValueError, match="does not match"):
        tx.update({"w": jnp.ones(2)}, state)


def test_state_from_another_optimizer_is_rejected():
    params = {"w": jnp.ones(2)}
    sgd_state = gradtx.sgd(0.1, momentum=0.9).init(params)
    with pytest.raises(ValueError, match="created by"):
        gradtx.trace(0.9).update(params, gradtx.ema(0.9).init(params), params)
    with pytest.raises(ValueError, match="expects a tuple of 2 member states"):
        gradtx.chain(gradtx.clip(1.0), gradtx.sgd(0.1)).update(params, (None,), params)
    with pytest.raises(ValueError, match="expects a state with hyperparameters"):
        gradtx.adam(1e-3).update(params, sgd_state, params)
    with pytest.raises(ValueError, match="InjectState"):
        gradtx.adam(1e-3).update(params, {"mu": params}, params)


def test_weight_decay_without_params_says_so():
    tx = gradtx.adamw(1e-3)
    params = {"w": jnp.ones(2)}
    with pytest.raises(ValueError, match="needs `params`"):
        tx.update(params, tx.init(params))


@settings(max_examples=60, deadline=None)
@given(
    lr=st.floats(allow_nan=True, allow_infinity=True),
    b1=st.floats(-2, 2),
    b2=st.floats(-2, 2),
    eps=st.floats(-1, 1),
)
def test_hypothesis_invalid_hyperparameters_raise_at_construction(lr, b1, b2, eps):
    valid = (
        lr == lr
        and abs(lr) != float("inf")
        and lr >= 0
        and 0 <= b1 < 1
        and 0 <= b2 < 1
        and eps >= 0
    )
    if valid:
        gradtx.adam(lr, b1=b1, b2=b2, eps=eps)
    else:
        with pytest.raises(ValueError):
            gradtx.adam(lr, b1=b1, b2=b2, eps=eps)
