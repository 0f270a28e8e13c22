r"""Differentially private SGD.

DP-SGD trains on *per-example* gradients (from ``jax.vmap(jax.grad(loss))``): each is
clipped to a norm $C$, they are summed, Gaussian noise of standard deviation $\sigma C$ is
added and the sum is divided by the batch size
(:func:`gradtx.differentially_private_aggregate`); the result is an ordinary gradient for
SGD with optional momentum. The clip bounds each example's influence on the step and the
noise hides it, which gives $(\varepsilon, \delta)$-differential privacy for a privacy
budget computed from $\sigma$, the sampling rate and the number of steps (by a privacy
accountant, not here).
"""

from __future__ import annotations

from gradtx import _hyper as hp
from gradtx._base import GradientTransformation, KeyLike, ScalarOrSchedule, chain, identity
from gradtx._registry import optimizer
from gradtx.transforms._momentum import trace
from gradtx.transforms._privacy import differentially_private_aggregate
from gradtx.transforms._scaling import scale_by_learning_rate

__all__ = ["dpsgd"]


@optimizer(
    hyperparams={
        "l2_norm_clip": hp.NONNEGATIVE,
        "noise_multiplier": hp.NONNEGATIVE,
        "seed": hp.KEY,
    },
    example={"learning_rate": 0.5, "l2_norm_clip": 1.0, "noise_multiplier": 0.1, "seed": 0},
    per_example=True,
    optax="`optax.contrib.dpsgd`",
    pytorch="—",
)
def dpsgd(
    learning_rate: ScalarOrSchedule,
    l2_norm_clip: ScalarOrSchedule,
    noise_multiplier: ScalarOrSchedule,
    seed: KeyLike,
    momentum: ScalarOrSchedule | None = None,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""DP-SGD: SGD on the clipped, noised average of per-example gradients.

    $$\tilde g_t = \frac{1}{B}\Big(\sum_{b=1}^{B} g_{t,b}\,\min\!\Big(1,
    \frac{C}{\lVert g_{t,b}\rVert_2}\Big) + \sigma C\,\xi_t\Big),\quad
    v_t = \mu v_{t-1} + \tilde g_t,\quad w_{t+1} = w_t - \eta_t\,v_t$$

    with $C$ = ``l2_norm_clip``, $\sigma$ = ``noise_multiplier``, $\xi_t \sim \mathcal N(0,
    I)$, $\mu$ = ``momentum`` (none when ``None``; Nesterov's form with ``nesterov``). It
    is ``chain(differentially_private_aggregate(C, sigma, seed), trace(momentum),
    scale_by_learning_rate(lr))``. The updates must be per-example gradients, with the
    batch axis first in every leaf; gradient accumulation (``MultiSteps``) around it
    breaks its guarantee.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      l2_norm_clip: $C \ge 0$, the largest norm of one example's gradient.
      noise_multiplier: $\sigma \ge 0$, the noise's standard deviation over $C$.
      seed: an int seed or a JAX random key for the noise.
      momentum: $\mu \in [0, 1)$ or ``None``.
      nesterov: use Nesterov's look-ahead (needs ``momentum``).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Abadi, Chu, Goodfellow, McMahan, Mironov, Talwar & Zhang, "Deep Learning with
      Differential Privacy", ACM CCS 2016, arXiv:1607.00133.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.dpsgd(0.1, l2_norm_clip=1.0, noise_multiplier=0.0, seed=0)
      >>> per_example = jnp.array([[3.0, 4.0], [0.0, 0.0]])      # clipped to (0.6, 0.8), 0
      >>> u, _ = tx.update(per_example, tx.init(jnp.zeros(2)))
      >>> [round(x, 4) for x in u.tolist()]                       # -0.1 * (0.3, 0.4)
      [-0.03, -0.04]
    """
    if nesterov and momentum is None:
        raise ValueError("dpsgd: nesterov=True needs a momentum in [0, 1), got momentum=None.")
    return chain(
        differentially_private_aggregate(l2_norm_clip, noise_multiplier, key=seed),
        trace(momentum, nesterov) if momentum is not None else identity(),
        scale_by_learning_rate(learning_rate),
    )
