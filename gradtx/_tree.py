"""Per-leaf math lifted to pytrees, written once for the whole library.

Every transform in gradtx writes its update rule for *one array* and lifts it with
:func:`leafwise`. The lifting mechanism decides, in one place, three things that Optax
leaves to each transform:

* ``None`` leaves (a frozen parameter, an absent gradient) pass through untouched;
* leaves whose dtype is not inexact (integer, boolean, ``float0`` gradients) are not
  trained: their update passes through unchanged and their state slot is ``None``;
* a tree whose structure differs from the state's raises a ``ValueError`` that names
  the first differing path and prints both structures, instead of an error from deep
  inside ``jax.tree.map``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

_INT32_MAX = np.iinfo(np.int32).max


def is_none(x: Any) -> bool:
    """Leaf predicate that keeps ``None`` as a leaf when flattening."""
    return x is None


def is_trainable(x: Any) -> bool:
    """True for an array (or ``ShapeDtypeStruct``) of floating or complex dtype."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        dtype = np.result_type(x)
    return bool(jnp.issubdtype(dtype, jnp.inexact))


def real_dtype(dtype: Any) -> Any:
    """The real counterpart of a (possibly complex) dtype: complex64 -> float32."""
    return jnp.finfo(dtype).dtype


class Scalars:
    """Scalar hyperparameters, computed once per update and cast once per leaf dtype.

    ``s = Scalars(decay=b, one_minus=1 - b)`` then ``s(leaf).decay`` inside a per-leaf
    function. With a thousand leaves of one dtype this traces one cast instead of a
    thousand: fewer operations to trace, lower and compile, and nothing changes numerically
    (the cast is the same one a weakly-typed Python float gets).
    """

    def __init__(self, **values: Any):
        self._values = {k: jnp.asarray(v) for k, v in values.items()}
        self._by_dtype: dict[Any, SimpleNamespace] = {}

    def __call__(self, leaf: Any) -> SimpleNamespace:
        dtype = real_dtype(leaf.dtype)
        if dtype not in self._by_dtype:
            cast = {k: v.astype(dtype) for k, v in self._values.items()}
            self._by_dtype[dtype] = SimpleNamespace(**cast)
        return self._by_dtype[dtype]


def safe_increment(count: jax.Array) -> jax.Array:
    """``count + 1`` for an int32 counter, saturating at the largest int32 instead of wrapping."""
    count = jnp.asarray(count)
    return jnp.where(count < _INT32_MAX, count + 1, count).astype(jnp.int32)


def zero_count() -> jax.Array:
    """A fresh int32 step counter."""
    return jnp.zeros([], jnp.int32)


def abs_sq(x: jax.Array) -> jax.Array:
    """``|x|**2`` for real or complex ``x`` (real result)."""
    if jnp.iscomplexobj(x):
        return jnp.real(x) ** 2 + jnp.imag(x) ** 2
    return x * x


def _paths(tree: Any) -> list[str]:
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree, is_leaf=is_none)
    return [jax.tree_util.keystr(path) for path, _ in leaves]


def check_same_structure(names: Sequence[str], trees: Sequence[Any]) -> None:
    """Raise a ``ValueError`` naming the first differing path if the trees differ."""
    first = jax.tree.structure(trees[0], is_leaf=is_none)
    for name, tree in zip(names[1:], trees[1:]):
        other = jax.tree.structure(tree, is_leaf=is_none)
        if other == first:
            continue
        a, b = _paths(trees[0]), _paths(tree)
        diff = next(
            (f"`{names[0]}` has {x} where `{name}` has {y}" for x, y in zip(a, b) if x != y),
            f"`{names[0]}` has {len(a)} leaves and `{name}` has {len(b)}",
        )
        raise ValueError(
            f"The tree structure of `{name}` does not match `{names[0]}`: first difference: "
            f"{diff}.\n  {names[0]}: {first}\n  {name}: {other}\n"
            "Was the state created by this optimizer's `init` for these parameters?"
        )


