"""How a solve of :func:`gradtx.second_order.minimize` ends: the :class:`Status` codes, their
messages, the stopping rule shared by the unconstrained and the bounded loops, and
:class:`MinimizeResult`."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

STALL_PATIENCE = 20  # iterations without a new lowest f before STALLED


class Status(enum.IntEnum):
    """Why :func:`minimize` stopped (``MinimizeResult.status``)."""

    CONVERGED = 0
    MAX_ITERATIONS = 1
    LINESEARCH_FAILED = 2
    NONFINITE = 3
    STALLED = 4


RUNNING = -1  # the status while the loop runs
_MESSAGES = {
    Status.CONVERGED: "converged: the gradient norm is within the tolerance",
    Status.MAX_ITERATIONS: "stopped: the maximum number of iterations was reached",
    Status.LINESEARCH_FAILED: (
        "stopped: the line search found no step that decreases the objective (the tolerance "
        "may be below what this precision can reach)"
    ),
    Status.NONFINITE: (
        "stopped: the objective or its gradient is not finite (x is the last finite iterate)"
    ),
    Status.STALLED: (
        f"stopped: the objective did not reach a new lowest value in {STALL_PATIENCE} "
        "iterations (the tolerance may be below what this precision can reach)"
    ),
}


def status_message(status: Any) -> str:
    """The sentence describing a :class:`Status` code.

    Example:
      >>> from gradtx.second_order import Status, status_message
      >>> status_message(Status.MAX_ITERATIONS)
      'stopped: the maximum number of iterations was reached'
    """
    code = int(np.asarray(status))
    if code not in _MESSAGES:
        raise ValueError(f"unknown status code {code}; codes are {[int(s) for s in Status]}.")
    return _MESSAGES[Status(code)]


def status_rule(threshold: jax.Array, maxiter: jax.Array) -> Callable[..., jax.Array]:
    """The status after an iteration, ``status(finite, grad_norm, failed, stall, iteration)``:
    ``RUNNING`` or why the loop stops, in the order of precedence non-finite, converged
    (``grad_norm <= threshold``), line search failed, stalled, iteration limit."""

    def status(finite, grad_norm, failed, stall, iteration):
        code = jnp.where(iteration >= maxiter, Status.MAX_ITERATIONS, RUNNING)
        code = jnp.where(stall >= STALL_PATIENCE, Status.STALLED, code)
        code = jnp.where(failed, Status.LINESEARCH_FAILED, code)
        code = jnp.where(grad_norm <= threshold, Status.CONVERGED, code)
        return jnp.where(finite, code, Status.NONFINITE).astype(jnp.int32)

    return status


class MinimizeResult(NamedTuple):
    """The result of :func:`gradtx.second_order.minimize` (arrays; ``message`` gives the status
    in words).

    Attributes:
      x: the final iterate (a tree like ``x0``).
      value: $f(x)$.
      grad: $\\nabla f(x)$.
      grad_norm: $\\|\\nabla f(x)\\|$ in the norm chosen for the stopping rule.
      iterations: int32 number of updates made.
      num_fun_evals, num_grad_evals, num_hvp_evals, num_hessian_evals: int32 counts (x0's too).
      status: int32 :class:`Status` code.
      converged: ``status == Status.CONVERGED``.
      state: the transform's final state with ``return_state=True``, else ``None`` (a
        state has many arrays, and returning them costs a small solve more than the solve).
    """

    x: Any
    value: jax.Array
    grad: Any
    grad_norm: jax.Array
    iterations: jax.Array
    num_fun_evals: jax.Array
    num_grad_evals: jax.Array
    num_hvp_evals: jax.Array
    num_hessian_evals: jax.Array
    status: jax.Array
    converged: jax.Array
    state: Any

    @property
    def message(self) -> str:
        """The status in words (:func:`status_message`)."""
        return status_message(self.status)
