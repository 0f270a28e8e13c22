"""The table of test cases: every registered optimizer, its settings, and what it is checked
against. Every test that runs every optimizer reads it.

One module per optimizer family, named like the module that defines the family
(``gradtx/optimizers/_adam.py`` -> ``tests/cases/adam.py``). Each holds:

* ``CASES``: :class:`Case` entries, each pairing a gradtx configuration with the Optax
  transform that implements the same algorithm (``optax_fn``, called with the same keyword
  arguments) and/or a NumPy reference written from the paper (``reference``, from
  ``tests/references``). The first case of an optimizer is the one the battery runs.
* ``QUADRATIC``: ``name -> (learning rate, tolerance[, kwargs])`` for 3000 full-batch float64
  steps on the quadratic ``0.5 * sum(A * w**2)``, ``A = (1, 3, 10)``, from ``w = 1``.
* ``CONVERGENCE``: ``name -> (q_lr, q_tol, r_lr, r_tol[, kwargs])`` for 5000 float64 steps on
  that quadratic and on Rosenbrock's function from ``(-1.2, 1)``.
* ``BAD``: ``(name, kwargs, message)``, bad hyperparameters and the ``ValueError`` they raise.
* ``EXTREMES``: ``name -> set of tags``, what the optimizer does with gradients of 1e30 and
  1e-30 in float32 when that is not the default (a finite step of the sane size, against
  the gradient); the tags are listed in :data:`EXTREME_TAGS` and explained in
  ``tests/test_extremes.py``. A family module explains its entries in a comment.
* ``PRIMITIVES`` and ``BAD_PRIMITIVES``: the public primitives of the family's transforms
  module (``gradtx/transforms/_<family>.py`` or ``gradtx/wrappers/_<family>.py``), checked
  for documentation, and their bad arguments.

A case with both a counterpart and a reference is compared with Optax in float64 and with
the reference in float32: Optax's float32 bias correction ``1 - b**t`` is off by up to 7e-6
(gradtx's is exact to an ulp), which an extrapolation such as optimism's ``2 d_t - d_{t-1}``
amplifies past the float32 tolerance. ``Case.extra`` may hold:

* ``"schedule"``: the hyperparameter that the scheduled-rate tests replace by a schedule
  (default ``"learning_rate"``; ``None``: the optimizer has no rate of its own);
* ``"no_scalar_leaves"``: the Optax counterpart cannot handle 0-d leaves;
* ``"rtol"``: ``{dtype name: tolerance}`` replacing the parity tolerance of that dtype;
* ``"f32_trajectory_scale"``: in float32 the parity test compares updates on the scale of
  the largest update of the run, not of each step (see ``test_parity.check_close``);
* ``"moves_at_zero_rate"``: a learning rate of 0 still moves the parameters (by design).

A new optimizer in ``gradtx/optimizers/_<family>.py`` adds its cases, settings and bad
arguments to ``tests/cases/<family>.py`` (and, without an Optax counterpart, a reference to
``tests/references/<family>.py``); a new family adds both modules and its name to
:data:`FAMILIES`. ``test_protocol.py`` checks that every optimizer has a case, in the
module of its family, and ``test_convergence.py`` that it has settings.
"""

from __future__ import annotations

import importlib
from typing import Any

import gradtx
from cases.common import Case

__all__ = ["BAD", "BAD_PRIMITIVES", "CASES", "CONVERGENCE", "EXTREMES", "EXTREME_TAGS"]
__all__ += ["FAMILIES", "MODULES", "NAMES", "ONE_CASE_PER_OPTIMIZER", "PRIMITIVES", "QUADRATIC"]
__all__ += ["Case"]

# The reading order: plain gradient descent first, then the adaptive methods, and so on.
FAMILIES = (
    "sgd",
    "adaptive",
    "adam",
    "sign",
    "adam_variants",
    "optimistic",
    "layerwise",
    "factored",
    "kronecker",
    "sgd_variants",
    "moment_variants",
    "orthogonal",
    "hessian_diagonal",
    "sam",
    "schedule_free",
    "d_adaptation",
    "mechanic",
    "parameter_free",
    "gain_adaptation",
    "loss_driven",
    "momo",
    "galore",
    "privacy",
)
MODULES = {family: importlib.import_module(f"cases.{family}") for family in FAMILIES}


def _gather(name: str, empty: Any) -> Any:
    out = type(empty)()
    for module in MODULES.values():
        part = getattr(module, name, empty)
        if isinstance(out, dict):
            out.update(part)
        else:
            out += part
    return out


CASES: list[Case] = _gather("CASES", [])
# The registry-wide tests give every optimizer one gradient shaped like the parameters, so
# they leave out those that take per-example gradients (DP-SGD; its own tests are in
# tests/test_optax_contrib_names.py). NAMES: those optimizers, sorted.
NAMES: list[str] = sorted(n for n, info in gradtx.OPTIMIZERS.items() if not info.per_example)
ONE_CASE_PER_OPTIMIZER: list[Case] = [
    c for c in list({c.name: c for c in CASES[::-1]}.values())[::-1] if c.name in NAMES
]
QUADRATIC: dict[str, tuple[Any, ...]] = _gather("QUADRATIC", {})
CONVERGENCE: dict[str, tuple[Any, ...]] = _gather("CONVERGENCE", {})
BAD: list[tuple[str, dict[str, Any], str]] = _gather("BAD", [])
PRIMITIVES: list[Any] = _gather("PRIMITIVES", [])
BAD_PRIMITIVES: list[tuple[Any, dict[str, Any], str]] = _gather("BAD_PRIMITIVES", [])
EXTREMES: dict[str, set[str]] = _gather("EXTREMES", {})
EXTREME_TAGS = frozenset(
    {"linear", "sign", "squares", "no_inf_kept", "linear_then_frozen", "clipped", "loss_scaled"}
    | {"gradient_free", "loss_only", "tiny_no_step", "tiny_noise", "relative", "warm_up"}
)
for _name, _tags in EXTREMES.items():
    if _name not in gradtx.OPTIMIZERS or not _tags <= EXTREME_TAGS:
        raise ValueError(f"EXTREMES[{_name!r}] = {_tags}: unknown optimizer or tag")