def _at_least_f32(x: Any) -> Any:
    """Half-precision leaves are computed in float32 (and cast back by :func:`leafwise`)."""
    if x is None or not is_trainable(x) or jnp.finfo(x.dtype).bits >= 32:
        return x
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def leafwise(
    fn: Callable[..., Any],
    updates: Any,
    *others: Any,
    names: Sequence[str] | None = None,
    n_out: int = 1,
    mask: Sequence[bool] | None = None,
) -> Any:
    """Apply ``fn(update_leaf, *other_leaves)`` to every trainable leaf.

    ``fn`` sees float16 and bfloat16 leaves as float32 and its outputs are cast back to the
    dtype of the update (first output) and of each state tree (the others): the arithmetic
    of every optimizer runs in at least float32, so ``eps = 1e-8`` does not round to 0 in
    float16, while parameters and state keep their dtypes. Float32 and float64 leaves are
    untouched.

    Args:
      fn: per-leaf function; returns one array, or a tuple of ``n_out`` arrays.
      updates: the tree that decides which leaves are trained (``None`` and
        non-inexact leaves pass through; their slots in ``others`` are returned as they are).
      *others: trees with the structure of ``updates`` (``None`` allowed as a leaf).
      names: names used in the structure-mismatch error, one per tree.
      n_out: number of outputs of ``fn``; with ``n_out > 1`` a tuple of trees is returned:
        the new updates, then the new values of the *last* ``n_out - 1`` input trees (the
        state trees), which are passed through unchanged at untrained leaves.

      mask: optional, one bool per leaf of ``updates`` (``None`` leaves included, in
        flattening order); leaves whose flag is False pass through like untrained ones.

    Returns:
      A tree (or tuple of ``n_out`` trees) with the structure of ``updates``.
    """
    trees = (updates, *others)
    if names is None:
        names = ["updates"] + [f"state[{i}]" for i in range(len(others))]
    check_same_structure(names, trees)
    flat = [jax.tree.leaves(t, is_leaf=is_none) for t in trees]
    treedef = jax.tree.structure(updates, is_leaf=is_none)
    outs: list[list[Any]] = [[] for _ in range(n_out)]
    keep = [True] * len(flat[0]) if mask is None else list(mask)
    for leaves, trained in zip(zip(*flat), keep):
        g = leaves[0]
        if g is None or not is_trainable(g) or not trained:
            states = leaves[len(leaves) - (n_out - 1) :] if n_out > 1 else ()
            for k, value in enumerate((g, *states)):
                outs[k].append(value)
            continue
        result = fn(*[_at_least_f32(x) for x in leaves])
        if n_out == 1:
            result = (result,)
        out_like = (g, *leaves[len(leaves) - (n_out - 1) :])
        for k in range(n_out):
            outs[k].append(result[k].astype(out_like[k].dtype))
    trees_out = [jax.tree.unflatten(treedef, o) for o in outs]
    return trees_out[0] if n_out == 1 else tuple(trees_out)


def _key_paths(tree: Any) -> list[tuple]:
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree, is_leaf=is_none)
    return [path for path, _ in leaves]


def _first_mismatch(prefix: Any, full: Any, what: str) -> str:
    keystr = jax.tree_util.keystr
    ppaths, fpaths = _key_paths(prefix), _key_paths(full)
    for mp in ppaths:
        if not any(fp[: len(mp)] == mp for fp in fpaths):
            return f"`{what}` has {keystr(mp) or 'a leaf at the root'}, which `params` lacks"
    for fp in fpaths:
        if not any(fp[: len(mp)] == mp for mp in ppaths):
            return f"`params` has {keystr(fp)}, which `{what}` does not cover"
    return "the containers have the same keys but different types"


def is_placeholder(params: Any) -> bool:
    """Whether ``params`` is an opaque, leaf-free stand-in for the parameters: Optax's
    ``tree.map_params`` calls ``init`` with one to find where the state holds copies of them.
    A wrapper that looks into the parameters (a mask, labels) passes it through instead."""
    if params is None or isinstance(params, (dict, list, tuple)):
        return False
    return not jax.tree.leaves(params) and jax.tree.structure(params).num_nodes == 1


def is_function_of_params(mask: Any) -> bool:
    """Whether a mask (or labels) argument is a function of the parameters rather than a tree.

    A callable pytree whose leaves are data (an Equinox module holding bools) is a tree: only
    an object whose leaves are all callable (a plain function) is called (Optax issue #913).
    """
    leaves = jax.tree.leaves(jax.tree.map(callable, mask))
    return bool(leaves) and all(leaves)


