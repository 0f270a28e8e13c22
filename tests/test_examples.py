"""Smoke-run every example script (``--quick``) and test the case study's IDX loader.

Fast: part of the normal suite, not marked slow. The examples are imported by path (the
folder is not a package) and their ``main(argv)`` is called with a temporary ``--out``.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import math
import struct
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(relative: str):
    """Import ``examples/<relative>.py`` by path."""
    name = "examples_" + relative.replace("/", "_")
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{relative}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def finite(*values) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def write_idx(path: Path, array: np.ndarray, magic: int | None = None) -> Path:
    """An IDX file of unsigned bytes (gzipped when the name ends in .gz)."""
    magic = magic if magic is not None else 0x0800 + array.ndim
    raw = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    raw += array.astype(np.uint8).tobytes()
    with (gzip.open if path.name.endswith(".gz") else open)(path, "wb") as f:
        f.write(raw)
    return path


def write_mnist(folder: Path, n_train=96, n_test=32, gz=True) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(exist_ok=True)
    suffix = ".gz" if gz else ""
    for split, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{split}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 28, 28)))
        write_idx(folder / f"{split}-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n))
    return folder


@pytest.fixture(scope="module")
def data():
    return load_example("casestudy/data")


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "plain"])
def test_idx_round_trip(data, tmp_path, gz):
    images = np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256
    path = write_idx(tmp_path / ("x.idx3" + (".gz" if gz else "")), images)
    read = data.read_idx(path, data.IMAGES_MAGIC)
    assert read.shape == (2, 28, 28) and read.dtype == np.uint8
    np.testing.assert_array_equal(read, images)
    labels = data.read_idx(write_idx(tmp_path / "y.idx1", np.arange(7)), data.LABELS_MAGIC)
    np.testing.assert_array_equal(labels, np.arange(7))


def test_idx_errors_name_the_file(data, tmp_path):
    labels = write_idx(tmp_path / "labels-idx1-ubyte", np.arange(5))
    with pytest.raises(
        data.IdxError, match=r"labels-idx1-ubyte: bad magic number 2049, expected 2051"
    ):
        data.read_idx(labels, data.IMAGES_MAGIC)
    not_idx = tmp_path / "junk-idx3-ubyte"
    not_idx.write_bytes(b"\x12\x34\x56\x78" + bytes(20))
    with pytest.raises(data.IdxError, match=r"junk-idx3-ubyte: bad magic number"):
        data.read_idx(not_idx)
    full = write_idx(tmp_path / "imgs-idx3-ubyte", np.zeros((3, 28, 28)))
    full.write_bytes(full.read_bytes()[:-10])
    with pytest.raises(data.IdxError, match=r"imgs-idx3-ubyte: truncated"):
        data.read_idx(full, data.IMAGES_MAGIC)
    noise = np.random.default_rng(0).integers(0, 256, 2000).astype(np.uint8).tobytes()
    broken_gz = tmp_path / "train-images-idx3-ubyte.gz"
    for content in (gzip.compress(noise)[:500], noise):  # a truncated gzip; not a gzip
        broken_gz.write_bytes(content)
        with pytest.raises(data.IdxError, match=r"images-idx3-ubyte\.gz: cannot be decompressed"):
            data.read_idx(broken_gz)
    with pytest.raises(FileNotFoundError, match=r"nothere-idx1-ubyte"):
        data.read_idx(tmp_path / "nothere-idx1-ubyte")


def test_load_mnist(data, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte\[\.gz\] not found"):
        data.load_mnist(tmp_path)
    ds = data.load_mnist(write_mnist(tmp_path, gz=False))
    assert ds.x_train.shape == (96, 784) and ds.x_test.shape == (32, 784)
    assert ds.x_train.dtype == np.float32 and 0 <= ds.x_train.min() <= ds.x_train.max() <= 1
    assert ds.y_train.dtype == np.int32 and ds.y_train.max() <= 9


def test_case_study_names_a_corrupt_file(tmp_path):
    folder = write_mnist(tmp_path, gz=False)
    (folder / "t10k-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x0801, 32))  # no data
    with pytest.raises(SystemExit, match=r"t10k-labels-idx1-ubyte: truncated"):
        load_example("compare_optimizers").main(["--data-dir", str(folder), "--quick"])


def test_case_study_mnist_idx_784_10_10(tmp_path):
    folder = write_mnist(tmp_path / "mnist", gz=True)
    example = load_example("compare_optimizers")
    argv = ["--data-dir", str(folder), "--quick", "--optimizers", "sgd", "--batch-size", "32"]
    results = example.main([*argv, "--out", str(tmp_path / "out"), "--no-progress"])
    run = results["runs"]["sgd"]
    assert results["model"] == "784-10-10 tanh" and run["n_params"] == 784 * 10 + 10 + 10 * 10 + 10
    assert run["status"] == "ok" and run["steps"] == 2 * 3  # 2 epochs of 96 // 32 steps
    assert finite(run["final_train_loss"], run["test_accuracy"])


def test_case_study_comparison(tmp_path):
    example = load_example("compare_optimizers")
    argv = ["--quick", "--optimizers", "sgd,adam,lbfgs_fullbatch", "--out", str(tmp_path)]
    returned = example.main([*argv, "--no-progress"])
    results = json.loads((tmp_path / "compare.json").read_text())
    assert set(results["runs"]) == {"sgd", "adam", "lbfgs_fullbatch"}
    for name, run in results["runs"].items():
        assert run["status"] == "ok", (name, run)
        curve = run["curves"]["train_loss"]
        assert curve and all(finite(v) for v in curve), (name, curve)
        assert run["steps"] > 0 and finite(run["final_train_loss"], run["ms_per_step"])
    assert results["runs"]["adam"]["test_accuracy"] > 30.0
    assert len(results["runs"]["lbfgs_fullbatch"]["curves"]["train_loss"]) == 4  # iterations
    assert returned["runs"]["adam"]["test_accuracy"] == results["runs"]["adam"]["test_accuracy"]
    assert (tmp_path / "loss_curves.png").stat().st_size > 10_000


def test_case_study_lr_sweep_compiles_once(tmp_path):
    example = load_example("compare_optimizers")
    argv = ["--sweep", "lr", "--optimizer", "sgd", "--lrs", "50,0.1", "--quick"]
    results = example.main([*argv, "--out", str(tmp_path), "--no-progress"])
    high, good = results["runs"]["lr=50"], results["runs"]["lr=0.1"]
    assert high["status"] != "ok" and good["status"] == "ok"  # too high: reported, no crash
    assert good["compile_s"] < high["compile_s"]  # the rate is live: compiled for the first only
    assert (tmp_path / "sweep_lr.png").stat().st_size > 0
    assert json.loads((tmp_path / "sweep_lr.json").read_text())["runs"]["lr=0.1"]["hyperparams"][
        "learning_rate"
    ] == pytest.approx(0.1)


def test_case_study_tfds_missing_is_a_clear_error(capsys):
    if importlib.util.find_spec("tensorflow_datasets") is not None:
        pytest.skip("tensorflow_datasets is installed")
    with pytest.raises(SystemExit):
        load_example("compare_optimizers").parse_args(["--data", "tfds"])
    assert "tensorflow_datasets" in capsys.readouterr().err


def test_trajectories(tmp_path):
    summary = load_example("trajectories").main(
        ["--quick", "--methods", "GD,Adam,L-BFGS", "--out", str(tmp_path)]
    )
    for surface in ("quadratic", "rosenbrock", "saddle", "beale"):
        assert (tmp_path / f"trajectories_{surface}.png").stat().st_size > 0
    assert set(summary["quadratic"]) <= {"GD", "Adam", "L-BFGS"}
    assert all(finite(r["f"]) for r in summary["quadratic"].values())
    assert summary["saddle"]["Adam"]["f"] < summary["saddle"]["GD"]["f"]  # Adam escapes faster


def test_flax_nnx(tmp_path):
    result = load_example("flax_nnx").main(["--quick", "--out", str(tmp_path)])
    assert finite(*result["train_loss"], result["test_accuracy"]) and result["steps"] > 0
    assert (tmp_path / "flax_nnx.json").exists()


def test_flax_linen(tmp_path):
    result = load_example("flax_linen").main(["--quick", "--out", str(tmp_path)])
    assert finite(*result["train_loss"]) and result["test_accuracy"] > 50
    assert result["traces"] == 1 and result["final_learning_rate"] == pytest.approx(1e-3)


def test_per_layer_learning_rates(tmp_path):
    result = load_example("per_layer_learning_rates").main(["--quick", "--out", str(tmp_path)])
    frozen = result["phases"]["hidden layer frozen"]
    assert frozen["hidden_moved"] == 0.0 and frozen["head_moved"] > 0
    assert result["traces"] == 1


def test_schedules(tmp_path):
    summary = load_example("schedules").main(["--quick", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "schedules.json").read_text())
    assert record["missing"] == []
    assert all(finite(*row.values()) for row in summary.values())
    assert (tmp_path / "schedules.png").stat().st_size > 10_000


def test_live_hyperparameters(tmp_path):
    result = load_example("live_hyperparameters").main(["--quick", "--out", str(tmp_path)])
    assert result["live_traces"] == 1 and result["rebuilt_traces"] == 3
    assert result["log"][-1]["lr"] == pytest.approx(0.01) and finite(result["final_loss"])


def test_case_study_lr_range_test_and_gradient_free(tmp_path):
    example = load_example("compare_optimizers")
    argv = ["--quick", "--out", str(tmp_path), "--no-progress"]
    ranges = example.main(["--lr-range-test", *argv])
    assert set(ranges) == {"sgd", "adam"}
    for r in ranges.values():
        assert 1e-5 < r["suggestion"] < 10
        assert all(finite(t["final_train_loss"]) for t in r["trained"].values())
    assert (tmp_path / "lr_range_test.png").stat().st_size > 10_000
    free = example.main(["--gradient-free", *argv])
    quadratic = free["quadratic, n = 10"]
    assert quadratic["gradient descent"]["loss"][-1] < quadratic["random search"]["loss"][-1]
    assert json.loads((tmp_path / "gradient_free.json").read_text()).keys() == free.keys()
    assert (tmp_path / "gradient_free.png").stat().st_size > 10_000
