"""How much memory an optimizer's state takes, computed from shapes alone."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import numpy as np

from gradtx import _tree
from gradtx._base import GradientTransformation, Params


class StateBytes(NamedTuple):
    """The size of an optimizer state.

    Attributes:
      per_leaf: the state's tree with each array replaced by its size in bytes (an ``int``;
        ``None`` slots stay ``None``).
      total: the sum of ``per_leaf``.
      num_params: the number of trainable (floating or complex) parameter entries.
      bytes_per_param: ``total / num_params`` (``nan`` when there are no parameters).
    """

    per_leaf: Any
    total: int
    num_params: int
    bytes_per_param: float


def _nbytes(leaf: Any) -> int:
    dtype = leaf.dtype
    if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):  # a typed key: count its key data
        data = jax.eval_shape(jax.random.key_data, leaf)
        return int(data.size) * np.dtype(data.dtype).itemsize
    return int(np.prod(leaf.shape, dtype=np.int64)) * np.dtype(dtype).itemsize


def state_bytes(tx: GradientTransformation, params: Params) -> StateBytes:
    r"""The bytes of ``tx``'s state for ``params``, per leaf and in total, allocating nothing.

    $$\text{total} = \sum_{\text{state leaves } s} \text{size}(s)\cdot\text{itemsize}(s),
    \qquad \text{bytes\_per\_param} = \frac{\text{total}}{\sum_{\text{trainable } w}
    \text{size}(w)}$$

    The state's layout comes from ``jax.eval_shape(tx.init, params)``: nothing is computed
    or allocated, so ``params`` may be a tree of ``jax.ShapeDtypeStruct`` for a model too large
    to build. Everything in the state is counted: moments, step counts, live
    hyperparameters, keys (as their ``uint32`` key data), quantization scales.

    Args:
      tx: a gradient transformation (gradtx or Optax).
      params: the parameters, as arrays or ``jax.ShapeDtypeStruct``.

    Returns:
      A :class:`StateBytes` ``(per_leaf, total, num_params, bytes_per_param)``.

    Example:
      >>> import jax, jax.numpy as jnp, gradtx
      >>> params = {"w": jax.ShapeDtypeStruct((1000, 1000), jnp.float32)}
      >>> report = gradtx.state_bytes(gradtx.adam(1e-3), params)
      >>> report.num_params, round(report.bytes_per_param, 3)   # m and nu, float32
      (1000000, 8.0)
      >>> gradtx.state_bytes(gradtx.sgd(0.1), params).total   # two int32 counts, the rate
      12
    """
    layout = jax.eval_shape(tx.init, params)
    per_leaf = jax.tree.map(lambda x: None if x is None else _nbytes(x), layout,
                            is_leaf=_tree.is_none)  # fmt: skip
    total = int(sum(jax.tree.leaves(per_leaf)))
    num_params = int(sum(int(np.prod(x.shape, dtype=np.int64))
                         for x in jax.tree.leaves(params) if _tree.is_trainable(x)))  # fmt: skip
    per_param = total / num_params if num_params else float("nan")
    return StateBytes(per_leaf, total, num_params, per_param)
