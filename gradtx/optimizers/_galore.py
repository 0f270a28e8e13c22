r"""GaLore: memory-efficient training by low-rank projections of the gradients.

GaLore keeps full-rank weights but runs the optimizer on rank-$r$ projections of the
matrix gradients (:func:`gradtx.scale_by_galore`), so Adam's two moments of an
$m \times n$ matrix take $2rn$ ($m \ge n$) or $2mr$ entries instead of $2mn$, plus the
$\max(m, n) \times r$ projector. The projector follows the top singular vectors of the
gradient, recomputed every ``update_proj_gap`` steps.
"""

from __future__ import annotations

from collections.abc import Callable

from gradtx import _hyper as hp
from gradtx._base import GradientTransformation, MaskOrFn, Params, ScalarOrSchedule, chain
from gradtx._registry import optimizer
from gradtx.transforms._decay import add_decayed_weights
from gradtx.transforms._galore import scale_by_galore
from gradtx.transforms._scaling import scale_by_learning_rate

__all__ = ["galore"]


@optimizer(
    hyperparams={
        "rank": hp.count(1),
        "update_proj_gap": hp.count(1),
        "scale": hp.FINITE,
        "base_optimizer": hp.structural(
            hp.TRANSFORM.check, "a gradient transformation", optional=True
        ),
        "weight_dimension_numbers": hp.structural(
            allowed="GaLoreDimensionNumbers, a tree of them, or a function", optional=True
        ),
    },
    example={"learning_rate": 0.01, "rank": 8},
    optax="`optax.contrib.galore`",
    pytorch="—",
)
def galore(
    learning_rate: ScalarOrSchedule,
    rank: int = 128,
    update_proj_gap: int = 200,
    scale: ScalarOrSchedule = 1.0,
    base_optimizer: GradientTransformation | None = None,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn = None,
    weight_dimension_numbers: Params | Callable[[Params], Params] | None = None,
) -> GradientTransformation:
    r"""GaLore: Adam (or ``base_optimizer``) on rank-$r$ projections of the matrix gradients.

    $$R_t = P_t^\top G_t,\qquad
    w_{t+1} = w_t - \eta_t\big(\alpha\, P_t\,\mathcal B(R_t) + \lambda w_t\big)$$

    for an $m \times n$ matrix with $m \ge n$ ($R_t = G_t P_t$ and
    $\mathcal B(R_t) P_t^\top$ otherwise), with $P_t$ the top $r$ singular vectors of the
    gradient, recomputed every ``update_proj_gap`` steps, $\mathcal B$ = ``base_optimizer``
    (:func:`gradtx.scale_by_adam` by default), $\alpha$ = ``scale``, $\lambda$ =
    ``weight_decay`` and $\eta_t$ = ``learning_rate``. It is ``chain(scale_by_galore(...),
    add_decayed_weights(weight_decay, mask), scale_by_learning_rate(lr))``. Leaves that are
    not projected (by default the ones that are not 2-D) get $\mathcal B$ of the full
    gradient.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      rank: $r \ge 1$ (clipped to $\min(m, n)$).
      update_proj_gap: the steps between two SVDs ($\ge 1$).
      scale: $\alpha$, a factor on the projected updates.
      base_optimizer: the direction applied to the projections (it must not need the
        parameters: ``scale_by_adam``, ``scale_by_lion``, not ``adamw``).
      weight_decay: $\lambda \ge 0$, decoupled, in the full space.
      mask: which leaves to decay (see :func:`gradtx.add_decayed_weights`).
      weight_dimension_numbers: which axes form each matrix (see
        :func:`gradtx.scale_by_galore`).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Zhao, Zhang, Chen, Wang, Anandkumar & Tian, "GaLore: Memory-Efficient LLM Training
      by Gradient Low-Rank Projection", ICML 2024, arXiv:2403.03507.

    Example:
      >>> import jax, jax.numpy as jnp, gradtx
      >>> f = lambda p: jnp.sum(p["w"] ** 2) + jnp.sum(p["b"] ** 2)
      >>> tx = gradtx.galore(learning_rate=0.01, rank=16)
      >>> params = {"w": jnp.ones((100, 100)), "b": jnp.ones(100)}
      >>> state = tx.init(params)
      >>> for _ in range(5):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     params = gradtx.apply_updates(params, updates)
      >>> round(float(f(params)))          # from 10100
      9991
    """
    return chain(
        scale_by_galore(rank, update_proj_gap, scale, base_optimizer, weight_dimension_numbers),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
