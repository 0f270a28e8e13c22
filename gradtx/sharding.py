r"""Shardings for optimizer states: follow the parameters, optionally ZeRO-shard the rest.

With JAX's SPMD model a training step is one ``jax.jit`` program over a ``Mesh`` of devices,
and every array says how it is split with a ``NamedSharding(mesh, PartitionSpec(...))``.
An optimizer state is mostly parameter-shaped moments (Adam's $m$ and $\nu$), plus
scalars (step counts, live hyperparameters). :func:`state_shardings` returns a sharding
for every leaf of ``tx.init(params)`` without allocating it:

* a leaf that belongs to a parameter (its tree path ends with the parameter's path, and it
  has the parameter's shape) gets the parameter's ``PartitionSpec``: moments live on the
  devices that hold their parameter, and the elementwise update needs no communication;
* any other leaf (scalars, a factored or flattened statistic) is replicated;
* with ``zero_axis="data"`` every non-scalar leaf is, in addition, split over the data
  axis along its first dimension that is not sharded yet and whose size the axis divides.

**ZeRO stage 1** (Rajbhandari et al., 2020). In plain data parallelism every one of the
$N_d$ data-parallel devices holds the parameters, the gradients and the *whole* optimizer
state, and computes the same update. For Adam in float32 the state is $2\times$ the
parameters, so most of a replica's memory is redundant. ZeRO-1 partitions the optimizer
state over the data-parallel devices: device $r$ keeps the slice $S_r$ of $m$ and
$\nu$, and updates only its slice,

$$m_{S_r} \leftarrow \beta_1 m_{S_r} + (1-\beta_1)\,\bar g_{S_r},\quad
\nu_{S_r} \leftarrow \beta_2 \nu_{S_r} + (1-\beta_2)\,\bar g_{S_r}^2,\quad
w_{S_r} \leftarrow w_{S_r} - \eta\,\hat m_{S_r}/(\sqrt{\hat\nu_{S_r}}+\epsilon),$$

where $\bar g$ is the mean gradient over the batch; the updated slices are then gathered so
that every device has the new $w$. State memory per device drops from $|{\rm state}|$ to
$|{\rm state}|/N_d$, and the communication is that of data parallelism (the all-reduce of
$\bar g$ becomes a reduce-scatter, plus an all-gather of $w$). In JAX nothing but the
shardings changes: give the state these shardings in ``jax.jit``'s ``in_shardings`` and
``out_shardings`` and XLA's SPMD partitioner inserts the collectives. The numbers are those
of the unsharded step (up to the order of floating-point reductions).

References:
  Rajbhandari, Rasley, Ruwase & He, "ZeRO: Memory Optimizations Toward Training Trillion
  Parameter Models", SC 2020, arXiv:1910.02054.
"""

from __future__ import annotations

from typing import Any

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from gradtx import _tree
from gradtx._base import GradientTransformation


def _abstract(params: Any) -> Any:
    """``jax.ShapeDtypeStruct`` leaves (``None`` kept), so ``eval_shape`` allocates nothing."""

    def leaf(x):
        if x is None:
            return None
        return jax.ShapeDtypeStruct(x.shape, x.dtype)

    return jax.tree.map(leaf, params, is_leaf=_tree.is_none)


def _spec_of(x: Any, ndim: int) -> tuple:
    """The ``PartitionSpec`` of a parameter as a tuple of length ``ndim`` (replicated if none)."""
    sharding = getattr(x, "sharding", None)
    spec = tuple(sharding.spec) if isinstance(sharding, NamedSharding) else ()
    return spec + (None,) * (ndim - len(spec))


def _axes_in(spec: tuple) -> set[str]:
    used = set()
    for entry in spec:
        if entry is None:
            continue
        used.update(entry if isinstance(entry, tuple) else (entry,))
    return used


def _zero(spec: tuple, shape: tuple, size: int, axis: str) -> tuple:
    """Also split over ``axis`` on the first unsharded dimension that ``size`` divides."""
    if not shape or axis in _axes_in(spec):
        return spec
    for d, n in enumerate(shape):
        if spec[d] is None and n > 0 and n % size == 0:
            return (*spec[:d], axis, *spec[d + 1 :])
    return spec


def _key(path: tuple) -> tuple[str, ...]:
    return tuple(jax.tree_util.keystr((k,)) for k in path)


