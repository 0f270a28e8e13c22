"""Diagonal-Hessian preconditioning (Sophia).

Sophia divides the momentum by an estimate of the diagonal of the Hessian, refreshed every
few steps from Hessian-vector products of the loss (Hutchinson's estimator,
:func:`gradtx.scale_by_sophia`), and clips the result per coordinate, so that a flat or
negatively curved direction gets a bounded step. Its ``update`` needs the loss as
``value_fn``.
"""

from __future__ import annotations

from gradtx import _hyper as hp
from gradtx._base import DTypeLike, GradientTransformation, MaskOrFn, ScalarOrSchedule, chain
from gradtx._registry import optimizer
from gradtx.transforms._decay import add_decayed_weights
from gradtx.transforms._hessian_diagonal import scale_by_sophia
from gradtx.transforms._scaling import scale_by_learning_rate

__all__ = ["sophia"]


@optimizer(
    hyperparams={
        "gamma": hp.NONNEGATIVE,
        "clip_threshold": hp.live(0.0, low_open=True, optional=True),
        "update_interval": hp.count(1),
        "hessian_diagonal_fn": hp.structural(optional=True),
        "verbose": hp.FLAG,
        "print_win_rate_every_n_steps": hp.count(0),
    },
    example={"learning_rate": 0.01},
    needs_value=True,
    optax="`optax.contrib.sophia`",
    pytorch="—",
)
def sophia(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.965,
    b2: ScalarOrSchedule = 0.99,
    eps: ScalarOrSchedule = 1e-8,
    weight_decay: ScalarOrSchedule = 1e-4,
    weight_decay_mask: MaskOrFn = None,
    gamma: ScalarOrSchedule = 0.01,
    clip_threshold: ScalarOrSchedule | None = 1.0,
    update_interval: int = 10,
    hessian_diagonal_fn: GradientTransformation | None = None,
    mu_dtype: DTypeLike | None = None,
    verbose: bool = False,
    print_win_rate_every_n_steps: int = 0,
    *,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Sophia: momentum over a clipped, periodically refreshed diagonal Hessian, clipped.

    $$w_{t+1} = w_t - \eta_t\Big(\operatorname{clip}\Big(\frac{\hat m_t}
    {\max(\gamma h_{t-1}, \epsilon)}, -\rho, \rho\Big) + \lambda w_t\Big),\qquad
    h_t = \beta_2 h_{t-1} + (1-\beta_2)\, z\odot H z\ \ \text{every } k \text{ steps}$$

    with $\hat m_t$ the debiased EMA ($\beta_1$) of the gradients, $z$ a Rademacher probe
    (Hutchinson's estimator, Sophia-H), $k$ = ``update_interval`` and $\rho$ =
    ``clip_threshold``. It is ``chain(ema(b1), scale_by_hessian_diagonal(b2, eps, gamma,
    update_interval), clip(clip_threshold), add_decayed_weights(weight_decay,
    weight_decay_mask), lr)``, Optax's ``contrib.sophia``. The update needs the objective:
    ``update(g, state, params, value_fn=loss)`` (``obj_fn=loss``, Optax's name, works too),
    with ``loss(params)`` a scalar. As in Optax the first $k$ steps divide by $\epsilon$ (the
    curvature is still 0), so they are clipped sign steps of size $\eta\rho$.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      b1: $\beta_1 \in [0, 1)$.
      b2: $\beta_2 \in [0, 1)$, per refresh.
      eps: $\epsilon \ge 0$, the floor of the curvature.
      weight_decay: $\lambda \ge 0$, decoupled.
      weight_decay_mask: which leaves to decay (see :func:`gradtx.add_decayed_weights`).
      gamma: $\gamma \ge 0$, the scale of the curvature.
      clip_threshold: $\rho > 0$, or ``None`` for no clipping.
      update_interval: $k \ge 1$.
      hessian_diagonal_fn: the estimator (a transform returning a Hessian-diagonal
        estimate), ``None`` for Hutchinson's with seed 0.
      mu_dtype: dtype of $m$.
      verbose: print the win rate (fraction not clipped).
      print_win_rate_every_n_steps: its period.
      nu_dtype: dtype of the curvature EMA $h$ (default: the parameter's).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Liu, Li, Hall, Liang & Ma, "Sophia: A Scalable Stochastic Second-order Optimizer for
      Language Model Pre-training", ICLR 2024, arXiv:2305.14342.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import sophia
      >>> tx = sophia(0.1, weight_decay=0.0)
      >>> w = jnp.array([1.0, -2.0])
      >>> u, _ = tx.update(w, tx.init(w), w, value_fn=lambda w: 0.5 * jnp.sum(w**2))
      >>> u.tolist()
      [-0.10000000149011612, 0.10000000149011612]
    """
    return chain(
        scale_by_sophia(
            b1,
            b2,
            eps,
            gamma,
            clip_threshold,
            update_interval,
            hessian_diagonal_fn,
            mu_dtype,
            verbose,
            print_win_rate_every_n_steps,
            nu_dtype=nu_dtype,
        ),
        add_decayed_weights(weight_decay, weight_decay_mask),
        scale_by_learning_rate(learning_rate),
    )
