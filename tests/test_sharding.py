"""Sharded optimizer states on an 8-device (4, 2) mesh, checked in a subprocess.

``XLA_FLAGS=--xla_force_host_platform_device_count=8`` must be set before JAX is imported, so
the checks run in a child process (``_child_main``, this very module imported there) that
prints one JSON line of results; the tests below read it. The main test process keeps its
single device.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import cases
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx.sharding import state_shardings

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CHILD_ENV = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}


def _transforms() -> dict[str, gradtx.GradientTransformation]:
    """Every registered optimizer, and Adam under each wrapper that holds parameter-sized state."""
    out = {c.id: c.make() for c in cases.ONE_CASE_PER_OPTIMIZER}
    adam = gradtx.adam(1e-2)
    out["adam-clip-finite"] = gradtx.chain(
        gradtx.clip_by_global_norm(1.0), gradtx.apply_if_finite(adam, 3)
    )
    out["adam-multisteps"] = gradtx.MultiSteps(adam, 3).gradient_transformation()
    out["adam-partition"] = gradtx.partition(
        {"adam": adam, "sgd": gradtx.sgd(0.1, momentum=0.9)},
        gradtx.labels_by_path({"emb": "sgd"}, default="adam"),
    )
    return out


IDS = list(_transforms())


# Every parameter has a distinct shape, so a state leaf is matched to its parameter by path
# suffix and shape together.
@dataclass(frozen=True)
class _Leaf:
    shape: tuple[int, ...]
    spec: tuple  # the PartitionSpec entries


SHAPES_AND_SPECS = {
    "dense": {"w": _Leaf((8, 6), ("data", "model")), "b": _Leaf((6,), ("model",))},
    "emb": _Leaf((16, 4), ("data", None)),
    "pair": (_Leaf((10,), ()), _Leaf((), ())),
}


def _params(mesh, replicated: bool = False):
    from jax.sharding import NamedSharding, PartitionSpec

    rng = np.random.default_rng(0)

    def make(leaf):
        x = jnp.asarray(rng.normal(size=leaf.shape), jnp.float32)
        spec = PartitionSpec(*(() if replicated else leaf.spec))
        return jax.device_put(x, NamedSharding(mesh, spec))

    tree = jax.tree.map(make, SHAPES_AND_SPECS)
    return {**tree, "frozen": None}


def _moments(state, params):
    """(path, leaf, parameter) for every state leaf that is a moment of a parameter: its path
    ends with the parameter's path and it has the parameter's shape. (Factored statistics,
    e.g. Adafactor's row means ``v_row['dense']['w']``, have other shapes: replicated.)"""
    by_path = {
        jax.tree_util.keystr(p): x for p, x in jax.tree_util.tree_flatten_with_path(params)[0]
    }
    out = []
    for path, x in jax.tree_util.tree_flatten_with_path(state)[0]:
        where = jax.tree_util.keystr(path)
        for suffix, p in by_path.items():
            if x.ndim > 0 and where.endswith(suffix) and tuple(x.shape) == tuple(p.shape):
                out.append((where, x, p))
    return out


def _check_follows(state, params) -> str:
    """'' if every moment is sharded like its parameter, else the first offender."""
    for path, x, p in _moments(state, params):
        if not x.sharding.is_equivalent_to(p.sharding, x.ndim):
            return f"{path}: {x.sharding} but its parameter has {p.sharding}"
        if x.addressable_shards[0].data.shape != p.addressable_shards[0].data.shape:
            return f"{path}: a device holds {x.addressable_shards[0].data.shape}"
    return ""


def _grads(params, t: int):
    rng = np.random.default_rng(100 + t)
    return jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), p.dtype), params)


def _run(params, state, steps, step):
    for t in range(steps):
        params, state = step(_grads(params, t), state, params)
    return params, state


def _train_step(tx):
    def step(grads, state, params):
        updates, state = tx.update(grads, state, params)
        return gradtx.apply_updates(params, updates), state

    return step


def _rel_diff(a, b) -> float:
    errs = [
        float(np.max(np.abs(np.asarray(x) - np.asarray(y)), initial=0.0))
        / max(float(np.max(np.abs(np.asarray(y)), initial=0.0)), 1e-30)
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))
    ]
    return max(errs)


