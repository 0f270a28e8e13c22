"""Smoke-run the example scripts (fast: part of the normal suite, not marked slow)."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str):
    """Import ``examples/<name>.py`` by path (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compare_optimizers_quick(tmp_path):
    example = load_example("compare_optimizers")
    args = ["--quick", "--out", str(tmp_path), "--optimizers", "sgd,adam"]
    returned = example.main(args)

    results = json.loads((tmp_path / "compare.json").read_text())
    assert results["config"]["epochs"] == 2
    assert set(results["runs"]) == {"sgd", "adam"}
    for name, run in results["runs"].items():
        assert run["status"] == "ok", (name, run)
        curve = run["train_loss_curve"]
        assert len(curve) == 2, (name, curve)
        assert all(v is not None and math.isfinite(v) for v in curve), (name, curve)
        assert math.isfinite(run["final_train_loss"]), (name, run)
        assert run["steps"] > 0
    assert results["runs"]["adam"]["test_accuracy"] > 30.0
    assert returned["runs"]["adam"]["test_accuracy"] == results["runs"]["adam"]["test_accuracy"]
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "loss_curves.png").stat().st_size > 0
