"""The generated pages of the site: one per optimizer family, the optimizer table, the API.

:func:`generate` returns ``{path under docs/: Markdown}``; ``_hooks.py`` adds these pages to
the MkDocs build, so they are rebuilt from ``gradtx.OPTIMIZERS`` and the docstrings every
time and cannot go stale. Every public object is rendered (by mkdocstrings) on exactly one
page, so each cross-reference has one target.

The family pages come from the registry alone: the optimizers are grouped by
``OptimizerInfo.family`` (the name of the module that defines them), and each page takes its
title from the first line of that module's docstring (``gradtx/optimizers/_<family>.py``)
and its introduction from the paragraphs that follow. A new family module gets its page
without any change under ``docs/``; :data:`FAMILY_ORDER` only says where it goes.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
import sys
from pathlib import Path
from typing import Any

import gradtx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _gen_registry import (
    API_MODULES,
    STATE_PARAMS_TEXT,
    Node,
    Row,
    aliases,
    canonical_ids,
    format_per_param,
    ident_of,
    is_renderable,
    optimizer_rows,
    primitives_of,
    public_names,
    state_floats_per_param,
    trace_chain,
)
from _griffe_ext import rewrite_roles
from _markdown import (
    ALIASES,
    DESCRIPTIONS,
    doc_block,
    first_display_math,
    grouped_docs,
    link,
    one_line,
    relink,
    render_chain,
    summary_table,
)

DOCS = Path(__file__).resolve().parent

# The order of the family pages (in the navigation and the optimizer table), from the
# plainest update to the methods that tune themselves. A family is the name of a module of
# gradtx/optimizers/; one missing here still gets its page, after these.
FAMILY_ORDER = (
    "sgd",
    "sgd_variants",
    "adaptive",
    "adam",
    "adam_variants",
    "optimistic",
    "moment_variants",
    "sign",
    "layerwise",
    "factored",
    "kronecker",
    "orthogonal",
    "hessian_diagonal",
    "sam",
    "gain_adaptation",
    "loss_driven",
    "parameter_free",
    "d_adaptation",
    "mechanic",
    "schedule_free",
)

# The pages of a module's API, after the families: families/<slug>.md documents gradtx.<slug>.
SPECIAL_PAGES = {
    "second_order": "Second order and full batch",
    "wrappers": "Wrappers",
    "schedules": "Schedules",
}

# Second-order aliases shown with their chains (built with their defaults).
SECOND_ORDER_ALIASES = ("lbfgs", "bfgs", "nonlinear_cg", "newton", "hessian_free")

# ------------------------------------------------------------------------------------------
# Which page documents which object.


def objects() -> dict[str, Any]:
    """Every public object once: ``identifier -> object``."""
    ids = canonical_ids()
    out: dict[str, Any] = {}
    for module_name in API_MODULES:
        module = sys.modules[module_name]
        for name in public_names(module_name):
            out.setdefault(ident_of(module_name, name, ids), getattr(module, name))
    for info in gradtx.OPTIMIZERS.values():
        out.setdefault(ids[id(info.factory)], info.factory)
    return out


def page_of(ident: str, obj: Any, optimizer_ids: set[int]) -> str:
    """The generated page that renders ``obj``."""
    if id(obj) in optimizer_ids:
        return "optimizer"
    sections = {
        "gradtx.transforms": "reference/primitives.md",
        "gradtx.wrappers": "families/wrappers.md",
        "gradtx.schedules": "families/schedules.md",
        "gradtx.second_order": "families/second_order.md",
    }
    if ident in sections:
        return sections[ident]
    if ident == "gradtx.optimizers" or ident.startswith("gradtx.optimizers."):
        return "optimizers.md"
    for module_name, page in sections.items():
        module = sys.modules[module_name]
        if any(getattr(module, n) is obj for n in public_names(module_name)):
            return page
    return "reference/core.md"


@dataclasses.dataclass(frozen=True)
class Family:
    """One family page, read from the module that defines the family's optimizers."""

    name: str  # OptimizerInfo.family: the module's name without its underscore
    title: str  # the first line of the module's docstring
    intro: str  # the rest of the docstring, Markdown (Sphinx roles made links)

    @property
    def slug(self) -> str:  # the page: families/<slug>.md
        return re.sub(r"\W+", "_", self.name)


