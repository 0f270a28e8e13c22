"""The documentation site: it builds with warnings as errors, and it documents everything.

The site is built once per session with ``mkdocs build --strict`` (the family pages, the
optimizer table and the API reference are generated during the build from
``gradtx.OPTIMIZERS`` and the docstrings, see ``docs/_hooks.py``); the other tests read the
built HTML or call the generator directly.
"""

from __future__ import annotations

import html
import importlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import gradtx

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))

import _gen_pages  # noqa: E402
import _gen_registry  # noqa: E402
import _hooks  # noqa: E402

# Every module whose public names must be in the API reference (kept here, independently of
# the generator's own list).
API_MODULES = [
    "gradtx",
    "gradtx.transforms",
    "gradtx.wrappers",
    "gradtx.schedules",
    "gradtx.second_order",
    "gradtx.optimizers",
]


def public_names(module) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:  # gradtx.optimizers: its family modules and the aliases it re-exports
        names = [n for n in vars(module) if not n.startswith("_") and n != "annotations"]
    return list(names)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", "mkdocs.yml", "-d", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    took = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"mkdocs build --strict failed ({took:.0f} s):\n{log[-6000:]}"
    return out


def anchors(site: Path) -> set[str]:
    found: set[str] = set()
    for page in site.rglob("*.html"):
        found |= set(re.findall(r'\bid="([^"]+)"', page.read_text(encoding="utf-8")))
    return {html.unescape(a) for a in found}


def test_site_builds_strict_and_documents_every_public_name(site):
    """One test, so that the site is built once even when the tests run on several workers."""
    for page in ["index.html", "optimizers/index.html", "reference/index.html"]:
        assert (site / page).exists(), page
    slugs = [f.slug for f in _gen_pages.families_in_use()] + list(_gen_pages.SPECIAL_PAGES)
    for slug in slugs:
        assert (site / "families" / slug / "index.html").exists(), slug

    ids = anchors(site)
    missing = []
    for module_name in API_MODULES:
        module = importlib.import_module(module_name)
        for name in public_names(module):
            obj = getattr(module, name)
            candidates = {f"{module_name}.{name}"}
            if getattr(gradtx, name, None) is obj:
                candidates.add(f"gradtx.{name}")
            if not candidates & ids:
                missing.append(f"{module_name}.{name}")
    assert not missing, f"public names without an entry in the built site: {missing}"

    table = (site / "optimizers" / "index.html").read_text(encoding="utf-8")
    for name, info in gradtx.OPTIMIZERS.items():
        ident = _gen_registry.identifier(info.factory)
        assert ident in ids, f"{name}: no documentation entry {ident!r}"
        assert f"#{ident}" in table, f"{name} is not in the optimizer table"


def test_every_registered_optimizer_has_optax_and_pytorch_names():
    missing = [n for n, i in gradtx.OPTIMIZERS.items() if i.optax is None or i.pytorch is None]
    assert not missing, (
        f"Optimizers without Optax/PyTorch names for the docs: {missing}. Declare them with "
        '@optimizer(optax="`optax.<name>`", pytorch="`<torch.optim class>`"), "—" for none.'
    )


def test_every_registered_optimizer_can_be_traced_and_measured():
    for row in _gen_registry.optimizer_rows():
        assert row.chain and row.chain[0].name and not row.chain[0].name.startswith("(could"), (
            f"{row.name}: the docs could not build it with its example settings: "
            f"{row.chain[0].name}"
        )
        assert not row.per_param.startswith("?"), f"{row.name}: state not measured: {row.per_param}"


def show(nodes) -> str:
    return " > ".join(n.name + (f"({show(n.children)})" if n.children else "") for n in nodes)


def test_chains_are_the_ones_that_run():
    trace = _gen_registry.trace_chain
    assert show(trace(gradtx.adam, {"learning_rate": 0.1})) == (
        "scale_by_adam(ema > scale_by_rms) > scale_by_learning_rate"
    )
    assert show(trace(gradtx.sgd, {"learning_rate": 0.1, "momentum": 0.9})) == (
        "trace > scale_by_learning_rate"
    )
    assert show(trace(gradtx.sgd, {"learning_rate": 0.1})) == "scale_by_learning_rate"
    assert show(trace(gradtx.heavy_ball, {"learning_rate": 0.1})) == (
        "scale_by_learning_rate > trace"
    )

    def custom():  # a nested chain, a wrapper around an optimizer, an Optax member
        import optax

        return gradtx.chain(
            gradtx.chain(gradtx.clip(1.0), optax.scale(2.0)),
            gradtx.masked(gradtx.sgd(0.1), {"w": True}),
        )

    assert show(trace(custom, {})) == "chain(clip > optax.scale) > masked(sgd)"


def test_state_sizes_are_measured():
    per_param = _gen_registry.state_floats_per_param
    assert per_param(gradtx.adam(0.1)) == 2
    assert per_param(gradtx.amsgrad(0.1)) == 3
    assert per_param(gradtx.sgd(0.1, momentum=0.9)) == 1
    assert per_param(gradtx.gd(0.1)) == 0
    assert 0 < per_param(gradtx.adafactor()) < 0.01  # factored: rows + columns
    assert _gen_registry.format_per_param(2.0) == "2"
    assert _gen_registry.format_per_param(1 / 512) == "0.001953"


