"""What the documentation says about each optimizer, derived from the code itself.

* :func:`trace_chain` builds an optimizer and records which public gradtx factories made
  each member of the chain it returns, so the chain shown in the docs is the one that runs.
* :func:`state_floats_per_param` measures the optimizer state per parameter with
  ``jax.eval_shape`` (no memory is allocated).
* ``OptimizerInfo.optax``/``.pytorch`` are the Optax and PyTorch names declared with each optimizer;
  ``tests/test_docs.py`` checks that every registered optimizer has an entry.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import types
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import gradtx

sys.path.insert(0, str(Path(__file__).resolve().parent))


# Modules whose public names make up the API (``gradtx.optimizers`` has no ``__all__``).
API_MODULES = (
    "gradtx",
    "gradtx.transforms",
    "gradtx.wrappers",
    "gradtx.schedules",
    "gradtx.second_order",
    "gradtx.optimizers",
)


# ------------------------------------------------------------------------------------------
# The public surface and one canonical identifier per object.


def public_names(module_name: str) -> list[str]:
    """The public names of an API module: its ``__all__``, else every non-underscore name."""
    module = sys.modules.get(module_name) or __import__(module_name, fromlist=["_"])
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_") and n != "annotations"]
    return sorted(names)


def is_renderable(obj: Any) -> bool:
    """gradtx's own functions, classes and modules: rendered by mkdocstrings, once each."""
    if inspect.ismodule(obj):
        return obj.__name__.startswith("gradtx")
    if inspect.isfunction(obj) or inspect.isclass(obj):
        return (getattr(obj, "__module__", "") or "").startswith("gradtx")
    return False


def canonical_ids() -> dict[int, str]:
    """``id(object) -> identifier`` under which the docs render it (``gradtx.X`` if exported).

    Only renderable objects; data and type aliases (``Params = Any``) are named per export by
    :func:`ident_of`.
    """
    ids: dict[int, str] = {}
    for own_name_first in (True, False):  # `partition`, not its alias `multi_transform`
        for module_name in API_MODULES:
            module = sys.modules[module_name]
            for name in public_names(module_name):
                obj = getattr(module, name)
                if not is_renderable(obj) or (own_name_first and _own_name(obj) != name):
                    continue
                top = getattr(gradtx, name, None)
                ids.setdefault(id(obj), f"gradtx.{name}" if top is obj else f"{module_name}.{name}")
    for info in gradtx.OPTIMIZERS.values():  # registered but not (yet) exported
        ids.setdefault(id(info.factory), f"{info.factory.__module__}.{info.name}")
    for name in public_names("gradtx"):  # modules documented with their members
        module = getattr(gradtx, name)
        if inspect.ismodule(module) and module.__name__ not in API_MODULES:
            for member in module_members(module):
                ids.setdefault(id(getattr(module, member)), f"{module.__name__}.{member}")
    return ids


