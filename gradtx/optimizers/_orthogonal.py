r"""Orthogonalized updates (Muon).

Muon orthogonalizes the momentum of each weight matrix with a few Newton–Schulz iterations
(:func:`gradtx.scale_by_muon`): a matrix update $G = U S V^\top$ becomes approximately
$U V^\top$, the steepest-descent direction under the spectral norm. The leaves that are not
matrices (biases, scales, or any leaf its dimension numbers leave out) are trained by AdamW.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from gradtx import _hyper as hp
from gradtx._base import (
    DTypeLike,
    GradientTransformation,
    MaskOrFn,
    Params,
    ScalarOrSchedule,
    chain,
)
from gradtx._registry import optimizer
from gradtx.optimizers._adam import adamw
from gradtx.transforms._decay import add_decayed_weights
from gradtx.transforms._orthogonal import (
    NS_COEFFS,
    resolve_dimension_numbers,
    scale_by_muon,
    scale_by_shape,
)
from gradtx.transforms._scaling import scale_by_learning_rate
from gradtx.wrappers._partition import partition

__all__ = ["muon"]


def _muon_labels(spec: Any) -> Any:
    """``"muon"`` or ``"adam"`` per leaf: 2-D leaves by default, else where ``spec`` has
    dimension numbers."""

    def labels(tree):
        leaves, treedef = jax.tree.flatten(tree, is_leaf=lambda x: x is None)
        if spec is None:
            dims = [x is not None and len(getattr(x, "shape", np.shape(x))) == 2 for x in leaves]
        else:
            dims = resolve_dimension_numbers(spec, tree, "muon")
        names = [None if x is None else ("muon" if d else "adam") for x, d in zip(leaves, dims)]
        return jax.tree.unflatten(treedef, names)

    return labels


@optimizer(
    hyperparams={
        "ns_coeffs": hp.structural(allowed="a triple, an (n, 3) table or a preset name"),
        "ns_steps": hp.count(1),
        "beta": hp.DECAY,
        "adaptive": hp.FLAG,
        "preconditioning": hp.choice("frobenius", "spectral", "aol", "schatten"),
        "adam_b1": hp.DECAY,
        "adam_b2": hp.DECAY,
        "adam_eps_root": hp.NONNEGATIVE,
        "adam_weight_decay": hp.NONNEGATIVE,
        "adam_learning_rate": hp.live(0.0, optional=True),
        "muon_weight_dimension_numbers": hp.structural(optional=True),
        "consistent_rms": hp.live(0.0, optional=True),
    },
    example={"learning_rate": 0.02},
    optax="`optax.contrib.muon`",
    pytorch="`Muon`",
)
def muon(
    learning_rate: ScalarOrSchedule,
    ns_coeffs: str | Sequence[float] | Sequence[Sequence[float]] = NS_COEFFS["standard"],
    ns_steps: int = 5,
    beta: ScalarOrSchedule = 0.95,
    eps: ScalarOrSchedule = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: MaskOrFn = None,
    mu_dtype: DTypeLike | None = None,
    *,
    nu_dtype: DTypeLike | None = None,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: str = "frobenius",
    adam_b1: ScalarOrSchedule = 0.9,
    adam_b2: ScalarOrSchedule = 0.999,
    adam_eps_root: ScalarOrSchedule = 0.0,
    adam_weight_decay: ScalarOrSchedule = 0.0,
    adam_learning_rate: ScalarOrSchedule | None = None,
    muon_weight_dimension_numbers: Params | Callable[[Params], Params] | None = None,
    consistent_rms: ScalarOrSchedule | None = None,
) -> GradientTransformation:
    r"""Muon: momentum orthogonalized by Newton–Schulz for matrices, AdamW for the rest.

    $$w_{t+1} = w_t - \eta_t\big(s\,\operatorname{NS}(\hat m_t) + \lambda w_t\big),\qquad
    s = \sqrt{\max(1, m/n)}\ \text{ or }\ \rho\sqrt{\max(n, m)}$$

    for each matrix ($n$ = fan-in, $m$ = fan-out), with $\hat m_t$ the debiased (Nesterov)
    momentum of :func:`gradtx.scale_by_muon` and $\operatorname{NS}$
    the Newton–Schulz orthogonalization. It is ``partition({"muon": chain(scale_by_muon,
    scale_by_shape, add_decayed_weights(weight_decay, weight_decay_mask), lr), "adam":
    adamw(adam_learning_rate, adam_b1, adam_b2, eps, adam_eps_root, weight_decay=
    adam_weight_decay, nesterov=nesterov)})``, Optax's ``contrib.muon``. The matrices are
    the 2-D leaves, or the leaves to which ``muon_weight_dimension_numbers`` gives
    dimension numbers (its ``None`` leaves go to Adam); a higher-rank leaf is reshaped to
    (batch, fan-in, fan-out) by its dimension numbers, e.g.
    ``MuonDimensionNumbers(reduction_axis=(0, 1, 2), output_axis=3)`` for a convolution
    kernel. Optax's ``MuonDimensionNumbers`` are accepted as they are.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      ns_coeffs: the Newton–Schulz coefficients, a triple, an ``(n, 3)`` table or a preset
        name (``"standard"``, ``"dion"``).
      ns_steps: the number of Newton–Schulz iterations $\ge 1$.
      beta: $\beta \in [0, 1)$, the momentum decay.
      eps: $\epsilon \ge 0$, added to the norm before the iterations, and Adam's $\epsilon$.
      weight_decay: $\lambda \ge 0$, the decoupled decay of the matrices.
      weight_decay_mask: which matrices to decay (see :func:`gradtx.add_decayed_weights`).
      mu_dtype: dtype of the momenta.
      nu_dtype: dtype of Adam's second moment (the non-matrix leaves).
      nesterov: Nesterov momentum (also Adam's: NAdamW).
      adaptive: multiply by the dual norm $\langle \hat m, \operatorname{NS}(\hat m)\rangle$.
      preconditioning: ``"frobenius"``, ``"spectral"``, ``"aol"`` or ``"schatten"``.
      adam_b1: Adam's $\beta_1 \in [0, 1)$.
      adam_b2: Adam's $\beta_2 \in [0, 1)$.
      adam_eps_root: Adam's $\epsilon_\text{root} \ge 0$.
      adam_weight_decay: Adam's decoupled decay $\ge 0$.
      adam_learning_rate: Adam's rate $\ge 0$; ``None`` for ``learning_rate``.
      muon_weight_dimension_numbers: ``None`` (2-D leaves are matrices), or a tree (prefix)
        of :class:`gradtx.MuonDimensionNumbers` and ``None``, or a
        function of the params returning one.
      consistent_rms: $\rho \ge 0$ for the shape scaling $\rho\sqrt{\max(n, m)}$, or
        ``None`` for $\sqrt{\max(1, m/n)}$.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Jordan, Jin, Boza, You, Cesista, Newhouse & Bernstein, "Muon: An optimizer for hidden
      layers in neural networks", 2024; Bernstein & Newhouse, "Old Optimizer, New Norm: An
      Anthology", 2024, arXiv:2409.20325; Liu et al., "Muon is Scalable for LLM
      Training", 2025, arXiv:2502.16982.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import muon
      >>> tx = muon(0.1)
      >>> p = {"w": jnp.zeros((2, 2)), "b": jnp.zeros(2)}
      >>> g = {"w": jnp.array([[0.0, 4.0], [-4.0, 0.0]]), "b": jnp.array([3.0, -1.0])}
      >>> u, _ = tx.update(g, tx.init(p), p)
      >>> [[round(x, 3) + 0.0 for x in row] for row in u["w"].tolist()]  # -0.1 * NS(g)
      [[0.0, -0.111], [0.111, 0.0]]
      >>> [round(x, 3) for x in u["b"].tolist()]           # a vector: NAdam's first step
      [-0.147, 0.147]
    """
    if adam_learning_rate is None:
        adam_learning_rate = learning_rate
    spec = muon_weight_dimension_numbers
    matrices = chain(
        scale_by_muon(
            ns_coeffs,
            ns_steps,
            beta,
            eps,
            mu_dtype,
            nesterov=nesterov,
            adaptive=adaptive,
            preconditioning=preconditioning,
            weight_dimension_numbers=spec,
        ),
        scale_by_shape(spec, consistent_rms),
        add_decayed_weights(weight_decay, weight_decay_mask),
        scale_by_learning_rate(learning_rate),
    )
    others = adamw.__wrapped__(
        adam_learning_rate,
        adam_b1,
        adam_b2,
        eps,
        adam_eps_root,
        mu_dtype,
        adam_weight_decay,
        nu_dtype=nu_dtype,
        nesterov=nesterov,
    )
    return partition({"muon": matrices, "adam": others}, _muon_labels(spec))
