"""Frozen parameters: zero their updates (:func:`freeze`), or also keep no optimizer state
for them (:func:`selective_transform`, Optax's name)."""

from __future__ import annotations

from typing import Any

import jax

from gradtx._base import GradientTransformation, MaskOrFn, set_to_zero
from gradtx.wrappers._partition import _as_flag, masked, partition


def freeze(mask: MaskOrFn) -> GradientTransformation:
    r"""Zero the updates of the leaves selected by ``mask`` (freeze them); keep the others.

    $$u_\ell \leftarrow \begin{cases} 0 & m_\ell \\ u_\ell & \text{otherwise}\end{cases}$$

    It is ``masked(set_to_zero(), mask)``. To also save the optimizer state of the frozen
    leaves, put the optimizer under ``masked(opt, not-mask)`` or use :func:`partition`.

    Args:
      mask: ``True`` for the leaves to freeze: a bool (all or nothing), a tree of bools with
        the structure of the params or a prefix of it, or a function of the params.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`MaskedState`.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.wrappers import freeze
      >>> tx = freeze({"embed": True, "head": False})
      >>> g = {"embed": jnp.ones(2), "head": jnp.ones(2)}
      >>> u, _ = tx.update(g, tx.init(g))
      >>> u["embed"].tolist(), u["head"].tolist()
      ([0.0, 0.0], [1.0, 1.0])
    """
    return masked(set_to_zero(), mask)


def selective_transform(
    optimizer: GradientTransformation, *, freeze_mask: bool | Any
) -> GradientTransformation:
    r"""Run ``optimizer`` on the leaves not frozen by ``freeze_mask``; zero the frozen ones.

    $$u_\ell \leftarrow \begin{cases} 0 & m_\ell \\
      \mathrm{optimizer}(u)_\ell & \text{otherwise}\end{cases}$$

    It is Optax's ``selective_transform``: ``partition({"train": optimizer, "freeze":
    set_to_zero()}, labels)``, so the optimizer's state covers the trained leaves only
    (unlike :func:`freeze` chained with an optimizer).

    Args:
      optimizer: the transform of the trained leaves (gradtx or Optax).
      freeze_mask: ``True`` for the leaves to freeze: a bool (everything or nothing), or a
        tree of bools with the structure of the params or a prefix of it. It is static: it
        fixes the layout of the state.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`PartitionState` (labels
      ``"train"`` and ``"freeze"``).

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> from gradtx import selective_transform
      >>> tx = selective_transform(gradtx.sgd(0.5), freeze_mask={"embed": True, "head": False})
      >>> g = {"embed": jnp.ones(2), "head": jnp.ones(2)}
      >>> u, state = tx.update(g, tx.init(g))
      >>> u["embed"].tolist(), u["head"].tolist()
      ([0.0, 0.0], [-0.5, -0.5])
    """
    labels = jax.tree.map(
        lambda m: "freeze" if _as_flag(m, "selective_transform") else "train", freeze_mask
    )
    return partition({"train": optimizer, "freeze": set_to_zero()}, labels)