def read_family(name: str) -> Family:
    """The family ``name``: title and introduction from ``gradtx/optimizers/_<name>.py``.

    A family registered from elsewhere (no such module) gets a title made of its name.
    """
    try:
        module = importlib.import_module(f"gradtx.optimizers._{name}")
    except ModuleNotFoundError:
        module = None
    doc = inspect.getdoc(module) if module is not None else None
    if not doc:
        return Family(name, name.replace("_", " ").capitalize(), "")
    title, _, intro = doc.partition("\n\n")
    title = " ".join(title.split()).rstrip(".")
    return Family(name, title, rewrite_roles(intro.strip(), [module.__name__, "gradtx"]))


def families_in_use() -> list[Family]:
    """Every family of ``gradtx.OPTIMIZERS``: those of :data:`FAMILY_ORDER` in that order,
    then the others in registration order."""
    names = list(dict.fromkeys(info.family for info in gradtx.OPTIMIZERS.values()))
    ordered = [n for n in FAMILY_ORDER if n in names] + [n for n in names if n not in FAMILY_ORDER]
    return [read_family(n) for n in ordered]


# ------------------------------------------------------------------------------------------
# Pages.

TABLE_HEAD = (
    "| optimizer | chain of primitives | state / param | Optax | PyTorch |\n|---|---|---|---|---|\n"
)


def table_row(row: Row) -> str:
    return (
        f"| {link(row.ident, row.name)} | {render_chain(row.chain)} | {row.per_param} | "
        f"{row.optax.replace('`optax.', '`')} | {row.torch} |\n"
    )


def family_page(family: Family, rows: list[Row], objs: dict[str, Any] | None = None) -> str:
    """The page of ``family``: its introduction, its optimizers (``rows``) and their rules."""
    objs = objects() if objs is None else objs
    out = [f"# {family.title}\n", family.intro + "\n"]
    out.append("## Optimizers\n")
    out.append(
        "Each optimizer is the chain of primitives shown, built with its example settings. "
        "*State / param* is the number of floats of optimizer state per parameter (step "
        f"counts and hyperparameters left out), measured on {STATE_PARAMS_TEXT}. The Optax "
        "names are in `optax`, the PyTorch names in `torch.optim`.\n"
    )
    out.append(TABLE_HEAD + "".join(table_row(r) for r in rows))
    nodes = [n for r in rows for n in r.chain]
    out.append(primitives_section(nodes, {r.ident for r in rows}, objs))
    out.append("## Update rules\n")
    out += [doc_block(r.ident, objs[r.ident], heading_level=3) for r in rows]
    section = DOCS / f"_{family.slug}_section.md"
    if section.exists():  # a hand-written section kept beside the generated page
        out.append(relink(section.read_text(encoding="utf-8"), "../"))
    return "\n".join(out)


def primitives_section(nodes: list[Node], exclude: set[str], objs: dict[str, Any]) -> str:
    """Each primitive of the chains once: its summary and its update rule."""
    idents = [i for i in primitives_of(nodes) if i not in exclude and i != "gradtx.chain"]
    out = [
        "## Primitives\n",
        "The primitives these optimizers are made of, with their update rules (full "
        "documentation: follow the links).\n",
    ]
    for ident in idents:
        if ident in objs:
            out.append(f"**{link(ident)}**: {one_line(objs[ident])}\n")
            out.append((first_display_math(objs[ident]) or "") + "\n")
    return "\n".join(out) if len(out) > 2 else ""


def second_order_table() -> str:
    """The second-order aliases with their chains, built with their defaults."""
    head = "| method | chain of primitives | state / param |\n|---|---|---|\n"
    rows = []
    for name in SECOND_ORDER_ALIASES:
        fn = getattr(gradtx.second_order, name, None)
        if fn is not None:
            chain = render_chain(trace_chain(fn, {}))
            per_param = format_per_param(state_floats_per_param(fn()))
            rows.append(f"| {link(f'gradtx.{name}')} | {chain} | {per_param} |\n")
    return head + "".join(rows)


def special_page(slug: str, idents: list[str], objs: dict[str, Any]) -> str:
    """The wrappers, schedules and second-order pages: a module's API, grouped."""
    module = f"gradtx.{slug}"
    out = [f"# {SPECIAL_PAGES[slug]}\n", doc_block(module, sys.modules[module], 2) + "\n"]
    listed = [i for i in idents if i != module]
    if slug == "second_order":
        out.append(
            "The [guide](../second_order.md) explains the methods and shows the benchmark. "
            f"The methods, built with their defaults (state measured on {STATE_PARAMS_TEXT}):\n"
        )
        out.append(second_order_table())
    out.append(summary_table(listed, objs))
    return "\n".join([*out, *grouped_docs(listed, objs)])


