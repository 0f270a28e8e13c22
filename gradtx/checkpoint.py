"""Save and restore optimizer states (or any pytree of arrays) in a plain, portable format.

A checkpoint is one ``.npz`` file (NumPy's zip of ``.npy`` arrays, readable without gradtx
or JAX). Each leaf is stored under its ``jax.tree_util.keystr`` path, for instance
``.inner_state[0][0].ema['dense']['w']``, next to a small JSON header:

* ``format`` and ``version`` (a file from a newer gradtx is refused, not misread);
* ``treedef``: the string of the tree's ``PyTreeDef`` (node types such as ``EmaState``);
* one record per leaf: its path, kind (``array``, ``none`` or ``float0``), shape, dtype,
  and how it is stored.

NumPy cannot store ``bfloat16`` (or the other ``ml_dtypes`` floats) natively: such a leaf is
stored as its raw bits (``uint16`` for ``bfloat16``) with the dtype's name, so it round-trips
bit for bit. ``None`` leaves (a frozen parameter's slot, the ``scheduled`` names of
:class:`gradtx.InjectState`) and ``float0`` leaves hold no data and are stored in the header
only.

:func:`load` restores *into a template*: the state that ``tx.init(params)`` returns, or its
layout ``jax.eval_shape(tx.init, params)``. The template fixes the tree structure and the
node types (NamedTuples are rebuilt from it, never unpickled); the file must have exactly
the template's paths, shapes and dtypes, or a ``ValueError`` names the first difference. A
template leaf that carries a ``sharding`` (a sharded array, or a ``jax.ShapeDtypeStruct``
with ``sharding=``) is restored with that sharding.

For multi-host training, or for arrays too large to gather on one host, use Orbax
(``orbax.checkpoint.StandardCheckpointer``): gradtx states are plain pytrees and need no
adapter (see ``docs/reliability.md``).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _tree

FORMAT = "gradtx.checkpoint"
VERSION = 1
HEADER_KEY = "__gradtx_header__"


def _is_float0(dtype: Any) -> bool:
    return dtype is not None and np.dtype(dtype) == np.dtype(jax.dtypes.float0)


def _native(dtype: np.dtype) -> bool:
    """Whether ``np.save`` stores this dtype as itself (bool, ints, floats, complex).

    ``bfloat16`` and the ``float8_*`` types of ``ml_dtypes`` have kind ``"V"`` (void).
    """
    return dtype.kind in "biufc"


# Static pytree nodes hold no data (the declarations of the live hyperparameters in an
# ``InjectState``); a checkpoint written before they existed is the same state.
_STATIC_NODE = re.compile(r", CustomNode\(Rules\[Rules\([^()]*\)\], \[\]\)")


def _node_types(treedef: str) -> str:
    """The ``PyTreeDef`` string without its static (data-free) nodes."""
    return _STATIC_NODE.sub("", treedef)


def _flatten(tree: Any) -> tuple[list[tuple[str, Any]], Any]:
    leaves, treedef = jax.tree_util.tree_flatten_with_path(tree, is_leaf=_tree.is_none)
    return [(jax.tree_util.keystr(path), leaf) for path, leaf in leaves], treedef


def _record(path: str, leaf: Any) -> tuple[dict[str, Any], np.ndarray | None]:
    """The header record of one leaf, and the array to store for it (None: header only)."""
    if leaf is None:
        return {"path": path, "kind": "none"}, None
    dtype = getattr(leaf, "dtype", None)
    if _is_float0(dtype):
        return {"path": path, "kind": "float0", "shape": list(np.shape(leaf))}, None
    if not getattr(leaf, "is_fully_addressable", True):
        raise ValueError(
            f"gradtx.checkpoint.save: the leaf {path} is an array sharded across processes, "
            "which one host cannot gather; save such states with Orbax (every process calls "
            "orbax.checkpoint.StandardCheckpointer().save), see docs/reliability.md."
        )
    value = np.asarray(jax.device_get(leaf))
    record = {
        "path": path,
        "kind": "array",
        "shape": list(value.shape),
        "dtype": jnp.dtype(value.dtype).name,
    }
    if not _native(value.dtype):  # bfloat16, float8_*: keep the raw bits
        if value.dtype.kind != "V" or value.dtype.itemsize not in (1, 2, 4, 8):
            raise ValueError(
                f"gradtx.checkpoint.save: cannot store the leaf {path} of dtype {value.dtype}."
            )
        bits = np.dtype(f"uint{8 * value.dtype.itemsize}")
        value = value.view(bits)
        record["stored_as"] = bits.name
    return record, value


def save(path: str | os.PathLike, tree: Any) -> None:
    r"""Write ``tree`` (an optimizer state, or ``{"params": ..., "opt_state": ...}``) to ``path``.

    The file is an ``.npz`` archive of the leaves keyed by their ``keystr`` paths, plus a
    JSON header (format version, tree structure, dtypes); see the module docstring. It is
    written to a temporary file first and then renamed, so a crash never leaves a truncated
    checkpoint at ``path``. ``path`` is used as given (no ``.npz`` is appended).

    Args:
      path: the file to write (overwritten if it exists).
      tree: a pytree of arrays; ``None``, ``float0`` and ``bfloat16`` leaves are supported.

    Raises:
      ValueError: if two leaves have the same path string, or a leaf is an array sharded
        across processes (use Orbax for those).

    Example:
      >>> import os, tempfile, jax.numpy as jnp, gradtx
      >>> from gradtx import checkpoint
      >>> tx = gradtx.adam(1e-3)
      >>> state = tx.init({"w": jnp.ones(3, jnp.bfloat16)})
      >>> path = os.path.join(tempfile.mkdtemp(), "opt.npz")
      >>> checkpoint.save(path, state)
      >>> restored = checkpoint.load(path, like=tx.init({"w": jnp.ones(3, jnp.bfloat16)}))
      >>> float(restored.hyperparams["learning_rate"]), restored.count.dtype
      (0.0010000000474974513, dtype('int32'))
    """
    flat, treedef = _flatten(tree)
    records, arrays, seen = [], {}, set()
    for key, leaf in flat:
        if key in seen or key == HEADER_KEY:
            raise ValueError(f"gradtx.checkpoint.save: two leaves have the same path {key!r}.")
        seen.add(key)
        record, value = _record(key, leaf)
        records.append(record)
        if value is not None:
            arrays[key] = value
    header = {"format": FORMAT, "version": VERSION, "treedef": str(treedef), "leaves": records}
    arrays[HEADER_KEY] = np.array(json.dumps(header))
    path = os.fspath(path)
    tmp = f"{path}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"  # same folder: an atomic rename
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """Return the JSON header of a checkpoint written by :func:`save` (no arrays are read).

    Raises:
      ValueError: if the file is not a gradtx checkpoint, or was written by a newer format.

    Example:
      >>> import os, tempfile, jax.numpy as jnp
      >>> from gradtx import checkpoint
      >>> path = os.path.join(tempfile.mkdtemp(), "t.npz")
      >>> checkpoint.save(path, {"a": jnp.zeros(2), "b": None})
      >>> [(r["path"], r["kind"]) for r in checkpoint.read_header(path)["leaves"]]
      [("['a']", 'array'), ("['b']", 'none')]
    """
    with np.load(os.fspath(path), allow_pickle=False) as data:
        return _header(data, path)


def _header(data: Any, path: Any) -> dict[str, Any]:
    if HEADER_KEY not in data.files:
        raise ValueError(f"{os.fspath(path)} is not a gradtx checkpoint: it has no header.")
    header = json.loads(str(data[HEADER_KEY]))
    if header.get("format") != FORMAT:
        raise ValueError(f"{os.fspath(path)} is not a gradtx checkpoint: {header.get('format')}")
    if int(header.get("version", 0)) > VERSION:
        raise ValueError(
            f"{os.fspath(path)} was written in checkpoint format version {header['version']}; "
            f"this gradtx reads versions up to {VERSION}. Upgrade gradtx to load it."
        )
    return header


def _describe(leaf: Any) -> str:
    if leaf is None:
        return "None"
    dtype = getattr(leaf, "dtype", None)
    if dtype is None:
        dtype = np.result_type(leaf)
    return f"{jnp.dtype(dtype).name}{list(np.shape(leaf))}"


def _describe_record(r: dict[str, Any]) -> str:
    if r["kind"] == "none":
        return "None"
    return f"{r.get('dtype', 'float0')}{r['shape']}"


_HINT = "Was it saved from another optimizer, another version of the chain, or other params?"


def _check(records: list[dict[str, Any]], flat: list[tuple[str, Any]], where: str) -> None:
    """Raise a ``ValueError`` naming the first missing/extra path or mismatching leaf."""
    saved = {r["path"]: r for r in records}
    wanted = dict(flat)
    for key, _ in flat:
        if key not in saved:
            raise ValueError(
                f"{where}: the checkpoint has no entry for {key or '<root>'}, which the "
                f"template expects ({len(saved)} saved leaves, {len(wanted)} expected). {_HINT}"
            )
    for r in records:
        if r["path"] not in wanted:
            raise ValueError(
                f"{where}: the checkpoint has {r['path'] or '<root>'}, which the template "
                f"lacks. {_HINT}"
            )
    for key, leaf in flat:
        r = saved[key]
        if leaf is None or r["kind"] == "none":
            ok = leaf is None and r["kind"] == "none"
        elif r["kind"] == "float0":
            dtype = getattr(leaf, "dtype", None)
            ok = _is_float0(dtype) and list(np.shape(leaf)) == r["shape"]
        else:
            dtype = getattr(leaf, "dtype", None)
            dtype = np.result_type(leaf) if dtype is None else dtype
            ok = list(np.shape(leaf)) == r["shape"] and jnp.dtype(dtype).name == r["dtype"]
        if not ok:
            raise ValueError(
                f"{where}: {key or '<root>'} is {_describe_record(r)} in the checkpoint but "
                f"{_describe(leaf)} in the template. {_HINT}"
            )


def _restore_leaf(record: dict[str, Any], data: Any, like: Any) -> Any:
    if record["kind"] == "none":
        return None
    if record["kind"] == "float0":
        return np.zeros(record["shape"], jax.dtypes.float0)
    value = data[record["path"]]
    if "stored_as" in record:
        value = value.view(jnp.dtype(record["dtype"]))
    if isinstance(like, (bool, int, float, complex)):  # a Python scalar stays one
        return type(like)(value.item())
    sharding = getattr(like, "sharding", None)
    if sharding is not None:
        return jax.device_put(value, sharding)
    return jnp.asarray(value)


def load(path: str | os.PathLike, like: Any, *, strict: bool = True) -> Any:
    """Read a checkpoint written by :func:`save` into the structure of ``like``.

    Args:
      path: the file written by :func:`save`.
      like: a template with the structure of the saved tree: ``tx.init(params)``, or
        ``jax.eval_shape(tx.init, params)`` (nothing is allocated); only its structure,
        shapes, dtypes and shardings are used. A leaf with a ``sharding`` attribute is
        restored with that sharding.
      strict: also require the saved ``PyTreeDef`` string to equal the template's (the node
        types, e.g. ``ScaleByRmsState``). Paths, shapes and dtypes are always checked; set
        ``False`` to load a state whose NamedTuple classes were renamed.

    Returns:
      A tree with the structure and node types of ``like`` and the saved values (JAX
      arrays; ``None`` and ``float0`` leaves as in the template).

    Raises:
      ValueError: naming the first path that is missing from the file or from the
        template, or whose shape or dtype differs; or if the file is not a gradtx
        checkpoint (or is of a newer format version).

    Example:
      >>> import os, tempfile, jax, jax.numpy as jnp, gradtx
      >>> from gradtx import checkpoint
      >>> params = {"w": jnp.ones(2)}
      >>> tx = gradtx.sgd(0.1, momentum=0.9)
      >>> state = tx.update(params, tx.init(params), params)[1]
      >>> path = os.path.join(tempfile.mkdtemp(), "opt.npz")
      >>> checkpoint.save(path, state)
      >>> same = checkpoint.load(path, like=jax.eval_shape(tx.init, params))
      >>> int(same.count)
      1
      >>> checkpoint.load(path, like=gradtx.adam(0.1).init(params))
      Traceback (most recent call last):
      ...
      ValueError: gradtx.checkpoint.load: the checkpoint has no entry for .hyperparams['b1'], ...
    """
    where = "gradtx.checkpoint.load"
    flat, treedef = _flatten(like)
    with np.load(os.fspath(path), allow_pickle=False) as data:
        header = _header(data, path)
        records = header["leaves"]
        _check(records, flat, where)
        if strict and _node_types(header["treedef"]) != _node_types(str(treedef)):
            raise ValueError(
                f"{where}: the paths, shapes and dtypes match but the node types differ.\n"
                f"  checkpoint: {header['treedef']}\n  template:   {treedef}\n"
                "Pass strict=False if only the state classes were renamed."
            )
        saved = {r["path"]: r for r in records}
        leaves = [_restore_leaf(saved[key], data, leaf) for key, leaf in flat]
    return jax.tree.unflatten(treedef, leaves)
