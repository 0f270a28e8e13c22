"""A Griffe extension that makes gradtx's docstrings render well in MkDocs.

* Sphinx roles (``:func:`adam```, ``:class:`~gradtx.GradientTransformation```, ``:mod:``)
  become cross-references to the page that documents the object, or code when the object is
  private or outside gradtx (so no link can break).
* A ``$$ ... $$`` display block gets blank lines around it, so that ``pymdownx.arithmatex``
  sees a block of its own even where the docstring continues on the next line.

The docstrings themselves are not changed; only what the site shows.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from typing import Any

import griffe

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _gen_registry import canonical_ids

_ROLE = re.compile(r":(?:py:)?(func|class|mod|data|attr|meth|obj|exc|const):`(~?)([^`]+)`")
_IDS: dict[int, str] | None = None


def _lookup(path: str) -> Any:
    """The gradtx object at a dotted path, or a sentinel.

    Only modules of the ``gradtx`` package are imported: a role such as
    ``:func:`second_order.minimize``` must not import whatever top-level ``second_order``
    module is on ``sys.path`` (in the tests, ``benchmarks/second_order.py``, which turns
    ``jax_enable_x64`` on for the rest of the process). Only gradtx objects get links anyway.
    """
    parts = path.split(".")
    if parts[0] != "gradtx":
        return _MISSING
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return _MISSING
        return obj
    return _MISSING


_MISSING = object()


def resolve(target: str, context: list[str]) -> str | None:
    """The documented identifier of ``target``, looked up absolutely then in ``context``."""
    global _IDS
    if _IDS is None:
        _IDS = canonical_ids()
        for name in ("gradtx.transforms", "gradtx.wrappers", "gradtx.schedules"):
            _IDS.setdefault(id(sys.modules[name]), name)
    target = target.lstrip(".")
    for prefix in ["", *context]:
        obj = _lookup(f"{prefix}.{target}" if prefix else target)
        if obj is not _MISSING:
            found = _IDS.get(id(obj))
            if found is not None:
                return found
    return None


def rewrite_roles(text: str, context: list[str]) -> str:
    def replace(match: re.Match) -> str:
        tilde, target = match.group(2), match.group(3).strip()
        shown = target.split(".")[-1] if tilde else target
        if match.group(1) in ("func", "meth"):
            shown += "()" if not shown.endswith(")") else ""
        ident = resolve(target, context)
        return f"[`{shown}`][{ident}]" if ident else f"`{shown}`"

    return _ROLE.sub(replace, text)


def separate_display_math(text: str) -> str:
    """Put blank lines around top-level ``$$ ... $$`` blocks."""
    lines = text.split("\n")
    out: list[str] = []
    inside = False
    for line in lines:
        stripped = line.strip()
        starts = not inside and stripped.startswith("$$") and line == line.lstrip()
        if starts:
            if out and out[-1].strip():
                out.append("")
            inside = True
        out.append(line)
        if inside and (stripped.endswith("$$") and (len(stripped) > 2 or not starts)):
            inside = False
            out.append("")
    while out and not out[-1].strip():
        out.pop()
    # collapse the doubled blank lines this may have produced
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out))


_HEADER = re.compile(r"^(\w[\w ]*):\s*$")
_MANY = re.compile(r"^(\s+)(\*{0,2}\w+(?:,\s*\*{0,2}\w+)+):\s?(.*)$")
_LISTS = ("args", "arguments", "parameters", "params", "attributes")


def normalize_sections(text: str) -> str:
    """``Example:`` becomes Griffe's ``Examples:`` (doctests shown as code), and an argument
    line that documents several names (``b1, b2, eps: as in adam.``) becomes one per name."""
    lines = text.split("\n")
    out: list[str] = []
    section = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() and line == line.lstrip():
            match = _HEADER.match(line)
            section = match.group(1).lower() if match else None
            if section == "example":
                line = "Examples:"
        elif section in _LISTS and (match := _MANY.match(line)):
            indent, names, rest = match.group(1), match.group(2).split(","), match.group(3)
            j = i + 1
            while j < len(lines) and lines[j].strip() and _indent(lines[j]) > len(indent):
                j += 1
            for name in names:
                out.append(f"{indent}{name.strip()}: {rest}")
                out.extend(lines[i + 1 : j])
            i = j
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


class GradtxDocstrings(griffe.Extension):
    """Rewrite Sphinx roles and separate display math in every loaded docstring."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        if pkg.name == "gradtx":
            self._walk(pkg, set())

    def _walk(self, obj: Any, seen: set[int]) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if obj.is_alias:
            return
        init = obj.members.get("__init__") if obj.is_class else None
        if init is not None and init.is_alias and init.target_path.startswith("typing."):
            # A Protocol's __init__ is typing's placeholder, which griffe cannot resolve.
            del obj.members["__init__"]
        if obj.docstring is not None:
            context = [obj.path] if obj.is_class or obj.is_module else []
            if obj.parent is not None:
                context.append(obj.parent.path)
            context += [obj.module.path, "gradtx"]
            value = normalize_sections(rewrite_roles(obj.docstring.value, context))
            obj.docstring.value = separate_display_math(value)
        for member in obj.members.values():
            self._walk(member, seen)