# Training runs (a compile each) only for these: elementwise updates give the same numbers
# under any sharding, so the interesting cases are global reductions (the clip), control
# flow (MultiSteps, apply_if_finite), masks (partition), and a few algorithms.
ZERO_RUNS = ("adam", "rprop", "adadelta", "adam-clip-finite", "adam-multisteps", "adam-partition")


def _checks_for(name, tx, mesh, params, rep) -> dict[str, str]:
    """All per-transform checks; each value is '' (pass) or what went wrong."""
    from jax.sharding import NamedSharding, PartitionSpec

    out = {}
    # (a) jit(init) with out_shardings from eval_shape-only state_shardings.
    shardings = state_shardings(tx, params, mesh)
    state = jax.jit(tx.init, out_shardings=shardings)(params)
    out["follows"] = _check_follows(state, params)
    # What plain eager init does (see test_eager_init_follows_params).
    out["eager"] = _check_follows(tx.init(params), params)
    # (b) ZeRO-1: replicated params, state split over "data"; same numbers as one device.
    z_sh = state_shardings(tx, rep, mesh, zero_axis="data")
    z_state = jax.jit(tx.init, out_shardings=z_sh)(rep)
    problems = []
    for path, x, _ in _moments(z_state, rep):
        n_data = mesh.shape["data"]
        if any(s % n_data == 0 for s in x.shape) and "data" not in str(x.sharding.spec):
            problems.append(f"{path} is not split over 'data': {x.sharding.spec}")
        elif x.addressable_shards[0].data.size * n_data > x.size and "data" in str(x.sharding.spec):
            problems.append(f"{path}: a device holds {x.addressable_shards[0].data.shape}")
    if name in ZERO_RUNS:
        p_sh = jax.tree.map(lambda p: NamedSharding(mesh, PartitionSpec()), rep)
        step = jax.jit(_train_step(tx), in_shardings=(p_sh, z_sh, p_sh), out_shardings=(p_sh, z_sh))
        p_zero, s_zero = _run(rep, z_state, 4, step)
        host = jax.tree.map(np.asarray, rep)
        p_one, _ = _run(host, tx.init(host), 4, jax.jit(_train_step(tx)))
        if _rel_diff(p_zero, p_one) > 1e-6:
            problems.append(f"ZeRO run differs from one device by {_rel_diff(p_zero, p_one):.3g}")
        again, _ = _run(rep, z_state, 4, step)
        if any(
            np.any(np.asarray(a) != np.asarray(b))
            for a, b in zip(*map(jax.tree.leaves, (again, p_zero)))
        ):
            problems.append("two identical sharded runs differ")
        problems.append(_check_zero_leaves(s_zero, z_sh))
    out["zero"] = "; ".join(p for p in problems if p)
    return out


def _check_zero_leaves(state, shardings) -> str:
    for x, s in zip(jax.tree.leaves(state), jax.tree.leaves(shardings)):
        if not x.sharding.is_equivalent_to(s, x.ndim):
            return f"a state leaf came back as {x.sharding.spec}, not {s.spec}"
    return ""


def _no_gather_check(mesh) -> str:
    """eval_shape gives the layout; the compiled sharded init of Adam has no all-gather."""
    tx = gradtx.adam(1e-3)
    params = _params(mesh)
    abstract = jax.tree.map(
        lambda p: jax.ShapeDtypeStruct(p.shape, p.dtype, sharding=p.sharding), params
    )
    layout = jax.eval_shape(tx.init, abstract)
    if jax.tree.structure(layout) != jax.tree.structure(tx.init(params)):
        return "eval_shape layout differs from init"
    hlo = jax.jit(tx.init, out_shardings=state_shardings(tx, abstract, mesh)).lower(abstract)
    text = hlo.compile().as_text()
    return "all-gather in the compiled init" if "all-gather" in text else ""