def state_shardings(
    tx: GradientTransformation, params: Any, mesh: Mesh, zero_axis: str | None = None
) -> Any:
    r"""A ``NamedSharding`` for every leaf of ``tx.init(params)``, computed without allocating.

    Rules, leaf by leaf (see the module docstring for the ZeRO-1 idea):

    1. a state leaf whose path ends with a parameter's path and whose shape is that
       parameter's takes the parameter's ``PartitionSpec`` (moments follow their parameter);
    2. any other leaf is replicated, ``PartitionSpec()`` (counts, hyperparameters);
    3. with ``zero_axis``, a non-scalar leaf is also split over ``zero_axis`` on its first
       dimension that is not sharded yet and is divisible by the axis size (a leaf with no
       such dimension, or already split over ``zero_axis``, is left as in 1-2).

    Args:
      tx: the gradient transformation (anything with ``init``).
      params: the parameters: arrays or ``jax.ShapeDtypeStruct`` s; a leaf whose
        ``sharding`` is a ``NamedSharding`` contributes its spec, any other is treated as
        replicated.
      mesh: the device mesh of the returned shardings.
      zero_axis: a mesh axis name over which to shard the state (ZeRO stage 1), or ``None``.

    Returns:
      A tree with the structure of ``tx.init(params)``: a ``NamedSharding`` per array leaf,
      ``None`` where the state has ``None``. Use it as ``out_shardings`` of
      ``jax.jit(tx.init)``, as the shardings of the state in a jitted training step, or in
      ``jax.ShapeDtypeStruct(..., sharding=...)`` templates for restoring checkpoints.

    Raises:
      ValueError: if ``zero_axis`` is not an axis of ``mesh``.

    Example:
      >>> import jax, jax.numpy as jnp, numpy as np, gradtx
      >>> from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
      >>> mesh = Mesh(np.array(jax.devices()[:1]).reshape(1, 1), ("data", "model"))
      >>> params = {"w": jax.device_put(jnp.ones((4, 2)), NamedSharding(mesh, P(None, "model")))}
      >>> from gradtx.sharding import state_shardings
      >>> sh = state_shardings(gradtx.adam(1e-3), params, mesh, zero_axis="data")
      >>> tuple(sh.inner_state[0][0].ema["w"].spec), tuple(sh.count.spec)
      (('data', 'model'), ())
    """
    if zero_axis is not None and zero_axis not in mesh.axis_names:
        raise ValueError(
            f"zero_axis must be an axis of the mesh {tuple(mesh.axis_names)} or None, "
            f"got {zero_axis!r}."
        )
    flat_params, _ = jax.tree_util.tree_flatten_with_path(params, is_leaf=_tree.is_none)
    by_path = {
        _key(path): (tuple(x.shape), _spec_of(x, len(x.shape)))
        for path, x in flat_params
        if x is not None and hasattr(x, "shape")
    }
    layout = jax.eval_shape(tx.init, _abstract(params))
    flat_state, treedef = jax.tree_util.tree_flatten_with_path(layout, is_leaf=_tree.is_none)
    zero_size = None if zero_axis is None else mesh.shape[zero_axis]

    def sharding_of(path: tuple, leaf: Any) -> NamedSharding | None:
        if leaf is None:
            return None
        shape = tuple(leaf.shape)
        spec = (None,) * len(shape)
        key = _key(path)
        for start in range(len(key) + 1):  # the longest parameter path that is a suffix
            match = by_path.get(key[start:])
            if match is not None:
                if match[0] == shape:
                    spec = match[1]
                break
        if zero_size is not None:
            spec = _zero(spec, shape, zero_size, zero_axis)
        while spec and spec[-1] is None:
            spec = spec[:-1]
        return NamedSharding(mesh, PartitionSpec(*spec))

    return jax.tree.unflatten(treedef, [sharding_of(p, x) for p, x in flat_state])


def init_sharded(
    tx: GradientTransformation, params: Any, mesh: Mesh, zero_axis: str | None = None
) -> Any:
    """``tx.init(params)`` placed with :func:`state_shardings`, never gathered on one device.

    It is ``jax.jit(tx.init, out_shardings=state_shardings(...))(params)``: each device
    materializes only its own shard of every moment.

    Args:
      tx: the gradient transformation.
      params: the (sharded) parameters.
      mesh: the device mesh.
      zero_axis: as in :func:`state_shardings`.

    Returns:
      The initial optimizer state, sharded.

    Example:
      >>> import jax, jax.numpy as jnp, numpy as np, gradtx
      >>> from jax.sharding import Mesh
      >>> mesh = Mesh(np.array(jax.devices()[:1]).reshape(1, 1), ("data", "model"))
      >>> from gradtx.sharding import init_sharded
      >>> state = init_sharded(gradtx.adam(1e-3), {"w": jnp.ones(4)}, mesh)
      >>> state.inner_state[0][0].ema["w"].sharding.mesh.axis_names
      ('data', 'model')
    """
    shardings = state_shardings(tx, params, mesh, zero_axis)
    return jax.jit(tx.init, out_shardings=shardings)(params)
