"""The AlgoPerf submission adapter (benchmarks/workloads/algoperf.py) against a stand-in.

The stand-in (benchmarks/workloads/_standin.py) follows AlgoPerf's ``Workload`` interface
for the methods a submission and the runner call (``init_model_fn``, ``param_shapes``,
``model_params_types``, ``step_hint``, ``model_fn``, ``loss_fn``, ``_build_input_queue``,
``eval_model``, ``has_reached_validation_target``) around the digits MLP workload; ``run``
is ``submission_runner.train_once``'s loop.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

pytest.importorskip("flax")
pytest.importorskip("sklearn")
import gradtx
from benchmarks.workloads import _standin, _workloads, algoperf

HP = {"learning_rate": 3e-3, "one_minus_beta1": 0.1, "beta2": 0.99, "weight_decay": 1e-4,
      "warmup_factor": 0.05}  # fmt: skip
SIZES = {"mnist": 64}


@pytest.fixture(scope="module")
def workload():
    return _standin.StandInWorkload(_workloads.mlp(), name="mnist")


def test_load_hyperparameters(tmp_path):
    listed = tmp_path / "space.json"
    listed.write_text(json.dumps([HP, {**HP, "learning_rate": 0.1}]))
    point = algoperf.load_hyperparameters(listed, index=1)
    assert point.learning_rate == 0.1 and point.one_minus_beta1 == 0.1  # a namedtuple
    single = tmp_path / "one.json"
    single.write_text(json.dumps({"learning_rate": {"feasible_points": [0.5]}, "beta2": 0.9}))
    assert algoperf.hp(algoperf.load_hyperparameters(single), "learning_rate") == 0.5
    assert algoperf.hp({"a": 1}, "b", 7) == 7
    shipped = algoperf.load_hyperparameters(Path(algoperf.__file__).parent / "algoperf_nadamw.json")
    assert shipped.warmup_factor == 0.02 and 0.9 < 1 - shipped.one_minus_beta1 < 1


def test_nadamw_trains_the_stand_in(workload):
    sub = algoperf.nadamw(batch_sizes=SIZES)
    out = _standin.run(sub, workload, HP, max_steps=150, eval_every=50)
    errors = [r["validation/error_rate"] for _, r in out["evals"]]
    assert out["steps"] <= 150 and errors[-1] < 0.2 and errors[-1] <= errors[0]


@pytest.mark.parametrize("name", ["nadamw", "shampoo"])
def test_submission_step_equals_a_hand_written_loop(workload, name):
    """Three adapter steps = three steps of the gradtx optimizer on the mean loss, same
    schedule, NAdamW's hyperparameter names mapped to its arguments."""
    sub = algoperf.SUBMISSIONS[name](batch_sizes=SIZES)
    params, _ = workload.init_model_fn(jax.random.PRNGKey(0))
    state = sub.init_optimizer_state(workload, params, None, HP, None)
    tx = getattr(gradtx, name)(algoperf.warmup_cosine(HP, workload.step_hint), b1=0.9, b2=0.99,
                               weight_decay=1e-4)  # fmt: skip
    ref_params, ref_state = params, tx.init(params)
    queue = workload._build_input_queue(jax.random.PRNGKey(1), "train", None, 64)
    loss = lambda p, b: workload.loss_fn(b["targets"], workload.model_fn(
        p, b, None, None, None, False)[0])["summed"] / 64  # fmt: skip

    @jax.jit
    def reference_step(p, s, b):
        updates, s = tx.update(jax.grad(loss)(p, b), s, p)
        return gradtx.apply_updates(p, updates), s

    for step in range(3):
        batch = next(queue)
        ref_params, ref_state = reference_step(ref_params, ref_state, batch)
        state, params, _ = sub.update_params(workload, params, None, None, HP, batch, None,
                                             state, [], step, None)  # fmt: skip
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(ref_params)):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)


def test_schedule_free_evaluates_at_the_average_and_trains_on(workload):
    sub = algoperf.schedule_free_adamw(batch_sizes=SIZES)
    params, _ = workload.init_model_fn(jax.random.PRNGKey(0))
    state = sub.init_optimizer_state(workload, params, None, HP, None)
    queue = workload._build_input_queue(jax.random.PRNGKey(1), "train", None, 64)
    for step in range(5):
        state, params, _ = sub.update_params(workload, params, None, None, HP, next(queue),
                                             None, state, [], step, None)  # fmt: skip
    y = params
    state, x, _ = sub.prepare_for_eval(workload, y, None, None, HP, None, state, [], 5, None)
    expected = gradtx.schedule_free_eval_params(state[0], y)
    for a, b in zip(jax.tree.leaves(x), jax.tree.leaves(expected)):
        np.testing.assert_array_equal(a, b)
    assert any(not jnp.array_equal(a, b) for a, b in zip(jax.tree.leaves(x), jax.tree.leaves(y)))
    batch = next(queue)  # training resumes from y (kept in the state), not from x
    copy = lambda tree: jax.tree.map(jnp.copy, tree)  # the step donates its inputs
    plain = (copy(state[0]), state[1], None)
    y = copy(y)
    after_x, p1, _ = sub.update_params(workload, x, None, None, HP, batch, None, state, [], 5, None)
    _, p2, _ = sub.update_params(workload, y, None, None, HP, batch, None, plain, [], 5, None)
    for a, b in zip(jax.tree.leaves(p1), jax.tree.leaves(p2)):
        np.testing.assert_array_equal(a, b)
    assert after_x[2] is None


def test_submission_api_and_hooks(workload):
    namespace = {}
    algoperf.nadamw().export(namespace)
    assert set(namespace) == {"init_optimizer_state", "update_params", "prepare_for_eval",
                              "get_batch_size", "data_selection"}  # fmt: skip
    assert namespace["get_batch_size"]("imagenet_resnet") == 1024
    with pytest.raises(ValueError, match="Unsupported workload name"):
        namespace["get_batch_size"]("nope")
    assert set(algoperf.SUBMISSIONS) == {"nadamw", "schedule_free_adamw", "shampoo"}
