"""Test registry of the breadth optimizers (sign methods, Adam variants, layer-wise methods,
factored methods and SGD variants), in the format of :mod:`registry`.

Each :class:`registry.Case` pairs a gradtx configuration with Optax's implementation of the
same algorithm (``optax_fn``) or with a NumPy reference written from the paper
(``reference``, with the ``(init, step)`` protocol of ``registry.rprop_reference``) where
Optax has none or differs on purpose. A case with both is compared with Optax in float64
and with the reference in float32: Optax's float32 bias correction ``1 - b**t`` is off by
up to 7e-6 (gradtx's is exact to an ulp), which an extrapolation such as optimism's
``2 d_t - d_{t-1}`` amplifies past the float32 tolerance. ``Case.extra`` may hold:

* ``"schedule"``: the hyperparameter that the scheduled-rate parity test replaces by a
  schedule (default ``"learning_rate"``);
* ``"no_scalar_leaves"``: the Optax counterpart cannot handle 0-d leaves.

Importing this module imports the optimizer modules, which registers them in
``gradtx.OPTIMIZERS``. ``tests/registry.py`` appends ``BREADTH_CASES`` to its ``CASES`` by
importing this module at its end, so import ``registry`` before this module (as the
``test_breadth_*`` files do): imported first, this module would import ``registry``, which
would import this module again while it is only half initialized.
"""

from __future__ import annotations

import importlib
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
from registry import Case
from test_breadth_references import (
    adan_reference,
    optimistic_adam_reference,
    radam_reference,
    sm3_reference,
    yogi_reference,
)

LR = 0.01

# ---------------------------------------------------------------------------------------
# Optax counterparts that need a wrapper.


def _yogi_optax(learning_rate, b1=0.9, b2=0.999, eps=1e-3):
    """Optax's yogi with its first moment started at 0 (the paper's m_0; Optax uses 1e-6)."""
    tx = optax.yogi(learning_rate, b1, b2, eps)

    def init(params):
        state = tx.init(params)
        inner = state[0]
        return (inner._replace(mu=jax.tree.map(jnp.zeros_like, inner.mu)), *state[1:])

    return optax.GradientTransformation(init, tx.update)


def _optimistic_adam_optax(
    learning_rate, optimism=None, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, nesterov=True
):
    """Optax's (deprecated) optimistic_adam; a scheduled rate goes through inject_hyperparams,
    since optimistic_adam itself rejects schedules."""
    kwargs = dict(optimism=optimism, b1=b1, b2=b2, eps=eps, eps_root=eps_root, nesterov=nesterov)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if callable(learning_rate):
            inject = optax.inject_hyperparams(optax.optimistic_adam, static_args=("nesterov",))
            return inject(learning_rate, **kwargs)
        return optax.optimistic_adam(learning_rate, **kwargs)


def _sm3_optax(learning_rate, momentum=0.9):
    """Optax's sm3 (whose ``scale(-learning_rate)`` takes no schedule: inject one)."""
    if callable(learning_rate):
        return optax.inject_hyperparams(optax.sm3)(learning_rate, momentum)
    return optax.sm3(learning_rate, momentum)