def broadcast_prefix(prefix: Any, full: Any, what: str, who: str) -> list[Any]:
    """One value per leaf of ``full`` from ``prefix``, a tree whose leaves label subtrees.

    ``prefix`` has the structure of ``full`` or of a prefix of it (a single value labels
    the whole tree, ``{"encoder": x, "decoder": y}`` labels two subtrees). The result is
    aligned with ``jax.tree.leaves(full, is_leaf=lambda x: x is None)``.

    Raises:
      ValueError: naming the first path where the two trees disagree.
    """
    treedef = jax.tree.structure(prefix, is_leaf=is_none)
    try:
        subtrees = treedef.flatten_up_to(full)
    except (ValueError, TypeError):
        raise ValueError(
            f"{who}: the structure of `{what}` is neither that of `params` nor a prefix of "
            f"it: {_first_mismatch(prefix, full, what)}.\n"
            f"  {what}: {treedef}\n"
            f"  params: {jax.tree.structure(full, is_leaf=is_none)}"
        ) from None
    values = jax.tree.leaves(prefix, is_leaf=is_none)
    out: list[Any] = []
    for value, sub in zip(values, subtrees):
        out.extend([value] * len(jax.tree.leaves(sub, is_leaf=is_none)))
    return out


def _fill(tree: Any, value: Any, dtype: Any, real: bool) -> Any:
    def make(x):
        if x is None or not is_trainable(x):
            return None
        dt = x.dtype if dtype is None else dtype
        dt = real_dtype(dt) if real else dt
        if isinstance(x, jax.ShapeDtypeStruct):  # a layout: keep its sharding, if any
            sharding = getattr(x, "sharding", None)
            return jax.ShapeDtypeStruct(x.shape, dt, sharding=sharding)
        return jnp.full_like(x, value, dtype=dt)  # full_like keeps the parameter's sharding

    return jax.tree.map(make, tree, is_leaf=is_none)


def zeros_like(params: Any, dtype: Any = None, *, real: bool = False) -> Any:
    """Zeros shaped like each trainable leaf of ``params`` (``None`` for the others).

    Works on arrays and on ``jax.ShapeDtypeStruct`` trees. With ``real=True`` a complex
    leaf gets a real accumulator (for statistics of ``|g|**2``).
    """
    return _fill(params, 0, dtype, real)


def full_like(params: Any, value: Any, dtype: Any = None, *, real: bool = False) -> Any:
    """``value`` broadcast to each trainable leaf of ``params`` (``None`` for the others)."""
    return _fill(params, value, dtype, real)


def cast_tree(tree: Any, dtype: Any) -> Any:
    """Cast every array leaf to ``dtype`` (no-op when ``dtype`` is None)."""
    if dtype is None:
        return tree
    return jax.tree.map(lambda x: None if x is None else x.astype(dtype), tree, is_leaf=is_none)


def tree_sum_of_squares(tree: Any) -> jax.Array:
    """Sum of ``|x|**2`` over every trainable leaf (0 for an empty tree).

    Each leaf is summed in at least float32, so a bfloat16 gradient's norm does not lose
    its low bits to the accumulation.
    """
    leaves = [x for x in jax.tree.leaves(tree) if is_trainable(x)]
    if not leaves:
        return jnp.zeros([])
    acc = lambda x: jnp.promote_types(real_dtype(x.dtype), jnp.float32)
    return sum(jnp.sum(abs_sq(x), dtype=acc(x)) for x in leaves)


def copy_trainable(params: Any, dtype: Any = None) -> Any:
    """A copy of each trainable leaf (as ``dtype`` if given; layouts stay layouts), else None."""

    def copy(p):
        if p is None or not is_trainable(p):
            return None
        if isinstance(p, jax.ShapeDtypeStruct):
            return jax.ShapeDtypeStruct(p.shape, dtype or p.dtype, sharding=p.sharding)
        return jnp.array(p, dtype=dtype or p.dtype, copy=True)

    return jax.tree.map(copy, params, is_leaf=is_none)


