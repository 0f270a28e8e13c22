"""Per-layer treatment: masks, partitions by label, labels from paths.

A *mask* is a tree of Python bools with the structure of the parameters (or of a prefix of
it: ``{"encoder": True, "decoder": False}`` covers every leaf below each key), or a function
of the parameters returning one. A *label tree* is the same with hashable labels.

The inner transform of :func:`masked` sees only the selected leaves: the others are
replaced by an empty :class:`MaskedNode`, so its state holds nothing for them (as in
Optax). The ``gradient`` keyword of :func:`gradtx.chain` is masked the same way, so a
primitive with ``source="gradient"`` keeps working inside a mask.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping
from typing import Any, NamedTuple

import jax
import numpy as np

from gradtx import _tree
from gradtx._base import (
    GradientTransformation,
    MaskOrFn,
    as_transform,
    check_state_type,
)


class MaskedNode(NamedTuple):
    """An empty tree node standing for a leaf that the inner transform does not see."""


class MaskedState(NamedTuple):
    """State of :func:`masked`: the inner state, which covers the selected leaves only."""

    inner_state: Any


class PartitionState(NamedTuple):
    """State of :func:`partition`: one masked inner state per label."""

    inner_states: dict[Hashable, Any]


MultiTransformState = PartitionState


def _is_leaf_or_masked(x: Any) -> bool:
    return x is None or isinstance(x, MaskedNode)


def _as_flag(value: Any, who: str) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if value is not None and not isinstance(value, jax.core.Tracer):
        arr = np.asarray(value) if hasattr(value, "dtype") else None
        if arr is not None and arr.shape == () and arr.dtype == np.bool_:
            return bool(arr)
    raise ValueError(
        f"{who}: mask leaves must be static Python bools (the mask fixes the state layout), "
        f"got {value!r}."
    )


def _flags(mask: Any, tree: Any, who: str) -> list[bool]:
    """One bool per leaf of ``tree`` (``None`` leaves count) from a mask or a mask function."""
    resolved = mask(tree) if _tree.is_function_of_params(mask) else mask
    values = _tree.broadcast_prefix(resolved, tree, "mask", who)
    leaves = _tree.leaves_with_none(tree)
    return [x is not None and _as_flag(v, who) for x, v in zip(leaves, values)]


def _select(tree: Any, flags: list[bool]) -> Any:
    """``tree`` with the leaves whose flag is False replaced by :class:`MaskedNode`."""
    leaves = _tree.leaves_with_none(tree)
    return _tree.replace_leaves(tree, [x if f else MaskedNode() for x, f in zip(leaves, flags)])


def _merge(original: Any, selected: Any, flags: list[bool], who: str) -> Any:
    """The leaves of ``selected`` where the flag is True, those of ``original`` elsewhere."""
    # Up to the structure of the original (None a leaf): a nested partition's MaskedNode (a
    # node without children) stays one entry.
    try:
        new = jax.tree.structure(original, is_leaf=_tree.is_none).flatten_up_to(selected)
    except (ValueError, TypeError):
        got = jax.tree.structure(selected, is_leaf=_is_leaf_or_masked)
        raise ValueError(
            f"{who}: the inner transform must keep the structure of its updates (MaskedNode "
            f"included); got {got}."
        ) from None
    old = _tree.leaves_with_none(original)
    return _tree.replace_leaves(original, [n if f else o for o, n, f in zip(old, new, flags)])


def _masked_update(
    inner: GradientTransformation,
    flags: list[bool],
    updates: Any,
    inner_state: Any,
    params: Any,
    extra: dict[str, Any],
    mask_compatible_extra_args: bool,
    who: str,
) -> tuple[Any, Any]:
    if params is not None:
        _tree.check_same_structure(("updates", "params"), (updates, params))
    structure = jax.tree.structure(updates, is_leaf=_tree.is_none)

    def maybe_mask(key, value):
        wanted = key == "gradient" or mask_compatible_extra_args
        if wanted and jax.tree.structure(value, is_leaf=_tree.is_none) == structure:
            return _select(value, flags)
        return value

    extra = {k: maybe_mask(k, v) for k, v in extra.items()}
    new_selected, inner_state = inner.update(
        _select(updates, flags),
        inner_state,
        None if params is None else _select(params, flags),
        **extra,
    )
    return _merge(updates, new_selected, flags, who), inner_state


def masked(
    inner: GradientTransformation, mask: MaskOrFn, *, mask_compatible_extra_args: bool = False
) -> GradientTransformation:
    r"""Apply ``inner`` to the leaves selected by ``mask``; pass the others through unchanged.

    $$u_\ell \leftarrow \begin{cases} \mathrm{inner}(u)_\ell & m_\ell \\
      u_\ell & \text{otherwise}\end{cases}$$

    The inner transform sees a tree in which unselected leaves are empty
    :class:`MaskedNode` s, so its state only covers the selected leaves (Optax's layout).

    Args:
      inner: the transform to apply (gradtx or Optax).
      mask: a tree of bools with the structure of the params or a prefix of it, or a
        function of the params (of the updates, in ``update``) returning one. It must be
        static: it fixes the layout of the state.
      mask_compatible_extra_args: also mask extra keyword arguments (``grad``, ...) that
        have the structure of the updates. ``gradient`` is always masked.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`MaskedState`.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> from gradtx.wrappers import masked
      >>> params = {"w": jnp.ones(2), "b": jnp.ones(1)}
      >>> tx = masked(gradtx.add_decayed_weights(0.5), {"w": True, "b": False})
      >>> u, _ = tx.update({"w": jnp.zeros(2), "b": jnp.zeros(1)}, tx.init(params), params)
      >>> u["w"].tolist(), u["b"].tolist()
      ([0.5, 0.5], [0.0])
    """
    inner = as_transform(inner, "masked inner")
    if not _tree.is_function_of_params(mask):
        jax.tree.map(lambda v: v is None or _as_flag(v, "masked"), mask, is_leaf=_tree.is_none)

    def init(params):
        if _tree.is_placeholder(params):  # optax.tree.map_params: no leaves to mask
            return MaskedState(inner.init(params))
        return MaskedState(inner.init(_select(params, _flags(mask, params, "masked"))))

    def update(updates, state, params=None, **extra):
        check_state_type(state, MaskedState, "masked")
        flags = _flags(mask, updates if params is None else params, "masked")
        updates, inner_state = _masked_update(
            inner,
            flags,
            updates,
            state.inner_state,
            params,
            extra,
            mask_compatible_extra_args,
            "masked",
        )
        return updates, MaskedState(inner_state)

    return GradientTransformation(init, update)


def _labels(param_labels: Any, tree: Any, transforms: Mapping, who: str) -> list[Any]:
    """One label per leaf of ``tree`` (``None`` for ``None`` leaves), each a transform key."""
    resolved = param_labels(tree) if _tree.is_function_of_params(param_labels) else param_labels
    labels = _tree.broadcast_prefix(resolved, tree, "param_labels", who)
    paths, _ = jax.tree_util.tree_flatten_with_path(tree, is_leaf=_tree.is_none)
    out = []
    for (path, leaf), label in zip(paths, labels):
        if leaf is None:
            out.append(None)
            continue
        try:
            known = label in transforms
        except TypeError:  # an unhashable label
            known = False
        if not known:
            raise ValueError(
                f"{who}: the label {label!r} of params{jax.tree_util.keystr(path)} has no "
                f"transform; available labels: [{', '.join(sorted(map(repr, transforms)))}]."
            )
        out.append(label)
    return out


def partition(
    transforms: Mapping[Hashable, Any],
    param_labels: Any,
    *,
    mask_compatible_extra_args: bool = False,
) -> GradientTransformation:
    r"""Apply a different transform to each group of leaves, chosen by a label per leaf.

    $$u_\ell \leftarrow T_{c(\ell)}(u)_\ell,\qquad c(\ell) = \text{param\_labels}_\ell$$

    Each transform is run as :func:`masked` on the leaves with its label, so its state
    covers those leaves only. For per-layer learning rates, build the labels with
    :func:`labels_by_path`.

    Args:
      transforms: a mapping from label to transform (gradtx or Optax).
      param_labels: a tree of labels with the structure of the params or a prefix of it,
        or a function of the params (of the updates, in ``update``) returning one. Every
        label must be a key of ``transforms``.
      mask_compatible_extra_args: also mask extra keyword arguments that have the
        structure of the updates (``gradient`` always is).

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`PartitionState`.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> from gradtx.wrappers import partition
      >>> tx = partition({"fast": gradtx.sgd(1.0), "slow": gradtx.sgd(0.1)},
      ...                {"w": "fast", "b": "slow"})
      >>> g = {"w": jnp.ones(1), "b": jnp.ones(1)}
      >>> u, _ = tx.update(g, tx.init(g))
      >>> u["w"].tolist(), [round(x, 6) for x in u["b"].tolist()]
      ([-1.0], [-0.1])
    """
    if not isinstance(transforms, Mapping) or not transforms:
        raise ValueError(
            f"partition: transforms must be a non-empty mapping from label to transform, "
            f"got {transforms!r}."
        )
    members = {k: as_transform(t, f"partition transform {k!r}") for k, t in transforms.items()}
    keys = tuple(members)  # a jitted state may come back with its dict keys sorted

    def init(params):
        if _tree.is_placeholder(params):  # optax.tree.map_params: no leaves to label
            return PartitionState({k: inner.init(params) for k, inner in members.items()})
        labels = _labels(param_labels, params, members, "partition")
        states = {
            k: inner.init(_select(params, [label == k for label in labels]))
            for k, inner in members.items()
        }
        return PartitionState(states)

    def update(updates, state, params=None, **extra):
        check_state_type(state, PartitionState, "partition")
        if not isinstance(state.inner_states, dict) or set(state.inner_states) != set(keys):
            got = list(state.inner_states) if isinstance(state.inner_states, dict) else "none"
            raise ValueError(f"partition expects a state with labels {list(keys)}, got {got}.")
        labels = _labels(param_labels, updates if params is None else params, members, "partition")
        new_states = {}
        for k, inner in members.items():
            updates, new_states[k] = _masked_update(
                inner,
                [label == k for label in labels],
                updates,
                state.inner_states[k],
                params,
                extra,
                mask_compatible_extra_args,
                "partition",
            )
        return updates, PartitionState(new_states)

    return GradientTransformation(init, update)


multi_transform = partition


def labels_by_path(
    rules: Mapping[str, Hashable], default: Hashable | None = None
) -> Callable[[Any], Any]:
    r"""A label function for :func:`partition`: label each leaf by a regex on its path.

    $$c(\ell) = \text{label of the first rule whose pattern matches }
      \texttt{keystr}(\text{path}_\ell),\ \text{else default}$$

    The path of a leaf is ``jax.tree_util.keystr`` of its key path, for instance
    ``"['encoder']['layer_0']['w']"`` in a nested dict; patterns are matched with
    ``re.search`` (anywhere in the path), in the order of ``rules``.

    Args:
      rules: a mapping from regular expression to label.
      default: the label of a leaf that no rule matches; ``None`` makes such a leaf an
        error (naming its path).

    Returns:
      A function ``params -> tree of labels``, for ``partition(..., param_labels=...)``.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.wrappers import labels_by_path
      >>> params = {"layer_0": {"w": jnp.ones(2), "b": jnp.ones(2)}, "head": {"w": jnp.ones(1)}}
      >>> labels_by_path({r"\['b'\]$": "no_decay", r"head": "head"}, default="body")(params)
      {'head': {'w': 'head'}, 'layer_0': {'b': 'no_decay', 'w': 'body'}}
    """
    if not isinstance(rules, Mapping):
        raise ValueError(f"labels_by_path: rules must be a mapping regex -> label, got {rules!r}.")
    compiled = []
    for pattern, label in rules.items():
        try:
            compiled.append((re.compile(pattern), label))
        except (re.error, TypeError) as err:
            raise ValueError(f"labels_by_path: invalid pattern {pattern!r}: {err}") from None

    def label_of(path, leaf):
        if leaf is None:
            return None
        where = jax.tree_util.keystr(path)
        for regex, label in compiled:
            if regex.search(where):
                return label
        if default is None:
            raise ValueError(
                f"labels_by_path: no rule matches the path {where!r} and there is no default; "
                f"patterns: {[r.pattern for r, _ in compiled]}."
            )
        return default

    def param_labels(params):
        return jax.tree_util.tree_map_with_path(label_of, params, is_leaf=_tree.is_none)

    return param_labels