def module_members(module: Any) -> list[str]:
    """A module's public functions and classes: its ``__all__``, or those it defines."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            n
            for n, v in vars(module).items()
            if not n.startswith("_")
            and (inspect.isfunction(v) or inspect.isclass(v))
            and v.__module__ == module.__name__
        ]
    return sorted(names, key=lambda n: source_order(getattr(module, n)))


def source_order(obj: Any) -> tuple[int, str]:
    try:
        return (inspect.getsourcelines(obj)[1], "")
    except (OSError, TypeError):
        return (10**9, getattr(obj, "__name__", ""))


def _own_name(obj: Any) -> str:
    return getattr(obj, "__name__", "").rsplit(".", 1)[-1]


def ident_of(module_name: str, name: str, ids: dict[int, str] | None = None) -> str:
    """The documented identifier of the public name ``module_name.name``."""
    obj = getattr(sys.modules[module_name], name)
    if is_renderable(obj):
        return (ids or canonical_ids())[id(obj)]
    return f"gradtx.{name}" if getattr(gradtx, name, None) is obj else f"{module_name}.{name}"


def aliases() -> dict[str, list[str]]:
    """``identifier -> [other identifiers of the same object]`` (``multi_transform``, ...)."""
    ids = canonical_ids()
    found: dict[str, list[str]] = {}
    for module_name in API_MODULES:
        module = sys.modules[module_name]
        for name in public_names(module_name):
            obj = getattr(module, name)
            if not is_renderable(obj):
                continue
            main = ids[id(obj)]
            top = getattr(gradtx, name, None) is obj
            other = f"gradtx.{name}" if top else f"{module_name}.{name}"
            if other != main and other not in found.get(main, []):
                found.setdefault(main, []).append(other)
    return found


def identifier(obj: Any) -> str | None:
    return canonical_ids().get(id(obj))


# ------------------------------------------------------------------------------------------
# Which factories made the members of a chain.


@dataclasses.dataclass
class Node:
    """One member of a chain: the public factory that made it and what it is made of."""

    name: str  # a display name: "ema", "second_order.scale_by_lbfgs", "optax.scale"
    ident: str | None  # the documented identifier, for a link; None for private helpers
    children: list[Node]
    composite: bool = False  # a chain of its own (children are its members)


def _factories() -> tuple[dict[Any, str], dict[int, str]]:
    """Code objects of every public transform factory, and ids of wrapped raw factories."""
    ids = canonical_ids()
    candidates = [info.factory for info in gradtx.OPTIMIZERS.values()]
    for module_name in API_MODULES:
        module = sys.modules[module_name]
        candidates += [getattr(module, name) for name in public_names(module_name)]
    by_code: dict[Any, str] = {}
    raw: dict[int, str] = {}
    for obj in candidates:
        if not isinstance(obj, types.FunctionType) or id(obj) not in ids:
            continue
        wrapped = getattr(obj, "__wrapped__", None)  # an inject_hyperparams wrapper
        if wrapped is not None:
            raw[id(wrapped)] = ids[id(obj)]
        by_code[(wrapped or obj).__code__] = ids[id(obj)]
    return by_code, raw


def _is_transform(value: Any) -> bool:
    return (
        isinstance(value, tuple)
        and callable(getattr(value, "init", None))
        and callable(getattr(value, "update", None))
    )


def _closure(fn: Any) -> dict[str, Any]:
    cells = getattr(fn, "__closure__", None) or ()
    out = {}
    for var, cell in zip(getattr(fn, "__code__", None).co_freevars if cells else (), cells):
        try:
            out[var] = cell.cell_contents
        except ValueError:  # an empty cell
            pass
    return out


def _inner_transforms(update: Any) -> list[Any]:
    """Transforms a wrapper's ``update`` closes over (in closure order)."""
    found = []
    for value in _closure(update).values():
        if _is_transform(value):
            found.append(value)
        elif isinstance(value, (list, tuple)) and value and all(map(_is_transform, value)):
            found.extend(value)
        elif isinstance(value, dict) and value and all(map(_is_transform, value.values())):
            found.extend(value.values())
    return found


def _short(ident: str) -> str:
    return ident.removeprefix("gradtx.")


def _describe(tx: Any, made: dict[Any, str], depth: int = 0) -> Node:
    update = tx.update
    if update.__qualname__.endswith("update_without_extra"):  # a foreign transform, wrapped
        update = _closure(update).get("update", update)
    ident = made.get(update)
    closure = _closure(update)
    is_chain = update.__qualname__ == "_chain_of.<locals>.update" and "members" in closure
    if ident is not None:
        name = _short(ident)
    elif is_chain:
        name = "chain"
    else:  # a private helper or a foreign transform: name the function that made it
        owner = update.__qualname__.split(".<locals>")[0]
        root = (update.__module__ or "").split(".")[0]
        name = owner if root == "gradtx" else f"{root}.{owner}"
    children: list[Node] = []
    if depth < 4:
        inner = closure["members"] if is_chain else _inner_transforms(update)
        children = [_describe(m, made, depth + 1) for m in inner]
    children = [c for c in children if c.name != "identity"]
    return Node(name, ident, children, composite=is_chain)