def _adafactor_optax(
    learning_rate=None,
    min_dim_size_to_factor=128,
    decay_rate=0.8,
    multiply_by_parameter_scale=True,
    clipping_threshold=1.0,
    momentum=None,
    dtype_momentum=jnp.float32,
    weight_decay_rate=None,
    eps=1e-30,
    factored=True,
):
    """Optax's adafactor chain (alias.py), with two changes: its second-moment decay
    ``1 - (t+1)**-c`` is computed in the working precision (Optax forms it in float32 even
    with float64 parameters), and ``learning_rate=None`` is the paper's relative step size
    ``min(1e-2, 1/sqrt(t))``, gradtx's default."""

    def decay_rate_fn(step, exponent):
        return 1 - (jnp.asarray(step).astype(jnp.result_type(float)) + 1) ** -exponent

    if learning_rate is None:
        learning_rate = lambda count: jnp.minimum(1e-2, jax.lax.rsqrt(count + 1.0))
    tx = [
        optax.scale_by_factored_rms(
            factored, decay_rate, 0, min_dim_size_to_factor, eps, decay_rate_fn=decay_rate_fn
        )
    ]
    if clipping_threshold is not None:
        tx.append(optax.clip_by_block_rms(clipping_threshold))
    tx.append(optax.scale_by_learning_rate(learning_rate, flip_sign=False))
    if multiply_by_parameter_scale:
        tx.append(optax.scale_by_param_block_rms())
    if momentum is not None:
        tx.append(optax.ema(momentum, debias=False, accumulator_dtype=dtype_momentum))
    if weight_decay_rate is not None:
        tx.append(optax.add_decayed_weights(weight_decay_rate))
    tx.append(optax.scale(-1.0))
    return optax.chain(*tx)


def _matrices_only(params):
    return jax.tree.map(lambda x: x.ndim > 1, params)


BREADTH_CASES: list[Case] = [
    Case("sign_sgd", {"learning_rate": LR}, optax.sign_sgd),
    Case("signum", {"learning_rate": LR, "beta": 0.8}, optax.signum),
    Case("lion", {"learning_rate": LR}, optax.lion),
    Case("lion", {"learning_rate": LR, "b1": 0.5, "weight_decay": 0.1}, optax.lion, id_suffix="wd"),
    Case("adabelief", {"learning_rate": LR}, optax.adabelief),
    Case("yogi", {"learning_rate": LR}, _yogi_optax),
    Case("yogi", {"learning_rate": LR, "b1": 0.8}, reference=yogi_reference, id_suffix="paper"),
    Case("radam", {"learning_rate": LR}, reference=radam_reference),
    Case(
        "radam",
        {"learning_rate": LR, "b2": 0.99, "nesterov": True, "eps_root": 1e-8},
        reference=radam_reference,
        id_suffix="nesterov",
    ),
    Case("adan", {"learning_rate": LR, "b2": 0.5}, optax.adan, id_suffix="b2-half"),
    Case("adan", {"learning_rate": LR, "weight_decay": 0.1}, reference=adan_reference),
    Case(
        "optimistic_adam",
        {"learning_rate": LR},
        _optimistic_adam_optax,
        reference=optimistic_adam_reference,
    ),
    Case(
        "optimistic_adam",
        {"learning_rate": LR, "optimism": 0.02, "nesterov": False},
        _optimistic_adam_optax,
        reference=optimistic_adam_reference,
        id_suffix="optimism",
    ),
    Case("lamb", {"learning_rate": LR}, optax.lamb),
    Case("lamb", {"learning_rate": LR, "weight_decay": 0.1, "b1": 0.5}, optax.lamb, id_suffix="wd"),
    Case("lars", {"learning_rate": 1.0}, optax.lars),
    Case(
        "lars",
        {
            "learning_rate": 0.1,
            "weight_decay": 0.1,
            "trust_coefficient": 0.1,
            "eps": 1e-3,
            "trust_ratio_mask": _matrices_only,
            "nesterov": True,
        },
        optax.lars,
        id_suffix="masked-nesterov",
    ),
    Case("fromage", {"learning_rate": LR}, optax.fromage),
    Case("fromage", {"learning_rate": 0.5, "min_norm": 1.0}, optax.fromage, id_suffix="min-norm"),
    Case("novograd", {"learning_rate": LR}, optax.novograd),
    Case(
        "novograd",
        {"learning_rate": LR, "b2": 0.9, "weight_decay": 0.1, "eps_root": 1e-8},
        optax.novograd,
        id_suffix="wd",
    ),
    Case(
        "adafactor",
        {"learning_rate": LR, "min_dim_size_to_factor": 2},
        _adafactor_optax,
        id_suffix="factored",
    ),
    Case(
        "adafactor",
        # A float64 momentum: Optax multiplies a float32 one by a weakly typed decay in
        # float32, gradtx in the gradient's precision (float64).
        {
            "min_dim_size_to_factor": 2,
            "momentum": 0.9,
            "dtype_momentum": np.dtype("float64"),
            "weight_decay_rate": 0.01,
        },
        _adafactor_optax,
        id_suffix="relative-step-momentum",
    ),
    Case(
        "adafactor",
        {
            "learning_rate": LR,
            "factored": False,
            "clipping_threshold": None,
            "multiply_by_parameter_scale": False,
            "decay_rate": 0.5,
        },
        _adafactor_optax,
        id_suffix="unfactored",
    ),
    Case("sm3", {"learning_rate": 0.1}, _sm3_optax, extra={"no_scalar_leaves": True}),
    Case(
        "sm3", {"learning_rate": 0.1, "momentum": 0.5}, reference=sm3_reference, id_suffix="paper"
    ),
    Case("noisy_sgd", {"learning_rate": 0.1, "key": 3}, optax.noisy_sgd),
    Case("polyak_sgd", {}, optax.polyak_sgd, extra={"schedule": "max_learning_rate"}),
    Case(
        "polyak_sgd",
        {"max_learning_rate": 0.3, "f_min": 1.5, "variant": "sps+", "eps": 1e-3},
        optax.polyak_sgd,
        id_suffix="sps+",
        extra={"schedule": "max_learning_rate"},
    ),
    Case("optimistic_gradient_descent", {"learning_rate": 0.1}, optax.optimistic_gradient_descent),
    Case(
        "optimistic_gradient_descent",
        {"learning_rate": 0.1, "alpha": 0.5, "beta": 2.0},
        optax.optimistic_gradient_descent,
        id_suffix="alpha-beta",
    ),
]

