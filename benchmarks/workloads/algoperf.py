"""Turn any gradtx transform into an MLCommons AlgoPerf submission (JAX, external tuning).

AlgoPerf calls four functions of a submission module (``algoperf/spec.py``)::

    init_optimizer_state(workload, model_params, model_state, hyperparameters, rng)
    update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results,
                  global_step, rng, train_state=None) -> (optimizer_state, params, model_state)
    prepare_for_eval(workload, current_param_container, current_params_types, model_state,
                     hyperparameters, loss_type, optimizer_state, eval_results, global_step,
                     rng) -> (optimizer_state, params, model_state)
    get_batch_size(workload_name)

(and ``data_selection``). :class:`Submission` provides them for a factory
``make_tx(hyperparameters, step_hint) -> GradientTransformation``; a submission file is::

    from benchmarks.workloads.algoperf import nadamw
    nadamw().export(globals())

with ``--tuning_search_space`` a JSON in AlgoPerf's format (:func:`load_hyperparameters`
reads one here). The training step follows AlgoPerf's current JAX baselines: the summed
loss of ``workload.model_fn`` + ``workload.loss_fn`` over ``n_valid_examples``, optional
global-norm clipping (``grad_clip``), label smoothing and dropout from the hyperparameters,
``jax.jit`` with replicated parameters and state and the batch sharded along its first axis
over all devices (one CPU device works). Of the workload it uses ``param_shapes`` (to build
the state), ``step_hint`` (schedules), ``model_fn``, ``loss_fn`` and ``metrics_logger``.
"""

from __future__ import annotations

import collections
import enum
import functools
import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import gradtx

try:  # the real enums when AlgoPerf is installed, so that its model_fn recognises the mode
    from algoperf.spec import ForwardPassMode
except ImportError:  # pragma: no cover - depends on the environment

    class ForwardPassMode(enum.Enum):
        """AlgoPerf's ``spec.ForwardPassMode`` (same names and values)."""

        TRAIN = 0
        EVAL = 1


# AlgoPerf's baseline batch sizes (algorithms/baselines/*/jax_nadamw_full_budget.py).
BATCH_SIZES = {
    "criteo1tb": 262_144,
    "fastmri": 32,
    "imagenet_resnet": 1024,
    "imagenet_resnet_silu": 512,
    "imagenet_resnet_gelu": 512,
    "imagenet_vit": 1024,
    "librispeech_conformer": 256,
    "librispeech_deepspeech": 256,
    "ogbg": 512,
    "wmt": 128,
    "mnist": 16,
}


def hp(hyperparameters: Any, name: str, default: Any = None) -> Any:
    """A hyperparameter by name from AlgoPerf's namedtuple, a dict or any object."""
    if isinstance(hyperparameters, dict):
        return hyperparameters.get(name, default)
    return getattr(hyperparameters, name, default)


def load_hyperparameters(path: str | Path, index: int = 0):
    """One point of a JSON in AlgoPerf's format, as AlgoPerf's namedtuple.

    The file is a list of points (``tuning_search_space.json`` of the baselines: point
    ``index`` is taken) or one dict whose values are numbers or ``{"feasible_points": [v]}``.
    """
    data = json.loads(Path(path).read_text())
    point = data[index] if isinstance(data, list) else data
    point = {k: v["feasible_points"][0] if isinstance(v, dict) else v for k, v in point.items()}
    return collections.namedtuple("Hyperparameters", sorted(point))(**point)


def warmup_cosine(hyperparameters: Any, step_hint: int):
    """AlgoPerf's baseline schedule: linear warm-up over ``warmup_factor * step_hint`` steps
    to ``learning_rate``, then cosine decay to 0 at ``step_hint``."""
    warmup = int(hp(hyperparameters, "warmup_factor", 0.0) * step_hint)
    peak = hp(hyperparameters, "learning_rate")
    return gradtx.schedules.warmup_cosine_decay_schedule(0.0, peak, warmup, max(step_hint, 1))