def test_every_family_module_gives_its_page_a_title_and_an_introduction():
    """A family is the module that defines its optimizers; the first line of the module's
    docstring is the page's title, the paragraphs after it the page's introduction."""
    families = _gen_pages.families_in_use()
    assert {f.name for f in families} == {i.family for i in gradtx.OPTIMIZERS.values()}
    folder = ROOT / "gradtx" / "optimizers"
    modules = sorted(p.stem[1:] for p in folder.glob("_*.py") if p.name != "__init__.py")
    assert modules == sorted(f.name for f in families)
    for family in families:
        module = importlib.import_module(f"gradtx.optimizers._{family.name}")
        title = module.__doc__.strip().split("\n")[0]
        assert family.title == title.rstrip("."), family.name
        assert len(family.intro) > 100, f"{family.name}: no introduction in its module docstring"
        assert ":func:" not in family.intro and ":mod:" not in family.intro, family.name
    adam = _gen_pages.generate()["families/adam.md"]
    assert adam.startswith("# Adam\n") and "[`gradtx.scale_by_max_rms()`]" in adam
    # The order of the pages lives in one place, and names no family that does not exist.
    assert set(_gen_pages.FAMILY_ORDER) <= {f.name for f in families}
    assert [f.name for f in families][: len(_gen_pages.FAMILY_ORDER)] == list(
        _gen_pages.FAMILY_ORDER
    )


def test_new_families_get_a_page_in_the_navigation(monkeypatch):
    info = gradtx.OptimizerInfo(
        "brand_new_sgd", gradtx.sgd, "brand_new", (), {"learning_rate": 0.1}
    )
    monkeypatch.setitem(gradtx.OPTIMIZERS, "brand_new_sgd", info)
    pages = _gen_pages.generate()
    assert pages["families/brand_new.md"].startswith("# Brand new\n")
    assert "brand_new_sgd" in pages["families/brand_new.md"]
    assert "brand_new_sgd" in pages["optimizers.md"]
    config = {"nav": ["index.md", {"Optimizer families": []}], "docs_dir": str(DOCS)}
    section = _hooks.on_config(config)["nav"][1]["Optimizer families"]
    pages_in_nav = [next(iter(entry.values())) for entry in section]
    assert pages_in_nav[0] == "families/sgd.md"
    assert pages_in_nav[-4:] == [
        "families/brand_new.md",
        "families/second_order.md",
        "families/wrappers.md",
        "families/schedules.md",
    ]
    assert {"Brand new": "families/brand_new.md"} in section


def test_sections_included_from_docs_keep_their_links():
    text = "![fig](figures/x.png) [c](concepts.md#a) [w](https://x.org) [t](#top)"
    assert _gen_pages.relink(text, "../") == (
        "![fig](../figures/x.png) [c](../concepts.md#a) [w](https://x.org) [t](#top)"
    )


def test_missing_optional_pages_are_unlinked(tmp_path):
    config = {"docs_dir": str(tmp_path), "nav": []}
    text = "See [the comparison](adaptive_without_tuning.md#x) and [concepts](concepts.md)."
    out = _hooks.on_page_markdown(text, None, config, None)
    assert out == "See the comparison and [concepts](concepts.md)."
    filled = _hooks.on_page_markdown(
        "a\n<!-- gradtx:torch-names -->\nseen on GitHub\n<!-- /gradtx -->\nb", None, config, None
    )
    assert "seen on GitHub" not in filled and "| gradtx | PyTorch" in filled
    assert "[`adam`][gradtx.adam] | `Adam` |" in filled
    nav = _hooks._prune(
        ["index.md", {"A": "adaptive_without_tuning.md"}], lambda p: "adaptive" not in p
    )
    assert nav == ["index.md"]


def test_getting_started_runs():
    """The code blocks of the getting-started page, in order, in one namespace."""
    text = (DOCS / "getting_started.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    assert len(blocks) >= 5
    namespace: dict = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"getting_started.md, block {i}", "exec"), namespace)


def test_the_version_is_written_once_in_pyproject(monkeypatch):
    """``gradtx.__version__`` comes from the package metadata, which is built from
    ``pyproject.toml``; a source checkout that is not installed reads ``pyproject.toml``."""
    import importlib.metadata

    from gradtx import _version

    written = _version.version_from_pyproject(ROOT / "pyproject.toml")
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", written), written
    assert gradtx.__version__ == written, (
        f"gradtx.__version__ is {gradtx.__version__}, pyproject.toml says {written}: the "
        "installed metadata is stale, reinstall (python -m pip install -e .)"
    )

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert _version.package_version() == written
    assert _version.version_from_pyproject(ROOT / "no-such-file.toml") == "0+unknown"
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in changelog or f"## [{written}]" in changelog
    assert "Apache License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
