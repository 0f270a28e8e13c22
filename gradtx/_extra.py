"""The extra arguments of ``update``: each one's meaning, and one place that reads them.

Besides the updates and the state, ``update(updates, state, params=None, **extra)`` may be
given these keyword arguments (the names are Optax's where Optax has them):

* ``params`` -- the current parameters (positional, the third argument);
* ``gradient`` -- the input of the enclosing :func:`gradtx.chain`, set by the chain itself;
* ``value`` -- the loss at ``params`` (the bold driver, Polyak's step, line searches);
* ``grad`` -- the gradient at ``params`` when the updates are not the gradient (line
  searches);
* ``value_fn`` -- the loss as a function of the parameters (line searches, Hessian-vector
  products, loss-only methods);
* ``model_fn`` and ``loss_of_outputs`` -- a model and a loss of its outputs, for
  Gauss-Newton products; ``hessian_fn`` -- a dense Hessian (Newton);
  ``preconditioner_diag`` -- a diagonal for Hessian-free's inner CG.

A transform that needs one of them reads it with :func:`require` (or :func:`require_params`)
so that its absence raises the same clear error everywhere: a
:class:`MissingExtraArgError`, which is a ``ValueError`` (gradtx's convention) and a
``TypeError`` (what Optax raises, a missing keyword-only argument of ``update``).
"""

from __future__ import annotations

from typing import Any

# How to pass each argument, for the error message.
_HOW = {
    "value": "update(updates, state, params, value=loss_value)",
    "value_fn": "update(updates, state, params, value_fn=loss_fn)",
    "grad": "update(updates, state, params, grad=gradient)",
    "hessian_fn": "update(updates, state, params, hessian_fn=hessian_of_loss)",
}


class MissingExtraArgError(TypeError, ValueError):
    """An extra argument that ``update`` needs was not given.

    Both a ``ValueError`` (gradtx's error for bad input) and a ``TypeError`` (Optax declares
    such arguments keyword-only, so Python raises ``TypeError``): code written for either
    library catches it.
    """


def require_params(params: Any, who: str) -> Any:
    """``params``, or a ``ValueError`` saying that ``who`` needs them."""
    if params is None:
        raise ValueError(f"{who} needs `params`: call update(updates, state, params).")
    return params


def require(extra: dict[str, Any], name: str, who: str) -> Any:
    """The extra argument ``name``, or a ``ValueError`` saying how to pass it."""
    value = extra.get(name)
    if value is None:
        how = _HOW.get(name, f"update(updates, state, params, {name}=...)")
        raise MissingExtraArgError(f"{who} needs the extra argument `{name}`: call {how}.")
    return value