def _train_step(workload, update, grad_clip, label_smoothing, dropout_rate,
                model_state, opt_state, params, batch, rng):  # fmt: skip
    kwargs = {}
    if "dropout_rate" in inspect.signature(workload.model_fn).parameters:
        kwargs["dropout_rate"] = dropout_rate

    def loss_fn(p):
        logits, new_model_state = workload.model_fn(
            p, batch, model_state, ForwardPassMode.TRAIN, rng, update_batch_norm=True, **kwargs
        )
        out = workload.loss_fn(
            label_batch=batch["targets"],
            logits_batch=logits,
            mask_batch=batch.get("weights"),
            label_smoothing=label_smoothing,
        )
        return out["summed"], (out["n_valid_examples"], new_model_state)

    (summed, (n, new_model_state)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    loss = summed / n
    grads = jax.tree.map(lambda g: g / n, grads)
    grad_norm = jnp.sqrt(sum(jnp.sum(g * g) for g in jax.tree.leaves(grads)))
    if grad_clip is not None:
        factor = jnp.minimum(1.0, grad_clip / (grad_norm + 1e-6))
        grads = jax.tree.map(lambda g: g * factor, grads)
    updates, opt_state = update(grads, opt_state, params)
    return opt_state, gradtx.apply_updates(params, updates), new_model_state, loss, grad_norm


class Submission:
    """An AlgoPerf submission built from ``make_tx(hyperparameters, step_hint)``.

    Args:
      make_tx: returns the gradtx (or Optax) transform for a run.
      eval_params: ``(opt_state, params) -> params`` to evaluate at (schedule-free's
        average); training then resumes from the parameters it was at (kept in the state).
      batch_sizes: global batch size per workload name (default :data:`BATCH_SIZES`).
    """

    def __init__(self, make_tx: Callable[[Any, int], Any], eval_params=None, batch_sizes=None):
        self.make_tx, self.eval_params = make_tx, eval_params
        self.batch_sizes = dict(BATCH_SIZES if batch_sizes is None else batch_sizes)

    def init_optimizer_state(self, workload, model_params, model_state, hyperparameters, rng):
        """``(transform state, compiled step, None)``: AlgoPerf's JAX checkpointing expects
        the state first; the third slot holds the training parameters during an evaluation."""
        del model_params, model_state, rng
        tx = self.make_tx(hyperparameters, workload.step_hint)
        zeros = jax.tree.map(lambda s: jnp.zeros(s.shape_tuple), workload.param_shapes,
                             is_leaf=lambda s: type(s).__name__ == "ShapeTuple")  # fmt: skip
        mesh = Mesh(jax.devices(), ("batch",))
        replicated = NamedSharding(mesh, PartitionSpec())
        sharded = NamedSharding(mesh, PartitionSpec("batch"))
        step = functools.partial(
            _train_step, workload, tx.update, hp(hyperparameters, "grad_clip"),
            hp(hyperparameters, "label_smoothing", 0.0), hp(hyperparameters, "dropout_rate", 0.0),
        )  # fmt: skip
        jitted = jax.jit(
            step,
            in_shardings=(replicated, replicated, replicated, sharded, replicated),
            out_shardings=(replicated,) * 5,
            donate_argnums=(1, 2),
        )
        state = jax.tree.map(jnp.copy, tx.init(zeros))  # no buffer twice: the step donates it
        return state, jitted, None

    def update_params(self, workload, current_param_container, current_params_types,
                      model_state, hyperparameters, batch, loss_type, optimizer_state,
                      eval_results, global_step, rng, train_state=None):  # fmt: skip
        """One step; returns ``(optimizer_state, params, model_state)``."""
        del current_params_types, hyperparameters, loss_type, eval_results, train_state
        opt_state, step, kept = optimizer_state
        params = current_param_container if kept is None else kept
        opt_state, params, model_state, loss, grad_norm = step(
            model_state, opt_state, params, batch, rng
        )
        logger = getattr(workload, "metrics_logger", None)
        if logger is not None and global_step % 100 == 0:
            logger.append_scalar_metrics(
                {"loss": float(loss), "grad_norm": float(grad_norm)}, global_step
            )
        return (opt_state, step, None), params, model_state

    def prepare_for_eval(self, workload, current_param_container, current_params_types,
                         model_state, hyperparameters, loss_type, optimizer_state,
                         eval_results, global_step, rng):  # fmt: skip
        """The parameters to evaluate: ``eval_params(state, params)`` if given."""
        del workload, current_params_types, hyperparameters, loss_type, eval_results
        del global_step, rng
        if self.eval_params is None:
            return optimizer_state, current_param_container, model_state
        opt_state, step, kept = optimizer_state
        params = current_param_container if kept is None else kept
        return (opt_state, step, params), self.eval_params(opt_state, params), model_state

    def get_batch_size(self, workload_name: str) -> int:
        if workload_name not in self.batch_sizes:
            raise ValueError(f"Unsupported workload name: {workload_name}.")
        return self.batch_sizes[workload_name]

    def data_selection(self, workload, input_queue, optimizer_state, current_param_container,
                       model_state, hyperparameters, global_step, rng):  # fmt: skip
        del workload, optimizer_state, current_param_container, model_state
        del hyperparameters, global_step, rng
        return next(input_queue)

    def export(self, namespace: dict) -> None:
        """Define the submission's functions in ``namespace`` (a module's ``globals()``)."""
        for name in ("init_optimizer_state", "update_params", "prepare_for_eval",
                     "get_batch_size", "data_selection"):  # fmt: skip
            namespace[name] = getattr(self, name)


def _b1(hyperparameters) -> float:
    return 1.0 - hp(hyperparameters, "one_minus_beta1", 0.1)


def nadamw(batch_sizes=None) -> Submission:
    """AlgoPerf's NAdamW baseline: ``gradtx.nadamw`` under warm-up + cosine decay.

    Hyperparameters: ``learning_rate``, ``one_minus_beta1``, ``beta2``, ``weight_decay``,
    ``warmup_factor`` (and optionally ``grad_clip``, ``label_smoothing``, ``dropout_rate``).
    """

    def make(h, step_hint):
        return gradtx.nadamw(warmup_cosine(h, step_hint), b1=_b1(h), b2=hp(h, "beta2", 0.999),
                             eps=1e-8, weight_decay=hp(h, "weight_decay", 0.0))  # fmt: skip

    return Submission(make, batch_sizes=batch_sizes)


def schedule_free_adamw(batch_sizes=None) -> Submission:
    """Schedule-free AdamW: no decay, its own warm-up, evaluated at the average ``x``.

    Hyperparameters: ``learning_rate``, ``one_minus_beta1`` (the interpolation $\\beta_1$),
    ``beta2``, ``weight_decay``, ``warmup_factor``.
    """

    def make(h, step_hint):
        warmup = int(hp(h, "warmup_factor", 0.0) * step_hint)
        return gradtx.schedule_free_adamw(
            hp(h, "learning_rate"), warmup_steps=warmup or None, b1=_b1(h),
            b2=hp(h, "beta2", 0.999), weight_decay=hp(h, "weight_decay", 0.0),
        )  # fmt: skip

    return Submission(make, eval_params=gradtx.schedule_free_eval_params, batch_sizes=batch_sizes)


def shampoo(batch_sizes=None) -> Submission:
    """:func:`gradtx.shampoo` (Adam-grafted, blocks of 256, roots every 20 steps) under
    warm-up + cosine decay, with NAdamW's hyperparameter names: ``learning_rate``,
    ``one_minus_beta1``, ``beta2``, ``weight_decay``, ``warmup_factor``.
    """

    def make(h, step_hint):
        return gradtx.shampoo(
            warmup_cosine(h, step_hint), b1=_b1(h), b2=hp(h, "beta2", 0.999),
            weight_decay=hp(h, "weight_decay", 0.0),
        )  # fmt: skip

    return Submission(make, batch_sizes=batch_sizes)


SUBMISSIONS = {"nadamw": nadamw, "schedule_free_adamw": schedule_free_adamw, "shampoo": shampoo}
