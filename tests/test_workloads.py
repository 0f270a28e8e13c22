"""The workloads benchmark (benchmarks/workloads): search, scoring, and a smoke run.

The smoke run is the quick command cut down to the least-squares workload, two optimizers
(AdamW and L-BFGS), one trial, two seeds and 60 steps; run twice into one folder, the
second run must reuse every stored trial (resumability).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

pytest.importorskip("flax")
from benchmarks.workloads import _merge, _scoring, _search, run


def test_halton_is_deterministic_and_fills_the_unit_cube():
    pts = _search.halton(64, 2, seed=3)
    assert pts.shape == (64, 2) and 0 <= pts.min() and pts.max() < 1
    np.testing.assert_array_equal(pts[:8], _search.halton(8, 2, seed=3))  # prefix-stable
    assert not np.allclose(pts, _search.halton(64, 2, seed=4))
    counts = np.histogram2d(pts[:, 0], pts[:, 1], bins=4, range=[[0, 1], [0, 1]])[0]
    assert counts.min() >= 2  # low discrepancy: every cell of a 4x4 grid is hit
    assert _search.radical_inverse(6, 2) == pytest.approx(0.375)  # 110 -> 0.011


def test_search_space_dimensions():
    space = {
        "learning_rate": _search.Log(1e-3, 1e-1),
        "b1": _search.OneMinusLog(0.01, 0.1),
        "m": _search.Choice((3, 5)),
    }
    points = _search.trials(space, 20, seed=0)
    assert all(1e-3 <= p["learning_rate"] <= 1e-1 for p in points)
    assert all(0.9 <= p["b1"] <= 0.99 for p in points)
    assert {p["m"] for p in points} == {3, 5}
    assert _search.Log(1e-4, 1.0)(0.5) == pytest.approx(1e-2)


def test_profiles_and_score():
    table = {
        "a": {"w1": 10.0, "w2": 20.0},  # fastest on w1, 2x on w2
        "b": {"w1": 30.0, "w2": 10.0},  # 3x on w1, fastest on w2
        "c": {"w1": 50.0, "w2": math.inf},  # 5x (> 4: counts as not reached), never
    }
    _, rho, score = _scoring.profiles(table, ["w1", "w2"], points=3001)
    assert rho["a"][0] == 0.5 and rho["a"][-1] == 1.0
    assert rho["c"].max() == 0.0 and score["c"] == 0.0
    # a: 0.5 on [1, 2), 1 on [2, 4] -> (0.5 + 2) / 3; b: 0.5 on [1, 3), 1 on [3, 4] -> 2 / 3
    assert score["a"] == pytest.approx(2.5 / 3, abs=1e-3)
    assert score["b"] == pytest.approx(2 / 3, abs=1e-3)
    assert (
        _scoring.median_or_inf([3, None, 5]) == 5
        and _scoring.median_or_inf([None, None, 1]) == math.inf
    )


def test_quick_command_smoke_and_resume(tmp_path, capsys):
    argv = ["--quick", "--workloads", "least_squares", "--optimizers", "adamw,lbfgs",
            "--trials", "1", "--seeds", "2", "--max-steps", "60", "--out", str(tmp_path),
            "--no-progress", "--no-figures", "--search"]  # fmt: skip
    results = run.main(argv)
    table = capsys.readouterr().out
    assert "steps / seconds to target" in table and "adamw" in table and "lbfgs" in table
    lines = (tmp_path / "trials.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert {r["optimizer"] for r in records} == {"adamw", "lbfgs"}
    for r in records:
        assert r["steps_run"] <= 60 and r["ms_per_step"] > 0 and r["curve"][0][0] == 0
    lbfgs = results["summary"]["lbfgs"]["least_squares"]
    assert lbfgs["reached"] >= 1 and lbfgs["steps"] <= 60  # L-BFGS solves it in tens of steps
    assert results["summary"]["adamw"]["least_squares"]["trials"] == 1
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["workloads"]["least_squares"]["metric"] == "rel_objective"
    assert "| lbfgs |" in (tmp_path / "results.md").read_text()
    run.main(argv)  # resumes: every trial is found in trials.jsonl, nothing is rerun
    assert (tmp_path / "trials.jsonl").read_text().splitlines() == lines


def test_image_workloads_read_idx_files(tmp_path):
    """--data-dir: MNIST-format IDX files (here random 28x28 images) replace the digits."""
    from benchmarks.workloads import _workloads

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_examples import write_mnist

    folder = write_mnist(tmp_path / "fashion", n_train=64, n_test=32)
    wl = _workloads.build("cnn", data_dir=str(folder), dataset="fashion_mnist")
    assert wl.data["x_train"].shape == (64, 28, 28) and wl.data["x_valid"].shape == (32, 28, 28)
    assert wl.target == _workloads.TARGETS["cnn"][2] and "fashion_mnist" in wl.description
    shapes = jax.eval_shape(lambda: wl.init(0))
    assert shapes["head"]["kernel"].shape == (7 * 7 * 32, 10)
    with pytest.raises(ValueError, match="workload must be one of"):
        _workloads.build("resnet")


def test_tuned_replays_the_chosen_hyperparameters(tmp_path, capsys):
    """--tuned FILE: one trial per pair at the hyperparameters a previous run chose, and a
    note on stderr that says so (the preset asked for 3 trials)."""
    chosen = {"learning_rate": 0.9, "momentum": 0.5}
    summary = {"sgd_nesterov": {"least_squares": {"reached": 1, "hyperparams": chosen}}}
    (tmp_path / "tuned.json").write_text(json.dumps({"summary": summary}))
    argv = ["--workloads", "least_squares", "--optimizers", "sgd_nesterov", "--max-steps", "20",
            "--tuned", str(tmp_path / "tuned.json"), "--out", str(tmp_path / "out"),
            "--no-progress", "--no-figures"]  # fmt: skip
    results = run.main(argv)
    s = results["summary"]["sgd_nesterov"]["least_squares"]
    assert s["trials"] == 1 and s["hyperparams"] == chosen
    err = capsys.readouterr().err
    assert "sgd_nesterov on least_squares: 1 trial with them instead of 3" in err


def _results(times: dict, ms: dict) -> dict:
    """A results.json with one workload: optimizer -> steps to target and ms per step."""
    wl = {"w": {"description": "d", "metric": "m", "target": 0.1, "budget": 100, "batch_size": 8}}
    summary = {o: {"w": {"steps": t, "time_s": t / 100, "reached": 1, "seeds": 1, "trials": 1,
                         "trials_reached": 1,
                         "hyperparams": {}, "ms_per_step_interleaved": ms[o],
                         "time_est_s": t * ms[o] / 1e3}} for o, t in times.items()}  # fmt: skip
    return {"workloads": wl, "optimizers": {o: {"space": ""} for o in times},
            "summary": summary, "profiles": {}}  # fmt: skip


def test_merge_adds_optimizers_rescales_step_time_and_rescores(tmp_path, capsys):
    """--merge: the new run's optimizers join the base run; the scores cover all of them."""
    base = _results({"adamw": 100, "sgd": 400}, {"adamw": 2.0, "sgd": 1.0})
    new = _results({"adamw": 999, "new": 50}, {"adamw": 4.0, "new": 12.0})  # its AdamW is ignored
    paths = [tmp_path / "base.json", tmp_path / "new.json"]
    for p, r in zip(paths, (base, new)):
        p.write_text(json.dumps(r))
    argv = ["--merge", *map(str, paths), "--step-time-ref", "adamw", "--out",
            str(tmp_path / "out"), "--no-figures"]  # fmt: skip
    results = run.main(argv)
    assert list(results["optimizers"]) == ["adamw", "sgd", "new"]
    assert results["summary"]["adamw"]["w"]["steps"] == 100
    s = results["summary"]["new"]["w"]
    assert s["ms_per_step_ratio_to_ref"] == 3.0 and s["ms_per_step_interleaved"] == 6.0
    assert s["time_est_s"] == pytest.approx(0.3)  # 50 steps x 6 ms
    steps = results["profiles"]["steps"]["score"]
    assert steps["new"] == 1.0 and steps["sgd"] == 0.0  # sgd: 8x the fastest
    est = results["profiles"]["time_est_s"]["score"]  # AdamW 0.2 s, new 0.3 s: 1.5x
    assert est["adamw"] == 1.0 and est["new"] == pytest.approx(1 - 0.5 / 3, abs=0.01)
    assert "| new |" in (tmp_path / "out" / "results.md").read_text()
    assert (
        "new: timed in their own run beside adamw" in (tmp_path / "out" / "results.md").read_text()
    )
    other = _results({"new": 60}, {"new": 1.0})  # a run of another workload: added too
    other["workloads"]["v"] = other["workloads"].pop("w")
    other["summary"]["new"]["v"] = other["summary"]["new"].pop("w")
    merged = _merge.merge(results, other)
    assert list(merged["workloads"]) == ["w", "v"] and merged["summary"]["new"]["v"]["steps"] == 60
    assert merged["profiles"]["steps"]["score"]["new"] == 1.0
    new["workloads"]["w"]["target"] = 0.2
    paths[1].write_text(json.dumps(new))
    with pytest.raises(ValueError, match="workload 'w' differs"):
        run.main(argv)
