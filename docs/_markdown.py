"""Markdown for the generated pages: links, chains, docstring blocks for mkdocstrings."""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _gen_registry import Node, is_renderable, module_members, source_order, summary_line
from _griffe_ext import rewrite_roles

ALIASES: dict[str, list[str]] = {}  # other names of one object: set by _gen_pages.generate()

# Objects that mkdocstrings cannot render (type aliases, plain data): described here.
DESCRIPTIONS = {
    "gradtx.Params": "A pytree of parameters (any nesting of dicts, lists, tuples, "
    "NamedTuples and arrays). A type alias of `typing.Any`.",
    "gradtx.Updates": "A pytree of updates with the structure of the parameters. "
    "A type alias of `typing.Any`.",
    "gradtx.OptState": "An optimizer state: a pytree (NamedTuples, tuples, dicts of arrays). "
    "A type alias of `typing.Any`.",
    "gradtx.OPTIMIZERS": "The registry: `dict[str, OptimizerInfo]`, one entry per optimizer, "
    "in registration order. It drives the [optimizer table](../optimizers.md), the family "
    "pages, the case study and the tests.",
    "gradtx.Schedule": "The type of a schedule: `Callable[[jax.Array], jax.Array]`, a "
    "function of the int32 step count.",
    "gradtx.second_order.METHODS": "The method names that [`minimize`][gradtx.minimize] accepts.",
}


def short(ident: str) -> str:
    return ident.removeprefix("gradtx.")


def link(ident: str, text: str | None = None) -> str:
    return f"[`{text or short(ident)}`][{ident}]"


def render_node(node: Node) -> str:
    text = link(node.ident, node.name) if node.ident else f"`{node.name}`"
    if node.children:
        text += " (" + render_chain(node.children) + ")"
    return text


def render_chain(nodes: list[Node]) -> str:
    return " → ".join(render_node(n) for n in nodes) or "—"


def one_line(obj: Any) -> str:
    """The first paragraph of a docstring, as one line, with roles made links."""
    text = summary_line(obj).replace("|", "\\|")
    return rewrite_roles(text, [getattr(obj, "__module__", "gradtx"), "gradtx"])


def first_display_math(obj: Any) -> str | None:
    match = re.search(r"\$\$(.+?)\$\$", inspect.getdoc(obj) or "", flags=re.S)
    if match is None:
        return None
    return "$$" + "\n".join(line.strip() for line in match.group(1).strip().split("\n")) + "$$"


def doc_block(ident: str, obj: Any, heading_level: int = 3, members: bool = False) -> str:
    if not is_renderable(obj):
        text = DESCRIPTIONS.get(ident) or f"`{type(obj).__name__}`: `{obj!r}`"[:300]
        return f"{'#' * heading_level} `{short(ident)}` {{ #{ident} }}\n\n{text}\n"
    options = [f"heading_level: {heading_level}"]
    if inspect.ismodule(obj):
        options.append("show_root_full_path: true")
        if members:
            options.append(f"members: {module_members(obj)}")
    elif members or (inspect.isclass(obj) and _has_methods(obj)):
        options.append("members: true")
    body = "\n".join(f"      {o}" for o in options)
    block = f"::: {ident}\n    options:\n{body}\n"
    for alias in ALIASES.get(ident, []):
        block += (
            f"\n{'#' * (heading_level + 1)} `{short(alias)}` {{ #{alias} }}\n\n"
            f"Another name for {link(ident)} (the same object).\n"
        )
    return block


def _has_methods(cls: type) -> bool:
    """Classes with public methods of their own (not NamedTuple states, dataclasses)."""
    if issubclass(cls, tuple):
        return False
    return any(not n.startswith("_") and inspect.isfunction(v) for n, v in vars(cls).items())


def module_title(module_name: str) -> str:
    """A section title: the first sentence of the module's docstring."""
    doc = inspect.getdoc(sys.modules[module_name]) or module_name
    title = doc.split("\n\n")[0].replace("\n", " ").rstrip(".")
    return re.sub(r":\w+:`~?([^`]+)`", r"`\1`", title)


def relink(markdown: str, prefix: str) -> str:
    """Make the relative links of a page under ``docs/`` work one folder deeper."""

    def fix(match: re.Match) -> str:
        target = match.group(2)
        if re.match(r"^([a-z]+:|/|#)", target):
            return match.group(0)
        return f"{match.group(1)}{prefix}{target}"

    return re.sub(r"(\]\(|src=\")([^)\"\s]+)", fix, markdown)


def grouped_docs(idents: list[str], objs: dict[str, Any], level: int = 2) -> list[str]:
    """Render objects grouped by the module that defines them, in source order."""
    groups: dict[str, list[str]] = {}
    for ident in idents:
        obj = objs[ident]
        module = obj.__module__ if is_renderable(obj) else "types and data"
        groups.setdefault(module, []).append(ident)
    out = []
    for module, members in groups.items():
        title = module_title(module) if module in sys.modules else module.capitalize()
        out.append(f"{'#' * level} {title}\n")
        members.sort(key=lambda i: (inspect.isclass(objs[i]), source_order(objs[i])))
        out += [doc_block(i, objs[i], heading_level=level + 1) for i in members]
    return out


def summary_table(idents: list[str], objs: dict[str, Any]) -> str:
    rows = "".join(f"| {link(i)} | {one_line(objs[i])} |\n" for i in idents)
    return "| name | summary |\n|---|---|\n" + rows
