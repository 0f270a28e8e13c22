"""Layer-wise primitives: statistics of a whole leaf (one layer's weights) instead of one entry.

* :func:`scale_by_trust_ratio` rescales each leaf's update to a fixed ratio of the leaf's
  weight norm (LARS, LAMB, Fromage);
* :func:`scale_by_layerwise_rms` divides each leaf by the root of an EMA of its squared
  *norm*, one scalar per layer (NovoGrad).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import EmptyState, GradientTransformation, MaskOrFn, Scalar, check_state_type
from gradtx.transforms._adaptive import statistic_source
from gradtx.transforms._decay import mask_leaves
from gradtx.transforms._momentum import ema_scalars


def leaf_sum_of_squares(x: jax.Array) -> jax.Array:
    """$\\sum_i |x_i|^2$ over one leaf, accumulated in at least float32 (real result)."""
    return jnp.sum(_tree.abs_sq(x), dtype=jnp.promote_types(_tree.real_dtype(x.dtype), jnp.float32))


def _mask_flags(mask: Any, params: Any, who: str) -> list[bool] | None:
    """``None`` (every leaf) for ``mask`` None or True; else one bool per leaf."""
    if mask is None or mask is True:
        return None
    if mask is False:
        return [False] * len(jax.tree.leaves(params, is_leaf=_tree.is_none))
    return mask_leaves(mask, params, who)


def scale_by_trust_ratio(
    min_norm: Scalar = 0.0,
    trust_coefficient: Scalar = 1.0,
    eps: Scalar = 0.0,
    *,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    r"""Rescale each leaf to a trust ratio of its weights' norm (layer-wise adaptation).

    $$u_\ell \leftarrow \frac{c\,\max(\lVert w_\ell\rVert, m)}
    {\max(\lVert u_\ell\rVert, m) + \epsilon}\; u_\ell
    \qquad (\text{factor } 1 \text{ where either norm is } 0,\ 0 \text{ where both overflow})$$

    for every leaf $\ell$ (a layer's kernel or bias), with l2 norms over the leaf,
    $c$ = ``trust_coefficient``, $m$ = ``min_norm`` and $\epsilon$ = ``eps``. With $c = 1$
    each layer moves by the same *relative* amount, whatever its gradient's scale.

    Args:
      min_norm: $m \ge 0$, a floor on both norms.
      trust_coefficient: $c > 0$.
      eps: $\epsilon \ge 0$, added to the update norm.
      mask: leaves to rescale: ``None``/``True`` (all), ``False`` (none), a tree of bools
        with the structure of the params, or a function of the params returning one.

    Returns:
      A stateless :class:`~gradtx.GradientTransformation`; its ``update`` needs ``params``.

    References:
      You, Gitman & Ginsburg, "Large Batch Training of Convolutional Networks", 2017,
      arXiv:1708.03888 (LARS); You et al., "Large Batch Optimization for Deep Learning:
      Training BERT in 76 minutes", ICLR 2020, arXiv:1904.00962 (LAMB).

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_trust_ratio
      >>> tx = scale_by_trust_ratio()
      >>> w = jnp.array([3.0, 4.0])                        # |w| = 5
      >>> tx.update(jnp.array([0.0, 0.5]), tx.init(w), w)[0].tolist()   # |u| = 0.5: x10
      [0.0, 5.0]
    """
    _validate.check_nonnegative("min_norm", min_norm)
    _validate.check_positive("trust_coefficient", trust_coefficient)
    _validate.check_nonnegative("eps", eps)

    def update(updates, state, params=None, **extra):
        del extra
        if params is None:
            raise ValueError(
                "scale_by_trust_ratio needs `params`: call update(updates, state, params)."
            )

        def step(u, p):
            u_sq = leaf_sum_of_squares(u)
            p_sq = leaf_sum_of_squares(p).astype(u_sq.dtype)
            lo, c, e = (jnp.asarray(x, u_sq.dtype) for x in (min_norm, trust_coefficient, eps))
            u_norm = jnp.where(u_sq > lo * lo, jnp.sqrt(u_sq), lo)
            p_norm = jnp.where(p_sq > lo * lo, jnp.sqrt(p_sq), lo)
            ratio = c * p_norm / (u_norm + e)
            ratio = jnp.where((u_norm == 0) | (p_norm == 0), 1, ratio)
            # Both norms overflowed (inf / inf): no step, as Adam's m / sqrt(inf), not NaN.
            ratio = jnp.where(jnp.isnan(ratio), 0, ratio)
            return (u * ratio.astype(_tree.real_dtype(u.dtype))).astype(u.dtype)

        flags = _mask_flags(mask, params, "scale_by_trust_ratio")
        names = ("updates", "params")
        return _tree.leafwise(step, updates, params, names=names, mask=flags), state

    return GradientTransformation(lambda params: EmptyState(), update)


class ScaleByLayerwiseRmsState(NamedTuple):
    """Step count and one running squared norm $\\nu_\\ell$ per leaf (0-d, real dtype)."""

    count: jax.Array
    nu: Any


def _scalar_per_leaf(params: Any) -> Any:
    def make(x):
        if x is None or not _tree.is_trainable(x):
            return None
        return jnp.zeros((), _tree.real_dtype(x.dtype))

    return jax.tree.map(make, params, is_leaf=_tree.is_none)


def scale_by_layerwise_rms(
    decay: Scalar = 0.25, eps: Scalar = 1e-8, eps_root: Scalar = 0.0, *, source: str = "updates"
) -> GradientTransformation:
    r"""Divide each leaf by the root of an EMA of its squared norm (NovoGrad's second moment).

    $$\nu_{\ell,t} = \begin{cases} \lVert g_{\ell,1}\rVert^2 & t = 1 \\
    \beta\,\nu_{\ell,t-1} + (1-\beta)\,\lVert g_{\ell,t}\rVert^2 & t > 1\end{cases},\qquad
    u_\ell \leftarrow \frac{u_\ell}{\sqrt{\nu_{\ell,t} + \epsilon_\text{root}} + \epsilon}$$

    One scalar per leaf $\ell$ (a layer), instead of one per entry as in
    :func:`gradtx.scale_by_rms`: the memory of SGD with momentum. The average starts at the
    first squared norm, so it needs no bias correction. $\beta$ = ``decay``, $\epsilon$ =
    ``eps``, $g$ the ``source``.

    Args:
      decay: $\beta \in [0, 1)$ (NovoGrad's ``b2``).
      eps: $\epsilon \ge 0$, outside the root.
      eps_root: $\epsilon_\text{root} \ge 0$, inside the root.
      source: ``"updates"`` (this member's input) or ``"gradient"`` (the chain's input).

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`ScaleByLayerwiseRmsState`.

    References:
      Ginsburg, Castonguay, Hrinchuk, Kuchaiev, Lavrukhin, Leary, Li, Nguyen, Zhang & Cohen,
      "Stochastic Gradient Methods with Layer-wise Adaptive Moments for Training of Deep
      Networks", 2019, arXiv:1905.11286.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_layerwise_rms
      >>> tx = scale_by_layerwise_rms(eps=0.0)
      >>> tx.update(jnp.array([3.0, 4.0]), tx.init(jnp.zeros(2)))[0].tolist()   # / |g| = 5
      [0.6000000238418579, 0.800000011920929]
    """
    _validate.check_decay("decay", decay)
    _validate.check_nonnegative("eps", eps)
    _validate.check_nonnegative("eps_root", eps_root)
    _validate.check_choice("source", source, ("updates", "gradient"))

    def init(params):
        return ScaleByLayerwiseRmsState(_tree.zero_count(), _scalar_per_leaf(params))

    def update(updates, state, params=None, **extra):
        del params
        check_state_type(state, ScaleByLayerwiseRmsState, "scale_by_layerwise_rms")
        count = _tree.safe_increment(state.count)
        stats = statistic_source(updates, extra, source)
        # The first step starts the average at the first value: decay 0 once.
        decay_t = jnp.where(state.count == 0, 0.0, jnp.asarray(decay))
        scalars = ema_scalars(decay_t, count, eps=eps, eps_root=eps_root)

        def step(u, g, nu):
            s = scalars(u)
            nu = s.one_minus * leaf_sum_of_squares(g).astype(nu.dtype) + s.decay * nu
            return u / (jnp.sqrt(nu + s.eps_root) + s.eps), nu

        names = ("updates", "gradient", "nu")
        updates, nu = _tree.leafwise(step, updates, stats, state.nu, names=names, n_out=2)
        return updates, ScaleByLayerwiseRmsState(count, nu)

    return GradientTransformation(init, update)
