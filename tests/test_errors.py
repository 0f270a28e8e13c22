"""Bad input gets a clear error naming the argument and its range, or the tree path; every
public optimizer and primitive is documented (summary, math, Args, Returns, References,
example).

The bad arguments of the optimizers, and of the primitives of a family's own module, are in
the family's ``tests/cases`` module (``BAD``, ``BAD_PRIMITIVES``); the primitives of the
shared modules (clipping, momentum, second moments, differences, noise, step sizes) are here.
"""

from __future__ import annotations

import inspect

import cases
import jax.numpy as jnp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradtx

OPT = {name: info.factory for name, info in gradtx.OPTIMIZERS.items()}

SHARED_PRIMITIVES = [
    gradtx.scale_by_belief_rms,
    gradtx.scale_by_additive_rms,
    gradtx.scale_by_rectified_rms,
    gradtx.scale_by_optimistic_gradient,
    gradtx.scale_by_difference_moments,
    gradtx.add_noise,
    gradtx.scale_by_polyak,
]
SHARED_BAD_PRIMITIVES = [
    (gradtx.clip_by_global_norm, {"max_norm": 0.0}, r"max_norm must be in \(0, inf\)"),
    (gradtx.clip, {"max_delta": -1.0}, "max_delta must be in"),
    (gradtx.trace, {"decay": 1.2}, "decay must be in"),
    (gradtx.ema, {"decay": 0.9, "debias": False, "nesterov": True}, "requires debias=True"),
    (gradtx.scale_by_belief_rms, {"source": "grad"}, "source must be one of"),
    (gradtx.scale_by_additive_rms, {"initial_accumulator_value": -1.0}, "initial_acc"),
    (gradtx.scale_by_rectified_rms, {"decay": 1.0}, r"decay must be in \[0, 1\)"),
    (gradtx.scale_by_difference_moments, {"eps": -1.0}, "eps must be in"),
    (gradtx.add_noise, {"eta": 0.1, "gamma": -1.0}, r"gamma must be in \[0, inf\)"),
]
PRIMITIVES = cases.PRIMITIVES + SHARED_PRIMITIVES
BAD_PRIMITIVES = cases.BAD_PRIMITIVES + SHARED_BAD_PRIMITIVES


def _ids(table):
    """``name-argument``: the factory and the last of the arguments given (sorted)."""
    return [f"{getattr(f, '__name__', f)}-{sorted(k)[-1]}" for f, k, _ in table]


def _set_hyperparams(name, kwargs):
    """Set ``kwargs`` on the state of the optimizer's documented example, all at once."""
    info = gradtx.OPTIMIZERS[name]
    state = info.factory(**info.example).init({"w": jnp.ones((3, 2))})
    if not all(k in state.hyperparams and isinstance(v, int | float) for k, v in kwargs.items()):
        pytest.skip("not every argument is a live hyperparameter given a number")
    names = gradtx.get_hyperparams(state)  # a wrapped optimizer's own are qualified: "/eps"
    gradtx.set_hyperparams(state, **{k if k in names else f"/{k}": v for k, v in kwargs.items()})


ROUTES = {
    "constructor": lambda name, kwargs: OPT[name](**kwargs),
    "inject_hyperparams": lambda name, kwargs: gradtx.inject_hyperparams(OPT[name])(**kwargs),
    "set_hyperparams": _set_hyperparams,
}


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("name, kwargs, match", cases.BAD, ids=_ids(cases.BAD))
def test_bad_hyperparameters_raise_clear_value_errors(name, kwargs, match, route):
    """The same error, with the argument's name and range, whichever way the value arrives."""
    with pytest.raises(ValueError, match=match):
        ROUTES[route](name, kwargs)


@pytest.mark.parametrize("fn, kwargs, match", BAD_PRIMITIVES, ids=_ids(BAD_PRIMITIVES))
def test_bad_primitive_arguments_raise_clear_value_errors(fn, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fn(**kwargs)


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


def test_missing_params_or_value_say_what_is_needed():
    g = {"w": jnp.ones(2)}
    tx = OPT["polyak_sgd"]()
    with pytest.raises(ValueError, match="value=loss_value"):
        tx.update(g, tx.init(g), g)
    for name in ("lamb", "lars", "fromage", "novograd", "adafactor"):
        tx = OPT[name](learning_rate=0.1)
        with pytest.raises(ValueError, match="needs `params`"):
            tx.update(g, tx.init(g))


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


@pytest.mark.parametrize(
    "fn",
    [OPT[name] for name in dict.fromkeys(c.name for c in cases.CASES)] + PRIMITIVES,
    ids=lambda fn: fn.__name__,
)
def test_public_functions_are_documented(fn):
    doc = inspect.getdoc(fn) or ""
    summary = doc.split("\n")[0]
    assert summary.endswith(".") and len(summary) <= 100, summary
    for part in ("$$", "Args:", "Returns:", "References:", ">>>"):
        assert part in doc, f"{fn.__name__}: no {part!r}"