def tree_total(fn: Callable[..., jax.Array], tree: Any, *others: Any) -> jax.Array:
    """The real sum of ``fn(leaf, *other_leaves)`` over the trainable leaves of ``tree``,
    with half precision seen as float32, in the default float dtype."""
    trees = (tree, *others)
    check_same_structure(["updates"] + [f"state[{i}]" for i in range(len(others))], trees)
    total = jnp.zeros([], jnp.result_type(float))
    for leaves in zip(*[jax.tree.leaves(t, is_leaf=is_none) for t in trees]):
        if leaves[0] is not None and is_trainable(leaves[0]):
            up = [x.astype(jnp.promote_types(x.dtype, jnp.float32)) for x in leaves]
            total = total + jnp.real(jnp.sum(fn(*up))).astype(total.dtype)
    return total


def global_norm(tree: Any) -> jax.Array:
    """The l2 norm of all trainable leaves taken together."""
    return jnp.sqrt(tree_sum_of_squares(tree))


# ---------------------------------------------------------------------------------------
# Wrappers: selection, casts and accumulators of whole trees.


def select_tree(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
    """``jnp.where(pred, a, b)`` leaf by leaf, keeping each leaf of ``on_false``'s dtype."""
    pick = lambda a, b: None if b is None else jnp.where(pred, a, b).astype(jnp.result_type(b))
    return jax.tree.map(pick, on_true, on_false, is_leaf=is_none)


def cast_like(tree: Any, ref: Any) -> Any:
    """Cast each array leaf of ``tree`` to the dtype of the matching leaf of ``ref``."""
    cast = lambda x, r: x if x is None or r is None else jax.lax.convert_element_type(
        x, jnp.result_type(r))  # fmt: skip
    return jax.tree.map(cast, tree, ref, is_leaf=is_none)


def accumulator_dtype_for(leaf_dtype: Any, accumulator_dtype: Any) -> Any:
    """The dtype of a parameter-sized accumulator: ``None`` gives the leaf's promoted to at
    least float32; a given real dtype is made complex for a complex leaf."""
    if accumulator_dtype is None:
        return jnp.promote_types(leaf_dtype, jnp.float32)
    if jnp.issubdtype(leaf_dtype, jnp.complexfloating) and not jnp.issubdtype(
        accumulator_dtype, jnp.complexfloating
    ):
        return jnp.promote_types(accumulator_dtype, jnp.complex64)
    return jnp.dtype(accumulator_dtype)


def accumulator_copy(params: Any, accumulator_dtype: Any, *, zeros: bool = False) -> Any:
    """Each trainable leaf (or zeros shaped like it) in its accumulator dtype, else ``None``;
    on ``jax.ShapeDtypeStruct`` leaves, zeros of the right layout."""

    def make(p):
        if p is None or not is_trainable(p):
            return None
        dtype = accumulator_dtype_for(p.dtype, accumulator_dtype)
        if zeros or isinstance(p, jax.ShapeDtypeStruct):  # a layout has no values to copy
            return jnp.zeros_like(p, dtype=dtype)
        return jnp.asarray(p).astype(dtype)

    return jax.tree.map(make, params, is_leaf=is_none)


def _buffer(x: Any) -> int | None:
    """The address of a concrete array's (first) buffer, or None for anything else."""
    if not isinstance(x, jax.Array) or isinstance(x, jax.core.Tracer):
        return None
    try:
        return x.addressable_data(0).unsafe_buffer_pointer()
    except Exception:  # a deleted or non-addressable array: nothing to alias
        return None


def distinct_buffers(tree: Any, *others: Any) -> Any:
    """``tree`` with every array that shares its buffer with an earlier leaf, or with a leaf of
    ``others`` (the parameters), replaced by a copy: a state that can be donated to a jitted
    step (``donate_argnums``), which refuses to donate one buffer twice."""
    seen = {b for t in others for b in map(_buffer, jax.tree.leaves(t)) if b is not None}

    def own(x):
        b = _buffer(x)
        if b is None:
            return x
        if b in seen:
            return jnp.array(x, copy=True)
        seen.add(b)
        return x

    return jax.tree.map(own, tree)


def leaves_with_none(tree: Any) -> list[Any]:
    """The leaves of ``tree``, keeping ``None`` as a leaf."""
    return jax.tree.leaves(tree, is_leaf=is_none)


def replace_leaves(tree: Any, values: list[Any]) -> Any:
    """``tree`` with its leaves (``None`` included) replaced by ``values``, in order."""
    return jax.tree.unflatten(jax.tree.structure(tree, is_leaf=is_none), values)
