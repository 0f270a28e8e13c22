"""Weight decay: add a multiple of the parameters to the updates."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

from gradtx import _extra, _tree, _validate
from gradtx._base import GradientTransformation, MaskOrFn, ScalarOrSchedule, check_state_type
from gradtx.transforms._scaling import value_at


class AddDecayedWeightsState(NamedTuple):
    """Step count (for a scheduled decay; kept always so the layout never changes)."""

    count: jax.Array


def mask_leaves(mask: MaskOrFn, params: Any, who: str) -> list[bool]:
    """Resolve a mask to one bool per leaf of ``params``.

    The mask is a tree of bools with the structure of ``params`` or of a prefix of it
    (``{"encoder": True, "decoder": False}``), or a function of the params returning one.
    """
    tree = mask(params) if _tree.is_function_of_params(mask) else mask
    leaves = _tree.broadcast_prefix(tree, params, "mask", who)
    for leaf in leaves:
        if not isinstance(leaf, bool) and leaf is not None:
            raise ValueError(f"{who}: mask leaves must be Python bools, got {leaf!r}.")
    return [bool(leaf) for leaf in leaves]


def add_decayed_weights(
    weight_decay: ScalarOrSchedule = 0.0, mask: MaskOrFn = None
) -> GradientTransformation:
    r"""Add $\lambda w$ to the updates (decoupled weight decay when placed after a preconditioner).

    $$u \leftarrow u + \lambda\, w,\qquad \lambda = \text{weight\_decay}$$

    Before an adaptive preconditioner this is L2 regularization (PyTorch's
    ``Adam(weight_decay=...)``); after it, and before the learning rate, it is AdamW's
    decoupled decay.

    Args:
      weight_decay: $\lambda \ge 0$, a constant or a schedule.
      mask: a tree of bools with the structure of the params (or a function of the params
        returning one); ``False`` leaves are not decayed (biases, norms).

    Returns:
      A :class:`~gradtx.GradientTransformation`; its ``update`` needs ``params``.

    References:
      Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019,
      arXiv:1711.05101.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.add_decayed_weights(0.1)
      >>> p = jnp.array([10.0])
      >>> tx.update(jnp.array([1.0]), tx.init(p), p)[0].tolist()
      [2.0]
    """
    _validate.check_schedule_or_range("weight_decay", weight_decay, _validate.check_nonnegative)

    def init(params):
        del params
        return AddDecayedWeightsState(_tree.zero_count())

    def update(updates, state, params=None, **extra):
        del extra
        _extra.require_params(params, "add_decayed_weights")
        if updates is None:  # no updates at all (as Optax): no step, the state is not read
            return None, state
        check_state_type(state, AddDecayedWeightsState, "add_decayed_weights")
        new_state = AddDecayedWeightsState(_tree.safe_increment(state.count))
        scalars = _tree.Scalars(wd=value_at(weight_decay, state.count))

        def step(u, p):
            return scalars(u).wd * p + u  # scalar first: one kernel per leaf shape

        if mask is None:
            updates = _tree.leafwise(step, updates, params, names=("updates", "params"))
        else:
            keep = mask_leaves(mask, params, "add_decayed_weights")
            updates = _tree.leafwise(step, updates, params, names=("updates", "params"), mask=keep)
        return updates, new_state

    return GradientTransformation(init, update)
