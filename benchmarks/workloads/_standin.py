"""A stand-in for an AlgoPerf ``Workload`` and a minimal ``submission_runner`` loop.

:class:`StandInWorkload` follows AlgoPerf's ``spec.Workload`` interface for what a
submission and the runner use: ``init_model_fn``, ``param_shapes``, ``model_params_types``,
``step_hint``, ``model_fn``, ``loss_fn``, ``loss_type``, ``_build_input_queue``,
``eval_model``, ``has_reached_validation_target``, ``target_metric_name``,
``validation_target_value`` and ``metrics_logger``. It wraps a workload of this folder (an
image classifier: batches are ``{"inputs", "targets"}``). :func:`run` is the training loop of
AlgoPerf's ``submission_runner.train_once`` without timing or checkpoints: data selection,
``update_params``, and every ``eval_every`` steps ``prepare_for_eval`` and an evaluation,
stopping at the validation target.
"""

from __future__ import annotations

import enum

import jax
import jax.numpy as jnp
import numpy as np

from .algoperf import ForwardPassMode


class LossType(enum.Enum):
    """AlgoPerf's ``spec.LossType`` (the values used here)."""

    SOFTMAX_CROSS_ENTROPY = 0


class ShapeTuple:
    """AlgoPerf's ``spec.ShapeTuple``: a shape that pytree utilities treat as a leaf."""

    def __init__(self, shape_tuple):
        self.shape_tuple = tuple(shape_tuple)


class StandInWorkload:
    """An image-classification workload of this folder behind AlgoPerf's interface."""

    def __init__(self, workload, name: str = "mnist"):
        self.workload, self.name = workload, name
        self.metrics_logger = None
        self._param_shapes = self._param_types = None

    # --- what the submission uses -------------------------------------------------------
    @property
    def param_shapes(self):
        if self._param_shapes is None:
            raise ValueError("init_model_fn() must be called before param_shapes")
        return self._param_shapes

    @property
    def model_params_types(self):
        if self._param_types is None:
            raise ValueError("init_model_fn() must be called before model_params_types")
        return self._param_types

    @property
    def step_hint(self) -> int:
        return self.workload.budget

    @property
    def loss_type(self):
        return LossType.SOFTMAX_CROSS_ENTROPY

    def init_model_fn(self, rng):
        seed = int(jax.random.randint(rng, (), 0, 2**31 - 1))
        params = self.workload.init(seed)
        self._param_shapes = jax.tree.map(lambda x: ShapeTuple(x.shape), params)
        self._param_types = jax.tree.map(lambda x: "WEIGHT" if x.ndim > 1 else "BIAS", params)
        return params, None

    def model_fn(self, params, batch, model_state, mode, rng, update_batch_norm, dropout_rate=0.0):
        del mode, rng, update_batch_norm, dropout_rate
        return self.workload.predict(params, batch["inputs"]), model_state

    def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing=0.0):
        n_classes = logits_batch.shape[-1]
        one_hot = jax.nn.one_hot(label_batch, n_classes)
        smoothed = one_hot * (1 - label_smoothing) + label_smoothing / n_classes
        per_example = -jnp.sum(smoothed * jax.nn.log_softmax(logits_batch), axis=-1)
        mask = jnp.ones_like(per_example) if mask_batch is None else mask_batch
        return {
            "summed": jnp.sum(per_example * mask),
            "n_valid_examples": jnp.sum(mask),
            "per_example": per_example,
        }

    # --- what the runner uses -----------------------------------------------------------
    @property
    def target_metric_name(self) -> str:
        return "error_rate"

    @property
    def validation_target_value(self) -> float:
        return self.workload.target

    def has_reached_validation_target(self, eval_result: dict) -> bool:
        return eval_result["validation/error_rate"] <= self.validation_target_value

    def _build_input_queue(self, data_rng, split, data_dir, global_batch_size):
        del split, data_dir
        data = self.workload.data
        rng = np.random.default_rng(np.asarray(jax.random.key_data(data_rng)).ravel()[-1])
        n = data["x_train"].shape[0]
        while True:
            idx = rng.integers(0, n, global_batch_size)
            yield {"inputs": data["x_train"][idx], "targets": data["y_train"][idx]}

    def eval_model(self, global_batch_size, params, model_state, rng, data_dir, *rest):
        del global_batch_size, rng, data_dir, rest
        data = self.workload.data
        logits, _ = self.model_fn(params, {"inputs": data["x_valid"]}, model_state,
                                  ForwardPassMode.EVAL, None, False)  # fmt: skip
        wrong = float(jnp.mean(jnp.argmax(logits, -1) != data["y_valid"]))
        return {"validation/error_rate": wrong}


def run(submission, workload: StandInWorkload, hyperparameters, max_steps: int,
        eval_every: int = 50, seed: int = 0) -> dict:  # fmt: skip
    """Train like ``submission_runner.train_once``; returns steps, evaluations, reached."""
    rng = jax.random.PRNGKey(seed)
    data_rng, init_rng, opt_rng, rng = jax.random.split(rng, 4)
    params, model_state = workload.init_model_fn(init_rng)
    batch_size = submission.get_batch_size(workload.name)
    queue = workload._build_input_queue(data_rng, "train", None, batch_size)
    opt_state = submission.init_optimizer_state(workload, params, model_state,
                                                hyperparameters, opt_rng)  # fmt: skip
    evals, reached, step = [], False, 0
    while step < max_steps and not reached:
        step_rng = jax.random.fold_in(rng, step)
        select_rng, update_rng, prep_rng, eval_rng = jax.random.split(step_rng, 4)
        batch = submission.data_selection(workload, queue, opt_state, params, model_state,
                                          hyperparameters, step, select_rng)  # fmt: skip
        opt_state, params, model_state = submission.update_params(
            workload, params, workload.model_params_types, model_state, hyperparameters, batch,
            workload.loss_type, opt_state, evals, step, update_rng,
        )  # fmt: skip
        step += 1
        if step % eval_every == 0 or step == max_steps:
            opt_state, params, model_state = submission.prepare_for_eval(
                workload, params, workload.model_params_types, model_state, hyperparameters,
                workload.loss_type, opt_state, evals, step, prep_rng,
            )  # fmt: skip
            result = workload.eval_model(None, params, model_state, eval_rng, None)
            evals.append((step, result))
            reached = workload.has_reached_validation_target(result)
    return {"steps": step, "evals": evals, "reached": reached, "params": params}