def optimizer_table_page(rows: list[Row], families: list[Family]) -> str:
    out = [
        "# All optimizers\n",
        f"Every optimizer registered in `gradtx.OPTIMIZERS` ({len(rows)} in this version). The "
        "table is generated when the site is built: the chain is recorded while the optimizer "
        "is built with its example settings (each member named by the public factory that "
        "made it; composite primitives show their own members in parentheses); the state is "
        f"measured with `jax.eval_shape` on {STATE_PARAMS_TEXT}, counting every floating-point "
        "array and leaving out scalars (step counts, hyperparameters); the Optax and PyTorch "
        "names are declared with each optimizer (`@optimizer(optax=..., pytorch=...)`).\n",
    ]
    for family in families:
        fam_rows = [r for r in rows if r.family == family.name]
        if fam_rows:
            out.append(f"## [{family.title}](families/{family.slug}.md)\n")
            out.append(TABLE_HEAD + "".join(table_row(r) for r in fam_rows))
    objs = objects()
    out.append("## The `gradtx.optimizers` package\n")
    out.append(doc_block("gradtx.optimizers", gradtx.optimizers, heading_level=3))
    for ident in sorted(i for i in objs if i.startswith("gradtx.optimizers.")):
        if inspect.ismodule(objs[ident]):
            out.append(doc_block(ident, objs[ident], heading_level=3))
    return "\n".join(out)


def reference_index(pages: dict[str, list[str]]) -> str:
    out = [
        "# API reference\n",
        "Every public name of gradtx, by the module that exports it. Optimizers are "
        "documented on the page of their family, next to the primitives they are made of; "
        "wrappers, schedules and second-order methods on their own pages; the primitives on "
        "[Primitives](primitives.md); the protocol and everything else on [Core](core.md).\n",
    ]
    ids = canonical_ids()
    for module_name in API_MODULES:
        module = sys.modules[module_name]
        out.append(f"## `{module_name}`\n\n| name | summary |\n|---|---|")
        for name in public_names(module_name):
            obj = getattr(module, name)
            ident = ident_of(module_name, name, ids)
            text = one_line(obj) if is_renderable(obj) else DESCRIPTIONS.get(ident, "")
            out.append(f"| {link(ident, name)} | {text} |")
        out.append("")
    return "\n".join(out)


def generate() -> dict[str, str]:
    """All generated pages: ``{uri: markdown}``."""
    objs = objects()
    ALIASES.clear()
    ALIASES.update(aliases())
    rows = optimizer_rows()
    families = families_in_use()
    optimizer_ids = {id(info.factory) for info in gradtx.OPTIMIZERS.values()}
    pages: dict[str, list[str]] = {}
    for ident, obj in objs.items():
        pages.setdefault(page_of(ident, obj, optimizer_ids), []).append(ident)
    out = {}
    for family in families:
        own = [r for r in rows if r.family == family.name]
        out[f"families/{family.slug}.md"] = family_page(family, own, objs)
    for slug in SPECIAL_PAGES:
        out[f"families/{slug}.md"] = special_page(slug, pages.get(f"families/{slug}.md", []), objs)
    out["optimizers.md"] = optimizer_table_page(rows, families)
    primitives = [i for i in pages.get("reference/primitives.md", []) if i != "gradtx.transforms"]
    out["reference/primitives.md"] = "\n".join(
        [
            "# Primitives\n",
            doc_block("gradtx.transforms", gradtx.transforms, 2),
            summary_table(primitives, objs),
            *grouped_docs(primitives, objs),
        ]
    )
    core = pages.get("reference/core.md", [])
    modules = [i for i in core if inspect.ismodule(objs[i])]
    rest = [i for i in core if i not in modules]
    out["reference/core.md"] = "\n".join(
        [
            "# Core: the protocol, live hyperparameters, the registry\n",
            "The protocol every transform follows (see [Concepts](../concepts.md)), the "
            "machinery of live hyperparameters, the registry of optimizers, and the "
            "checkpoint and sharding modules.\n",
            *grouped_docs(rest, objs),
            "## Modules\n",
            *[doc_block(i, objs[i], heading_level=3, members=True) for i in modules],
        ]
    )
    out["reference/index.md"] = reference_index(pages)
    return out
