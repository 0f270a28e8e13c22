"""Smoke test of the step-time benchmark (benchmarks/step_time.py) in quick mode.

One quick run (Adam on the tiny tree, a few hundred parameters): it must finish, the
gradtx/Optax agreement check must pass, and the Markdown and JSON reports must be written.
The ideal C kernel needs gcc; its part is skipped without it.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "step_time.py"


def _load_step_time():
    spec = importlib.util.spec_from_file_location("gradtx_bench_step_time", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    pytest.importorskip("optax")
    out = tmp_path_factory.mktemp("bench")
    md, js = out / "benchmarks.md", out / "bench.json"
    step_time = _load_step_time()
    results = step_time.main(
        ["--quick", "--optimizers", "adam", "--shapes", "tiny", "--markdown", md, "--json", js]
    )
    return results, md, js


def test_quick_run_completes_and_checks_agree(quick_run):
    results, _, _ = quick_run
    assert [(r["optimizer"], r["shape"]) for r in results["rows"]] == [("adam", "tiny1000")]
    (check,) = results["checks"]
    assert check["passed"] and check["reference"] == "optax"
    assert "gradtx" in check["agree"]
    row = results["rows"][0]
    for name in ("gradtx", "optax"):
        c = row["contenders"][name]
        assert 0 < c["p10_ms"] <= c["median_ms"] <= c["p90_ms"]
        assert c["compile_s"] > 0
        assert c["memory"] is None or c["memory"]["overhead"] >= 0
    assert row["gradtx_over_optax"] > 0


def test_markdown_and_json_written(quick_run):
    _, md, js = quick_run
    text = md.read_text()
    assert "## adam" in text and "| tiny1000 |" in text
    assert "gradtx/optax" in text and "Preliminary" in text
    assert "python benchmarks/step_time.py --quick" in text
    assert json.loads(js.read_text())["rows"][0]["shape"] == "tiny1000"


@pytest.mark.skipif(shutil.which("gcc") is None, reason="the ideal kernel needs gcc")
def test_ideal_kernel_ran_and_agreed(quick_run):
    results, _, _ = quick_run
    row = results["rows"][0]
    assert "ideal" in row["contenders"]
    assert "ideal" in results["checks"][0]["agree"]
    assert row["contenders"]["gradtx"]["frac_ideal"] > 0


def test_compile_time_anatomy_quick():
    """benchmarks/compile_time.py on the 30-leaf tree: every variant compiles in a fresh
    process and its kernels are counted (one per leaf at least for the per-leaf steps)."""
    pytest.importorskip("optax")
    path = BENCH.parent / "compile_time.py"
    spec = importlib.util.spec_from_file_location("gradtx_bench_compile_time", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.main(["--quick", "--repeats", "1", "--variants", "apply,optax,gradtx"])
    assert list(rows) == ["apply", "optax", "gradtx"]
    for row in rows.values():
        assert row["compile_s"] > 0 and row["lower_s"] > 0
        assert 0 < row["distinct"] <= row["kernels"] + 4  # + a few non-fusion computations
    assert rows["apply"]["kernels"] >= 30  # one `p + u` per leaf
    assert rows["gradtx"]["kernels"] >= 3 * 30  # m, v and p per leaf
    with pytest.raises(SystemExit):
        module.main(["--variants", "adam"])


def test_first_call_anatomy_quick():
    """benchmarks/first_call.py on Rosenbrock 2-D: one fresh process traces, lowers and
    compiles minimize's loop and counts its equations, loops and kernels."""
    path = BENCH.parent / "first_call.py"
    spec = importlib.util.spec_from_file_location("gradtx_bench_first_call", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.main(["--quick", "--kinds", "gradtx"])
    (row,) = out["rows"]["this/rosen2/lbfgs/gradtx"]
    for stage in ("trace", "lower", "compile", "run"):
        assert row[stage] > 0 and row[stage + "_cpu"] >= 0
    assert row["while"] >= 2 and row["eqns"] > 100 and row["kernels"] > 0
    assert row["status"] == 0 and row["iterations"] > 0