# The later families keep their cases in their own registry modules (same formats).
FAMILY_REGISTRIES = [
    importlib.import_module(f"registry_{name}")
    for name in ("moment_variants", "contrib", "parameter_free", "gain_adaptation", "loss_driven")
]
for _family in FAMILY_REGISTRIES:
    BREADTH_CASES += _family.CASES

BREADTH_CASE_IDS = [c.id for c in BREADTH_CASES]
BREADTH_ONE_CASE_PER_OPTIMIZER = list({c.name: c for c in reversed(BREADTH_CASES)}.values())

# name: (learning rate, tolerance on |w - w*|) for 3000 full-batch float64 steps on the
# quadratic 0.5 * sum(A * w**2), A = (1, 3, 10), from w = (1, 1, 1). Sign methods and other
# fixed-size steps end in a cycle of the order of the learning rate.
BREADTH_SETTINGS: dict[str, tuple[float, float]] = {
    "sign_sgd": (1e-3, 3e-3),
    "signum": (1e-3, 3e-3),
    "lion": (1e-3, 3e-3),
    "adabelief": (0.03, 1e-9),
    "yogi": (0.03, 1e-9),
    "radam": (0.03, 1e-9),
    "adan": (3e-3, 1e-4),  # ends in a cycle of the order of the learning rate
    "optimistic_adam": (0.01, 1e-9),
    "noisy_sgd": (0.1, 1e-2),
    "polyak_sgd": (1.0, 1e-7),
    "optimistic_gradient_descent": (0.05, 1e-9),
    "lamb": (0.01, 1e-9),
    "lars": (1.0, 1e-9),
    "fromage": (0.01, 1e-9),
    "novograd": (0.01, 1e-2),  # normalized steps: a cycle of the order of the learning rate
    "adafactor": (0.03, 1e-9),
    "sm3": (0.1, 1e-9),
}
for _family in FAMILY_REGISTRIES:
    BREADTH_SETTINGS.update(_family.SETTINGS)