def trace_chain(factory: Callable[..., Any], kwargs: dict[str, Any]) -> list[Node]:
    """Build ``factory(**kwargs)`` and return the members of the chain it makes.

    Every call of a public factory is recorded with the ``update`` function it returned,
    so each member is named by the outermost public factory that made it.
    """
    by_code, raw = _factories()
    wrapper_code = gradtx.inject_hyperparams(gradtx.identity).__code__
    made: dict[Any, str] = {}
    keep: list[Any] = []

    def profile(frame, event, arg):
        if event != "return" or not _is_transform(arg):
            return
        code = frame.f_code
        ident = by_code.get(code)
        if ident is None and code is wrapper_code:
            ident = raw.get(id(frame.f_locals.get("factory")))
        if ident is not None:
            made[arg.update] = ident
            keep.append(arg)

    build = getattr(factory, "__wrapped__", factory)
    old = sys.getprofile()
    sys.setprofile(profile)
    try:
        tx = build(**kwargs)
    finally:
        sys.setprofile(old)
    own = made.pop(tx.update, None)  # the optimizer itself
    top = _describe(tx, made)
    if top.composite:
        return top.children
    if own is not None:  # a transform of its own, not a chain
        top.name, top.ident = _short(own), own
    return [top]


def primitives_of(nodes: Iterable[Node]) -> list[str]:
    """Documented identifiers in a traced chain, in order of first appearance."""
    seen: dict[str, None] = {}

    def walk(node: Node) -> None:
        if node.ident is not None:
            seen.setdefault(node.ident, None)
        for child in node.children:
            walk(child)

    for node in nodes:
        walk(node)
    return list(seen)


# ------------------------------------------------------------------------------------------
# Optimizer state per parameter.

# A weight matrix large enough that Adafactor factors it.
STATE_PARAMS = {"w": jax.ShapeDtypeStruct((1024, 1024), jnp.float32)}
STATE_PARAMS_TEXT = "one 1024 × 1024 float32 weight matrix"


def state_floats_per_param(tx: Any, params: Any = None) -> float:
    """Floats of optimizer state per parameter, not counting scalars (counts, hyperparameters).

    The state is built abstractly (``jax.eval_shape``), so nothing is allocated.
    """
    params = STATE_PARAMS if params is None else params
    shapes = jax.eval_shape(tx.init, params)
    n_params = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params))
    floats = 0
    for leaf in jax.tree.leaves(shapes):
        dtype = getattr(leaf, "dtype", None)
        if dtype is None or len(leaf.shape) == 0:
            continue
        if jnp.issubdtype(dtype, jnp.inexact):
            floats += int(np.prod(leaf.shape)) * (
                2 if jnp.issubdtype(dtype, jnp.complexfloating) else 1
            )
    return floats / n_params


def format_per_param(x: float) -> str:
    if abs(x - round(x)) < 1e-9:
        return str(round(x))
    return f"{x:.4g}"


# ------------------------------------------------------------------------------------------
# One row per optimizer.


@dataclasses.dataclass
class Row:
    name: str
    ident: str
    family: str
    chain: list[Node]
    per_param: str
    optax: str
    torch: str
    summary: str
    module: str  # where the factory is defined


def summary_line(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ")


def optimizer_rows() -> list[Row]:
    """Every registered optimizer, in registry order."""
    rows = []
    for name, info in gradtx.OPTIMIZERS.items():
        kwargs = dict(info.example)
        try:
            chain = trace_chain(info.factory, kwargs)
        except Exception as err:
            chain = [Node(f"(could not build with {kwargs}: {type(err).__name__})", None, [])]
        try:
            per_param = format_per_param(state_floats_per_param(info.factory(**kwargs)))
        except Exception as err:
            per_param = f"? ({type(err).__name__})"
        optax_name, torch_name = info.optax or "?", info.pytorch or "?"
        ident = identifier(info.factory) or f"{info.factory.__module__}.{name}"
        rows.append(
            Row(
                name,
                ident,
                info.family,
                chain,
                per_param,
                optax_name,
                torch_name,
                summary_line(info.factory),
                info.factory.__module__,
            )
        )
    return rows
