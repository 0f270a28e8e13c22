"""Sharpness-Aware Minimization: adversarial ascent steps, then an outer step from the
weights before them, with the gradient taken at the perturbed weights.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree
from gradtx._base import (
    EmptyState,
    GradientTransformation,
    apply_updates,
    as_transform,
    check_state_type,
)
from gradtx._validate import check_int


def normalize() -> GradientTransformation:
    r"""Divide the updates by their global l2 norm (SAM's normalized ascent direction).

    $$u \leftarrow \frac{u}{\lVert u\rVert_2},\qquad \lVert u\rVert_2 =
    \Big(\sum_\text{leaves}\sum_i |u_i|^2\Big)^{1/2}$$

    A zero update stays zero (Optax's ``normalize`` returns NaN there).

    Returns:
      A stateless :class:`~gradtx.GradientTransformation`.

    References:
      Foret, Kleiner, Mobahi & Neyshabur, "Sharpness-Aware Minimization for Efficiently
      Improving Generalization", ICLR 2021, arXiv:2010.01412.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import normalize
      >>> normalize().update({"a": jnp.array([3.0]), "b": jnp.array([4.0])}, None)[0]["b"].tolist()
      [0.800000011920929]
    """

    def update(updates, state, params=None, **extra):
        del params, extra
        norm = _tree.global_norm(updates)
        scalars = _tree.Scalars(norm=jnp.where(norm > 0, norm, 1))
        return _tree.leafwise(lambda u: u / scalars(u).norm, updates), state

    return GradientTransformation(lambda params: EmptyState(), update)


class SAMState(NamedTuple):
    """State of :func:`sam` (Optax's field names).

    Attributes:
      steps_since_sync: int32 adversarial steps since the last outer step.
      opt_state: the outer optimizer's state.
      adv_state: the adversarial optimizer's state.
      cache: the weights at the last outer step (``None`` in opaque mode).
    """

    steps_since_sync: jax.Array
    opt_state: Any
    adv_state: Any
    cache: Any


def _negate(updates: Any) -> Any:
    return _tree.leafwise(lambda u: -u, updates)


def sam(
    optimizer: GradientTransformation,
    adv_optimizer: GradientTransformation,
    sync_period: int = 2,
    reset_state: bool = True,
    opaque_mode: bool = False,
    batch_axis_name: str | None = None,
) -> GradientTransformation:
    r"""Sharpness-Aware Minimization: take the outer step with the gradient at adversarial weights.

    $$\tilde w = w_t + \rho\,\frac{\nabla L(w_t)}{\lVert\nabla L(w_t)\rVert},\qquad
    w_{t+1} = w_t + \operatorname{opt}\big(\nabla L(\tilde w)\big)$$

    with the ascent made by ``adv_optimizer`` (its update is *subtracted*: give it a descent
    optimizer, ``chain(normalize(), sgd(rho))`` for the paper's step) and the outer step by
    ``optimizer``. In the default *transparent* mode every call is one step of the user's
    loop: the first ``sync_period - 1`` calls return adversarial updates, the next returns
    the outer step from the cached weights ``cache - params + opt(g)``; compute each
    gradient at the current parameters. In *opaque* mode each call makes the adversarial
    steps itself with ``update(..., grad_fn=grad_fn)``, ``grad_fn(params, i)`` returning the
    gradient at the ``i``-th adversarial point, and returns the outer step. As in Optax;
    branches are chosen with ``jnp.where`` (a non-finite value in the branch not taken does
    not leak into the other, as it can in Optax's arithmetic selection).

    Args:
      optimizer: the outer optimizer (gradtx or Optax).
      adv_optimizer: the adversarial optimizer, a descent step that is negated.
      sync_period: $\ge 1$, adversarial steps plus one (2: one ascent, one outer step).
      reset_state: re-initialize ``adv_optimizer``'s state at every outer step.
      opaque_mode: make the adversarial steps inside ``update`` (needs ``grad_fn``).
      batch_axis_name: in opaque mode, average the adversarial gradients over this mapped
        axis (``jax.lax.pmean``).

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`SAMState`.

    References:
      Foret, Kleiner, Mobahi & Neyshabur, "Sharpness-Aware Minimization for Efficiently
      Improving Generalization", ICLR 2021, arXiv:2010.01412.

    Example:
      >>> import jax, jax.numpy as jnp, gradtx
      >>> from gradtx import normalize, sam
      >>> tx = sam(gradtx.sgd(0.1), gradtx.chain(normalize(), gradtx.sgd(0.5)))
      >>> loss = lambda w: jnp.sum(w**2)
      >>> w = jnp.array([1.0, 0.0])
      >>> state = tx.init(w)
      >>> for _ in range(2):                    # ascend to (1.5, 0), then step from (1, 0)
      ...     u, state = tx.update(jax.grad(loss)(w), state, w)
      ...     w = gradtx.apply_updates(w, u)
      >>> w.tolist()
      [0.699999988079071, 0.0]
    """
    opt = as_transform(optimizer, "sam optimizer")
    adv = as_transform(adv_optimizer, "sam adv_optimizer")
    sync_period = check_int("sync_period", sync_period, 1)

    def init(params):
        return SAMState(
            _tree.zero_count(), opt.init(params), adv.init(params), None if opaque_mode else params
        )

    def transparent(updates, state, params, extra):
        first = state.steps_since_sync == 0
        last = state.steps_since_sync == sync_period - 1
        adv_updates, adv_state = adv.update(updates, state.adv_state, params, **extra)
        opt_updates, opt_state = opt.update(updates, state.opt_state, state.cache, **extra)
        # The outer step starts from the cached weights: params + (cache - params + u).
        opt_updates = _tree.leafwise(lambda u, c, p: c - p + u, opt_updates, state.cache, params)
        if reset_state:
            fresh = _tree.cast_like(adv.init(params), adv_state)
            adv_state = _tree.select_tree(last, fresh, adv_state)
        else:  # the adversarial step at the outer step is not taken: keep the state before it
            adv_state = _tree.select_tree(last, state.adv_state, adv_state)
        return _tree.select_tree(last, opt_updates, _negate(adv_updates)), SAMState(
            ((state.steps_since_sync + 1) % sync_period).astype(jnp.int32),
            _tree.select_tree(last, opt_state, state.opt_state),
            adv_state,
            _tree.select_tree(first, params, state.cache),
        )

    def opaque(updates, state, params, extra, grad_fn):
        if grad_fn is None:
            raise ValueError(
                "sam(opaque_mode=True) needs update(..., grad_fn=lambda params, i: gradient)."
            )
        point, grads, adv_state = params, updates, state.adv_state
        for i in range(sync_period - 1):
            adv_updates, adv_state = adv.update(grads, adv_state, point, **extra)
            point = apply_updates(point, _negate(adv_updates))
            grads = grad_fn(point, i)
            if batch_axis_name is not None:
                grads = jax.lax.pmean(grads, axis_name=batch_axis_name)
        if reset_state:
            adv_state = _tree.cast_like(adv.init(params), adv_state)
        updates, opt_state = opt.update(grads, state.opt_state, params, **extra)
        return updates, SAMState(_tree.zero_count(), opt_state, adv_state, None)

    def update(updates, state, params=None, *, grad_fn=None, **extra):
        check_state_type(state, SAMState, "sam")
        if params is None:
            raise ValueError("sam needs `params`: call update(updates, state, params).")
        if opaque_mode:
            return opaque(updates, state, params, extra, grad_fn)
        return transparent(updates, state, params, extra)

    return GradientTransformation(init, update)