def _checkpoint_check(mesh, folder: str) -> str:
    """A sharded state saved with gradtx.checkpoint is restored with its shardings."""
    from gradtx import checkpoint

    tx = gradtx.adam(1e-3)
    params = _params(mesh)
    shardings = state_shardings(tx, params, mesh, zero_axis="data")
    state = jax.jit(tx.init, out_shardings=shardings)(params)
    _, state = tx.update(_grads(params, 0), state, params)
    path = os.path.join(folder, "sharded.npz")
    checkpoint.save(path, state)
    like = jax.tree.map(
        lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh),
        jax.eval_shape(tx.init, params),
        shardings,
    )
    restored = checkpoint.load(path, like=like)
    for a, b, sh in zip(*map(jax.tree.leaves, (restored, state, shardings))):
        if not a.sharding.is_equivalent_to(sh, a.ndim):
            return f"restored as {a.sharding.spec}, expected {sh.spec}"
        if np.any(np.asarray(a) != np.asarray(b)):
            return "restored values differ"
    return ""


def _child_main() -> None:
    import tempfile

    from jax.sharding import Mesh

    assert len(jax.devices()) == 8, jax.devices()
    mesh = Mesh(np.array(jax.devices()).reshape(4, 2), ("data", "model"))
    results = {"cases": {}}
    params, rep = _params(mesh), _params(mesh, replicated=True)
    for name, tx in _transforms().items():
        try:
            results["cases"][name] = _checks_for(name, tx, mesh, params, rep)
        except Exception as err:  # report, so that one failure does not hide the others
            msg = f"{type(err).__name__}: {err}"[:500]
            results["cases"][name] = {"follows": msg, "eager": msg, "zero": msg}
    results["no_gather"] = _no_gather_check(mesh)
    with tempfile.TemporaryDirectory() as folder:
        results["checkpoint"] = _checkpoint_check(mesh, folder)
    print(json.dumps(results))


def _run_child(code: str, timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, **CHILD_ENV, "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)])}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def child():
    proc = _run_child("import test_sharding; test_sharding._child_main()", timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", IDS)
def test_state_follows_param_sharding(child, name):
    """jit(init, out_shardings=state_shardings(...)) puts every moment with its parameter."""
    assert child["cases"][name]["follows"] == "", child["cases"][name]["follows"]


@pytest.mark.parametrize("name", IDS)
def test_zero_shards_state_over_data_and_matches_one_device(child, name):
    assert child["cases"][name]["zero"] == "", child["cases"][name]["zero"]


def test_eager_init_follows_params(child):
    failing = {k: v["eager"] for k, v in child["cases"].items() if v["eager"]}
    assert not failing, failing


def test_sharded_init_has_no_all_gather(child):
    assert child["no_gather"] == "", child["no_gather"]


def test_sharded_checkpoint_restores_shardings(child):
    assert child["checkpoint"] == "", child["checkpoint"]


def test_example_sharded_training_smoke():
    """examples/sharded_training.py: (4, 2) mesh, ZeRO, same numbers as one device."""
    code = (
        "import json, runpy, sys; sys.argv = ['sharded_training', '--quick', '--zero'];"
        "runpy.run_path('examples/sharded_training.py', run_name='__main__')"
    )
    proc = _run_child(code, timeout=180)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert result["mesh"] == {"data": 4, "model": 2}
    assert result["max_rel_param_diff"] <= 1e-6 and result["max_rel_loss_diff"] <= 1e-6
    assert "data" in result["moment_spec_w1"] and "model" in result["moment_spec_w1"]
    assert result["state_bytes_per_device"] < result["state_bytes_total"] / 4


def test_state_shardings_rejects_unknown_axis():
    from jax.sharding import Mesh

    mesh = Mesh(np.array(jax.devices()[:1]).reshape(1, 1), ("data", "model"))
    with pytest.raises(ValueError, match="zero_axis"):
        state_shardings(gradtx.adam(1e-3), {"w": jnp.ones(4)}, mesh, zero_axis="batch")


def test_state_shardings_on_one_device_mesh_matches_init_structure():
    from jax.sharding import Mesh

    mesh = Mesh(np.array(jax.devices()[:1]).reshape(1, 1), ("data", "model"))
    params = {"w": jnp.ones((4, 2)), "none": None}
    for tx in _transforms().values():
        sh = state_shardings(tx, params, mesh, zero_axis="data")
        assert jax.tree.structure(sh) == jax.tree.structure(jax.eval_shape(tx.init, params))
