"""The generated pages of the site: one per optimizer family, the optimizer table, the API.

:func:`generate` returns ``{path under docs/: Markdown}``; ``_hooks.py`` adds these pages to
the MkDocs build, so they are rebuilt from ``gradtx.OPTIMIZERS`` and the docstrings every
time and cannot go stale. Every public object is rendered (by mkdocstrings) on exactly one
page, so each cross-reference has one target.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path
from typing import Any

import gradtx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _families import FAMILIES, SPECIAL_PAGES, Family
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

# Second-order aliases shown with their chains (built with their defaults).
SECOND_ORDER_ALIASES = ("lbfgs", "nonlinear_cg", "newton", "hessian_free")

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


def family_for(key: str) -> Family:
    for family in FAMILIES:
        if key in family.keys:
            return family
    title = key.replace("_", " ").capitalize()
    return Family(re.sub(r"\W+", "_", key), title, (key,), "")


def families_in_use() -> list[Family]:
    """The known families, then one for each family string no known family claims."""
    extra: dict[str, Family] = {}
    for info in gradtx.OPTIMIZERS.values():
        family = family_for(info.family)
        if family not in FAMILIES:
            extra.setdefault(family.slug, family)
    return [*FAMILIES, *extra.values()]


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


def family_page(
    family: Family, rows: list[Row], objs: dict[str, Any] | None = None, elsewhere=()
) -> str:
    """``rows``: the family's optimizers; ``elsewhere``: those its modules register under
    another family (listed here, documented there)."""
    objs = objects() if objs is None else objs
    out = [f"# {family.title}\n", family.intro.strip() + "\n"]
    if elsewhere:
        modules = ", ".join(f"`{m}`" for m in family.modules)
        out.append(
            f"Optimizers defined in {modules} and registered with another family, whose page "
            "documents them:\n"
        )
        out.append(TABLE_HEAD + "".join(table_row(r) for r in elsewhere))
    if not rows and not elsewhere:
        out.append("!!! note\n    No optimizer of this family is registered in this version yet.\n")
    elif rows:
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
        "names come from a table kept in `docs/_equivalents.py`.\n",
    ]
    for family in families:
        fam_rows = [r for r in rows if r.family in family.keys]
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
        own = [r for r in rows if r.family in family.keys]
        elsewhere = [r for r in rows if r.module in family.modules and r.family not in family.keys]
        out[f"families/{family.slug}.md"] = family_page(family, own, objs, elsewhere)
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
