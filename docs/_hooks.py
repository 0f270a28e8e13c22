"""MkDocs hooks: generate the family pages, the optimizer table and the API reference.

Registered in ``mkdocs.yml`` (``hooks:``). The pages are made from ``gradtx.OPTIMIZERS`` and
the docstrings at build time (``_gen_pages.generate``), never written to ``docs/``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
for path in (str(ROOT), str(DOCS)):
    if path not in sys.path:
        sys.path.insert(0, path)

import _gen_pages  # noqa: E402
from mkdocs.structure.files import File  # noqa: E402

import gradtx  # noqa: E402

FAMILIES_SECTION = "Optimizer families"
# Pages that may be missing from a checkout: in the nav and linked only when they exist.
OPTIONAL_PAGES = ("adaptive_without_tuning.md",)


def _prune(nav: Any, keep: Any) -> Any:
    """Drop nav entries whose page ``keep`` rejects (pages other engineers have not written)."""
    if isinstance(nav, list):
        items = [_prune(v, keep) for v in nav]
        return [v for v in items if v not in (None, [], {})]
    if isinstance(nav, dict):
        items = {k: _prune(v, keep) for k, v in nav.items()}
        return {k: v for k, v in items.items() if v not in (None, [])} or None
    if isinstance(nav, str):
        return nav if keep(nav) else None
    return nav


def family_nav() -> list[dict[str, str]]:
    """The pages of the "Optimizer families" section, in order: every registered family
    (``_gen_pages.families_in_use``), then the wrappers, schedules and second-order pages."""
    nav = [{f.title: f"families/{f.slug}.md"} for f in _gen_pages.families_in_use()]
    special = _gen_pages.SPECIAL_PAGES.items()
    return nav + [{title: f"families/{slug}.md"} for slug, title in special]


def on_config(config: Any) -> Any:
    """Fill the "Optimizer families" section of the navigation (empty in ``mkdocs.yml``) and
    drop the entries of optional pages that do not exist."""
    generated = {f"families/{f.slug}.md" for f in _gen_pages.families_in_use()}
    generated |= {f"families/{s}.md" for s in _gen_pages.SPECIAL_PAGES}
    generated |= {"optimizers.md", "reference/index.md", "reference/core.md"}
    generated |= {"reference/primitives.md"}
    docs_dir = Path(config["docs_dir"])

    def keep(page: str) -> bool:
        return "://" in page or page in generated or (docs_dir / page).exists()

    nav = config["nav"]
    for entry in nav:
        if isinstance(entry, dict) and FAMILIES_SECTION in entry:
            entry[FAMILIES_SECTION] = family_nav()
    config["nav"] = _prune(nav, keep)
    return config


def on_files(files: Any, config: Any) -> Any:
    for uri, content in _gen_pages.generate().items():
        files.append(File.generated(config, uri, content=content))
    return files


def _names_table(column: int) -> str:
    lines = [
        "| gradtx | " + ("Optax" if column == 0 else "PyTorch (`torch.optim`)") + " |",
        "|---|---|",
    ]
    for info in gradtx.OPTIMIZERS.values():
        ident = _gen_pages.canonical_ids()[id(info.factory)]
        same = (info.optax if column == 0 else info.pytorch) or "?"
        lines.append(f"| {_gen_pages.link(ident)} | {same} |")
    return "\n".join(lines) + "\n"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Fill the placeholders of the hand-written pages with generated tables, and unlink
    optional pages that do not exist (yet)."""
    for optional in OPTIONAL_PAGES:
        if not (Path(config["docs_dir"]) / optional).exists():
            pattern = r"\[([^\]]+)\]\((?:\.\./)*" + re.escape(optional) + r"(?:#[^)]*)?\)"
            markdown = re.sub(pattern, r"\1", markdown)
    tables = {"optax-names": lambda: _names_table(0), "torch-names": lambda: _names_table(1)}

    def fill(match: re.Match) -> str:  # <!-- gradtx:NAME --> what GitHub shows <!-- /gradtx -->
        return tables[match.group(1)]()

    return re.sub(r"<!-- gradtx:([\w-]+) -->.*?<!-- /gradtx -->\n?", fill, markdown, flags=re.S)
